//! A bundle's LLM run in place (quantized matrices read from the map) against the dense
//! f32 model built from the same file through `WeightSource`: the same dequantized
//! weights, so only the order of the sums differs.

use burn::tensor::Device;

use super::tests::{block_llama, write_bundle};
use super::{Bundle, BundleOptions};
use crate::llm::{AttentionMask, KvCache, LlamaConfig, LlamaModel};
use crate::plora::tests::helpers::{host, param2, random_values, tensor2, tokens};
use crate::plora::tests::llm_hook::randomize_b;
use crate::plora::{LoraContext, Plora};
use crate::quant::{QuantKernel, WeightQuant};

/// Same weights, other summation order: f32 rounding only.
const SAME_WEIGHTS: f32 = 1e-4;
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
fn open(name: &str, llm: LlamaConfig, quant: WeightQuant) -> Bundle {
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

fn assert_in_place(model: &LlamaModel) {
    assert!(model.is_quantized());
    let layer = &model.layers[1];
    assert!(layer.attention.q_proj.is_quantized() && layer.mlp.down_proj.is_quantized());
    assert!(model.lm_head.as_ref().is_none_or(|h| h.is_quantized()));
}

#[test]
fn in_place_logits_match_the_dense_model_for_every_quant_and_head() {
    let device = Device::flex();
    let vocab: Vec<u32> = (0..block_llama().vocab_size as u32).collect();
    for quant in [WeightQuant::Q8, WeightQuant::Q4, WeightQuant::F16] {
        for tied in [true, false] {
            let llm = LlamaConfig {
                tie_word_embeddings: tied,
                ..block_llama()
            };
            let bundle = open(&format!("{quant}-{tied}"), llm, quant);
            let model = bundle
                .llm_model(&device, QuantKernel::Dequant)
                .expect("model");
            let dense = dense_from(&bundle, &device);
            // The model holds the map, not the bundle.
            drop(bundle);
            assert_in_place(&model);
            assert!(!dense.is_quantized());
            assert_eq!(model.lm_head.is_none(), tied);
            let case = format!("{quant}, tied {tied}");

            let got = model
                .last_position_logits(&rows(), &vocab, PAD)
                .expect("in place");
            let want = dense
                .last_position_logits(&rows(), &vocab, PAD)
                .expect("dense");
            for (g, w) in got.iter().zip(&want) {
                let diff = max_diff(g, w);
                eprintln!("{case}: last-position max |Δ logit| {diff:.2e}");
                assert!(diff <= SAME_WEIGHTS, "{case}: {diff}");
            }

            // Every position through the full head (the quantized matmul).
            let ids = tokens(&[vec![1, 5, 9, 13, 17], vec![4, 30, 2, 0, 0]], &device);
            let mask = AttentionMask::right_padded(&[5, 3], 5);
            let normed = |m: &LlamaModel| {
                let hidden = m.forward_hidden(ids.clone(), &mask, None, None);
                m.norm.forward(hidden.reshape([10, m.config.hidden_size]))
            };
            let full = host(model.full_logits(normed(&model)));
            let diff = max_diff(&full, &host(dense.full_logits(normed(&dense))));
            eprintln!("{case}: full-head max |Δ logit| {diff:.2e}");
            assert!(diff <= SAME_WEIGHTS, "{case}: {diff}");

            // Decoding only some rows gives those columns of the full head.
            let picked = [7u32, 0, 39, 7];
            let some = host(
                model
                    .logits_for_tokens(normed(&model), &picked)
                    .expect("ids in range"),
            );
            let vocab_size = vocab.len();
            for (row, values) in some.chunks_exact(picked.len()).enumerate() {
                for (&id, &value) in picked.iter().zip(values) {
                    let column = full[row * vocab_size + id as usize];
                    assert!(
                        (value - column).abs() <= SAME_WEIGHTS,
                        "{case}: row {row} id {id}"
                    );
                }
            }

            let nll = (model.mean_nll(&rows()[0]), dense.mean_nll(&rows()[0]));
            let (nll, dense_nll) = (nll.0.expect("nll"), nll.1.expect("nll"));
            // A log-softmax moves by at most twice the largest logit error.
            let bound = 2.0 * f64::from(SAME_WEIGHTS);
            assert!(
                (nll - dense_nll).abs() <= bound,
                "{case}: {nll} vs {dense_nll}"
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
    for quant in [WeightQuant::Q8, WeightQuant::Q4] {
        let bundle = open(&format!("plora-{quant}"), block_llama(), quant);
        let model = bundle
            .llm_model(&device, QuantKernel::Dequant)
            .expect("model");
        let dense = dense_from(&bundle, &device);
        assert_in_place(&model);
        let mut plora = bundle.plora().clone();
        seed_banks(&mut plora, &device);
        let crm_dim = plora.config.crm_dim;
        let vocab: Vec<u32> = (0..model.config.vocab_size as u32).collect();

        // One adapter row per prompt row.
        let r_c = tensor2(random_values(2 * crm_dim, 51, 2.0), [2, crm_dim], &device);
        let context = LoraContext::from_representation(&plora, &r_c).expect("fits");
        let adapted = |m: &LlamaModel| {
            m.last_position_logits_adapted(&rows(), &vocab, PAD, Some(&context))
                .expect("adapted")
        };
        let (got, want) = (adapted(&model), adapted(&dense));
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
            assert!(diff <= SAME_WEIGHTS, "{quant}, row {row}: {diff}");
        }

        // Prefix, then suffix through the cache, against the dense model doing the same
        // and against the in-place model without a cache.
        let r_c = tensor2(random_values(crm_dim, 52, 2.0), [1, crm_dim], &device);
        let context = LoraContext::from_representation(&plora, &r_c).expect("fits");
        let ids = [3i64, 17, 22, 8, 25];
        let cached_tail = |m: &LlamaModel| {
            let mut cache = KvCache::new(m.config.num_layers);
            m.forward_hidden(
                tokens(&[ids[..3].to_vec()], &device),
                &AttentionMask::causal(1, 3, 0),
                Some(&mut cache),
                Some(&context),
            );
            host(m.forward_hidden(
                tokens(&[ids[3..].to_vec()], &device),
                &AttentionMask::causal(1, 2, 3),
                Some(&mut cache),
                Some(&context),
            ))
        };
        let tail = cached_tail(&model);
        let diff = max_diff(&tail, &cached_tail(&dense));
        eprintln!("{quant} + PLoRA + KV cache: hidden |Δ| {diff:.2e}");
        assert!(diff <= SAME_WEIGHTS, "{quant}: cached tail {diff}");
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

/// The int8 kernel rounds each 32-block of activations to 8 bits (half a step, max|x|/254,
/// per value; its per-product bound is tested in `quant`). Over the 14 projections of two
/// blocks that compounds to a few percent of the logits, so this is a wiring check: a wrong
/// matrix or kernel would be off by the logits' own size.
#[test]
fn the_int8_kernel_stays_near_the_dense_model() {
    let device = Device::flex();
    let vocab: Vec<u32> = (0..block_llama().vocab_size as u32).collect();
    for quant in [WeightQuant::Q8, WeightQuant::Q4] {
        let bundle = open(&format!("int8-{quant}"), block_llama(), quant);
        let model = bundle.llm_model(&device, QuantKernel::Int8).expect("model");
        assert_in_place(&model);
        let got = model
            .last_position_logits(&rows(), &vocab, PAD)
            .expect("int8");
        let want = dense_from(&bundle, &device)
            .last_position_logits(&rows(), &vocab, PAD)
            .expect("dense");
        for (row, (g, w)) in got.iter().zip(&want).enumerate() {
            let spread = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let diff = max_diff(g, w);
            eprintln!("{quant} int8, row {row}: |Δ| {diff:.2e} of max |logit| {spread:.2}");
            assert!(
                diff <= 0.1 * spread,
                "{quant}, row {row}: {diff} vs {spread}"
            );
        }
    }
}

#[test]
fn the_model_is_dense_off_the_plain_cpu_and_for_f32_weights() {
    let flex = Device::flex();
    let rows = rows();
    let bundle = open("dense-autodiff", block_llama(), WeightQuant::Q8);
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

    let bundle = open("dense-f32", block_llama(), WeightQuant::F32);
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
