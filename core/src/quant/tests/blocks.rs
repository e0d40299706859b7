//! Single blocks quantized and dequantized by hand.

use half::f16;

use super::random_values;
use crate::quant::{BlockQ4, BlockQ8, QK};

/// f16(12.7 / 127): 1638 / 16384.
const D_TENTH: f64 = 0.0999755859375;

#[test]
fn q8_block_matches_hand_computation() {
    let mut x = [0.0f32; QK];
    x[0] = -12.7;
    x[1] = 3.0;
    x[2] = 0.26;
    x[3] = -0.04;
    x[31] = 12.0;
    let block = BlockQ8::quantize(&x);

    assert_eq!(block.d.to_bits(), 0x2E66);
    assert_eq!(f64::from(block.d.to_f32()), D_TENTH);
    let mut expected_q = [0i8; QK];
    // x / 0.1 rounded: −127, 30, 2.6 → 3, −0.4 → 0, 120.
    expected_q[..4].copy_from_slice(&[-127, 30, 3, 0]);
    expected_q[31] = 120;
    assert_eq!(block.qs, expected_q);

    let mut y = [0.0f32; QK];
    block.dequantize(&mut y);
    for (j, (&yj, &q)) in y.iter().zip(&expected_q).enumerate() {
        // q · 1638/16384 is exact in f32, so the decode must be too.
        assert_eq!(f64::from(yj), f64::from(q) * D_TENTH, "element {j}");
    }
}

#[test]
fn q4_block_matches_hand_computation() {
    let mut x = [0.0f32; QK];
    x[..4].copy_from_slice(&[-4.0, 3.5, 1.2, -0.3]);
    x[16] = 2.0;
    x[17] = -1.0;
    let block = BlockQ4::quantize(&x);

    // Largest magnitude −4 → d = −4 / −8 = 0.5, exact in f16.
    assert_eq!(block.d, f16::from_f32(0.5));
    // nibble = trunc(x / 0.5 + 8.5): 0, 15, 10 (10.9), 7 (7.9), 8 for zeros; 12 and 6 for
    // elements 16 and 17, which sit in the high nibbles of bytes 0 and 1.
    let mut expected = [0x88u8; QK / 2];
    expected[..4].copy_from_slice(&[0xC0, 0x6F, 0x8A, 0x87]);
    assert_eq!(block.qs, expected);

    let mut y = [0.0f32; QK];
    block.dequantize(&mut y);
    let mut want = [0.0f32; QK];
    want[..4].copy_from_slice(&[-4.0, 3.5, 1.0, -0.5]);
    want[16] = 2.0;
    want[17] = -1.0;
    assert_eq!(y, want);
}

#[test]
fn q4_positive_extreme_clips_its_negative_twin_like_ggml() {
    // Ties keep the first value: max = +4 → d = −0.5. Then −4 maps to 16.5, truncated to
    // 16 and clamped to 15, decoding as 7 · −0.5 = −3.5.
    let mut x = [0.0f32; QK];
    x[0] = 4.0;
    x[1] = -4.0;
    let block = BlockQ4::quantize(&x);
    assert_eq!(block.d, f16::from_f32(-0.5));
    assert_eq!(block.qs[0], 0x80);
    assert_eq!(block.qs[1], 0x8F);
    let mut y = [0.0f32; QK];
    block.dequantize(&mut y);
    assert_eq!((y[0], y[1], y[2]), (4.0, -3.5, 0.0));
}

#[test]
fn zero_block_has_zero_scale_and_decodes_to_zeros() {
    let x = [0.0f32; QK];
    let q8 = BlockQ8::quantize(&x);
    let q4 = BlockQ4::quantize(&x);
    assert_eq!((q8.d, q8.qs), (f16::ZERO, [0; QK]));
    assert_eq!((q4.d, q4.qs), (f16::ZERO, [0x88; QK / 2]));
    let mut y = [1.0f32; QK];
    q4.dequantize(&mut y);
    assert_eq!(y, [0.0; QK]);
}

/// Per element: half a step from rounding, plus |q| times the f16 rounding of the scale.
#[test]
fn random_blocks_stay_within_half_a_step() {
    let values = random_values(7, 512 * QK, 3.0);
    let (blocks, _) = values.as_chunks::<QK>();
    let (mut worst_q8, mut worst_q4) = (0.0f64, 0.0f64);
    for x in blocks {
        let amax = x.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())));

        let q8 = BlockQ8::quantize(x);
        let mut y = [0.0f32; QK];
        q8.dequantize(&mut y);
        let step = amax / 127.0;
        let scale_err = (f64::from(q8.d.to_f32()) - step).abs();
        for ((&xj, &yj), &q) in x.iter().zip(&y).zip(&q8.qs) {
            let err = (f64::from(xj) - f64::from(yj)).abs();
            let bound = 0.5 * step + f64::from(q).abs() * scale_err;
            assert!(err <= bound * (1.0 + 1e-6), "q8: {err} > {bound}");
            worst_q8 = worst_q8.max(err / step);
        }

        let q4 = BlockQ4::quantize(x);
        q4.dequantize(&mut y);
        let step = amax / 8.0;
        let scale_err = (f64::from(q4.d.to_f32()).abs() - step).abs();
        for (&xj, &yj) in x.iter().zip(&y) {
            let err = (f64::from(xj) - f64::from(yj)).abs();
            // Values within half a step of −max clamp to nibble 15: up to one step off.
            let bound = step + 8.0 * scale_err;
            assert!(err <= bound * (1.0 + 1e-6), "q4: {err} > {bound}");
            worst_q4 = worst_q4.max(err / step);
        }
    }
    eprintln!("worst error in steps: q8 {worst_q8:.4}, q4 {worst_q4:.4}");
}
