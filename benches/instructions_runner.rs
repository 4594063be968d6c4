//! `cargo bench --bench instructions`: runs the instruction-count benches (the gungraun
//! harness, `instructions.rs`, built as the `instructions` binary of this package) with
//! the arguments `cargo bench` gave, translated from Criterion's command line
//! (`orchbench_benches::gungraun_args`). `cargo bench` hands every bench binary the
//! same arguments, and gungraun reads `--save-baseline NAME` as a baseline called
//! `default` plus a filter `NAME` (so it measured nothing) and rejects Criterion's
//! `--warm-up-time`; with this entry, `cargo bench -- --save-baseline NAME` saves the
//! instruction counts under `NAME` too. The exit code is the harness's.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args = orchbench_benches::gungraun_args(std::env::args().skip(1));
    match Command::new(env!("CARGO_BIN_EXE_instructions"))
        .args(&args)
        .status()
    {
        Ok(status) => match status.code() {
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            // Killed by a signal: a failure, never a pass.
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!(
                "instructions: cannot run the gungraun harness {}: {e}",
                env!("CARGO_BIN_EXE_instructions")
            );
            ExitCode::FAILURE
        }
    }
}
