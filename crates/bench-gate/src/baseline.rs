//! The baseline store: `baselines/<profile>.json`, written atomically (temp file +
//! rename) as pretty JSON with sorted keys, so a refresh reads as a clean diff. It
//! holds the environment fingerprint and, per benchmark, the [`Entry`](crate::Entry) (point
//! estimate, CI, raw samples, unit, direction, calibrated noise band).

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::model::{Results, Source};
use crate::{GateError, read_json};

/// The file format's version; a different one is refused with a message.
pub const FORMAT: u32 = 1;

/// Where and with what a run was measured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `rustc -V`.
    pub rustc: String,
    /// `valgrind --version`, if installed.
    pub valgrind: Option<String>,
    /// The CPU model (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// Logical cores available.
    pub cores: usize,
    /// Kernel name and release.
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
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
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

    /// The sources whose results cannot be compared between `self` (the run) and
    /// `baseline`, with the reason: instruction counts need the same rustc and
    /// valgrind; wall time needs the same CPU model and core count.
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
        if self.cpu_model != baseline.cpu_model || self.cores != baseline.cores {
            let why = format!(
                "another machine: {} × {} (baseline {} × {})",
                self.cores, self.cpu_model, baseline.cores, baseline.cpu_model
            );
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

    #[test]
    fn fingerprints_say_what_differs() {
        let a = Fingerprint {
            rustc: "rustc 1.95.0".into(),
            cpu_model: "EPYC".into(),
            cores: 2,
            ..Default::default()
        };
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
