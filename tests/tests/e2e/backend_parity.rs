//! One test body, run on every backend: tiny random Llama and Qwen2 models against
//! Hugging Face transformers, and one short real-weights prompt.
//!
//! lavapipe (software Vulkan) is ~100x slower than the CPU backend, so the wgpu runs use
//! tiny models plus a single short real prompt.

use std::path::Path;

use burn::tensor::Device;
use reclora_core::llm::{LlamaModel, SafetensorsWeights, read_hf_config};
use reclora_core::{BackendKind, LanguageModel};
use reclora_tests::{f32_array, fixtures_dir, max_abs_diff, read_fixture, smollm2_gguf, u32_array};

fn load_tiny(folder: &Path, device: &Device) -> LlamaModel {
    let config = read_hf_config(folder).expect("config.json");
    let weights = SafetensorsWeights::open(folder).expect("safetensors");
    config.init_from(&weights, device).expect("model builds")
}

/// Batched last-position logits of a tiny HF model equal transformers' unbatched ones.
fn tiny_matches_hf(name: &str, backend: BackendKind, tolerance: f32) {
    let device = backend.device().expect("backend compiled in");
    let folder = fixtures_dir().join(name);
    let model = load_tiny(&folder, &device);
    let golden = read_fixture(&format!("{name}/golden.json"));
    let rows: Vec<Vec<u32>> = golden["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(u32_array)
        .collect();
    let vocab: Vec<u32> = (0..model.config.vocab_size as u32).collect();
    let logits = model
        .last_position_logits(&rows, &vocab, 0)
        .expect("forward");
    for (row, (got, want)) in logits
        .iter()
        .zip(golden["last_logits"].as_array().expect("logits"))
        .enumerate()
    {
        let diff = max_abs_diff(got, &f32_array(want));
        eprintln!("{name} on {backend}, row {row}: max |Δ| = {diff:.2e}");
        assert!(
            diff <= tolerance,
            "{name} on {backend}, row {row}: max |Δ| = {diff}"
        );
    }
    let nll = model.mean_nll(&rows[0]).expect("nll");
    let want = golden["nll_row0"].as_f64().expect("nll");
    assert!(
        (nll - want).abs() <= f64::from(tolerance),
        "{name} NLL {nll} vs {want}"
    );
}

/// A short real-weights prompt on the given backend.
fn short_real_prompt(backend: BackendKind, tolerance: f32) {
    let loaded;
    let model = if backend == BackendKind::Cpu {
        crate::cpu_smollm2()
    } else {
        let device = backend.device().expect("backend compiled in");
        loaded = LanguageModel::load(&smollm2_gguf(), &device).expect("SmolLM2 loads");
        &loaded
    };
    let golden = read_fixture("llm_golden.json");
    let short = &golden["short"];
    let ids = u32_array(&short["input_ids"]);
    assert!(ids.len() <= 16);
    assert_eq!(
        model
            .tokenize(short["text"].as_str().expect("text"))
            .expect("ids"),
        ids
    );
    let token_ids = u32_array(&golden["token_ids"]);
    let logits = model
        .last_position_logits(&[ids], &token_ids)
        .expect("forward");
    let diff = max_abs_diff(&logits[0], &f32_array(&short["logits"]));
    eprintln!("short prompt on {backend}: max |Δlogit| = {diff:.2e}");
    assert!(
        diff <= tolerance,
        "short prompt on {backend}: max |Δlogit| = {diff}"
    );
}

/// CUDA runs where this build and machine have it and skips, saying why, elsewhere; the
/// other backends must run (a missing wgpu adapter fails the test).
fn skip(backend: BackendKind) -> bool {
    if backend != BackendKind::Cuda {
        return false;
    }
    match backend.open() {
        Ok(_) => false,
        Err(why) => {
            eprintln!("skipped on cuda: {why}");
            true
        }
    }
}

macro_rules! on_backend {
    ($module:ident, $backend:expr, $tolerance:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn tiny_llama_matches_hf() {
                if skip($backend) {
                    return;
                }
                tiny_matches_hf("tiny-llama", $backend, $tolerance);
            }

            #[test]
            fn tiny_qwen2_with_qkv_bias_matches_hf() {
                if skip($backend) {
                    return;
                }
                tiny_matches_hf("tiny-qwen2", $backend, $tolerance);
            }

            #[test]
            fn short_real_prompt_matches_hf() {
                if skip($backend) {
                    return;
                }
                short_real_prompt($backend, $tolerance * 10.0);
            }
        }
    };
}

on_backend!(cpu, BackendKind::Cpu, 1e-4);
on_backend!(wgpu, BackendKind::Wgpu, 1e-3);
on_backend!(cuda, BackendKind::Cuda, 1e-3);
