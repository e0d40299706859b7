//! `reclora-train finetune` and `reclora-train eval`: options, loading, and the calls into
//! [`super::finetune`] and [`super::evaluate`].

use std::path::PathBuf;

use burn::module::Module;
use reclora_core::plora::{MixtureForm, ProjectionKind};
use reclora_core::prompt::PromptLayout;
use reclora_core::tokenizer::PromptTemplate;
use reclora_core::{BackendKind, LanguageModel};

use super::config::{FinetuneConfig, FinetuneMode, GateMode, PloraOptions, TrainLoss, WarmStart};
use super::error::FinetuneError;
use super::eval::{EvalInputs, EvalOptions, EvalRows, RowSelection, evaluate};
use super::files::{RunFolder, TrainState, read_json};
use super::frozen_crm::FrozenCrm;
use super::retriever::{check_item_table, open_retriever};
use super::train::{RunControl, TrainInputs, finetune};
use crate::cli::DEFAULT_MODEL;
use crate::data::{PreparedDataset, Split};
use crate::error::CliError;
use crate::schedule::LrSchedule;

/// Options of `finetune`.
#[derive(Debug, clap::Args)]
pub struct FinetuneArgs {
    /// The frozen LLM: a `.gguf` file or a Hugging Face folder.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// A folder made by `prepare`.
    #[arg(long)]
    pub data: PathBuf,
    /// The CRM run folder (model-best.bpk, config.json); needed by `reclora`.
    #[arg(long)]
    pub crm: Option<PathBuf>,
    /// The LSMR item table folder (from `embed-items`); needed by the retrieved modes.
    #[arg(long)]
    pub items: Option<PathBuf>,
    /// Which setting to train.
    #[arg(long, value_enum)]
    pub mode: FinetuneMode,
    /// Run folder: config.json, checkpoints, train-state.json, adapter.bpk.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in `--out` from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Compute backend.
    #[arg(long, default_value = "cpu", value_parser = parse_backend)]
    pub backend: BackendKind,
    /// Prompt template (chatml or plain).
    #[arg(long, default_value = "chatml", value_parser = parse_template)]
    pub template: PromptTemplate,
    /// Where the prompt names the candidate: rella (ReLLa's order) or candidate-last
    /// (the title on the last line, so a slate shares everything before it).
    #[arg(long, default_value = "rella")]
    pub layout: PromptLayout,
    /// K: earlier interactions shown in each prompt.
    #[arg(long, default_value_t = 10)]
    pub history_k: usize,
    /// What the gates read (reclora): per-sample (the paper's R_c of each candidate) or
    /// per-user (one target-free user representation and the last K interactions, as the
    /// on-device per-user mode scores).
    #[arg(long, value_enum, default_value = "per-sample")]
    pub gate_mode: GateMode,
    /// N_m meta-LoRAs per projection (reclora).
    #[arg(long, default_value_t = 16)]
    pub num_meta: usize,
    /// LoRA rank.
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    /// LoRA scaling numerator (deltas × alpha / rank).
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f64,
    /// Gate softmax temperature t_p (reclora).
    #[arg(long, default_value_t = 5.0)]
    pub temperature: f64,
    /// Adapted projections, comma-separated: q,k,v,o,gate,up,down.
    #[arg(long, value_delimiter = ',', default_value = "q,v", value_parser = parse_projection)]
    pub targets: Vec<ProjectionKind>,
    /// How meta-LoRAs are mixed: sum-of-products (paper) or product-of-sums (official code).
    #[arg(long, default_value = "sum-of-products", value_parser = parse_mixture)]
    pub mixture: MixtureForm,
    /// One gate shared by every layer and projection (reclora).
    #[arg(long)]
    pub shared_gate: bool,
    /// Dropout inside the gates while training (reclora).
    #[arg(long, default_value_t = 0.1)]
    pub gate_dropout: f64,
    /// Adapt only the top N decoder blocks, so the backward stops there (default: all).
    #[arg(long)]
    pub adapt_layers: Option<usize>,
    /// Passes over the few-shot subset.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Peak AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Peak learning rate of the gates only, on the same schedule (default: --lr).
    #[arg(long)]
    pub gate_lr: Option<f64>,
    /// AdamW's epsilon (burn's default 1e-5; PyTorch's and the official code's 1e-8).
    #[arg(long, default_value_t = 1e-5)]
    pub adam_eps: f32,
    /// The loss: lm (causal-LM cross-entropy on the answer and end tokens) or yes-no
    /// (two-way cross-entropy at the answer position, what eval scores).
    #[arg(long, value_enum, default_value = "lm")]
    pub loss: TrainLoss,
    /// Start every meta-LoRA from this finished static-LoRA run (lora-last or
    /// lora-retrieved, same rank, alpha and targets) plus noise.
    #[arg(long)]
    pub warm_start: Option<PathBuf>,
    /// Std of the warm start's noise, relative to the RMS of each copied matrix.
    #[arg(long, default_value_t = 0.01, requires = "warm_start")]
    pub warm_start_noise: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Learning-rate schedule over the run's optimizer steps.
    #[arg(long, value_enum, default_value = "linear")]
    pub schedule: LrSchedule,
    /// Prompts per forward/backward pass.
    #[arg(long, default_value_t = 4)]
    pub micro_batch: usize,
    /// Micro-batches per optimizer step.
    #[arg(long, default_value_t = 4)]
    pub grad_accum: usize,
    /// Few-shot subset size, sampled from the train split with `--seed`.
    #[arg(long, default_value_t = 1024)]
    pub train_size: usize,
    /// Seed of the subset, epoch orders, adapter init and gate dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Checkpoint every this many optimizer steps (and at the end).
    #[arg(long, default_value_t = 8)]
    pub checkpoint_every: usize,
    /// Checkpoint and stop after this many optimizer steps of the run (resume later).
    #[arg(long)]
    pub stop_after_steps: Option<usize>,
}

/// Options of `eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A run folder made by `finetune`.
    #[arg(long)]
    pub run: PathBuf,
    /// Score the first N rows of the test split.
    #[arg(long, default_value_t = 1000)]
    pub test_rows: usize,
    /// Score N rows drawn across the whole test split with --seed, instead of the first.
    #[arg(long, conflicts_with_all = ["test_rows", "valid_sample"])]
    pub test_sample: Option<usize>,
    /// Score N rows drawn across the valid split with --seed (model selection; writes
    /// scores-valid.csv and metrics-valid.json).
    #[arg(long, conflicts_with = "test_rows")]
    pub valid_sample: Option<usize>,
    /// Seed of --test-sample and --valid-sample.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Prompts per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Compute backend.
    #[arg(long, default_value = "cpu", value_parser = parse_backend)]
    pub backend: BackendKind,
    /// Stop after scoring about this many rows (rerun to continue).
    #[arg(long)]
    pub stop_after_rows: Option<usize>,
}

impl EvalArgs {
    /// The rows asked for: a seeded valid or test sample, or the first test rows.
    pub fn rows(&self) -> EvalRows {
        let sample = |split, rows| EvalRows {
            split,
            selection: RowSelection::Sample {
                rows,
                seed: self.seed,
            },
        };
        match (self.valid_sample, self.test_sample) {
            (Some(rows), _) => sample(Split::Valid, rows),
            (None, Some(rows)) => sample(Split::Test, rows),
            (None, None) => EvalRows::first_test(self.test_rows),
        }
    }
}

fn parse_backend(text: &str) -> Result<BackendKind, String> {
    text.parse::<BackendKind>().map_err(|e| e.to_string())
}

fn parse_template(text: &str) -> Result<PromptTemplate, String> {
    text.parse::<PromptTemplate>().map_err(|e| e.to_string())
}

fn parse_projection(text: &str) -> Result<ProjectionKind, String> {
    ProjectionKind::ALL
        .into_iter()
        .find(|kind| kind.name() == text.trim())
        .ok_or_else(|| {
            format!("unknown projection `{text}`: expected q, k, v, o, gate, up or down")
        })
}

fn parse_mixture(text: &str) -> Result<MixtureForm, String> {
    match text {
        "sum-of-products" => Ok(MixtureForm::SumOfProducts),
        "product-of-sums" => Ok(MixtureForm::ProductOfSums),
        _ => Err(format!(
            "unknown mixture `{text}`: expected sum-of-products or product-of-sums"
        )),
    }
}

impl FinetuneArgs {
    /// The run's config; `crm_dim` is the CRM's R_c width (ignored by static adapters).
    pub fn config(&self, crm_dim: usize) -> FinetuneConfig {
        let options = PloraOptions {
            num_meta: self.num_meta,
            rank: self.rank,
            alpha: self.alpha,
            temperature: self.temperature,
            targets: self.targets.clone(),
            mixture: self.mixture,
            shared_gate: self.shared_gate,
            gate_dropout: self.gate_dropout,
            adapt_layers: self.adapt_layers,
        };
        FinetuneConfig {
            crm: self.crm.clone(),
            items: self.items.clone(),
            template: self.template,
            layout: self.layout,
            history_k: self.history_k,
            gate_mode: self.gate_mode,
            // The adapter records the gate mode it is trained for, as the run does.
            plora: options.adapter_for(self.mode, crm_dim).map(|plora| {
                reclora_core::plora::PloraConfig {
                    gate_mode: self.gate_mode.runtime(),
                    ..plora
                }
            }),
            epochs: self.epochs,
            learning_rate: self.lr,
            gate_learning_rate: self.gate_lr,
            adam_epsilon: self.adam_eps,
            loss: self.loss,
            warm_start: self.warm_start.clone().map(|run| WarmStart {
                run,
                noise: self.warm_start_noise,
            }),
            weight_decay: self.weight_decay,
            schedule: self.schedule,
            micro_batch: self.micro_batch,
            grad_accum: self.grad_accum,
            train_size: self.train_size,
            seed: self.seed,
            checkpoint_every: self.checkpoint_every,
            ..FinetuneConfig::new(self.mode, self.model.clone(), self.data.clone())
        }
    }
}

/// `reclora-train finetune`.
pub fn run_finetune(args: FinetuneArgs) -> Result<(), CliError> {
    let default_dim = reclora_core::PloraConfig::default().crm_dim;
    args.config(default_dim).validate()?;
    let device = args.backend.open()?;
    let crm = match (&args.crm, args.mode.needs_crm()) {
        (Some(dir), true) => Some(FrozenCrm::load(dir, &device)?),
        _ => None,
    };
    let config = args.config(
        crm.as_ref()
            .map_or(default_dim, FrozenCrm::representation_dim),
    );
    if let (Some(dir), true) = (&config.items, config.mode.retrieves()) {
        check_item_table(dir)?;
    }
    let data = PreparedDataset::open(&config.data)?;
    let retriever = match (&config.items, config.mode.retrieves()) {
        (Some(dir), true) => Some(open_retriever(dir, data.dataset())?),
        _ => None,
    };
    let train_device = device.autodiff();
    let (llm, tokenizer) = LanguageModel::load(&config.model, &train_device)?.into_parts();
    let llm = llm.no_grad();
    let inputs = TrainInputs {
        data: &data,
        llm: &llm,
        tokenizer: &tokenizer,
        crm: crm.as_ref(),
        retriever: retriever.as_deref(),
    };
    let control = RunControl {
        resume: args.resume,
        stop_after_steps: args.stop_after_steps,
        progress: true,
    };
    let summary = finetune(inputs, &config, &args.out, control)?;
    println!(
        "{}",
        serde_json::json!({
            "mode": config.mode,
            "steps_done": summary.steps_done,
            "total_steps": summary.total_steps,
            "finished": summary.finished,
            "samples_per_second": summary.samples_per_second,
            "train_seconds": summary.train_seconds,
            "last_loss": summary.step_losses.last(),
            "last_answer_loss": summary.answer_losses.last(),
        })
    );
    Ok(())
}

/// `reclora-train eval`.
pub fn run_eval(args: EvalArgs) -> Result<(), CliError> {
    let options = EvalOptions {
        rows: args.rows(),
        batch: args.batch,
        stop_after_rows: args.stop_after_rows,
        progress: true,
    };
    options.validate()?;
    let folder = RunFolder::new(&args.run);
    let config = folder.read_config()?;
    if config.mode.trains() {
        let state: Option<TrainState> = if folder.state().is_file() {
            Some(read_json(&folder.state())?)
        } else {
            None
        };
        if !state.as_ref().is_some_and(|s| s.finished) {
            return Err(FinetuneError::TrainingIncomplete {
                steps_done: state.as_ref().map_or(0, |s| s.steps_done),
                total_steps: state.as_ref().map_or(0, |s| s.total_steps),
            }
            .into());
        }
    }
    if let (Some(dir), true) = (&config.items, config.mode.retrieves()) {
        check_item_table(dir)?;
    }
    let device = args.backend.open()?;
    let gated = config.plora.as_ref().is_some_and(|p| p.is_gated());
    let crm = match (&config.crm, gated) {
        (Some(dir), true) => Some(FrozenCrm::load(dir, &device)?),
        _ => None,
    };
    let data = PreparedDataset::open(&config.data)?;
    let retriever = match (&config.items, config.mode.retrieves()) {
        (Some(dir), true) => Some(open_retriever(dir, data.dataset())?),
        _ => None,
    };
    let (llm, tokenizer) = LanguageModel::load(&config.model, &device)?.into_parts();
    let adapter = match &config.plora {
        Some(plora) if config.mode.trains() => Some(
            plora
                .load(&llm.config, &folder.adapter(), &device)
                .map_err(FinetuneError::from)?,
        ),
        _ => None,
    };
    let inputs = EvalInputs {
        data: &data,
        llm: &llm,
        tokenizer: &tokenizer,
        adapter: adapter.as_ref(),
        crm: crm.as_ref(),
        retriever: retriever.as_deref(),
    };
    let summary = evaluate(inputs, &config, &args.run, options)?;
    println!(
        "{}",
        serde_json::json!({
            "mode": config.mode,
            "scored_now": summary.scored_now,
            "scored_total": summary.scored_total,
            "rows_per_second": summary.rows_per_second,
            "metrics": summary.metrics,
            "valid_metrics": summary.valid_metrics,
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::FinetuneArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: FinetuneArgs,
    }

    /// A per-user run's adapter config carries the run's gate mode, not a stale default.
    #[test]
    fn the_adapter_config_records_the_runs_gate_mode() {
        let config = |gate_mode: &str| {
            let cli = Cli::parse_from([
                "finetune",
                "--model",
                "m.gguf",
                "--data",
                "d",
                "--crm",
                "c",
                "--items",
                "i",
                "--out",
                "o",
                "--mode",
                "reclora",
                "--gate-mode",
                gate_mode,
            ]);
            cli.args.config(64)
        };
        for (name, want) in [
            ("per-user", reclora_core::plora::GateMode::PerUser),
            ("per-sample", reclora_core::plora::GateMode::PerSample),
        ] {
            let plora = config(name).plora.expect("reclora has an adapter");
            assert_eq!(plora.gate_mode, want, "{name}");
        }
    }
}
