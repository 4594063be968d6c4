//! Runs the published tool-execution benchmarks' rate-limiting scenarios (`perf_test::rate_scenarios`)
//! and prints a table, optionally JSON: "1000 requests with a 100/s limit" on a token bucket and
//! "sustained 500/s" on a sliding log and a sliding counter, against the real clock or
//! instantly on a manual clock (`--virtual`). `--with-governor` runs governor 0.10
//! (burst 1) under the same loads in the same run, as the yardstick.
//!
//! ```text
//! cargo run --release --example ratelimit_scenarios -- --virtual
//! cargo run --release --example ratelimit_scenarios -- --with-governor --json target/ratelimit.json
//! ```
//! Exit codes: 0 done, 1 a scenario could not run or the JSON not be written, 2 bad arguments.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bench_gate::fsutil::write_atomic;
use clap::Parser;
use perf_test::rate_scenarios::{self, AsyncLimiter, Load, Scenario, ScenarioReport, ScenarioSet};

/// Run the published tool-execution benchmarks' rate-limiting scenarios.
#[derive(Parser)]
struct Args {
    /// Which scenarios to run.
    #[arg(long, value_enum, default_value = "all")]
    scenario: ScenarioSet,
    /// Run instantly on a manual clock (a simulation) instead of the real clock.
    #[arg(long = "virtual")]
    virtual_clock: bool,
    /// Length of the sliding-window scenarios, seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Concurrent clients of the closed load (default 4).
    #[arg(long)]
    clients: Option<usize>,
    /// Use an open load arriving at this many requests per second instead of clients.
    #[arg(long)]
    offered: Option<f64>,
    /// With --offered: evenly spaced arrivals instead of a Poisson process.
    #[arg(long)]
    even: bool,
    /// Also run governor 0.10 (burst 1) under the same loads (real clock only).
    #[arg(long)]
    with_governor: bool,
    /// Write the reports as a JSON array to this file (atomically).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// governor's direct limiter awaiting `until_ready`, its documented way to wait.
struct GovernorLimiter(governor::DefaultDirectRateLimiter);

impl AsyncLimiter for GovernorLimiter {
    fn acquire_permit(&self) -> impl std::future::Future<Output = ()> + Send {
        self.0.until_ready()
    }

    fn memory_used(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

fn governor_for(rate: f64) -> Result<GovernorLimiter, String> {
    let per_second = NonZeroU32::new(rate.round() as u32)
        .filter(|_| rate.fract() == 0.0)
        .ok_or_else(|| format!("governor needs a whole, non-zero rate per second; got {rate}"))?;
    // `per_second(n)` alone allows a burst of n; the yardstick is burst 1, like ours.
    let quota = governor::Quota::per_second(per_second).allow_burst(NonZeroU32::MIN);
    Ok(GovernorLimiter(governor::RateLimiter::direct(quota)))
}

fn scenarios(args: &Args) -> Result<Vec<Scenario>, String> {
    let seconds = Duration::try_from_secs_f64(args.seconds).map_err(|_| {
        format!(
            "--seconds must be a non-negative number, got {}",
            args.seconds
        )
    })?;
    let mut list = Scenario::standard(args.scenario, seconds);
    for s in &mut list {
        if let Some(clients) = args.clients {
            s.load = Load::Closed { clients };
        }
        if let Some(offered) = args.offered {
            s.load = Load::Open {
                offered,
                poisson: !args.even,
            };
        }
    }
    Ok(list)
}

fn run(args: Args) -> Result<(), String> {
    if args.with_governor && args.virtual_clock {
        return Err("--with-governor runs on the real clock only; drop --virtual".into());
    }
    let mut reports: Vec<ScenarioReport> = Vec::new();
    for s in scenarios(&args)? {
        eprintln!("running {} ({}) ...", s.name, s.limiter.describe());
        let report = if args.virtual_clock {
            rate_scenarios::run_virtual(&s)
        } else {
            rate_scenarios::run_real(&s)
        };
        reports.push(report.map_err(|e| e.to_string())?);
        if args.with_governor && s.name != "sliding-counter" {
            let mut yardstick = s.clone();
            yardstick.name = format!("governor ({})", s.name);
            let limiter = Arc::new(governor_for(s.limiter.target_rate())?);
            eprintln!("running {} ...", yardstick.name);
            let mut report =
                rate_scenarios::run_real_with(&yardstick, limiter).map_err(|e| e.to_string())?;
            report.limiter = format!("governor {}/s burst 1", s.limiter.target_rate());
            reports.push(report);
        }
    }
    print!("{}", perf_test::ratelimit::table(&reports));
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&reports).map_err(|e| e.to_string())?;
        write_atomic(path, &json).map_err(|e| e.to_string())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ratelimit_scenarios: {message}");
            ExitCode::FAILURE
        }
    }
}
