//! Every malformed input is a typed error naming what and where.

use std::sync::Arc;

use half::f16;

use crate::quant::{
    QK, QuantError, QuantizedMatrix, QuantizedMatrixBuf, SharedBytes, SharedMatrix, WeightQuant,
    matmul_transposed, matmul_transposed_int8,
};

fn q8_bytes(rows: usize, cols: usize) -> Vec<u8> {
    let values: Vec<f32> = (0..rows * cols).map(|i| (i % 7) as f32 - 3.0).collect();
    let matrix = QuantizedMatrixBuf::quantize(WeightQuant::Q8, rows, cols, &values).unwrap();
    matrix.view().as_bytes().to_vec()
}

/// `len` bytes starting at an address ≡ 1 (mod 2), inside `storage`.
fn odd_slice(storage: &mut Vec<u8>, len: usize) -> &mut [u8] {
    storage.resize(len + 1, 0);
    let skip = usize::from((storage.as_ptr() as usize).is_multiple_of(2));
    &mut storage[skip..skip + len]
}

#[test]
fn nan_and_infinite_scales_are_rejected_with_their_position() {
    let (rows, cols) = (4, 3 * QK);
    for (quant, bad, expect_nan) in [
        (WeightQuant::Q8, f16::NAN, true),
        (WeightQuant::Q4, f16::INFINITY, false),
    ] {
        let values = vec![0.25f32; rows * cols];
        let good = QuantizedMatrixBuf::quantize(quant, rows, cols, &values).unwrap();
        let mut bytes = good.view().as_bytes().to_vec();
        // Row 2, block 1: the scale is the block's first two bytes.
        let offset = (2 * (cols / QK) + 1) * quant.unit_bytes();
        bytes[offset..offset + 2].copy_from_slice(&bad.to_le_bytes());

        let err = QuantizedMatrixBuf::from_vec(quant, rows, cols, bytes.clone()).unwrap_err();
        match err {
            QuantError::NonFiniteScale {
                row: 2,
                block: 1,
                scale,
                ..
            } => assert_eq!(scale.is_nan(), expect_nan),
            other => panic!("{quant}: expected NonFiniteScale at row 2 block 1, got {other}"),
        }
        let shared = SharedMatrix::new(
            Arc::new(bytes),
            0..good.view().as_bytes().len(),
            quant,
            rows,
            cols,
        );
        assert!(matches!(
            shared,
            Err(QuantError::NonFiniteScale {
                row: 2,
                block: 1,
                ..
            })
        ));
    }
}

#[test]
fn layout_errors_are_typed() {
    let bytes = q8_bytes(2, QK);
    let err = QuantizedMatrix::from_bytes(WeightQuant::Q8, 2, 48, &bytes).unwrap_err();
    assert!(matches!(
        err,
        QuantError::ColsNotBlockAligned {
            cols: 48,
            block: 32,
            ..
        }
    ));

    let err = QuantizedMatrix::from_bytes(WeightQuant::Q8, 3, QK, &bytes).unwrap_err();
    assert!(matches!(
        err,
        QuantError::ByteLength {
            expected: 102,
            found: 68,
            ..
        }
    ));

    let mut storage = Vec::new();
    let odd = odd_slice(&mut storage, bytes.len());
    odd.copy_from_slice(&bytes);
    let err = QuantizedMatrix::from_bytes(WeightQuant::Q8, 2, QK, odd).unwrap_err();
    assert!(matches!(
        err,
        QuantError::Misaligned {
            align: 2,
            address_mod: 1,
            ..
        }
    ));

    let err = SharedMatrix::new(Arc::new(bytes.clone()), 10..200, WeightQuant::Q8, 2, QK);
    assert!(matches!(
        err,
        Err(QuantError::ByteLength { expected: 68, .. })
    ));

    // A view of other bytes cannot be shared as part of these.
    let elsewhere = QuantizedMatrix::from_bytes(WeightQuant::Q8, 2, QK, &bytes[..68]).unwrap();
    let unrelated: SharedBytes = Arc::new(vec![0u8; 400]);
    assert!(matches!(
        SharedMatrix::within(unrelated, &elsewhere),
        Err(QuantError::NotWithin {
            len: 68,
            shared_len: 400
        })
    ));

    // Float formats have no blocks: any width, but their own alignment.
    let f32s = vec![0u8; 3 * 5 * 4];
    assert!(QuantizedMatrix::from_bytes(WeightQuant::F32, 3, 5, &f32s).is_ok());
}

#[test]
fn quantizer_inputs_are_checked() {
    let err = QuantizedMatrixBuf::quantize(WeightQuant::Q4, 2, QK, &[0.0; 63]).unwrap_err();
    assert!(matches!(err, QuantError::ValueCount { found: 63, .. }));

    let mut values = vec![0.0f32; 2 * QK];
    values[QK + 3] = f32::NAN;
    let err = QuantizedMatrixBuf::quantize(WeightQuant::Q8, 2, QK, &values).unwrap_err();
    assert!(matches!(
        err,
        QuantError::NonFiniteValue { row: 1, col: 3, .. }
    ));

    // 1e7 / 127 ≈ 78 740 is past f16's 65 504.
    values[QK + 3] = 1e7;
    let err = QuantizedMatrixBuf::quantize(WeightQuant::Q8, 2, QK, &values).unwrap_err();
    assert!(matches!(
        err,
        QuantError::ScaleOverflow {
            row: 1,
            block: 0,
            ..
        }
    ));
}

#[test]
fn input_of_the_wrong_width_is_rejected_by_both_kernels() {
    let w = QuantizedMatrixBuf::from_vec(WeightQuant::Q8, 2, QK, q8_bytes(2, QK)).unwrap();
    for result in [
        matmul_transposed(&[0.0; 33], &w.view()),
        matmul_transposed_int8(&[0.0; 33], &w.view()),
    ] {
        assert!(matches!(
            result,
            Err(QuantError::InputLength { len: 33, cols: 32 })
        ));
    }
    assert_eq!(
        matmul_transposed(&[], &w.view()).unwrap(),
        Vec::<f32>::new()
    );
}

#[test]
fn manifest_names_are_lowercase() {
    for (quant, name) in [
        (WeightQuant::Q8, "\"q8\""),
        (WeightQuant::Q4, "\"q4\""),
        (WeightQuant::F16, "\"f16\""),
        (WeightQuant::F32, "\"f32\""),
    ] {
        assert_eq!(serde_json::to_string(&quant).unwrap(), name);
        assert_eq!(serde_json::from_str::<WeightQuant>(name).unwrap(), quant);
    }
    assert!(serde_json::from_str::<WeightQuant>("\"Q8\"").is_err());
}
