//! Few2Many stage 2: AdamW on the adapter only, gradient accumulation, a linear learning
//! rate decay, step-numbered checkpoints and an exact resume.

use std::path::Path;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::tensor::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use reclora_core::dropout::seed_host_dropout;
use reclora_core::llm::LlamaModel;
use reclora_core::plora::Plora;
use reclora_core::prompt::HistoryRetriever;
use reclora_core::tokenizer::TextTokenizer;

use super::config::FinetuneConfig;
use super::encode::PromptEncoder;
use super::error::FinetuneError;
use super::files::{RunFolder, TrainState, read_json, write_json};
use super::frozen_crm::FrozenCrm;
use super::plan::StepPlan;
use super::random::derive_seed;
use super::step::{RowSource, StepEncoding, step_gradients};
use super::warm_start::{load_static_lora, warm_started};
use crate::data::{PreparedDataset, Split};

/// Tag of the per-step gate-dropout seeds (plus the step).
const DROPOUT_TAG: u64 = 3 << 32;

/// What training reads; the LLM and the CRM stay frozen.
#[derive(Clone, Copy)]
pub struct TrainInputs<'a> {
    /// The prepared dataset.
    pub data: &'a PreparedDataset,
    /// The LLM on an autodiff device, frozen with `no_grad`.
    pub llm: &'a LlamaModel,
    /// Its tokenizer.
    pub tokenizer: &'a TextTokenizer,
    /// The frozen CRM (needed by `reclora`).
    pub crm: Option<&'a FrozenCrm>,
    /// The LSMR retriever (needed by the retrieved modes).
    pub retriever: Option<&'a dyn HistoryRetriever>,
}

impl std::fmt::Debug for TrainInputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainInputs")
            .field("crm", &self.crm.is_some())
            .field("retriever", &self.retriever.is_some())
            .finish_non_exhaustive()
    }
}

/// How a call runs, beyond the run's config.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunControl {
    /// Continue the run stored in the folder instead of refusing to overwrite it.
    pub resume: bool,
    /// Checkpoint and return after this many optimizer steps of the run (quick checks).
    pub stop_after_steps: Option<usize>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// Where a call to [`finetune`] left the run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// Optimizer steps done.
    pub steps_done: usize,
    /// Optimizer steps of the run.
    pub total_steps: usize,
    /// Whether training has finished (the final adapter is written).
    pub finished: bool,
    /// Prompts trained on per second in this call (0 when no step ran).
    pub samples_per_second: f64,
    /// Wall time of all training steps so far.
    pub train_seconds: f64,
    /// Mean cross-entropy (answer and end token) of every step so far.
    pub step_losses: Vec<f64>,
    /// Mean cross-entropy of the answer token alone, every step so far.
    pub answer_losses: Vec<f64>,
}

impl TrainSummary {
    fn from_state(state: &TrainState, samples_per_second: f64) -> Self {
        Self {
            steps_done: state.steps_done,
            total_steps: state.total_steps,
            finished: state.finished,
            samples_per_second,
            train_seconds: state.train_seconds,
            step_losses: state.step_losses.clone(),
            answer_losses: state.answer_losses.clone(),
        }
    }
}

/// Checks that the inputs fit the mode before any work.
fn check_inputs(config: &FinetuneConfig, inputs: &TrainInputs<'_>) -> Result<(), FinetuneError> {
    config.validate()?;
    let mode = config.mode;
    if mode.needs_crm() {
        let crm = inputs.crm.ok_or(FinetuneError::NeedsCrm { mode })?;
        let expected = config.plora.as_ref().map_or(0, |p| p.crm_dim);
        if crm.representation_dim() != expected {
            return Err(FinetuneError::CrmWidth {
                expected,
                found: crm.representation_dim(),
            });
        }
    }
    if mode.retrieves() && inputs.retriever.is_none() {
        return Err(FinetuneError::NeedsItems { mode });
    }
    Ok(())
}

/// Writes `config.json`, refusing to clobber another run unless resuming the same one.
fn claim_folder(
    folder: &RunFolder,
    config: &FinetuneConfig,
    resume: bool,
) -> Result<(), FinetuneError> {
    std::fs::create_dir_all(folder.dir()).map_err(|e| FinetuneError::io(folder.dir(), e))?;
    let existing = folder.config().is_file() || folder.state().is_file();
    if existing && !resume {
        return Err(FinetuneError::RunExists {
            path: folder.dir().to_path_buf(),
        });
    }
    if resume && folder.config().is_file() {
        let stored: FinetuneConfig = read_json(&folder.config())?;
        // Floats read back exactly (float_roundtrip), so the stored config equals this one.
        if stored != *config {
            return Err(FinetuneError::ConfigMismatch {
                path: folder.config(),
            });
        }
    }
    Ok(write_json(&folder.config(), config)?)
}

/// Trains the adapter of `config.mode` into `out` (for zero-shot: only writes the config)
/// and returns where the run stands.
pub fn finetune(
    inputs: TrainInputs<'_>,
    config: &FinetuneConfig,
    out: &Path,
    control: RunControl,
) -> Result<TrainSummary, FinetuneError> {
    check_inputs(config, &inputs)?;
    let folder = RunFolder::new(out);
    claim_folder(&folder, config, control.resume)?;
    let Some(adapter_config) = config.plora.as_ref().filter(|_| config.mode.trains()) else {
        let mut state = TrainState::new(0);
        state.finished = true;
        write_json(&folder.state(), &state)?;
        return Ok(TrainSummary::from_state(&state, 0.0));
    };

    let device = inputs.llm.device();
    let mut plan = StepPlan::new(config, inputs.data.split_len(Split::Train))?;
    // Drawn on the host: every mode and every resumed or repeated run starts from the same
    // weights, whatever else uses the backend's (process-global) RNG meanwhile.
    let mut plora = adapter_config.init_seeded(&inputs.llm.config, config.seed, &device)?;
    if let Some(warm) = &config.warm_start {
        // Before any checkpoint is loaded: a resumed run then overwrites it all.
        let source = load_static_lora(warm, &plora, &inputs.llm.config, &device)?;
        plora = warm_started(plora, &source, warm.noise, config.seed);
    }
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .with_epsilon(config.adam_epsilon)
        .init();
    let mut state = TrainState::new(plan.total_steps());
    if control.resume && folder.state().is_file() {
        state = read_json(&folder.state())?;
        if state.finished {
            return Ok(TrainSummary::from_state(&state, 0.0));
        }
        if let Some(names) = &state.checkpoint {
            let adapter_path = folder.file(&names.adapter);
            plora = plora
                .try_load_file(&adapter_path)
                .map_err(FinetuneError::checkpoint(&adapter_path))?;
            // burn puts the loaded moments on `Device::default()` and moves them to each
            // parameter's device at the next step (bit-exact, see the resume test).
            let optimizer_path = folder.file(&names.optimizer);
            optimizer = optimizer
                .load(&optimizer_path)
                .map_err(FinetuneError::checkpoint(&optimizer_path))?;
        }
        tracing::info!(steps_done = state.steps_done, "resumed");
    }
    let encoder = PromptEncoder::new(inputs.tokenizer, config.template)?.with_layout(config.layout);
    let source = RowSource {
        data: inputs.data,
        encoder: &encoder,
        selection: config.history_selection(),
        retriever: inputs.retriever,
        crm: inputs.crm.filter(|_| adapter_config.is_gated()),
        crm_logits: config.mode.fuses_crm_logit(),
        gate_mode: config.gate_mode,
    };
    let encoding = StepEncoding {
        loss: config.loss,
        answers: encoder.answers(),
        pad_id: encoder.pad_id(),
    };
    let reseed_dropout = adapter_config.is_gated() && adapter_config.gate_dropout > 0.0;
    let stop_at = control
        .stop_after_steps
        .map_or(state.total_steps, |s| s.min(state.total_steps));
    let progress = progress_bar(control.progress, plan.total_samples(), state.samples_seen);
    let started = Instant::now();
    let samples_before = state.samples_seen;
    while state.steps_done < stop_at {
        let step = state.steps_done;
        let step_started = Instant::now();
        if reseed_dropout {
            // Host masks on CPU devices (this thread's stream), burn's kernel on GPUs.
            let seed = derive_seed(config.seed, DROPOUT_TAG + step as u64);
            seed_host_dropout(seed);
            device.seed(seed);
        }
        let rows = plan.rows(step);
        let micro_batches = source.micro_batches(&rows, config.micro_batch, &device)?;
        let step_result = step_gradients(inputs.llm, &plora, &micro_batches, encoding)?;
        let (loss, answer_loss, grads) =
            (step_result.loss, step_result.answer_loss, step_result.grads);
        let rate = config
            .schedule
            .rate(config.learning_rate, step, state.total_steps);
        let rates = step_rates(config, &plora, step, state.total_steps);
        plora = optimizer.step(rates, plora, grads);

        state.steps_done += 1;
        state.samples_seen += rows.len();
        state.step_losses.push(loss);
        state.answer_losses.push(answer_loss);
        state.train_seconds += step_started.elapsed().as_secs_f64();
        progress.set_position(state.samples_seen as u64);
        progress.set_message(format!(
            "loss {loss:.4} answer {answer_loss:.4} lr {rate:.2e}"
        ));
        let due = state.steps_done.is_multiple_of(config.checkpoint_every);
        if due || state.steps_done == stop_at {
            save_checkpoint(&folder, &plora, &optimizer, &mut state)?;
        }
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let samples = state.samples_seen - samples_before;
    if state.steps_done == state.total_steps {
        plora
            .clone()
            .save_file(folder.adapter())
            .map_err(FinetuneError::checkpoint(folder.adapter()))?;
        state.finished = true;
        write_json(&folder.state(), &state)?;
    }
    let per_second = if samples > 0 {
        samples as f64 / elapsed
    } else {
        0.0
    };
    Ok(TrainSummary::from_state(&state, per_second))
}

/// Step `step`'s learning rates: `learning_rate` on the schedule for every parameter, and
/// with `--gate-lr` the gate rate on the same schedule for the gates' parameters.
pub fn step_rates(
    config: &FinetuneConfig,
    plora: &Plora,
    step: usize,
    total_steps: usize,
) -> ModuleLearningRate {
    let rate = config
        .schedule
        .rate(config.learning_rate, step, total_steps);
    match config.gate_learning_rate {
        None => rate.into(),
        Some(gate_rate) => {
            let gate_rate = config.schedule.rate(gate_rate, step, total_steps);
            ModuleLrScheduler::new(rate)
                .with_group(ParamGroup::from_ids(gate_param_ids(plora)), gate_rate)
                .step()
        }
    }
}

/// The ids of every gate parameter (per-projection gates and the shared one).
pub fn gate_param_ids(plora: &Plora) -> Vec<ParamId> {
    struct Ids(Vec<ParamId>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id);
        }
    }
    let mut ids = Ids(Vec::new());
    let per_projection = plora
        .layers
        .iter()
        .flat_map(|layer| &layer.projections)
        .filter_map(|projection| projection.gate.as_ref());
    for gate in per_projection.chain(plora.shared_gate.as_ref()) {
        gate.visit(&mut ids);
    }
    ids.0
}

/// Writes the step-named adapter and optimizer files, then publishes them in the state,
/// then removes the previous pair.
fn save_checkpoint(
    folder: &RunFolder,
    plora: &Plora,
    optimizer: &ModuleOptimizer,
    state: &mut TrainState,
) -> Result<(), FinetuneError> {
    let names = RunFolder::checkpoint_names(state.steps_done);
    let adapter = folder.file(&names.adapter);
    plora
        .clone()
        .save_file(&adapter)
        .map_err(FinetuneError::checkpoint(&adapter))?;
    let optimizer_path = folder.file(&names.optimizer);
    optimizer
        .save(&optimizer_path)
        .map_err(FinetuneError::checkpoint(&optimizer_path))?;
    let previous = state.checkpoint.replace(names.clone());
    write_json(&folder.state(), state)?;
    if let Some(old) = previous.filter(|old| *old != names) {
        for name in [old.adapter, old.optimizer] {
            // A leftover file only wastes space; the state already points elsewhere.
            let _ = std::fs::remove_file(folder.file(&name));
        }
    }
    Ok(())
}

fn progress_bar(show: bool, total: usize, done: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = crate::progress::shown(
        ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template(
                "finetune {bar:30} {pos}/{len} prompts {per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
    );
    bar.set_position(done as u64);
    bar.reset_eta();
    bar
}
