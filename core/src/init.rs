//! Parameter initialization drawn on the host from a seeded [`SplitMix64`] stream.
//!
//! burn's initializers draw from the backend's process-global RNG, so a model built while
//! another thread (another test, another job) draws too gets different weights from the same
//! seed. Drawing here makes every fresh module a function of its seed alone; the laws are
//! burn's (and PyTorch's) defaults.

use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::tensor::{Device, Tensor, TensorData};

use crate::rng::SplitMix64;

/// A `[rows, cols]` parameter, U(−bound, bound), drawn row-major.
pub fn uniform_matrix(
    rows: usize,
    cols: usize,
    bound: f64,
    stream: &mut SplitMix64,
    device: &Device,
) -> Param<Tensor<2>> {
    let values: Vec<f32> = (0..rows * cols).map(|_| stream.symmetric(bound)).collect();
    Param::from_tensor(Tensor::from_data(
        TensorData::new(values, [rows, cols]),
        device,
    ))
}

/// A linear layer `[d_in, d_out]` with bias, weight then bias U(−1/√d_in, 1/√d_in): burn's
/// (and PyTorch's) default Kaiming-uniform law.
pub fn linear(d_in: usize, d_out: usize, stream: &mut SplitMix64, device: &Device) -> Linear {
    let bound = 1.0 / (d_in as f64).sqrt();
    let weight = uniform_matrix(d_in, d_out, bound, stream, device);
    let bias: Vec<f32> = (0..d_out).map(|_| stream.symmetric(bound)).collect();
    Linear {
        weight,
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [d_out]),
            device,
        ))),
    }
}

/// An embedding table `[rows, d]`, N(0, std²), drawn row-major.
pub fn embedding(
    rows: usize,
    d: usize,
    std: f64,
    stream: &mut SplitMix64,
    device: &Device,
) -> Embedding {
    let values: Vec<f32> = (0..rows * d).map(|_| stream.normal(0.0, std)).collect();
    Embedding {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(values, [rows, d]),
            device,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_into_vec::<f32>().expect("f32")
    }

    #[test]
    fn a_linear_layer_is_its_seed_alone() {
        let device = Device::flex();
        let draw = |seed| {
            let layer = linear(16, 3, &mut SplitMix64::new(seed), &device);
            let bias = layer.bias.as_ref().expect("bias").val();
            (values(layer.weight.val()), values(bias))
        };
        let (w, b) = draw(5);
        assert_eq!((w.clone(), b.clone()), draw(5));
        assert_ne!(w, draw(6).0);
        // The same stream, by hand: 48 weights row-major, then 3 biases, U(±1/4).
        let mut stream = SplitMix64::new(5);
        let expected: Vec<f32> = (0..51).map(|_| stream.symmetric(0.25)).collect();
        assert_eq!(w, expected[..48]);
        assert_eq!(b, expected[48..]);
        assert!(w.iter().chain(&b).all(|v| v.abs() < 0.25));
    }

    #[test]
    fn an_embedding_has_the_asked_spread() {
        let device = Device::flex();
        let table = embedding(500, 64, 0.01, &mut SplitMix64::new(2), &device);
        let v = values(table.weight.val());
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let std = (v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        // 32,000 draws: sd of the sample std about 0.01/√64000 ≈ 4e-5.
        assert!(mean.abs() < 3e-4, "{mean}");
        assert!((std - 0.01).abs() < 3e-4, "{std}");
    }
}
