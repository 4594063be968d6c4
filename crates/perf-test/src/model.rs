//! `perf-test model`: the M/M/c queueing model with dispatch delay
//! (`orchbench::queueing`) for 1..=N workers, as the published queueing study's
//! performance documents tabulate it (throughput, latency, queue length), with JSON and
//! SVG charts of latency and throughput against the worker count.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bench_gate::chart;
use bench_gate::fsutil::write_atomic;
use orchbench::queueing::{self, QueueingError};
use serde::Serialize;

use crate::{Console, PerfError, write_json_noted};

/// `perf-test model`'s inputs (its flags).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, clap::Args)]
pub struct ModelInput {
    /// Rows for 1 up to this many workers.
    #[arg(long, default_value_t = 4)]
    pub max_workers: u32,
    /// Arrival rate λ, tasks per second.
    #[arg(long, default_value_t = 100.0)]
    pub arrival_rate: f64,
    /// Service rate μ of one worker, tasks per second.
    #[arg(long, default_value_t = 120.0)]
    pub service_rate: f64,
    /// Dispatch (network) delay d per task, seconds.
    #[arg(long, default_value_t = 0.005)]
    pub network_delay: f64,
}

/// `perf-test model`: the model's inputs and the files to write.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ModelOptions {
    /// What to model.
    #[command(flatten)]
    pub input: ModelInput,
    /// Also write the report as JSON to this file (atomically).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also write latency_vs_workers.svg and throughput_vs_workers.svg into this directory.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// One row of the model table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRow {
    /// Workers (servers).
    pub workers: u32,
    /// ρ = λ/(cμ).
    pub utilisation: f64,
    /// `false` when ρ ≥ 1: the other figures are then absent.
    pub stable: bool,
    /// Tasks per second.
    pub throughput: Option<f64>,
    /// Mean latency T = d + Wq + 1/μ, milliseconds.
    pub latency_ms: Option<f64>,
    /// Mean queue length Lq.
    pub queue_length: Option<f64>,
    /// Mean wait in the queue Wq, milliseconds.
    pub queue_wait_ms: Option<f64>,
    /// Probability the system is empty.
    pub p0: Option<f64>,
}

/// `perf-test model`'s report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelReport {
    /// What was modelled.
    pub input: ModelInput,
    /// One row per worker count.
    pub rows: Vec<ModelRow>,
}

fn check_rate(flag: &str, value: f64) -> Result<(), PerfError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(PerfError::Usage(format!(
            "{flag} must be a finite number > 0, got {value}"
        )))
    }
}

/// Solves the M/M/c model for 1..=max_workers workers.
pub fn model(input: ModelInput) -> Result<ModelReport, PerfError> {
    if input.max_workers == 0 {
        return Err(PerfError::Usage(
            "--max-workers must be at least 1, got 0".into(),
        ));
    }
    check_rate("--arrival-rate", input.arrival_rate)?;
    check_rate("--service-rate", input.service_rate)?;
    if !(input.network_delay.is_finite() && input.network_delay >= 0.0) {
        return Err(PerfError::Usage(format!(
            "--network-delay must be a finite number of seconds >= 0, got {}",
            input.network_delay
        )));
    }
    let rows = queueing::sweep(
        input.arrival_rate,
        input.service_rate,
        input.network_delay,
        input.max_workers,
    )
    .into_iter()
    .map(|(workers, result)| match result {
        Ok(s) => Ok(ModelRow {
            workers,
            utilisation: s.utilisation,
            stable: true,
            throughput: Some(s.throughput),
            latency_ms: Some(s.latency * 1e3),
            queue_length: Some(s.queue_length),
            queue_wait_ms: Some(s.queue_wait * 1e3),
            p0: Some(s.p0),
        }),
        Err(QueueingError::Unstable { utilisation, .. }) => Ok(ModelRow {
            workers,
            utilisation,
            stable: false,
            throughput: None,
            latency_ms: None,
            queue_length: None,
            queue_wait_ms: None,
            p0: None,
        }),
        Err(e) => Err(PerfError::Usage(e.to_string())),
    })
    .collect::<Result<_, _>>()?;
    Ok(ModelReport { input, rows })
}

/// Solves the model `options` describe, writes the JSON and charts it asks for, and
/// shows the table on the console.
pub fn run(options: &ModelOptions, console: &mut dyn Console) -> Result<ModelReport, PerfError> {
    let report = model(options.input)?;
    console.report(&report.markdown());
    if let Some(path) = &options.json {
        write_json_noted(console, path, &report)?;
    }
    if let Some(dir) = &options.svg {
        for path in report.write_svgs(dir)? {
            console.status(&format!("wrote {}", path.display()));
        }
    }
    Ok(report)
}

impl ModelReport {
    /// The published queueing study's table: workers, throughput, latency (ms), average queue length.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("| workers | throughput (tasks/s) | latency (ms) | avg queue length |\n");
        out.push_str("| ------- | ------------------- | ------------ | ---------------- |\n");
        for r in &self.rows {
            match (r.throughput, r.latency_ms, r.queue_length) {
                (Some(t), Some(l), Some(q)) => {
                    let _ = writeln!(out, "| {} | {t:.2} | {l:.3} | {q:.2} |", r.workers);
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "| {} | unstable (ρ = {:.2} ≥ 1) | — | — |",
                        r.workers, r.utilisation
                    );
                }
            }
        }
        out
    }

    /// Writes `latency_vs_workers.svg` and `throughput_vs_workers.svg` into `dir`
    /// (created if missing) and returns their paths. Unstable rows have no point.
    pub fn write_svgs(&self, dir: &Path) -> Result<Vec<PathBuf>, PerfError> {
        let points = |f: fn(&ModelRow) -> Option<f64>| -> Vec<(f64, f64)> {
            self.rows
                .iter()
                .filter_map(|r| f(r).map(|v| (f64::from(r.workers), v)))
                .collect()
        };
        let subtitle = format!(
            "λ = {}/s, μ = {}/s, d = {} ms",
            self.input.arrival_rate,
            self.input.service_rate,
            self.input.network_delay * 1e3
        );
        let charts = [
            (
                "latency_vs_workers.svg",
                format!("Latency vs workers (M/M/c, {subtitle})"),
                "mean latency (ms)",
                points(|r| r.latency_ms),
            ),
            (
                "throughput_vs_workers.svg",
                format!("Throughput vs workers (M/M/c, {subtitle})"),
                "throughput (tasks/s)",
                points(|r| r.throughput),
            ),
        ];
        let mut written = Vec::new();
        for (file, title, y_label, pts) in charts {
            let chart = chart::line_chart(
                &title,
                "workers",
                y_label,
                true,
                &[chart::Line {
                    name: "model".into(),
                    points: pts,
                }],
            )
            .map_err(|e| PerfError::Run(format!("{}: {e}", dir.join(file).display())))?;
            let path = dir.join(file);
            write_atomic(&path, chart.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Exit;

    fn reference_input() -> ModelInput {
        ModelInput {
            max_workers: 4,
            arrival_rate: 100.0,
            service_rate: 120.0,
            network_delay: 0.005,
        }
    }

    #[test]
    fn model_table_is_the_research_orchestrators() {
        let table = model(reference_input()).unwrap().markdown();
        assert_eq!(
            table,
            "| workers | throughput (tasks/s) | latency (ms) | avg queue length |\n\
             | ------- | ------------------- | ------------ | ---------------- |\n\
             | 1 | 100.00 | 55.000 | 4.17 |\n\
             | 2 | 100.00 | 15.084 | 0.18 |\n\
             | 3 | 100.00 | 13.555 | 0.02 |\n\
             | 4 | 100.00 | 13.362 | 0.00 |\n"
        );
    }

    #[test]
    fn unstable_rows_say_so() {
        let input = ModelInput {
            max_workers: 3,
            arrival_rate: 250.0,
            ..reference_input()
        };
        let report = model(input).unwrap();
        assert!(!report.rows[0].stable && !report.rows[1].stable && report.rows[2].stable);
        let table = report.markdown();
        assert!(
            table.contains("| 1 | unstable (ρ = 2.08 ≥ 1) | — | — |"),
            "{table}"
        );
        assert!(
            table.contains("| 2 | unstable (ρ = 1.04 ≥ 1) | — | — |"),
            "{table}"
        );
    }

    #[test]
    fn bad_inputs_name_the_flag() {
        let cases = [
            (
                ModelInput {
                    max_workers: 0,
                    ..reference_input()
                },
                "--max-workers",
            ),
            (
                ModelInput {
                    arrival_rate: -1.0,
                    ..reference_input()
                },
                "--arrival-rate",
            ),
            (
                ModelInput {
                    service_rate: f64::NAN,
                    ..reference_input()
                },
                "--service-rate",
            ),
            (
                ModelInput {
                    network_delay: -0.1,
                    ..reference_input()
                },
                "--network-delay",
            ),
        ];
        for (input, flag) in cases {
            let err = model(input).unwrap_err();
            assert!(err.to_string().starts_with(flag), "{err}");
            assert_eq!(err.exit(), Exit::Usage);
        }
    }

    #[test]
    fn the_command_shows_the_table_and_names_every_file_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let options = ModelOptions {
            input: reference_input(),
            json: Some(dir.path().join("model.json")),
            svg: Some(dir.path().join("charts")),
        };
        let mut console = crate::Captured::default();
        let report = run(&options, &mut console).unwrap();
        assert_eq!(console.reports, [report.markdown()]);
        assert_eq!(console.status.len(), 3, "{:?}", console.status);
        for line in &console.status {
            let path = line.strip_prefix("wrote ").expect("a `wrote PATH` line");
            assert!(std::path::Path::new(path).is_file(), "{path}");
        }
        // A bad input writes nothing and says nothing.
        let mut quiet = crate::Captured::default();
        let bad = ModelOptions {
            input: ModelInput {
                max_workers: 0,
                ..reference_input()
            },
            json: Some(dir.path().join("bad.json")),
            svg: None,
        };
        assert_eq!(run(&bad, &mut quiet).unwrap_err().exit(), Exit::Usage);
        assert_eq!(quiet, crate::Captured::default());
        assert!(!dir.path().join("bad.json").exists());
    }

    #[test]
    fn writes_both_charts() {
        let dir = tempfile::tempdir().unwrap();
        let written = model(reference_input())
            .unwrap()
            .write_svgs(dir.path())
            .unwrap();
        assert_eq!(written.len(), 2);
        for path in written {
            let svg = std::fs::read_to_string(&path).unwrap();
            assert_eq!(svg.matches("<circle").count(), 4, "{}", path.display());
        }
    }
}
