//! `reclora-train`: server-side RecLoRA jobs (LLM utilities for now).

use std::process::ExitCode;

use clap::Parser;
use reclora_train::cli;

// burn-flex allocates fresh multi-megabyte buffers for every op; glibc returns them to the
// kernel each time, which made DIN training spend a third of its time in page faults.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v2's option enum (the -sys crate names no constant).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Keep freed pages instead of returning them to the kernel after 10 ms: training
    // reallocates the same large activations every step (1.43x on a DIN epoch, docs/perf.md).
    // SAFETY: plain option setter, no pointers; called before any worker thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = cli::Cli::parse();
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
