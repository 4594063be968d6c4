//! bench-gate: a comparator that turns benchmark results into one verdict per benchmark
//! and a PR verdict (an exit code). It reads what Criterion, gungraun and `perf-test`
//! wrote; it never runs a benchmark and never depends on the code it judges, so it
//! works on any Criterion project. The `bench-gate` binary is a thin shell over
//! [`command`].
//!
//! Split as input → decision → output (critcmp's layout):
//! - input: [`criterion`] (Criterion's `target/criterion` tree), [`gungraun`]
//!   (callgrind instruction-count summaries), [`counts`] (`bench-gate count`'s file),
//!   [`perf`] (`perf-test` JSON reports),
//!   [`baseline`] (committed baselines with their environment fingerprint),
//!   [`thresholds`] (the policy file);
//! - decision: [`decide`](mod@decide), pure (no I/O), on top of [`stats`] (Mann–Whitney U, Holm);
//!   [`calibrate`] measures noise bands and false alarms from A/A runs;
//! - output: [`report`] (terminal table, markdown, JSON, JUnit), written atomically by
//!   [`fsutil`].
//!
//! [`command`] holds the commands (`check`, `calibrate`, `baseline save`, `history`),
//! each one options struct in and one outcome out. [`history`] is the benchmark
//! history store (JSON lines, one run each), judged over time by [`changepoint`]
//! (E-Divisive means, pure) and drawn by [`html`] as one self-contained page of
//! [`chart`]s (plotters' SVG backend). [`synthetic`] generates inputs for testing
//! and timing the gate itself. Every error names the file, the benchmark and the field.

pub mod ab;
pub mod accept;
pub mod baseline;
pub mod calibrate;
pub mod changepoint;
pub mod chart;
pub mod command;
pub mod counts;
pub mod criterion;
pub mod decide;
pub mod fsutil;
pub mod gungraun;
pub mod history;
pub mod html;
pub mod machine;
pub mod model;
pub mod paired;
pub mod perf;
pub mod report;
pub mod stats;
pub mod synthetic;
pub mod thresholds;
pub mod verdict;

use std::path::PathBuf;

pub use ab::{AbOptions, AbOutcome, ab};
pub use command::{
    CalibrateOptions, CalibrateOutcome, CheckOptions, CheckOutcome, Exit, Exports, Inputs, Reports,
    SaveOptions, SaveOutcome, calibrate_runs, check, save_baseline,
};
pub use decide::decide;
pub use model::{Direction, Entry, Results, Source, Unit};
pub use verdict::{Comparison, Verdict};

/// Why the gate could not judge (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid JSON (truncated, corrupt).
    #[error("{path}: not valid JSON: {detail}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        detail: String,
    },
    /// A field is missing or has an impossible value.
    #[error("{path}: benchmark {bench:?}: field {field:?}: {problem}")]
    Field {
        /// The file.
        path: PathBuf,
        /// The benchmark it belongs to, as far as known.
        bench: String,
        /// The field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Nothing to compare was found.
    #[error("{0}")]
    NoResults(String),
    /// `bench-gate ab` could not compare: a revision, a checkout, a build or a run
    /// failed, or it was interrupted; the message says which side and what.
    #[error("{0}")]
    Ab(String),
    /// An accept line of the PR's description is malformed or names a benchmark the
    /// run does not have; the message names the file and line.
    #[error("{0}")]
    Accept(String),
    /// Shard reports that cannot be merged: from different commits or policies, a
    /// shard missing or given twice; the message names the files.
    #[error("{0}")]
    Merge(String),
    /// A history file is missing, empty, or has a line that is not a run.
    #[error("{path}: {detail}")]
    History {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the line.
        detail: String,
    },
    /// The thresholds file is invalid.
    #[error("{path}: {detail}")]
    Thresholds {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key or value.
        detail: String,
    },
}

impl From<fsutil::WriteError> for GateError {
    fn from(e: fsutil::WriteError) -> GateError {
        let (fsutil::WriteError::Write { path, source }
        | fsutil::WriteError::Persist { path, source }) = e;
        GateError::Io { path, source }
    }
}

impl GateError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> GateError {
        GateError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn field(
        path: impl Into<PathBuf>,
        bench: impl Into<String>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> GateError {
        GateError::Field {
            path: path.into(),
            bench: bench.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Reads a JSON file into `T`, naming the file on any failure.
pub fn read_json_file<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<T, GateError> {
    read_json(path)
}

/// Reads a JSON file into `T`, naming the file on any failure.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<T, GateError> {
    let bytes = std::fs::read(path).map_err(|e| GateError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| GateError::Json {
        path: path.to_owned(),
        detail: e.to_string(),
    })
}

/// The README's code examples, compiled and run by `cargo test` so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
