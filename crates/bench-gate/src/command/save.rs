//! `bench-gate baseline save`: the current results, optionally each from its median
//! run among several A/A runs and with calibrated noise bands, written atomically as
//! `baselines/<profile>.json` with this machine's fingerprint.

use std::path::PathBuf;

use super::Inputs;
use crate::baseline::{Baseline, FORMAT, Fingerprint};
use crate::calibrate::{self, Calibration};
use crate::{GateError, criterion, read_json_file};

/// What to save, and where.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct SaveOptions {
    /// The runner profile (the file's name).
    #[arg(long)]
    pub profile: String,
    /// The directory to write to.
    #[arg(long, default_value = "baselines")]
    pub out: PathBuf,
    /// Noise bands from `bench-gate calibrate --save FILE`, stored with the results.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Another A/A run's Criterion directory (repeatable): each benchmark is then
    /// stored from its median run among `--criterion-dir` and these, so the
    /// baseline sits in the middle of the noise rather than at one edge.
    #[arg(long)]
    pub median_of: Vec<PathBuf>,
    /// Where the current results are.
    #[command(flatten)]
    pub inputs: Inputs,
}

/// What was saved.
#[derive(Clone, Debug, PartialEq)]
pub struct SaveOutcome {
    /// The baseline file written.
    pub path: PathBuf,
    /// How many benchmarks it holds.
    pub benchmarks: usize,
}

/// Saves the current results as `<out>/<profile>.json`.
pub fn save_baseline(options: &SaveOptions) -> Result<SaveOutcome, GateError> {
    let profile = &options.profile;
    if profile.is_empty() || profile.contains(['/', '\\']) || profile.starts_with('.') {
        return Err(GateError::NoResults(format!(
            "--profile {profile:?}: use a plain file name"
        )));
    }
    let mut results = options.inputs.load("new")?;
    if !options.median_of.is_empty() {
        let mut runs = vec![results];
        for dir in &options.median_of {
            let r = criterion::load(dir, "new")?;
            if r.is_empty() {
                return Err(GateError::NoResults(format!(
                    "--median-of {}: no Criterion results (nothing under */new/benchmark.json)",
                    dir.display()
                )));
            }
            runs.push(r);
        }
        results = calibrate::median_run(&runs);
    }
    if let Some(path) = &options.calibration {
        let c: Calibration = read_json_file(path)?;
        calibrate::apply(&mut results, &c);
    }
    let baseline = Baseline {
        format: FORMAT,
        profile: profile.clone(),
        fingerprint: Fingerprint::current(),
        benchmarks: results,
    };
    let path = options.out.join(format!("{profile}.json"));
    baseline.save(&path)?;
    Ok(SaveOutcome {
        path,
        benchmarks: baseline.benchmarks.len(),
    })
}
