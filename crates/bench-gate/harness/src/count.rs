//! Instruction counting under Callgrind: the routine's timed part alone is counted.
//!
//! `bench-gate ab` runs the process under `valgrind --tool=callgrind --instr-atstart=no
//! --collect-atstart=no`, so nothing is instrumented or counted until the driver's
//! `count` command. Then [`start`] turns instrumentation on (for the warm-up too, so the
//! cache simulation starts warm) and, while [`counting`] is set, the bencher switches
//! collection on exactly where it starts its measurement and off where it ends it:
//! a batch's setup and the outputs' drop stay out, as they stay out of the timing.
//! Collection is Callgrind's per-thread state, so only the benchmark's own thread is
//! counted: work it hands to other threads is not.
//!
//! The switches are Valgrind client requests: a marker instruction sequence that does
//! nothing on a real CPU and that Valgrind recognises (its `valgrind.h`, x86-64 only;
//! elsewhere they do nothing and the driver finds no counts).

use std::sync::atomic::{AtomicBool, Ordering};

/// Set while the counted iterations run.
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Callgrind's client requests (`callgrind.h`): the tool base `'C' 'T'` plus an index.
const TOGGLE_COLLECT: usize = 0x4354_0002;
const START_INSTRUMENTATION: usize = 0x4354_0004;

/// Sends one client request with no arguments; a no-op outside Valgrind.
#[cfg(target_arch = "x86_64")]
fn request(code: usize) {
    let args: [usize; 6] = [code, 0, 0, 0, 0, 0];
    // SAFETY: the four rotations of rdi add up to 128 bits (rdi is unchanged, and is
    // declared clobbered anyway); `xchg rbx, rbx` changes nothing. On a real CPU the
    // sequence leaves every register as it was; under Valgrind it reads `args` (six
    // valid words) and writes its answer into rdx, which is declared.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") 0usize => _,
            out("rdi") _,
            options(nostack),
        );
    }
}

/// Client requests are x86-64 only here: elsewhere nothing is counted.
#[cfg(not(target_arch = "x86_64"))]
fn request(_code: usize) {}

/// Turns Callgrind's instrumentation on before the warm-up of a counted run.
pub(crate) fn start() {
    request(START_INSTRUMENTATION);
}

/// Marks the iterations that follow as counted (`true`) or not.
pub(crate) fn counting(on: bool) {
    COUNTING.store(on, Ordering::SeqCst);
}

/// Where the bencher starts its measurement: collection on, when counting.
#[inline(always)]
pub(crate) fn begin() {
    if COUNTING.load(Ordering::Relaxed) {
        request(TOGGLE_COLLECT);
    }
}

/// Where the bencher ends its measurement: collection off, when counting.
#[inline(always)]
pub(crate) fn end() {
    if COUNTING.load(Ordering::Relaxed) {
        request(TOGGLE_COLLECT);
    }
}
