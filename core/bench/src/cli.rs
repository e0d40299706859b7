//! The command line: a run (the default), `--compare`, and the `prompts`, `zero-shot` and
//! `report` subcommands.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reclora_core::quant::QuantKernel;
use reclora_core::runtime::{Backend, GateMode};

use crate::error::BenchError;
use crate::prompts::{self, ZeroShotModel};
use crate::replay::Selection;
use crate::run::{self, RunPlan};
use crate::{compare, report, table};

/// reclora-bench: latency, memory and accuracy of an on-device bundle on replayed ML-1M
/// requests; peers' reports compared and merged.
#[derive(Debug, Parser)]
#[command(
    name = "reclora-bench",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    /// Print ratios between report files (the first is the baseline) instead of running.
    #[arg(long, num_args = 2.., value_name = "REPORT.json", conflicts_with_all = ["bundle", "replay"])]
    compare: Option<Vec<PathBuf>>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the token ids reclora runs for a run's requests (both gate modes), for peers.
    Prompts(PromptsArgs),
    /// Score a prompts file's prompts with no LoRA: the raw LLM, llama.cpp's reference.
    ZeroShot(ZeroShotArgs),
    /// Merge report files (several rounds each) into one table, into a markdown file.
    Report(ReportArgs),
}

/// Where a run runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// burn-flex on the CPU (`--threads`).
    Cpu,
    /// wgpu; falls back to the CPU, and says so, without an adapter.
    Wgpu,
}

/// `--gate-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GateModeArg {
    /// The paper's: gates and retrieved history per (user, candidate).
    PerSample,
    /// One gate per user; the shared prompt prefix runs once.
    PerUser,
}

impl From<GateModeArg> for GateMode {
    fn from(mode: GateModeArg) -> Self {
        match mode {
            GateModeArg::PerSample => Self::PerSample,
            GateModeArg::PerUser => Self::PerUser,
        }
    }
}

/// `--activations`: how q8 and q4 bundles' int8 GEMM quantizes its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActivationsArg {
    /// Q8 blocks and their residual's, two int8 products (about 15 bits; the default).
    Exact,
    /// Q8 blocks only, one int8 product: llama.cpp's 8-bit activations, about twice as fast.
    Q8,
}

impl From<ActivationsArg> for QuantKernel {
    fn from(activations: ActivationsArg) -> Self {
        match activations {
            ActivationsArg::Exact => Self::Dequant,
            ActivationsArg::Q8 => Self::Int8,
        }
    }
}

/// Which requests, and the bundle and replay they come from.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The bundle folder (`reclora-train export`).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// The replay file (`reclora-train replay`).
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// cpu or wgpu.
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: BackendArg,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Candidates per request (the first M of each slate; shorter slates are skipped).
    #[arg(long, default_value_t = 50)]
    pub candidates: usize,
    /// Keep only each user's last H interactions (default: all).
    #[arg(long)]
    pub history: Option<usize>,
    /// per-sample or per-user.
    #[arg(long, value_enum, default_value = "per-sample")]
    pub gate_mode: GateModeArg,
    /// Rank each slate: DIN orders it, the LLM re-scores DIN's best N (the report's scores
    /// become rank places, its variant gets `-rerankN`).
    #[arg(long, value_name = "N")]
    pub llm_rerank: Option<usize>,
    /// exact or q8 (packed q8/q4 bundles; the report's variant gets `-q8act`).
    #[arg(long, value_enum, default_value = "exact")]
    pub activations: ActivationsArg,
    /// Timed requests.
    #[arg(long, default_value_t = 10)]
    pub requests: usize,
    /// Untimed requests before them (the first gives the time to first score).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Request order (a seeded shuffle of the replay; 0 keeps the file's order).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Prompts per LLM forward.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens of the plain prefill measurement (0 skips it).
    #[arg(long, default_value_t = 256)]
    pub prefill_tokens: usize,
    /// Timed prefills (after one warm-up).
    #[arg(long, default_value_t = 3)]
    pub prefill_repeats: usize,
    /// Write the report as JSON (schema reclora-bench/1, docs/bench.md).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Keep every candidate's P(yes) in the JSON.
    #[arg(long)]
    pub scores: bool,
    /// The model's name in the report (default: from its shape).
    #[arg(long)]
    pub model_name: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Options of `prompts`.
#[derive(Debug, Clone, Args)]
pub struct PromptsArgs {
    #[command(flatten)]
    run: RunArgs,
    /// The prompts file to write.
    #[arg(long)]
    out: PathBuf,
}

/// Options of `zero-shot`.
#[derive(Debug, Clone, Args)]
pub struct ZeroShotArgs {
    /// A prompts file (`reclora-bench prompts`).
    #[arg(long)]
    prompts: PathBuf,
    /// A `.gguf` file (or Hugging Face folder), dequantized to f32.
    #[arg(long, conflicts_with = "bundle", required_unless_present = "bundle")]
    model: Option<PathBuf>,
    /// A bundle, its LLM in place and its LoRA unused.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Which prompts: per-sample ones, or per-user prefix + suffix.
    #[arg(long, value_enum, default_value = "per-sample")]
    mode: GateModeArg,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Prompts per forward.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// The report to write (with every P(yes)).
    #[arg(long)]
    json: PathBuf,
}

/// Options of `report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Report files of every engine and round.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The markdown file the table goes into, between its reclora-bench markers.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The command to name as the table's producer.
    #[arg(long, default_value = "scripts/bench/peers/run-all.sh")]
    command: String,
}

impl RunArgs {
    fn plan(&self) -> Result<RunPlan, BenchError> {
        let missing = |option| BenchError::BadArgument {
            option,
            reason: "is required (the bundle folder and the replay file)".to_owned(),
        };
        Ok(RunPlan {
            bundle: self.bundle.clone().ok_or_else(|| missing("bundle"))?,
            replay: self.replay.clone().ok_or_else(|| missing("replay"))?,
            backend: match self.backend {
                BackendArg::Cpu => Backend::Cpu {
                    threads: self.threads,
                },
                BackendArg::Wgpu => Backend::Wgpu,
            },
            gate_mode: self.gate_mode.into(),
            kernel: self.activations.into(),
            llm_rerank: self.llm_rerank,
            selection: Selection {
                candidates: self.candidates,
                history: self.history,
                requests: self.requests,
                warmup: self.warmup,
                seed: self.seed,
            },
            batch_size: self.batch,
            prefill_tokens: self.prefill_tokens,
            prefill_repeats: self.prefill_repeats,
            keep_scores: self.scores,
            model_name: self.model_name.clone(),
            progress: !self.quiet,
        })
    }
}

impl Cli {
    /// Runs the chosen command; what it prints goes to stdout.
    pub fn run(self) -> Result<(), BenchError> {
        self.run_to(&mut std::io::stdout().lock())
    }

    /// Runs the chosen command, printing its tables to `out` (a test keeps them off stdout).
    pub fn run_to(self, out: &mut dyn Write) -> Result<(), BenchError> {
        match self.command {
            Some(Command::Prompts(args)) => {
                let file = prompts::render(&args.run.plan()?)?;
                let text = serde_json::to_string(&file).map_err(|source| BenchError::Json {
                    path: args.out.clone(),
                    what: "prompts file",
                    source,
                })?;
                std::fs::write(&args.out, text).map_err(|e| BenchError::io(&args.out, e))?;
                let line = format!(
                    "{}: {} requests ({} warm-up) × {} candidates",
                    args.out.display(),
                    file.requests.len(),
                    file.warmup,
                    file.candidates
                );
                print_to(out, &line)
            }
            Some(Command::ZeroShot(args)) => {
                let model = match (&args.model, &args.bundle) {
                    (Some(path), _) => ZeroShotModel::File(path.clone()),
                    (None, Some(dir)) => ZeroShotModel::Bundle(dir.clone()),
                    (None, None) => {
                        return Err(BenchError::BadArgument {
                            option: "model",
                            reason: "or --bundle is required".to_owned(),
                        });
                    }
                };
                let report = prompts::zero_shot(
                    &args.prompts,
                    &model,
                    args.mode.into(),
                    args.threads,
                    args.batch,
                )?;
                report.write(&args.json)?;
                print_to(out, &table::summary(&report))
            }
            Some(Command::Report(args)) => {
                let reports = report::read_all(&args.files)?;
                let text = report::render(&reports, &args.command)?;
                if let Some(out) = &args.out {
                    report::write_into(out, &text)?;
                }
                print_to(out, text.trim_end_matches('\n'))
            }
            None => match &self.compare {
                Some(files) => {
                    let reports = report::read_all(files)?;
                    print_to(out, &compare::compare(&reports))
                }
                None => {
                    let plan = self.run.plan()?;
                    let report = run::run(&plan)?;
                    if let Some(path) = &self.run.json {
                        report.write(path)?;
                    }
                    print_to(out, &table::summary(&report))
                }
            },
        }
    }
}

/// Writes `text` and a newline to the command's output.
fn print_to(out: &mut dyn Write, text: &str) -> Result<(), BenchError> {
    writeln!(out, "{text}").map_err(|e| BenchError::io("<stdout>", e))
}
