//! LLM evaluation: P(yes) of the first N test rows, appended to `scores.csv` batch by
//! batch (a stopped evaluation skips the rows already there), then `metrics.json`.

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use reclora_core::YesNoScore;
use reclora_core::llm::{LlamaModel, ProjectionAdapter};
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

/// Options of one evaluation call.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    /// Score the first this many test rows.
    pub test_rows: usize,
    /// Prompts per forward pass.
    pub batch: usize,
    /// Return after scoring at least this many rows in this call (quick checks, tests).
    pub stop_after_rows: Option<usize>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl EvalOptions {
    /// Rejects zero counts.
    pub fn validate(&self) -> Result<(), FinetuneError> {
        if self.test_rows == 0 {
            return Err(FinetuneError::ZeroOption {
                option: "--test-rows",
            });
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
}

/// Where a call to [`evaluate`] left the scores.
#[derive(Debug, Clone)]
pub struct EvalSummary {
    /// Rows scored by this call.
    pub scored_now: usize,
    /// Rows of the requested prefix now in `scores.csv`.
    pub scored_total: usize,
    /// Prompts scored per second in this call.
    pub rows_per_second: f64,
    /// The metrics, once every requested row is scored.
    pub metrics: Option<LlmMetrics>,
}

/// Scores the first `options.test_rows` test rows of the run in `run_dir` and, once all
/// are in `scores.csv`, writes `metrics.json`.
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
    let data = inputs.data;
    let count = options.test_rows.min(data.split_len(Split::Test));
    if count == 0 {
        return Err(FinetuneError::EmptySplit { split: "test" });
    }
    let folder = RunFolder::new(run_dir);
    let mut log = ScoreLog::open(&folder.scores())?;
    for (&row, scored) in log.done().range(..count) {
        let expected = data.sample(Split::Test, row)?.label;
        if scored.label != expected {
            return Err(FinetuneError::ScoreLabel {
                path: folder.scores(),
                row,
                found: scored.label,
                expected,
            });
        }
    }
    let pending: Vec<usize> = (0..count).filter(|r| !log.done().contains_key(r)).collect();

    let encoder = PromptEncoder::new(inputs.tokenizer, config.template)?;
    let answers = encoder.answers();
    let selection = mode.history(config.history_k);
    let device = inputs.llm.device();
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
        let prompts = encoder.prompts(data, Split::Test, window, selection, inputs.retriever)?;
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
            let r_c = match inputs.crm.filter(|_| gated) {
                Some(crm) => Some(crm.representations(data, Split::Test, &rows, &device)?),
                None => None,
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
            for ((&row, ids), logits) in rows.iter().zip(&ids).zip(logits) {
                let score = YesNoScore::from_logits(logits[0], logits[1], ids.len());
                scored.push(ScoredRow {
                    row,
                    label: data.sample(Split::Test, row)?.label,
                    p_yes: score.p_yes,
                });
            }
            log.append(&scored)?;
            scored_now += scored.len();
            progress.inc(scored.len() as u64);
        }
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let scored_total = log.done().range(..count).count();
    let metrics = if scored_total == count {
        let train_len = data.split_len(Split::Train);
        let metrics = run_metrics(&log, count, config, train_len, &folder)?;
        write_json(&folder.metrics(), &metrics)?;
        Some(metrics)
    } else {
        None
    };
    Ok(EvalSummary {
        scored_now,
        scored_total,
        rows_per_second: if scored_now > 0 {
            scored_now as f64 / elapsed
        } else {
            0.0
        },
        metrics,
    })
}

/// AUC and LogLoss of the first `rows` logged rows.
fn split_metrics(log: &ScoreLog, rows: usize) -> Result<SplitMetrics, FinetuneError> {
    let scored: Vec<&ScoredRow> = log.done().range(..rows).map(|(_, s)| s).collect();
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
    count: usize,
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
    Ok(LlmMetrics {
        mode: config.mode,
        test: split_metrics(log, count)?,
        valid: None,
        test_first_30000: if count >= FIRST_TEST_ROWS {
            Some(split_metrics(log, FIRST_TEST_ROWS)?)
        } else {
            None
        },
        train_seconds: state.as_ref().map_or(0.0, |s| s.train_seconds),
        epochs: if trained { config.epochs } else { 0 },
        train_size,
        history_k: config.history_k,
    })
}

fn progress_bar(show: bool, total: usize, done: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("eval {bar:30} {pos}/{len} rows {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(done as u64);
    bar.reset_eta();
    bar
}
