//! The adapter's starting point, drawn from the run's seed on the host so that every mode
//! and every resumed or repeated run starts from the same weights, whatever else uses the
//! backend's (process-global) RNG meanwhile.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use reclora_core::LlamaConfig;
use reclora_core::plora::{Gate, Plora, PloraConfig};

use super::error::FinetuneError;
use super::random::{SplitMix64, derive_seed};

/// Tag of the init stream.
const INIT_TAG: u64 = 2;

/// A fresh adapter for `llm` initialized as [`PloraConfig::init`] does (A_k and gate
/// linears U(−1/√fan_in, 1/√fan_in), B = 0, LayerNorm identity) but from `seed`.
pub fn seeded_adapter(
    config: &PloraConfig,
    llm: &LlamaConfig,
    seed: u64,
    device: &Device,
) -> Result<Plora, FinetuneError> {
    let mut plora = config.init(llm, device)?;
    let mut stream = SplitMix64::new(derive_seed(seed, INIT_TAG));
    for projection in plora
        .layers
        .iter_mut()
        .flat_map(|l| l.projections.iter_mut())
    {
        let bank = &mut projection.bank;
        bank.a = uniform_param(&bank.a, bank.d_in, &mut stream, device);
        if let Some(gate) = &mut projection.gate {
            reseed_gate(gate, &mut stream, device);
        }
    }
    if let Some(gate) = &mut plora.shared_gate {
        reseed_gate(gate, &mut stream, device);
    }
    Ok(plora)
}

fn reseed_gate(gate: &mut Gate, stream: &mut SplitMix64, device: &Device) {
    reseed_linear(&mut gate.hidden, stream, device);
    reseed_linear(&mut gate.output, stream, device);
}

fn reseed_linear(linear: &mut Linear, stream: &mut SplitMix64, device: &Device) {
    let fan_in = linear.weight.val().dims()[0];
    linear.weight = uniform_param(&linear.weight, fan_in, stream, device);
    if let Some(bias) = &linear.bias {
        let len = bias.val().dims()[0];
        let bound = 1.0 / (fan_in as f64).sqrt();
        let values: Vec<f32> = (0..len).map(|_| stream.symmetric(bound)).collect();
        linear.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(values, [len]),
            device,
        )));
    }
}

/// A tensor shaped like `like`, U(−1/√fan_in, 1/√fan_in).
fn uniform_param(
    like: &Param<Tensor<2>>,
    fan_in: usize,
    stream: &mut SplitMix64,
    device: &Device,
) -> Param<Tensor<2>> {
    let shape = like.val().dims();
    let bound = 1.0 / (fan_in as f64).sqrt();
    let values: Vec<f32> = (0..shape[0] * shape[1])
        .map(|_| stream.symmetric(bound))
        .collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}
