//! Deliberate extra work on three hot paths, for measuring the gate's power on real
//! code: the planner's pass between ranking and levelling under `Plan::build`, the
//! token bucket's `try_acquire`, and the memory bus's publishing of each event. Present
//! only in builds with a test-only feature: `extra-work-3` or `extra-work-10` add about
//! 3 % or 10 % to each path's instruction count, calibrated against the `instructions`
//! bench (callgrind, 2026-12-01): `plan/1000` +2.97 % / +10.04 %,
//! `token_bucket/try_acquire_x1000` +3.51 % / +10.52 %, `memory_bus/publish_batch_1024`
//! +3.79 % / +9.48 % (a unit is one instruction, so the shortest paths land on the
//! nearest whole instruction); `extra-work-1` about 1 % to the planner's pass alone;
//! `stall` a `pause` per planned node, one instruction that takes tens of cycles (a
//! spin-wait's back-off): the same work, slower. Each path has one hook, and the
//! engine's modules call it only under the umbrella feature `extra-work`. Never enable
//! any of them in a build you ship or measure for real.

/// Extra units (plan per node, bucket per call, publish per event) of this build.
const UNITS: [u64; 3] = if cfg!(feature = "extra-work-10") {
    [44, 6, 4]
} else if cfg!(feature = "extra-work-3") {
    [13, 2, 1]
} else if cfg!(feature = "extra-work-1") {
    // The planner's pass alone: one unit is about 0.23 % of `plan/1000`.
    [4, 0, 0]
} else {
    [0, 0, 0]
};

/// The hook in `Plan::build`, between ranking and levelling: the extra units for
/// `nodes` nodes, and with `stall` a spin-wait hint (`pause`) per node.
#[inline(always)]
pub(crate) fn plan(nodes: usize) {
    spin(UNITS[0] * nodes as u64);
    if cfg!(feature = "stall") {
        for _ in 0..nodes {
            std::hint::spin_loop();
        }
    }
}

/// The hook in `TokenBucket::try_acquire`.
#[inline(always)]
pub(crate) fn bucket() {
    spin(UNITS[1]);
}

/// The hook in the memory bus, per event published.
#[inline(always)]
pub(crate) fn publish() {
    spin(UNITS[2]);
}

/// `units` dependent one-instruction register additions that the optimizer can neither
/// remove nor merge (each is its own `asm!` block), one cycle each: work with an
/// ordinary instructions-per-cycle rate, rather than a memory round trip per unit
/// (`black_box`), which would cost several cycles per instruction. Plus the loop's own
/// instructions when `units` is not a small constant.
#[inline(always)]
fn spin(units: u64) {
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
