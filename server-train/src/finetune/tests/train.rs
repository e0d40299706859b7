//! The few-shot subset, an exact resume, and a step that moves only the adapter.

use burn::tensor::Device;
use reclora_core::LlamaConfig;
use reclora_core::plora::Plora;

use super::fixture::{
    EarliestRetriever, TempDir, byte_tokenizer, max_param_diff, param_values, synthetic_dataset,
    tiny_config, tiny_crm, tiny_llm,
};
use crate::data::PreparedDataset;
use crate::finetune::config::{FinetuneConfig, FinetuneMode};
use crate::finetune::files::{RunFolder, TrainState, read_json};
use crate::finetune::frozen_crm::FrozenCrm;
use crate::finetune::plan::StepPlan;
use crate::finetune::subset::few_shot_subset;
use crate::finetune::train::{RunControl, TrainInputs, TrainSummary, finetune};

const MODES: [FinetuneMode; 4] = [
    FinetuneMode::ZeroShot,
    FinetuneMode::LoraLast,
    FinetuneMode::LoraRetrieved,
    FinetuneMode::Reclora,
];

#[test]
fn every_mode_trains_on_the_same_seeded_subset() {
    let plans: Vec<StepPlan> = MODES
        .iter()
        .map(|&mode| StepPlan::new(&tiny_config(mode, 10), 57).expect("plan"))
        .collect();
    let subset = plans[0].subset().to_vec();
    assert_eq!(subset.len(), 12);
    assert!(subset.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
    assert!(subset.iter().all(|&i| i < 57));
    for mut plan in plans {
        assert_eq!(plan.subset(), subset.as_slice());
        assert_eq!(plan.total_steps(), 3);
        let rows: Vec<Vec<usize>> = (0..3).map(|step| plan.rows(step)).collect();
        let mut visited: Vec<usize> = rows.concat();
        visited.sort_unstable();
        assert_eq!(visited, subset, "an epoch visits the subset once");
        let mut reference =
            StepPlan::new(&tiny_config(FinetuneMode::LoraLast, 10), 57).expect("plan");
        assert_eq!(rows, (0..3).map(|s| reference.rows(s)).collect::<Vec<_>>());
    }
    // The seed decides; the same seed gives the same subset at the benchmark's scale too.
    assert_ne!(few_shot_subset(57, 12, 8), subset);
    let big = few_shot_subset(776_000, 1024, 42);
    assert_eq!(big, few_shot_subset(776_000, 1024, 42));
    assert_eq!(big.len(), 1024);
    assert!(big.windows(2).all(|w| w[0] < w[1]));
    eprintln!(
        "subset (seed 7, 12 of 57): {subset:?}; ML-1M-sized first rows {:?}",
        &big[..4]
    );
    // Asking for more than the split holds gives all of it.
    assert_eq!(few_shot_subset(5, 10, 1), vec![0, 1, 2, 3, 4]);
}

struct Bench {
    _root: TempDir,
    data: PreparedDataset,
    crm: FrozenCrm,
    device: Device,
}

fn bench() -> Bench {
    let root = TempDir::new("train");
    let data = synthetic_dataset(&root);
    let crm = tiny_crm(&data, &Device::flex());
    Bench {
        _root: root,
        data,
        crm,
        device: Device::flex().autodiff(),
    }
}

fn run(
    bench: &Bench,
    config: &FinetuneConfig,
    out: &std::path::Path,
    control: RunControl,
) -> TrainSummary {
    let llm = tiny_llm(&bench.device);
    let tokenizer = byte_tokenizer();
    let retriever = EarliestRetriever;
    let inputs = TrainInputs {
        data: &bench.data,
        llm: &llm,
        tokenizer: &tokenizer,
        crm: Some(&bench.crm),
        retriever: Some(&retriever),
    };
    finetune(inputs, config, out, control).expect("trains")
}

fn load_adapter(config: &FinetuneConfig, path: &std::path::Path, llm: &LlamaConfig) -> Plora {
    let plora = config.plora.as_ref().expect("adapter");
    plora.load(llm, path, &Device::flex()).expect("loads")
}

#[test]
fn a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one() {
    let bench = bench();
    let root = TempDir::new("resume");
    // 2 epochs × 3 steps; checkpoints at 2, 4, 6; the interrupted run stops at 3 and at 5.
    let mut config = tiny_config(FinetuneMode::Reclora, bench.crm.representation_dim());
    config.epochs = 2;
    let control = RunControl::default();
    let whole = run(&bench, &config, &root.join("whole"), control);
    assert!(whole.finished);
    assert_eq!((whole.steps_done, whole.total_steps), (6, 6));

    let parts = root.join("parts");
    let stop = |steps| RunControl {
        resume: true,
        stop_after_steps: Some(steps),
        progress: false,
    };
    let first = run(&bench, &config, &parts, stop(3));
    assert_eq!((first.steps_done, first.finished), (3, false));
    let state: TrainState = read_json(&RunFolder::new(&parts).state()).expect("state");
    assert_eq!(
        state.checkpoint.as_ref().map(|c| c.adapter.as_str()),
        Some("adapter-step000003.bpk")
    );
    assert!(
        !parts.join("adapter-step000002.bpk").exists(),
        "old checkpoint removed"
    );
    let second = run(&bench, &config, &parts, stop(5));
    assert_eq!(second.steps_done, 5, "crosses the epoch boundary");
    let last = run(
        &bench,
        &config,
        &parts,
        RunControl {
            resume: true,
            ..control
        },
    );
    assert!(last.finished);
    assert_eq!(
        last.step_losses, whole.step_losses,
        "same batches, same losses"
    );

    let llm = super::fixture::tiny_llama_config();
    let resumed = param_values(&load_adapter(
        &config,
        &RunFolder::new(&parts).adapter(),
        &llm,
    ));
    let reference = param_values(&load_adapter(
        &config,
        &RunFolder::new(&root.join("whole")).adapter(),
        &llm,
    ));
    let diff = max_param_diff(&resumed, &reference);
    eprintln!(
        "resume: losses {:?}, max weight difference {diff:.1e}",
        whole.step_losses
    );
    assert!(diff <= 1e-6, "{diff}");
    // A finished run resumed again does nothing.
    let again = run(
        &bench,
        &config,
        &parts,
        RunControl {
            resume: true,
            ..control
        },
    );
    assert_eq!(again.step_losses, whole.step_losses);
    assert_eq!(again.samples_per_second, 0.0);
}

#[test]
fn training_moves_the_adapter_and_leaves_llm_and_crm_untouched() {
    let bench = bench();
    let root = TempDir::new("moves");
    let config = tiny_config(FinetuneMode::Reclora, bench.crm.representation_dim());
    let llm = tiny_llm(&bench.device);
    let llm_before = param_values(&llm);
    let din_before = param_values(bench.crm.din());
    let tokenizer = byte_tokenizer();
    let retriever = EarliestRetriever;
    let inputs = TrainInputs {
        data: &bench.data,
        llm: &llm,
        tokenizer: &tokenizer,
        crm: Some(&bench.crm),
        retriever: Some(&retriever),
    };
    let control = RunControl {
        stop_after_steps: Some(1),
        ..RunControl::default()
    };
    let summary = finetune(inputs, &config, root.path(), control).expect("one step");
    assert_eq!(summary.steps_done, 1);
    assert!(summary.step_losses[0].is_finite());
    assert_eq!(param_values(&llm), llm_before, "LLM weights changed");
    assert_eq!(
        param_values(bench.crm.din()),
        din_before,
        "DIN weights changed"
    );
    assert!(
        !bench
            .crm
            .din()
            .embedding
            .weight
            .val()
            .device()
            .is_autodiff()
    );

    let folder = RunFolder::new(root.path());
    let after = load_adapter(&config, &folder.file("adapter-step000001.bpk"), &llm.config);
    let initial = config
        .plora
        .as_ref()
        .expect("adapter")
        .init_seeded(&llm.config, config.seed, &Device::flex())
        .expect("init");
    let (after, initial) = (param_values(&after), param_values(&initial));
    let changed = after.iter().zip(&initial).filter(|(a, b)| a != b).count();
    eprintln!(
        "one step: {changed} of {} adapter tensors moved, loss {:.4}",
        after.len(),
        summary.step_losses[0]
    );
    // B starts at 0 so its gradient is the only non-zero one at step 1: every B moves.
    assert!(changed >= config.plora.as_ref().map_or(0, |p| p.targets.len()) * 2);
    let stored: FinetuneConfig = read_json(&folder.config()).expect("config.json");
    assert_eq!(stored, config, "config.json records every option");
}

#[test]
fn an_existing_run_is_neither_clobbered_nor_resumed_with_other_options() {
    let bench = bench();
    let root = TempDir::new("claim");
    let out = root.join("run");
    let config = tiny_config(FinetuneMode::ZeroShot, bench.crm.representation_dim());
    let done = run(&bench, &config, &out, RunControl::default());
    assert!(
        done.finished && done.total_steps == 0,
        "zero-shot only records its config"
    );
    let llm = tiny_llm(&bench.device);
    let tokenizer = byte_tokenizer();
    let inputs = TrainInputs {
        data: &bench.data,
        llm: &llm,
        tokenizer: &tokenizer,
        crm: None,
        retriever: None,
    };
    let error = finetune(inputs, &config, &out, RunControl::default()).expect_err("exists");
    assert!(
        matches!(error, crate::finetune::FinetuneError::RunExists { .. }),
        "{error}"
    );
    let mut other = config.clone();
    other.history_k = 5;
    let resume = RunControl {
        resume: true,
        ..RunControl::default()
    };
    let error = finetune(inputs, &other, &out, resume).expect_err("mismatch");
    assert!(
        matches!(error, crate::finetune::FinetuneError::ConfigMismatch { .. }),
        "{error}"
    );
    let lora = tiny_config(FinetuneMode::LoraRetrieved, 4);
    let error = finetune(inputs, &lora, &root.join("other"), resume).expect_err("no retriever");
    assert!(
        matches!(error, crate::finetune::FinetuneError::NeedsItems { .. }),
        "{error}"
    );
}
