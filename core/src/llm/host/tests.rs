//! The routes compute the same function: the whole model on the host kernels against the
//! same model on burn's generic operations (forward, padding, KV cache, bias, GQA), and the
//! custom backward passes against burn's own autodiff of the generic operations.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{Route, with_generic_route};
use crate::llm::{AttentionMask, KvCache, LlamaConfig, LlamaModel, SeededWeights};
use crate::plora::{LoraContext, MixtureForm, Plora, PloraConfig, ProjectionKind};
use crate::rng::SplitMix64;

const PAD: u32 = 0;

/// Group 3 (6 query heads over 2 KV heads) and q/k/v biases, unlike SmolLM2, so the
/// GQA order and the bias path are both exercised.
fn config() -> LlamaConfig {
    LlamaConfig {
        num_heads: 6,
        num_kv_heads: 2,
        head_dim: 8,
        hidden_size: 40,
        intermediate_size: 56,
        attention_bias: true,
        ..LlamaConfig::tiny_for_tests()
    }
}

fn model(device: &Device) -> LlamaModel {
    let config = config();
    config
        .init_from(&SeededWeights::new(config.clone(), 23), device)
        .expect("tiny model")
}

fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().expect("f32")
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn largest(a: &[f32]) -> f32 {
    a.iter().map(|v| v.abs()).fold(0.0, f32::max)
}

fn ragged_rows() -> Vec<Vec<u32>> {
    vec![
        vec![3, 17, 42, 8, 25, 11, 2],
        vec![9, 4, 30],
        vec![5, 6, 7, 8, 9, 60],
    ]
}

fn ids(rows: &[Vec<u32>], seq: usize, device: &Device) -> Tensor<2, Int> {
    let values: Vec<i64> = rows
        .iter()
        .flat_map(|r| (0..seq).map(|j| r.get(j).map_or(i64::from(PAD), |&t| i64::from(t))))
        .collect();
    Tensor::from_data(TensorData::new(values, [rows.len(), seq]), device)
}

#[test]
fn host_forward_matches_the_generic_forward_at_every_position() {
    let device = Device::flex();
    assert_eq!(Route::of(&device), Route::Host);
    let model = model(&device);
    let rows = ragged_rows();
    let lengths: Vec<usize> = rows.iter().map(Vec::len).collect();
    let mask = AttentionMask::right_padded(&lengths, 7);
    let run = || host(model.forward_hidden(ids(&rows, 7, &device), &mask, None, None));
    let (kernels, generic) = (run(), with_generic_route(run));
    // f32 with other summation orders: a few ULPs of hidden states of size ~10.
    let error = max_diff(&kernels, &generic);
    assert!(
        largest(&generic) > 1.0,
        "hidden states too small to compare"
    );
    assert!(error < 2e-5 * largest(&generic), "max |Δ| {error}");

    let vocab: Vec<u32> = (0..config().vocab_size as u32).collect();
    let logits = || {
        model
            .last_position_logits(&rows, &vocab, PAD)
            .expect("logits")
    };
    let (kernels, generic) = (logits(), with_generic_route(logits));
    for (a, b) in kernels.iter().zip(&generic) {
        assert!(max_diff(a, b) < 1e-4, "logits differ by {}", max_diff(a, b));
    }
}

/// Suffixes packed after a cached prefix (per-user slates): the kernels equal burn's
/// generic route, and every suffix position equals its twin in the whole row run uncached.
#[test]
fn packed_suffixes_after_a_cache_match_the_generic_route_and_the_uncached_rows() {
    let device = Device::flex();
    let model = model(&device);
    let prefix = [3u32, 17, 42, 8, 25];
    let suffixes = vec![vec![11u32, 2], vec![9], vec![5, 6, 7]];
    let ids_of = |rows: &[Vec<u32>], seq| ids(rows, seq, &device);
    let packed: Vec<u32> = suffixes.concat();
    let cached = || {
        let mut cache = KvCache::new(model.config.num_layers);
        let prefix_ids = ids_of(&[prefix.to_vec()], prefix.len());
        let mask = AttentionMask::causal(1, prefix.len(), 0);
        model.forward_hidden(prefix_ids, &mask, Some(&mut cache), None);
        let lengths: Vec<usize> = suffixes.iter().map(Vec::len).collect();
        let mask = AttentionMask::packed_after(&lengths, prefix.len());
        let packed_ids = ids_of(&[packed.clone()], packed.len());
        host(model.forward_hidden(packed_ids, &mask, Some(&mut cache), None))
    };
    let (kernels, generic) = (cached(), with_generic_route(cached));
    assert!(max_diff(&kernels, &generic) < 2e-5 * largest(&generic));

    let whole: Vec<Vec<u32>> = suffixes
        .iter()
        .map(|s| prefix.iter().chain(s).copied().collect())
        .collect();
    let lengths: Vec<usize> = whole.iter().map(Vec::len).collect();
    let mask = AttentionMask::right_padded(&lengths, 8);
    let full = host(model.forward_hidden(ids_of(&whole, 8), &mask, None, None));
    let d = config().hidden_size;
    let mut offset = 0;
    for (row, suffix) in suffixes.iter().enumerate() {
        for j in 0..suffix.len() {
            let a = &kernels[(offset + j) * d..][..d];
            let b = &full[(row * 8 + prefix.len() + j) * d..][..d];
            assert!(max_diff(a, b) < 2e-5 * largest(b), "row {row} position {j}");
        }
        offset += suffix.len();
    }
}

/// Every parameter gradient of `plora`, in visiting order.
fn gradients(plora: &Plora, grads: &GradientsParams) -> Vec<Vec<f32>> {
    struct Collect<'a>(&'a GradientsParams, Vec<Vec<f32>>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.0.get::<D>(param.id) {
                self.1.push(host(grad));
            }
        }
    }
    let mut collect = Collect(grads, Vec::new());
    plora.visit(&mut collect);
    collect.1
}

#[test]
fn custom_backward_passes_match_burn_autodiff_of_the_generic_ops() {
    let device = Device::flex().autodiff();
    #[cfg(feature = "autodiff")]
    assert_eq!(Route::of(&device), Route::HostAutodiff);
    let llm = model(&device).no_grad();
    let adapter_config = PloraConfig {
        num_meta: 3,
        rank: 2,
        crm_dim: 8,
        gate_hidden: 6,
        gate_dropout: 0.0,
        targets: ProjectionKind::ALL.to_vec(),
        mixture: MixtureForm::SumOfProducts,
        ..PloraConfig::default()
    };
    let mut plora = adapter_config
        .init_seeded(&llm.config, 4, &device)
        .expect("valid");
    // Random B, so every bank (not only B) gets a gradient through the whole model.
    let mut stream = SplitMix64::new(8);
    for projection in plora
        .layers
        .iter_mut()
        .flat_map(|l| l.projections.iter_mut())
    {
        let [rows, cols] = projection.bank.b.dims();
        let values: Vec<f32> = (0..rows * cols).map(|_| stream.symmetric(0.3)).collect();
        projection.bank.b = Param::from_tensor(Tensor::from_data(
            TensorData::new(values, [rows, cols]),
            &device,
        ));
    }
    let rows = ragged_rows();
    let lengths: Vec<usize> = rows.iter().map(Vec::len).collect();
    let r_c_values: Vec<f32> = (0..3 * 8).map(|_| stream.symmetric(2.0)).collect();
    let weights: Vec<f32> = (0..3 * 7 * 40).map(|_| stream.symmetric(1.0)).collect();
    let run = || {
        let r_c = Tensor::<2>::from_data(TensorData::new(r_c_values.clone(), [3, 8]), &device);
        let context = LoraContext::from_representation(&plora, &r_c).expect("fits");
        let mask = AttentionMask::right_padded(&lengths, 7);
        let hidden = llm.forward_hidden(ids(&rows, 7, &device), &mask, None, Some(&context));
        // A loss over every position's hidden state, padded ones included.
        let projection =
            Tensor::<3>::from_data(TensorData::new(weights.clone(), [3, 7, 40]), &device);
        let loss = (hidden * projection).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &plora);
        gradients(&plora, &grads)
    };
    let (kernels, generic) = (run(), with_generic_route(run));
    assert_eq!(kernels.len(), generic.len());
    assert!(
        kernels.len() >= 2 * 7 * 2,
        "every bank of both layers has gradients"
    );
    let worst = kernels
        .iter()
        .zip(&generic)
        .map(|(a, b)| max_diff(a, b))
        .fold(0.0, f32::max);
    eprintln!("adapter gradients: custom backward vs burn autodiff max |Δ| {worst:.2e}");
    for (i, (a, b)) in kernels.iter().zip(&generic).enumerate() {
        let scale = largest(b).max(1e-3);
        assert!(
            max_diff(a, b) < 1e-4 * scale.max(1.0),
            "gradient {i}: max |Δ| {} of max {scale}",
            max_diff(a, b)
        );
    }
}
