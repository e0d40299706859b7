//! LLM evaluation: P(yes) of the first N test rows, or of a seeded sample across the test
//! (or valid) split, appended to `scores.csv` (`scores-valid.csv`) batch by batch (a
//! stopped evaluation skips the rows already there), then `metrics.json`
//! (`metrics-valid.json`) over exactly the requested rows.

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use reclora_core::YesNoScore;
use reclora_core::llm::{LlamaModel, ProjectionAdapter};
use reclora_core::llm::{fused_logit, sigmoid_probability};
use reclora_core::plora::Plora;
use reclora_core::prompt::HistoryRetriever;
use reclora_core::tokenizer::TextTokenizer;
use serde::{Deserialize, Serialize};

use super::config::{FinetuneConfig, FinetuneMode};
use super::encode::PromptEncoder;
use super::error::FinetuneError;
use super::files::{RunFolder, TrainState, read_json, write_json};
use super::frozen_crm::FrozenCrm;
use super::loss::batch_adapter;
use super::subset::eval_sample;
use crate::crm::SplitMetrics;
use crate::data::{PreparedDataset, Split};
use crate::metrics;
use crate::scores::{ScoreLog, ScoredRow};

/// Test rows of the LLM protocol's fixed prefix.
pub const FIRST_TEST_ROWS: usize = 30_000;

/// Prompts tokenized together and sorted by length before batching, so a batch pads little.
const BATCHES_PER_WINDOW: usize = 8;

/// What evaluation reads; everything stays frozen.
#[derive(Clone, Copy)]
pub struct EvalInputs<'a> {
    /// The prepared dataset.
    pub data: &'a PreparedDataset,
    /// The LLM on a plain (non-autodiff) device.
    pub llm: &'a LlamaModel,
    /// Its tokenizer.
    pub tokenizer: &'a TextTokenizer,
    /// The trained adapter on the LLM's device; `None` for zero-shot.
    pub adapter: Option<&'a Plora>,
    /// The frozen CRM (needed by a gated adapter).
    pub crm: Option<&'a FrozenCrm>,
    /// The LSMR retriever (needed by the retrieved modes).
    pub retriever: Option<&'a dyn HistoryRetriever>,
}

impl std::fmt::Debug for EvalInputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalInputs")
            .field("adapter", &self.adapter.is_some())
            .field("crm", &self.crm.is_some())
            .field("retriever", &self.retriever.is_some())
            .finish_non_exhaustive()
    }
}

/// Which rows of which split an evaluation scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalRows {
    /// Valid (model selection) or test.
    pub split: Split,
    /// The rows.
    pub selection: RowSelection,
}

/// The rows of a split an evaluation scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RowSelection {
    /// The first `rows` rows (the earliest in time).
    First {
        /// How many.
        rows: usize,
    },
    /// `rows` rows drawn uniformly across the whole split with `seed`
    /// ([`super::subset::eval_sample`]).
    Sample {
        /// How many.
        rows: usize,
        /// The sample's seed.
        seed: u64,
    },
}

impl EvalRows {
    /// The first `rows` test rows (the protocol before seeded samples).
    pub fn first_test(rows: usize) -> Self {
        Self {
            split: Split::Test,
            selection: RowSelection::First { rows },
        }
    }

    /// The command-line flag that chose these rows, for errors that name it.
    pub fn flag(&self) -> &'static str {
        match (self.split, self.selection) {
            (Split::Valid, _) => "--valid-sample",
            (_, RowSelection::Sample { .. }) => "--test-sample",
            (_, RowSelection::First { .. }) => "--test-rows",
        }
    }

    /// How many rows were asked for.
    pub fn requested(&self) -> usize {
        match self.selection {
            RowSelection::First { rows } | RowSelection::Sample { rows, .. } => rows,
        }
    }

    /// The row indices, sorted, for a split of `split_len` rows.
    pub fn indices(&self, split_len: usize) -> Vec<usize> {
        match self.selection {
            RowSelection::First { rows } => (0..rows.min(split_len)).collect(),
            RowSelection::Sample { rows, seed } => eval_sample(split_len, rows, seed),
        }
    }
}

/// Options of one evaluation call.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    /// The rows to score.
    pub rows: EvalRows,
    /// Prompts per forward pass.
    pub batch: usize,
    /// Return after scoring at least this many rows in this call (quick checks, tests).
    pub stop_after_rows: Option<usize>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl EvalOptions {
    /// Rejects zero counts and the train split.
    pub fn validate(&self) -> Result<(), FinetuneError> {
        if self.rows.requested() == 0 {
            return Err(FinetuneError::ZeroOption {
                option: self.rows.flag(),
            });
        }
        if self.rows.split == Split::Train {
            return Err(FinetuneError::EvalOnTrain);
        }
        if self.batch == 0 {
            return Err(FinetuneError::ZeroOption { option: "--batch" });
        }
        Ok(())
    }
}

/// `metrics.json` of an LLM run; field names follow the CRM's `CrmMetrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LlmMetrics {
    /// The setting.
    pub mode: FinetuneMode,
    /// The scored test rows.
    pub test: SplitMetrics,
    /// Not evaluated for LLM runs.
    pub valid: Option<SplitMetrics>,
    /// The first 30,000 test rows, when that many were scored.
    pub test_first_30000: Option<SplitMetrics>,
    /// Wall time of the training steps (0 for zero-shot).
    pub train_seconds: f64,
    /// Passes over the few-shot subset (0 for zero-shot).
    pub epochs: usize,
    /// Prompts in the few-shot subset (0 for zero-shot).
    pub train_size: usize,
    /// K, earlier interactions per prompt.
    pub history_k: usize,
    /// The scored rows (runs from before seeded samples scored the first N).
    #[serde(default)]
    pub rows: Option<EvalRows>,
    /// RecLoRA-fused's learned weight on the CRM logit.
    #[serde(default)]
    pub crm_logit_weight: Option<f32>,
}

/// `metrics-valid.json`: a run on its valid rows, for model selection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidMetrics {
    /// The setting.
    pub mode: FinetuneMode,
    /// The scored valid rows.
    pub valid: SplitMetrics,
    /// Which rows.
    pub rows: EvalRows,
    /// RecLoRA-fused's learned weight on the CRM logit.
    pub crm_logit_weight: Option<f32>,
}

/// Where a call to [`evaluate`] left the scores.
#[derive(Debug, Clone)]
pub struct EvalSummary {
    /// Rows scored by this call.
    pub scored_now: usize,
    /// Requested rows now in the score file.
    pub scored_total: usize,
    /// Prompts scored per second in this call.
    pub rows_per_second: f64,
    /// The test metrics, once every requested test row is scored.
    pub metrics: Option<LlmMetrics>,
    /// The valid metrics, once every requested valid row is scored.
    pub valid_metrics: Option<ValidMetrics>,
}

/// Scores the requested rows (`options.rows`) of the run in `run_dir` and, once all are
/// in the split's score file, writes its metrics over exactly those rows.
pub fn evaluate(
    inputs: EvalInputs<'_>,
    config: &FinetuneConfig,
    run_dir: &Path,
    options: EvalOptions,
) -> Result<EvalSummary, FinetuneError> {
    options.validate()?;
    let mode = config.mode;
    let gated = inputs.adapter.is_some_and(|a| a.config.is_gated());
    if gated && inputs.crm.is_none() {
        return Err(FinetuneError::NeedsCrm { mode });
    }
    if mode.retrieves() && inputs.retriever.is_none() {
        return Err(FinetuneError::NeedsItems { mode });
    }
    let fused = inputs.adapter.and_then(Plora::crm_logit_weight_value);
    if mode.fuses_crm_logit() && (fused.is_none() || inputs.crm.is_none()) {
        return Err(FinetuneError::NotFused);
    }
    let data = inputs.data;
    let split = options.rows.split;
    let requested = options.rows.indices(data.split_len(split));
    if requested.is_empty() {
        return Err(FinetuneError::EmptySplit {
            split: split.as_str(),
        });
    }
    let folder = RunFolder::new(run_dir);
    let scores_path = folder.scores_of(split);
    let mut log = ScoreLog::open(&scores_path)?;
    for &row in &requested {
        if let Some(scored) = log.done().get(&row) {
            let expected = data.sample(split, row)?.label;
            if scored.label != expected {
                return Err(FinetuneError::ScoreLabel {
                    path: scores_path,
                    row,
                    found: scored.label,
                    expected,
                });
            }
        }
    }
    let pending: Vec<usize> = requested
        .iter()
        .copied()
        .filter(|r| !log.done().contains_key(r))
        .collect();

    let encoder = PromptEncoder::new(inputs.tokenizer, config.template)?.with_layout(config.layout);
    let answers = encoder.answers();
    let selection = config.history_selection();
    let device = inputs.llm.device();
    let count = requested.len();
    let progress = progress_bar(options.progress, count, count - pending.len());
    let started = Instant::now();
    let mut scored_now = 0;
    for window in pending.chunks(options.batch * BATCHES_PER_WINDOW) {
        if options
            .stop_after_rows
            .is_some_and(|stop| scored_now >= stop)
        {
            break;
        }
        let prompts = encoder.prompts(data, split, window, selection, inputs.retriever)?;
        let mut by_length: Vec<(usize, Vec<u32>)> = window.iter().copied().zip(prompts).collect();
        by_length.sort_by_key(|(row, ids)| (ids.len(), *row));
        for batch in by_length.chunks(options.batch) {
            if options
                .stop_after_rows
                .is_some_and(|stop| scored_now >= stop)
            {
                break;
            }
            let rows: Vec<usize> = batch.iter().map(|(row, _)| *row).collect();
            let ids: Vec<Vec<u32>> = batch.iter().map(|(_, ids)| ids.clone()).collect();
            let (r_c, crm_logits) = match inputs.crm.filter(|_| gated) {
                Some(crm) => {
                    let (r_c, logits) = crm.gate_inputs(
                        data,
                        split,
                        &rows,
                        config.gate_mode,
                        fused.is_some(),
                        &device,
                    )?;
                    (Some(r_c), logits.map(host_values).transpose()?)
                }
                None => (None, None),
            };
            let context = inputs
                .adapter
                .map(|plora| batch_adapter(plora, r_c.as_ref(), rows.len(), &device))
                .transpose()?;
            let adapter = context.as_ref().map(|c| c as &dyn ProjectionAdapter);
            let logits = inputs.llm.last_position_logits_adapted(
                &ids,
                &[answers.yes, answers.no],
                encoder.pad_id(),
                adapter,
            )?;
            let mut scored = Vec::with_capacity(rows.len());
            for (i, ((&row, ids), logits)) in rows.iter().zip(&ids).zip(logits).enumerate() {
                let p_yes = match (fused, &crm_logits) {
                    (Some(weight), Some(crm)) => {
                        sigmoid_probability(fused_logit(logits[0], logits[1], weight, crm[i]))
                    }
                    _ => YesNoScore::from_logits(logits[0], logits[1], ids.len()).p_yes,
                };
                scored.push(ScoredRow {
                    row,
                    label: data.sample(split, row)?.label,
                    p_yes,
                });
            }
            log.append(&scored)?;
            scored_now += scored.len();
            progress.inc(scored.len() as u64);
        }
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let scored_total = requested
        .iter()
        .filter(|r| log.done().contains_key(r))
        .count();
    let complete = scored_total == count;
    let (mut metrics, mut valid_metrics) = (None, None);
    if complete && split == Split::Test {
        let train_len = data.split_len(Split::Train);
        let test = run_metrics(
            &log,
            &requested,
            options.rows,
            fused,
            config,
            train_len,
            &folder,
        )?;
        write_json(&folder.metrics_of(split), &test)?;
        metrics = Some(test);
    } else if complete {
        let valid = ValidMetrics {
            mode,
            valid: split_metrics(&log, &requested)?,
            rows: options.rows,
            crm_logit_weight: fused,
        };
        write_json(&folder.metrics_of(split), &valid)?;
        valid_metrics = Some(valid);
    }
    Ok(EvalSummary {
        scored_now,
        scored_total,
        rows_per_second: if scored_now > 0 {
            scored_now as f64 / elapsed
        } else {
            0.0
        },
        metrics,
        valid_metrics,
    })
}

/// A `[n]` tensor's values on the host.
fn host_values(tensor: burn::tensor::Tensor<1>) -> Result<Vec<f32>, FinetuneError> {
    tensor
        .try_into_data()
        .ok()
        .and_then(|data| data.try_into_vec::<f32>().ok())
        .ok_or(FinetuneError::Readback)
}

/// AUC and LogLoss of the logged `rows`.
fn split_metrics(log: &ScoreLog, rows: &[usize]) -> Result<SplitMetrics, FinetuneError> {
    let scored: Vec<&ScoredRow> = rows.iter().filter_map(|r| log.done().get(r)).collect();
    let labels: Vec<bool> = scored.iter().map(|s| s.label).collect();
    let probs: Vec<f32> = scored.iter().map(|s| s.p_yes).collect();
    Ok(SplitMetrics {
        auc: metrics::auc(&labels, &probs)?,
        logloss: metrics::logloss(&labels, &probs)?,
        n: labels.len(),
    })
}

fn run_metrics(
    log: &ScoreLog,
    requested: &[usize],
    rows: EvalRows,
    crm_logit_weight: Option<f32>,
    config: &FinetuneConfig,
    train_len: usize,
    folder: &RunFolder,
) -> Result<LlmMetrics, FinetuneError> {
    let state: Option<TrainState> = if folder.state().is_file() {
        Some(read_json(&folder.state())?)
    } else {
        None
    };
    let trained = config.mode.trains();
    let train_size = if trained {
        config.train_size.min(train_len)
    } else {
        0
    };
    let first_rows = matches!(rows.selection, RowSelection::First { .. });
    Ok(LlmMetrics {
        mode: config.mode,
        test: split_metrics(log, requested)?,
        valid: None,
        test_first_30000: if first_rows && requested.len() >= FIRST_TEST_ROWS {
            Some(split_metrics(log, &requested[..FIRST_TEST_ROWS])?)
        } else {
            None
        },
        train_seconds: state.as_ref().map_or(0.0, |s| s.train_seconds),
        epochs: if trained { config.epochs } else { 0 },
        train_size,
        history_k: config.history_k,
        rows: Some(rows),
        crm_logit_weight,
    })
}

fn progress_bar(show: bool, total: usize, done: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = crate::progress::shown(
        ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template("eval {bar:30} {pos}/{len} rows {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
    );
    bar.set_position(done as u64);
    bar.reset_eta();
    bar
}
