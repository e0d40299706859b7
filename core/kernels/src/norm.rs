//! RMSNorm over rows: `y = x · inv_rms · w` with `inv_rms = 1 / sqrt(mean(x²) + eps)`,
//! forward (plain, in place, and fused with the residual add) and backward.
//!
//! The mean of squares is an f32 sum in a fixed order per row (4 vector accumulators, then
//! lanes, then the tail), so results do not depend on the thread count.

use rayon::prelude::*;

use crate::attention::simd::{Isa, Simd, dot, multiversion};

/// Floats per parallel task: large enough to amortize scheduling, small enough to balance.
const TASK_FLOATS: usize = 16 * 1024;
/// Columns per task of the weight-gradient reduction.
const WEIGHT_GRAD_COLUMNS: usize = 64;

fn rows_per_task(width: usize) -> usize {
    (TASK_FLOATS / width).max(1)
}

/// Checks the common preconditions; returns the row count.
fn check(x_len: usize, weight: &[f32], eps: f32, inv_rms: Option<&[f32]>) -> usize {
    let width = weight.len();
    assert!(width > 0, "rms_norm: empty weight");
    assert!(
        x_len.is_multiple_of(width),
        "rms_norm: {x_len} floats are not rows of {width}"
    );
    assert!(
        eps.is_finite() && eps >= 0.0,
        "rms_norm: eps must be finite and non-negative"
    );
    let rows = x_len / width;
    if let Some(inv_rms) = inv_rms {
        assert_eq!(inv_rms.len(), rows, "rms_norm: one inv_rms per row");
    }
    rows
}

/// RMSNorm forward into a separate buffer.
///
/// # Shapes
/// `x`, `y`: `[rows, width]` with `width = weight.len()`; `inv_rms`: `[rows]` (optional; the
/// backward needs it).
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, y: &mut [f32], inv_rms: Option<&mut [f32]>) {
    rms_norm_with(Isa::detected(), x, weight, eps, y, inv_rms);
}

/// RMSNorm forward, overwriting `x` with `y`.
///
/// # Shapes
/// `x`: `[rows, width]` with `width = weight.len()`; `inv_rms`: `[rows]` (optional).
pub fn rms_norm_in_place(x: &mut [f32], weight: &[f32], eps: f32, inv_rms: Option<&mut [f32]>) {
    rms_norm_in_place_with(Isa::detected(), x, weight, eps, inv_rms);
}

/// Residual add then RMSNorm: `x += delta`, then `y = rms_norm(x)` (the new `x` stays the
/// residual stream). Bitwise the same as the two steps done separately.
///
/// # Shapes
/// `x`, `delta`, `y`: `[rows, width]` with `width = weight.len()`; `inv_rms`: `[rows]`
/// (optional).
pub fn add_rms_norm(
    x: &mut [f32],
    delta: &[f32],
    weight: &[f32],
    eps: f32,
    y: &mut [f32],
    inv_rms: Option<&mut [f32]>,
) {
    add_rms_norm_with(Isa::detected(), x, delta, weight, eps, y, inv_rms);
}

/// RMSNorm backward: `d_x = inv · (g − x · inv² · mean(g ⊙ x))` with `g = d_y ⊙ w`
/// (overwritten); if `d_weight` is given, adds `Σ_rows d_y ⊙ x · inv` to it.
///
/// # Shapes
/// `d_y`, `x`, `d_x`: `[rows, width]` with `width = weight.len()`; `inv_rms`: `[rows]`, as
/// the forward returned it; `d_weight`: `[width]`.
pub fn rms_norm_backward(
    d_y: &[f32],
    x: &[f32],
    weight: &[f32],
    inv_rms: &[f32],
    d_x: &mut [f32],
    d_weight: Option<&mut [f32]>,
) {
    rms_norm_backward_with(Isa::detected(), d_y, x, weight, inv_rms, d_x, d_weight);
}

pub(crate) fn rms_norm_with(
    isa: Isa,
    x: &[f32],
    weight: &[f32],
    eps: f32,
    y: &mut [f32],
    inv_rms: Option<&mut [f32]>,
) {
    check(x.len(), weight, eps, inv_rms.as_deref());
    assert_eq!(y.len(), x.len(), "rms_norm: y must match x");
    let chunk = rows_per_task(weight.len()) * weight.len();
    let tasks = split_rows(
        x.chunks(chunk).zip(y.chunks_mut(chunk)),
        inv_rms,
        chunk / weight.len(),
    );
    tasks.into_par_iter().for_each(|((x, y), inv_rms)| {
        run_norm_rows(isa, x, weight, eps, y, inv_rms);
    });
}

pub(crate) fn rms_norm_in_place_with(
    isa: Isa,
    x: &mut [f32],
    weight: &[f32],
    eps: f32,
    inv_rms: Option<&mut [f32]>,
) {
    check(x.len(), weight, eps, inv_rms.as_deref());
    let chunk = rows_per_task(weight.len()) * weight.len();
    let tasks = split_rows(x.chunks_mut(chunk), inv_rms, chunk / weight.len());
    tasks.into_par_iter().for_each(|(x, inv_rms)| {
        run_norm_rows_in_place(isa, x, weight, eps, inv_rms);
    });
}

pub(crate) fn add_rms_norm_with(
    isa: Isa,
    x: &mut [f32],
    delta: &[f32],
    weight: &[f32],
    eps: f32,
    y: &mut [f32],
    inv_rms: Option<&mut [f32]>,
) {
    check(x.len(), weight, eps, inv_rms.as_deref());
    assert_eq!(delta.len(), x.len(), "add_rms_norm: delta must match x");
    assert_eq!(y.len(), x.len(), "add_rms_norm: y must match x");
    let chunk = rows_per_task(weight.len()) * weight.len();
    let rows = x
        .chunks_mut(chunk)
        .zip(delta.chunks(chunk))
        .zip(y.chunks_mut(chunk));
    let tasks = split_rows(rows, inv_rms, chunk / weight.len());
    tasks
        .into_par_iter()
        .for_each(|(((x, delta), y), inv_rms)| {
            run_add_norm_rows(isa, x, delta, weight, eps, y, inv_rms);
        });
}

pub(crate) fn rms_norm_backward_with(
    isa: Isa,
    d_y: &[f32],
    x: &[f32],
    weight: &[f32],
    inv_rms: &[f32],
    d_x: &mut [f32],
    d_weight: Option<&mut [f32]>,
) {
    let width = weight.len();
    check(x.len(), weight, 0.0, Some(inv_rms));
    assert_eq!(d_y.len(), x.len(), "rms_norm_backward: d_y must match x");
    assert_eq!(d_x.len(), x.len(), "rms_norm_backward: d_x must match x");
    let rows_per_task = rows_per_task(width);
    let chunk = rows_per_task * width;
    let tasks: Vec<_> = d_y
        .chunks(chunk)
        .zip(x.chunks(chunk))
        .zip(inv_rms.chunks(rows_per_task))
        .zip(d_x.chunks_mut(chunk))
        .collect();
    tasks
        .into_par_iter()
        .for_each(|(((d_y, x), inv_rms), d_x)| {
            run_backward_rows(isa, d_y, x, weight, inv_rms, d_x);
        });
    if let Some(d_weight) = d_weight {
        assert_eq!(
            d_weight.len(),
            width,
            "rms_norm_backward: d_weight must match weight"
        );
        // One task per column block, rows summed in order: deterministic without a tree.
        d_weight
            .par_chunks_mut(WEIGHT_GRAD_COLUMNS)
            .enumerate()
            .for_each(|(block, d_w)| {
                run_weight_grad(
                    isa,
                    d_y,
                    x,
                    inv_rms,
                    width,
                    block * WEIGHT_GRAD_COLUMNS,
                    d_w,
                );
            });
    }
}

/// Pairs each chunk of rows with its slice of the optional `inv_rms`.
fn split_rows<T>(
    chunks: impl Iterator<Item = T>,
    inv_rms: Option<&mut [f32]>,
    rows_per_task: usize,
) -> Vec<(T, Option<&mut [f32]>)> {
    match inv_rms {
        Some(inv_rms) => chunks
            .zip(inv_rms.chunks_mut(rows_per_task).map(Some))
            .collect(),
        None => chunks.map(|c| (c, None)).collect(),
    }
}

multiversion! {
    fn run_norm_rows(
        x: &[f32],
        weight: &[f32],
        eps: f32,
        y: &mut [f32],
        inv_rms: Option<&mut [f32]>,
    ) => norm_rows;
}

multiversion! {
    fn run_norm_rows_in_place(
        x: &mut [f32],
        weight: &[f32],
        eps: f32,
        inv_rms: Option<&mut [f32]>,
    ) => norm_rows_in_place;
}

multiversion! {
    fn run_add_norm_rows(
        x: &mut [f32],
        delta: &[f32],
        weight: &[f32],
        eps: f32,
        y: &mut [f32],
        inv_rms: Option<&mut [f32]>,
    ) => add_norm_rows;
}

multiversion! {
    fn run_backward_rows(
        d_y: &[f32],
        x: &[f32],
        weight: &[f32],
        inv_rms: &[f32],
        d_x: &mut [f32],
    ) => backward_rows;
}

multiversion! {
    fn run_weight_grad(
        d_y: &[f32],
        x: &[f32],
        inv_rms: &[f32],
        width: usize,
        first_column: usize,
        d_weight: &mut [f32],
    ) => weight_grad;
}

#[inline(always)]
fn inverse_rms<S: Simd>(s: S, x: &[f32], eps: f32) -> f32 {
    let mean = dot(s, x, x) / x.len() as f32;
    1.0 / (mean + eps).sqrt()
}

/// `dst = (src · inv) ⊙ weight`.
#[inline(always)]
fn scale_row<S: Simd>(s: S, src: &[f32], inv: f32, weight: &[f32], dst: &mut [f32]) {
    let lanes = S::LANES;
    let body = src.len() / lanes * lanes;
    let inv_v = s.splat(inv);
    let parts = src[..body]
        .chunks_exact(lanes)
        .zip(weight[..body].chunks_exact(lanes));
    for ((x, w), y) in parts.zip(dst[..body].chunks_exact_mut(lanes)) {
        s.store_to(y, s.mul(s.mul(s.load_from(x), inv_v), s.load_from(w)));
    }
    for ((&x, &w), y) in src[body..]
        .iter()
        .zip(&weight[body..])
        .zip(&mut dst[body..])
    {
        *y = x * inv * w;
    }
}

/// In-place version of [`scale_row`].
#[inline(always)]
fn scale_row_in_place<S: Simd>(s: S, x: &mut [f32], inv: f32, weight: &[f32]) {
    let lanes = S::LANES;
    let body = x.len() / lanes * lanes;
    let inv_v = s.splat(inv);
    for (x, w) in x[..body]
        .chunks_exact_mut(lanes)
        .zip(weight[..body].chunks_exact(lanes))
    {
        let value = s.mul(s.mul(s.load_from(x), inv_v), s.load_from(w));
        s.store_to(x, value);
    }
    for (x, &w) in x[body..].iter_mut().zip(&weight[body..]) {
        *x = *x * inv * w;
    }
}

#[inline(always)]
fn norm_rows<S: Simd>(
    s: S,
    x: &[f32],
    weight: &[f32],
    eps: f32,
    y: &mut [f32],
    mut inv_rms: Option<&mut [f32]>,
) {
    let width = weight.len();
    for (r, (x, y)) in x
        .chunks_exact(width)
        .zip(y.chunks_exact_mut(width))
        .enumerate()
    {
        let inv = inverse_rms(s, x, eps);
        scale_row(s, x, inv, weight, y);
        if let Some(inv_rms) = inv_rms.as_deref_mut() {
            inv_rms[r] = inv;
        }
    }
}

#[inline(always)]
fn norm_rows_in_place<S: Simd>(
    s: S,
    x: &mut [f32],
    weight: &[f32],
    eps: f32,
    mut inv_rms: Option<&mut [f32]>,
) {
    for (r, x) in x.chunks_exact_mut(weight.len()).enumerate() {
        let inv = inverse_rms(s, x, eps);
        scale_row_in_place(s, x, inv, weight);
        if let Some(inv_rms) = inv_rms.as_deref_mut() {
            inv_rms[r] = inv;
        }
    }
}

#[inline(always)]
fn add_norm_rows<S: Simd>(
    s: S,
    x: &mut [f32],
    delta: &[f32],
    weight: &[f32],
    eps: f32,
    y: &mut [f32],
    mut inv_rms: Option<&mut [f32]>,
) {
    let width = weight.len();
    let lanes = S::LANES;
    let body = width / lanes * lanes;
    let rows = x.chunks_exact_mut(width).zip(delta.chunks_exact(width));
    for (r, ((x, delta), y)) in rows.zip(y.chunks_exact_mut(width)).enumerate() {
        for (x, d) in x[..body]
            .chunks_exact_mut(lanes)
            .zip(delta[..body].chunks_exact(lanes))
        {
            let sum = s.add(s.load_from(x), s.load_from(d));
            s.store_to(x, sum);
        }
        for (x, &d) in x[body..].iter_mut().zip(&delta[body..]) {
            *x += d;
        }
        // The row is in L1 now; a second pass keeps the sum order of `rms_norm`.
        let inv = inverse_rms(s, x, eps);
        scale_row(s, x, inv, weight, y);
        if let Some(inv_rms) = inv_rms.as_deref_mut() {
            inv_rms[r] = inv;
        }
    }
}

#[inline(always)]
fn backward_rows<S: Simd>(
    s: S,
    d_y: &[f32],
    x: &[f32],
    weight: &[f32],
    inv_rms: &[f32],
    d_x: &mut [f32],
) {
    let width = weight.len();
    let lanes = S::LANES;
    let body = width / lanes * lanes;
    let rows = d_y
        .chunks_exact(width)
        .zip(x.chunks_exact(width))
        .zip(inv_rms);
    for (((d_y, x), &inv), d_x) in rows.zip(d_x.chunks_exact_mut(width)) {
        // mean(g ⊙ x) with g = d_y ⊙ w, accumulated like `dot`.
        let mut acc = [s.splat(0.0); 4];
        let block = 4 * lanes;
        let full = width / block * block;
        for ((g4, w4), x4) in d_y[..full]
            .chunks_exact(block)
            .zip(weight[..full].chunks_exact(block))
            .zip(x[..full].chunks_exact(block))
        {
            let parts = g4
                .chunks_exact(lanes)
                .zip(w4.chunks_exact(lanes))
                .zip(x4.chunks_exact(lanes));
            for (slot, ((g, w), x)) in acc.iter_mut().zip(parts) {
                let gw = s.mul(s.load_from(g), s.load_from(w));
                *slot = s.mul_add(gw, s.load_from(x), *slot);
            }
        }
        let rest = d_y[full..body]
            .chunks_exact(lanes)
            .zip(weight[full..body].chunks_exact(lanes))
            .zip(x[full..body].chunks_exact(lanes));
        for ((g, w), x) in rest {
            let gw = s.mul(s.load_from(g), s.load_from(w));
            acc[0] = s.mul_add(gw, s.load_from(x), acc[0]);
        }
        let mut sum = s.reduce_add(s.add(s.add(acc[0], acc[1]), s.add(acc[2], acc[3])));
        for ((&g, &w), &x) in d_y[body..].iter().zip(&weight[body..]).zip(&x[body..]) {
            sum += g * w * x;
        }
        let x_coef = inv * inv * inv * (sum / width as f32);
        let (inv_v, coef_v) = (s.splat(inv), s.splat(x_coef));
        let parts = d_y[..body]
            .chunks_exact(lanes)
            .zip(weight[..body].chunks_exact(lanes))
            .zip(x[..body].chunks_exact(lanes));
        for (((g, w), x), dx) in parts.zip(d_x[..body].chunks_exact_mut(lanes)) {
            let gw = s.mul(s.load_from(g), s.load_from(w));
            let value = s.sub(s.mul(inv_v, gw), s.mul(coef_v, s.load_from(x)));
            s.store_to(dx, value);
        }
        let tail = d_y[body..].iter().zip(&weight[body..]).zip(&x[body..]);
        for (((&g, &w), &x), dx) in tail.zip(&mut d_x[body..]) {
            *dx = inv * (g * w) - x_coef * x;
        }
    }
}

/// `d_weight[c] += Σ_rows d_y[r][c] · x[r][c] · inv_rms[r]` for the columns
/// `first_column..first_column + d_weight.len()`, rows in order.
#[inline(always)]
fn weight_grad<S: Simd>(
    s: S,
    d_y: &[f32],
    x: &[f32],
    inv_rms: &[f32],
    width: usize,
    first_column: usize,
    d_weight: &mut [f32],
) {
    let columns = d_weight.len();
    assert!(columns <= WEIGHT_GRAD_COLUMNS && first_column + columns <= width);
    let lanes = S::LANES;
    let body = columns / lanes * lanes;
    let mut acc = [0.0f32; WEIGHT_GRAD_COLUMNS];
    let rows = d_y
        .chunks_exact(width)
        .zip(x.chunks_exact(width))
        .zip(inv_rms);
    for ((d_y, x), &inv) in rows {
        let d_y = &d_y[first_column..][..columns];
        let x = &x[first_column..][..columns];
        let inv_v = s.splat(inv);
        let parts = d_y[..body]
            .chunks_exact(lanes)
            .zip(x[..body].chunks_exact(lanes));
        for ((g, x), a) in parts.zip(acc[..body].chunks_exact_mut(lanes)) {
            let value = s.mul_add(s.load_from(g), s.mul(s.load_from(x), inv_v), s.load_from(a));
            s.store_to(a, value);
        }
        for ((&g, &x), a) in d_y[body..]
            .iter()
            .zip(&x[body..])
            .zip(&mut acc[body..columns])
        {
            *a += g * (x * inv);
        }
    }
    for (d_w, &a) in d_weight.iter_mut().zip(&acc) {
        *d_w += a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::test_util::{SplitMix64, bits, in_pool, max_abs, max_abs_diff};

    const EPS: f32 = 1e-5;
    const SHAPES: [(usize, usize); 8] = [
        (1, 1),
        (3, 3),
        (5, 16),
        (4, 17),
        (37, 64),
        (7, 576),
        (2, 1000),
        (300, 40),
    ];

    fn inputs(rows: usize, width: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut rng = SplitMix64::new(seed);
        let x = rng.vec(rows * width, 2.0);
        let weight: Vec<f32> = (0..width).map(|_| 1.0 + rng.symmetric() * 0.5).collect();
        let d_y = rng.vec(rows * width, 1.0);
        (x, weight, d_y)
    }

    fn reference_inv(x: &[f64]) -> f64 {
        1.0 / (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64 + EPS as f64).sqrt()
    }

    /// (y, inv_rms, d_x, d_weight) in f64.
    fn reference(x: &[f32], w: &[f32], d_y: &[f32]) -> [Vec<f64>; 4] {
        let width = w.len();
        let (mut y, mut inv, mut d_x, mut d_w) = (vec![], vec![], vec![], vec![0.0; width]);
        for (x, g) in x.chunks(width).zip(d_y.chunks(width)) {
            let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let r = reference_inv(&x);
            let gw: Vec<f64> = g
                .iter()
                .zip(w)
                .map(|(&g, &w)| g as f64 * w as f64)
                .collect();
            let mean = gw.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>() / width as f64;
            for c in 0..width {
                y.push(x[c] * r * w[c] as f64);
                d_x.push(r * gw[c] - x[c] * r * r * r * mean);
                d_w[c] += g[c] as f64 * x[c] * r;
            }
            inv.push(r);
        }
        [y, inv, d_x, d_w]
    }

    struct Outputs {
        y: Vec<f32>,
        inv: Vec<f32>,
        d_x: Vec<f32>,
        d_w: Vec<f32>,
    }

    fn run(isa: Isa, x: &[f32], w: &[f32], d_y: &[f32]) -> Outputs {
        let rows = x.len() / w.len();
        let mut y = vec![f32::NAN; x.len()];
        let mut inv = vec![f32::NAN; rows];
        rms_norm_with(isa, x, w, EPS, &mut y, Some(&mut inv));
        let mut d_x = vec![f32::NAN; x.len()];
        let mut d_w = vec![0.0; w.len()];
        rms_norm_backward_with(isa, d_y, x, w, &inv, &mut d_x, Some(&mut d_w));
        Outputs { y, inv, d_x, d_w }
    }

    fn assert_close(what: &str, got: &[f32], reference: &[f64], tolerance: f64) {
        let error = max_abs_diff(got, reference);
        let bound = tolerance * max_abs(reference).max(1.0);
        assert!(error <= bound, "{what}: max error {error:e} > {bound:e}");
    }

    /// y, inv_rms, d_x within 2e-6 and d_weight within 1e-5 (relative to the largest value, at
    /// least 1) of f64, on every instruction set.
    #[test]
    fn matches_reference_on_every_isa() {
        for (n, &(rows, width)) in SHAPES.iter().enumerate() {
            let (x, w, d_y) = inputs(rows, width, n as u64);
            let [y, inv, d_x, d_w] = reference(&x, &w, &d_y);
            for isa in Isa::available() {
                let out = run(isa, &x, &w, &d_y);
                let what = |name: &str| format!("{rows}×{width} {} {name}", isa.name());
                assert_close(&what("y"), &out.y, &y, 2e-6);
                assert_close(&what("inv_rms"), &out.inv, &inv, 2e-6);
                assert_close(&what("d_x"), &out.d_x, &d_x, 2e-6);
                assert_close(&what("d_weight"), &out.d_w, &d_w, 1e-5);
                let portable = run(Isa::PORTABLE, &x, &w, &d_y);
                let p64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
                assert_close(&what("y vs portable"), &out.y, &p64(&portable.y), 2e-6);
                assert_close(
                    &what("d_x vs portable"),
                    &out.d_x,
                    &p64(&portable.d_x),
                    2e-6,
                );
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (rows, width) = (3, 37);
        let (x, w, d_y) = inputs(rows, width, 42);
        let [_, _, d_x, _] = reference(&x, &w, &d_y);
        let kernel = run(Isa::detected(), &x, &w, &d_y);
        let loss = |x: &[f64]| {
            x.chunks(width)
                .zip(d_y.chunks(width))
                .map(|(x, g)| {
                    let r = reference_inv(x);
                    (0..width)
                        .map(|c| x[c] * r * w[c] as f64 * g[c] as f64)
                        .sum::<f64>()
                })
                .sum::<f64>()
        };
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        for index in [0, 5, 36, 37, 60, 110] {
            let h = 1e-6;
            let (mut plus, mut minus) = (x64.clone(), x64.clone());
            plus[index] += h;
            minus[index] -= h;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
            assert!(
                (d_x[index] - numeric).abs() <= 1e-6,
                "{index}: {} vs {numeric}",
                d_x[index]
            );
            let ours = kernel.d_x[index] as f64;
            assert!(
                (ours - numeric).abs() <= 1e-5,
                "{index}: {ours} vs {numeric}"
            );
        }
    }

    /// The in-place and fused variants give bitwise what the plain forward gives.
    #[test]
    fn variants_agree_bitwise() {
        let (rows, width) = (50, 576);
        let (x, w, delta) = inputs(rows, width, 9);
        for isa in Isa::available() {
            let mut y = vec![0.0; x.len()];
            let mut inv = vec![0.0; rows];
            rms_norm_with(isa, &x, &w, EPS, &mut y, Some(&mut inv));
            let mut in_place = x.clone();
            let mut inv_in_place = vec![0.0; rows];
            rms_norm_in_place_with(isa, &mut in_place, &w, EPS, Some(&mut inv_in_place));
            assert_eq!(bits(&in_place), bits(&y), "{}", isa.name());
            assert_eq!(bits(&inv_in_place), bits(&inv), "{}", isa.name());

            let sum: Vec<f32> = x.iter().zip(&delta).map(|(a, b)| a + b).collect();
            let mut y_sum = vec![0.0; x.len()];
            rms_norm_with(isa, &sum, &w, EPS, &mut y_sum, None);
            let mut residual = x.clone();
            let mut y_fused = vec![0.0; x.len()];
            add_rms_norm_with(isa, &mut residual, &delta, &w, EPS, &mut y_fused, None);
            assert_eq!(bits(&residual), bits(&sum), "{}", isa.name());
            assert_eq!(bits(&y_fused), bits(&y_sum), "{}", isa.name());
        }
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        let (rows, width) = (2240, 576);
        let (x, w, d_y) = inputs(rows, width, 1);
        for isa in Isa::available() {
            let one = in_pool(1, || run(isa, &x, &w, &d_y));
            for threads in [2, 3] {
                let many = in_pool(threads, || run(isa, &x, &w, &d_y));
                assert_eq!(bits(&one.y), bits(&many.y));
                assert_eq!(bits(&one.inv), bits(&many.inv));
                assert_eq!(bits(&one.d_x), bits(&many.d_x));
                assert_eq!(bits(&one.d_w), bits(&many.d_w));
            }
        }
    }

    #[test]
    fn weight_gradient_accumulates() {
        let (x, w, d_y) = inputs(4, 9, 3);
        let mut inv = vec![0.0; 4];
        let mut y = vec![0.0; 36];
        rms_norm(&x, &w, EPS, &mut y, Some(&mut inv));
        let mut d_x = vec![0.0; 36];
        let mut once = vec![0.0; 9];
        rms_norm_backward(&d_y, &x, &w, &inv, &mut d_x, Some(&mut once));
        let mut twice = once.clone();
        rms_norm_backward(&d_y, &x, &w, &inv, &mut d_x, Some(&mut twice));
        for (a, b) in once.iter().zip(&twice) {
            assert_eq!(2.0 * a, *b);
        }
    }
}
