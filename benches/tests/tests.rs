//! The suite's integration-test binary: what only the whole workspace can check (the
//! shipped policy file, `cargo bench`'s own flags across every bench target, the gate's
//! regression demonstration under callgrind).

mod cargo_bench;
mod regression_demo;
mod suite;

/// Held by every test that runs `cargo bench`: two at once would rebuild the shared
/// `target/release/instructions` binary under each other (the regression demonstration
/// builds it with a feature, the others without).
pub static CARGO_BENCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`CARGO_BENCH`], even after another test panicked holding it.
pub fn cargo_bench_lock() -> std::sync::MutexGuard<'static, ()> {
    CARGO_BENCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
