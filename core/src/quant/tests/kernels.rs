//! The portable micro-kernels (what aarch64 runs; x86-64 here dispatches to AVX2), with
//! and without fused multiply-add, against f64 sums.

use super::random_values;
use crate::quant::QK;
use crate::quant::dot::{MR, NR, QRow, dot_tile_i8_portable, dot_tile_portable};
use crate::rng::SplitMix64;

#[test]
fn portable_f32_tile_equals_f64_dots_including_the_ragged_tail() {
    // 37 = four 8-lane chunks and a tail of 5.
    let len = 37;
    let x: Vec<Vec<f32>> = (0..MR)
        .map(|i| random_values(50 + i as u64, len, 1.0))
        .collect();
    let w: Vec<Vec<f32>> = (0..NR)
        .map(|j| random_values(60 + j as u64, len, 1.0))
        .collect();
    let xs: [&[f32]; MR] = std::array::from_fn(|i| x[i].as_slice());
    let ws: [&[f32]; NR] = std::array::from_fn(|j| w[j].as_slice());
    for out in [
        dot_tile_portable::<false>(xs, ws),
        dot_tile_portable::<true>(xs, ws),
    ] {
        for i in 0..MR {
            for j in 0..NR {
                let (sum, abs) =
                    x[i].iter()
                        .zip(&w[j])
                        .fold((0.0f64, 0.0f64), |(s, a), (&p, &q)| {
                            let t = f64::from(p) * f64::from(q);
                            (s + t, a + t.abs())
                        });
                let err = (f64::from(out[i][j]) - sum).abs();
                assert!(err <= 1e-6 * abs, "[{i}][{j}]: {err:e}");
            }
        }
    }
}

#[test]
fn portable_int8_tile_sums_blocks_exactly_before_scaling() {
    let blocks = 3;
    let mut rng = SplitMix64::new(70);
    let mut row = |extreme: bool| {
        let quants: Vec<[i8; QK]> = (0..blocks)
            .map(|_| std::array::from_fn(|_| if extreme { -128 } else { rng.next_u64() as i8 }))
            .collect();
        let scales: Vec<f32> = (0..blocks).map(|_| rng.unit_f32() * 0.1).collect();
        (quants, scales)
    };
    // Row 0 of x and of w are all −128: the largest products the i16 multiply must hold.
    let x: Vec<_> = (0..MR).map(|i| row(i == 0)).collect();
    let w: Vec<_> = (0..NR).map(|j| row(j == 0)).collect();
    let xs: [QRow<'_>; MR] = std::array::from_fn(|i| as_row(&x[i]));
    let ws: [QRow<'_>; NR] = std::array::from_fn(|j| as_row(&w[j]));
    for out in [
        dot_tile_i8_portable::<false>(xs, ws),
        dot_tile_i8_portable::<true>(xs, ws),
    ] {
        for i in 0..MR {
            for j in 0..NR {
                let (mut sum, mut abs) = (0.0f64, 0.0f64);
                for b in 0..blocks {
                    let int: i64 = x[i].0[b]
                        .iter()
                        .zip(&w[j].0[b])
                        .map(|(&p, &q)| i64::from(p) * i64::from(q))
                        .sum();
                    let term = f64::from(x[i].1[b]) * f64::from(w[j].1[b]) * int as f64;
                    sum += term;
                    abs += term.abs();
                }
                let err = (f64::from(out[i][j]) - sum).abs();
                assert!(err <= 1e-6 * abs.max(1e-30), "[{i}][{j}]: {err:e} of {sum}");
            }
        }
    }
}

type Rows = (Vec<[i8; QK]>, Vec<f32>);

fn as_row((quants, scales): &Rows) -> QRow<'_> {
    QRow { quants, scales }
}
