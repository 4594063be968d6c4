//! `perf-test profile`: open-loop load on the scheduler's pool, as scenarios
//! (`sustained`, `burst`, `ramp`: [`scenarios`]) or as the backpressure and adaptive
//! sizing demonstration ([`overload`]); [`options`] holds the command's flags.

mod driver;
pub mod options;
pub mod overload;
mod report;
pub mod scenarios;

use std::path::PathBuf;

pub use options::{OverloadOptions, Policy, ProfileOptions};
pub use scenarios::{
    BurstFigures, ProfileConfig, ProfileKind, ProfileReport, Segment, Shape, Window, run,
};

use crate::{Console, PerfError, runtime_with_metrics, write_json_noted};

/// Runs the profile `options` describe on a fresh runtime (serving metrics if asked),
/// shows the report and writes the gate's report (overload: through
/// [`overload::run_command`]).
pub fn run_command(options: &ProfileOptions, console: &mut dyn Console) -> Result<(), PerfError> {
    if options.kind == ProfileKind::Overload {
        return overload::run_command(options, &options.overload, console).map(drop);
    }
    let config = options.config()?;
    let (runtime, _endpoint) = runtime_with_metrics(options.metrics_addr.as_deref(), console)?;
    let kind = config.kind;
    console.status(&format!(
        "profile {}: {:.0} s of open-loop load ...",
        kind.name(),
        config.seconds()
    ));
    let report = runtime.block_on(run(&config, |t, n, q| {
        console.status(&format!("Progress: {t:.0} s, {n} requests, queue {q}"))
    }))?;
    console.report(&report.text());
    let path = options
        .json
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/perf/profile-{}.json", kind.name())));
    write_json_noted(console, &path, &crate::with_wakeups(report.metrics()))?;
    Ok(())
}
