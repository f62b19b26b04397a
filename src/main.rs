//! The `consent-enricher` binary: parses the command line and hands over to `cli`. It
//! owns the choice of allocator and nothing else.

mod cli;
mod demo;

/// The worker allocates a few short-lived buffers per record (output documents, owned
/// strings where the input had escapes) across threads; with glibc's allocator malloc and
/// free were about 13% of the consumer thread (perf), and mimalloc raised at-least-once
/// throughput from ≈ 40k to ≈ 52k events/s in `scripts/bench-e2e` (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
