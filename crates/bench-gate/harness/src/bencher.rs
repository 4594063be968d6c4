//! `Bencher` and `AsyncBencher`: what a benchmark's closure gets, and what it times.
//! One call of the closure is one sample of `iters` iterations; only the routine is
//! timed (a batch's setup and the outputs' drop never are), exactly as in Criterion.

use std::hint::black_box;
use std::time::{Duration, Instant};

#[cfg(feature = "async")]
use crate::async_executor::AsyncExecutor;
use crate::measurement::{Measurement, WallTime};
use crate::BatchSize;
#[cfg(feature = "async")]
use std::future::Future;

/// One sample's result: the measurement's value and the wall time the call took
/// (setup included), which is what the driver's barrier waits for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub(crate) value: f64,
    pub(crate) wall: Duration,
}

/// Times a benchmark's routine for the iteration count of the current sample.
pub struct Bencher<'a, M: Measurement = WallTime> {
    pub(crate) iterated: bool,
    pub(crate) iters: u64,
    pub(crate) value: M::Value,
    pub(crate) measurement: &'a M,
    pub(crate) elapsed_time: Duration,
}

impl<'a, M: Measurement> Bencher<'a, M> {
    pub(crate) fn new(measurement: &'a M) -> Self {
        Bencher {
            iterated: false,
            iters: 1,
            value: measurement.zero(),
            measurement,
            elapsed_time: Duration::ZERO,
        }
    }

    /// Times `routine` called `iters` times in a row.
    #[inline(never)]
    pub fn iter<O, R>(&mut self, mut routine: R)
    where
        R: FnMut() -> O,
    {
        self.iterated = true;
        let wall = Instant::now();
        let start = self.measurement.start();
        crate::count::begin();
        for _ in 0..self.iters {
            black_box(routine());
        }
        crate::count::end();
        self.value = self.measurement.end(start);
        self.elapsed_time = wall.elapsed();
    }

    /// Lets `routine` time `iters` iterations itself and return the total.
    #[inline(never)]
    pub fn iter_custom<R>(&mut self, mut routine: R)
    where
        R: FnMut(u64) -> M::Value,
    {
        self.iterated = true;
        let wall = Instant::now();
        crate::count::begin();
        self.value = routine(self.iters);
        crate::count::end();
        self.elapsed_time = wall.elapsed();
    }

    /// `iter_batched` with one input per iteration.
    #[doc(hidden)]
    pub fn iter_with_setup<I, O, S, R>(&mut self, setup: S, routine: R)
    where
        S: FnMut() -> I,
        R: FnMut(I) -> O,
    {
        self.iter_batched(setup, routine, BatchSize::PerIteration);
    }

    /// Times `routine` and leaves its outputs' drop out of the timing.
    pub fn iter_with_large_drop<O, R>(&mut self, mut routine: R)
    where
        R: FnMut() -> O,
    {
        self.iter_batched(|| (), |_| routine(), BatchSize::SmallInput);
    }

    /// `iter_batched` with one batch per sample.
    #[doc(hidden)]
    pub fn iter_with_large_setup<I, O, S, R>(&mut self, setup: S, routine: R)
    where
        S: FnMut() -> I,
        R: FnMut(I) -> O,
    {
        self.iter_batched(setup, routine, BatchSize::NumBatches(1));
    }

    /// Times `routine` on inputs made by `setup` in batches of `size`; the setup and
    /// the drop of the outputs are not timed.
    #[inline(never)]
    pub fn iter_batched<I, O, S, R>(&mut self, mut setup: S, mut routine: R, size: BatchSize)
    where
        S: FnMut() -> I,
        R: FnMut(I) -> O,
    {
        self.batched(&mut setup, size, |m, inputs| {
            let mut outputs = Vec::with_capacity(inputs.len());
            let start = m.start();
            crate::count::begin();
            outputs.extend(inputs.into_iter().map(&mut routine));
            crate::count::end();
            let value = m.end(start);
            black_box(outputs);
            value
        });
    }

    /// `iter_batched` with the routine taking its input by reference; the inputs are
    /// dropped outside the timing too.
    #[inline(never)]
    pub fn iter_batched_ref<I, O, S, R>(&mut self, mut setup: S, mut routine: R, size: BatchSize)
    where
        S: FnMut() -> I,
        R: FnMut(&mut I) -> O,
    {
        self.batched(&mut setup, size, |m, mut inputs| {
            let mut outputs = Vec::with_capacity(inputs.len());
            let start = m.start();
            crate::count::begin();
            outputs.extend(inputs.iter_mut().map(&mut routine));
            crate::count::end();
            let value = m.end(start);
            black_box(outputs);
            black_box(inputs);
            value
        });
    }

    /// The batching both `iter_batched` forms share: inputs built per batch outside
    /// the timing, `timed` measuring one batch.
    fn batched<I, S>(
        &mut self,
        setup: &mut S,
        size: BatchSize,
        mut timed: impl FnMut(&M, Vec<I>) -> M::Value,
    ) where
        S: FnMut() -> I,
    {
        self.iterated = true;
        let per_batch = size.iters_per_batch(self.iters);
        assert!(per_batch != 0, "Batch size must not be zero.");
        let wall = Instant::now();
        let mut total = self.measurement.zero();
        let mut done = 0;
        while done < self.iters {
            let n = per_batch.min(self.iters - done);
            let inputs = black_box((0..n).map(|_| setup()).collect::<Vec<_>>());
            let value = timed(self.measurement, inputs);
            total = self.measurement.add(&total, &value);
            done += n;
        }
        self.value = total;
        self.elapsed_time = wall.elapsed();
    }

    /// Panics, as Criterion does, when the closure called no `iter` method.
    pub(crate) fn assert_iterated(&mut self) {
        assert!(
            self.iterated,
            "Benchmark function must call Bencher::iter or related method."
        );
        self.iterated = false;
    }

    /// The async form of this bencher, on `runner`.
    #[cfg(feature = "async")]
    pub fn to_async<'b, A: AsyncExecutor>(&'b mut self, runner: A) -> AsyncBencher<'a, 'b, A, M> {
        AsyncBencher { b: self, runner }
    }
}

/// Times async routines: each sample is one `block_on` of the whole loop.
#[cfg(feature = "async")]
pub struct AsyncBencher<'a, 'b, A: AsyncExecutor, M: Measurement = WallTime> {
    b: &'b mut Bencher<'a, M>,
    runner: A,
}

#[cfg(feature = "async")]
impl<A: AsyncExecutor, M: Measurement> AsyncBencher<'_, '_, A, M> {
    /// Times `routine().await` `iters` times in a row.
    #[inline(never)]
    pub fn iter<O, R, F>(&mut self, mut routine: R)
    where
        R: FnMut() -> F,
        F: Future<Output = O>,
    {
        let AsyncBencher { b, runner } = self;
        runner.block_on(async {
            b.iterated = true;
            let wall = Instant::now();
            let start = b.measurement.start();
            crate::count::begin();
            for _ in 0..b.iters {
                black_box(routine().await);
            }
            crate::count::end();
            b.value = b.measurement.end(start);
            b.elapsed_time = wall.elapsed();
        });
    }

    /// Lets the routine time `iters` iterations itself.
    #[inline(never)]
    pub fn iter_custom<R, F>(&mut self, mut routine: R)
    where
        R: FnMut(u64) -> F,
        F: Future<Output = M::Value>,
    {
        let AsyncBencher { b, runner } = self;
        runner.block_on(async {
            b.iterated = true;
            let wall = Instant::now();
            crate::count::begin();
            b.value = routine(b.iters).await;
            crate::count::end();
            b.elapsed_time = wall.elapsed();
        });
    }

    /// `iter_batched` with one input per iteration.
    #[doc(hidden)]
    pub fn iter_with_setup<I, O, S, R, F>(&mut self, setup: S, routine: R)
    where
        S: FnMut() -> I,
        R: FnMut(I) -> F,
        F: Future<Output = O>,
    {
        self.iter_batched(setup, routine, BatchSize::PerIteration);
    }

    /// Times the routine and leaves its outputs' drop out of the timing.
    pub fn iter_with_large_drop<O, R, F>(&mut self, mut routine: R)
    where
        R: FnMut() -> F,
        F: Future<Output = O>,
    {
        self.iter_batched(|| (), |_| routine(), BatchSize::SmallInput);
    }

    /// `iter_batched` with one batch per sample.
    #[doc(hidden)]
    pub fn iter_with_large_setup<I, O, S, R, F>(&mut self, setup: S, routine: R)
    where
        S: FnMut() -> I,
        R: FnMut(I) -> F,
        F: Future<Output = O>,
    {
        self.iter_batched(setup, routine, BatchSize::NumBatches(1));
    }

    /// Times the routine on inputs made by `setup` in batches; setup and drops untimed.
    #[inline(never)]
    pub fn iter_batched<I, O, S, R, F>(&mut self, mut setup: S, mut routine: R, size: BatchSize)
    where
        S: FnMut() -> I,
        R: FnMut(I) -> F,
        F: Future<Output = O>,
    {
        let AsyncBencher { b, runner } = self;
        runner.block_on(async {
            b.iterated = true;
            let per_batch = size.iters_per_batch(b.iters);
            assert!(per_batch != 0, "Batch size must not be zero.");
            let wall = Instant::now();
            let mut total = b.measurement.zero();
            let mut done = 0;
            while done < b.iters {
                let n = per_batch.min(b.iters - done);
                let inputs = black_box((0..n).map(|_| setup()).collect::<Vec<_>>());
                let mut outputs = Vec::with_capacity(inputs.len());
                let start = b.measurement.start();
                crate::count::begin();
                for input in inputs {
                    outputs.push(routine(input).await);
                }
                crate::count::end();
                let value = b.measurement.end(start);
                black_box(outputs);
                total = b.measurement.add(&total, &value);
                done += n;
            }
            b.value = total;
            b.elapsed_time = wall.elapsed();
        });
    }

    /// `iter_batched` with the routine taking its input by reference.
    #[inline(never)]
    pub fn iter_batched_ref<I, O, S, R, F>(&mut self, mut setup: S, mut routine: R, size: BatchSize)
    where
        S: FnMut() -> I,
        R: FnMut(&mut I) -> F,
        F: Future<Output = O>,
    {
        let AsyncBencher { b, runner } = self;
        runner.block_on(async {
            b.iterated = true;
            let per_batch = size.iters_per_batch(b.iters);
            assert!(per_batch != 0, "Batch size must not be zero.");
            let wall = Instant::now();
            let mut total = b.measurement.zero();
            let mut done = 0;
            while done < b.iters {
                let n = per_batch.min(b.iters - done);
                let mut inputs = black_box((0..n).map(|_| setup()).collect::<Vec<_>>());
                let mut outputs = Vec::with_capacity(inputs.len());
                let start = b.measurement.start();
                crate::count::begin();
                for input in inputs.iter_mut() {
                    outputs.push(routine(input).await);
                }
                crate::count::end();
                let value = b.measurement.end(start);
                black_box(outputs);
                black_box(inputs);
                total = b.measurement.add(&total, &value);
                done += n;
            }
            b.value = total;
            b.elapsed_time = wall.elapsed();
        });
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::measurement::ValueFormatter;

    thread_local! {
        /// Ticks the code under test adds: a clock that only it moves.
        static TICKS: Cell<u64> = const { Cell::new(0) };
    }

    fn tick(n: u64) {
        TICKS.with(|t| t.set(t.get() + n));
    }

    /// A measurement that reads `TICKS`: what is timed is exactly what ran in between.
    struct Ticks;

    impl ValueFormatter for Ticks {
        fn scale_values(&self, _: f64, _: &mut [f64]) -> &'static str {
            "ticks"
        }
        fn scale_throughputs(&self, _: f64, _: &crate::Throughput, _: &mut [f64]) -> &'static str {
            "ticks"
        }
        fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
            "ticks"
        }
    }

    impl Measurement for Ticks {
        type Intermediate = u64;
        type Value = u64;
        fn start(&self) -> u64 {
            TICKS.with(Cell::get)
        }
        fn end(&self, i: u64) -> u64 {
            TICKS.with(Cell::get) - i
        }
        fn add(&self, a: &u64, b: &u64) -> u64 {
            a + b
        }
        fn zero(&self) -> u64 {
            0
        }
        fn to_f64(&self, v: &u64) -> f64 {
            *v as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            self
        }
    }

    /// Output that ticks when it is dropped.
    struct Heavy;

    impl Drop for Heavy {
        fn drop(&mut self) {
            tick(1_000_000);
        }
    }

    fn bencher(iters: u64) -> Bencher<'static, Ticks> {
        let mut b = Bencher::new(&Ticks);
        b.iters = iters;
        b
    }

    #[test]
    fn only_the_routine_is_timed_however_it_is_batched() {
        for size in [
            BatchSize::SmallInput,
            BatchSize::LargeInput,
            BatchSize::PerIteration,
            BatchSize::NumBatches(3),
            BatchSize::NumIterations(4),
        ] {
            let mut b = bencher(25);
            let mut setups = 0;
            b.iter_batched(
                || {
                    setups += 1;
                    tick(1000);
                },
                |()| tick(1),
                size,
            );
            assert_eq!((b.value, setups), (25, 25), "{size:?}");
            let mut b = bencher(25);
            b.iter_batched_ref(|| tick(1000), |()| tick(2), size);
            assert_eq!(b.value, 50, "{size:?}");
        }
    }

    #[test]
    fn iter_times_every_iteration_and_drops_and_custom_routines_say_their_own() {
        let mut b = bencher(7);
        b.iter(|| tick(3));
        assert_eq!(b.value, 21);
        // Dropping a large output is left out of the timing.
        let mut b = bencher(7);
        b.iter_with_large_drop(|| {
            tick(3);
            Heavy
        });
        assert_eq!(b.value, 21);
        let mut b = bencher(9);
        b.iter_custom(|iters| iters * 100);
        assert_eq!(b.value, 900);
        b.assert_iterated();
    }

    #[test]
    #[should_panic(expected = "must call Bencher::iter")]
    fn a_closure_that_never_iterates_is_a_panic_as_in_criterion() {
        bencher(1).assert_iterated();
    }
}
