//! Backward pass (FlashAttention-2 recomputation): one task per (batch row, KV head) owns
//! dK and dV of that head and dQ of its group's query heads, so every gradient element is a
//! sum in one fixed order with no cross-task reduction.
//!
//! As in the forward, a query block's group heads sit side by side as columns and the score
//! tiles are transposed (keys × queries); `Qᵀ`, `dOᵀ` and their row-major copies are packed
//! once per task, the K and V rows once per key block.

use super::layout::{Heads, RowWriter};
use super::pack::{pack_rows, pack_transposed};
use super::simd::{Simd, dot, exp};
use super::tiles::{Coefs, Extent, MatMut, MatRef, TILE_ROWS, matmul_abt, rank1_accumulate};
use super::{
    AttentionShape, BLOCK_K, BLOCK_Q, Visibility, causal_end, diagonal_score, grow, mask_key_rows,
};

/// Everything a backward task reads, and the writers for the gradients.
#[derive(Debug)]
pub(crate) struct BackwardContext<'a> {
    pub(crate) shape: AttentionShape,
    pub(crate) key_len: &'a [usize],
    pub(crate) scale: f32,
    pub(crate) q: Heads<'a>,
    pub(crate) k: Heads<'a>,
    pub(crate) v: Heads<'a>,
    pub(crate) out: Heads<'a>,
    pub(crate) d_out: Heads<'a>,
    /// `[batch, heads, seq_q]`, contiguous.
    pub(crate) lse: &'a [f32],
    pub(crate) d_q: RowWriter<'a>,
    pub(crate) d_k: RowWriter<'a>,
    pub(crate) d_v: RowWriter<'a>,
}

/// Per-task scratch, reused across the tasks one worker runs. The per-query arrays hold
/// every query block of the task, block `b` at `b · block_cols` columns.
#[derive(Debug, Default)]
pub(crate) struct BackwardScratch {
    /// `[head_dim, columns]` per block: queries times the scale, and output gradients,
    /// transposed.
    queries_t: Vec<f32>,
    d_out_t: Vec<f32>,
    /// `[columns, padded_dim]` per block: the same row-major, and the query-gradient
    /// accumulators (without the scale).
    queries: Vec<f32>,
    d_out: Vec<f32>,
    d_queries: Vec<f32>,
    /// `[columns]` per block: the forward's log-sum-exp (+inf in padding columns, so their
    /// probabilities vanish) and `D = rowsum(dO ⊙ O)`.
    lse: Vec<f32>,
    delta: Vec<f32>,
    /// `[BLOCK_K, padded_dim]`: the key and value tiles, and their gradient accumulators.
    keys: Vec<f32>,
    values: Vec<f32>,
    d_keys: Vec<f32>,
    d_values: Vec<f32>,
    /// `[BLOCK_K, columns]`: probabilities and score gradients, transposed.
    probs: Vec<f32>,
    d_scores: Vec<f32>,
}

/// Where query block `index` of a task lives.
#[derive(Clone, Copy, Debug)]
struct QueryBlockSpan {
    start: usize,
    count: usize,
    columns: usize,
    padded_cols: usize,
    /// First column of the block in the per-query arrays.
    offset: usize,
}

/// One backward task for `(batch, kv_head)`.
#[inline(always)]
pub(crate) fn backward_task<S: Simd>(
    s: S,
    scratch: &mut BackwardScratch,
    ctx: &BackwardContext<'_>,
    batch: usize,
    kv_head: usize,
) {
    let shape = ctx.shape;
    let head_dim = shape.head_dim;
    let group = shape.group_size();
    let seq_q = shape.seq_q;
    let padded_dim = head_dim.next_multiple_of(S::LANES);
    let key_len = ctx.key_len[batch];
    let block_cols = (group * BLOCK_Q).next_multiple_of(S::LANES);
    let blocks = seq_q.div_ceil(BLOCK_Q);
    let span = |index: usize| {
        let start = index * BLOCK_Q;
        let count = (seq_q - start).min(BLOCK_Q);
        let columns = group * count;
        let padded_cols = columns.next_multiple_of(S::LANES);
        QueryBlockSpan {
            start,
            count,
            columns,
            padded_cols,
            offset: index * block_cols,
        }
    };
    let total_cols = blocks * block_cols;

    grow(&mut scratch.queries_t, head_dim * total_cols);
    grow(&mut scratch.d_out_t, head_dim * total_cols);
    grow(&mut scratch.queries, total_cols * padded_dim);
    grow(&mut scratch.d_out, total_cols * padded_dim);
    grow(&mut scratch.d_queries, total_cols * padded_dim);
    grow(&mut scratch.lse, total_cols);
    grow(&mut scratch.delta, total_cols);
    grow(&mut scratch.keys, BLOCK_K * padded_dim);
    grow(&mut scratch.values, BLOCK_K * padded_dim);
    grow(&mut scratch.d_keys, BLOCK_K * padded_dim);
    grow(&mut scratch.d_values, BLOCK_K * padded_dim);
    grow(&mut scratch.probs, BLOCK_K * block_cols);
    grow(&mut scratch.d_scores, BLOCK_K * block_cols);
    let BackwardScratch {
        queries_t,
        d_out_t,
        queries,
        d_out,
        d_queries,
        lse,
        delta,
        keys,
        values,
        d_keys,
        d_values,
        probs,
        d_scores,
    } = scratch;

    for block in (0..blocks).map(span) {
        let QueryBlockSpan {
            start,
            count,
            padded_cols,
            offset,
            ..
        } = block;
        let first_head = kv_head * group;
        let t_range = offset * head_dim..(offset + padded_cols) * head_dim;
        pack_transposed(
            &ctx.q,
            batch,
            first_head,
            group,
            start,
            count,
            head_dim,
            ctx.scale,
            &mut queries_t[t_range.clone()],
            padded_cols,
        );
        pack_transposed(
            &ctx.d_out,
            batch,
            first_head,
            group,
            start,
            count,
            head_dim,
            1.0,
            &mut d_out_t[t_range],
            padded_cols,
        );
        let rows = offset * padded_dim..(offset + padded_cols) * padded_dim;
        queries[rows.clone()].fill(0.0);
        d_out[rows.clone()].fill(0.0);
        d_queries[rows].fill(0.0);
        lse[offset..offset + padded_cols].fill(f32::INFINITY);
        delta[offset..offset + padded_cols].fill(0.0);
        for g in 0..group {
            let query_head = first_head + g;
            let lse_row = (batch * shape.heads + query_head) * seq_q;
            for i in 0..count {
                let column = offset + g * count + i;
                let q_src = ctx.q.row(batch, query_head, start + i, head_dim);
                let q_dst = &mut queries[column * padded_dim..][..head_dim];
                for (d, &x) in q_dst.iter_mut().zip(q_src) {
                    *d = x * ctx.scale;
                }
                let do_src = ctx.d_out.row(batch, query_head, start + i, head_dim);
                d_out[column * padded_dim..][..head_dim].copy_from_slice(do_src);
                let out_src = ctx.out.row(batch, query_head, start + i, head_dim);
                // D = rowsum(dO ⊙ O), once per row.
                delta[column] = dot(s, do_src, out_src);
                lse[column] = ctx.lse[lse_row + start + i];
            }
        }
    }

    let keys = &mut keys[..BLOCK_K * padded_dim];
    let values = &mut values[..BLOCK_K * padded_dim];
    let d_keys = &mut d_keys[..BLOCK_K * padded_dim];
    let d_values = &mut d_values[..BLOCK_K * padded_dim];
    for key_start in (0..shape.seq_k()).step_by(BLOCK_K) {
        let key_count = (shape.seq_k() - key_start).min(BLOCK_K);
        let rows = key_count.next_multiple_of(TILE_ROWS);
        d_keys.fill(0.0);
        d_values.fill(0.0);
        let visibility = |block: QueryBlockSpan| {
            let first_position = shape.past + block.start;
            let count = block.count;
            Visibility {
                first_position,
                count,
                group,
                key_start,
                key_count,
                key_len,
            }
        };
        // Tiles cover each query block's causal region; see `causal_end`.
        let visible =
            |v: Visibility| key_start < causal_end(v.first_position + v.count - 1, key_len);
        let mut packed = false;
        for block in (0..blocks).map(span).filter(|&b| visible(visibility(b))) {
            if !packed {
                pack_rows(
                    &ctx.k, batch, kv_head, key_start, key_count, rows, head_dim, keys, padded_dim,
                );
                pack_rows(
                    &ctx.v, batch, kv_head, key_start, key_count, rows, head_dim, values,
                    padded_dim,
                );
                packed = true;
            }
            let QueryBlockSpan {
                columns,
                padded_cols,
                offset,
                ..
            } = block;
            let q_t = &queries_t[offset * head_dim..][..head_dim * padded_cols];
            let do_t = &d_out_t[offset * head_dim..][..head_dim * padded_cols];
            let q_rows = &queries[offset * padded_dim..][..padded_cols * padded_dim];
            let do_rows = &d_out[offset * padded_dim..][..padded_cols * padded_dim];
            let dq_rows = &mut d_queries[offset * padded_dim..][..padded_cols * padded_dim];
            let lse = &lse[offset..][..padded_cols];
            let delta = &delta[offset..][..padded_cols];
            let probs = &mut probs[..rows * padded_cols];
            let d_scores = &mut d_scores[..rows * padded_cols];
            let extent = Extent {
                rows,
                cols: padded_cols,
            };

            // Pᵀ = exp(K (Q·scale)ᵀ − lse), masked entries exactly 0.
            matmul_abt(
                s,
                MatRef {
                    data: keys,
                    stride: padded_dim,
                },
                MatRef {
                    data: q_t,
                    stride: padded_cols,
                },
                head_dim,
                MatMut {
                    data: probs,
                    stride: padded_cols,
                },
                extent,
            );
            mask_key_rows(probs, padded_cols, visibility(block));
            for col0 in (0..padded_cols).step_by(S::LANES) {
                let shift = s.load_from(&lse[col0..]);
                for j in 0..key_count {
                    let slot = &mut probs[j * padded_cols + col0..];
                    s.store_to(slot, exp(s, s.sub(s.load_from(slot), shift)));
                }
            }
            // dV += P dO (rows: keys).
            rank1_accumulate(
                s,
                Coefs {
                    data: probs,
                    row_step: padded_cols,
                    t_step: 1,
                },
                columns,
                MatRef {
                    data: do_rows,
                    stride: padded_dim,
                },
                MatMut {
                    data: d_values,
                    stride: padded_dim,
                },
                Extent {
                    rows,
                    cols: padded_dim,
                },
                None,
            );
            // dSᵀ = Pᵀ ⊙ (V dOᵀ − D).
            matmul_abt(
                s,
                MatRef {
                    data: values,
                    stride: padded_dim,
                },
                MatRef {
                    data: do_t,
                    stride: padded_cols,
                },
                head_dim,
                MatMut {
                    data: d_scores,
                    stride: padded_cols,
                },
                extent,
            );
            for col0 in (0..padded_cols).step_by(S::LANES) {
                let delta = s.load_from(&delta[col0..]);
                for j in 0..key_count {
                    let at = j * padded_cols + col0;
                    let p = s.load_from(&probs[at..]);
                    let slot = &mut d_scores[at..];
                    s.store_to(slot, s.mul(p, s.sub(s.load_from(slot), delta)));
                }
            }
            // dK += dSᵀ (Q·scale).
            rank1_accumulate(
                s,
                Coefs {
                    data: d_scores,
                    row_step: padded_cols,
                    t_step: 1,
                },
                columns,
                MatRef {
                    data: q_rows,
                    stride: padded_dim,
                },
                MatMut {
                    data: d_keys,
                    stride: padded_dim,
                },
                Extent {
                    rows,
                    cols: padded_dim,
                },
                None,
            );
            // dQ += dS K (the scale is applied once at the end).
            rank1_accumulate(
                s,
                Coefs {
                    data: d_scores,
                    row_step: 1,
                    t_step: padded_cols,
                },
                key_count,
                MatRef {
                    data: keys,
                    stride: padded_dim,
                },
                MatMut {
                    data: dq_rows,
                    stride: padded_dim,
                },
                Extent {
                    rows: padded_cols,
                    cols: padded_dim,
                },
                None,
            );
        }
        // Padded queries (position >= key_len) see their own key, one pair at a time.
        let first_own = key_start.max(key_len).max(shape.past);
        for position in first_own..key_start + key_count {
            let query = position - shape.past;
            let block = span(query / BLOCK_Q);
            let j = position - key_start;
            let key = ctx.k.row(batch, kv_head, position, head_dim);
            let value = ctx.v.row(batch, kv_head, position, head_dim);
            let (d_key, d_value) = (
                &mut d_keys[j * padded_dim..][..head_dim],
                &mut d_values[j * padded_dim..][..head_dim],
            );
            for g in 0..group {
                let column = block.offset + g * block.count + query % BLOCK_Q;
                let q_row = &queries[column * padded_dim..][..head_dim];
                let do_row = &d_out[column * padded_dim..][..head_dim];
                let p = (diagonal_score(q_row.iter(), key) - lse[column]).exp();
                let d_score = p * (diagonal_score(do_row.iter(), value) - delta[column]);
                let dq_row = &mut d_queries[column * padded_dim..][..head_dim];
                for c in 0..head_dim {
                    d_value[c] += p * do_row[c];
                    d_key[c] += d_score * q_row[c];
                    dq_row[c] += d_score * key[c];
                }
            }
        }
        for j in 0..key_count {
            // SAFETY: rows (batch, kv_head, ·) of dK and dV belong to this task alone: tasks
            // partition (batch, KV head).
            let (dk_row, dv_row) = unsafe {
                (
                    ctx.d_k.row_mut(batch, kv_head, key_start + j),
                    ctx.d_v.row_mut(batch, kv_head, key_start + j),
                )
            };
            dk_row.copy_from_slice(&d_keys[j * padded_dim..][..head_dim]);
            dv_row.copy_from_slice(&d_values[j * padded_dim..][..head_dim]);
        }
    }

    for block in (0..blocks).map(span) {
        for g in 0..group {
            let query_head = kv_head * group + g;
            for i in 0..block.count {
                let column = block.offset + g * block.count + i;
                let src = &d_queries[column * padded_dim..][..head_dim];
                // SAFETY: rows (batch, query_head, ·) of dQ belong to this task alone: its KV
                // head's group is the only one containing `query_head`.
                let dst = unsafe { ctx.d_q.row_mut(batch, query_head, block.start + i) };
                for (d, &x) in dst.iter_mut().zip(src) {
                    *d = x * ctx.scale;
                }
            }
        }
    }
}
