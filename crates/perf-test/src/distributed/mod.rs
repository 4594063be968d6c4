//! `perf-test`'s distributed mode: the task queue lives in a Redis stream and worker
//! processes on any machine (`perf-test worker --broker redis://…`) execute the tasks.
//!
//! Both sides use the event bus's Redis Streams backend ([`orchbench::events`]), so the
//! queue has its delivery guarantees: consumer groups, acknowledgement after the
//! work, and reclaiming (`XAUTOCLAIM`) of what a dead consumer took.
//!
//! - **Coordinator** ([`run`]). It plans the workflows as the local load test does and
//!   publishes each ready task to the task stream (default `orchbench:perf:tasks`,
//!   group `perf-workers`). It reads the results from a stream of its own run
//!   (`orchbench:perf:results:<run id>`). A task's latency runs from its publication
//!   to the coordinator's receipt of its result, on the coordinator's clock, so no
//!   clocks need to agree across machines. A task reported twice (a reclaimed task
//!   runs again: at least once, not exactly once) is counted once, and the duplicate
//!   is reported.
//! - **Worker** ([`serve`]). A reader task reads tasks as one consumer whenever there
//!   is room: `slots` running on the local pool plus up to `batch` read ahead, so a
//!   slot that frees is refilled without waiting for a round trip. Each task's result
//!   is published as it ends (those that end together in one pipeline), and a read's
//!   entries are acknowledged once all its results are out (read with held
//!   acknowledgement, acknowledged with a later read). A worker killed mid-run
//!   therefore leaves its tasks pending, and a live worker reclaims them once they have
//!   been idle for `reclaim_after`.
//!
//! - **Broker death.** Both sides retry a broker lost mid-run every 0.2 s for
//!   `--broker-timeout`. A worker holds its tasks' results until they are out; the
//!   coordinator holds newly ready tasks and, when the broker answers with a new
//!   `run_id` (a restart), publishes again every unfinished task the task stream no
//!   longer holds. A broker that stays away ends the run with its report and the
//!   unfinished tasks listed (exit 4).
//!
//! Tasks carry their run's deadline. A worker drops tasks of a run that is already

mod coordinator;
mod wire;
mod worker;

pub use coordinator::run;
pub use wire::{DEFAULT_TASK_STREAM, WORKER_GROUP, broker_config};
pub use worker::{WorkerConfig, WorkerOptions, WorkerReport, run_worker, serve};
