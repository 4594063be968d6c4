//! The baseline store: `baselines/<profile>.json`, written atomically (temp file +
//! rename) as pretty JSON with sorted keys, so a refresh reads as a clean diff. It
//! holds the environment fingerprint and, per benchmark, the [`Entry`](crate::Entry) (point
//! estimate, CI, raw samples, unit, direction, calibrated noise band).

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::machine::{Caches, CpuId, SpeedProbe};
use crate::model::{Results, Source};
use crate::{GateError, read_json};

/// The file format's version; a different one is refused with a message.
pub const FORMAT: u32 = 1;

/// Where and with what a run was measured. The machine fields after `cpu_model` were
/// added in format 1's lifetime: a baseline without them reads them as absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `rustc -V`.
    pub rustc: String,
    /// `valgrind --version`, if installed.
    pub valgrind: Option<String>,
    /// The CPU's `model name` (`/proc/cpuinfo`): shown in reports; not what tells two
    /// machines apart (VMs of two generations report the same "AMD EPYC").
    pub cpu_model: String,
    /// The CPU's vendor, family, model and stepping.
    #[serde(default)]
    pub cpu: Option<CpuId>,
    /// Cache sizes per core.
    #[serde(default)]
    pub caches: Option<Caches>,
    /// The machine's single-core speed when the fingerprint was taken.
    #[serde(default)]
    pub speed_probe: Option<SpeedProbe>,
    /// Logical cores available.
    pub cores: usize,
    /// Kernel name and release (recorded and shown; a kernel update alone does not make
    /// wall time incomparable).
    pub os: String,
    /// `git rev-parse HEAD`, if in a repository.
    pub commit: Option<String>,
    /// When (UTC, RFC 3339).
    pub date: String,
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (Howard Hinnant's civil-from-days).
pub fn rfc3339(unix: u64) -> String {
    let (days, secs) = ((unix / 86_400) as i64, unix % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

impl Fingerprint {
    /// This machine, now.
    pub fn current() -> Fingerprint {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Fingerprint {
            rustc: command_line("rustc", &["-V"]).unwrap_or_else(|| "unknown".into()),
            valgrind: command_line("valgrind", &["--version"]),
            cpu_model,
            cpu: CpuId::current(),
            caches: Caches::current(),
            speed_probe: Some(SpeedProbe::measure()),
            cores: crate::machine::cores(),
            os: format!(
                "{} {}",
                read("/proc/sys/kernel/ostype"),
                read("/proc/sys/kernel/osrelease")
            )
            .trim()
            .to_owned(),
            commit: command_line("git", &["rev-parse", "HEAD"]),
            date: rfc3339(now),
        }
    }

    /// The machine profile id of the machine this fingerprint was taken on
    /// ([`crate::machine::profile_id`]).
    pub fn profile_id(&self) -> String {
        crate::machine::profile_id(self.cpu.as_ref(), self.caches, self.cores)
    }

    /// Why wall time measured here cannot be compared with wall time measured under
    /// `baseline`, naming the first field that differs: the CPU's identity, a cache
    /// size, the core count, the speed probe. A baseline that records no CPU identity
    /// (saved before bench-gate recorded it) cannot vouch for its machine.
    pub fn machine_differs(&self, baseline: &Fingerprint) -> Option<String> {
        let Some(base_cpu) = &baseline.cpu else {
            return Some(
                "the baseline records no CPU family/model/stepping or cache sizes (saved by an \
                 older bench-gate): refresh it on its machine (scripts/refresh-baselines.sh)"
                    .into(),
            );
        };
        let differs = |field: &str, this: String, that: String| {
            (this != that).then(|| format!("another machine: {field} {this} (baseline {that})"))
        };
        let cpu = self.cpu.as_ref();
        let size = |s: Option<u64>| s.map_or("unknown".to_string(), |b| format!("{} KiB", b >> 10));
        let (caches, base_caches) = (
            self.caches.unwrap_or_default(),
            baseline.caches.unwrap_or_default(),
        );
        differs(
            "CPU vendor",
            cpu.map_or("unknown".into(), |c| c.vendor.clone()),
            base_cpu.vendor.clone(),
        )
        .or_else(|| {
            differs(
                "CPU family/model/stepping",
                cpu.map_or("unknown".into(), |c| {
                    format!("{}/{}/{:?}", c.family, c.model, c.stepping)
                }),
                format!(
                    "{}/{}/{:?}",
                    base_cpu.family, base_cpu.model, base_cpu.stepping
                ),
            )
        })
        .or_else(|| differs("L1d", size(caches.l1d), size(base_caches.l1d)))
        .or_else(|| differs("L2", size(caches.l2), size(base_caches.l2)))
        .or_else(|| differs("L3", size(caches.l3), size(base_caches.l3)))
        .or_else(|| differs("cores", self.cores.to_string(), baseline.cores.to_string()))
        .or_else(|| differs("CPU", self.cpu_model.clone(), baseline.cpu_model.clone()))
        .or_else(|| match (&self.speed_probe, &baseline.speed_probe) {
            (Some(this), Some(that)) => this
                .differs(that)
                .map(|why| format!("another machine speed: {why}")),
            _ => None,
        })
    }

    /// The sources whose results cannot be compared between `self` (the run) and
    /// `baseline`, with the reason: instruction counts need the same rustc and
    /// valgrind; wall time and perf-test figures need the same machine
    /// ([`Fingerprint::machine_differs`]). Absolute rules are judged either way.
    pub fn incomparable(&self, baseline: &Fingerprint) -> Vec<(Source, String)> {
        let mut out = Vec::new();
        if self.rustc != baseline.rustc {
            out.push((
                Source::Instructions,
                format!(
                    "rustc differs: {} (baseline {})",
                    self.rustc, baseline.rustc
                ),
            ));
        } else if self.valgrind != baseline.valgrind {
            out.push((
                Source::Instructions,
                format!(
                    "valgrind differs: {:?} (baseline {:?})",
                    self.valgrind, baseline.valgrind
                ),
            ));
        }
        if let Some(why) = self.machine_differs(baseline) {
            out.push((Source::WallTime, why.clone()));
            out.push((Source::Perf, why));
        }
        out
    }
}

/// A committed baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The file format version ([`FORMAT`]).
    pub format: u32,
    /// The runner profile it belongs to (the file's name).
    pub profile: String,
    /// Where and with what it was measured.
    pub fingerprint: Fingerprint,
    /// The results, by id.
    pub benchmarks: Results,
}

impl Baseline {
    /// Reads and checks a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, GateError> {
        let b: Baseline = read_json(path)?;
        if b.format != FORMAT {
            return Err(GateError::field(
                path,
                "",
                "format",
                format!("version {} (this bench-gate reads {FORMAT})", b.format),
            ));
        }
        for (id, e) in &b.benchmarks {
            if &e.id != id {
                return Err(GateError::field(
                    path,
                    id,
                    "id",
                    format!("the entry says {:?}", e.id),
                ));
            }
            if !(e.value.is_finite() && e.value >= 0.0) {
                return Err(GateError::field(
                    path,
                    id,
                    "value",
                    format!("{} is not a finite value ≥ 0", e.value),
                ));
            }
            if let Some(i) = e.samples.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(GateError::field(
                    path,
                    id,
                    format!("samples[{i}]"),
                    format!("{} is not > 0", e.samples[i]),
                ));
            }
        }
        Ok(b)
    }

    /// Writes the baseline atomically (pretty JSON, keys sorted by id).
    pub fn save(&self, path: &Path) -> Result<(), GateError> {
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| GateError::Json {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        json.push(b'\n');
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| GateError::io(dir, e))?;
        }
        crate::fsutil::write_atomic(path, &json)
            .map_err(|e| GateError::io(path, std::io::Error::other(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    fn epyc(l2_kib: u64) -> Fingerprint {
        Fingerprint {
            rustc: "rustc 1.95.0".into(),
            cpu_model: "AMD EPYC".into(),
            cpu: Some(CpuId {
                vendor: "AuthenticAMD".into(),
                family: 25,
                model: 1,
                stepping: Some(1),
            }),
            caches: Some(Caches {
                l1d: Some(32 << 10),
                l1i: Some(32 << 10),
                l2: Some(l2_kib << 10),
                l3: Some(32 << 20),
            }),
            speed_probe: Some(SpeedProbe {
                version: crate::machine::PROBE_VERSION,
                ns: 2e6,
                optimized: true,
            }),
            cores: 2,
            os: "Linux 6.18.44-fc-v669".into(),
            ..Default::default()
        }
    }

    #[test]
    fn machines_with_one_model_name_are_told_apart() {
        // Regression: two VMs reporting "AMD EPYC" × 2 with 512 KiB and 1 MiB of L2 were
        // one machine to the gate, and every wall-time benchmark was critical.
        let here = epyc(512);
        assert_eq!(here.machine_differs(&here), None);
        let why = here.machine_differs(&epyc(1024)).unwrap();
        assert!(why.contains("L2 512 KiB (baseline 1024 KiB)"), "{why}");
        let verdicts = here.incomparable(&epyc(1024));
        assert_eq!(
            verdicts.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [Source::WallTime, Source::Perf]
        );
        let mut other = epyc(512);
        other.cpu.as_mut().unwrap().model = 17;
        assert!(
            here.machine_differs(&other)
                .unwrap()
                .contains("family/model/stepping")
        );
        // A kernel update alone is the same machine.
        let mut updated = epyc(512);
        updated.os = "Linux 6.18.44-fc-v1045".into();
        assert_eq!(here.machine_differs(&updated), None);
        // The same CPU running 30 % slower is not the same machine either.
        let mut slow = epyc(512);
        slow.speed_probe.as_mut().unwrap().ns = 2.6e6;
        assert!(slow.machine_differs(&here).unwrap().contains("speed probe"));
        // A baseline from before these fields existed cannot vouch for its machine.
        let old = Fingerprint {
            cpu: None,
            caches: None,
            speed_probe: None,
            ..epyc(512)
        };
        assert!(here.machine_differs(&old).unwrap().contains("refresh it"));
    }

    #[test]
    fn an_old_baselines_fingerprint_still_loads() {
        let json = r#"{"rustc": "rustc 1.95.0", "valgrind": "valgrind-3.19.0",
            "cpu_model": "AMD EPYC", "cores": 2, "os": "Linux 6.18", "commit": null,
            "date": "2026-11-24T14:31:37Z"}"#;
        let f: Fingerprint = serde_json::from_str(json).unwrap();
        assert_eq!((f.cpu, f.caches, f.speed_probe), (None, None, None));
    }

    #[test]
    fn fingerprints_say_what_differs() {
        let a = epyc(512);
        assert!(a.incomparable(&a).is_empty());
        let mut b = a.clone();
        b.rustc = "rustc 1.94.0".into();
        let why = a.incomparable(&b);
        assert_eq!(why.len(), 1);
        assert!(why[0].1.contains("rustc differs"));
        b = a.clone();
        b.cores = 4;
        assert_eq!(
            a.incomparable(&b).iter().map(|w| w.0).collect::<Vec<_>>(),
            [Source::WallTime, Source::Perf]
        );
    }
}
