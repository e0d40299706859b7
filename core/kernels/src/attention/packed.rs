//! Packed suffixes after a shared prefix (per-user slates): many short segments laid one
//! after another in a single row of queries, each seeing the prefix and itself only. The
//! prefix K/V is stored once, never repeated per segment, and no query attends to padding.

use super::forward::QueryBlock;
use super::layout::{Heads, HeadsMut};
use super::simd::Isa;
use super::{AttentionParams, AttentionShape, BLOCK_Q, checked_forward_context, run_forward_tasks};

/// Sizes of one packed attention call.
///
/// Segment `s` holds queries `o_s..o_s + len_s` of the packed row (`o_s` the lengths
/// before it). Its query `i` sits at absolute position `prefix + o_s + i` and sees key `j`
/// iff `j < prefix` or `prefix + o_s <= j <= prefix + o_s + i`: the whole shared prefix,
/// then its own segment causally, never another segment.
///
/// # Shapes
/// `q`, `out`: `[1, heads, Σ len_s, head_dim]`; `k`, `v`: `[1, kv_heads, prefix + Σ len_s,
/// head_dim]` (the prefix's keys, then every segment's, in packed order).
#[derive(Clone, Copy, Debug)]
pub struct PackedAttentionParams<'a> {
    /// Query heads; a multiple of `kv_heads`.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Width of one head vector.
    pub head_dim: usize,
    /// Shared keys before the first segment.
    pub prefix: usize,
    /// Queries per segment, each at least 1.
    pub segments: &'a [usize],
    /// Softmax scale; `None` means `1 / sqrt(head_dim)`.
    pub scale: Option<f32>,
}

impl PackedAttentionParams<'_> {
    /// The logical shape of the call: one row of `Σ len_s` queries after `prefix` keys.
    ///
    /// # Shapes
    /// `seq_q = Σ len_s`, `past = prefix`.
    pub fn shape(&self) -> AttentionShape {
        AttentionShape {
            batch: 1,
            heads: self.heads,
            kv_heads: self.kv_heads,
            past: self.prefix,
            seq_q: self.segments.iter().sum(),
            head_dim: self.head_dim,
        }
    }
}

/// Attention forward for packed segments (see [`PackedAttentionParams`]):
/// `out = softmax(mask(q kᵀ · scale)) v` per query head.
///
/// # Shapes
/// See [`PackedAttentionParams`]. Panics on an empty segment, if a tensor does not fit its
/// buffer, or on inconsistent sizes.
pub fn packed_attention_forward(
    params: &PackedAttentionParams<'_>,
    q: Heads<'_>,
    k: Heads<'_>,
    v: Heads<'_>,
    out: HeadsMut<'_>,
) {
    packed_forward_with_isa(Isa::detected(), params, q, k, v, out);
}

pub(crate) fn packed_forward_with_isa(
    isa: Isa,
    params: &PackedAttentionParams<'_>,
    q: Heads<'_>,
    k: Heads<'_>,
    v: Heads<'_>,
    out: HeadsMut<'_>,
) {
    if let Some(at) = params.segments.iter().position(|&len| len == 0) {
        panic!("packed attention: segment {at} is empty");
    }
    let shape = params.shape();
    let key_len = [shape.seq_k()];
    let plain = AttentionParams {
        shape,
        key_len: &key_len,
        scale: params.scale,
    };
    let ctx = checked_forward_context(&plain, q, k, v, out, None);
    let mut blocks = Vec::new();
    let mut offset = 0;
    for &len in params.segments {
        for kv_head in 0..shape.kv_heads {
            for start in (0..len).step_by(BLOCK_Q) {
                blocks.push(QueryBlock {
                    batch: 0,
                    kv_head,
                    start: offset + start,
                    count: (len - start).min(BLOCK_Q),
                    key_len: params.prefix + offset + len,
                    hidden_start: params.prefix,
                    hidden_end: params.prefix + offset,
                });
            }
        }
        offset += len;
    }
    run_forward_tasks(isa, &ctx, blocks.len(), |task| blocks[task]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::HeadLayout;
    use crate::attention::test_util::{SplitMix64, bits, max_abs, max_abs_diff};

    struct Case {
        heads: usize,
        kv_heads: usize,
        head_dim: usize,
        prefix: usize,
        segments: Vec<usize>,
    }

    fn cases() -> Vec<Case> {
        let case = |heads, kv_heads, head_dim, prefix, segments: &[usize]| Case {
            heads,
            kv_heads,
            head_dim,
            prefix,
            segments: segments.to_vec(),
        };
        vec![
            case(9, 3, 64, 70, &[21, 1, 35, 18]),
            case(4, 4, 13, 0, &[5, 40, 3]),
            case(2, 1, 16, 130, &[1]),
            case(6, 2, 33, 63, &[66, 2]),
            case(3, 1, 8, 1, &[1, 1, 1, 1, 1]),
        ]
    }

    /// q (`[Σ, heads, d]`), k and v (`[prefix + Σ, kv_heads, d]`), the projections' layout.
    fn inputs(c: &Case, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let total: usize = c.segments.iter().sum();
        let mut rng = SplitMix64::new(seed);
        (
            rng.vec(total * c.heads * c.head_dim, 1.5),
            rng.vec((c.prefix + total) * c.kv_heads * c.head_dim, 1.5),
            rng.vec((c.prefix + total) * c.kv_heads * c.head_dim, 1.0),
        )
    }

    fn run(isa: Isa, c: &Case, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f32> {
        let total: usize = c.segments.iter().sum();
        let d = c.head_dim;
        let params = PackedAttentionParams {
            heads: c.heads,
            kv_heads: c.kv_heads,
            head_dim: d,
            prefix: c.prefix,
            segments: &c.segments,
            scale: None,
        };
        let mut out = vec![f32::NAN; q.len()];
        let query_layout = HeadLayout::batch_seq_heads(total, c.heads, d);
        let key_layout = HeadLayout::batch_seq_heads(c.prefix + total, c.kv_heads, d);
        packed_forward_with_isa(
            isa,
            &params,
            Heads {
                data: q,
                layout: query_layout,
            },
            Heads {
                data: k,
                layout: key_layout,
            },
            Heads {
                data: v,
                layout: key_layout,
            },
            HeadsMut {
                data: &mut out,
                layout: query_layout,
            },
        );
        out
    }

    /// Plain softmax over the keys each query sees by the documented rule, in f64.
    fn reference(c: &Case, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f64> {
        let (d, group) = (c.head_dim, c.heads / c.kv_heads);
        let scale = 1.0 / (d as f64).sqrt();
        let total: usize = c.segments.iter().sum();
        let mut out = vec![0.0; q.len()];
        let mut offset = 0;
        for &len in &c.segments {
            for i in 0..len {
                let position = offset + i;
                let keys: Vec<usize> = (0..c.prefix)
                    .chain(c.prefix + offset..=c.prefix + position)
                    .collect();
                for head in 0..c.heads {
                    let kv_head = head / group;
                    let q_row = &q[(position * c.heads + head) * d..][..d];
                    let row = |j: usize| (j * c.kv_heads + kv_head) * d;
                    let scores: Vec<f64> = keys
                        .iter()
                        .map(|&j| {
                            let dot: f64 = q_row
                                .iter()
                                .zip(&k[row(j)..][..d])
                                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                                .sum();
                            dot * scale
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let sum: f64 = weights.iter().sum();
                    let dst = &mut out[(position * c.heads + head) * d..][..d];
                    for (&j, w) in keys.iter().zip(&weights) {
                        for (o, &x) in dst.iter_mut().zip(&v[row(j)..][..d]) {
                            *o += w / sum * f64::from(x);
                        }
                    }
                }
            }
            offset += len;
        }
        assert_eq!(offset, total);
        out
    }

    /// Within 1e-5 of the f64 reference on every instruction set.
    #[test]
    fn packed_segments_match_the_reference_on_every_isa() {
        for (n, c) in cases().iter().enumerate() {
            let (q, k, v) = inputs(c, 700 + n as u64);
            let want = reference(c, &q, &k, &v);
            for isa in Isa::available() {
                let got = run(isa, c, &q, &k, &v);
                assert!(got.iter().all(|x| x.is_finite()), "case {n} {}", isa.name());
                let error = max_abs_diff(&got, &want);
                let bound = 1e-5 * max_abs(&want).max(1.0);
                assert!(
                    error <= bound,
                    "case {n} {}: {error:e} > {bound:e}",
                    isa.name()
                );
            }
        }
    }

    /// A segment's output does not move, to the bit, when another segment's keys and values
    /// change: nothing leaks between candidates.
    #[test]
    fn a_segment_never_sees_another_segments_keys() {
        let c = &cases()[0];
        let (q, mut k, mut v) = inputs(c, 71);
        let before = run(Isa::detected(), c, &q, &k, &v);
        // Segment 2 starts after 21 + 1 packed positions; overwrite its keys and values.
        let (start, len) = (21 + 1, 35);
        let width = c.kv_heads * c.head_dim;
        let keys = (c.prefix + start) * width..(c.prefix + start + len) * width;
        k[keys.clone()].iter_mut().for_each(|x| *x = -*x * 3.0);
        v[keys].iter_mut().for_each(|x| *x += 5.0);
        let after = run(Isa::detected(), c, &q, &k, &v);
        let row = c.heads * c.head_dim;
        let outside = |values: &[f32]| {
            let mut kept = values[..start * row].to_vec();
            kept.extend_from_slice(&values[(start + len) * row..]);
            kept
        };
        assert_eq!(bits(&outside(&before)), bits(&outside(&after)));
        assert_ne!(bits(&before), bits(&after), "segment 2 itself must change");
    }

    #[test]
    #[should_panic(expected = "segment 1 is empty")]
    fn an_empty_segment_is_refused() {
        let c = Case {
            heads: 1,
            kv_heads: 1,
            head_dim: 4,
            prefix: 2,
            segments: vec![1, 0],
        };
        let (q, k, v) = inputs(&c, 1);
        run(Isa::detected(), &c, &q, &k, &v);
    }
}
