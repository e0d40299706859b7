//! The gate against a scalar-loop LayerNorm → Linear → ReLU → Linear → /t_p → softmax.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::helpers::{host, param2, random_values, tensor2};
use crate::plora::Gate;
use crate::rng::SplitMix64;

fn vector(values: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
    let len = values.len();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, [len]), device))
}

/// y = x·W + b with W stored `[in, out]`.
fn dense(x: &[f64], w: &[f32], b: &[f32], out: usize) -> Vec<f64> {
    (0..out)
        .map(|o| {
            f64::from(b[o])
                + x.iter()
                    .enumerate()
                    .map(|(i, &v)| v * f64::from(w[i * out + o]))
                    .sum::<f64>()
        })
        .collect()
}

#[test]
fn gate_matches_a_scalar_reference_and_rows_sum_to_one() {
    let device = Device::flex();
    let (batch, crm_dim, hidden, num_meta, temperature) = (3, 7, 5, 4, 5.0);
    let gamma = random_values(crm_dim, 21, 0.5)
        .iter()
        .map(|v| 1.0 + v)
        .collect::<Vec<_>>();
    let beta = random_values(crm_dim, 22, 0.3);
    let w1 = random_values(crm_dim * hidden, 23, 1.0);
    let b1 = random_values(hidden, 24, 0.5);
    let w2 = random_values(hidden * num_meta, 25, 2.0);
    let b2 = random_values(num_meta, 26, 1.0);
    let mut gate = Gate::init(
        crm_dim,
        hidden,
        num_meta,
        0.1,
        temperature,
        &mut SplitMix64::new(1),
        &device,
    )
    .expect("valid");
    gate.norm.gamma = vector(gamma.clone(), &device);
    gate.norm.beta = Some(vector(beta.clone(), &device));
    gate.hidden.weight = param2(w1.clone(), [crm_dim, hidden], &device);
    gate.hidden.bias = Some(vector(b1.clone(), &device));
    gate.output.weight = param2(w2.clone(), [hidden, num_meta], &device);
    gate.output.bias = Some(vector(b2.clone(), &device));
    let gate = gate.valid();

    // Rows at different offsets and scales, so LayerNorm has work to do.
    let r_c: Vec<f32> = random_values(batch * crm_dim, 27, 3.0)
        .iter()
        .enumerate()
        .map(|(i, v)| v + (i / crm_dim) as f32)
        .collect();
    let got = host(gate.forward(tensor2(r_c.clone(), [batch, crm_dim], &device)));

    let mut largest_error = 0.0f64;
    for (row, got_row) in r_c.chunks_exact(crm_dim).zip(got.chunks_exact(num_meta)) {
        let x: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        let mean = x.iter().sum::<f64>() / crm_dim as f64;
        // PyTorch's LayerNorm: biased variance, eps 1e-5.
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / crm_dim as f64;
        let normed: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (v - mean) / (var + 1e-5).sqrt() * f64::from(gamma[i]) + f64::from(beta[i])
            })
            .collect();
        let h: Vec<f64> = dense(&normed, &w1, &b1, hidden)
            .into_iter()
            .map(|v| v.max(0.0))
            .collect();
        let logits: Vec<f64> = dense(&h, &w2, &b2, num_meta)
            .into_iter()
            .map(|v| v / temperature)
            .collect();
        let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = logits.iter().map(|v| (v - top).exp()).sum();
        for (k, &g) in got_row.iter().enumerate() {
            let want = (logits[k] - top).exp() / total;
            largest_error = largest_error.max((f64::from(g) - want).abs());
        }
        let row_sum: f32 = got_row.iter().sum();
        assert!((row_sum - 1.0).abs() < 1e-6, "row sums to {row_sum}");
    }
    eprintln!("gate: max |Δ| vs scalar reference = {largest_error:.2e}");
    assert!(largest_error < 1e-6, "{largest_error}");
    // Not uniform: the test would pass trivially if the gate ignored its input.
    let spread = got.iter().fold(0.0f32, |m, &v| m.max((v - 0.25).abs()));
    assert!(spread > 0.01, "α is nearly uniform ({spread})");
}

#[test]
fn gate_rejects_bad_dropout_and_temperature() {
    let device = Device::flex();
    assert!(matches!(
        Gate::init(4, 3, 2, 1.0, 5.0, &mut SplitMix64::new(1), &device),
        Err(crate::plora::PloraError::BadDropout(_))
    ));
    assert!(matches!(
        Gate::init(4, 3, 2, 0.1, 0.0, &mut SplitMix64::new(1), &device),
        Err(crate::plora::PloraError::BadTemperature(_))
    ));
}
