//! Our blocks against the GGUF reader. Both quantize with `BlockQ8/BlockQ4::quantize`,
//! which `gguf::tests::golden` checks against gguf-py's outputs; here the matrix layout is
//! checked against the GGUF byte stream, and our decoding against the GGUF dequantizers.

use half::f16;

use super::random_values;
use crate::gguf::{GgmlType, dequantize_into, quantize_q4_0, quantize_q8_0};
use crate::quant::{QK, QuantizedMatrixBuf, WeightQuant};
use crate::rng::SplitMix64;

const ROWS: usize = 6;
const COLS: usize = 4 * QK;

/// Random values plus the edge cases: zero block, a tie in magnitude, a lone extreme.
fn awkward_values() -> Vec<f32> {
    let mut values = random_values(11, ROWS * COLS, 2.0);
    values[..QK].fill(0.0);
    values[QK] = 1.5;
    values[QK + 1] = -1.5;
    values[2 * QK + 5] = 40.0;
    values
}

/// Row-major matrices of blocks are exactly GGUF's tensor bytes.
#[test]
fn quantized_matrix_bytes_equal_the_gguf_tensor_bytes() {
    let values = awkward_values();
    for (quant, ggml) in [
        (WeightQuant::Q8, quantize_q8_0(&values)),
        (WeightQuant::Q4, quantize_q4_0(&values)),
    ] {
        let ours = QuantizedMatrixBuf::quantize(quant, ROWS, COLS, &values).unwrap();
        assert_eq!(ours.view().as_bytes(), ggml.unwrap().as_slice(), "{quant}");
    }
}

/// Any finite-scale bytes (not only our quantizer's) decode bit for bit like ggml.
#[test]
fn arbitrary_bytes_dequantize_like_ggml() {
    let mut rng = SplitMix64::new(3);
    for (quant, ggml_type) in [
        (WeightQuant::Q8, GgmlType::Q8_0),
        (WeightQuant::Q4, GgmlType::Q4_0),
    ] {
        let unit = quant.unit_bytes();
        let mut bytes: Vec<u8> = (0..ROWS * COLS / QK * unit)
            .map(|_| rng.next_u64() as u8)
            .collect();
        for block in bytes.chunks_exact_mut(unit) {
            let d = f16::from_f32((rng.unit_f32() - 0.5) * 0.2);
            block[..2].copy_from_slice(&d.to_le_bytes());
        }
        let mut expected = vec![0.0f32; ROWS * COLS];
        dequantize_into(ggml_type, &bytes, &mut expected).unwrap();

        let ours = QuantizedMatrixBuf::from_vec(quant, ROWS, COLS, bytes).unwrap();
        let decoded = ours.view().dequantize();
        let same_bits = decoded
            .iter()
            .zip(&expected)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same_bits, "{quant} differs from ggml's {ggml_type:?}");
    }
}
