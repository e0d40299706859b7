//! Deterministic random values and host/device conversions for the PLoRA tests.

use burn::module::Param;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::llm::LlamaConfig;
use crate::rng::SplitMix64;

/// Values in [-scale, scale), the same on every machine (splitmix64).
pub fn random_values(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut stream = SplitMix64::new(seed);
    (0..len)
        .map(|_| (stream.unit_f32() * 2.0 - 1.0) * scale)
        .collect()
}

pub fn tensor2(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub fn tensor3(values: Vec<f32>, shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub fn param2(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(tensor2(values, shape, device))
}

pub fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().expect("f32 data")
}

pub fn tokens(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let seq = rows[0].len();
    let flat: Vec<i64> = rows.concat();
    Tensor::from_data(TensorData::new(flat, [rows.len(), seq]), device)
}

/// 2 layers, d 16, 2 query heads sharing 1 KV head, vocab 50.
pub fn tiny_llama() -> LlamaConfig {
    LlamaConfig {
        vocab_size: 50,
        hidden_size: 16,
        intermediate_size: 24,
        num_layers: 2,
        num_heads: 2,
        num_kv_heads: 1,
        head_dim: 8,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        max_position_embeddings: 32,
        tie_word_embeddings: false,
        attention_bias: false,
    }
}

/// Largest |a − b| over two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - y).abs())
        .fold(0.0, f64::max)
}

/// Host copy of one bank: A_cat `[d_in, N·r]` and B_catᵀ `[N·r, d_out]`, row-major.
#[derive(Debug, Clone)]
pub struct HostBank {
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub d_in: usize,
    pub d_out: usize,
    pub num_meta: usize,
    pub rank: usize,
}

impl HostBank {
    /// A_k[i][j].
    fn a_k(&self, k: usize, i: usize, j: usize) -> f64 {
        f64::from(self.a[i * self.num_meta * self.rank + k * self.rank + j])
    }

    /// B_k[o][j] (B_k is `[d_out, r]`; B_catᵀ stores its transpose).
    fn b_k(&self, k: usize, o: usize, j: usize) -> f64 {
        f64::from(self.b[(k * self.rank + j) * self.d_out + o])
    }

    /// The dense per-sample ΔW `[d_in, d_out]` (row-major, x·ΔW convention) with plain
    /// f64 loops: scaling·Σ_k α_k A_k B_kᵀ, or scaling·(Σα_k A_k)(Σα_k B_k)ᵀ.
    pub fn dense_delta(&self, alpha: &[f64], scaling: f64, product_of_sums: bool) -> Vec<f64> {
        let (n, r) = (self.num_meta, self.rank);
        let mut delta = vec![0.0f64; self.d_in * self.d_out];
        for i in 0..self.d_in {
            for o in 0..self.d_out {
                let mut sum = 0.0;
                if product_of_sums {
                    for j in 0..r {
                        let mixed_a: f64 = (0..n).map(|k| alpha[k] * self.a_k(k, i, j)).sum();
                        let mixed_b: f64 = (0..n).map(|k| alpha[k] * self.b_k(k, o, j)).sum();
                        sum += mixed_a * mixed_b;
                    }
                } else {
                    for (k, &weight) in alpha.iter().enumerate().take(n) {
                        for j in 0..r {
                            sum += weight * self.a_k(k, i, j) * self.b_k(k, o, j);
                        }
                    }
                }
                delta[i * self.d_out + o] = scaling * sum;
            }
        }
        delta
    }
}

/// x·ΔW for every row of x `[rows, d_in]` (row-major), in f64.
pub fn apply_dense(x: &[f32], delta: &[f64], d_in: usize, d_out: usize) -> Vec<f64> {
    x.chunks_exact(d_in)
        .flat_map(|row| {
            (0..d_out).map(move |o| {
                row.iter()
                    .enumerate()
                    .map(|(i, &v)| f64::from(v) * delta[i * d_out + o])
                    .sum::<f64>()
            })
        })
        .collect()
}
