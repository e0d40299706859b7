//! Forward pass: one task per (batch row, KV head, block of queries).
//!
//! The task packs `Qᵀ` of its block once, the group's query heads side by side as columns
//! (`column = g · count + i`), so each key tile serves all of them. Per key block it copies
//! the K and V rows, computes `Sᵀ = K Qᵀ` (keys × queries), folds it into a column-wise
//! online softmax (vector lanes are queries: no horizontal reductions), and accumulates
//! `O += P V`.
//!
//! A block may skip a range of keys (`QueryBlock::hidden_start..hidden_end`): packed suffixes after a
//! shared prefix see the prefix and their own segment, never another segment, so their
//! tiles jump over the other segments' keys. Skipping keys of one online softmax is the
//! exact merge of the two partial softmaxes (prefix, own segment) through their
//! log-sum-exp, as cascade attention does it.

use super::layout::{Heads, RowWriter};
use super::pack::{pack_rows, pack_transposed};
use super::simd::{Simd, exp};
use super::tiles::{Coefs, Extent, MatMut, MatRef, TILE_ROWS, matmul_abt, rank1_accumulate};
use super::{AttentionShape, BLOCK_K, Visibility, causal_end, diagonal_score, grow, mask_key_rows};

/// Everything a forward task reads, and the writers for its outputs.
#[derive(Debug)]
pub(crate) struct ForwardContext<'a> {
    pub(crate) shape: AttentionShape,
    pub(crate) scale: f32,
    pub(crate) q: Heads<'a>,
    pub(crate) k: Heads<'a>,
    pub(crate) v: Heads<'a>,
    /// `[batch, heads, seq_q]` rows of `head_dim`.
    pub(crate) out: RowWriter<'a>,
    /// `[batch, heads, seq_q]` rows of one float.
    pub(crate) lse: Option<RowWriter<'a>>,
}

/// Queries `start..start + count` of every query head of `kv_head`'s group in row `batch`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryBlock {
    pub(crate) batch: usize,
    pub(crate) kv_head: usize,
    pub(crate) start: usize,
    pub(crate) count: usize,
    /// Valid keys of the block's queries (keys at or past it are padding).
    pub(crate) key_len: usize,
    /// Keys `hidden_start..hidden_end` are seen by no query of the block (other packed
    /// segments'); an empty range for plain rows.
    pub(crate) hidden_start: usize,
    pub(crate) hidden_end: usize,
}

/// Per-task scratch, reused across the tasks one worker runs.
#[derive(Debug, Default)]
pub(crate) struct ForwardScratch {
    /// `[head_dim, columns]`: the block's queries times the scale, transposed.
    queries_t: Vec<f32>,
    /// `[columns, padded_dim]`: unnormalized output accumulators.
    acc: Vec<f32>,
    /// `[BLOCK_K, padded_dim]`: the key and value tiles, zero-padded.
    keys: Vec<f32>,
    values: Vec<f32>,
    /// `[BLOCK_K, columns]`: scores, then probabilities.
    scores: Vec<f32>,
    /// `[columns]`: running maxima and sums of the online softmax, and the factor that
    /// rescales each accumulator row when its maximum moves.
    row_max: Vec<f32>,
    row_sum: Vec<f32>,
    rescale: Vec<f32>,
}

/// One forward task; see the module docs.
#[inline(always)]
pub(crate) fn forward_task<S: Simd>(
    s: S,
    scratch: &mut ForwardScratch,
    ctx: &ForwardContext<'_>,
    block: QueryBlock,
) {
    let shape = ctx.shape;
    let head_dim = shape.head_dim;
    let group = shape.group_size();
    let padded_dim = head_dim.next_multiple_of(S::LANES);
    let QueryBlock {
        batch,
        kv_head,
        start,
        count,
        key_len,
        hidden_start,
        hidden_end,
    } = block;
    let columns = group * count;
    let padded_cols = columns.next_multiple_of(S::LANES);

    grow(&mut scratch.queries_t, head_dim * padded_cols);
    grow(&mut scratch.acc, padded_cols * padded_dim);
    grow(&mut scratch.keys, BLOCK_K * padded_dim);
    grow(&mut scratch.values, BLOCK_K * padded_dim);
    grow(&mut scratch.scores, BLOCK_K * padded_cols);
    grow(&mut scratch.row_max, padded_cols);
    grow(&mut scratch.row_sum, padded_cols);
    grow(&mut scratch.rescale, padded_cols);
    let ForwardScratch {
        queries_t,
        acc,
        keys,
        values,
        scores,
        row_max,
        row_sum,
        rescale,
    } = scratch;
    let queries_t = &mut queries_t[..head_dim * padded_cols];
    let acc = &mut acc[..padded_cols * padded_dim];
    let keys = &mut keys[..BLOCK_K * padded_dim];
    let values = &mut values[..BLOCK_K * padded_dim];
    let scores = &mut scores[..BLOCK_K * padded_cols];
    let (row_max, row_sum) = (&mut row_max[..padded_cols], &mut row_sum[..padded_cols]);
    let rescale = &mut rescale[..padded_cols];

    pack_transposed(
        &ctx.q,
        batch,
        kv_head * group,
        group,
        start,
        count,
        head_dim,
        ctx.scale,
        queries_t,
        padded_cols,
    );
    acc.fill(0.0);
    row_max.fill(f32::NEG_INFINITY);
    row_sum.fill(0.0);

    let first_position = shape.past + start;
    let last_position = first_position + count - 1;
    // Tiles cover the causal region: keys after the last query are never visible, keys at
    // or past `key_len` only to the query at their own position (done after the loop).
    let causal_end = causal_end(last_position, key_len);
    // Tiles restart after the hidden range; without one, the first range is empty and the
    // tiling is the plain one.
    let visible = [
        0..hidden_start.min(causal_end),
        hidden_end.min(causal_end)..causal_end,
    ];
    let tiles = visible.into_iter().flat_map(|range| {
        let end = range.end;
        range
            .step_by(BLOCK_K)
            .map(move |key_start| (key_start, (end - key_start).min(BLOCK_K)))
    });
    for (key_start, key_count) in tiles {
        let rows = key_count.next_multiple_of(TILE_ROWS);
        pack_rows(
            &ctx.k, batch, kv_head, key_start, key_count, rows, head_dim, keys, padded_dim,
        );
        pack_rows(
            &ctx.v, batch, kv_head, key_start, key_count, rows, head_dim, values, padded_dim,
        );
        matmul_abt(
            s,
            MatRef {
                data: keys,
                stride: padded_dim,
            },
            MatRef {
                data: queries_t,
                stride: padded_cols,
            },
            head_dim,
            MatMut {
                data: scores,
                stride: padded_cols,
            },
            Extent {
                rows,
                cols: padded_cols,
            },
        );
        let visibility = Visibility {
            first_position,
            count,
            group,
            key_start,
            key_count,
            key_len,
        };
        mask_key_rows(scores, padded_cols, visibility);
        online_softmax_columns(s, scores, padded_cols, key_count, row_max, row_sum, rescale);
        rank1_accumulate(
            s,
            Coefs {
                data: scores,
                row_step: 1,
                t_step: padded_cols,
            },
            key_count,
            MatRef {
                data: values,
                stride: padded_dim,
            },
            MatMut {
                data: acc,
                stride: padded_dim,
            },
            Extent {
                rows: padded_cols,
                cols: padded_dim,
            },
            Some(rescale),
        );
    }

    // Padded queries (position >= key_len) also see themselves: one more key each.
    for i in key_len.saturating_sub(first_position)..count {
        let position = first_position + i;
        let key = ctx.k.row(batch, kv_head, position, head_dim);
        let value = ctx.v.row(batch, kv_head, position, head_dim);
        for g in 0..group {
            let column = g * count + i;
            let query = queries_t.iter().skip(column).step_by(padded_cols);
            let score = diagonal_score(query, key);
            let new_max = row_max[column].max(score);
            let alpha = (row_max[column] - new_max).exp();
            let p = (score - new_max).exp();
            row_sum[column] = row_sum[column] * alpha + p;
            row_max[column] = new_max;
            let acc_row = &mut acc[column * padded_dim..][..head_dim];
            for (o, &x) in acc_row.iter_mut().zip(value) {
                *o = *o * alpha + p * x;
            }
        }
    }

    for g in 0..group {
        let query_head = kv_head * group + g;
        for i in 0..count {
            let column = g * count + i;
            let sum = row_sum[column];
            let src = &acc[column * padded_dim..][..head_dim];
            // SAFETY: this task is the only one writing rows (batch, query_head, start..
            // start + count): tasks partition (batch, KV head, query block).
            let dst = unsafe { ctx.out.row_mut(batch, query_head, start + i) };
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = x / sum;
            }
            if let Some(lse) = &ctx.lse {
                // SAFETY: as above, the row belongs to this task alone.
                let slot = unsafe { lse.row_mut(batch, query_head, start + i) };
                slot[0] = row_max[column] + sum.ln();
            }
        }
    }
}

/// Folds one key block of scores (`key_count` rows × `stride` query columns) into each
/// column's running maximum and sum, turning the scores into `exp(score − new max)`, and
/// writes each column's rescale factor for what it accumulated before.
#[inline(always)]
fn online_softmax_columns<S: Simd>(
    s: S,
    scores: &mut [f32],
    stride: usize,
    key_count: usize,
    row_max: &mut [f32],
    row_sum: &mut [f32],
    rescale: &mut [f32],
) {
    assert!(key_count > 0 && (key_count - 1) * stride + stride <= scores.len());
    for col0 in (0..stride).step_by(S::LANES) {
        let mut block_max = s.splat(f32::NEG_INFINITY);
        for j in 0..key_count {
            block_max = s.max(block_max, s.load_from(&scores[j * stride + col0..]));
        }
        let old_max = s.load_from(&row_max[col0..]);
        let new_max = s.max(old_max, block_max);
        // A column with nothing visible yet keeps max -inf: shift it by 0 instead, so no
        // -inf - -inf = NaN appears (its exponentials are all exp(-inf) = 0).
        let shift = s.zero_below(new_max, s.splat(f32::MIN), new_max);
        let alpha = exp(s, s.sub(old_max, shift));
        let mut block_sum = s.splat(0.0);
        for j in 0..key_count {
            let slot = &mut scores[j * stride + col0..];
            let p = exp(s, s.sub(s.load_from(slot), shift));
            block_sum = s.add(block_sum, p);
            s.store_to(slot, p);
        }
        let sum = s.add(s.mul(s.load_from(&row_sum[col0..]), alpha), block_sum);
        s.store_to(&mut row_sum[col0..], sum);
        s.store_to(&mut row_max[col0..], new_max);
        s.store_to(&mut rescale[col0..], alpha);
    }
}
