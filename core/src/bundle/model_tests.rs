//! A bundle's LLM run in place (matrices read from the map) against the dense f32 model
//! built from the same file through `WeightSource`, so both hold the same decoded weights.
//!
//! - f16 (row-major, decoded per product): only the order of the sums differs.
//! - q8 and q4 (packed, int8 GEMM): every projection's input is also rounded to Q8 blocks
//!   (`QuantKernel::Int8`), or to Q8 blocks plus their residual's (`QuantKernel::Dequant`).
//!   The exact reference is then the dense model with each projection's input rounded the
//!   same way (added through the adapter hook as `W·(round(x) − x)`, see [`Q8Inputs`]):
//!   again the same products up to the order of f32 sums. How far that rounding moves the
//!   logits of the plain dense model is checked separately: loosely for one pass, tightly
//!   for two.

use burn::tensor::{Device, Tensor, TensorData};
use reclora_kernels::qgemm::QuantizedActivations;

use super::tests::{block_llama, write_bundle};
use super::{Bundle, BundleOptions, QuantScheme};
use crate::llm::{
    AttentionMask, KvCache, LlamaConfig, LlamaModel, LlmError, ProjectionAdapter, ProjectionKind,
    with_generic_route,
};
use crate::plora::tests::helpers::{host, param2, random_values, tensor2, tokens};
use crate::plora::tests::llm_hook::randomize_b;
use crate::plora::{LoraContext, Plora};
use crate::quant::QuantKernel;

/// Same products, other summation order: f32 rounding only.
const SAME_WEIGHTS: f32 = 1e-4;

/// The bound for `kernel` against its reference. Two passes round to steps 1/127 as wide, so
/// inputs equal but for f32 rounding (model and reference, or two routes) land on different
/// sides of a step far more often; each side is within `max|x| / 64516` of the input, so the
/// two stay within a few times the pass's own (measured) effect on the logits, ~1e-4 here.
fn tolerance(quant: QuantScheme, kernel: QuantKernel) -> f32 {
    if quant != QuantScheme::F16 && kernel == QuantKernel::Dequant {
        5e-4
    } else {
        SAME_WEIGHTS
    }
}
const PAD: u32 = 0;

fn rows() -> Vec<Vec<u32>> {
    vec![vec![1, 5, 9, 13, 17, 21, 3], vec![4, 30, 2]]
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// A bundle of `llm` in `quant` under a fresh folder `name`, opened on flex.
fn open(name: &str, llm: LlamaConfig, quant: QuantScheme) -> Bundle {
    let dir_dir = reclora_test_support::TempDir::new(&format!("bundle-model-{name}"));
    let dir = dir_dir.path().to_path_buf();
    let _ = std::fs::remove_dir_all(&dir);
    write_bundle(&dir, llm, quant);
    let bundle = Bundle::open(&dir, &Device::flex(), BundleOptions::default()).expect("opens");
    // The maps stay open (on Unix) and the models keep theirs alive.
    let _ = std::fs::remove_dir_all(&dir);
    bundle
}

/// The dense reference: every matrix dequantized into an f32 tensor.
fn dense_from(bundle: &Bundle, device: &Device) -> LlamaModel {
    let file = bundle.llm_file().expect("file");
    bundle
        .manifest()
        .llm
        .init_from(&file, device)
        .expect("dense")
}

fn assert_in_place(model: &LlamaModel, packed: bool) {
    assert!(model.is_quantized());
    let layer = &model.layers[1];
    assert!(layer.attention.q_proj.is_quantized() && layer.mlp.down_proj.is_quantized());
    assert_eq!(
        (
            layer.attention.k_proj.is_packed(),
            layer.mlp.up_proj.is_packed()
        ),
        (packed, packed)
    );
    assert!(model.lm_head.as_ref().is_none_or(|h| h.is_quantized()));
}

/// `x` with each row's 32-blocks rounded as the int8 GEMM under `kernel` rounds its input:
/// Q8 blocks, plus their residual's Q8 blocks for `Dequant`.
fn q8_round<const D: usize>(x: Tensor<D>, kernel: QuantKernel) -> Tensor<D> {
    let dims = x.dims();
    let device = x.device();
    let k = dims[D - 1];
    let values = host(x);
    let coarse = QuantizedActivations::quantize(&values, values.len() / k, k);
    let mut rounded = coarse.dequantize();
    if kernel == QuantKernel::Dequant {
        for (r, e) in rounded
            .iter_mut()
            .zip(coarse.residual_of(&values).dequantize())
        {
            *r += e;
        }
    }
    Tensor::from_data(TensorData::new(rounded, dims.to_vec()), &device)
}

/// On a dense model, moves every projection's output to that of its Q8-rounded input:
/// `W·round(x) = W·x + W·(round(x) − x)` (no biases in these models).
struct Q8Inputs<'a> {
    dense: &'a LlamaModel,
    kernel: QuantKernel,
    /// An adapter whose corrections are added as well (PLoRA, on the unrounded input).
    and_then: Option<&'a dyn ProjectionAdapter>,
}

impl ProjectionAdapter for Q8Inputs<'_> {
    fn delta(&self, layer: usize, kind: ProjectionKind, x: Tensor<3>) -> Option<Tensor<3>> {
        let block = &self.dense.layers[layer];
        let projection = match kind {
            ProjectionKind::Q => &block.attention.q_proj,
            ProjectionKind::K => &block.attention.k_proj,
            ProjectionKind::V => &block.attention.v_proj,
            ProjectionKind::O => &block.attention.o_proj,
            ProjectionKind::Gate => &block.mlp.gate_proj,
            ProjectionKind::Up => &block.mlp.up_proj,
            ProjectionKind::Down => &block.mlp.down_proj,
        };
        let rounding = projection.forward(q8_round(x.clone(), self.kernel) - x.clone());
        let adapted = self.and_then.and_then(|a| a.delta(layer, kind, x));
        Some(match adapted {
            Some(delta) => rounding + delta,
            None => rounding,
        })
    }

    fn check_fits(&self, config: &LlamaConfig, batch: usize) -> Result<(), LlmError> {
        self.and_then
            .map_or(Ok(()), |adapter| adapter.check_fits(config, batch))
    }
}

/// The reference adapter for `quant`: Q8 input rounding for packed bundles, none for f16.
fn reference_for<'a>(
    quant: QuantScheme,
    kernel: QuantKernel,
    dense: &'a LlamaModel,
    and_then: Option<&'a dyn ProjectionAdapter>,
) -> Option<Q8Inputs<'a>> {
    matches!(quant, QuantScheme::Q8 | QuantScheme::Q4).then_some(Q8Inputs {
        dense,
        kernel,
        and_then,
    })
}

/// Every bundle quant with the kernels it runs on: packed q8 and q4 with one or two int8
/// passes, row-major f16 decoded.
fn kernel_cases() -> [(QuantScheme, QuantKernel); 5] {
    [
        (QuantScheme::Q8, QuantKernel::Dequant),
        (QuantScheme::Q8, QuantKernel::Int8),
        (QuantScheme::Q4, QuantKernel::Dequant),
        (QuantScheme::Q4, QuantKernel::Int8),
        (QuantScheme::F16, QuantKernel::Dequant),
    ]
}

#[test]
fn in_place_logits_match_the_dense_model_for_every_quant_and_head() {
    let device = Device::flex();
    let vocab: Vec<u32> = (0..block_llama().vocab_size as u32).collect();
    for (quant, kernel) in kernel_cases() {
        let packed = quant != QuantScheme::F16;
        for tied in [true, false] {
            let llm = LlamaConfig {
                tie_word_embeddings: tied,
                ..block_llama()
            };
            let bundle = open(&format!("{quant}-{kernel:?}-{tied}"), llm, quant);
            let model = bundle.llm_model(&device, kernel).expect("model");
            let dense = dense_from(&bundle, &device);
            // The model holds the map, not the bundle.
            drop(bundle);
            assert_in_place(&model, packed);
            assert!(!dense.is_quantized());
            assert_eq!(model.lm_head.is_none(), tied);
            let case = format!("{quant}, {kernel:?}, tied {tied}");
            let reference = reference_for(quant, kernel, &dense, None);
            let reference = reference.as_ref().map(|r| r as &dyn ProjectionAdapter);

            let got = model
                .last_position_logits(&rows(), &vocab, PAD)
                .expect("in place");
            let want = dense
                .last_position_logits_adapted(&rows(), &vocab, PAD, reference)
                .expect("dense");
            let plain = dense
                .last_position_logits(&rows(), &vocab, PAD)
                .expect("dense");
            for ((g, w), p) in got.iter().zip(&want).zip(&plain) {
                let diff = max_diff(g, w);
                let spread = p.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let rounding = max_diff(g, p);
                eprintln!(
                    "{case}: last-position max |Δ logit| {diff:.2e} vs the reference, \
                     {rounding:.2e} vs plain dense (max |logit| {spread:.2})"
                );
                assert!(diff <= tolerance(quant, kernel), "{case}: {diff}");
                // Q8 inputs (half a step, max|x|/254, per value) move the logits of this
                // two-block model by a few percent at most: a wrong weight or input would
                // be off by the logits' own size. A residual pass divides the input error
                // by 508.
                let share = if kernel == QuantKernel::Int8 {
                    0.1
                } else {
                    2e-3
                };
                assert!(rounding <= share * spread, "{case}: {rounding} of {spread}");
            }

            // The same model on burn's generic route (RECLORA_CPU_KERNELS=off) runs the
            // same packed products around burn's other operations.
            let generic = with_generic_route(|| model.last_position_logits(&rows(), &vocab, PAD))
                .expect("generic route");
            for (g, w) in generic.iter().zip(&got) {
                let diff = max_diff(g, w);
                assert!(
                    diff <= tolerance(quant, kernel),
                    "{case}, generic route: {diff}"
                );
            }

            // Every position through the full head (int8 on packed rows: its input is
            // rounded to Q8 too).
            let ids = tokens(&[vec![1, 5, 9, 13, 17], vec![4, 30, 2, 0, 0]], &device);
            let mask = AttentionMask::right_padded(&[5, 3], 5);
            let normed = |m: &LlamaModel, adapter: Option<&dyn ProjectionAdapter>| {
                let hidden = m.forward_hidden(ids.clone(), &mask, None, adapter);
                m.norm.forward(hidden.reshape([10, m.config.hidden_size]))
            };
            let full = host(model.full_logits(normed(&model, None)));
            let dense_normed = normed(&dense, reference);
            let head_input = if packed {
                q8_round(dense_normed.clone(), kernel)
            } else {
                dense_normed.clone()
            };
            let diff = max_diff(&full, &host(dense.full_logits(head_input)));
            eprintln!("{case}: full-head max |Δ logit| {diff:.2e}");
            assert!(diff <= tolerance(quant, kernel), "{case}: {diff}");

            // Decoding only some rows gives the dense rows' logits (decoded rows, an f32
            // product on the unrounded input).
            let picked = [7u32, 0, 39, 7];
            let some = host(
                model
                    .logits_for_tokens(normed(&model, None), &picked)
                    .expect("ids in range"),
            );
            let dense_full = host(dense.full_logits(dense_normed));
            let vocab_size = vocab.len();
            for (row, values) in some.chunks_exact(picked.len()).enumerate() {
                for (&id, &value) in picked.iter().zip(values) {
                    let column = dense_full[row * vocab_size + id as usize];
                    assert!(
                        (value - column).abs() <= SAME_WEIGHTS,
                        "{case}: row {row} id {id}"
                    );
                }
            }

            // A log-softmax moves by at most twice the largest logit error: that of the
            // full head over the same positions, measured here.
            let prompt = &rows()[0];
            let ids = tokens(&[prompt.iter().map(|&t| i64::from(t)).collect()], &device);
            let mask = AttentionMask::causal(1, prompt.len(), 0);
            let head = |m: &LlamaModel| {
                let hidden = m.forward_hidden(ids.clone(), &mask, None, None);
                host(m.full_logits(m.norm.forward(hidden.reshape([prompt.len(), 32]))))
            };
            let logit_error = max_diff(&head(&model), &head(&dense));
            let (nll, dense_nll) = (
                model.mean_nll(prompt).expect("nll"),
                dense.mean_nll(prompt).expect("nll"),
            );
            let bound = 2.0 * f64::from(logit_error + tolerance(quant, kernel));
            assert!(
                (nll - dense_nll).abs() <= bound,
                "{case}: {nll} vs {dense_nll} (bound {bound})"
            );
        }
    }
}

/// Seeded A and B in every bank, so the adapter acts by the same amount on every run
/// (the bundle's PLoRA is a fresh init: random A, B = 0).
fn seed_banks(plora: &mut Plora, device: &Device) {
    randomize_b(plora, 300, 0.2, device);
    for (l, layer) in plora.layers.iter_mut().enumerate() {
        for (t, projection) in layer.projections.iter_mut().enumerate() {
            let bank = &mut projection.bank;
            let shape = [bank.d_in, bank.num_meta * bank.rank];
            let seed = 700 + (l * 16 + t) as u64;
            bank.a = param2(random_values(shape[0] * shape[1], seed, 0.3), shape, device);
        }
    }
}

#[test]
fn in_place_model_with_a_plora_adapter_and_a_kv_cache_matches_the_dense_model() {
    let device = Device::flex();
    for (quant, kernel) in kernel_cases() {
        let bundle = open(&format!("plora-{quant}-{kernel:?}"), block_llama(), quant);
        let model = bundle.llm_model(&device, kernel).expect("model");
        let dense = dense_from(&bundle, &device);
        assert_in_place(&model, quant != QuantScheme::F16);
        let mut plora = bundle.plora().clone();
        seed_banks(&mut plora, &device);
        let crm_dim = plora.config.crm_dim;
        let vocab: Vec<u32> = (0..model.config.vocab_size as u32).collect();

        // One adapter row per prompt row. The adapter reads the unrounded input on both.
        let r_c = tensor2(random_values(2 * crm_dim, 51, 2.0), [2, crm_dim], &device);
        let context = LoraContext::from_representation(&plora, &r_c).expect("fits");
        let reference = reference_for(quant, kernel, &dense, Some(&context));
        let reference: &dyn ProjectionAdapter = match &reference {
            Some(rounded) => rounded,
            None => &context,
        };
        let got = model
            .last_position_logits_adapted(&rows(), &vocab, PAD, Some(&context))
            .expect("adapted");
        let want = dense
            .last_position_logits_adapted(&rows(), &vocab, PAD, Some(reference))
            .expect("adapted");
        let base = model
            .last_position_logits(&rows(), &vocab, PAD)
            .expect("base");
        for row in 0..2 {
            let diff = max_diff(&got[row], &want[row]);
            let moved = max_diff(&got[row], &base[row]);
            eprintln!("{quant} + PLoRA, row {row}: |Δ| {diff:.2e}, adapter moves {moved:.3}");
            assert!(
                moved > 100.0 * SAME_WEIGHTS,
                "{quant}: the adapter barely acts ({moved})"
            );
            assert!(
                diff <= tolerance(quant, kernel),
                "{quant}, row {row}: {diff}"
            );
        }

        // Prefix, then suffix through the cache, against the dense model doing the same
        // and against the in-place model without a cache.
        let r_c = tensor2(random_values(crm_dim, 52, 2.0), [1, crm_dim], &device);
        let context = LoraContext::from_representation(&plora, &r_c).expect("fits");
        let reference = reference_for(quant, kernel, &dense, Some(&context));
        let reference: &dyn ProjectionAdapter = match &reference {
            Some(rounded) => rounded,
            None => &context,
        };
        let ids = [3i64, 17, 22, 8, 25];
        let cached_tail = |m: &LlamaModel, adapter: &dyn ProjectionAdapter| {
            let mut cache = KvCache::new(m.config.num_layers);
            m.forward_hidden(
                tokens(&[ids[..3].to_vec()], &device),
                &AttentionMask::causal(1, 3, 0),
                Some(&mut cache),
                Some(adapter),
            );
            host(m.forward_hidden(
                tokens(&[ids[3..].to_vec()], &device),
                &AttentionMask::causal(1, 2, 3),
                Some(&mut cache),
                Some(adapter),
            ))
        };
        let tail = cached_tail(&model, &context);
        let diff = max_diff(&tail, &cached_tail(&dense, reference));
        eprintln!("{quant} + PLoRA + KV cache: hidden |Δ| {diff:.2e}");
        assert!(
            diff <= tolerance(quant, kernel),
            "{quant}: cached tail {diff}"
        );
        // Activations are quantized per row (position), so a cached suffix sees the very
        // rounding the full sequence gives its positions.
        let full = host(model.forward_hidden(
            tokens(&[ids.to_vec()], &device),
            &AttentionMask::causal(1, 5, 0),
            None,
            Some(&context),
        ));
        let d = model.config.hidden_size;
        let diff = max_diff(&tail, &full[3 * d..]);
        assert!(diff <= 1e-5, "{quant}: cached vs uncached {diff}");
    }
}

#[test]
fn the_model_is_dense_off_the_plain_cpu_and_for_f32_weights() {
    let flex = Device::flex();
    let rows = rows();
    let bundle = open("dense-autodiff", block_llama(), QuantScheme::Q8);
    // Autodiff needs burn ops to carry gradients: dense on the same hardware.
    let autodiff = flex.clone().autodiff();
    let model = bundle
        .llm_model(&autodiff, QuantKernel::Dequant)
        .expect("model");
    assert!(!model.is_quantized() && !model.layers[0].attention.q_proj.is_quantized());
    let got = model
        .last_position_logits(&rows, &[4, 6], PAD)
        .expect("dense");
    let want = dense_from(&bundle, &flex)
        .last_position_logits(&rows, &[4, 6], PAD)
        .expect("dense");
    // The autodiff backend runs other kernels over the same f32 weights.
    for (g, w) in got.iter().zip(&want) {
        assert!(max_diff(g, w) <= SAME_WEIGHTS, "{g:?} vs {w:?}");
    }

    let bundle = open("dense-f32", block_llama(), QuantScheme::F32);
    let model = bundle.llm_model(&flex, QuantKernel::Int8).expect("model");
    assert!(!model.is_quantized());
    let got = model
        .last_position_logits(&rows, &[4, 6], PAD)
        .expect("dense");
    let want = dense_from(&bundle, &flex)
        .last_position_logits(&rows, &[4, 6], PAD)
        .expect("dense");
    assert_eq!(got, want);
}

#[test]
fn models_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<LlamaModel>();
}
