//! The sum-of-products LoRA correction `((x·A) ⊙ s)·B` on the packed GEMM: the meta-LoRA
//! banks' two thin products (and, in training, their four backward products) were a tenth
//! of a PLoRA step on burn's generic matmul.

use burn::tensor::Tensor;
use reclora_kernels::gemm::{Accumulate, Layout, MatMut, MatRef, matmul};

use super::{Route, contiguous, flex_from_vec, from_flex, into_flex, values};

/// Sizes of one low-rank correction: `rows = batch · seq` input rows of `d_in`, `width`
/// inner columns (N_m · r), `d_out` outputs, and `scale_rows` (1 or `batch`) rows of
/// column scales, each shared by `seq` consecutive input rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LowRankShape {
    pub rows: usize,
    pub seq: usize,
    pub d_in: usize,
    pub width: usize,
    pub d_out: usize,
    pub scale_rows: usize,
}

impl LowRankShape {
    /// The row of column scales that input row `row` uses.
    fn scale_row(&self, row: usize) -> usize {
        if self.scale_rows == 1 {
            0
        } else {
            row / self.seq
        }
    }
}

/// `P = x·A`, `Q = P ⊙ s` and `Y = Q·B`; returns `(P, Q, Y)`.
pub(super) fn forward(
    shape: LowRankShape,
    x: &[f32],
    a: &[f32],
    b: &[f32],
    scale: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let LowRankShape {
        rows,
        d_in,
        width,
        d_out,
        ..
    } = shape;
    let mut projected = vec![0.0f32; rows * width];
    matmul(
        MatRef::new(x, rows, d_in, Layout::RowMajor),
        MatRef::new(a, d_in, width, Layout::RowMajor),
        MatMut::new(&mut projected, rows, width),
        Accumulate::Overwrite,
    );
    let mut scaled = projected.clone();
    for (row, values) in scaled.chunks_exact_mut(width).enumerate() {
        let s = &scale[shape.scale_row(row) * width..][..width];
        values.iter_mut().zip(s).for_each(|(v, s)| *v *= s);
    }
    let mut out = vec![0.0f32; rows * d_out];
    matmul(
        MatRef::new(&scaled, rows, width, Layout::RowMajor),
        MatRef::new(b, width, d_out, Layout::RowMajor),
        MatMut::new(&mut out, rows, d_out),
        Accumulate::Overwrite,
    );
    (projected, scaled, out)
}

/// Gradients of `Y = ((x·A) ⊙ s)·B` with respect to each input.
#[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // the autodiff op's backward
#[derive(Debug, Default)]
pub(super) struct LowRankGradients {
    pub x: Option<Vec<f32>>,
    pub a: Option<Vec<f32>>,
    pub b: Option<Vec<f32>>,
    pub scale: Option<Vec<f32>>,
}

/// Which gradients [`backward`] forms.
#[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // the autodiff op's backward
#[derive(Debug, Clone, Copy)]
pub(super) struct Wanted {
    pub x: bool,
    pub a: bool,
    pub b: bool,
    pub scale: bool,
}

/// Inputs of [`backward`]: the forward's operands and its saved `P` and `Q`.
#[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // the autodiff op's backward
#[derive(Debug, Clone, Copy)]
pub(super) struct Saved<'a> {
    pub x: &'a [f32],
    pub a: &'a [f32],
    pub b: &'a [f32],
    pub scale: &'a [f32],
    pub projected: &'a [f32],
    pub scaled: &'a [f32],
}

/// dQ = dY·Bᵀ, dB = Qᵀ·dY, ds = Σ_seq dQ ⊙ P, dP = dQ ⊙ s, dA = xᵀ·dP, dx = dP·Aᵀ.
#[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // the autodiff op's backward
pub(super) fn backward(
    shape: LowRankShape,
    saved: Saved<'_>,
    d_out: &[f32],
    wanted: Wanted,
) -> LowRankGradients {
    let LowRankShape {
        rows,
        d_in,
        width,
        d_out: out_width,
        scale_rows,
        ..
    } = shape;
    let dy = MatRef::new(d_out, rows, out_width, Layout::RowMajor);
    let mut grads = LowRankGradients::default();
    if wanted.b {
        let mut d_b = vec![0.0f32; width * out_width];
        matmul(
            MatRef::new(saved.scaled, rows, width, Layout::RowMajor).t(),
            dy,
            MatMut::new(&mut d_b, width, out_width),
            Accumulate::Overwrite,
        );
        grads.b = Some(d_b);
    }
    if !(wanted.x || wanted.a || wanted.scale) {
        return grads;
    }
    let mut d_q = vec![0.0f32; rows * width];
    matmul(
        dy,
        MatRef::new(saved.b, width, out_width, Layout::RowMajor).t(),
        MatMut::new(&mut d_q, rows, width),
        Accumulate::Overwrite,
    );
    if wanted.scale {
        let mut d_scale = vec![0.0f32; scale_rows * width];
        for (row, (dq, p)) in d_q
            .chunks_exact(width)
            .zip(saved.projected.chunks_exact(width))
            .enumerate()
        {
            let target = &mut d_scale[shape.scale_row(row) * width..][..width];
            for ((t, dq), p) in target.iter_mut().zip(dq).zip(p) {
                *t += dq * p;
            }
        }
        grads.scale = Some(d_scale);
    }
    if !(wanted.x || wanted.a) {
        return grads;
    }
    let mut d_p = d_q;
    for (row, values) in d_p.chunks_exact_mut(width).enumerate() {
        let s = &saved.scale[shape.scale_row(row) * width..][..width];
        values.iter_mut().zip(s).for_each(|(v, s)| *v *= s);
    }
    let d_p_view = MatRef::new(&d_p, rows, width, Layout::RowMajor);
    if wanted.a {
        let mut d_a = vec![0.0f32; d_in * width];
        matmul(
            MatRef::new(saved.x, rows, d_in, Layout::RowMajor).t(),
            d_p_view,
            MatMut::new(&mut d_a, d_in, width),
            Accumulate::Overwrite,
        );
        grads.a = Some(d_a);
    }
    if wanted.x {
        let mut d_x = vec![0.0f32; rows * d_in];
        matmul(
            d_p_view,
            MatRef::new(saved.a, d_in, width, Layout::RowMajor).t(),
            MatMut::new(&mut d_x, rows, d_in),
            Accumulate::Overwrite,
        );
        grads.x = Some(d_x);
    }
    grads
}

/// `((x·A) ⊙ s)·B` with `s` broadcast over the sequence: the sum-of-products mixture of a
/// meta-LoRA bank, `s` holding each column's α_k · scaling.
///
/// # Shapes
/// - `x`: `[batch, seq, d_in]`
/// - `a`: `[d_in, width]`, `b`: `[width, d_out]`
/// - `scale`: `[batch, width]` or `[1, width]`
/// - returns `[batch, seq, d_out]`
pub(crate) fn scaled_low_rank(
    x: Tensor<3>,
    a: Tensor<2>,
    b: Tensor<2>,
    scale: Tensor<2>,
) -> Tensor<3> {
    match Route::of(&x.device()) {
        Route::Host => {
            let [batch, seq, d_in] = x.dims();
            let [_, width] = a.dims();
            let [_, d_out] = b.dims();
            let [scale_rows, _] = scale.dims();
            let shape = LowRankShape {
                rows: batch * seq,
                seq,
                d_in,
                width,
                d_out,
                scale_rows,
            };
            let [x, a, b, scale] = [
                contiguous(into_flex(x)),
                contiguous(into_flex(a)),
                contiguous(into_flex(b)),
                contiguous(into_flex(scale)),
            ];
            let (_, _, out) = forward(shape, values(&x), values(&a), values(&b), values(&scale));
            from_flex(flex_from_vec(out, &[batch, seq, d_out]))
        }
        #[cfg(feature = "autodiff")]
        Route::HostAutodiff => super::autodiff::scaled_low_rank(x, a, b, scale),
        Route::Generic => generic_scaled_low_rank(x, a, b, scale),
    }
}

/// [`scaled_low_rank`] in burn's operations.
pub(crate) fn generic_scaled_low_rank(
    x: Tensor<3>,
    a: Tensor<2>,
    b: Tensor<2>,
    scale: Tensor<2>,
) -> Tensor<3> {
    let [scale_rows, width] = scale.dims();
    let projected = x.matmul(a.unsqueeze::<3>());
    (projected * scale.reshape([scale_rows, 1, width])).matmul(b.unsqueeze::<3>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-major `[m, k] · [k, n]` in f64, the reference.
    fn product(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for p in 0..k {
                for j in 0..n {
                    c[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
        c
    }

    #[test]
    fn forward_and_gradients_match_a_hand_computation_with_per_row_scales() {
        // batch 2 × seq 3 rows, d_in 4, width 3, d_out 5, a scale row per batch row.
        let shape = LowRankShape {
            rows: 6,
            seq: 3,
            d_in: 4,
            width: 3,
            d_out: 5,
            scale_rows: 2,
        };
        let value = |i: usize, salt: usize| ((i * 7 + salt * 13) % 11) as f32 / 4.0 - 1.25;
        let x: Vec<f32> = (0..24).map(|i| value(i, 1)).collect();
        let a: Vec<f32> = (0..12).map(|i| value(i, 2)).collect();
        let b: Vec<f32> = (0..15).map(|i| value(i, 3)).collect();
        let scale: Vec<f32> = (0..6).map(|i| value(i, 4)).collect();
        let dy: Vec<f32> = (0..30).map(|i| value(i, 5)).collect();
        let f = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
        let (x64, a64, b64, s64, dy64) = (f(&x), f(&a), f(&b), f(&scale), f(&dy));

        // The reference, term by term: y[i, j] = Σ_c (Σ_p x[i,p] a[p,c]) s[i/3, c] b[c, j].
        let p = product(&x64, &a64, 6, 4, 3);
        let q: Vec<f64> = (0..18)
            .map(|e| p[e] * s64[(e / 3) / 3 * 3 + e % 3])
            .collect();
        let y = product(&q, &b64, 6, 3, 5);
        let (_, _, out) = forward(shape, &x, &a, &b, &scale);
        for (got, want) in out.iter().zip(&y) {
            assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
        }

        let (projected, scaled, _) = forward(shape, &x, &a, &b, &scale);
        let saved = Saved {
            x: &x,
            a: &a,
            b: &b,
            scale: &scale,
            projected: &projected,
            scaled: &scaled,
        };
        let all = Wanted {
            x: true,
            a: true,
            b: true,
            scale: true,
        };
        let grads = backward(shape, saved, &dy, all);
        // dQ[i, c] = Σ_j dy[i, j] b[c, j]
        let dq: Vec<f64> = (0..18)
            .map(|e| {
                (0..5)
                    .map(|j| dy64[(e / 3) * 5 + j] * b64[(e % 3) * 5 + j])
                    .sum()
            })
            .collect();
        let dp: Vec<f64> = (0..18)
            .map(|e| dq[e] * s64[(e / 3) / 3 * 3 + e % 3])
            .collect();
        let mut want_b = vec![0.0; 15];
        let mut want_scale = vec![0.0; 6];
        let mut want_a = vec![0.0; 12];
        let mut want_x = vec![0.0; 24];
        for i in 0..6 {
            for c in 0..3 {
                for j in 0..5 {
                    want_b[c * 5 + j] += q[i * 3 + c] * dy64[i * 5 + j];
                }
                want_scale[(i / 3) * 3 + c] += dq[i * 3 + c] * p[i * 3 + c];
                for r in 0..4 {
                    want_a[r * 3 + c] += x64[i * 4 + r] * dp[i * 3 + c];
                    want_x[i * 4 + r] += dp[i * 3 + c] * a64[r * 3 + c];
                }
            }
        }
        let close = |got: &Option<Vec<f32>>, want: &[f64], name: &str| {
            let got = got.as_ref().unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(got.len(), want.len(), "{name}");
            for (g, w) in got.iter().zip(want) {
                assert!((f64::from(*g) - w).abs() < 1e-5, "{name}: {g} vs {w}");
            }
        };
        close(&grads.x, &want_x, "dx");
        close(&grads.a, &want_a, "dA");
        close(&grads.b, &want_b, "dB");
        close(&grads.scale, &want_scale, "ds");

        // Only what is wanted is formed.
        let some = backward(
            shape,
            saved,
            &dy,
            Wanted {
                x: false,
                a: false,
                b: true,
                scale: false,
            },
        );
        assert!(some.b.is_some() && some.x.is_none() && some.a.is_none() && some.scale.is_none());
    }

    #[test]
    fn one_scale_row_serves_every_input_row() {
        let shape = LowRankShape {
            rows: 4,
            seq: 2,
            d_in: 2,
            width: 2,
            d_out: 1,
            scale_rows: 1,
        };
        // x·A = x (A = I); scales (2, 3); B = [1, 1]ᵀ: y = 2·x0 + 3·x1.
        let x = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, -1.0, 2.0];
        let (_, _, out) = forward(shape, &x, &[1.0, 0.0, 0.0, 1.0], &[1.0, 1.0], &[2.0, 3.0]);
        assert_eq!(out, vec![2.0, 3.0, 5.0, 4.0]);
    }
}
