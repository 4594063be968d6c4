//! The integration-test binary: one binary with a module per area and shared helpers in
//! `util.rs` (ripgrep's layout), so the suite links once.

mod distributed;
mod events;
mod events_redis;
mod gate;
mod instructions;
mod perf_test_cli;
mod planner;
mod ratelimit;
mod scheduler;
mod util;
