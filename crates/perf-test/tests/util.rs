//! Shared helpers for perf-test's integration tests.

pub use orchbench_test_support::assert_none_with;
