//! Formats, packing and validation; every kernel against the portable one (bit for bit) and
//! against f64 references (within stated bounds); thread-count determinism; detection.

use super::blocks::{BlockQ4_1, BlockQ8_0};
use super::*;

/// splitmix64: a small seeded generator for test inputs.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f32 {
        (self.unit() * 2.0 - 1.0) as f32
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let (u, v) = (1.0 - self.unit(), self.unit());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn uniform_vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.uniform()).collect()
    }

    fn normal_vec(&mut self, len: usize, std: f32) -> Vec<f32> {
        (0..len).map(|_| self.normal() * std).collect()
    }
}

/// A weight that looks like a trained projection: normal with a per-row scale spread (×0.5 to
/// ×2), a few heavy outliers (1 in 500 at 8σ), and 1 in 16 rows with a per-row offset.
fn realistic_weight(rng: &mut SplitMix64, rows: usize, cols: usize) -> Vec<f32> {
    let mut w = Vec::with_capacity(rows * cols);
    for _ in 0..rows {
        let scale = 0.02 * 2f32.powf(rng.uniform());
        let offset = if rng.below(16) == 0 { 0.5 * scale } else { 0.0 };
        for _ in 0..cols {
            let outlier = if rng.below(500) == 0 { 8.0 } else { 1.0 };
            w.push(offset + rng.normal() * scale * outlier);
        }
    }
    w
}

/// Activations that look like a normalized hidden state: normal, with a few channels (1 in
/// 64) ten times larger in every row.
fn realistic_activations(rng: &mut SplitMix64, m: usize, k: usize) -> Vec<f32> {
    let loud: Vec<bool> = (0..k).map(|_| rng.below(64) == 0).collect();
    (0..m * k)
        .map(|i| rng.normal() * if loud[i % k] { 10.0 } else { 1.0 })
        .collect()
}

fn quantize(format: QFormat, w: &[f32], rows: usize, cols: usize) -> PackedWeights {
    match format {
        QFormat::Q8_0 => quantize_q8(w, rows, cols),
        QFormat::Q4_1 => quantize_q4(w, rows, cols),
    }
    .unwrap()
}

const FORMATS: [QFormat; 2] = [QFormat::Q8_0, QFormat::Q4_1];

fn product(
    kernel: QKernel,
    acts: &QuantizedActivations,
    w: PackedView<'_>,
    c0: &[f32],
    ldc: usize,
    mode: Accumulate,
) -> Vec<f32> {
    let mut c = c0.to_vec();
    qmatmul_with(kernel, acts, w, &mut c, ldc, mode);
    c
}

// ---- f16 and plain blocks -------------------------------------------------------------

#[test]
fn f16_round_trips_exactly_and_rounds_to_nearest_even() {
    for h in 0..=u16::MAX {
        let x = f16_to_f32(h);
        if x.is_nan() {
            assert!(f32_to_f16(x) & 0x7c00 == 0x7c00 && f32_to_f16(x) & 0x03ff != 0);
            continue;
        }
        assert_eq!(f32_to_f16(x), h, "f16 {h:#06x} = {x:e}");
        // The midpoint to the next half of the same sign rounds to the even one of the two.
        let next = h.wrapping_add(1);
        if h & 0x7fff < 0x7bff {
            let (a, b) = (f64::from(x), f64::from(f16_to_f32(next)));
            let mid = ((a + b) / 2.0) as f32;
            if f64::from(mid) == (a + b) / 2.0 {
                let even = if h % 2 == 0 { h } else { next };
                assert_eq!(f32_to_f16(mid), even, "midpoint above {h:#06x}");
            }
        }
    }
    assert_eq!(f16_to_f32(0x3c00), 1.0);
    assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    assert_eq!(f16_to_f32(0xc000), -2.0);
    assert_eq!(f32_to_f16(65520.0), 0x7c00, "rounds up to infinity");
    assert_eq!(f32_to_f16(65519.0), 0x7bff);
    assert_eq!(f32_to_f16(1e-9), 0);
    assert_eq!(f32_to_f16(f32::NEG_INFINITY), 0xfc00);
}

#[test]
fn q8_0_blocks_follow_ggml() {
    let mut rng = SplitMix64(1);
    for _ in 0..200 {
        let x: [f32; BLOCK] = std::array::from_fn(|_| rng.normal());
        let block = BlockQ8_0::quantize(&x);
        let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        assert_eq!(block.d, f32_to_f16(d));
        for (&q, &v) in block.qs.iter().zip(&x) {
            assert_eq!(q, (v * (1.0 / d)).round() as i8);
        }
        assert_eq!(BlockQ8_0::from_bytes(&block.to_bytes()), block);
        let y = block.dequantize();
        for (&y, &v) in y.iter().zip(&x) {
            assert!((y - v).abs() <= 0.502 * d + 1e-3 * amax, "{y} vs {v}");
        }
    }
}

#[test]
fn q4_1_search_is_never_worse_than_minmax_and_keeps_q4_1_blocks() {
    let mut rng = SplitMix64(2);
    let error = |block: &BlockQ4_1, x: &[f32; BLOCK]| -> f64 {
        block
            .dequantize()
            .iter()
            .zip(x)
            .map(|(&y, &v)| f64::from(y - v).powi(2))
            .sum()
    };
    let (mut searched, mut minmax) = (0.0, 0.0);
    for _ in 0..2000 {
        let x: [f32; BLOCK] = std::array::from_fn(|_| rng.normal());
        let (a, b) = (BlockQ4_1::quantize(&x), BlockQ4_1::quantize_minmax(&x));
        assert!(error(&a, &x) <= error(&b, &x) * (1.0 + 1e-12));
        searched += error(&a, &x);
        minmax += error(&b, &x);
        assert_eq!(BlockQ4_1::from_bytes(&a.to_bytes()), a);
        // A block's decoded values quantize back to the block (a GGUF's Q4_1 weights are
        // lossless through both quantizers).
        let decoded = b.dequantize();
        assert_eq!(BlockQ4_1::quantize(&decoded).dequantize(), decoded);
        assert_eq!(BlockQ4_1::quantize_minmax(&decoded).dequantize(), decoded);
    }
    assert!(searched < 0.9 * minmax, "{searched} vs {minmax}");
    // Constant blocks: zero scale, exact.
    let flat = [0.25f32; BLOCK];
    assert_eq!(BlockQ4_1::quantize(&flat).dequantize(), flat);
    assert_eq!(
        BlockQ8_0::quantize(&[0.0; BLOCK]).dequantize(),
        [0.0; BLOCK]
    );
}

// ---- packing and validation -----------------------------------------------------------

#[test]
fn packing_round_trips_through_plain_blocks_and_bytes() {
    let mut rng = SplitMix64(3);
    for (rows, cols) in [(1, 32), (31, 64), (32, 96), (33, 32), (100, 576), (5, 1536)] {
        let w = rng.normal_vec(rows * cols, 0.05);
        for format in FORMATS {
            let plain = match format {
                QFormat::Q8_0 => quantize_q8_0_blocks(&w, rows, cols),
                QFormat::Q4_1 => quantize_q4_1_blocks(&w, rows, cols),
            };
            let packed = match format {
                QFormat::Q8_0 => pack_q8(&plain, rows, cols),
                QFormat::Q4_1 => pack_q4(&plain, rows, cols),
            }
            .unwrap();
            assert_eq!(
                packed.as_bytes().len(),
                packed_len(format, rows, cols).unwrap()
            );
            assert_eq!(packed.as_bytes().as_ptr().addr() % 64, 0);
            assert!(packed.view().is_aligned());
            // From f32 directly: the same bytes.
            assert_eq!(
                quantize(format, &w, rows, cols).as_bytes(),
                packed.as_bytes()
            );
            // Through a file's bytes (copied to an unaligned place, as a map may give them).
            let mut stored = vec![0u8; packed.as_bytes().len() + 1];
            stored[1..].copy_from_slice(packed.as_bytes());
            let view = PackedView::from_bytes(&stored[1..]).unwrap();
            assert_eq!(
                (view.format(), view.rows(), view.cols()),
                (format, rows, cols)
            );
            assert_eq!(view.to_plain_blocks(), plain);
            let decoded = match format {
                QFormat::Q8_0 => dequantize_q8_0_blocks(&plain),
                QFormat::Q4_1 => dequantize_q4_1_blocks(&plain),
            };
            assert_eq!(view.dequantize(), decoded);
            // Row by row (an embedding lookup) the same values, and the unscanned view
            // of validated bytes is the same view.
            let mut row_values = vec![f32::NAN; cols];
            for row in 0..rows {
                view.dequantize_row(row, &mut row_values);
                assert_eq!(row_values, decoded[row * cols..][..cols], "row {row}");
            }
            let unscanned = PackedView::from_bytes_unscanned(&stored[1..]).unwrap();
            assert_eq!(unscanned.to_plain_blocks(), plain);
            // Products from the stored view and from the owned weights agree.
            let m = 7;
            let acts = QuantizedActivations::quantize(&rng.normal_vec(m * cols, 1.0), m, cols);
            let c0 = vec![0.0; m * rows];
            for kernel in QKernel::available() {
                let a = product(kernel, &acts, view, &c0, rows, Accumulate::Overwrite);
                let b = product(
                    kernel,
                    &acts,
                    packed.view(),
                    &c0,
                    rows,
                    Accumulate::Overwrite,
                );
                assert_eq!(a, b, "{kernel:?} {format:?} [{rows}, {cols}]");
            }
        }
    }
}

#[test]
fn bad_bytes_give_typed_errors() {
    let mut rng = SplitMix64(4);
    let (rows, cols) = (40, 64);
    let packed = quantize_q8(&rng.normal_vec(rows * cols, 1.0), rows, cols).unwrap();
    let good = packed.as_bytes().to_vec();
    assert!(PackedView::from_bytes(&good).is_ok());
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = good.clone();
        edit(&mut bytes);
        PackedView::from_bytes(&bytes).map(|_| ())
    };
    assert_eq!(
        with(&|b| b.truncate(10)),
        Err(QuantError::TooShort { len: 10 })
    );
    assert_eq!(
        with(&|b| b[0] = b'X'),
        Err(QuantError::BadMagic { found: *b"XQPK" })
    );
    assert_eq!(
        with(&|b| b[4..8].copy_from_slice(&7u32.to_le_bytes())),
        Err(QuantError::UnknownFormat { id: 7 })
    );
    assert_eq!(
        with(&|b| b[40] = 1),
        Err(QuantError::ReservedNotZero { offset: 40 })
    );
    assert_eq!(
        with(&|b| b[12..16].copy_from_slice(&33u32.to_le_bytes())),
        Err(QuantError::Shape { rows, cols: 33 })
    );
    assert_eq!(
        with(&|b| b[12..16].copy_from_slice(&0u32.to_le_bytes())),
        Err(QuantError::Shape { rows, cols: 0 })
    );
    assert!(matches!(
        with(&|b| b.pop().map(|_| ()).unwrap_or(())),
        Err(QuantError::Length { .. })
    ));
    assert!(matches!(
        with(&|b| b.push(0)),
        Err(QuantError::Length { .. })
    ));
    // Q4_1 bytes relabelled Q8_0: the length no longer fits.
    assert!(matches!(
        with(&|b| b[4..8].copy_from_slice(&Q4_1_X32_FORMAT_ID.to_le_bytes())),
        Err(QuantError::Length { .. })
    ));
    // A NaN and an infinite scale, in a real row and in a padding row (row 40.. of panel 1).
    let nb = cols / BLOCK;
    let scale_at = |panel: usize, block: usize, r: usize| {
        PACKED_HEADER_BYTES + (panel * nb + block) * Q8_0_PANEL_BLOCK_BYTES + 2 * r
    };
    for (panel, block, r, bits) in [(0, 1, 5, 0x7e00u16), (1, 0, 3, 0x7c00), (1, 1, 20, 0xfc00)] {
        let at = scale_at(panel, block, r);
        assert_eq!(
            with(&|b| b[at..at + 2].copy_from_slice(&bits.to_le_bytes())),
            Err(QuantError::NonFiniteScale {
                row: panel * PANEL_ROWS + r,
                block
            })
        );
    }
    // Q4_1 minimums are checked too.
    let q4 = quantize_q4(&rng.normal_vec(rows * cols, 1.0), rows, cols).unwrap();
    let mut bytes = q4.as_bytes().to_vec();
    let at = PACKED_HEADER_BYTES + 64 + 2 * 7;
    bytes[at..at + 2].copy_from_slice(&0x7c00u16.to_le_bytes());
    assert_eq!(
        PackedView::from_bytes(&bytes).map(|_| ()),
        Err(QuantError::NonFiniteScale { row: 7, block: 0 })
    );
    // The unscanned view checks the header and length only.
    assert!(PackedView::from_bytes_unscanned(&bytes).is_ok());
    assert_eq!(
        PackedView::from_bytes_unscanned(&bytes[..bytes.len() - 1]).map(|_| ()),
        Err(QuantError::Length {
            what: "packed weight",
            expected: bytes.len(),
            actual: bytes.len() - 1
        })
    );
    // Packing: wrong lengths and shapes, non-finite inputs.
    assert!(matches!(
        pack_q8(&[0; 33], 1, 32),
        Err(QuantError::Length { .. })
    ));
    assert!(matches!(
        pack_q4(&[0; 20], 1, 20),
        Err(QuantError::Shape { .. })
    ));
    assert!(matches!(
        quantize_q8(&[0.0; 31], 1, 32),
        Err(QuantError::Length { .. })
    ));
    let mut nan = vec![0.5f32; 64];
    nan[40] = f32::NAN;
    assert_eq!(
        quantize_q8(&nan, 1, 64).map(|_| ()),
        Err(QuantError::NonFiniteWeight { row: 0, col: 40 })
    );
    assert!(matches!(
        quantize_q4(&nan, 1, 64),
        Err(QuantError::NonFiniteWeight { .. })
    ));
    assert!(matches!(
        quantize_q8(&[1e9; 32], 1, 32),
        Err(QuantError::NonFiniteScale { .. })
    ));
    assert!(matches!(
        packed_len(QFormat::Q8_0, usize::MAX, 32),
        Err(QuantError::Shape { .. })
    ));
    // Errors display.
    assert!(
        QuantError::UnknownFormat { id: 7 }
            .to_string()
            .contains("unknown format")
    );
}

#[test]
fn random_corruption_never_panics() {
    let mut rng = SplitMix64(5);
    let packed = quantize_q4(&rng.normal_vec(50 * 96, 1.0), 50, 96).unwrap();
    let good = packed.as_bytes();
    for round in 0..3000 {
        let mut bytes = good.to_vec();
        match round % 3 {
            0 => {
                let at = rng.below(PACKED_HEADER_BYTES as u64) as usize;
                bytes[at] = rng.next_u64() as u8;
            }
            1 => {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
            _ => bytes.truncate(rng.below(bytes.len() as u64) as usize),
        }
        // Must return, Ok or Err; an Ok view must multiply without trouble.
        if let Ok(view) = PackedView::from_bytes(&bytes) {
            let acts = QuantizedActivations::quantize(&vec![0.5; view.cols()], 1, view.cols());
            let mut y = vec![0.0; view.rows()];
            qmatmul(&acts, view, &mut y, view.rows(), Accumulate::Overwrite);
            assert!(y.iter().all(|v| v.is_finite()));
        }
    }
}

// ---- activations ----------------------------------------------------------------------

/// The row quantizer chosen for this CPU gives the plain loop's bits, on realistic rows and
/// on the edge cases of every step: ties at .5 (both parities), values at ±127 steps, zero
/// and subnormal blocks (scale 0, or a reciprocal that overflows), infinities and NaN.
#[test]
fn the_vector_row_quantizer_equals_the_plain_one_bit_for_bit() {
    let mut rng = SplitMix64(61);
    let k = 32 * 24;
    let mut x = realistic_activations(&mut rng, 1, k);
    let edge_blocks: [[f32; 4]; 10] = [
        [127.0, 0.5, 1.5, -2.5], // d = 1: ties to even, both signs
        [-127.0, 126.5, -126.5, 3.5],
        [0.0, 0.0, 0.0, 0.0],        // all zero: d = 0
        [1e-44, -1e-44, 5e-45, 0.0], // subnormal: d rounds to 0
        [2e-38, -1e-38, 0.0, 3e-39], // tiny d: 1/d may overflow
        [f32::INFINITY, 1.0, -1.0, 0.0],
        [f32::NEG_INFINITY, 2.0, 0.0, -3.0],
        [f32::NAN, 1.0, -1.0, 0.0],
        [1.0, f32::NAN, f32::INFINITY, -0.0],
        [-0.0, 1e30, -1e30, 0.1],
    ];
    for (b, edge) in edge_blocks.iter().enumerate() {
        let block = &mut x[(b + 2) * BLOCK..][..BLOCK];
        for (slot, &value) in block.iter_mut().step_by(7).zip(edge) {
            *slot = value;
        }
        if b < 2 {
            // Exact multiples of the unit step, so v · id lands on the ties themselves.
            for (j, slot) in block.iter_mut().enumerate().skip(4) {
                *slot = (j as f32 - 16.0) + 0.5;
            }
            block[0] = 127.0;
        }
    }
    let nb = k / BLOCK;
    let run = |quantizer: super::quantize::RowQuantizer| {
        let (mut qs, mut scales, mut bias, mut dsums) =
            (vec![0i8; k], vec![0f32; nb], vec![0i32; nb], vec![0f32; nb]);
        quantizer(&x, &mut qs, &mut scales, &mut bias, &mut dsums);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        (qs, bits(&scales), bias, bits(&dsums))
    };
    let plain = run(super::quantize::quantize_row);
    assert_eq!(run(super::quantize::row_quantizer()), plain);
    // The ties went to even in the first block (d = 1).
    assert_eq!(&plain.0[2 * BLOCK..2 * BLOCK + 1], &[127]);
    assert_eq!(plain.0[2 * BLOCK + 4..2 * BLOCK + 8], [-12, -10, -10, -8]);
}

#[test]
fn activation_quantization_is_within_half_a_step() {
    let mut rng = SplitMix64(6);
    let (m, k) = (9, 576);
    let x = realistic_activations(&mut rng, m, k);
    let acts = QuantizedActivations::quantize(&x, m, k);
    assert_eq!((acts.m(), acts.k()), (m, k));
    let decoded = acts.dequantize();
    for (row, (xr, yr)) in x.chunks(k).zip(decoded.chunks(k)).enumerate() {
        for (b, (xb, yb)) in xr.chunks(BLOCK).zip(yr.chunks(BLOCK)).enumerate() {
            let d = acts.scales[row * k / BLOCK + b];
            let amax = xb.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            assert_eq!(d, amax / 127.0);
            let qs = &acts.qs[row * k + b * BLOCK..][..BLOCK];
            let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
            assert!(qs.iter().all(|&q| q != i8::MIN));
            assert_eq!(acts.bias[row * k / BLOCK + b], -128 * sum);
            assert_eq!(acts.dsums[row * k / BLOCK + b], d * sum as f32);
            for (&v, &y) in xb.iter().zip(yb) {
                assert!((v - y).abs() <= 0.5 * d * (1.0 + 1e-6), "{v} vs {y}");
            }
        }
    }
    // Reuse keeps the result.
    let mut reused = QuantizedActivations::quantize(&rng.normal_vec(3 * 64, 1.0), 3, 64);
    reused.quantize_into(&x, m, k);
    assert_eq!(reused.qs, acts.qs);
    assert_eq!(reused.scales, acts.scales);
    // Large inputs are quantized in parallel, row by row: same bits as one row at a time.
    let (m, k) = (300, 576);
    let x = rng.normal_vec(m * k, 1.0);
    let all = QuantizedActivations::quantize(&x, m, k);
    let row = QuantizedActivations::quantize(&x[17 * k..18 * k], 1, k);
    assert_eq!(&all.qs[17 * k..18 * k], &row.qs[..]);
    assert_eq!(&all.scales[17 * 18..18 * 18], &row.scales[..]);
}

/// The residual pass, row-parallel for large inputs, quantizes exactly `x − dequantize`.
#[test]
fn the_residual_is_the_quantized_difference_bit_for_bit() {
    let mut rng = SplitMix64(61);
    for (m, k) in [(3, 64), (300, 576)] {
        let x = realistic_activations(&mut rng, m, k);
        let coarse = QuantizedActivations::quantize(&x, m, k);
        let difference: Vec<f32> = x
            .iter()
            .zip(coarse.dequantize())
            .map(|(&v, r)| v - r)
            .collect();
        let want = QuantizedActivations::quantize(&difference, m, k);
        let got = coarse.residual_of(&x);
        assert_eq!(got.qs, want.qs, "[{m}, {k}]");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got.scales), bits(&want.scales), "[{m}, {k}]");
    }
}

#[test]
fn a_residual_pass_leaves_at_most_a_508th_of_a_step() {
    let mut rng = SplitMix64(16);
    let (m, k) = (7, 576);
    let x = realistic_activations(&mut rng, m, k);
    let coarse = QuantizedActivations::quantize(&x, m, k);
    let residual = coarse.residual_of(&x);
    assert_eq!((residual.m(), residual.k()), (m, k));
    let two: Vec<f32> = coarse
        .dequantize()
        .iter()
        .zip(residual.dequantize())
        .map(|(a, b)| a + b)
        .collect();
    let one = coarse.dequantize();
    let (mut worst_one, mut worst_two) = (0.0f32, 0.0f32);
    for (b, ((xb, tb), ob)) in x
        .chunks(BLOCK)
        .zip(two.chunks(BLOCK))
        .zip(one.chunks(BLOCK))
        .enumerate()
    {
        let amax = xb.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        // Half a step of half a step's quantization, plus the f32 roundings of x − d·q.
        let bound = amax / (127.0 * 508.0) * (1.0 + 1e-3) + amax * 2.5e-7;
        for ((&v, &t), &o) in xb.iter().zip(tb).zip(ob) {
            assert!(
                (v - t).abs() <= bound,
                "block {b}: {v} vs {t} (bound {bound})"
            );
            worst_one = worst_one.max((v - o).abs() / amax);
            worst_two = worst_two.max((v - t).abs() / amax);
        }
    }
    // One pass leaves up to half a step, 1/254 of the block's largest value.
    assert!(
        worst_one > 1.0 / 400.0 && worst_one <= 1.0 / 254.0 * 1.001,
        "{worst_one}"
    );
    assert!(worst_two <= worst_one / 200.0, "{worst_two} vs {worst_one}");
    // The residual's product adds to the coarse one: together, the product of `two`.
    let (n, w) = (40, realistic_weight(&mut rng, 40, k));
    let packed = quantize(QFormat::Q8_0, &w, n, k);
    let mut y = vec![0.0f32; m * n];
    qmatmul(&coarse, packed.view(), &mut y, n, Accumulate::Overwrite);
    qmatmul(&residual, packed.view(), &mut y, n, Accumulate::Add);
    let decoded = packed.view().dequantize();
    let want = dense(&two, &decoded, m, n, k);
    let got: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
    assert!(
        relative_rms(&got, &want) < 1e-6,
        "{}",
        relative_rms(&got, &want)
    );
}

#[test]
fn non_finite_activations_give_non_finite_outputs() {
    let mut rng = SplitMix64(7);
    let (m, k, n) = (3, 64, 40);
    let w = rng.normal_vec(n * k, 0.1);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = rng.normal_vec(m * k, 1.0);
        x[k + 33] = bad;
        let acts = QuantizedActivations::quantize(&x, m, k);
        for format in FORMATS {
            let packed = quantize(format, &w, n, k);
            for kernel in QKernel::available() {
                let y = product(
                    kernel,
                    &acts,
                    packed.view(),
                    &vec![0.0; m * n],
                    n,
                    Accumulate::Overwrite,
                );
                assert!(y[..n].iter().all(|v| v.is_finite()), "{kernel:?}: row 0");
                assert!(
                    y[n..2 * n].iter().all(|v| !v.is_finite()),
                    "{kernel:?} {bad}: row 1"
                );
                assert!(
                    y[2 * n..].iter().all(|v| v.is_finite()),
                    "{kernel:?}: row 2"
                );
            }
        }
    }
}

// ---- the integer dots -----------------------------------------------------------------

/// Activations with unit scales (so the outputs are the sums of the exact integer block
/// dots, exactly representable here).
fn unit_scale_activations(qs: Vec<i8>, m: usize, k: usize) -> QuantizedActivations {
    let nb = k / BLOCK;
    let sums: Vec<i32> = qs
        .chunks(BLOCK)
        .map(|b| b.iter().map(|&q| i32::from(q)).sum())
        .collect();
    QuantizedActivations {
        m,
        k,
        qs,
        scales: vec![1.0; m * nb],
        bias: sums.iter().map(|s| -128 * s).collect(),
        dsums: sums.iter().map(|&s| s as f32).collect(),
    }
}

/// An extreme i8: the ends of the range, zero, or anything.
fn extreme_i8(rng: &mut SplitMix64, lowest: i8) -> i8 {
    match rng.below(6) {
        0 => lowest,
        1 => 127,
        2 => -127,
        3 => 0,
        _ => rng.next_u64() as i8,
    }
    .max(lowest)
}

#[test]
fn integer_dots_are_exact_on_every_kernel() {
    let mut rng = SplitMix64(8);
    // k ≤ 512 keeps every partial sum of extreme dots (≤ 16 · 32 · 128 · 127) below 2²⁴.
    for &(m, n, k) in &[(1, 32, 32), (7, 45, 512), (13, 64, 256), (6, 33, 96)] {
        let x: Vec<i8> = (0..m * k).map(|_| extreme_i8(&mut rng, -127)).collect();
        let acts = unit_scale_activations(x.clone(), m, k);
        // Q8_0 with d = 1 and quants anywhere in i8 (including -128).
        let q8w: Vec<i8> = (0..n * k).map(|_| extreme_i8(&mut rng, i8::MIN)).collect();
        let mut plain = Vec::new();
        for block in q8w.chunks(BLOCK) {
            let qs: [i8; BLOCK] = block.try_into().unwrap();
            plain.extend_from_slice(&BlockQ8_0 { d: 0x3c00, qs }.to_bytes());
        }
        let q8 = pack_q8(&plain, n, k).unwrap();
        // Q4_1 with d = 1, m = 0 and nibbles favouring 0 and 15.
        let q4w: Vec<u8> = (0..n * k)
            .map(|_| match rng.below(3) {
                0 => 15,
                1 => 0,
                _ => rng.below(16) as u8,
            })
            .collect();
        let mut plain = Vec::new();
        for block in q4w.chunks(BLOCK) {
            let nibbles: [u8; BLOCK] = block.try_into().unwrap();
            plain.extend_from_slice(&BlockQ4_1::from_nibbles(0x3c00, 0, &nibbles).to_bytes());
        }
        let q4 = pack_q4(&plain, n, k).unwrap();
        for (packed, weights) in [
            (&q8, q8w.iter().map(|&q| i64::from(q)).collect::<Vec<_>>()),
            (&q4, q4w.iter().map(|&q| i64::from(q)).collect()),
        ] {
            let expected: Vec<f32> = (0..m * n)
                .map(|index| {
                    let (i, j) = (index / n, index % n);
                    let dot: i64 = (0..k)
                        .map(|p| i64::from(x[i * k + p]) * weights[j * k + p])
                        .sum();
                    dot as f32
                })
                .collect();
            for kernel in QKernel::available() {
                let y = product(
                    kernel,
                    &acts,
                    packed.view(),
                    &vec![f32::NAN; m * n],
                    n,
                    Accumulate::Overwrite,
                );
                assert_eq!(
                    y,
                    expected,
                    "{kernel:?} {:?} m={m} n={n} k={k}",
                    packed.format()
                );
            }
        }
    }
}

// ---- every kernel against the portable one and the references --------------------------

const EDGE_M: [usize; 8] = [1, 2, 3, 5, 6, 7, 13, 50];
const EDGE_N: [usize; 6] = [1, 7, 31, 32, 33, 100];
const EDGE_K: [usize; 4] = [32, 64, 160, 576];

/// The bound on |kernel − exact| for output (i, j): each of the 2·nb fused operations and each
/// scale product rounds once (relative 2⁻²⁴) on terms bounded by `scale`, the sum of the
/// magnitudes of every term and of the start value; 3·nb + 4 roundings, doubled for safety.
fn rounding_bound(nb: usize, scale: f64) -> f64 {
    2.0 * (3 * nb + 4) as f64 * f64::from(f32::EPSILON) / 2.0 * scale + 1e-30
}

/// The exact product of the quantized operands in f64 (`Σ_b dx·dw·dot + mw·dx·Σqx`, with `d·q
/// + m` unrounded), and its magnitude sum for [`rounding_bound`].
fn exact_quantized(
    acts: &QuantizedActivations,
    w: PackedView<'_>,
    c0: &[f32],
    ldc: usize,
    mode: Accumulate,
) -> (Vec<f64>, Vec<f64>) {
    let (m, n, k) = (acts.m, w.rows(), w.cols());
    let nb = k / BLOCK;
    let plain = w.to_plain_blocks();
    let bytes = w.format().block_bytes();
    let mut exact = vec![0.0; m * n];
    let mut scale = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let start = if mode == Accumulate::Add {
                f64::from(c0[i * ldc + j])
            } else {
                0.0
            };
            let (mut sum, mut magnitude) = (start, start.abs());
            for b in 0..nb {
                let block = &plain[(j * nb + b) * bytes..][..bytes];
                let qx = &acts.qs[i * k + b * BLOCK..][..BLOCK];
                let dx = f64::from(acts.scales[i * nb + b]);
                let (dw, mw, qw): (f64, f64, [i64; BLOCK]) = match w.format() {
                    QFormat::Q8_0 => {
                        let block = BlockQ8_0::from_bytes(block.try_into().unwrap());
                        (f64::from(f16_to_f32(block.d)), 0.0, block.qs.map(i64::from))
                    }
                    QFormat::Q4_1 => {
                        let block = BlockQ4_1::from_bytes(block.try_into().unwrap());
                        (
                            f64::from(f16_to_f32(block.d)),
                            f64::from(f16_to_f32(block.m)),
                            block.nibbles().map(i64::from),
                        )
                    }
                };
                let dot: i64 = qw.iter().zip(qx).map(|(&w, &x)| w * i64::from(x)).sum();
                let sx: i64 = qx.iter().map(|&x| i64::from(x)).sum();
                let (main, min) = (dx * dw * dot as f64, mw * dx * sx as f64);
                sum += main + min;
                magnitude += main.abs() + min.abs();
            }
            exact[i * n + j] = sum;
            scale[i * n + j] = magnitude;
        }
    }
    (exact, scale)
}

#[test]
fn every_kernel_equals_portable_bit_for_bit_and_the_exact_product_within_rounding() {
    let mut rng = SplitMix64(9);
    let mut case = 0usize;
    for m in EDGE_M {
        for n in EDGE_N {
            for k in EDGE_K {
                case += 1;
                let format = FORMATS[case % 2];
                let mode = if case.is_multiple_of(3) {
                    Accumulate::Add
                } else {
                    Accumulate::Overwrite
                };
                let pad = case % 3;
                let ldc = n + pad;
                let w = realistic_weight(&mut rng, n, k);
                let packed = quantize(format, &w, n, k);
                let acts =
                    QuantizedActivations::quantize(&realistic_activations(&mut rng, m, k), m, k);
                let mut c0 = vec![f32::NAN; m * ldc];
                for row in c0.chunks_mut(ldc) {
                    for value in &mut row[..n] {
                        *value = if mode == Accumulate::Add {
                            rng.uniform()
                        } else {
                            f32::NAN
                        };
                    }
                }
                let portable = product(QKernel::Portable, &acts, packed.view(), &c0, ldc, mode);
                let (exact, scale) = exact_quantized(&acts, packed.view(), &c0, ldc, mode);
                for i in 0..m {
                    for j in 0..n {
                        let (got, want) = (f64::from(portable[i * ldc + j]), exact[i * n + j]);
                        let bound = rounding_bound(k / BLOCK, scale[i * n + j]);
                        assert!(
                            (got - want).abs() <= bound,
                            "portable {format:?} m={m} n={n} k={k}: y[{i},{j}] = {got}, exact {want} ± {bound}"
                        );
                    }
                    // The padding columns are untouched.
                    for j in n..ldc {
                        assert!(portable[i * ldc + j].is_nan());
                    }
                }
                for kernel in QKernel::available() {
                    let y = product(kernel, &acts, packed.view(), &c0, ldc, mode);
                    let same = y
                        .iter()
                        .zip(&portable)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{kernel:?} {format:?} {mode:?} m={m} n={n} k={k}: differs from portable"
                    );
                }
            }
        }
    }
}

/// Model-sized shapes: several activation blocks (past MC), the parallel split, many panels.
const LARGE_SHAPES: [(usize, usize, usize); 5] = [
    (256, 576, 576),
    (100, 192, 576),
    (20, 1536, 576),
    (65, 576, 1536),
    (1, 4096, 576),
];

#[test]
fn every_kernel_equals_portable_on_large_shapes() {
    let mut rng = SplitMix64(10);
    for (case, (m, n, k)) in LARGE_SHAPES.into_iter().enumerate() {
        let w = realistic_weight(&mut rng, n, k);
        let acts = QuantizedActivations::quantize(&realistic_activations(&mut rng, m, k), m, k);
        let c0 = rng.uniform_vec(m * n);
        for format in FORMATS {
            let packed = quantize(format, &w, n, k);
            let mode = if case % 2 == 0 {
                Accumulate::Add
            } else {
                Accumulate::Overwrite
            };
            let portable = product(QKernel::Portable, &acts, packed.view(), &c0, n, mode);
            for kernel in QKernel::available() {
                let y = product(kernel, &acts, packed.view(), &c0, n, mode);
                assert!(
                    y.iter()
                        .zip(&portable)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{kernel:?} {format:?} m={m} n={n} k={k}"
                );
            }
        }
    }
}

#[test]
fn same_bits_for_any_thread_count() {
    let mut rng = SplitMix64(11);
    let shapes = [
        (300, 576, 576),
        (8, 1536, 576),
        (65, 192, 1536),
        (2, 4096, 64),
    ];
    for &(m, n, k) in &shapes {
        let w = realistic_weight(&mut rng, n, k);
        let acts = QuantizedActivations::quantize(&realistic_activations(&mut rng, m, k), m, k);
        for format in FORMATS {
            let packed = quantize(format, &w, n, k);
            for kernel in QKernel::available() {
                let bits = |threads: usize| {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let mut y = vec![0.0f32; m * n];
                    pool.install(|| {
                        qmatmul_with(
                            kernel,
                            &acts,
                            packed.view(),
                            &mut y,
                            n,
                            Accumulate::Overwrite,
                        )
                    });
                    y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                };
                let single = bits(1);
                for threads in [2, 3] {
                    assert!(
                        bits(threads) == single,
                        "{kernel:?} {format:?} m={m} n={n} k={k}: {threads} threads differ from 1"
                    );
                }
            }
        }
    }
}

#[test]
fn uninit_output_equals_the_overwrite_product() {
    let mut rng = SplitMix64(12);
    for &(m, n, k) in &[(1, 7, 32), (37, 45, 576), (15, 33, 64)] {
        let w = rng.normal_vec(n * k, 0.1);
        let acts = QuantizedActivations::quantize(&rng.normal_vec(m * k, 1.0), m, k);
        for format in FORMATS {
            let packed = quantize(format, &w, n, k);
            let mut expected = vec![f32::NAN; m * n];
            qmatmul(
                &acts,
                packed.view(),
                &mut expected,
                n,
                Accumulate::Overwrite,
            );
            let mut fresh: Vec<std::mem::MaybeUninit<f32>> = Vec::with_capacity(m * n);
            fresh.resize_with(m * n, std::mem::MaybeUninit::uninit);
            qmatmul_uninit(&acts, packed.view(), &mut fresh, n);
            // SAFETY: qmatmul_uninit wrote all m·n elements.
            let got: Vec<f32> = fresh
                .into_iter()
                .map(|v| unsafe { v.assume_init() })
                .collect();
            assert_eq!(got, expected, "{format:?} {m}x{k}x{n}");
        }
    }
}

#[test]
fn empty_products_and_shape_checks() {
    let packed = quantize_q8(&[0.5; 64], 2, 32).unwrap();
    let none = QuantizedActivations::quantize(&[], 0, 32);
    qmatmul(&none, packed.view(), &mut [], 2, Accumulate::Overwrite);
    let no_rows = quantize_q4(&[], 0, 32).unwrap();
    assert_eq!(no_rows.as_bytes().len(), PACKED_HEADER_BYTES);
    assert!(PackedView::from_bytes(no_rows.as_bytes()).is_ok());
    let acts = QuantizedActivations::quantize(&[1.0; 32], 1, 32);
    let mut untouched = [7.0f32; 1];
    qmatmul(
        &acts,
        no_rows.view(),
        &mut untouched,
        0,
        Accumulate::Overwrite,
    );
    assert_eq!(untouched, [7.0]);
    let mut y = [0.0f32; 2];
    qmatmul(&acts, packed.view(), &mut y, 2, Accumulate::Overwrite);
    assert!(y.iter().all(|&v| (v - 16.0).abs() < 0.2), "{y:?}");
}

#[test]
#[should_panic(expected = "output slice has")]
fn short_output_panics() {
    let packed = quantize_q8(&[0.5; 64], 2, 32).unwrap();
    let acts = QuantizedActivations::quantize(&[1.0; 64], 2, 32);
    qmatmul(
        &acts,
        packed.view(),
        &mut [0.0; 3],
        2,
        Accumulate::Overwrite,
    );
}

#[test]
#[should_panic(expected = "activations are")]
fn mismatched_width_panics() {
    let packed = quantize_q8(&[0.5; 64], 1, 64).unwrap();
    let acts = QuantizedActivations::quantize(&[1.0; 32], 1, 32);
    qmatmul(
        &acts,
        packed.view(),
        &mut [0.0; 1],
        1,
        Accumulate::Overwrite,
    );
}

// ---- accuracy against f32 -------------------------------------------------------------

/// Relative RMS of `got − want`.
fn relative_rms(got: &[f64], want: &[f64]) -> f64 {
    let error: f64 = got.iter().zip(want).map(|(a, b)| (a - b).powi(2)).sum();
    let norm: f64 = want.iter().map(|b| b * b).sum();
    (error / norm).sqrt()
}

/// `x·Wᵀ` in f64.
fn dense(x: &[f32], w: &[f32], m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut y = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            y[i * n + j] = (0..k)
                .map(|p| f64::from(x[i * k + p]) * f64::from(w[j * k + p]))
                .sum();
        }
    }
    y
}

/// Against the dense product of the dequantized weights with the unquantized activations,
/// every output is within the activation rounding bound: `|x − d·q| ≤ d/2` per element, so
/// `|Δy| ≤ Σ_b (d_b / 2) · Σ_{t ∈ b} |ŵ_t|`, plus the f32 rounding of the kernel.
#[test]
fn every_kernel_is_within_the_activation_rounding_bound_of_dense_f32() {
    let mut rng = SplitMix64(13);
    let (m, n, k) = (21, 77, 576);
    let nb = k / BLOCK;
    let x = realistic_activations(&mut rng, m, k);
    let acts = QuantizedActivations::quantize(&x, m, k);
    for format in FORMATS {
        let w = realistic_weight(&mut rng, n, k);
        let packed = quantize(format, &w, n, k);
        let w_hat = packed.view().dequantize();
        let reference = dense(&x, &w_hat, m, n, k);
        let (_, scale) = exact_quantized(&acts, packed.view(), &[], n, Accumulate::Overwrite);
        for kernel in QKernel::available() {
            let y = product(
                kernel,
                &acts,
                packed.view(),
                &vec![0.0; m * n],
                n,
                Accumulate::Overwrite,
            );
            for i in 0..m {
                for j in 0..n {
                    let activation_bound: f64 = (0..nb)
                        .map(|b| {
                            let d = f64::from(acts.scales[i * nb + b]);
                            let w_sum: f64 = w_hat[j * k + b * BLOCK..][..BLOCK]
                                .iter()
                                .map(|v| f64::from(v.abs()))
                                .sum();
                            0.5 * d * (1.0 + 1e-6) * w_sum
                        })
                        .sum();
                    // Q4_1's `d·q + m` is rounded once in f32 by the dequantizer, not by the
                    // kernel: |Δŵ| ≤ ulp/2 per weight.
                    let dequant_bound: f64 = (0..k)
                        .map(|p| f64::from(x[i * k + p].abs()) * f64::from(w_hat[j * k + p].abs()))
                        .sum::<f64>()
                        * f64::from(f32::EPSILON);
                    let bound =
                        activation_bound + dequant_bound + rounding_bound(nb, scale[i * n + j]);
                    let error = (f64::from(y[i * n + j]) - reference[i * n + j]).abs();
                    assert!(
                        error <= bound,
                        "{kernel:?} {format:?} y[{i},{j}]: |Δ| = {error:e} > {bound:e}"
                    );
                }
            }
        }
    }
}

/// The quantization error figures (weights and products, random and realistic), printed with
/// `--nocapture`, and bounded loosely here so a regression in a quantizer shows.
#[test]
fn quantization_error_figures() {
    let mut rng = SplitMix64(14);
    let (m, n, k) = (64, 256, 576);
    let x_random = rng.normal_vec(m * k, 1.0);
    let x_real = realistic_activations(&mut rng, m, k);
    let weights = [
        ("normal", rng.normal_vec(n * k, 0.02)),
        ("realistic", realistic_weight(&mut rng, n, k)),
    ];
    for (name, w) in &weights {
        let w64: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
        let q4_minmax = pack_q4(&quantize_q4_1_blocks_minmax(w, n, k), n, k).unwrap();
        let variants = [
            ("Q8_0", quantize_q8(w, n, k).unwrap(), 0.008),
            ("Q4_1 min/max", q4_minmax, 0.11),
            ("Q4_1 search", quantize_q4(w, n, k).unwrap(), 0.10),
        ];
        for (label, packed, weight_limit) in &variants {
            let w_hat: Vec<f64> = packed
                .view()
                .dequantize()
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let weight_error = relative_rms(&w_hat, &w64);
            assert!(
                weight_error < *weight_limit,
                "{name} {label}: {weight_error}"
            );
            for (x_name, x) in [("normal x", &x_random), ("realistic x", &x_real)] {
                let acts = QuantizedActivations::quantize(x, m, k);
                let mut y = vec![0.0; m * n];
                qmatmul(&acts, packed.view(), &mut y, n, Accumulate::Overwrite);
                let y: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
                let exact = dense(x, w, m, n, k);
                let w_hat32: Vec<f32> = w_hat.iter().map(|&v| v as f32).collect();
                let weights_only = dense(x, &w_hat32, m, n, k);
                println!(
                    "{name:<10} {label:<13} weight rel RMS {weight_error:.5}  {x_name:<12} y rel RMS \
                     vs f32 W {:.5} (activation quantization alone {:.5})",
                    relative_rms(&y, &exact),
                    relative_rms(&y, &weights_only),
                );
                assert!(relative_rms(&y, &exact) < weight_error + 0.01);
            }
        }
    }
}

// ---- detection ------------------------------------------------------------------------

/// The kernels CI expects this CPU (or qemu's `-cpu max`) to run, comma-separated names in
/// `RECLORA_QGEMM_EXPECT` (e.g. `neon,neon-dotprod,neon-i8mm`): each must be detected, so a
/// path that silently stopped running fails the job.
#[test]
fn expected_kernels_are_detected() {
    let available: Vec<QKernel> = QKernel::available().collect();
    println!(
        "qgemm kernels available: {:?}, best {}",
        available.iter().map(|k| k.name()).collect::<Vec<_>>(),
        QKernel::best().name()
    );
    assert_eq!(available.first(), Some(&QKernel::best()));
    assert_eq!(available.last(), Some(&QKernel::Portable));
    for kernel in QKernel::ALL {
        assert_eq!(QKernel::from_name(kernel.name()), Some(kernel));
    }
    if let Ok(expected) = std::env::var("RECLORA_QGEMM_EXPECT") {
        for name in expected.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let kernel =
                QKernel::from_name(name).unwrap_or_else(|| panic!("unknown kernel {name}"));
            assert!(
                available.contains(&kernel),
                "{name} expected but not detected"
            );
        }
    }
    #[cfg(target_arch = "aarch64")]
    assert!(available.contains(&QKernel::Neon));
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512vnni")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        assert_eq!(QKernel::best(), QKernel::Avx512Vnni);
    }
}
