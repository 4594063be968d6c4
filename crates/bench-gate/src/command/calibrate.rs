//! `bench-gate calibrate`: from two or more runs of the same code (A/A), each
//! benchmark's noise band and the false alarms the current thresholds would have
//! raised, optionally with a synthetic regression to show what the bands still catch.
//! The statistics are [`crate::calibrate`]'s; this module loads the runs, renders the
//! outcome and saves the bands.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::load_policy;
use crate::calibrate::{self, AaReport};
use crate::fsutil::write_atomic;
use crate::{GateError, Results, criterion};

/// The A/A runs to calibrate from, and what to do with the bands.
#[derive(Clone, Debug, Default, PartialEq, clap::Args)]
pub struct CalibrateOptions {
    /// The first run's Criterion directory (a copy of target/criterion).
    #[arg(long)]
    pub a: PathBuf,
    /// A later run's Criterion directory; repeat for more runs (the band is the
    /// largest change seen between any two of them).
    #[arg(long, required = true)]
    pub b: Vec<PathBuf>,
    /// The policy file (default: thresholds.toml if present, else the built-in one).
    #[arg(long)]
    pub thresholds: Option<PathBuf>,
    /// Write the noise bands here (JSON), for `baseline save --calibration`.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Also scale the first B run's wall-time samples by this factor (e.g. 1.15) and
    /// report whether every benchmark with a noise band under 5 % is then critical.
    #[arg(long)]
    pub synthetic_regression: Option<f64>,
}

/// The band under which a synthetic regression must be caught.
const SYNTHETIC_BAND_LIMIT: f64 = 0.05;

/// What a synthetic regression of the calibrated runs showed.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticCheck {
    /// The factor the B run was scaled by.
    pub factor: f64,
    /// Wall-time benchmarks with a band under 5 %.
    pub eligible: usize,
    /// How many of them came out critical.
    pub caught: usize,
    /// The others, each with its verdict and reason.
    pub escaped: Vec<String>,
}

/// What calibration found and wrote.
#[derive(Clone, Debug)]
pub struct CalibrateOutcome {
    /// The bands and the policy's verdicts on each B run against A.
    pub report: AaReport,
    /// The A run's directory.
    pub a: PathBuf,
    /// How many B runs there were.
    pub runs: usize,
    /// The policy file used.
    pub policy: PathBuf,
    /// The synthetic regression's result, when one was asked for.
    pub synthetic: Option<SyntheticCheck>,
    /// Where the bands were saved, if they were.
    pub saved: Option<PathBuf>,
}

impl CalibrateOutcome {
    /// The terminal report: the bands, widest first, the false alarms and the
    /// synthetic regression's catch.
    pub fn text(&self) -> String {
        let mut out = format!(
            "bench-gate calibrate: {} run(s) against {} (A), policy {}\n\n",
            self.runs,
            self.a.display(),
            self.policy.display()
        );
        let mut bands: Vec<(&String, &f64)> = self.report.calibration.noise.iter().collect();
        bands.sort_by(|x, y| y.1.total_cmp(x.1).then(x.0.cmp(y.0)));
        let _ = writeln!(out, "{:>9}  benchmark", "noise");
        for (id, band) in &bands {
            let _ = writeln!(out, "{:>8.2}%  {id}", *band * 100.0);
        }
        let (warnings, criticals) = self.report.false_alarms();
        let compared = self.report.compared();
        let n = compared.max(1) as f64;
        let _ = writeln!(
            out,
            "\nfalse alarms of the current thresholds (before noise bands), all runs against A: {criticals} critical ({:.1} %), \
             {warnings} warning ({:.1} %) of {compared} comparisons",
            100.0 * criticals as f64 / n,
            100.0 * warnings as f64 / n,
        );
        if let Some(s) = &self.synthetic {
            let _ = writeln!(
                out,
                "synthetic regression ×{}: {} of {} wall-time benchmarks with a noise band under 5 % judged critical",
                s.factor, s.caught, s.eligible
            );
            for e in &s.escaped {
                let _ = writeln!(out, "  not caught: {e}");
            }
        }
        if let Some(path) = &self.saved {
            let _ = writeln!(out, "noise bands written to {}", path.display());
        }
        out
    }
}

/// A calibration run's Criterion results, which must hold some.
fn load_run(dir: &Path) -> Result<Results, GateError> {
    let r = criterion::load(dir, "new")?;
    if r.is_empty() {
        return Err(GateError::NoResults(format!(
            "no results under {}/**/new/",
            dir.display()
        )));
    }
    Ok(r)
}

/// Calibrates noise bands from the A/A runs `options` names (and saves them if asked).
pub fn calibrate_runs(options: &CalibrateOptions) -> Result<CalibrateOutcome, GateError> {
    if let Some(factor) = options.synthetic_regression
        && !(factor.is_finite() && factor > 1.0)
    {
        return Err(GateError::NoResults(format!(
            "--synthetic-regression {factor}: use a factor above 1, e.g. 1.15"
        )));
    }
    let policy = load_policy(options.thresholds.as_deref())?;
    let a = load_run(&options.a)?;
    let bs = options
        .b
        .iter()
        .map(|d| load_run(d))
        .collect::<Result<Vec<_>, _>>()?;
    if bs.is_empty() {
        return Err(GateError::NoResults(
            "calibrate needs at least one --b run besides --a".into(),
        ));
    }
    let report = calibrate::calibrate(&a, &bs, &policy)?;
    let synthetic = match options.synthetic_regression {
        Some(factor) => {
            let (eligible, caught, escaped) = calibrate::synthetic_regression(
                &a,
                &bs[0],
                &report.calibration,
                &policy,
                factor,
                SYNTHETIC_BAND_LIMIT,
            )?;
            Some(SyntheticCheck {
                factor,
                eligible,
                caught,
                escaped,
            })
        }
        None => None,
    };
    if let Some(path) = &options.save {
        let json =
            serde_json::to_string_pretty(&report.calibration).map_err(|e| GateError::Json {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        write_atomic(path, (json + "\n").as_bytes())?;
    }
    Ok(CalibrateOutcome {
        report,
        a: options.a.clone(),
        runs: options.b.len(),
        policy: policy.path,
        synthetic,
        saved: options.save.clone(),
    })
}
