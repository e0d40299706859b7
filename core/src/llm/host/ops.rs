//! The model's fused operations, each routed by device: the host kernels on plain flex,
//! the same kernels as custom autodiff operations on flex under autodiff, burn's generic
//! operations elsewhere. The three routes compute the same function (tested against each
//! other in `llm::tests`).

use burn::module::Param;
use burn::tensor::activation::silu;
use burn::tensor::module::attention as generic_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Tensor};
use reclora_kernels::attention::{
    AttentionParams, AttentionShape, HeadLayout, Heads, HeadsMut, PackedAttentionParams,
    attention_forward, packed_attention_forward,
};
use reclora_kernels::norm::rms_norm as rms_norm_kernel;
use reclora_kernels::rope::{RopeShape, RopeTables, rope_forward, rope_forward_at};
use reclora_kernels::swiglu::{Rows, RowsMut, SwigluShape, swiglu as swiglu_kernel};

use super::{Route, contiguous, flex_from_vec, from_flex, into_flex, unique_values_mut, values};
use crate::llm::mask::AttentionMask;
use crate::llm::rope::RotaryEmbedding;

/// x / sqrt(mean(x²) + eps) · weight over the last axis.
///
/// # Shapes
/// - `x`: `[..., d]`, `weight`: `[d]`; returns the shape of `x`
pub(crate) fn rms_norm<const D: usize>(
    x: Tensor<D>,
    weight: &Param<Tensor<1>>,
    eps: f64,
) -> Tensor<D> {
    match Route::of(&x.device()) {
        Route::Host => {
            let dims = x.dims();
            let input = contiguous(into_flex(x));
            let weight = contiguous(into_flex(weight.val()));
            let mut out = vec![0.0f32; input.layout().num_elements()];
            rms_norm_kernel(values(&input), values(&weight), eps as f32, &mut out, None);
            from_flex(flex_from_vec(out, &dims))
        }
        #[cfg(feature = "autodiff")]
        Route::HostAutodiff if !weight.val().is_require_grad() => {
            super::autodiff::rms_norm(x, weight.val(), eps as f32)
        }
        _ => generic_rms_norm(x, weight.val(), eps),
    }
}

pub(crate) fn generic_rms_norm<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<1>,
    eps: f64,
) -> Tensor<D> {
    let mean_square = x.clone().square().mean_dim(D - 1);
    let normalized = x * mean_square.add_scalar(eps).sqrt().recip();
    normalized * weight.unsqueeze::<D>()
}

/// Where RoPE places a call's positions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RopeAt<'a> {
    /// Positions `offset..` in every row.
    From(usize),
    /// One position per sequence index (packed segments), the same in every row.
    Listed(&'a [usize]),
}

/// Rotary embedding of `heads` head vectors per position.
///
/// # Shapes
/// - `x`: `[batch, seq, heads · head_dim]`; returns the same shape
pub(crate) fn rope(
    x: Tensor<3>,
    heads: usize,
    rotary: &RotaryEmbedding,
    at: RopeAt<'_>,
) -> Tensor<3> {
    match (Route::of(&x.device()), at) {
        (Route::Host, _) => {
            let [batch, seq, width] = x.dims();
            let mut primitive = contiguous(into_flex(x));
            let shape = RopeShape {
                batch,
                seq,
                heads,
                head_dim: width / heads,
            };
            let tables = rotary.host_tables();
            let tables = RopeTables {
                cos: &tables.0,
                sin: &tables.1,
            };
            let layout = HeadLayout::batch_seq_heads(seq, heads, width / heads);
            let apply = |heads: HeadsMut<'_>| match at {
                RopeAt::From(offset) => rope_forward(heads, shape, tables, offset),
                RopeAt::Listed(positions) => rope_forward_at(heads, shape, tables, positions),
            };
            match unique_values_mut(&mut primitive) {
                Some(data) => {
                    apply(HeadsMut { data, layout });
                    from_flex(primitive)
                }
                None => {
                    let mut data = values(&primitive).to_vec();
                    apply(HeadsMut {
                        data: &mut data,
                        layout,
                    });
                    from_flex(flex_from_vec(data, &[batch, seq, width]))
                }
            }
        }
        #[cfg(feature = "autodiff")]
        (Route::HostAutodiff, RopeAt::From(offset)) => {
            super::autodiff::rope(x, heads, rotary, offset)
        }
        _ => generic_rope(x, heads, rotary, at),
    }
}

fn generic_rope(x: Tensor<3>, heads: usize, rotary: &RotaryEmbedding, at: RopeAt<'_>) -> Tensor<3> {
    let [batch, seq, width] = x.dims();
    let head_dim = width / heads;
    let x = x.reshape([batch, seq, heads, head_dim]);
    let (cos, sin) = match at {
        RopeAt::From(offset) => rotary.tables(offset, seq),
        RopeAt::Listed(positions) => rotary.tables_at(positions),
    };
    let cos = cos.unsqueeze_dims::<4>(&[0, 2]);
    let sin = sin.unsqueeze_dims::<4>(&[0, 2]);
    let half = head_dim / 2;
    let first = x.clone().narrow(3, 0, half);
    let second = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![second.neg(), first], 3);
    (x * cos + rotated * sin).reshape([batch, seq, width])
}

/// The mask of one forward, in the form its route wants: key lengths (or packed segments)
/// for the kernels, a boolean tensor (built once, shared by every layer) for burn's generic
/// attention.
#[derive(Debug, Clone)]
pub struct LayerMask {
    key_len: Vec<usize>,
    past: usize,
    /// Packed masks: queries per segment, and each query's RoPE position.
    segments: Option<(Vec<usize>, Vec<usize>)>,
    generic: Option<Tensor<4, Bool>>,
}

impl LayerMask {
    /// The mask for tensors on `device` with `heads` query heads.
    pub fn new(mask: &AttentionMask, heads: usize, device: &burn::tensor::Device) -> Self {
        let segments = mask
            .segments()
            .map(|lengths| (lengths.to_vec(), mask.positions()));
        // The autodiff kernels take row masks only; packed masks go generic there.
        let generic = match Route::of(device) {
            Route::Host => false,
            #[cfg(feature = "autodiff")]
            Route::HostAutodiff => segments.is_some(),
            Route::Generic => true,
        };
        Self {
            key_len: mask.key_lengths().to_vec(),
            past: mask.past(),
            segments,
            generic: generic.then(|| mask.to_tensor(heads, device)),
        }
    }

    /// Where RoPE places this forward's new positions, the first of them at `offset`.
    pub(crate) fn rope_at(&self, offset: usize) -> RopeAt<'_> {
        match &self.segments {
            Some((_, positions)) => RopeAt::Listed(positions),
            None => RopeAt::From(offset),
        }
    }
}

/// Causal grouped-query attention with key padding (see [`AttentionMask`]).
///
/// # Shapes
/// - `q`: `[batch, seq, heads · head_dim]`
/// - `k`, `v`: `[batch, past + seq, kv_heads · head_dim]`
/// - returns `[batch, seq, heads · head_dim]`
pub(crate) fn attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    heads: usize,
    kv_heads: usize,
    mask: &LayerMask,
) -> Tensor<3> {
    let [batch, seq, width] = q.dims();
    let seq_k = k.dims()[1];
    let shape = AttentionShape {
        batch,
        heads,
        kv_heads,
        past: seq_k - seq,
        seq_q: seq,
        head_dim: width / heads,
    };
    assert_eq!(shape.past, mask.past, "attention: cache length vs mask");
    match (Route::of(&q.device()), &mask.segments) {
        (Route::Host, segments) => {
            let (q, k, v) = (
                contiguous(into_flex(q)),
                contiguous(into_flex(k)),
                contiguous(into_flex(v)),
            );
            let mut out = vec![0.0f32; batch * seq * width];
            let d = shape.head_dim;
            let query_layout = HeadLayout::batch_seq_heads(seq, heads, d);
            let key_layout = HeadLayout::batch_seq_heads(seq_k, kv_heads, d);
            let (q, k, v) = (
                Heads {
                    data: values(&q),
                    layout: query_layout,
                },
                Heads {
                    data: values(&k),
                    layout: key_layout,
                },
                Heads {
                    data: values(&v),
                    layout: key_layout,
                },
            );
            let out_heads = HeadsMut {
                data: &mut out,
                layout: query_layout,
            };
            match segments {
                Some((segments, _)) => {
                    let params = PackedAttentionParams {
                        heads,
                        kv_heads,
                        head_dim: d,
                        prefix: shape.past,
                        segments,
                        scale: None,
                    };
                    packed_attention_forward(&params, q, k, v, out_heads);
                }
                None => {
                    let params = AttentionParams {
                        shape,
                        key_len: &mask.key_len,
                        scale: None,
                    };
                    attention_forward(&params, q, k, v, out_heads, None);
                }
            }
            from_flex(flex_from_vec(out, &[batch, seq, width]))
        }
        #[cfg(feature = "autodiff")]
        (Route::HostAutodiff, None) => super::autodiff::attention(q, k, v, shape, &mask.key_len),
        _ => {
            let generic = mask
                .generic
                .clone()
                .unwrap_or_else(|| panic!("generic attention needs its mask tensor"));
            generic_attention_3d(q, k, v, shape, generic)
        }
    }
}

fn generic_attention_3d(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    shape: AttentionShape,
    mask: Tensor<4, Bool>,
) -> Tensor<3> {
    let AttentionShape {
        batch,
        heads,
        kv_heads,
        seq_q,
        head_dim,
        ..
    } = shape;
    let seq_k = shape.seq_k();
    let split =
        |t: Tensor<3>, n: usize, s: usize| t.reshape([batch, s, n, head_dim]).swap_dims(1, 2);
    let repeat = |t: Tensor<4>| {
        let group = heads / kv_heads;
        if group == 1 {
            return t;
        }
        // Hugging Face repeat_kv order: each KV head serves `group` consecutive query heads.
        t.unsqueeze_dim::<5>(2)
            .repeat_dim(2, group)
            .reshape([batch, heads, seq_k, head_dim])
    };
    let context = generic_attention(
        split(q, heads, seq_q),
        repeat(split(k, kv_heads, seq_k)),
        repeat(split(v, kv_heads, seq_k)),
        Some(mask),
        None,
        AttentionModuleOptions::default(),
    );
    context
        .swap_dims(1, 2)
        .reshape([batch, seq_q, heads * head_dim])
}

/// silu(gate) ⊙ up.
///
/// # Shapes
/// - `gate`, `up`: `[batch, seq, ff]`; returns the same shape
pub(crate) fn swiglu(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    match Route::of(&gate.device()) {
        Route::Host => {
            let dims = gate.dims();
            let rows = dims[0] * dims[1];
            let width = dims[2];
            let (gate, up) = (contiguous(into_flex(gate)), contiguous(into_flex(up)));
            let mut out = vec![0.0f32; rows * width];
            swiglu_kernel(
                SwigluShape { rows, width },
                Rows {
                    data: values(&gate),
                    row_stride: width,
                },
                Rows {
                    data: values(&up),
                    row_stride: width,
                },
                RowsMut {
                    data: &mut out,
                    row_stride: width,
                },
            );
            from_flex(flex_from_vec(out, &dims))
        }
        #[cfg(feature = "autodiff")]
        Route::HostAutodiff => super::autodiff::swiglu(gate, up),
        Route::Generic => silu(gate) * up,
    }
}
