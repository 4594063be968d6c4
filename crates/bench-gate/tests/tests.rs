//! bench-gate's integration-test binary: one binary with a module per area and shared
//! helpers in `util.rs` (ripgrep's layout), so the suite links once. Every test here
//! runs with nothing but this crate: no engine, no benches.

mod ab;
mod cli;
mod harness;
mod history;
mod util;
