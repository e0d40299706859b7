//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use reclora_core::BackendKind;

use crate::crm::{CrmTrainConfig, LrSchedule, train_crm};
use crate::data::{DatasetName, PreparedDataset, prepare};
use crate::error::CliError;
use crate::finetune::{EvalArgs, FinetuneArgs, PromptsArgs, run_eval, run_finetune, run_prompts};
use crate::llm_cmd;
use crate::lsmr::{
    EmbedItemsConfig, ItemEmbeddings, embed_items, nearest_by_title, semantic_retriever,
};

/// RecLoRA server jobs: data, CRM pretraining, PLoRA fine-tuning, evaluation, export.
#[derive(Debug, Parser)]
#[command(name = "reclora-train", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Frozen-LLM utilities: tokenize, score, generate, nll, bench-prefill.
    Llm(LlmArgs),
    /// Parse a raw dataset into samples, features and the 8:1:1 split (ReLLa protocol).
    Prepare(PrepareArgs),
    /// Train the conventional recommender (Few2Many stage 1) on the full train split.
    Crm(CrmArgs),
    /// Compare finished runs: a markdown table (AUC, bootstrap CI, LogLoss, Rel.Impr) and a
    /// PNG bar chart, on the test rows every run scored.
    Report(ReportArgs),
    /// Few2Many stage 2: train an adapter (or none, zero-shot) through the frozen LLM.
    Finetune(FinetuneArgs),
    /// Score the test split with a fine-tuned run's adapter; resumable.
    Eval(EvalArgs),
    /// Write the token ids a fine-tuning run trains on and scores (JSON), for outside
    /// baselines such as `scripts/bench/peft-throughput.sh`.
    Prompts(PromptsArgs),
    /// Package a finished reclora run as an on-device bundle (quantized LLM, DIN, PLoRA,
    /// tokenizer, items, features; manifest with sha256 of every file).
    Export(crate::export::ExportArgs),
    /// Score test rows through the on-device runtime from a bundle and compare them with
    /// the run's server scores (max |Δ|, AUC difference, time to first score).
    Parity(crate::parity::ParityArgs),
    /// Time one test user's slate through a bundle, per-sample against per-user gates.
    ScoreLatency(crate::parity::LatencyArgs),
    /// Write the replay set of `reclora-bench`: test users with their real profiles,
    /// histories and candidate slates (JSON).
    Replay(crate::replay::ReplayArgs),
    /// LSMR: encode every item with the LLM (mean-pooled last hidden state, PCA) into an
    /// item-embedding table.
    EmbedItems(EmbedItemsArgs),
    /// Print the nearest items (cosine) of items found by title, from an embedding table.
    NearestItems(NearestItemsArgs),
    /// Raw data to a ranked slate on the device in one command: every stage from a TOML
    /// recipe (recipes/), skipping those already up to date, resuming an interrupted one.
    Pipeline(crate::pipeline::PipelineArgs),
    /// Rank a test user's slate through the on-device runtime from a bundle, with the
    /// user's history and profile rebuilt as the phone would hold them.
    Rank(crate::rank::RankArgs),
    /// Zero-shot P(yes) of built-in ReLLa-style MovieLens prompts with the real SmolLM2
    /// weights (the frozen LLM alone; no CRM, gates or bundle).
    Demo(DemoArgs),
}

/// Options of `prepare`.
#[derive(Debug, clap::Args)]
pub struct PrepareArgs {
    /// ml-1m, ml-100k, ml-25m or goodreads.
    #[arg(long)]
    pub dataset: String,
    /// Folder with the raw files.
    #[arg(long)]
    pub raw: PathBuf,
    /// Output folder; written only if the whole run succeeds.
    #[arg(long)]
    pub out: PathBuf,
}

/// Options of `report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Run folders (`runs/*`); folders without metrics.json and scores.csv are skipped.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where report.md and report.png go.
    #[arg(long, default_value = "runs/report")]
    pub out: PathBuf,
    /// Bootstrap resamples for the AUC intervals.
    #[arg(long, default_value_t = crate::report::DEFAULT_RESAMPLES)]
    pub resamples: usize,
}

/// Options of `crm`.
#[derive(Debug, clap::Args)]
pub struct CrmArgs {
    /// A folder made by `prepare`.
    #[arg(long)]
    pub data: PathBuf,
    /// The CRM architecture.
    #[arg(long, default_value = "din")]
    pub model: String,
    /// Run folder: checkpoints, config.json, metrics.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Compute backend.
    #[arg(long, default_value = "cpu", value_parser = parse_backend)]
    pub backend: BackendKind,
    /// Passes over the train split.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Learning-rate schedule over all `--epochs`.
    #[arg(long, value_enum, default_value_t = LrSchedule::Linear)]
    pub lr_schedule: LrSchedule,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Std of the normal init of DIN's embedding table (burn's default N(0, 1) learns far
    /// slower: 0.746 vs 0.771 test AUC after 200k samples, docs/results.md).
    #[arg(long, default_value_t = 0.01)]
    pub embed_init_std: f64,
    /// Train on the first N train samples only (quick runs).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Evaluate on the first N valid/test samples only.
    #[arg(long)]
    pub eval_limit: Option<usize>,
    /// Shuffling seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Options of `embed-items`.
#[derive(Debug, clap::Args)]
pub struct EmbedItemsArgs {
    /// A `.gguf` file or a Hugging Face folder.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// A folder made by `prepare`.
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder (items.safetensors, items.json); written only if the whole run succeeds.
    #[arg(long)]
    pub out: PathBuf,
    /// PCA components to keep (clamped to min(items, hidden size)).
    #[arg(long, default_value_t = 256)]
    pub dim: usize,
    /// Items per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Compute backend.
    #[arg(long, default_value = "cpu", value_parser = parse_backend)]
    pub backend: BackendKind,
}

/// Options of `nearest-items`.
#[derive(Debug, clap::Args)]
pub struct NearestItemsArgs {
    /// A folder made by `embed-items`.
    #[arg(long)]
    pub items: PathBuf,
    /// The prepared dataset the table was made from (for titles).
    #[arg(long)]
    pub data: PathBuf,
    /// Title, or part of one (ASCII case ignored); repeatable.
    #[arg(long, required = true)]
    pub title: Vec<String>,
    /// Neighbours per title.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// A `.gguf` file or a Hugging Face folder.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Compute backend.
    #[arg(long, default_value = "cpu", value_parser = parse_backend)]
    pub backend: BackendKind,
}

/// Where scripts/fetch-assets.sh puts the SmolLM2 GGUF.
pub const DEFAULT_MODEL: &str = "assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Options shared by every `llm` subcommand.
#[derive(Debug, clap::Args)]
pub struct LlmArgs {
    /// A `.gguf` file, a Hugging Face folder (config.json, model.safetensors,
    /// tokenizer.json), or an exported bundle folder (manifest.json: its LLM as the runtime
    /// builds it, in place from the map on the CPU).
    #[arg(
        long,
        global = true,
        default_value = "assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    pub model: PathBuf,
    /// Compute backend.
    #[arg(long, global = true, default_value = "cpu", value_parser = parse_backend)]
    pub backend: BackendKind,
    #[command(subcommand)]
    pub command: LlmCommand,
}

fn parse_backend(text: &str) -> Result<BackendKind, String> {
    text.parse::<BackendKind>().map_err(|e| e.to_string())
}

/// `reclora-train llm …` subcommands.
#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// Print the token ids of a text as a JSON array.
    Tokenize {
        /// The text (special tokens such as <|im_start|> are recognized).
        #[arg(long)]
        text: String,
    },
    /// Score yes/no prompts from a JSONL file: {"prompt": "...", "chat": true|false}.
    Score {
        /// Input JSONL.
        #[arg(long)]
        input: PathBuf,
        /// Output JSONL: {"p_yes", "logit_yes", "logit_no", "tokens"} per input line.
        #[arg(long)]
        output: PathBuf,
        /// Prompts per forward pass.
        #[arg(long, default_value_t = 4)]
        batch_size: usize,
    },
    /// Greedy generation.
    Generate {
        /// Raw prompt text (no template is applied).
        #[arg(long)]
        prompt: String,
        /// Maximum number of new tokens.
        #[arg(long, default_value_t = 16)]
        max_tokens: usize,
    },
    /// Mean next-token negative log-likelihood of a text file, in nats.
    Nll {
        /// UTF-8 text file.
        #[arg(long)]
        text_file: PathBuf,
    },
    /// Prefill throughput: one forward over a prompt of exactly `--tokens` ids, timed.
    BenchPrefill {
        /// A JSON array of token ids (from `llm tokenize`), truncated to `--tokens`.
        #[arg(long)]
        ids_file: PathBuf,
        /// Prompt length.
        #[arg(long, default_value_t = 256)]
        tokens: usize,
        /// Timed repetitions after one warm-up; the median is reported.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Rows per forward: row r is the ids from offset 31·r (different windows of the
        /// same text, all `--tokens` long).
        #[arg(long, default_value_t = 1)]
        batch: usize,
    },
}

impl Cli {
    /// Runs the chosen command.
    pub fn run(self) -> Result<(), CliError> {
        match self.command {
            Command::Llm(args) => llm_cmd::run(args),
            Command::Demo(args) => llm_cmd::demo(&args.model, args.backend),
            Command::Prepare(args) => {
                let dataset = args.dataset.parse::<DatasetName>()?;
                let summary = prepare(dataset, &args.raw, &args.out)?;
                println!("{summary}");
                Ok(())
            }
            Command::Crm(args) => run_crm(args),
            Command::Report(args) => run_report(args),
            Command::Finetune(args) => run_finetune(args),
            Command::Eval(args) => run_eval(args),
            Command::Prompts(args) => run_prompts(args),
            Command::Export(args) => crate::export::run_export(args),
            Command::Parity(args) => crate::parity::run_parity(args),
            Command::ScoreLatency(args) => crate::parity::run_latency(args),
            Command::Replay(args) => crate::replay::run_replay(args),
            Command::EmbedItems(args) => run_embed_items(args),
            Command::NearestItems(args) => run_nearest_items(args),
            Command::Pipeline(args) => crate::pipeline::run_pipeline_command(args),
            Command::Rank(args) => crate::rank::run_rank(args),
        }
    }
}

/// Parses and runs one command line (without the program name), as `pipeline` runs its
/// stages.
pub(crate) fn run_args(argv: &[String]) -> Result<(), CliError> {
    let full = std::iter::once("reclora-train").chain(argv.iter().map(String::as_str));
    Cli::try_parse_from(full)
        .map_err(|e| CliError::Arguments(Box::new(e)))?
        .run()
}

fn run_report(args: ReportArgs) -> Result<(), CliError> {
    let runs: Vec<PathBuf> = args
        .runs
        .into_iter()
        .filter(|dir| {
            let complete = dir.join("metrics.json").is_file() && dir.join("scores.csv").is_file();
            if !complete {
                tracing::warn!(dir = %dir.display(), "skipped: no metrics.json + scores.csv");
            }
            complete
        })
        .collect();
    let report = crate::report::write_report(&runs, &args.out, args.resamples)?;
    print!("{}", crate::report::markdown(&report));
    Ok(())
}

fn run_embed_items(args: EmbedItemsArgs) -> Result<(), CliError> {
    let device = args.backend.open()?;
    let data = PreparedDataset::open(&args.data)?;
    let model = reclora_core::LanguageModel::load(&args.model, &device)?;
    let config = EmbedItemsConfig {
        dim: args.dim.max(1),
        batch_size: args.batch.max(1),
    };
    let model_name = args.model.display().to_string();
    let summary = embed_items(&model, &model_name, &data, &config, &args.out)?;
    println!("{}", serde_json::to_string(&summary).unwrap_or_default());
    Ok(())
}

fn run_nearest_items(args: NearestItemsArgs) -> Result<(), CliError> {
    let data = PreparedDataset::open(&args.data)?;
    let (table, _) = ItemEmbeddings::load(&args.items)?;
    let retriever = semantic_retriever(&table)?;
    for title in &args.title {
        let neighbours = nearest_by_title(&data, &retriever, title, args.top)?;
        println!("{}", serde_json::to_string(&neighbours).unwrap_or_default());
    }
    Ok(())
}

fn run_crm(args: CrmArgs) -> Result<(), CliError> {
    if args.model != "din" {
        return Err(CliError::UnknownModel(args.model));
    }
    let device = args.backend.open()?;
    let data = PreparedDataset::open(&args.data)?;
    let config = CrmTrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size.max(1),
        learning_rate: args.lr,
        lr_schedule: args.lr_schedule,
        weight_decay: args.weight_decay,
        embed_init_std: args.embed_init_std,
        train_limit: args.train_limit,
        eval_limit: args.eval_limit,
        seed: args.seed,
        ..CrmTrainConfig::default()
    };
    let metrics = train_crm(&data, &config, &args.out, args.resume, &device)?;
    println!("{}", serde_json::to_string(&metrics).unwrap_or_default());
    Ok(())
}
