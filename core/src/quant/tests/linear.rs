//! `QuantLinear` on burn tensors against burn's dense matmul over the same weights.

use burn::tensor::{Tensor, TensorData};

use super::random_values;
use crate::BackendKind;
use crate::quant::{
    QK, QuantError, QuantKernel, QuantLinearConfig, WeightQuant, matmul_transposed,
};

#[test]
fn quant_linear_matches_dense_burn_matmul_on_flex() {
    let device = BackendKind::Cpu.device().unwrap();
    let (out_features, in_features) = (40, 2 * QK);
    let weight = random_values(41, out_features * in_features, 0.3);
    let bias = random_values(42, out_features, 1.0);
    let x = random_values(43, 2 * 3 * in_features, 1.0);

    let config = QuantLinearConfig {
        quant: WeightQuant::Q4,
        kernel: QuantKernel::Dequant,
    };
    let linear = config
        .init(&weight, out_features, in_features, Some(bias.clone()))
        .unwrap();
    let dequantized = linear.weight().view().dequantize();
    let w_dense = Tensor::<2>::from_data(
        TensorData::new(dequantized, [out_features, in_features]),
        &device,
    );
    let b_dense = Tensor::<1>::from_data(TensorData::new(bias.clone(), [out_features]), &device);
    let input = Tensor::<3>::from_data(TensorData::new(x.clone(), [2, 3, in_features]), &device);
    let y = linear.forward(input.clone()).unwrap();
    assert_eq!(y.dims(), [2, 3, out_features]);
    let y = y.into_data().try_to_vec::<f32>().unwrap();
    let y_dense = (input.reshape([6, in_features]).matmul(w_dense.transpose())
        + b_dense.unsqueeze::<2>())
    .into_data()
    .try_to_vec::<f32>()
    .unwrap();

    let mut y_kernel = matmul_transposed(&x, &linear.weight().view()).unwrap();
    for (v, b) in y_kernel.iter_mut().zip(bias.iter().cycle()) {
        *v += b;
    }
    assert_eq!(y, y_kernel, "forward adds the bias to the kernel's product");
    let worst = y
        .iter()
        .zip(&y_dense)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "QuantLinear vs dense matmul: {worst:e}");
}

#[test]
fn bias_of_the_wrong_length_is_rejected() {
    let config = QuantLinearConfig {
        quant: WeightQuant::Q8,
        kernel: QuantKernel::Int8,
    };
    let err = config
        .init(&[0.0; 2 * QK], 2, QK, Some(vec![0.0; 3]))
        .unwrap_err();
    assert!(matches!(
        err,
        QuantError::BiasLength {
            expected: 2,
            found: 3
        }
    ));
}
