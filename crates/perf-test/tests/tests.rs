//! perf-test's integration-test binary: one binary with a module per area and shared
//! helpers in `util.rs` (ripgrep's layout), so the suite links once.

mod cli;
mod distributed;
mod scenarios;
mod util;
