//! What identifies a machine for wall-time comparisons: the CPU's vendor, family, model
//! and stepping (`/proc/cpuinfo`), its cache sizes (sysfs, `cpu0`'s), and a speed probe
//! (a fixed CPU-bound loop, timed). Two VMs can report the same `model name` ("AMD
//! EPYC") and core count yet be different CPU generations with different caches, where
//! the same code runs several times slower; these fields tell them apart. Linux only:
//! elsewhere the fields are empty, and wall time is compared only when both sides are
//! equally unknown.

use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The CPU's identity as `/proc/cpuinfo` reports it for the first processor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuId {
    /// `vendor_id`, e.g. `AuthenticAMD`.
    pub vendor: String,
    /// `cpu family`.
    pub family: u32,
    /// `model` (the number, not the name).
    pub model: u32,
    /// `stepping`; some hypervisors omit it.
    pub stepping: Option<u32>,
}

impl CpuId {
    /// Parses `/proc/cpuinfo`'s text; `None` without a vendor, family and model.
    pub fn parse(cpuinfo: &str) -> Option<CpuId> {
        let first = cpuinfo.split("\n\n").next().unwrap_or("");
        let field = |name: &str| {
            first.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_owned())
            })
        };
        Some(CpuId {
            vendor: field("vendor_id")?,
            family: field("cpu family")?.parse().ok()?,
            model: field("model")?.parse().ok()?,
            stepping: field("stepping").and_then(|s| s.parse().ok()),
        })
    }

    /// This machine's, if it can be read.
    pub fn current() -> Option<CpuId> {
        CpuId::parse(&std::fs::read_to_string("/proc/cpuinfo").ok()?)
    }
}

/// Cache sizes in bytes, as one core sees them (sysfs `cpu0/cache/index*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caches {
    /// Level 1 data cache.
    pub l1d: Option<u64>,
    /// Level 1 instruction cache.
    pub l1i: Option<u64>,
    /// Level 2 cache.
    pub l2: Option<u64>,
    /// Level 3 cache (shared between cores).
    pub l3: Option<u64>,
}

impl Caches {
    /// Reads `dir/index*/{level,type,size}` (sysfs's layout); `None` when there is none.
    pub fn read(dir: &std::path::Path) -> Option<Caches> {
        let mut caches = Caches::default();
        let mut found = false;
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            if !entry.file_name().to_string_lossy().starts_with("index") {
                continue;
            }
            let read = |f: &str| std::fs::read_to_string(entry.path().join(f)).ok();
            let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
            else {
                continue;
            };
            let Some(bytes) = parse_size(size.trim()) else {
                continue;
            };
            let slot = match (level.trim(), kind.trim()) {
                ("1", "Data") => &mut caches.l1d,
                ("1", "Instruction") => &mut caches.l1i,
                ("2", _) => &mut caches.l2,
                ("3", _) => &mut caches.l3,
                _ => continue,
            };
            *slot = Some(bytes);
            found = true;
        }
        found.then_some(caches)
    }

    /// This machine's, if sysfs has them.
    pub fn current() -> Option<Caches> {
        Caches::read(std::path::Path::new("/sys/devices/system/cpu/cpu0/cache"))
    }
}

/// A machine profile id: a file-name-safe slug of what tells machines apart for wall
/// time, e.g. `amd-f25m1s1-l1d32k-l2512k-l332m-2c` (vendor, family/model/stepping, the
/// L1d/L2/L3 sizes, cores). The speed probe is a measurement, not an identity, and is
/// left out; an unknown field is written `x`.
pub fn profile_id(cpu: Option<&CpuId>, caches: Option<Caches>, cores: usize) -> String {
    let vendor = cpu.map_or("x".to_string(), |c| match c.vendor.as_str() {
        "AuthenticAMD" => "amd".into(),
        "GenuineIntel" => "intel".into(),
        other => other
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase(),
    });
    let cpu_part = cpu.map_or("fx".to_string(), |c| {
        let stepping = c.stepping.map_or("x".to_string(), |s| s.to_string());
        format!("f{}m{}s{stepping}", c.family, c.model)
    });
    let size = |bytes: Option<u64>| match bytes {
        None => "x".to_string(),
        Some(b) if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}m", b >> 20),
        Some(b) => format!("{}k", b >> 10),
    };
    let c = caches.unwrap_or_default();
    format!(
        "{vendor}-{cpu_part}-l1d{}-l2{}-l3{}-{cores}c",
        size(c.l1d),
        size(c.l2),
        size(c.l3)
    )
}

/// The logical cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// This machine's profile id ([`profile_id`]).
pub fn current_profile_id() -> String {
    profile_id(CpuId::current().as_ref(), Caches::current(), cores())
}

/// sysfs's sizes: `32K`, `1024K`, `32M`, or bytes.
fn parse_size(s: &str) -> Option<u64> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// The version of the speed probe's loop; probes of another version are not compared.
pub const PROBE_VERSION: u32 = 1;

/// How far two speed probes may differ before wall time measured under them is not
/// comparable: 10 %, above what one machine shows from run to run (the probe is the
/// fastest of 25 repetitions) and below what a frequency or generation change shows.
pub const PROBE_TOLERANCE: f64 = 0.10;

/// A timing of a fixed CPU-bound loop (a dependent chain of multiplies, rotates and
/// xors, no memory traffic): the machine's single-core speed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeedProbe {
    /// [`PROBE_VERSION`] when it was taken.
    pub version: u32,
    /// Nanoseconds for one run of the loop, the fastest of 25.
    pub ns: f64,
    /// Whether the probing code was optimised. Only two optimised probes are compared: a
    /// debug build (the tests') runs the loop several times slower and at the mercy of
    /// whatever else the test run keeps busy.
    pub optimized: bool,
}

/// The probe's loop: 2^20 dependent steps.
#[inline(never)]
fn probe_loop(seed: u64) -> u64 {
    let mut x = seed;
    for i in 0..(1u64 << 20) {
        x = (x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)) ^ i;
    }
    x
}

impl SpeedProbe {
    /// Times the loop 25 times (after one untimed run) and keeps the fastest: about
    /// 50 ms on a 3 GHz core.
    pub fn measure() -> SpeedProbe {
        black_box(probe_loop(black_box(1)));
        let ns = (0..25)
            .map(|i| {
                let start = Instant::now();
                black_box(probe_loop(black_box(i)));
                start.elapsed().as_nanos() as f64
            })
            .fold(f64::INFINITY, f64::min);
        SpeedProbe {
            version: PROBE_VERSION,
            ns,
            optimized: !cfg!(debug_assertions),
        }
    }

    /// Why `self` (this run's) and `baseline` say the machines run at different speeds,
    /// if they do; `None` when they agree or cannot be compared (another probe version,
    /// or a probe from a debug build).
    pub fn differs(&self, baseline: &SpeedProbe) -> Option<String> {
        if self.version != baseline.version || !self.optimized || !baseline.optimized {
            return None;
        }
        let ratio = self.ns / baseline.ns;
        (!(ratio.is_finite() && (ratio - 1.0).abs() <= PROBE_TOLERANCE)).then(|| {
            format!(
                "speed probe {:.2} ms (baseline {:.2} ms, {:+.0} %)",
                self.ns / 1e6,
                baseline.ns / 1e6,
                (ratio - 1.0) * 100.0
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_id_names_the_cpu_its_caches_and_cores_and_tells_l2_sizes_apart() {
        let cpu = CpuId {
            vendor: "AuthenticAMD".into(),
            family: 25,
            model: 1,
            stepping: Some(1),
        };
        let caches = |l2: u64| Caches {
            l1d: Some(32 << 10),
            l1i: Some(32 << 10),
            l2: Some(l2 << 10),
            l3: Some(32 << 20),
        };
        let small = profile_id(Some(&cpu), Some(caches(512)), 2);
        assert_eq!(small, "amd-f25m1s1-l1d32k-l2512k-l332m-2c");
        assert_eq!(
            profile_id(Some(&cpu), Some(caches(1024)), 2),
            "amd-f25m1s1-l1d32k-l21m-l332m-2c"
        );
        assert_eq!(profile_id(None, None, 4), "x-fx-l1dx-l2x-l3x-4c");
        let odd = CpuId {
            vendor: "Some Vendor/1".into(),
            stepping: None,
            ..cpu
        };
        let id = profile_id(Some(&odd), None, 2);
        assert_eq!(id, "somevendor1-f25m1sx-l1dx-l2x-l3x-2c");
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn cpuinfo_gives_the_first_processors_identity() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n\
                    model name\t: AMD EPYC\nstepping\t: 1\n\nprocessor\t: 1\nvendor_id\t: Other\n";
        assert_eq!(
            CpuId::parse(text),
            Some(CpuId {
                vendor: "AuthenticAMD".into(),
                family: 25,
                model: 1,
                stepping: Some(1),
            })
        );
        // Without a stepping line (some hypervisors), the rest still identifies it.
        let no_stepping = "vendor_id : GenuineIntel\ncpu family : 6\nmodel : 85\n";
        assert_eq!(CpuId::parse(no_stepping).unwrap().stepping, None);
        assert_eq!(CpuId::parse("model name : x\n"), None);
    }

    #[test]
    fn sysfs_cache_sizes_are_read_per_level() {
        let dir = tempfile::tempdir().unwrap();
        for (i, level, kind, size) in [
            (0, "1", "Data", "32K"),
            (1, "1", "Instruction", "32K"),
            (2, "2", "Unified", "512K"),
            (3, "3", "Unified", "32768K"),
        ] {
            let d = dir.path().join(format!("index{i}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("level"), format!("{level}\n")).unwrap();
            std::fs::write(d.join("type"), format!("{kind}\n")).unwrap();
            std::fs::write(d.join("size"), format!("{size}\n")).unwrap();
        }
        assert_eq!(
            Caches::read(dir.path()),
            Some(Caches {
                l1d: Some(32 << 10),
                l1i: Some(32 << 10),
                l2: Some(512 << 10),
                l3: Some(32 << 20),
            })
        );
        assert_eq!(Caches::read(&dir.path().join("absent")), None);
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("12Q"), None);
    }

    #[test]
    fn probes_differ_beyond_the_tolerance_only() {
        let base = SpeedProbe {
            version: PROBE_VERSION,
            ns: 2_000_000.0,
            optimized: true,
        };
        let near = SpeedProbe {
            ns: 2_150_000.0,
            ..base
        };
        assert_eq!(near.differs(&base), None);
        let slow = SpeedProbe {
            ns: 2_600_000.0,
            ..base
        };
        assert!(slow.differs(&base).unwrap().contains("+30 %"));
        // A debug build's probe, or another loop, says nothing about the machine.
        let debug = SpeedProbe {
            ns: 20_000_000.0,
            optimized: false,
            ..base
        };
        assert_eq!(debug.differs(&base), None);
        assert_eq!(debug.differs(&debug), None);
        let other = SpeedProbe {
            version: PROBE_VERSION + 1,
            ..slow
        };
        assert_eq!(other.differs(&base), None);
    }

    #[test]
    fn a_probe_says_how_it_was_built() {
        // Its repeatability on one machine is measured in docs/gate.md, not asserted
        // here: a unit test's timing on a loaded machine proves nothing.
        let probe = SpeedProbe::measure();
        assert!(probe.ns > 0.0 && probe.ns.is_finite());
        assert_eq!(probe.optimized, !cfg!(debug_assertions));
        assert_eq!(probe.version, PROBE_VERSION);
    }
}
