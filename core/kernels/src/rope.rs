//! Rotary position embedding, rotate-half convention (Hugging Face Llama), in place on
//! strided `[batch, seq, heads, head_dim]` tensors, and its transpose for the backward.
//!
//! For a head vector `x` at position `p`, with `half = head_dim / 2` and `i < half`:
//! `out[i] = x[i]·cos[p][i] − x[i+half]·sin[p][i]` and
//! `out[i+half] = x[i+half]·cos[p][i+half] + x[i]·sin[p][i+half]`.
//!
//! Only multiplies, adds and subtracts (no FMA), so every instruction set gives bitwise the
//! same result as the scalar formula.

use rayon::prelude::*;

use crate::attention::simd::{Isa, Simd, multiversion};
use crate::attention::{Dims, HeadsMut, RowWriter};

/// Positions per parallel task.
const POSITIONS_PER_TASK: usize = 16;

/// Sizes of a RoPE call: `positions = offset + (0..seq)` for every batch row.
///
/// # Shapes
/// The tensor is logically `[batch, seq, heads, head_dim]`; its memory order is the
/// [`HeadsMut`]'s layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RopeShape {
    /// Independent rows.
    pub batch: usize,
    /// Positions per row.
    pub seq: usize,
    /// Heads per position.
    pub heads: usize,
    /// Width of a head vector; even.
    pub head_dim: usize,
}

/// Cosine and sine tables as the model stores them.
///
/// # Shapes
/// `cos`, `sin`: `[max_positions, head_dim]` (Hugging Face tables repeat the same half
/// twice; both halves are read as given).
#[derive(Clone, Copy, Debug)]
pub struct RopeTables<'a> {
    /// `cos[p][i]`.
    pub cos: &'a [f32],
    /// `sin[p][i]`.
    pub sin: &'a [f32],
}

/// Rotates every head vector in place by its position's angles (see the module docs).
///
/// # Shapes
/// `x`: `[batch, seq, heads, head_dim]` in its layout; tables `[max_positions, head_dim]`
/// with `offset + seq <= max_positions`.
pub fn rope_forward(x: HeadsMut<'_>, shape: RopeShape, tables: RopeTables<'_>, offset: usize) {
    rope_with(
        Isa::detected(),
        x,
        shape,
        tables,
        Positions::From(offset),
        Direction::Forward,
    );
}

/// [`rope_forward`] at listed positions: position `positions[p]` for sequence index `p` of
/// every batch row (packed segments restart their positions after a shared prefix).
///
/// # Shapes
/// `x`: `[batch, seq, heads, head_dim]` in its layout; `positions`: `[seq]`, each below the
/// tables' `max_positions`.
pub fn rope_forward_at(
    x: HeadsMut<'_>,
    shape: RopeShape,
    tables: RopeTables<'_>,
    positions: &[usize],
) {
    rope_with(
        Isa::detected(),
        x,
        shape,
        tables,
        Positions::Listed(positions),
        Direction::Forward,
    );
}

/// The transpose of [`rope_forward`] (the rotation by `−θ` when the table halves are equal,
/// as Hugging Face's are): the backward of RoPE, in place. With `c`, `s` the table rows:
/// `x[i] = o[i]·c[i] + o[i+half]·s[i+half]`, `x[i+half] = o[i+half]·c[i+half] − o[i]·s[i]`.
///
/// # Shapes
/// As [`rope_forward`].
pub fn rope_inverse(x: HeadsMut<'_>, shape: RopeShape, tables: RopeTables<'_>, offset: usize) {
    rope_with(
        Isa::detected(),
        x,
        shape,
        tables,
        Positions::From(offset),
        Direction::Transpose,
    );
}

/// The position of each sequence index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Positions<'a> {
    /// `offset + p`.
    From(usize),
    /// `positions[p]`.
    Listed(&'a [usize]),
}

impl Positions<'_> {
    #[inline(always)]
    fn of(&self, index: usize) -> usize {
        match self {
            Positions::From(offset) => offset + index,
            Positions::Listed(positions) => positions[index],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Forward,
    Transpose,
}

/// What one task needs: the writer over `[batch, heads, seq]` rows and the tables.
#[derive(Debug)]
struct RopeContext<'a> {
    rows: RowWriter<'a>,
    shape: RopeShape,
    tables: RopeTables<'a>,
    positions: Positions<'a>,
    direction: Direction,
}

pub(crate) fn rope_with(
    isa: Isa,
    x: HeadsMut<'_>,
    shape: RopeShape,
    tables: RopeTables<'_>,
    positions: Positions<'_>,
    direction: Direction,
) {
    let d = shape.head_dim;
    assert!(
        d > 0 && d.is_multiple_of(2),
        "rope: head_dim {d} must be even and positive"
    );
    assert_eq!(
        tables.cos.len(),
        tables.sin.len(),
        "rope: cos and sin tables differ in size"
    );
    assert!(
        tables.cos.len().is_multiple_of(d),
        "rope: tables are not rows of head_dim {d}"
    );
    let max_positions = tables.cos.len() / d;
    match positions {
        Positions::From(offset) => assert!(
            shape.seq == 0 || offset + shape.seq <= max_positions,
            "rope: positions {offset}..{} past the {max_positions}-row tables",
            offset + shape.seq
        ),
        Positions::Listed(listed) => {
            assert_eq!(
                listed.len(),
                shape.seq,
                "rope: one position per sequence index"
            );
            if let Some(&beyond) = listed.iter().find(|&&p| p >= max_positions) {
                panic!("rope: position {beyond} past the {max_positions}-row tables");
            }
        }
    }
    let dims = Dims {
        batch: shape.batch,
        heads: shape.heads,
        seq: shape.seq,
    };
    let ctx = RopeContext {
        rows: RowWriter::new(x, dims, d, "rope x"),
        shape,
        tables,
        positions,
        direction,
    };
    if dims.is_empty() {
        return;
    }
    let blocks = shape.seq.div_ceil(POSITIONS_PER_TASK);
    (0..shape.batch * blocks).into_par_iter().for_each(|task| {
        let start = task % blocks * POSITIONS_PER_TASK;
        let end = (start + POSITIONS_PER_TASK).min(shape.seq);
        run_rope_task(isa, &ctx, task / blocks, start, end);
    });
}

multiversion! {
    fn run_rope_task(ctx: &RopeContext<'_>, batch: usize, start: usize, end: usize) => rope_task;
}

#[inline(always)]
fn rope_task<S: Simd>(s: S, ctx: &RopeContext<'_>, batch: usize, start: usize, end: usize) {
    let d = ctx.shape.head_dim;
    for position in start..end {
        let table_row = ctx.positions.of(position) * d;
        let cos = &ctx.tables.cos[table_row..][..d];
        let sin = &ctx.tables.sin[table_row..][..d];
        for head in 0..ctx.shape.heads {
            // SAFETY: tasks partition (batch, position), so this row is ours alone.
            let x = unsafe { ctx.rows.row_mut(batch, head, position) };
            match ctx.direction {
                Direction::Forward => rotate::<S, false>(s, x, cos, sin),
                Direction::Transpose => rotate::<S, true>(s, x, cos, sin),
            }
        }
    }
}

#[inline(always)]
fn rotate<S: Simd, const TRANSPOSE: bool>(s: S, x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = x.len() / 2;
    let (lo, hi) = x.split_at_mut(half);
    let (cos_lo, cos_hi) = cos.split_at(half);
    let (sin_lo, sin_hi) = sin.split_at(half);
    let lanes = S::LANES;
    let body = half / lanes * lanes;
    for i in (0..body).step_by(lanes) {
        let (a, b) = (s.load_from(&lo[i..]), s.load_from(&hi[i..]));
        let (c_lo, c_hi) = (s.load_from(&cos_lo[i..]), s.load_from(&cos_hi[i..]));
        let (s_lo, s_hi) = (s.load_from(&sin_lo[i..]), s.load_from(&sin_hi[i..]));
        let (new_lo, new_hi) = if TRANSPOSE {
            (
                s.add(s.mul(a, c_lo), s.mul(b, s_hi)),
                s.sub(s.mul(b, c_hi), s.mul(a, s_lo)),
            )
        } else {
            (
                s.sub(s.mul(a, c_lo), s.mul(b, s_lo)),
                s.add(s.mul(b, c_hi), s.mul(a, s_hi)),
            )
        };
        s.store_to(&mut lo[i..], new_lo);
        s.store_to(&mut hi[i..], new_hi);
    }
    for i in body..half {
        let (a, b) = (lo[i], hi[i]);
        let (new_lo, new_hi) = if TRANSPOSE {
            (a * cos_lo[i] + b * sin_hi[i], b * cos_hi[i] - a * sin_lo[i])
        } else {
            (a * cos_lo[i] - b * sin_lo[i], b * cos_hi[i] + a * sin_hi[i])
        };
        lo[i] = new_lo;
        hi[i] = new_hi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::HeadLayout;
    use crate::attention::test_util::{SplitMix64, bits, in_pool};

    /// Hugging Face tables: `inv_freq[i] = theta^(−2i/d)`, both halves equal.
    fn hf_tables(positions: usize, d: usize, theta: f32) -> (Vec<f32>, Vec<f32>) {
        let (mut cos, mut sin) = (vec![], vec![]);
        for p in 0..positions {
            for i in 0..d {
                let inv_freq = 1.0 / theta.powf((2 * (i % (d / 2))) as f32 / d as f32);
                let angle = p as f32 * inv_freq;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        (cos, sin)
    }

    fn layouts(shape: RopeShape) -> [HeadLayout; 3] {
        let RopeShape {
            seq,
            heads,
            head_dim: d,
            ..
        } = shape;
        let gapped = HeadLayout {
            batch_stride: seq * (heads * (d + 2) + 1) + 3,
            head_stride: d + 2,
            seq_stride: heads * (d + 2) + 1,
        };
        [
            HeadLayout::batch_seq_heads(seq, heads, d),
            HeadLayout::batch_heads_seq(heads, seq, d),
            gapped,
        ]
    }

    fn buffer_len(shape: RopeShape, layout: HeadLayout) -> usize {
        shape.batch
            * layout
                .batch_stride
                .max(shape.seq * shape.heads * shape.head_dim)
            + 1
    }

    /// Reference in f64, same layout.
    fn reference(
        x: &[f32],
        layout: HeadLayout,
        shape: RopeShape,
        cos: &[f32],
        sin: &[f32],
        offset: usize,
        transpose: bool,
    ) -> Vec<f64> {
        let mut out: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let (d, half) = (shape.head_dim, shape.head_dim / 2);
        for b in 0..shape.batch {
            for p in 0..shape.seq {
                let t = (offset + p) * d;
                let (c, s) = (|i: usize| cos[t + i] as f64, |i: usize| sin[t + i] as f64);
                for h in 0..shape.heads {
                    let at = layout.offset(b, h, p);
                    for i in 0..half {
                        let (a, bb) = (x[at + i] as f64, x[at + i + half] as f64);
                        let (lo, hi) = if transpose {
                            (a * c(i) + bb * s(i + half), bb * c(i + half) - a * s(i))
                        } else {
                            (a * c(i) - bb * s(i), bb * c(i + half) + a * s(i + half))
                        };
                        out[at + i] = lo;
                        out[at + i + half] = hi;
                    }
                }
            }
        }
        out
    }

    fn apply(
        isa: Isa,
        x: &mut [f32],
        layout: HeadLayout,
        shape: RopeShape,
        tables: RopeTables<'_>,
        offset: usize,
        direction: Direction,
    ) {
        rope_with(
            isa,
            HeadsMut { data: x, layout },
            shape,
            tables,
            Positions::From(offset),
            direction,
        );
    }

    /// Listed positions rotate each index exactly as a one-position call at that position
    /// does (bit for bit), on every instruction set: packed segments restarting after a
    /// prefix.
    #[test]
    fn listed_positions_match_one_position_calls() {
        let (heads, head_dim) = (3, 64);
        let positions = [5, 6, 7, 5, 6, 5, 6, 7, 8, 9, 10, 11, 0];
        let shape = RopeShape {
            batch: 1,
            seq: positions.len(),
            heads,
            head_dim,
        };
        let (cos, sin) = hf_tables(16, head_dim, 10_000.0);
        let tables = RopeTables {
            cos: &cos,
            sin: &sin,
        };
        let layout = HeadLayout::batch_seq_heads(shape.seq, heads, head_dim);
        let x = SplitMix64::new(23).vec(shape.seq * heads * head_dim, 1.0);
        let width = heads * head_dim;
        for isa in Isa::available() {
            let mut listed = x.clone();
            rope_with(
                isa,
                HeadsMut {
                    data: &mut listed,
                    layout,
                },
                shape,
                tables,
                Positions::Listed(&positions),
                Direction::Forward,
            );
            for (index, &position) in positions.iter().enumerate() {
                let mut one = x[index * width..][..width].to_vec();
                let single = RopeShape { seq: 1, ..shape };
                apply(
                    isa,
                    &mut one,
                    HeadLayout::batch_seq_heads(1, heads, head_dim),
                    single,
                    tables,
                    position,
                    Direction::Forward,
                );
                assert_eq!(
                    bits(&listed[index * width..][..width]),
                    bits(&one),
                    "{} index {index}",
                    isa.name()
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "position 16 past the 16-row tables")]
    fn a_listed_position_past_the_tables_is_refused() {
        let (cos, sin) = hf_tables(16, 4, 10_000.0);
        let mut x = vec![0.0; 2 * 4];
        rope_forward_at(
            HeadsMut {
                data: &mut x,
                layout: HeadLayout::batch_seq_heads(2, 1, 4),
            },
            RopeShape {
                batch: 1,
                seq: 2,
                heads: 1,
                head_dim: 4,
            },
            RopeTables {
                cos: &cos,
                sin: &sin,
            },
            &[3, 16],
        );
    }

    const SHAPES: [RopeShape; 5] = [
        RopeShape {
            batch: 1,
            seq: 1,
            heads: 1,
            head_dim: 2,
        },
        RopeShape {
            batch: 2,
            seq: 7,
            heads: 3,
            head_dim: 10,
        },
        RopeShape {
            batch: 3,
            seq: 40,
            heads: 9,
            head_dim: 64,
        },
        RopeShape {
            batch: 2,
            seq: 17,
            heads: 2,
            head_dim: 38,
        },
        RopeShape {
            batch: 1,
            seq: 5,
            heads: 4,
            head_dim: 128,
        },
    ];

    /// Forward and transpose within 1e-6 of f64 with random (unequal-half) tables, on every
    /// layout; every instruction set bitwise equal to the portable path; gaps untouched.
    #[test]
    fn matches_reference_on_every_isa_and_layout() {
        let mut rng = SplitMix64::new(17);
        for shape in SHAPES {
            let offset = 3;
            let table_len = (offset + shape.seq + 2) * shape.head_dim;
            let (cos, sin) = (rng.vec(table_len, 1.0), rng.vec(table_len, 1.0));
            let tables = RopeTables {
                cos: &cos,
                sin: &sin,
            };
            for layout in layouts(shape) {
                let x = rng.vec(buffer_len(shape, layout), 2.0);
                for direction in [Direction::Forward, Direction::Transpose] {
                    let transpose = direction == Direction::Transpose;
                    let want = reference(&x, layout, shape, &cos, &sin, offset, transpose);
                    let mut portable = x.clone();
                    apply(
                        Isa::PORTABLE,
                        &mut portable,
                        layout,
                        shape,
                        tables,
                        offset,
                        direction,
                    );
                    for isa in Isa::available() {
                        let mut got = x.clone();
                        apply(isa, &mut got, layout, shape, tables, offset, direction);
                        for (&g, &w) in got.iter().zip(&want) {
                            assert!(
                                (g as f64 - w).abs() <= 1e-6 * w.abs().max(1.0),
                                "{shape:?} {layout:?}"
                            );
                        }
                        assert_eq!(bits(&got), bits(&portable), "{} {shape:?}", isa.name());
                    }
                }
            }
        }
    }

    /// With Hugging Face tables the transpose undoes the forward, and
    /// `<forward(x), y> = <x, transpose(y)>` for any tables.
    #[test]
    fn inverse_undoes_forward_and_is_the_transpose() {
        let shape = RopeShape {
            batch: 2,
            seq: 30,
            heads: 9,
            head_dim: 64,
        };
        let layout = HeadLayout::batch_seq_heads(shape.seq, shape.heads, shape.head_dim);
        let (cos, sin) = hf_tables(300, 64, 100_000.0);
        let tables = RopeTables {
            cos: &cos,
            sin: &sin,
        };
        let mut rng = SplitMix64::new(5);
        let x = rng.vec(buffer_len(shape, layout), 1.0);
        let mut round_trip = x.clone();
        rope_forward(
            HeadsMut {
                data: &mut round_trip,
                layout,
            },
            shape,
            tables,
            250,
        );
        rope_inverse(
            HeadsMut {
                data: &mut round_trip,
                layout,
            },
            shape,
            tables,
            250,
        );
        for (a, b) in x.iter().zip(&round_trip) {
            assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
        }

        let (cos, sin) = (rng.vec(40 * 64, 1.0), rng.vec(40 * 64, 1.0));
        let tables = RopeTables {
            cos: &cos,
            sin: &sin,
        };
        let y = rng.vec(x.len(), 1.0);
        let (mut fx, mut ty) = (x.clone(), y.clone());
        rope_forward(
            HeadsMut {
                data: &mut fx,
                layout,
            },
            shape,
            tables,
            10,
        );
        rope_inverse(
            HeadsMut {
                data: &mut ty,
                layout,
            },
            shape,
            tables,
            10,
        );
        let dot = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>()
        };
        let (lhs, rhs) = (dot(&fx, &y), dot(&x, &ty));
        assert!((lhs - rhs).abs() <= 1e-4, "{lhs} vs {rhs}");
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        let shape = RopeShape {
            batch: 8,
            seq: 280,
            heads: 9,
            head_dim: 64,
        };
        let layout = HeadLayout::batch_seq_heads(shape.seq, shape.heads, shape.head_dim);
        let (cos, sin) = hf_tables(300, 64, 100_000.0);
        let tables = RopeTables {
            cos: &cos,
            sin: &sin,
        };
        let x = SplitMix64::new(8).vec(buffer_len(shape, layout), 1.0);
        let run = |threads: usize| {
            in_pool(threads, || {
                let mut y = x.clone();
                rope_forward(
                    HeadsMut {
                        data: &mut y,
                        layout,
                    },
                    shape,
                    tables,
                    0,
                );
                y
            })
        };
        let one = run(1);
        assert_eq!(bits(&one), bits(&run(2)));
        assert_eq!(bits(&one), bits(&run(3)));
    }

    #[test]
    #[should_panic(expected = "past the")]
    fn positions_past_the_table_are_rejected() {
        let shape = RopeShape {
            batch: 1,
            seq: 4,
            heads: 1,
            head_dim: 4,
        };
        let table = vec![0.0; 4 * 4];
        let mut x = vec![0.0; 16];
        let layout = HeadLayout::batch_seq_heads(4, 1, 4);
        rope_forward(
            HeadsMut {
                data: &mut x,
                layout,
            },
            shape,
            RopeTables {
                cos: &table,
                sin: &table,
            },
            1,
        );
    }
}
