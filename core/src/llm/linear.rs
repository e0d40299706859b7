//! Dense projection helpers shared by attention and MLP.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

/// Builds a burn `Linear` from a PyTorch-layout weight `[out, in]` (row-major values).
///
/// burn keeps `[in, out]`, so the values are transposed once here on the host rather
/// than at every forward.
pub fn linear_from_torch_layout(
    weight_out_in: &[f32],
    out_features: usize,
    in_features: usize,
    bias: Option<Vec<f32>>,
    device: &Device,
) -> Linear {
    let mut transposed = vec![0.0f32; weight_out_in.len()];
    for (row, chunk) in weight_out_in.chunks_exact(in_features).enumerate() {
        for (col, &value) in chunk.iter().enumerate() {
            transposed[col * out_features + row] = value;
        }
    }
    let weight = Tensor::<2>::from_data(
        TensorData::new(transposed, [in_features, out_features]),
        device,
    );
    Linear {
        weight: Param::from_tensor(weight),
        bias: bias.map(|b| {
            Param::from_tensor(Tensor::<1>::from_data(
                TensorData::new(b, [out_features]),
                device,
            ))
        }),
    }
}
