//! The engine's integration-test binary: one binary with a module per area and shared
//! helpers in `util.rs` (ripgrep's layout), so the suite links once.

mod events;
mod events_redis;
mod planner;
mod ratelimit;
mod scheduler;
mod speculation;
mod util;
