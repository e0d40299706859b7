//! Causal grouped-query attention with padding, forward and backward, FlashAttention style
//! (tiled, online softmax, no materialized score matrix, no copied K/V heads).
//!
//! # Masking
//! Row `r` has `seq_q` new queries after `past` cached positions, so `seq_k = past + seq_q`
//! keys. Query `i` sits at absolute position `a = past + i` and sees key `j` iff
//! `j == a || (j < a && j < key_len[r])`: causal, keys at or past `key_len[r]` are padding,
//! and a query always sees itself (so padded queries get finite, meaningless outputs).
//!
//! # Grouped query heads
//! Query head `qh` reads KV head `qh / (heads / kv_heads)` (Hugging Face `repeat_kv` order).
//!
//! # Determinism
//! Work splits into fixed tasks (forward: batch row × KV head × block of 32 queries;
//! backward: batch row × KV head) that own disjoint outputs and reduce in a fixed order, so
//! results are bitwise identical whatever the thread count or scheduling. They differ
//! between instruction sets (FMA, lane counts) in the last bits.

mod backward;
mod forward;
mod layout;
mod pack;
mod packed;
pub(crate) mod simd;
mod tiles;

#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

use backward::{BackwardContext, BackwardScratch, backward_task};
use forward::{ForwardContext, ForwardScratch, QueryBlock, forward_task};
pub(crate) use layout::{Dims, RowWriter};
pub use layout::{HeadLayout, Heads, HeadsMut};
pub use packed::{PackedAttentionParams, packed_attention_forward};
use simd::{Isa, multiversion};

/// Queries per forward task and per backward query block.
const BLOCK_Q: usize = 32;
/// Keys per tile (a multiple of the register tile's rows).
const BLOCK_K: usize = 64;

/// Sizes of one attention call.
///
/// # Shapes
/// `q`, `out`: `[batch, heads, seq_q, head_dim]`; `k`, `v`: `[batch, kv_heads, seq_k,
/// head_dim]` with `seq_k = past + seq_q` (logical shapes; memory order is each tensor's
/// [`HeadLayout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    /// Independent rows (sequences).
    pub batch: usize,
    /// Query heads; a multiple of `kv_heads`.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Cached positions before the new queries.
    pub past: usize,
    /// New queries per row.
    pub seq_q: usize,
    /// Width of one head vector.
    pub head_dim: usize,
}

impl AttentionShape {
    /// Keys per row: `past + seq_q`.
    ///
    /// # Shapes
    /// The length of the `seq` axis of `k` and `v`.
    pub fn seq_k(&self) -> usize {
        self.past + self.seq_q
    }

    /// Query heads per KV head: `heads / kv_heads`.
    ///
    /// # Shapes
    /// Query heads `g · group_size..(g + 1) · group_size` read KV head `g`.
    pub fn group_size(&self) -> usize {
        self.heads / self.kv_heads
    }
}

/// Sizes, padding and scale of one attention call.
///
/// # Shapes
/// `key_len`: `[batch]`, each in `1..=seq_k`.
#[derive(Clone, Copy, Debug)]
pub struct AttentionParams<'a> {
    /// Sizes.
    pub shape: AttentionShape,
    /// Valid keys per row; keys at or after `key_len[r]` are padding (see the module docs).
    pub key_len: &'a [usize],
    /// Softmax scale; `None` means `1 / sqrt(head_dim)`.
    pub scale: Option<f32>,
}

impl AttentionParams<'_> {
    /// The softmax scale in use.
    ///
    /// # Shapes
    /// A scalar multiplying every score `q · k`.
    pub fn scale(&self) -> f32 {
        self.scale
            .unwrap_or(1.0 / (self.shape.head_dim as f32).sqrt())
    }

    /// Visible (query, key) pairs of one head summed over the batch: the useful work is
    /// `4 · visible_pairs · head_dim` flops per query head forward.
    ///
    /// # Shapes
    /// As [`AttentionParams`].
    pub fn visible_pairs(&self) -> usize {
        let past = self.shape.past;
        // Query a sees keys j < min(a, key_len), plus itself.
        let per_row = |len: usize| (0..self.shape.seq_q).map(move |i| (past + i).min(len) + 1);
        self.key_len
            .iter()
            .map(|&len| per_row(len).sum::<usize>())
            .sum()
    }

    fn validate(&self) {
        let shape = &self.shape;
        assert!(shape.kv_heads > 0, "attention: kv_heads must be positive");
        assert!(
            shape.heads.is_multiple_of(shape.kv_heads),
            "attention: {} query heads are not a multiple of {} KV heads",
            shape.heads,
            shape.kv_heads
        );
        assert!(shape.head_dim > 0, "attention: head_dim must be positive");
        assert_eq!(
            self.key_len.len(),
            shape.batch,
            "attention: one key_len per batch row"
        );
        let seq_k = shape.seq_k();
        for (row, &len) in self.key_len.iter().enumerate() {
            assert!(
                (1..=seq_k).contains(&len),
                "attention: key_len[{row}] = {len} outside 1..={seq_k}"
            );
        }
        assert!(
            self.scale().is_finite(),
            "attention: the scale must be finite"
        );
    }

    fn query_dims(&self) -> Dims {
        Dims {
            batch: self.shape.batch,
            heads: self.shape.heads,
            seq: self.shape.seq_q,
        }
    }

    fn key_dims(&self) -> Dims {
        Dims {
            batch: self.shape.batch,
            heads: self.shape.kv_heads,
            seq: self.shape.seq_k(),
        }
    }

    fn lse_layout(&self) -> HeadLayout {
        HeadLayout::batch_heads_seq(self.shape.heads, self.shape.seq_q, 1)
    }
}

/// The instruction set the kernels of this crate's `attention`, `norm`, `rope` and
/// `swiglu` modules run with on this CPU (`"avx512f"`, `"avx2+fma"`, `"neon"`, `"portable"`).
///
/// # Shapes
/// No tensors; detected once and cached.
pub fn instruction_set() -> &'static str {
    Isa::detected().name()
}

/// Attention forward: `out = softmax(mask(q kᵀ · scale)) v` per query head, and optionally
/// the log-sum-exp of each softmax row (natural log, of the scaled masked scores) for
/// [`attention_backward`].
///
/// # Shapes
/// `q`, `out`: `[batch, heads, seq_q, head_dim]`; `k`, `v`: `[batch, kv_heads, seq_k,
/// head_dim]`; `lse`: `[batch, heads, seq_q]` contiguous. Panics if a tensor does not fit
/// its buffer, if rows of `out` overlap, or on inconsistent sizes.
pub fn attention_forward(
    params: &AttentionParams<'_>,
    q: Heads<'_>,
    k: Heads<'_>,
    v: Heads<'_>,
    out: HeadsMut<'_>,
    lse: Option<&mut [f32]>,
) {
    forward_with_isa(Isa::detected(), params, q, k, v, out, lse);
}

multiversion! {
    fn run_forward_task(
        scratch: &mut ForwardScratch,
        ctx: &ForwardContext<'_>,
        block: QueryBlock,
    ) => forward_task;
}

pub(crate) fn forward_with_isa(
    isa: Isa,
    params: &AttentionParams<'_>,
    q: Heads<'_>,
    k: Heads<'_>,
    v: Heads<'_>,
    out: HeadsMut<'_>,
    lse: Option<&mut [f32]>,
) {
    let ctx = checked_forward_context(params, q, k, v, out, lse);
    let shape = params.shape;
    if params.query_dims().is_empty() {
        return;
    }
    let blocks = shape.seq_q.div_ceil(BLOCK_Q);
    let tasks = shape.batch * shape.kv_heads * blocks;
    run_forward_tasks(isa, &ctx, tasks, |task| {
        let start = (task % blocks) * BLOCK_Q;
        let batch = task / blocks / shape.kv_heads;
        QueryBlock {
            batch,
            kv_head: task / blocks % shape.kv_heads,
            start,
            count: (shape.seq_q - start).min(BLOCK_Q),
            key_len: params.key_len[batch],
            hidden_start: 0,
            hidden_end: 0,
        }
    });
}

/// Validates `params` and every buffer against it, and wraps them for the forward tasks.
fn checked_forward_context<'a>(
    params: &AttentionParams<'_>,
    q: Heads<'a>,
    k: Heads<'a>,
    v: Heads<'a>,
    out: HeadsMut<'a>,
    lse: Option<&'a mut [f32]>,
) -> ForwardContext<'a> {
    params.validate();
    let shape = params.shape;
    let (query_dims, key_dims) = (params.query_dims(), params.key_dims());
    q.layout
        .assert_fits(query_dims, shape.head_dim, q.data.len(), "attention q");
    k.layout
        .assert_fits(key_dims, shape.head_dim, k.data.len(), "attention k");
    v.layout
        .assert_fits(key_dims, shape.head_dim, v.data.len(), "attention v");
    let lse = lse.map(|lse| {
        let expected = shape.batch * shape.heads * shape.seq_q;
        assert_eq!(lse.len(), expected, "attention lse: [batch, heads, seq_q]");
        let layout = params.lse_layout();
        RowWriter::new(
            HeadsMut { data: lse, layout },
            query_dims,
            1,
            "attention lse",
        )
    });
    ForwardContext {
        shape,
        scale: params.scale(),
        q,
        k,
        v,
        out: RowWriter::new(out, query_dims, shape.head_dim, "attention out"),
        lse,
    }
}

/// Runs forward tasks `0..tasks` in parallel, each on the query block `block_of` gives it.
fn run_forward_tasks(
    isa: Isa,
    ctx: &ForwardContext<'_>,
    tasks: usize,
    block_of: impl Fn(usize) -> QueryBlock + Sync,
) {
    (0..tasks)
        .into_par_iter()
        .for_each_init(ForwardScratch::default, |scratch, task| {
            run_forward_task(isa, scratch, ctx, block_of(task));
        });
}

/// What [`attention_backward`] reads: the forward's inputs, output and log-sum-exp, and the
/// gradient of the output.
///
/// # Shapes
/// `q`, `out`, `d_out`: `[batch, heads, seq_q, head_dim]`; `k`, `v`: `[batch, kv_heads,
/// seq_k, head_dim]`; `lse`: `[batch, heads, seq_q]` contiguous, as [`attention_forward`]
/// wrote it.
#[derive(Clone, Copy, Debug)]
pub struct BackwardInputs<'a> {
    /// Queries.
    pub q: Heads<'a>,
    /// Keys.
    pub k: Heads<'a>,
    /// Values.
    pub v: Heads<'a>,
    /// The forward output.
    pub out: Heads<'a>,
    /// Gradient of the loss with respect to `out`.
    pub d_out: Heads<'a>,
    /// The forward's log-sum-exp.
    pub lse: &'a [f32],
}

/// What [`attention_backward`] writes (overwriting, not accumulating).
///
/// # Shapes
/// `d_q`: `[batch, heads, seq_q, head_dim]`; `d_k`, `d_v`: `[batch, kv_heads, seq_k,
/// head_dim]`. Rows of each must not overlap.
#[derive(Debug)]
pub struct BackwardOutputs<'a> {
    /// Gradient with respect to the queries.
    pub d_q: HeadsMut<'a>,
    /// Gradient with respect to the keys, summed over each KV head's query heads.
    pub d_k: HeadsMut<'a>,
    /// Gradient with respect to the values, summed over each KV head's query heads.
    pub d_v: HeadsMut<'a>,
}

/// Attention backward (FlashAttention-2): with `D = rowsum(dO ⊙ O)` and `P` recomputed from
/// the log-sum-exp, `dV = Pᵀ dO`, `dS = P ⊙ (dO Vᵀ − D)`, `dQ = dS K · scale`,
/// `dK = dSᵀ Q · scale`; `dK`, `dV` sum over the query heads sharing a KV head. Keys no
/// query sees get zero gradients.
///
/// # Shapes
/// See [`BackwardInputs`] and [`BackwardOutputs`]; the `params` must be the forward's.
pub fn attention_backward(
    params: &AttentionParams<'_>,
    inputs: BackwardInputs<'_>,
    outputs: BackwardOutputs<'_>,
) {
    backward_with_isa(Isa::detected(), params, inputs, outputs);
}

multiversion! {
    fn run_backward_task(
        scratch: &mut BackwardScratch,
        ctx: &BackwardContext<'_>,
        batch: usize,
        kv_head: usize,
    ) => backward_task;
}

pub(crate) fn backward_with_isa(
    isa: Isa,
    params: &AttentionParams<'_>,
    inputs: BackwardInputs<'_>,
    outputs: BackwardOutputs<'_>,
) {
    params.validate();
    let shape = params.shape;
    let d = shape.head_dim;
    let (query_dims, key_dims) = (params.query_dims(), params.key_dims());
    let BackwardInputs {
        q,
        k,
        v,
        out,
        d_out,
        lse,
    } = inputs;
    q.layout
        .assert_fits(query_dims, d, q.data.len(), "attention q");
    out.layout
        .assert_fits(query_dims, d, out.data.len(), "attention out");
    d_out
        .layout
        .assert_fits(query_dims, d, d_out.data.len(), "attention d_out");
    k.layout
        .assert_fits(key_dims, d, k.data.len(), "attention k");
    v.layout
        .assert_fits(key_dims, d, v.data.len(), "attention v");
    assert_eq!(
        lse.len(),
        shape.batch * shape.heads * shape.seq_q,
        "attention lse"
    );
    let ctx = BackwardContext {
        shape,
        key_len: params.key_len,
        scale: params.scale(),
        q,
        k,
        v,
        out,
        d_out,
        lse,
        d_q: RowWriter::new(outputs.d_q, query_dims, d, "attention d_q"),
        d_k: RowWriter::new(outputs.d_k, key_dims, d, "attention d_k"),
        d_v: RowWriter::new(outputs.d_v, key_dims, d, "attention d_v"),
    };
    if key_dims.is_empty() {
        return;
    }
    let tasks = shape.batch * shape.kv_heads;
    (0..tasks)
        .into_par_iter()
        .for_each_init(BackwardScratch::default, |scratch, task| {
            run_backward_task(
                isa,
                scratch,
                &ctx,
                task / shape.kv_heads,
                task % shape.kv_heads,
            );
        });
}

/// Resizes scratch to at least `len` floats (allocates only while it grows).
fn grow(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
}

/// End of the keys that queries up to position `last` see through the causal rule
/// (`key < position` and `key < key_len`) or at their own position below `key_len`: the
/// region the score tiles cover. Beyond it, a key is only ever seen by the query at its own
/// position (a padded query), handled one pair at a time.
fn causal_end(last: usize, key_len: usize) -> usize {
    (last + 1).min(key_len)
}

/// `q · k` of one padded query with its own key, in index order (plain multiply-adds, the
/// same in forward and backward, so the backward recomputes the forward's probability).
#[inline(always)]
fn diagonal_score<'a>(query: impl Iterator<Item = &'a f32>, key: &[f32]) -> f32 {
    let mut score = 0.0;
    for (&q, &k) in query.zip(key) {
        score += q * k;
    }
    score
}

/// A key block × query block, for [`mask_key_rows`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Visibility {
    /// Position of the block's first query; its queries are `first_position + i`.
    pub(crate) first_position: usize,
    /// Queries per head in the block.
    pub(crate) count: usize,
    /// Query heads side by side (columns `g · count + i`).
    pub(crate) group: usize,
    pub(crate) key_start: usize,
    pub(crate) key_count: usize,
    pub(crate) key_len: usize,
}

/// Sets the scores of the pairs the tiles must not count to `-inf` in a transposed score
/// tile: row `j` is key `key_start + j`, column `g · count + i` is query position
/// `first_position + i` of group head `g`, rows are `stride` apart. A key below `key_len` is
/// counted for queries at positions `>= key`; keys at or past `key_len` are never counted
/// (padded queries' own keys are handled one pair at a time).
#[inline(always)]
fn mask_key_rows(scores: &mut [f32], stride: usize, v: Visibility) {
    for j in 0..v.key_count {
        let key = v.key_start + j;
        let (hidden, own) = if key < v.key_len {
            let hidden = (key + 1).saturating_sub(v.first_position).min(v.count);
            (
                hidden,
                key.checked_sub(v.first_position).filter(|&i| i < hidden),
            )
        } else {
            (v.count, None)
        };
        if hidden == 0 {
            continue;
        }
        let row = &mut scores[j * stride..][..v.group * v.count];
        for head in row.chunks_exact_mut(v.count) {
            let own_score = own.map(|i| head[i]);
            head[..hidden].fill(f32::NEG_INFINITY);
            if let (Some(i), Some(score)) = (own, own_score) {
                head[i] = score;
            }
        }
    }
}
