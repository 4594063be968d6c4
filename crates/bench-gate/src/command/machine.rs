//! `bench-gate baseline machine`: this machine's profile id, and whether a committed
//! baseline was recorded on a machine of that profile. The monthly refresh asks before
//! it replaces a baseline, so one baseline file always holds one machine profile's
//! figures.

use std::path::PathBuf;

use super::Exit;
use crate::GateError;
use crate::baseline::Baseline;
use crate::machine::current_profile_id;

/// What to identify.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct MachineOptions {
    /// A baseline file: was it recorded on a machine of this machine's profile? Exit 0
    /// if so (or when it records no machine identity to tell), 1 when another
    /// machine's, 2 when it cannot be read. Without it: print this machine's id.
    #[arg(long, value_name = "FILE")]
    pub of: Option<PathBuf>,
}

/// What `baseline machine` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MachineOutcome {
    /// This machine's profile id (no `--of`).
    Id(String),
    /// The baseline was recorded on a machine of this profile.
    Same(String),
    /// The baseline records no CPU identity (saved by an older bench-gate), so it
    /// cannot say which machine it was.
    Unidentified,
    /// The baseline is another machine profile's.
    Other {
        /// This machine's profile id.
        here: String,
        /// The baseline's.
        baseline: String,
    },
}

impl MachineOutcome {
    /// The exit code: 1 for another machine's baseline, else 0.
    pub fn exit(&self) -> Exit {
        match self {
            MachineOutcome::Other { .. } => Exit::Critical,
            _ => Exit::Pass,
        }
    }

    /// The line printed: the id alone without `--of` (for scripts), else what was found.
    pub fn line(&self) -> String {
        match self {
            MachineOutcome::Id(id) => id.clone(),
            MachineOutcome::Same(id) => format!("same machine profile: {id}"),
            MachineOutcome::Unidentified => {
                "unidentified: the baseline records no CPU identity (saved by an older \
                 bench-gate), so it cannot say which machine it was"
                    .into()
            }
            MachineOutcome::Other { here, baseline } => {
                format!(
                    "another machine profile: this machine is {here}, the baseline's {baseline}"
                )
            }
        }
    }
}

/// This machine's profile id, or whether `--of`'s baseline was recorded on one of its
/// profile.
pub fn machine(options: &MachineOptions) -> Result<MachineOutcome, GateError> {
    let here = current_profile_id();
    let Some(path) = &options.of else {
        return Ok(MachineOutcome::Id(here));
    };
    let fingerprint = Baseline::load(path)?.fingerprint;
    if fingerprint.cpu.is_none() {
        return Ok(MachineOutcome::Unidentified);
    }
    let baseline = fingerprint.profile_id();
    Ok(if baseline == here {
        MachineOutcome::Same(here)
    } else {
        MachineOutcome::Other { here, baseline }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline_with(dir: &std::path::Path, fingerprint: serde_json::Value) -> PathBuf {
        let path = dir.join("b.json");
        let text = serde_json::json!({"format": 1, "profile": "p", "fingerprint": fingerprint, "benchmarks": {}});
        std::fs::write(&path, text.to_string()).unwrap();
        path
    }

    #[test]
    fn a_baseline_is_this_machines_another_ones_or_unidentified() {
        let dir = tempfile::tempdir().unwrap();
        let here = crate::baseline::Fingerprint::current();
        let same = baseline_with(dir.path(), serde_json::to_value(&here).unwrap());
        let of = |path: &PathBuf| {
            machine(&MachineOptions {
                of: Some(path.clone()),
            })
            .unwrap()
        };
        let id = machine(&MachineOptions { of: None }).unwrap();
        assert_eq!(id, MachineOutcome::Id(here.profile_id()));
        if here.cpu.is_some() {
            assert_eq!(of(&same), MachineOutcome::Same(here.profile_id()));
            assert_eq!(of(&same).exit(), Exit::Pass);
        }

        let mut other = serde_json::to_value(&here).unwrap();
        other["cpu"] =
            serde_json::json!({"vendor": "GenuineIntel", "family": 6, "model": 85, "stepping": 7});
        other["cores"] = serde_json::json!(96);
        let path = baseline_with(dir.path(), other);
        let found = of(&path);
        assert_eq!(found.exit(), Exit::Critical);
        assert!(found.line().contains("intel-f6m85s7-"), "{}", found.line());
        assert!(found.line().contains("-96c"), "{}", found.line());

        let mut old = serde_json::to_value(&here).unwrap();
        old.as_object_mut().unwrap().remove("cpu");
        let path = baseline_with(dir.path(), old);
        assert_eq!(of(&path), MachineOutcome::Unidentified);
        assert_eq!(of(&path).exit(), Exit::Pass);

        std::fs::write(&path, "{ not json").unwrap();
        let err = machine(&MachineOptions {
            of: Some(path.clone()),
        })
        .unwrap_err();
        assert!(err.to_string().contains("b.json"), "{err}");
    }
}
