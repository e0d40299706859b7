//! reclora-bench: the on-device benchmark tool. It opens a bundle, replays real ML-1M
//! requests (profile, history, a candidate slate) through the on-device
//! [`reclora_core::runtime::Recommender`], and reports open time (cold and warm), time to
//! first score, per-request latency, throughput, a plain prefill, memory and AUC, as a
//! table and as JSON (`reclora-bench/1`, docs/bench.md). Peers (llama.cpp, PyTorch + PEFT,
//! the machine's peaks; scripts/bench/peers/) write the same JSON, and `report` merges
//! them into one table.
//!
//! - [`replay`]: the replay set and the requests a run draws from it;
//! - [`run`]: one measured run;
//! - [`prompts`]: the token ids peers score, and reclora's zero-shot scores of them;
//! - [`schema`]: the JSON report;
//! - [`stats`]: quantiles, medians, AUC;
//! - [`machine`], [`memory`], [`page_cache`]: CPU and adapter, /proc figures, cold opens;
//! - [`table`], [`compare`], [`report`]: human tables, ratios, the merged table;
//! - [`cli`]: the command line.

pub mod cli;
pub mod compare;
pub mod error;
pub mod machine;
pub mod memory;
pub mod page_cache;
pub mod prompts;
pub mod replay;
pub mod report;
pub mod run;
pub mod schema;
pub mod stats;
pub mod table;

pub use error::BenchError;

/// Parses `args` (program name first) and runs the tool, as `main` does.
pub fn run_cli<I, T>(args: I) -> Result<(), BenchError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run_cli_to(args, &mut std::io::stdout().lock())
}

/// [`run_cli`], with the printed tables written to `out` instead of stdout.
pub fn run_cli_to<I, T>(args: I, out: &mut dyn std::io::Write) -> Result<(), BenchError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli.run_to(out),
        Err(error) => Err(BenchError::Usage(error)),
    }
}
