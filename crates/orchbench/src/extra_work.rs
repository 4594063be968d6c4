//! Deliberate extra work on three hot paths, for measuring the gate's power on real
//! code: the planner's pass between ranking and levelling under `Plan::build`, the
//! token bucket's `try_acquire`, and the memory bus's publishing of each event. Present
//! only in builds with the test-only `extra-work-3` or `extra-work-10` feature, which add
//! about 3 % or 10 % to each path's instruction count, calibrated against the
//! `instructions` bench (callgrind, 2026-12-01): `plan/1000` +2.97 % / +10.04 %,
//! `token_bucket/try_acquire_x1000` +3.51 % / +10.52 %, `memory_bus/publish_batch_1024`
//! +3.79 % / +9.48 % (a unit is one instruction, so the shortest paths land on the
//! nearest whole instruction). Never enable either in a build you ship or measure for
//! real.

/// Extra units per planned node (`Plan::build`).
pub(crate) const PLAN_PER_NODE: u64 = if cfg!(feature = "extra-work-10") {
    UNITS_10[0]
} else {
    UNITS_3[0]
};

/// Extra units per `TokenBucket::try_acquire`.
pub(crate) const BUCKET_PER_CALL: u64 = if cfg!(feature = "extra-work-10") {
    UNITS_10[1]
} else {
    UNITS_3[1]
};

/// Extra units per event the memory bus publishes.
pub(crate) const PUBLISH_PER_EVENT: u64 = if cfg!(feature = "extra-work-10") {
    UNITS_10[2]
} else {
    UNITS_3[2]
};

/// Units (plan per node, bucket per call, publish per event) for about 3 % more
/// instructions.
const UNITS_3: [u64; 3] = [13, 2, 1];

/// Units for about 10 % more instructions.
const UNITS_10: [u64; 3] = [44, 6, 4];

/// `units` dependent one-instruction register additions that the optimizer can neither
/// remove nor merge (each is its own `asm!` block), one cycle each: work with an
/// ordinary instructions-per-cycle rate, rather than a memory round trip per unit
/// (`black_box`), which would cost several cycles per instruction. Plus the loop's own
/// instructions when `units` is not a small constant.
#[inline(always)]
pub(crate) fn spin(units: u64) {
    let mut x = 0u64;
    for _ in 0..units {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: adds 1 to a register the block owns; no memory, no stack, no other
        // register is touched.
        unsafe {
            std::arch::asm!("add {0}, 1", inout(reg) x, options(nomem, nostack));
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
    let _ = x;
}
