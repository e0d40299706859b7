//! Every metrics, state and score file written and read back holds the very floats that
//! were in memory, bit for bit: a resumed run, a report or a test that recomputes a metric
//! must see what the job computed, not a neighbour one ULP away.

use std::path::Path;

use reclora_core::PloraConfig;
use reclora_core::rng::SplitMix64;
use reclora_test_support::TempDir;

use crate::crm::{CrmMetrics, SplitMetrics};
use crate::finetune::config::{FinetuneConfig, FinetuneMode};
use crate::finetune::eval::LlmMetrics;
use crate::finetune::files::TrainState;
use crate::json_file::{read_json, write_json};
use crate::scores::{ScoreLog, ScoredRow, read_scores};

/// f64 values whose decimal forms are hard to parse back: 17 significant digits, the AUC
/// that broke CI (11/28), extremes and subnormals, then 4,000 uniform draws over the
/// mantissa bits of (0, 1) and 1,000 over the whole positive range.
fn awkward_f64() -> Vec<f64> {
    let mut values = vec![
        11.0 / 28.0,
        0.1 + 0.2,
        1.0 / 3.0,
        2.0 / 3.0,
        std::f64::consts::PI,
        0.0,
        -0.0,
        1.0,
        f64::EPSILON,
        f64::MIN_POSITIVE,
        5e-324,
        2.225_073_858_507_201e-308,
        f64::MAX,
        1.0 - f64::EPSILON / 2.0,
        9_007_199_254_740_993.0,
    ];
    let mut stream = SplitMix64::new(2026);
    values.extend((0..4_000).map(|_| (stream.next_u64() >> 11) as f64 / (1u64 << 53) as f64));
    values.extend((0..1_000).map(|_| {
        // Any finite positive bit pattern.
        let bits = stream.next_u64() & 0x7fef_ffff_ffff_ffff;
        f64::from_bits(bits)
    }));
    values
}

fn same_bits(written: &[f64], read: &[f64], what: &str) {
    assert_eq!(written.len(), read.len(), "{what}: length");
    for (i, (a, b)) in written.iter().zip(read).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "{what}[{i}]: wrote {a:e}, read {b:e}"
        );
    }
}

fn split(auc: f64, logloss: f64, n: usize) -> SplitMetrics {
    SplitMetrics { auc, logloss, n }
}

fn same_split(a: &SplitMetrics, b: &SplitMetrics, what: &str) {
    same_bits(&[a.auc, a.logloss], &[b.auc, b.logloss], what);
    assert_eq!(a.n, b.n, "{what}: n");
}

fn json_round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(dir: &Path, value: &T) -> T {
    let path = dir.join("file.json");
    write_json(&path, value).expect("writes");
    read_json(&path).expect("reads")
}

#[test]
fn crm_metrics_json_keeps_every_float() {
    let dir = TempDir::new("round-trip-crm");
    let values = awkward_f64();
    for chunk in values.chunks(7) {
        let &[a, b, c, d, e, f, seconds] = chunk else {
            continue;
        };
        let metrics = CrmMetrics {
            valid: split(a, b, 97_000),
            test: split(c, d, 97_002),
            test_first_30000: split(e, f, 30_000),
            train_seconds: seconds,
            epochs: 2,
            best_epoch: 1,
            epoch_losses: chunk.to_vec(),
        };
        let back = json_round_trip(dir.path(), &metrics);
        same_split(&metrics.valid, &back.valid, "valid");
        same_split(&metrics.test, &back.test, "test");
        same_split(
            &metrics.test_first_30000,
            &back.test_first_30000,
            "first 30000",
        );
        same_bits(&[metrics.train_seconds], &[back.train_seconds], "seconds");
        same_bits(&metrics.epoch_losses, &back.epoch_losses, "epoch losses");
    }
}

#[test]
fn llm_metrics_json_keeps_every_float() {
    let dir = TempDir::new("round-trip-llm");
    let values = awkward_f64();
    for chunk in values.chunks_exact(5) {
        let metrics = LlmMetrics {
            mode: FinetuneMode::Reclora,
            test: split(chunk[0], chunk[1], 11),
            valid: None,
            test_first_30000: Some(split(chunk[2], chunk[3], 30_000)),
            train_seconds: chunk[4],
            epochs: 1,
            train_size: 64,
            history_k: 10,
            rows: None,
            crm_logit_weight: Some(f32::from_bits(0x3f80_0001)),
        };
        let back = json_round_trip(dir.path(), &metrics);
        same_split(&metrics.test, &back.test, "test");
        let first = back.test_first_30000.expect("kept");
        same_split(&split(chunk[2], chunk[3], 30_000), &first, "first 30000");
        same_bits(&[chunk[4]], &[back.train_seconds], "seconds");
    }
}

#[test]
fn train_state_json_keeps_every_loss() {
    let dir = TempDir::new("round-trip-state");
    let values = awkward_f64();
    let mut state = TrainState::new(values.len());
    state.step_losses = values.clone();
    state.answer_losses = values.iter().rev().copied().collect();
    state.train_seconds = 11.0 / 28.0;
    let back: TrainState = json_round_trip(dir.path(), &state);
    same_bits(&state.step_losses, &back.step_losses, "step losses");
    same_bits(&state.answer_losses, &back.answer_losses, "answer losses");
    // Equality as the resume check uses it.
    assert_eq!(back, state);
}

#[test]
fn finetune_config_json_compares_equal_after_reading() {
    let dir = TempDir::new("round-trip-config");
    // Learning rates and PLoRA settings are finite and small: the (0, 1) draws.
    let rates = awkward_f64().into_iter().filter(|v| *v > 0.0 && *v < 1.0);
    for (i, rate) in rates.enumerate().step_by(37) {
        let mut config = FinetuneConfig::new(FinetuneMode::Reclora, "m".into(), "d".into());
        config.learning_rate = rate;
        config.weight_decay = (i as f32 + 1.0) / 3.0;
        config.plora = Some(PloraConfig {
            alpha: rate * 3.0,
            temperature: 1.0 + rate,
            gate_dropout: rate / 2.0,
            ..PloraConfig::default()
        });
        let back: FinetuneConfig = json_round_trip(dir.path(), &config);
        assert_eq!(back, config, "learning rate {rate:e}");
    }
}

#[test]
fn scores_csv_keeps_every_probability() {
    let dir = TempDir::new("round-trip-scores");
    let path = dir.join("scores.csv");
    let mut stream = SplitMix64::new(7);
    let mut probabilities = vec![
        0.0f32,
        1.0,
        f32::MIN_POSITIVE,
        1e-45,
        1.0 - f32::EPSILON / 2.0,
        (11.0f64 / 28.0) as f32,
        0.1,
    ];
    // Every f32 bit pattern in [0, 1] is equally likely here, not just round ones.
    probabilities.extend((0..20_000).map(|_| {
        let bits = (stream.next_u64() >> 32) as u32 % (1.0f32.to_bits() + 1);
        f32::from_bits(bits)
    }));
    let rows: Vec<ScoredRow> = probabilities
        .iter()
        .enumerate()
        .map(|(row, &p_yes)| ScoredRow {
            row,
            label: row % 3 == 0,
            p_yes,
        })
        .collect();
    let mut log = ScoreLog::open(&path).expect("opens");
    for chunk in rows.chunks(999) {
        log.append(chunk).expect("appends");
    }
    drop(log);
    let back = read_scores(&path).expect("reads");
    assert_eq!(back.len(), rows.len());
    for (a, b) in rows.iter().zip(&back) {
        assert_eq!((a.row, a.label), (b.row, b.label));
        assert_eq!(a.p_yes.to_bits(), b.p_yes.to_bits(), "row {}", a.row);
    }
}
