//! Shared helpers for perf-test's integration tests.

pub use orchbench_test_support::assert_none_with;

/// A fresh `redis-server` on a free loopback port for `test`; the test fails, naming
/// what to install, when none can start: it never passes by skipping.
pub fn redis_server(test: &str) -> orchbench::events::RedisServer {
    orchbench::events::RedisServer::start()
        .unwrap_or_else(|e| panic!("{test}: a real redis-server is required: {e}"))
}
