//! bench-gate's lockstep harness: the `criterion` crate's API (0.4–0.8), built into both
//! sides of a `bench-gate ab` comparison in place of the real crate, so that the base's
//! and the head's processes of one benchmark can be measured sample by sample under one
//! barrier.
//!
//! - Under `bench-gate ab` (`BENCH_GATE_LOCKSTEP` names the driver's socket), a process
//!   serves exactly one benchmark, `BENCH_GATE_LOCKSTEP_ID`, to the driver: warm-up and
//!   samples of an iteration count the driver chooses, one at a time, when it says so
//!   ([`lockstep`]). Every other benchmark of the binary is skipped.
//! - Run by hand, the binary still does what a Criterion bench does in outline: `--list`
//!   lists, `--test` runs every benchmark once, and a plain run measures each one
//!   briefly and prints its median ([`standalone`]). It writes no files and draws no
//!   plots: the analysis is bench-gate's.
//!
//! What the benchmarks' code sees is Criterion's: `Criterion`, `BenchmarkGroup`,
//! `Bencher` (`iter`, `iter_batched(_ref)`, `iter_custom`, `iter_with_setup`,
//! `iter_with_large_drop`, `to_async`), `BenchmarkId`, `Throughput`, `SamplingMode`,
//! `BatchSize`, the `Measurement` and `Profiler` traits and both macros, with the
//! same semantics for what is timed (a batch's setup never is).

mod args;
pub mod async_executor;
mod bencher;
mod count;
mod group;
mod lockstep;
mod macros;
pub mod measurement;
pub mod profiler;
mod standalone;

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

#[cfg(feature = "async")]
pub use crate::bencher::AsyncBencher;
pub use crate::bencher::Bencher;
pub use crate::group::{BenchmarkGroup, BenchmarkId};
use crate::measurement::{Measurement, WallTime};
use crate::profiler::{ExternalProfiler, Profiler};

/// What this harness says of itself in `--help`, so `bench-gate ab` can tell its
/// binaries from those of the real Criterion (and of other harnesses).
pub const HARNESS_MARK: &str = "bench-gate lockstep harness";

/// An identity function the optimiser cannot see through (`std::hint::black_box`).
pub fn black_box<T>(dummy: T) -> T {
    std::hint::black_box(dummy)
}

/// How many iterations of `iter_batched`'s routine share one setup batch.
// Criterion's own hidden variant, kept so that code matching on it still compiles.
#[allow(clippy::manual_non_exhaustive)]
#[derive(Debug, Eq, PartialEq, Copy, Hash, Clone)]
pub enum BatchSize {
    /// Ten batches per sample: inputs small enough to hold many at once.
    SmallInput,
    /// A thousand batches per sample: large inputs or outputs.
    LargeInput,
    /// One input per iteration.
    PerIteration,
    /// This many batches per sample.
    NumBatches(u64),
    /// This many iterations per batch.
    NumIterations(u64),
    #[doc(hidden)]
    __NonExhaustive,
}

impl BatchSize {
    /// Iterations per batch for a sample of `iters` iterations.
    fn iters_per_batch(self, iters: u64) -> u64 {
        match self {
            BatchSize::SmallInput => iters.div_ceil(10),
            BatchSize::LargeInput => iters.div_ceil(1000),
            BatchSize::PerIteration => 1,
            BatchSize::NumBatches(batches) => iters.div_ceil(batches.max(1)),
            BatchSize::NumIterations(size) => size,
            BatchSize::__NonExhaustive => panic!("__NonExhaustive is not a valid BatchSize."),
        }
    }
}

/// What Criterion does with a named baseline (accepted and ignored here: bench-gate
/// keeps no baselines through the harness).
#[derive(Debug, Clone, Copy)]
pub enum Baseline {
    /// Compare with a saved baseline when there is one.
    CompareLenient,
    /// Compare with a saved baseline, which must exist.
    CompareStrict,
    /// Save the results as the baseline.
    Save,
    /// Discard the results.
    Discard,
}

/// Criterion's plotting backends (accepted; this harness draws nothing).
#[derive(Debug, Clone, Copy)]
pub enum PlottingBackend {
    /// gnuplot.
    Gnuplot,
    /// The plotters crate.
    Plotters,
    /// No plots.
    None,
}

/// Which benchmarks a run measures.
#[derive(Clone, Debug)]
pub enum BenchmarkFilter {
    /// Every benchmark.
    AcceptAll,
    /// The benchmark whose id is exactly this.
    Exact(String),
    /// No benchmark.
    RejectAll,
}

/// The work one iteration of a benchmark does, for throughput figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Throughput {
    /// Bits per iteration.
    Bits(u64),
    /// Bytes per iteration (binary prefixes).
    Bytes(u64),
    /// Bytes per iteration (decimal prefixes).
    BytesDecimal(u64),
    /// Elements per iteration.
    Elements(u64),
    /// Elements and bytes per iteration.
    ElementsAndBytes {
        /// Elements per iteration.
        elements: u64,
        /// Bytes per iteration.
        bytes: u64,
    },
}

/// The scale of a summary plot's axes (accepted; nothing is drawn).
#[derive(Debug, Default, Clone, Copy)]
pub enum AxisScale {
    /// Linear axes.
    #[default]
    Linear,
    /// Logarithmic axes.
    Logarithmic,
}

/// A group's plot settings (accepted; nothing is drawn).
#[derive(Debug, Default, Clone)]
pub struct PlotConfiguration {
    summary_scale: AxisScale,
}

impl PlotConfiguration {
    /// Sets the summary plots' axis scale.
    #[must_use]
    pub fn summary_scale(mut self, new_scale: AxisScale) -> PlotConfiguration {
        self.summary_scale = new_scale;
        self
    }
}

/// How a run chooses its samples' iteration counts when it measures alone (under
/// bench-gate, the driver chooses one count for both sides).
#[derive(Debug, Default, Clone, Copy)]
pub enum SamplingMode {
    /// Linear or flat, by the routine's speed.
    #[default]
    Auto,
    /// 1·d, 2·d, … n·d iterations.
    Linear,
    /// The same count in every sample.
    Flat,
}

/// A benchmark's settings: the runner's, with its group's on top.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) sample_size: usize,
    pub(crate) warm_up_time: Duration,
    pub(crate) measurement_time: Duration,
}

/// What a run does with each benchmark that its filter lets through.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// Measure alone and print the results.
    Measure,
    /// Print `ID: benchmark`.
    List,
    /// Run once to see that it works.
    Test,
    /// Iterate for this long under the profiler, measuring nothing.
    Profile(Duration),
}

/// Which benchmarks a run takes: every one, those whose id contains a string (a
/// Criterion filter without regex syntax), one exact id, or none.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    All,
    Contains(String),
    Exact(String),
    None,
}

impl Filter {
    fn matches(&self, id: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Contains(part) => id.contains(part.as_str()),
            Filter::Exact(exact) => id == exact,
            Filter::None => false,
        }
    }
}

/// The benchmark manager: configuration, the filter, and the measurement in use.
pub struct Criterion<M: Measurement = WallTime> {
    config: Config,
    filter: Filter,
    mode: Mode,
    measurement: M,
    profiler: Box<RefCell<dyn Profiler>>,
}

impl Default for Criterion {
    /// 100 samples, 3 s of warm-up, 5 s of measurement, every benchmark, wall time.
    fn default() -> Criterion {
        Criterion {
            config: Config {
                sample_size: 100,
                warm_up_time: Duration::from_secs(3),
                measurement_time: Duration::from_secs(5),
            },
            filter: Filter::All,
            mode: Mode::Measure,
            measurement: WallTime,
            profiler: Box::new(RefCell::new(ExternalProfiler)),
        }
    }
}

impl<M: Measurement> Criterion<M> {
    /// The same runner with another measurement.
    pub fn with_measurement<M2: Measurement>(self, m: M2) -> Criterion<M2> {
        Criterion {
            config: self.config,
            filter: self.filter,
            mode: self.mode,
            measurement: m,
            profiler: self.profiler,
        }
    }

    /// The profiler `--profile-time` runs start and stop around each benchmark.
    #[must_use]
    pub fn with_profiler<P: Profiler + 'static>(self, p: P) -> Criterion<M> {
        Criterion {
            profiler: Box::new(RefCell::new(p)),
            ..self
        }
    }

    /// Accepted for compatibility; nothing is plotted.
    #[must_use]
    pub fn plotting_backend(self, _backend: PlottingBackend) -> Criterion<M> {
        self
    }

    /// Samples per benchmark when measuring alone (at least 10).
    #[must_use]
    pub fn sample_size(mut self, n: usize) -> Criterion<M> {
        assert!(n >= 10, "sample_size must be at least 10");
        self.config.sample_size = n;
        self
    }

    /// Warm-up time per benchmark when measuring alone.
    #[must_use]
    pub fn warm_up_time(mut self, dur: Duration) -> Criterion<M> {
        assert!(dur.as_nanos() > 0, "warm_up_time must be above zero");
        self.config.warm_up_time = dur;
        self
    }

    /// Measurement time per benchmark when measuring alone.
    #[must_use]
    pub fn measurement_time(mut self, dur: Duration) -> Criterion<M> {
        assert!(dur.as_nanos() > 0, "measurement_time must be above zero");
        self.config.measurement_time = dur;
        self
    }

    /// Accepted for compatibility (bench-gate does its own statistics).
    #[must_use]
    pub fn nresamples(self, n: usize) -> Criterion<M> {
        assert!(n > 0, "nresamples must be above zero");
        self
    }

    /// Accepted for compatibility (bench-gate does its own statistics).
    #[must_use]
    pub fn noise_threshold(self, threshold: f64) -> Criterion<M> {
        assert!(threshold >= 0.0, "noise_threshold must not be negative");
        self
    }

    /// Accepted for compatibility (bench-gate does its own statistics).
    #[must_use]
    pub fn confidence_level(self, cl: f64) -> Criterion<M> {
        assert!(cl > 0.0 && cl < 1.0, "confidence_level must be in (0, 1)");
        self
    }

    /// Accepted for compatibility (bench-gate does its own statistics).
    #[must_use]
    pub fn significance_level(self, sl: f64) -> Criterion<M> {
        assert!(sl > 0.0 && sl < 1.0, "significance_level must be in (0, 1)");
        self
    }

    /// Accepted for compatibility; nothing is plotted.
    #[must_use]
    pub fn with_plots(self) -> Criterion<M> {
        self
    }

    /// Accepted for compatibility; nothing is plotted.
    #[must_use]
    pub fn without_plots(self) -> Criterion<M> {
        self
    }

    /// Accepted for compatibility; no baseline is saved.
    #[must_use]
    pub fn save_baseline(self, _baseline: String) -> Criterion<M> {
        self
    }

    /// Accepted for compatibility; no baseline is compared with.
    #[must_use]
    pub fn retain_baseline(self, _baseline: String, _strict: bool) -> Criterion<M> {
        self
    }

    /// Only benchmarks whose id contains `filter` (regex syntax is not interpreted).
    #[must_use]
    pub fn with_filter<S: Into<String>>(mut self, filter: S) -> Criterion<M> {
        self.filter = Filter::Contains(filter.into());
        self
    }

    /// Only the benchmarks `filter` lets through.
    #[must_use]
    pub fn with_benchmark_filter(mut self, filter: BenchmarkFilter) -> Criterion<M> {
        self.filter = match filter {
            BenchmarkFilter::AcceptAll => Filter::All,
            BenchmarkFilter::Exact(id) => Filter::Exact(id),
            BenchmarkFilter::RejectAll => Filter::None,
        };
        self
    }

    /// Accepted for compatibility; the output has no colour.
    #[must_use]
    pub fn with_output_color(self, _enabled: bool) -> Criterion<M> {
        self
    }

    /// Accepted for compatibility; nothing is written.
    #[must_use]
    pub fn output_directory(self, _path: &Path) -> Criterion<M> {
        self
    }

    /// Iterate each benchmark for this long under the profiler instead of measuring.
    #[must_use]
    pub fn profile_time(mut self, profile_time: Option<Duration>) -> Criterion<M> {
        if let Some(time) = profile_time {
            self.mode = Mode::Profile(time);
        }
        self
    }

    /// The end of a run (nothing to summarise: each benchmark printed its own line).
    #[doc(hidden)]
    pub fn final_summary(&self) {}

    /// Applies the command line: Criterion's flags, and a filter.
    #[must_use]
    pub fn configure_from_args(mut self) -> Criterion<M> {
        let parsed = args::parse(std::env::args().skip(1));
        if let Some(n) = parsed.sample_size {
            self = self.sample_size(n);
        }
        if let Some(t) = parsed.warm_up_time {
            self = self.warm_up_time(t);
        }
        if let Some(t) = parsed.measurement_time {
            self = self.measurement_time(t);
        }
        self.filter = parsed.filter;
        self.mode = parsed.mode;
        self
    }

    /// A group of benchmarks sharing settings; ids are `GROUP/FUNCTION/PARAMETER`.
    pub fn benchmark_group<S: Into<String>>(&mut self, group_name: S) -> BenchmarkGroup<'_, M> {
        let group_name = group_name.into();
        assert!(!group_name.is_empty(), "Group name must not be empty.");
        BenchmarkGroup::new(self, group_name)
    }

    /// Runs one benchmark as this run's mode says: served to the lockstep driver when
    /// it is the one the driver asked for, else listed, tested, measured or profiled
    /// when the filter lets it through.
    pub(crate) fn run<I: ?Sized, F>(&mut self, id: &str, config: Config, input: &I, mut f: F)
    where
        F: FnMut(&mut Bencher<'_, M>, &I),
    {
        let lockstep = lockstep::target();
        let wanted = match lockstep {
            Some(target) => target.id == id,
            None => self.filter.matches(id),
        };
        if !wanted {
            return;
        }
        let unit = self.measurement.formatter().scale_for_machines(&mut []);
        let measurement = &self.measurement;
        let mut bencher = Bencher::new(measurement);
        let mut routine = |iters: u64| {
            bencher.iters = iters;
            f(&mut bencher, std::hint::black_box(input));
            bencher.assert_iterated();
            bencher::Run {
                value: measurement.to_f64(&bencher.value),
                wall: bencher.elapsed_time,
            }
        };
        if let Some(target) = lockstep {
            lockstep::serve(target, unit, &mut routine);
            return;
        }
        match self.mode {
            Mode::List => println!("{id}: benchmark"),
            Mode::Test => {
                println!("Testing {id}");
                routine(1);
                println!("Success");
            }
            Mode::Measure => {
                standalone::measure(id, config, measurement.formatter(), &mut routine);
            }
            Mode::Profile(time) => {
                let dir = Path::new("target/criterion").join(id).join("profile");
                self.profiler.borrow_mut().start_profiling(id, &dir);
                standalone::iterate_for(time, &mut routine);
                self.profiler.borrow_mut().stop_profiling(id, &dir);
            }
        }
    }
}

impl<M: Measurement + 'static> Criterion<M> {
    /// Benchmarks one function; its id is `id`.
    pub fn bench_function<F>(&mut self, id: &str, f: F) -> &mut Criterion<M>
    where
        F: FnMut(&mut Bencher<'_, M>),
    {
        self.benchmark_group(id)
            .bench_function(BenchmarkId::no_function(), f);
        self
    }

    /// Benchmarks one function with an input; its id is `FUNCTION/PARAMETER`.
    pub fn bench_with_input<F, I>(&mut self, id: BenchmarkId, input: &I, f: F) -> &mut Criterion<M>
    where
        F: FnMut(&mut Bencher<'_, M>, &I),
    {
        let (group, parameter) = id.into_group_and_parameter();
        self.benchmark_group(group).bench_with_input(
            BenchmarkId::no_function_with_input(parameter),
            input,
            f,
        );
        self
    }
}

/// Runs benchmark functions (the custom-test-framework entry point).
#[doc(hidden)]
pub fn runner(benches: &[&dyn Fn()]) {
    for bench in benches {
        bench();
    }
    Criterion::default().configure_from_args().final_summary();
}
