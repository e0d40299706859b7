//! Both kernels against an f64 product of the dequantized weights.

use std::sync::Arc;

use super::{random_values, reference_matmul};
use crate::quant::{
    QK, QuantizedMatrix, QuantizedMatrixBuf, SharedMatrix, WeightQuant, matmul_transposed,
    matmul_transposed_int8,
};

const ALL: [WeightQuant; 4] = [
    WeightQuant::Q8,
    WeightQuant::Q4,
    WeightQuant::F16,
    WeightQuant::F32,
];

/// Largest |y − ref| / Σ|x·w| over the outputs, i.e. the error in units of the worst case
/// f32 rounding can reach.
fn worst_relative(y: &[f32], reference: &[f64], magnitude: &[f64]) -> f64 {
    assert_eq!(y.len(), reference.len());
    y.iter()
        .zip(reference)
        .zip(magnitude)
        .map(|((&v, &r), &m)| (f64::from(v) - r).abs() / m.max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max)
}

/// Shapes that leave partial tiles (4 rows) and partial tasks (16 rows).
const SHAPES: [(usize, usize, usize); 5] = [
    (1, 1, QK),
    (3, 5, 2 * QK),
    (8, 37, 3 * QK),
    (2, 64, QK),
    (5, 19, 18 * QK),
];

#[test]
fn dequant_kernel_equals_f64_product_of_dequantized_weights() {
    let mut worst = 0.0f64;
    for quant in ALL {
        for (seed, &(n, rows, cols)) in SHAPES.iter().enumerate() {
            let seed = seed as u64;
            let w = random_values(100 + seed, rows * cols, 0.5);
            let x = random_values(200 + seed, n * cols, 2.0);
            let w = QuantizedMatrixBuf::quantize(quant, rows, cols, &w).unwrap();
            let (reference, magnitude) = reference_matmul(&x, &w.view().dequantize(), cols);
            let y = matmul_transposed(&x, &w.view()).unwrap();
            let err = worst_relative(&y, &reference, &magnitude);
            assert!(err < 1e-5, "{quant} {n}x{rows}x{cols}: {err:e}");
            worst = worst.max(err);
        }
    }
    eprintln!("dequant kernel: worst |y − ref| / Σ|x·w| = {worst:.2e}");
}

/// x is rounded to 8 bits per block, so each output may move by Σ_blocks ½·d_x·Σ|w|.
#[test]
fn int8_kernel_stays_within_the_activation_rounding_bound() {
    let mut worst_used = 0.0f64;
    for quant in ALL {
        for (seed, &(n, rows, cols)) in SHAPES.iter().enumerate() {
            let seed = seed as u64;
            let w = random_values(300 + seed, rows * cols, 0.5);
            let x = random_values(400 + seed, n * cols, 2.0);
            let w = QuantizedMatrixBuf::quantize(quant, rows, cols, &w).unwrap();
            let w_deq = w.view().dequantize();
            let (reference, magnitude) = reference_matmul(&x, &w_deq, cols);
            let y = matmul_transposed_int8(&x, &w.view()).unwrap();
            let exact_x = matches!(quant, WeightQuant::F16 | WeightQuant::F32);
            for (index, &v) in y.iter().enumerate() {
                let (i, r) = (index / rows, index % rows);
                let xi = &x[i * cols..(i + 1) * cols];
                let wr = &w_deq[r * cols..(r + 1) * cols];
                let rounding: f64 = if exact_x {
                    0.0
                } else {
                    xi.chunks_exact(QK)
                        .zip(wr.chunks_exact(QK))
                        .map(|(xb, wb)| {
                            let step =
                                xb.iter().fold(0.0f64, |m, a| m.max(f64::from(a.abs()))) / 127.0;
                            let w_abs: f64 = wb.iter().map(|b| f64::from(b.abs())).sum();
                            0.5 * step * w_abs
                        })
                        .sum()
                };
                let bound = rounding * (1.0 + 1e-4) + 1e-5 * magnitude[index];
                let err = (f64::from(v) - reference[index]).abs();
                assert!(
                    err <= bound,
                    "{quant} {n}x{rows}x{cols} [{i},{r}]: {err} > {bound}"
                );
                worst_used = worst_used.max(err / bound);
            }
        }
    }
    eprintln!("int8 kernel: worst error / bound = {worst_used:.3}");
}

/// SmolLM2's MLP up-projection at scoring batch size, both quantized formats.
#[test]
fn smollm2_mlp_shape_matches_reference() {
    let (n, rows, cols) = (8, 1536, 576);
    let w = random_values(21, rows * cols, 0.05);
    let x = random_values(22, n * cols, 1.0);
    for quant in [WeightQuant::Q8, WeightQuant::Q4] {
        let w = QuantizedMatrixBuf::quantize(quant, rows, cols, &w).unwrap();
        let (reference, magnitude) = reference_matmul(&x, &w.view().dequantize(), cols);
        let y = matmul_transposed(&x, &w.view()).unwrap();
        let err = worst_relative(&y, &reference, &magnitude);
        let rel_to_y = y
            .iter()
            .zip(&reference)
            .map(|(&v, &r)| (f64::from(v) - r).abs())
            .fold(0.0, f64::max)
            / reference.iter().fold(0.0f64, |m, r| m.max(r.abs()));
        eprintln!("{quant} [8,576]x[1536,576]ᵀ: /Σ|xw| {err:.2e}, /max|y| {rel_to_y:.2e}");
        assert!(
            err < 1e-5 && rel_to_y < 1e-5,
            "{quant}: {err:e} {rel_to_y:e}"
        );
    }
}

/// The same bytes give the same product whether owned or read in place from a file map.
#[test]
fn product_reads_weights_in_place_from_an_mmap() {
    let (n, rows, cols) = (3, 10, 2 * QK);
    let w = random_values(31, rows * cols, 1.0);
    let x = random_values(32, n * cols, 1.0);
    let owned = QuantizedMatrixBuf::quantize(WeightQuant::Q4, rows, cols, &w).unwrap();

    // 4 header bytes, as a safetensors payload would sit after its header.
    let path_dir = reclora_test_support::TempDir::new("quant");
    let path = path_dir.join("file.bin");
    let mut file_bytes = vec![0xAB; 4];
    file_bytes.extend_from_slice(owned.view().as_bytes());
    std::fs::write(&path, &file_bytes).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: the file is ours and nobody writes it while mapped.
    let map = Arc::new(unsafe { memmap2::Mmap::map(&file) }.unwrap());
    std::fs::remove_file(&path).unwrap();

    let range = 4..file_bytes.len();
    let shared = SharedMatrix::new(map.clone(), range.clone(), WeightQuant::Q4, rows, cols);
    let shared = shared.unwrap();
    assert_eq!(
        shared.view().as_bytes().as_ptr(),
        map[4..].as_ptr(),
        "not a copy"
    );
    let view = QuantizedMatrix::from_bytes(WeightQuant::Q4, rows, cols, &map[range]).unwrap();
    // A view parsed from the map, shared without a copy: the same range as `new` found.
    let within = SharedMatrix::within(map.clone(), &view).unwrap();
    assert_eq!(within.view().as_bytes().as_ptr(), map[4..].as_ptr());
    assert_eq!((within.rows(), within.cols()), (rows, cols));

    let expected = matmul_transposed(&x, &owned.view()).unwrap();
    assert_eq!(matmul_transposed(&x, &shared.view()).unwrap(), expected);
    assert_eq!(matmul_transposed(&x, &view).unwrap(), expected);
    assert_eq!(matmul_transposed(&x, &within.view()).unwrap(), expected);
}
