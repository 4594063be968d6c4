//! `BenchmarkGroup` and `BenchmarkId`: benchmarks that share settings, and how their
//! ids are made (`GROUP`, `GROUP/FUNCTION`, `GROUP/PARAMETER` or
//! `GROUP/FUNCTION/PARAMETER`, as Criterion makes them; the ids are the keys bench-gate
//! matches between base and head).

use std::time::Duration;

use crate::measurement::Measurement;
use crate::{Bencher, Config, Criterion, PlotConfiguration, SamplingMode, Throughput};

/// Benchmarks that share a name prefix and settings.
pub struct BenchmarkGroup<'a, M: Measurement> {
    criterion: &'a mut Criterion<M>,
    group_name: String,
    ids: Vec<String>,
    sample_size: Option<usize>,
    warm_up_time: Option<Duration>,
    measurement_time: Option<Duration>,
}

impl<'a, M: Measurement> BenchmarkGroup<'a, M> {
    pub(crate) fn new(criterion: &'a mut Criterion<M>, group_name: String) -> Self {
        BenchmarkGroup {
            criterion,
            group_name,
            ids: Vec::new(),
            sample_size: None,
            warm_up_time: None,
            measurement_time: None,
        }
    }

    /// Samples per benchmark when measuring alone (at least 10).
    pub fn sample_size(&mut self, n: usize) -> &mut Self {
        assert!(n >= 10, "sample_size must be at least 10");
        self.sample_size = Some(n);
        self
    }

    /// Warm-up time when measuring alone.
    pub fn warm_up_time(&mut self, dur: Duration) -> &mut Self {
        assert!(dur.as_nanos() > 0, "warm_up_time must be above zero");
        self.warm_up_time = Some(dur);
        self
    }

    /// Measurement time when measuring alone.
    pub fn measurement_time(&mut self, dur: Duration) -> &mut Self {
        assert!(dur.as_nanos() > 0, "measurement_time must be above zero");
        self.measurement_time = Some(dur);
        self
    }

    /// Accepted for compatibility (bench-gate does its own statistics).
    pub fn nresamples(&mut self, n: usize) -> &mut Self {
        assert!(n > 0, "nresamples must be above zero");
        self
    }

    /// Accepted for compatibility (bench-gate does its own statistics).
    pub fn noise_threshold(&mut self, threshold: f64) -> &mut Self {
        assert!(threshold >= 0.0, "noise_threshold must not be negative");
        self
    }

    /// Accepted for compatibility (bench-gate does its own statistics).
    pub fn confidence_level(&mut self, cl: f64) -> &mut Self {
        assert!(cl > 0.0 && cl < 1.0, "confidence_level must be in (0, 1)");
        self
    }

    /// Accepted for compatibility (bench-gate does its own statistics).
    pub fn significance_level(&mut self, sl: f64) -> &mut Self {
        assert!(sl > 0.0 && sl < 1.0, "significance_level must be in (0, 1)");
        self
    }

    /// Accepted for compatibility; nothing is plotted.
    pub fn plot_config(&mut self, _config: PlotConfiguration) -> &mut Self {
        self
    }

    /// Accepted: the work per iteration (bench-gate compares times).
    pub fn throughput(&mut self, _throughput: Throughput) -> &mut Self {
        self
    }

    /// Accepted: under bench-gate the driver chooses one iteration count for both sides.
    pub fn sampling_mode(&mut self, _mode: SamplingMode) -> &mut Self {
        self
    }

    /// Benchmarks `f` as `GROUP/ID`.
    pub fn bench_function<ID: IntoBenchmarkId, F>(&mut self, id: ID, mut f: F) -> &mut Self
    where
        F: FnMut(&mut Bencher<'_, M>),
    {
        self.run(id.into_benchmark_id(), &(), |b, _| f(b));
        self
    }

    /// Benchmarks `f` on `input` as `GROUP/ID`.
    pub fn bench_with_input<ID: IntoBenchmarkId, F, I>(
        &mut self,
        id: ID,
        input: &I,
        f: F,
    ) -> &mut Self
    where
        F: FnMut(&mut Bencher<'_, M>, &I),
        I: ?Sized,
    {
        self.run(id.into_benchmark_id(), input, f);
        self
    }

    fn run<F, I>(&mut self, id: BenchmarkId, input: &I, f: F)
    where
        F: FnMut(&mut Bencher<'_, M>, &I),
        I: ?Sized,
    {
        let full = id.full(&self.group_name);
        assert!(
            !self.ids.contains(&full),
            "Benchmark IDs must be unique within a group. Encountered duplicated benchmark ID {full}"
        );
        self.ids.push(full.clone());
        let base = self.criterion.config;
        let config = Config {
            sample_size: self.sample_size.unwrap_or(base.sample_size),
            warm_up_time: self.warm_up_time.unwrap_or(base.warm_up_time),
            measurement_time: self.measurement_time.unwrap_or(base.measurement_time),
        };
        self.criterion.run(&full, config, input, f);
    }

    /// Ends the group.
    pub fn finish(self) {}
}

/// A benchmark's id inside its group: a function name, a parameter, or both.
#[derive(Clone, Debug, Eq, PartialEq, Hash)]
pub struct BenchmarkId {
    function_name: Option<String>,
    parameter: Option<String>,
}

impl BenchmarkId {
    /// `FUNCTION/PARAMETER`.
    pub fn new<S: Into<String>, P: std::fmt::Display>(
        function_name: S,
        parameter: P,
    ) -> BenchmarkId {
        BenchmarkId {
            function_name: Some(function_name.into()),
            parameter: Some(parameter.to_string()),
        }
    }

    /// `PARAMETER` alone.
    pub fn from_parameter<P: std::fmt::Display>(parameter: P) -> BenchmarkId {
        BenchmarkId {
            function_name: None,
            parameter: Some(parameter.to_string()),
        }
    }

    pub(crate) fn no_function() -> BenchmarkId {
        BenchmarkId {
            function_name: None,
            parameter: None,
        }
    }

    pub(crate) fn no_function_with_input<P: std::fmt::Display>(parameter: P) -> BenchmarkId {
        BenchmarkId::from_parameter(parameter)
    }

    /// For `Criterion::bench_with_input`: the function name becomes the group.
    pub(crate) fn into_group_and_parameter(self) -> (String, String) {
        let group = self.function_name.expect(
            "Cannot use BenchmarkId::from_parameter with Criterion::bench_with_input. \
             Consider using a BenchmarkGroup or BenchmarkId::new instead.",
        );
        (group, self.parameter.unwrap_or_default())
    }

    /// The whole id under `group`.
    fn full(&self, group: &str) -> String {
        match (&self.function_name, &self.parameter) {
            (Some(f), Some(p)) => format!("{group}/{f}/{p}"),
            (Some(f), None) => format!("{group}/{f}"),
            (None, Some(p)) => format!("{group}/{p}"),
            (None, None) => group.to_owned(),
        }
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::BenchmarkId {}
    impl<S: Into<String>> Sealed for S {}
}

/// What `bench_function` and `bench_with_input` take as an id: a `BenchmarkId` or a
/// string (the function name).
pub trait IntoBenchmarkId: private::Sealed {
    /// The id.
    fn into_benchmark_id(self) -> BenchmarkId;
}

impl IntoBenchmarkId for BenchmarkId {
    fn into_benchmark_id(self) -> BenchmarkId {
        self
    }
}

impl<S: Into<String>> IntoBenchmarkId for S {
    fn into_benchmark_id(self) -> BenchmarkId {
        let function_name = self.into();
        assert!(
            !function_name.is_empty(),
            "Function name must not be empty."
        );
        BenchmarkId {
            function_name: Some(function_name),
            parameter: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_made_as_criterion_makes_them() {
        assert_eq!(
            BenchmarkId::new("plan", 1000).full("graph"),
            "graph/plan/1000"
        );
        assert_eq!(BenchmarkId::from_parameter(4).full("noop"), "noop/4");
        assert_eq!("spin".into_benchmark_id().full("work"), "work/spin");
        assert_eq!(BenchmarkId::no_function().full("alone"), "alone");
    }
}
