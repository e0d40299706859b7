//! DIN training: BCE with logits, AdamW, shuffled mini-batches, evaluation on valid
//! after every epoch keeping the best, checkpoints and resume.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use reclora_core::crm::{Din, DinConfig};
use reclora_core::dropout::seed_host_dropout;
use reclora_core::rng::SplitMix64;
use serde::{Deserialize, Serialize};

use super::checkpoint::{RunFiles, TrainState};
use crate::data::{PreparedDataset, Split};
use crate::error::CliError;
use crate::json_file::{read_json, write_json};
use crate::metrics;
use crate::schedule::LrSchedule;
use crate::scores::{ScoreLog, ScoredRow};
use reclora_core::crm::to_din_input;

/// Hyper-parameters of a CRM run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrmTrainConfig {
    /// Passes over the train split.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// Learning-rate schedule over all epochs.
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Std of DIN's embedding init (`DinConfig::embed_init_std`).
    #[serde(default = "default_embed_init_std")]
    pub embed_init_std: f64,
    /// History length fed to DIN.
    pub history_len: usize,
    /// Shuffling seed.
    pub seed: u64,
    /// Train on only the first N train samples (CI slices); `None` = all.
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N valid/test samples; `None` = all.
    pub eval_limit: Option<usize>,
}

impl Default for CrmTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 2,
            batch_size: 256,
            learning_rate: 1e-3,
            lr_schedule: LrSchedule::Linear,
            weight_decay: 0.0,
            embed_init_std: 0.01,
            history_len: 60,
            seed: 42,
            train_limit: None,
            eval_limit: None,
        }
    }
}

fn default_embed_init_std() -> f64 {
    1.0
}

/// AUC, LogLoss and sample count of one split.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SplitMetrics {
    /// Area under the ROC curve.
    pub auc: f64,
    /// Binary cross-entropy of the predicted probabilities.
    pub logloss: f64,
    /// Number of samples.
    pub n: usize,
}

/// `metrics.json` of a CRM run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrmMetrics {
    /// Best epoch on valid.
    pub valid: SplitMetrics,
    /// The best-on-valid model on test.
    pub test: SplitMetrics,
    /// The same on the first 30,000 test rows (the LLM runs' protocol).
    pub test_first_30000: SplitMetrics,
    /// Wall time of the training epochs.
    pub train_seconds: f64,
    /// Epochs run.
    pub epochs: usize,
    /// Epoch of the kept model.
    pub best_epoch: usize,
    /// Mean training loss per epoch.
    pub epoch_losses: Vec<f64>,
}

/// Deterministic Fisher–Yates shuffle (splitmix64), the same on every platform.
fn shuffled(count: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    let mut stream = SplitMix64::new(seed);
    for i in (1..count).rev() {
        order.swap(i, (stream.next_u64() % (i as u64 + 1)) as usize);
    }
    order
}

/// Predicted probabilities on the first `limit` rows of `split` (eval mode: no dropout).
pub fn predict(
    model: &Din,
    data: &PreparedDataset,
    split: Split,
    limit: Option<usize>,
    history_len: usize,
    device: &Device,
) -> Result<(Vec<f32>, Vec<f32>), CliError> {
    let count = limit.map_or(data.split_len(split), |l| l.min(data.split_len(split)));
    let mut probs = Vec::with_capacity(count);
    let mut labels = Vec::with_capacity(count);
    let indices: Vec<usize> = (0..count).collect();
    for chunk in indices.chunks(4096) {
        let batch = data.din_batch(split, chunk, history_len)?;
        let input = to_din_input(&batch, device);
        let p = sigmoid(model.forward_logit(&input));
        probs.extend(read_vec(p)?);
        labels.extend_from_slice(&batch.labels);
    }
    Ok((labels, probs))
}

/// AUC and LogLoss of `model` on a split prefix.
pub fn evaluate(
    model: &Din,
    data: &PreparedDataset,
    split: Split,
    limit: Option<usize>,
    history_len: usize,
    device: &Device,
) -> Result<SplitMetrics, CliError> {
    let (labels, probs) = predict(model, data, split, limit, history_len, device)?;
    Ok(SplitMetrics {
        auc: metrics::auc(&labels, &probs)?,
        logloss: metrics::logloss(&labels, &probs)?,
        n: labels.len(),
    })
}

fn read_vec(tensor: Tensor<1>) -> Result<Vec<f32>, CliError> {
    tensor
        .try_into_data()
        .ok()
        .and_then(|d| d.try_into_vec::<f32>().ok())
        .ok_or(CliError::Readback)
}

/// Trains DIN on `data`'s train split into `out`, resuming from its checkpoint when
/// `resume` is set; returns the metrics also written to `out/metrics.json`.
pub fn train_crm(
    data: &PreparedDataset,
    config: &CrmTrainConfig,
    out: &Path,
    resume: bool,
    device: &Device,
) -> Result<CrmMetrics, CliError> {
    let files = RunFiles::new(out);
    std::fs::create_dir_all(out).map_err(|e| CliError::io(out, e))?;
    let din_config = DinConfig {
        embed_init_std: config.embed_init_std,
        ..DinConfig::new(data.embedding_rows(), data.num_fields(), data.item_field())
    };
    let train_device = device.clone().autodiff();
    // Drawn on the host: the weights depend on the seed alone, not on other threads.
    let mut model = din_config.init_seeded(config.seed, &train_device);
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .init();
    let mut state = TrainState {
        epochs_done: 0,
        best_valid_auc: f64::NEG_INFINITY,
        best_epoch: 0,
        train_seconds: 0.0,
        epoch_losses: Vec::new(),
    };
    if resume && files.state().is_file() {
        state = read_json(&files.state())?;
        model = model
            .try_load_file(files.last_model())
            .map_err(checkpoint_error(&files.last_model()))?;
        optimizer = optimizer
            .load(files.last_optimizer())
            .map_err(checkpoint_error(&files.last_optimizer()))?;
        tracing::info!(epochs_done = state.epochs_done, "resumed");
    }
    write_json(&files.config(), &(config, &din_config))?;

    let train_len = config
        .train_limit
        .map_or(data.split_len(Split::Train), |l| {
            l.min(data.split_len(Split::Train))
        });
    let steps_per_epoch = train_len.div_ceil(config.batch_size.max(1));
    let total_steps = steps_per_epoch * config.epochs;
    for epoch in state.epochs_done..config.epochs {
        let started = Instant::now();
        // Dropout masks are reproducible per epoch, also across --resume: drawn on the host
        // on CPU devices (this thread's stream), by burn's seeded kernel on GPUs.
        train_device.seed(config.seed.wrapping_add(epoch as u64));
        seed_host_dropout(config.seed.wrapping_add(epoch as u64));
        let order = shuffled(train_len, config.seed.wrapping_add(epoch as u64));
        let progress = crate::progress::shown(
            ProgressBar::new(train_len as u64).with_style(
                ProgressStyle::with_template(
                    "epoch {prefix} {bar:30} {pos}/{len} {per_sec} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
        );
        progress.set_prefix(format!("{}/{}", epoch + 1, config.epochs));
        let mut loss_sum = 0.0;
        let mut steps = 0usize;
        for chunk in order.chunks(config.batch_size) {
            let batch = data.din_batch(Split::Train, chunk, config.history_len)?;
            let input = to_din_input(&batch, &train_device);
            let labels = Tensor::<1>::from_data(
                TensorData::new(batch.labels.clone(), [batch.batch]),
                &train_device,
            );
            let logits = model.forward_logit(&input);
            let loss = bce_with_logits(logits, labels);
            let loss_value = f64::from(read_vec(loss.clone().reshape([1]))?[0]);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let rate = config.lr_schedule.rate(
                config.learning_rate,
                epoch * steps_per_epoch + steps,
                total_steps,
            );
            model = optimizer.step(rate, model, grads);
            loss_sum += loss_value;
            steps += 1;
            progress.inc(chunk.len() as u64);
            progress.set_message(format!("loss {:.4}", loss_sum / steps as f64));
        }
        progress.finish_and_clear();
        state.train_seconds += started.elapsed().as_secs_f64();
        let epoch_loss = loss_sum / steps.max(1) as f64;
        state.epoch_losses.push(epoch_loss);
        let eval_model = model.valid();
        let valid = evaluate(
            &eval_model,
            data,
            Split::Valid,
            config.eval_limit,
            config.history_len,
            device,
        )?;
        tracing::info!(
            epoch = epoch + 1,
            loss = epoch_loss,
            valid_auc = valid.auc,
            valid_logloss = valid.logloss,
            "epoch done"
        );
        if valid.auc > state.best_valid_auc {
            state.best_valid_auc = valid.auc;
            state.best_epoch = epoch + 1;
            eval_model
                .save_file(files.best_model())
                .map_err(checkpoint_error(&files.best_model()))?;
        }
        model
            .clone()
            .save_file(files.last_model())
            .map_err(checkpoint_error(&files.last_model()))?;
        optimizer
            .save(files.last_optimizer())
            .map_err(checkpoint_error(&files.last_optimizer()))?;
        state.epochs_done = epoch + 1;
        write_json(&files.state(), &state)?;
    }

    let best = din_config
        .init(device)
        .try_load_file(files.best_model())
        .map_err(checkpoint_error(&files.best_model()))?;
    let valid = evaluate(
        &best,
        data,
        Split::Valid,
        config.eval_limit,
        config.history_len,
        device,
    )?;
    let (test_labels, test_probs) = predict(
        &best,
        data,
        Split::Test,
        config.eval_limit,
        config.history_len,
        device,
    )?;
    write_test_scores(&files.scores(), &test_labels, &test_probs)?;
    let test = SplitMetrics {
        auc: metrics::auc(&test_labels, &test_probs)?,
        logloss: metrics::logloss(&test_labels, &test_probs)?,
        n: test_labels.len(),
    };
    let test_first_30000 = evaluate(
        &best,
        data,
        Split::Test,
        Some(config.eval_limit.map_or(30_000, |l| l.min(30_000))),
        config.history_len,
        device,
    )?;
    let metrics = CrmMetrics {
        valid,
        test,
        test_first_30000,
        train_seconds: state.train_seconds,
        epochs: state.epochs_done,
        best_epoch: state.best_epoch,
        epoch_losses: state.epoch_losses.clone(),
    };
    write_json(&files.metrics(), &metrics)?;
    Ok(metrics)
}

/// Per-row test scores for `report`, written whole then renamed into place.
fn write_test_scores(path: &Path, labels: &[f32], probs: &[f32]) -> Result<(), CliError> {
    let partial = path.with_extension("csv.partial");
    std::fs::remove_file(&partial).ok();
    let mut log = ScoreLog::open(&partial)?;
    let rows: Vec<ScoredRow> = labels
        .iter()
        .zip(probs)
        .enumerate()
        .map(|(row, (&label, &p_yes))| ScoredRow {
            row,
            label: label > 0.5,
            p_yes,
        })
        .collect();
    log.append(&rows)?;
    drop(log);
    std::fs::rename(&partial, path).map_err(|e| CliError::io(path, e))
}

fn checkpoint_error(path: &Path) -> impl FnOnce(burn::store::RecordError) -> CliError {
    let path = path.to_path_buf();
    move |source| CliError::Checkpoint { path, source }
}

/// Mean BCE with logits, in the stable form −y·logσ(z) − (1−y)·logσ(−z).
fn bce_with_logits(logits: Tensor<1>, labels: Tensor<1>) -> Tensor<1> {
    let positive = log_sigmoid(logits.clone()) * labels.clone();
    let negative = log_sigmoid(logits.neg()) * labels.neg().add_scalar(1.0);
    (positive + negative).neg().mean()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let a = shuffled(100, 3);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(a, shuffled(100, 3));
        assert_ne!(a, shuffled(100, 4));
    }

    /// CI slice: DIN on the first 50k ML-1M train samples, one epoch, then resumed for a
    /// second; loss decreases and valid AUC clears 0.65.
    #[test]
    fn din_learns_on_a_50k_slice_and_resumes() {
        let assets = std::env::var_os("RECLORA_ASSETS").map_or_else(
            || {
                std::env::var_os("CARGO_MANIFEST_DIR")
                    .map_or_else(
                        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
                        std::path::PathBuf::from,
                    )
                    .join("../assets")
            },
            std::path::PathBuf::from,
        );
        let raw = assets.join("ml-1m");
        assert!(
            raw.join("ratings.dat").is_file(),
            "run scripts/fetch-assets.sh first"
        );
        let root_dir = reclora_test_support::TempDir::new("din-slice");
        let root = root_dir.path().to_path_buf();
        let data_dir = root.join("data");
        crate::data::prepare(crate::data::DatasetName::Ml1m, &raw, &data_dir).expect("prepares");
        let data = PreparedDataset::open(&data_dir).expect("opens");
        let device = Device::flex();
        let run = root.join("run");
        let mut config = CrmTrainConfig {
            epochs: 1,
            train_limit: Some(50_000),
            eval_limit: Some(20_000),
            ..CrmTrainConfig::default()
        };
        let first = train_crm(&data, &config, &run, false, &device).expect("epoch 1");
        config.epochs = 2;
        let second = train_crm(&data, &config, &run, true, &device).expect("epoch 2");
        assert_eq!(second.epochs, 2);
        assert_eq!(
            second.epoch_losses[0], first.epoch_losses[0],
            "resume keeps history"
        );
        assert!(
            second.epoch_losses[1] < second.epoch_losses[0],
            "loss did not decrease: {:?}",
            second.epoch_losses
        );
        assert!(second.valid.auc > 0.65, "valid AUC {}", second.valid.auc);
        assert_eq!(second.valid.n, 20_000);
        eprintln!(
            "DIN slice: losses {:?}, valid {:?}",
            second.epoch_losses, second.valid
        );
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn bce_with_logits_by_hand() {
        let device = Device::flex();
        let logits = Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 2.0], [2]), &device);
        let labels = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 0.0], [2]), &device);
        // (ln 2 + ln(1 + e²)) / 2 = (0.693147 + 2.126928) / 2 = 1.410038
        let loss = read_vec(bce_with_logits(logits, labels).reshape([1])).expect("reads")[0];
        assert!((loss - 1.410_038).abs() < 1e-5, "{loss}");
    }
}
