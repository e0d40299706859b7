//! SwiGLU: `h = silu(g) ⊙ u` with `silu(z) = z · sigmoid(z)`, forward and backward, over
//! rows with independent strides (so `g` and `u` may be two buffers or the two halves of
//! one `[rows, 2·width]` projection output).
//!
//! The sigmoid is evaluated as `1 / (1 + e)` or `e / (1 + e)` with `e = exp(−|z|) <= 1`, so
//! nothing overflows for large `|z|`; the vector `exp` flushes `e` to 0 below `e^-87`.
//! Row tails shorter than a vector go through the same vector code (padded on the stack),
//! so every element gets the same arithmetic wherever it sits.

use rayon::prelude::*;

use crate::attention::simd::{Isa, Simd, exp, multiversion};

/// Floats per parallel task.
const TASK_FLOATS: usize = 16 * 1024;
/// The widest vector, in floats (AVX-512).
const MAX_LANES: usize = 16;

/// Sizes of a SwiGLU call.
///
/// # Shapes
/// Every operand is `[rows, width]` (each with its own row stride).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwigluShape {
    /// Rows (tokens).
    pub rows: usize,
    /// Elements per row (the MLP width).
    pub width: usize,
}

/// Read-only rows: row `r` is `data[r · row_stride..][..width]`.
///
/// # Shapes
/// `[rows, width]` with `row_stride >= width`.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Elements between consecutive rows.
    pub row_stride: usize,
}

/// Writable rows: row `r` is `data[r · row_stride..][..width]`.
///
/// # Shapes
/// `[rows, width]` with `row_stride >= width`.
#[derive(Debug)]
pub struct RowsMut<'a> {
    /// The elements.
    pub data: &'a mut [f32],
    /// Elements between consecutive rows.
    pub row_stride: usize,
}

/// One buffer holding both gradients per row, like the fused gate/up projection's output:
/// row `r`'s gate part is `data[r · row_stride + gate_offset..][..width]`, its up part
/// `data[r · row_stride + up_offset..][..width]`.
///
/// # Shapes
/// `[rows, row_stride]` with the two `width`-long parts disjoint inside each row.
#[derive(Debug)]
pub struct GateUpMut<'a> {
    /// The elements.
    pub data: &'a mut [f32],
    /// Elements between consecutive rows.
    pub row_stride: usize,
    /// Where the gate gradient starts in a row.
    pub gate_offset: usize,
    /// Where the up gradient starts in a row.
    pub up_offset: usize,
}

/// `out = silu(gate) ⊙ up`.
///
/// # Shapes
/// `gate`, `up`, `out`: `[rows, width]`, each with its row stride.
pub fn swiglu(shape: SwigluShape, gate: Rows<'_>, up: Rows<'_>, out: RowsMut<'_>) {
    swiglu_with(Isa::detected(), shape, gate, up, out);
}

/// SwiGLU backward: `d_gate = d_out ⊙ up ⊙ silu'(gate)` and `d_up = d_out ⊙ silu(gate)`
/// (overwritten), with `silu'(z) = s(z)·(1 + z·(1 − s(z)))`.
///
/// # Shapes
/// `d_out`, `gate`, `up`, `d_gate`, `d_up`: `[rows, width]`, each with its row stride.
pub fn swiglu_backward(
    shape: SwigluShape,
    d_out: Rows<'_>,
    gate: Rows<'_>,
    up: Rows<'_>,
    d_gate: RowsMut<'_>,
    d_up: RowsMut<'_>,
) {
    swiglu_backward_with(
        Isa::detected(),
        shape,
        [d_out, gate, up],
        Grads::Separate(d_gate, d_up),
    );
}

/// [`swiglu_backward`] writing both gradients into one buffer (the gradient of a fused
/// gate/up projection output).
///
/// # Shapes
/// `d_out`, `gate`, `up`: `[rows, width]`; `d_gate_up`: see [`GateUpMut`].
pub fn swiglu_backward_fused(
    shape: SwigluShape,
    d_out: Rows<'_>,
    gate: Rows<'_>,
    up: Rows<'_>,
    d_gate_up: GateUpMut<'_>,
) {
    swiglu_backward_with(
        Isa::detected(),
        shape,
        [d_out, gate, up],
        Grads::Fused(d_gate_up),
    );
}

/// Where the backward writes.
#[derive(Debug)]
pub(crate) enum Grads<'a> {
    Separate(RowsMut<'a>, RowsMut<'a>),
    Fused(GateUpMut<'a>),
}

impl<'a> Rows<'a> {
    fn check(&self, shape: SwigluShape, what: &str) {
        if shape.rows > 0 && shape.width > 0 {
            assert!(
                self.row_stride >= shape.width,
                "{what}: row stride below the width"
            );
            let needed = (shape.rows - 1) * self.row_stride + shape.width;
            assert!(
                self.data.len() >= needed,
                "{what}: {} floats, {needed} needed",
                self.data.len()
            );
        }
    }

    fn row(self, r: usize, width: usize) -> &'a [f32] {
        &self.data[r * self.row_stride..][..width]
    }
}

/// Splits writable rows into per-task chunks of whole rows (the last may be short).
fn row_chunks<'a>(
    rows: RowsMut<'a>,
    shape: SwigluShape,
    per_task: usize,
    what: &str,
) -> Vec<&'a mut [f32]> {
    Rows {
        data: rows.data,
        row_stride: rows.row_stride,
    }
    .check(shape, what);
    if shape.rows == 0 || shape.width == 0 {
        return Vec::new();
    }
    let needed = (shape.rows - 1) * rows.row_stride + shape.width;
    rows.data[..needed]
        .chunks_mut(per_task * rows.row_stride)
        .collect()
}

fn rows_per_task(width: usize) -> usize {
    (TASK_FLOATS / width.max(1)).max(1)
}

pub(crate) fn swiglu_with(
    isa: Isa,
    shape: SwigluShape,
    gate: Rows<'_>,
    up: Rows<'_>,
    out: RowsMut<'_>,
) {
    gate.check(shape, "swiglu gate");
    up.check(shape, "swiglu up");
    let per_task = rows_per_task(shape.width);
    let out_stride = out.row_stride;
    let chunks = row_chunks(out, shape, per_task, "swiglu out");
    chunks.into_par_iter().enumerate().for_each(|(task, out)| {
        let first = task * per_task;
        for (r, out_row) in out.chunks_mut(out_stride).enumerate() {
            let row = first + r;
            let (g, u) = (gate.row(row, shape.width), up.row(row, shape.width));
            run_forward_row(isa, g, u, &mut out_row[..shape.width]);
        }
    });
}

pub(crate) fn swiglu_backward_with(
    isa: Isa,
    shape: SwigluShape,
    inputs: [Rows<'_>; 3],
    grads: Grads<'_>,
) {
    let [d_out, gate, up] = inputs;
    d_out.check(shape, "swiglu d_out");
    gate.check(shape, "swiglu gate");
    up.check(shape, "swiglu up");
    let width = shape.width;
    let per_task = rows_per_task(width);
    let row_inputs = move |row: usize| {
        (
            d_out.row(row, width),
            gate.row(row, width),
            up.row(row, width),
        )
    };
    match grads {
        Grads::Separate(d_gate, d_up) => {
            let (gate_stride, up_stride) = (d_gate.row_stride, d_up.row_stride);
            let d_gate = row_chunks(d_gate, shape, per_task, "swiglu d_gate");
            let d_up = row_chunks(d_up, shape, per_task, "swiglu d_up");
            d_gate
                .into_par_iter()
                .zip(d_up)
                .enumerate()
                .for_each(|(task, (dg, du))| {
                    let rows = dg.chunks_mut(gate_stride).zip(du.chunks_mut(up_stride));
                    for (r, (dg, du)) in rows.enumerate() {
                        let (dh, g, u) = row_inputs(task * per_task + r);
                        run_backward_row(isa, dh, g, u, &mut dg[..width], &mut du[..width]);
                    }
                });
        }
        Grads::Fused(GateUpMut {
            data,
            row_stride,
            gate_offset,
            up_offset,
        }) => {
            let (first, second) = (gate_offset.min(up_offset), gate_offset.max(up_offset));
            assert!(
                first + width <= second,
                "swiglu d_gate_up: gate and up parts overlap"
            );
            let extent = SwigluShape {
                rows: shape.rows,
                width: second + width,
            };
            let chunks = row_chunks(
                RowsMut { data, row_stride },
                extent,
                per_task,
                "swiglu d_gate_up",
            );
            chunks
                .into_par_iter()
                .enumerate()
                .for_each(|(task, chunk)| {
                    for (r, row) in chunk.chunks_mut(row_stride).enumerate() {
                        let (dh, g, u) = row_inputs(task * per_task + r);
                        let (low, high) = row.split_at_mut(second);
                        let (low, high) = (&mut low[first..first + width], &mut high[..width]);
                        let (dg, du) = if gate_offset < up_offset {
                            (low, high)
                        } else {
                            (high, low)
                        };
                        run_backward_row(isa, dh, g, u, dg, du);
                    }
                });
        }
    }
}

multiversion! {
    fn run_forward_row(gate: &[f32], up: &[f32], out: &mut [f32]) => forward_row;
}

multiversion! {
    fn run_backward_row(
        d_out: &[f32],
        gate: &[f32],
        up: &[f32],
        d_gate: &mut [f32],
        d_up: &mut [f32],
    ) => backward_row;
}

/// `(sigmoid(z), silu(z))` lane-wise.
#[inline(always)]
fn sigmoid_silu<S: Simd>(s: S, z: S::V) -> (S::V, S::V) {
    let e = exp(s, s.sub(s.splat(0.0), s.abs(z)));
    let positive = s.div(s.splat(1.0), s.add(s.splat(1.0), e));
    let sigmoid = s.select_negative(z, s.mul(e, positive), positive);
    (sigmoid, s.mul(z, sigmoid))
}

#[inline(always)]
fn forward_lanes<S: Simd>(s: S, g: &[f32], u: &[f32], h: &mut [f32]) {
    let (_, silu) = sigmoid_silu(s, s.load_from(g));
    s.store_to(h, s.mul(silu, s.load_from(u)));
}

#[inline(always)]
fn backward_lanes<S: Simd>(s: S, dh: &[f32], g: &[f32], u: &[f32], dg: &mut [f32], du: &mut [f32]) {
    let z = s.load_from(g);
    let (sigmoid, silu) = sigmoid_silu(s, z);
    let one = s.splat(1.0);
    // silu'(z) = s · (1 + z · (1 − s)).
    let slope = s.mul(sigmoid, s.mul_add(z, s.sub(one, sigmoid), one));
    let dh = s.load_from(dh);
    s.store_to(dg, s.mul(s.mul(dh, s.load_from(u)), slope));
    s.store_to(du, s.mul(dh, silu));
}

#[inline(always)]
fn forward_row<S: Simd>(s: S, gate: &[f32], up: &[f32], out: &mut [f32]) {
    let lanes = S::LANES;
    let body = out.len() / lanes * lanes;
    let parts = gate[..body]
        .chunks_exact(lanes)
        .zip(up[..body].chunks_exact(lanes));
    for ((g, u), h) in parts.zip(out[..body].chunks_exact_mut(lanes)) {
        forward_lanes(s, g, u, h);
    }
    let tail = out.len() - body;
    if tail > 0 {
        let mut buffers = [[0.0f32; MAX_LANES]; 3];
        buffers[0][..tail].copy_from_slice(&gate[body..]);
        buffers[1][..tail].copy_from_slice(&up[body..]);
        let [g, u, h] = &mut buffers;
        forward_lanes(s, &g[..lanes], &u[..lanes], &mut h[..lanes]);
        out[body..].copy_from_slice(&h[..tail]);
    }
}

#[inline(always)]
fn backward_row<S: Simd>(
    s: S,
    d_out: &[f32],
    gate: &[f32],
    up: &[f32],
    d_gate: &mut [f32],
    d_up: &mut [f32],
) {
    let lanes = S::LANES;
    let body = d_gate.len() / lanes * lanes;
    let inputs = d_out[..body]
        .chunks_exact(lanes)
        .zip(gate[..body].chunks_exact(lanes))
        .zip(up[..body].chunks_exact(lanes));
    let outputs = d_gate[..body]
        .chunks_exact_mut(lanes)
        .zip(d_up[..body].chunks_exact_mut(lanes));
    for (((dh, g), u), (dg, du)) in inputs.zip(outputs) {
        backward_lanes(s, dh, g, u, dg, du);
    }
    let tail = d_gate.len() - body;
    if tail > 0 {
        let mut buffers = [[0.0f32; MAX_LANES]; 5];
        buffers[0][..tail].copy_from_slice(&d_out[body..]);
        buffers[1][..tail].copy_from_slice(&gate[body..]);
        buffers[2][..tail].copy_from_slice(&up[body..]);
        let [dh, g, u, dg, du] = &mut buffers;
        backward_lanes(
            s,
            &dh[..lanes],
            &g[..lanes],
            &u[..lanes],
            &mut dg[..lanes],
            &mut du[..lanes],
        );
        d_gate[body..].copy_from_slice(&dg[..tail]);
        d_up[body..].copy_from_slice(&du[..tail]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::test_util::{SplitMix64, bits, in_pool};

    fn sigmoid(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }

    /// (h, d_gate, d_up) in f64.
    fn reference(dh: f32, g: f32, u: f32) -> (f64, f64, f64) {
        let (dh, z, u) = (dh as f64, g as f64, u as f64);
        let s = sigmoid(z);
        (z * s * u, dh * u * s * (1.0 + z * (1.0 - s)), dh * z * s)
    }

    /// `|got − want| <= 1e-6 · max(1, scale)`.
    fn close(got: f32, want: f64, scale: f64) -> bool {
        (got as f64 - want).abs() <= 1e-6 * scale.abs().max(1.0)
    }

    struct Data {
        gate_up: Vec<f32>,
        d_out: Vec<f32>,
    }

    /// `[rows, 2·width + 3]`: gate at 0, up at `width + 3`.
    fn data(shape: SwigluShape, seed: u64, magnitude: f32) -> Data {
        let mut rng = SplitMix64::new(seed);
        let stride = 2 * shape.width + 3;
        Data {
            gate_up: rng.vec(shape.rows * stride, magnitude),
            d_out: rng.vec(shape.rows * shape.width, 1.0),
        }
    }

    fn views(d: &Data, shape: SwigluShape) -> (Rows<'_>, Rows<'_>, Rows<'_>) {
        let stride = 2 * shape.width + 3;
        (
            Rows {
                data: &d.d_out,
                row_stride: shape.width,
            },
            Rows {
                data: &d.gate_up,
                row_stride: stride,
            },
            Rows {
                data: &d.gate_up[shape.width + 3..],
                row_stride: stride,
            },
        )
    }

    struct Outputs {
        h: Vec<f32>,
        d_gate: Vec<f32>,
        d_up: Vec<f32>,
        fused: Vec<f32>,
    }

    fn run(isa: Isa, d: &Data, shape: SwigluShape) -> Outputs {
        let (d_out, gate, up) = views(d, shape);
        let n = shape.rows * shape.width;
        let mut h = vec![f32::NAN; n];
        swiglu_with(
            isa,
            shape,
            gate,
            up,
            RowsMut {
                data: &mut h,
                row_stride: shape.width,
            },
        );
        let (mut d_gate, mut d_up) = (vec![f32::NAN; n], vec![f32::NAN; n]);
        let grads = Grads::Separate(
            RowsMut {
                data: &mut d_gate,
                row_stride: shape.width,
            },
            RowsMut {
                data: &mut d_up,
                row_stride: shape.width,
            },
        );
        swiglu_backward_with(isa, shape, [d_out, gate, up], grads);
        // Up part first, to exercise the offsets.
        let mut fused = vec![f32::NAN; shape.rows * 2 * shape.width];
        let grads = Grads::Fused(GateUpMut {
            data: &mut fused,
            row_stride: 2 * shape.width,
            gate_offset: shape.width,
            up_offset: 0,
        });
        swiglu_backward_with(isa, shape, [d_out, gate, up], grads);
        Outputs {
            h,
            d_gate,
            d_up,
            fused,
        }
    }

    const SHAPES: [SwigluShape; 6] = [
        SwigluShape { rows: 1, width: 1 },
        SwigluShape { rows: 3, width: 7 },
        SwigluShape { rows: 5, width: 16 },
        SwigluShape { rows: 4, width: 45 },
        SwigluShape {
            rows: 20,
            width: 1536,
        },
        SwigluShape {
            rows: 33,
            width: 100,
        },
    ];

    /// Within 1e-6 of f64 on every instruction set and against the portable path, relative
    /// to `|h|`, `|d_up|` and, for `d_gate` (whose `silu'` factor cancels near z = -1.28),
    /// to `2·|d_out · up|`; also for gates up to ±120 (saturated sigmoid). The fused layout
    /// gives bitwise the separate one.
    #[test]
    fn matches_reference_on_every_isa() {
        for (n, &shape) in SHAPES.iter().enumerate() {
            for magnitude in [4.0, 120.0] {
                let d = data(shape, n as u64, magnitude);
                let (d_out, gate, up) = views(&d, shape);
                let portable = run(Isa::PORTABLE, &d, shape);
                for isa in Isa::available() {
                    let out = run(isa, &d, shape);
                    for r in 0..shape.rows {
                        for c in 0..shape.width {
                            let i = r * shape.width + c;
                            let w = shape.width;
                            let (dh, g, u) =
                                (d_out.row(r, w)[c], gate.row(r, w)[c], up.row(r, w)[c]);
                            let (h, dg, du) = reference(dh, g, u);
                            let dg_scale = 2.0 * dh as f64 * u as f64;
                            let what = format!("{} {shape:?} z={g}", isa.name());
                            let checks = [
                                ("h", out.h[i], portable.h[i], h, h),
                                ("d_gate", out.d_gate[i], portable.d_gate[i], dg, dg_scale),
                                ("d_up", out.d_up[i], portable.d_up[i], du, du),
                            ];
                            for (name, got, from_portable, want, scale) in checks {
                                assert!(close(got, want, scale), "{what}: {name} {got} vs {want}");
                                let p = from_portable as f64;
                                assert!(
                                    close(got, p, scale),
                                    "{what}: {name} {got} vs portable {p}"
                                );
                            }
                            let fused_row = &out.fused[r * 2 * w..][..2 * w];
                            assert_eq!(fused_row[w + c].to_bits(), out.d_gate[i].to_bits());
                            assert_eq!(fused_row[c].to_bits(), out.d_up[i].to_bits());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn gate_gradient_matches_finite_differences() {
        let h = 1e-6;
        for z in [-30.0f64, -5.0, -0.7, 0.0, 0.3, 2.0, 9.0, 40.0] {
            let f = |z: f64| z * sigmoid(z) * 1.5;
            let numeric = (f(z + h) - f(z - h)) / (2.0 * h);
            let (_, analytic, _) = reference(1.0, z as f32, 1.5);
            assert!(
                (analytic - numeric).abs() <= 1e-6,
                "{z}: {analytic} vs {numeric}"
            );
            let shape = SwigluShape { rows: 1, width: 1 };
            let (dh, g, u) = ([1.0f32], [z as f32], [1.5f32]);
            let (mut dg, mut du) = ([0.0f32], [0.0f32]);
            swiglu_backward(
                shape,
                Rows {
                    data: &dh,
                    row_stride: 1,
                },
                Rows {
                    data: &g,
                    row_stride: 1,
                },
                Rows {
                    data: &u,
                    row_stride: 1,
                },
                RowsMut {
                    data: &mut dg,
                    row_stride: 1,
                },
                RowsMut {
                    data: &mut du,
                    row_stride: 1,
                },
            );
            assert!(
                (dg[0] as f64 - numeric).abs() <= 1e-5,
                "{z}: {} vs {numeric}",
                dg[0]
            );
        }
    }

    #[test]
    fn extreme_gates_stay_finite() {
        let g = [-1e4f32, -100.0, -88.0, 88.0, 100.0, 1e4, -3e38, 3e38];
        let u = [1.0f32; 8];
        let shape = SwigluShape { rows: 1, width: 8 };
        for isa in Isa::available() {
            let mut h = [0.0f32; 8];
            swiglu_with(
                isa,
                shape,
                Rows {
                    data: &g,
                    row_stride: 8,
                },
                Rows {
                    data: &u,
                    row_stride: 8,
                },
                RowsMut {
                    data: &mut h,
                    row_stride: 8,
                },
            );
            assert!(h.iter().all(|x| x.is_finite()), "{}: {h:?}", isa.name());
            assert_eq!(h[0], 0.0);
            assert_eq!(h[5], 1e4);
        }
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        let shape = SwigluShape {
            rows: 2240,
            width: 1536,
        };
        let d = data(shape, 77, 6.0);
        for isa in Isa::available() {
            let one = in_pool(1, || run(isa, &d, shape));
            for threads in [2, 3] {
                let many = in_pool(threads, || run(isa, &d, shape));
                assert_eq!(bits(&one.h), bits(&many.h));
                assert_eq!(bits(&one.d_gate), bits(&many.d_gate));
                assert_eq!(bits(&one.fused), bits(&many.fused));
            }
        }
    }
}
