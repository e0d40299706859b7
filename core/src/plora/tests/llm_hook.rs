//! PLoRA inside the LLM forward: no adapter and B = 0 leave the model unchanged, and a
//! per-sample adapter equals running each sample through its own merged weights.

use std::collections::HashMap;

use burn::tensor::Device;

use super::helpers::{HostBank, host, param2, random_values, tensor2, tiny_llama, tokens};
use crate::llm::{
    AttentionMask, HostTensor, KvCache, LlamaConfig, LlamaModel, LlmError, SeededWeights,
    WeightSource,
};
use crate::plora::{LoraContext, MixtureForm, Plora, PloraConfig, ProjectionKind};

const PAD: u32 = 0;

fn rows() -> Vec<Vec<u32>> {
    vec![vec![3, 17, 42, 8, 25], vec![9, 4, 30]]
}

fn vocab(config: &LlamaConfig) -> Vec<u32> {
    (0..config.vocab_size as u32).collect()
}

fn base_model(device: &Device) -> LlamaModel {
    let config = tiny_llama();
    config
        .init_from(&SeededWeights::new(config.clone(), 3), device)
        .expect("tiny model")
}

/// Replaces every B by random values so the adapter does something.
pub fn randomize_b(plora: &mut Plora, seed: u64, scale: f32, device: &Device) {
    for (l, layer) in plora.layers.iter_mut().enumerate() {
        for (t, projection) in layer.projections.iter_mut().enumerate() {
            let bank = &mut projection.bank;
            let width = bank.num_meta * bank.rank;
            let values = random_values(width * bank.d_out, seed + (l * 16 + t) as u64, scale);
            bank.b = param2(values, [width, bank.d_out], device);
        }
    }
}

fn gated(mixture: MixtureForm, shared_gate: bool) -> PloraConfig {
    PloraConfig {
        num_meta: 4,
        rank: 2,
        crm_dim: 8,
        gate_hidden: 6,
        targets: ProjectionKind::ALL.to_vec(),
        mixture,
        shared_gate,
        ..PloraConfig::default()
    }
}

#[test]
fn no_adapter_and_a_zero_b_adapter_leave_logits_unchanged() {
    let device = Device::flex();
    let model = base_model(&device);
    let rows = rows();
    let vocab = vocab(&model.config);
    let base = model
        .last_position_logits(&rows, &vocab, PAD)
        .expect("base");
    let plora = gated(MixtureForm::SumOfProducts, false)
        .init(&model.config, &device)
        .expect("valid");
    let r_c = tensor2(random_values(2 * 8, 41, 2.0), [2, 8], &device);
    let context = LoraContext::from_representation(&plora, &r_c).expect("fits");
    let none = model
        .last_position_logits_adapted(&rows, &vocab, PAD, None)
        .expect("none");
    let zero_b = model
        .last_position_logits_adapted(&rows, &vocab, PAD, Some(&context))
        .expect("adapted");
    assert_eq!(none, base, "None must be the base path");
    assert_eq!(zero_b, base, "B = 0 must add exactly zero");

    // Whole hidden states too, not just two rows of logits.
    let ids = tokens(&[vec![3, 17, 42, 8, 25], vec![9, 4, 30, 1, 1]], &device);
    let mask = AttentionMask::right_padded(&[5, 3], 5);
    let plain = host(model.forward_hidden(ids.clone(), &mask, None, None));
    let adapted = host(model.forward_hidden(ids, &mask, None, Some(&context)));
    assert_eq!(plain, adapted);
}

/// Base weights plus a dense delta per weight name (PyTorch layout `[out, in]`).
struct MergedWeights {
    base: SeededWeights,
    deltas: HashMap<String, Vec<f64>>,
}

impl WeightSource for MergedWeights {
    fn source_name(&self) -> String {
        "seeded weights with merged LoRA deltas".into()
    }

    fn load(&self, name: &str) -> Result<Option<HostTensor>, LlmError> {
        let Some(mut tensor) = self.base.load(name)? else {
            return Ok(None);
        };
        if let Some(delta) = self.deltas.get(name) {
            for (value, d) in tensor.values.iter_mut().zip(delta) {
                *value = (f64::from(*value) + d) as f32;
            }
        }
        Ok(Some(tensor))
    }
}

fn weight_name(layer: usize, kind: ProjectionKind) -> String {
    let block = match kind {
        ProjectionKind::Gate | ProjectionKind::Up | ProjectionKind::Down => "mlp",
        _ => "self_attn",
    };
    format!("model.layers.{layer}.{block}.{kind}_proj.weight")
}

/// Sample `row`'s adapter folded into the base weights with f64 loops.
fn merged_model(plora: &Plora, context: &LoraContext, row: usize, device: &Device) -> LlamaModel {
    let config = tiny_llama();
    let mut deltas = HashMap::new();
    for (layer, adapted) in plora.layers.iter().enumerate() {
        for (target, (projection, &kind)) in adapted
            .projections
            .iter()
            .zip(&plora.config.targets)
            .enumerate()
        {
            let bank = &projection.bank;
            let host_bank = HostBank {
                a: host(bank.a.val()),
                b: host(bank.b.val()),
                d_in: bank.d_in,
                d_out: bank.d_out,
                num_meta: bank.num_meta,
                rank: bank.rank,
            };
            let alpha = host(context.gates().get(layer, target).expect("slot").clone());
            let alpha_row: Vec<f64> = alpha[row * bank.num_meta..(row + 1) * bank.num_meta]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let delta = host_bank.dense_delta(
                &alpha_row,
                plora.config.scaling(),
                plora.config.mixture == MixtureForm::ProductOfSums,
            );
            let mut torch_layout = vec![0.0; delta.len()];
            for i in 0..bank.d_in {
                for o in 0..bank.d_out {
                    torch_layout[o * bank.d_in + i] = delta[i * bank.d_out + o];
                }
            }
            deltas.insert(weight_name(layer, kind), torch_layout);
        }
    }
    let source = MergedWeights {
        base: SeededWeights::new(config.clone(), 3),
        deltas,
    };
    config.init_from(&source, device).expect("merged model")
}

#[test]
fn per_sample_adapter_equals_per_sample_merged_weights() {
    let device = Device::flex();
    let model = base_model(&device);
    let rows = rows();
    let vocab = vocab(&model.config);
    let base = model
        .last_position_logits(&rows, &vocab, PAD)
        .expect("base");
    let r_c = tensor2(random_values(2 * 8, 42, 2.0), [2, 8], &device);
    let cases = [
        ("sum of products", gated(MixtureForm::SumOfProducts, false)),
        ("product of sums", gated(MixtureForm::ProductOfSums, false)),
        ("shared gate", gated(MixtureForm::SumOfProducts, true)),
        (
            "static LoRA",
            PloraConfig::static_lora(3, 6.0, ProjectionKind::ALL.to_vec()),
        ),
    ];
    for (name, config) in cases {
        let mut plora = config.init(&model.config, &device).expect("valid");
        randomize_b(&mut plora, 100, 0.05, &device);
        let context = LoraContext::from_representation(&plora, &r_c).expect("fits");
        let adapted = model
            .last_position_logits_adapted(&rows, &vocab, PAD, Some(&context))
            .expect("adapted");
        for (row, ids) in rows.iter().enumerate() {
            let merged = merged_model(&plora, &context, row, &device)
                .last_position_logits(std::slice::from_ref(ids), &vocab, PAD)
                .expect("merged");
            let error = adapted[row]
                .iter()
                .zip(&merged[0])
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            let moved = adapted[row]
                .iter()
                .zip(&base[row])
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            eprintln!(
                "{name}, row {row}: max |adapted − merged| = {error:.2e}, |adapted − base| = {moved:.3}"
            );
            assert!(
                moved > 0.05,
                "{name}: adapter barely changes logits ({moved})"
            );
            assert!(error < 1e-4, "{name}, row {row}: {error}");
        }
    }
}

#[test]
fn adapter_works_with_the_kv_cache() {
    let device = Device::flex();
    let model = base_model(&device);
    let mut plora = gated(MixtureForm::ProductOfSums, false)
        .init(&model.config, &device)
        .expect("valid");
    randomize_b(&mut plora, 200, 0.05, &device);
    let r_c = tensor2(random_values(8, 43, 2.0), [1, 8], &device);
    let context = LoraContext::from_representation(&plora, &r_c).expect("fits");
    let ids = [3i64, 17, 42, 8, 25];
    let full = host(model.forward_hidden(
        tokens(&[ids.to_vec()], &device),
        &AttentionMask::causal(1, 5, 0),
        None,
        Some(&context),
    ));
    let mut cache = KvCache::new(model.config.num_layers);
    model.forward_hidden(
        tokens(&[ids[..3].to_vec()], &device),
        &AttentionMask::causal(1, 3, 0),
        Some(&mut cache),
        Some(&context),
    );
    let tail = host(model.forward_hidden(
        tokens(&[ids[3..].to_vec()], &device),
        &AttentionMask::causal(1, 2, 3),
        Some(&mut cache),
        Some(&context),
    ));
    let d = model.config.hidden_size;
    let error = tail
        .iter()
        .zip(&full[3 * d..])
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(error < 1e-5, "cached vs full: {error}");
}

#[test]
fn adapters_that_do_not_fit_are_rejected() {
    let device = Device::flex();
    let model = base_model(&device);
    let rows = rows();
    let vocab = vocab(&model.config);
    let other_llm = LlamaConfig::tiny_for_tests();
    let foreign = gated(MixtureForm::SumOfProducts, false)
        .init(&other_llm, &device)
        .expect("valid");
    let r_c = tensor2(random_values(2 * 8, 44, 2.0), [2, 8], &device);
    let context = LoraContext::from_representation(&foreign, &r_c).expect("fits its own");
    assert!(matches!(
        model.last_position_logits_adapted(&rows, &vocab, PAD, Some(&context)),
        Err(LlmError::AdapterMismatch { .. })
    ));
    let plora = gated(MixtureForm::SumOfProducts, false)
        .init(&model.config, &device)
        .expect("valid");
    let three = tensor2(random_values(3 * 8, 45, 2.0), [3, 8], &device);
    let context = LoraContext::from_representation(&plora, &three).expect("fits");
    assert!(matches!(
        model.last_position_logits_adapted(&rows, &vocab, PAD, Some(&context)),
        Err(LlmError::AdapterMismatch { .. })
    ));
}

#[test]
fn adapting_the_top_layers_only_equals_a_full_adapter_with_zero_bottom_banks() {
    let device = Device::flex();
    let model = base_model(&device);
    let rows = rows();
    let vocab = vocab(&model.config);
    let top = PloraConfig {
        adapt_layers: Some(1),
        ..gated(MixtureForm::SumOfProducts, false)
    };
    let mut partial = top.init_seeded(&model.config, 5, &device).expect("valid");
    assert_eq!(partial.first_adapted_layer(), 1);
    assert!(partial.layers[0].projections.is_empty());
    assert_eq!(partial.num_slots(), ProjectionKind::ALL.len());
    randomize_b(&mut partial, 70, 0.5, &device);

    // The same top layer inside a full adapter whose bottom layer has B = 0.
    let mut full = gated(MixtureForm::SumOfProducts, false)
        .init_seeded(&model.config, 5, &device)
        .expect("valid");
    for (projection, top_projection) in full.layers[1]
        .projections
        .iter_mut()
        .zip(&partial.layers[1].projections)
    {
        projection.bank.a = top_projection.bank.a.clone();
        projection.bank.b = top_projection.bank.b.clone();
        projection.gate = top_projection.gate.clone();
    }
    for projection in &mut full.layers[0].projections {
        let [rows, cols] = projection.bank.b.dims();
        projection.bank.b = param2(vec![0.0; rows * cols], [rows, cols], &device);
    }
    let r_c = tensor2(random_values(2 * 8, 41, 2.0), [2, 8], &device);
    let logits = |plora: &Plora| {
        let context = LoraContext::from_representation(plora, &r_c).expect("fits");
        model
            .last_position_logits_adapted(&rows, &vocab, PAD, Some(&context))
            .expect("adapted")
    };
    let base = model
        .last_position_logits(&rows, &vocab, PAD)
        .expect("base");
    let (partial_logits, full_logits) = (logits(&partial), logits(&full));
    let moved = partial_logits[0]
        .iter()
        .zip(&base[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 1e-3, "the top-layer adapter changed nothing");
    for (a, b) in partial_logits.iter().zip(&full_logits) {
        let gap = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(gap < 1e-5, "top-only vs zero-bottom adapter: {gap}");
    }
}
