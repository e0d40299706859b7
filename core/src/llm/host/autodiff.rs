//! The host kernels as custom autodiff operations on flex: each forward runs its kernel
//! once and keeps what its backward needs; each backward is the kernel's analytic
//! gradient (tested against finite differences in `reclora-kernels` and against burn's
//! generic autodiff in `llm::tests`). Frozen weights are constants: only the activations
//! get gradients, as only the adapter trains.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn::nn::Linear;
use burn::tensor::Tensor;
use reclora_kernels::attention::{
    AttentionParams, AttentionShape, BackwardInputs, BackwardOutputs, HeadLayout, Heads, HeadsMut,
    attention_backward, attention_forward,
};
use reclora_kernels::gemm::matmul_packed_uninit;
use reclora_kernels::norm::{rms_norm as rms_norm_kernel, rms_norm_backward};
use reclora_kernels::rope::{RopeShape, RopeTables, rope_forward, rope_inverse};
use reclora_kernels::swiglu::{
    Rows, RowsMut, SwigluShape, swiglu as swiglu_kernel, swiglu_backward,
};

use super::packed::{PackedWeight, add_bias};
use super::{contiguous, flex_from_vec, into_flex, values, written_by};
use crate::llm::rope::RotaryEmbedding;

type AutodiffFlex = Autodiff<Flex>;
type TrackedTensor = FloatTensor<AutodiffFlex>;

fn into_tracked<const D: usize>(tensor: Tensor<D>) -> TrackedTensor {
    tensor
        .try_into_primitive::<AutodiffFlex>()
        .unwrap_or_else(|error| panic!("host autodiff route on another tensor: {error:?}"))
}

fn from_tracked<const D: usize>(tensor: TrackedTensor) -> Tensor<D> {
    Tensor::from_primitive::<AutodiffFlex>(tensor)
}

fn shape_of(primitive: &FlexTensor) -> Vec<usize> {
    primitive.layout().shape().to_vec()
}

// ---------------------------------------------------------------------------------------
// RMSNorm

#[derive(Debug)]
struct RmsNormOp;

/// The input, the (constant) weight and 1/rms per row.
type RmsNormState = (FlexTensor, FlexTensor, Vec<f32>);

impl Backward<Flex, 1> for RmsNormOp {
    type State = RmsNormState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let d_y = contiguous(grads.consume::<Flex>(&ops.node));
        let Some(parent) = parent else { return };
        let (x, weight, inv_rms) = ops.state;
        let mut d_x = vec![0.0f32; x.layout().num_elements()];
        rms_norm_backward(
            values(&d_y),
            values(&x),
            values(&weight),
            &inv_rms,
            &mut d_x,
            None,
        );
        grads.register::<Flex>(parent.id, flex_from_vec(d_x, &shape_of(&x)));
    }
}

pub(super) fn rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f32) -> Tensor<D> {
    let x = into_tracked(x);
    let weight = contiguous(into_flex(weight.inner()));
    let input = contiguous(x.primitive().clone());
    let width = weight.layout().num_elements();
    let rows = input.layout().num_elements() / width.max(1);
    let mut out = vec![0.0f32; input.layout().num_elements()];
    let mut inv_rms = vec![0.0f32; rows];
    rms_norm_kernel(
        values(&input),
        values(&weight),
        eps,
        &mut out,
        Some(&mut inv_rms),
    );
    let out = flex_from_vec(out, &shape_of(&input));
    let tracked = match RmsNormOp
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((input, weight, inv_rms), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    from_tracked(tracked)
}

// ---------------------------------------------------------------------------------------
// RoPE

#[derive(Debug)]
struct RopeOp;

/// Sizes, the cos/sin tables and the first position.
#[derive(Debug, Clone)]
struct RopeState {
    shape: RopeShape,
    tables: Arc<(Vec<f32>, Vec<f32>)>,
    offset: usize,
}

impl Backward<Flex, 1> for RopeOp {
    type State = RopeState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(parent) = parent else { return };
        let RopeState {
            shape,
            tables,
            offset,
        } = ops.state;
        // The rotation is orthogonal: its gradient is the rotation by −θ.
        let mut d_x = values(&contiguous(grad)).to_vec();
        let layout = HeadLayout::batch_seq_heads(shape.seq, shape.heads, shape.head_dim);
        let heads = HeadsMut {
            data: &mut d_x,
            layout,
        };
        let tables_ref = RopeTables {
            cos: &tables.0,
            sin: &tables.1,
        };
        rope_inverse(heads, shape, tables_ref, offset);
        let dims = [shape.batch, shape.seq, shape.heads * shape.head_dim];
        grads.register::<Flex>(parent.id, flex_from_vec(d_x, &dims));
    }
}

pub(super) fn rope(
    x: Tensor<3>,
    heads: usize,
    rotary: &RotaryEmbedding,
    offset: usize,
) -> Tensor<3> {
    let [batch, seq, width] = x.dims();
    let x = into_tracked(x);
    let shape = RopeShape {
        batch,
        seq,
        heads,
        head_dim: width / heads,
    };
    let tables = rotary.host_tables();
    let mut out = values(&contiguous(x.primitive().clone())).to_vec();
    let layout = HeadLayout::batch_seq_heads(seq, heads, width / heads);
    rope_forward(
        HeadsMut {
            data: &mut out,
            layout,
        },
        shape,
        RopeTables {
            cos: &tables.0,
            sin: &tables.1,
        },
        offset,
    );
    let out = flex_from_vec(out, &[batch, seq, width]);
    let tracked = match RopeOp
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            RopeState {
                shape,
                tables,
                offset,
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    from_tracked(tracked)
}

// ---------------------------------------------------------------------------------------
// Attention

#[derive(Debug)]
struct AttentionOp;

/// Inputs, output and log-sum-exp of the forward, with its sizes.
#[derive(Debug, Clone)]
struct AttentionState {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    out: FlexTensor,
    lse: Vec<f32>,
    shape: AttentionShape,
    key_len: Vec<usize>,
}

impl AttentionState {
    fn layouts(&self) -> (HeadLayout, HeadLayout) {
        let s = &self.shape;
        (
            HeadLayout::batch_seq_heads(s.seq_q, s.heads, s.head_dim),
            HeadLayout::batch_seq_heads(s.seq_k(), s.kv_heads, s.head_dim),
        )
    }
}

impl Backward<Flex, 3> for AttentionOp {
    type State = AttentionState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [q_parent, k_parent, v_parent] = ops.parents;
        let d_out = contiguous(grads.consume::<Flex>(&ops.node));
        if q_parent.is_none() && k_parent.is_none() && v_parent.is_none() {
            return;
        }
        let state = ops.state;
        let (query_layout, key_layout) = state.layouts();
        let heads = |data| Heads {
            data,
            layout: query_layout,
        };
        let keys = |data| Heads {
            data,
            layout: key_layout,
        };
        let mut d_q = vec![0.0f32; state.q.layout().num_elements()];
        let mut d_k = vec![0.0f32; state.k.layout().num_elements()];
        let mut d_v = vec![0.0f32; state.v.layout().num_elements()];
        attention_backward(
            &AttentionParams {
                shape: state.shape,
                key_len: &state.key_len,
                scale: None,
            },
            BackwardInputs {
                q: heads(values(&state.q)),
                k: keys(values(&state.k)),
                v: keys(values(&state.v)),
                out: heads(values(&state.out)),
                d_out: heads(values(&d_out)),
                lse: &state.lse,
            },
            BackwardOutputs {
                d_q: HeadsMut {
                    data: &mut d_q,
                    layout: query_layout,
                },
                d_k: HeadsMut {
                    data: &mut d_k,
                    layout: key_layout,
                },
                d_v: HeadsMut {
                    data: &mut d_v,
                    layout: key_layout,
                },
            },
        );
        for (parent, grad, like) in [
            (q_parent, d_q, &state.q),
            (k_parent, d_k, &state.k),
            (v_parent, d_v, &state.v),
        ] {
            if let Some(parent) = parent {
                grads.register::<Flex>(parent.id, flex_from_vec(grad, &shape_of(like)));
            }
        }
    }
}

pub(super) fn attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    shape: AttentionShape,
    key_len: &[usize],
) -> Tensor<3> {
    let (q, k, v) = (into_tracked(q), into_tracked(k), into_tracked(v));
    let (q_in, k_in, v_in) = (
        contiguous(q.primitive().clone()),
        contiguous(k.primitive().clone()),
        contiguous(v.primitive().clone()),
    );
    let mut out = vec![0.0f32; q_in.layout().num_elements()];
    let mut lse = vec![0.0f32; shape.batch * shape.heads * shape.seq_q];
    let query_layout = HeadLayout::batch_seq_heads(shape.seq_q, shape.heads, shape.head_dim);
    let key_layout = HeadLayout::batch_seq_heads(shape.seq_k(), shape.kv_heads, shape.head_dim);
    attention_forward(
        &AttentionParams {
            shape,
            key_len,
            scale: None,
        },
        Heads {
            data: values(&q_in),
            layout: query_layout,
        },
        Heads {
            data: values(&k_in),
            layout: key_layout,
        },
        Heads {
            data: values(&v_in),
            layout: key_layout,
        },
        HeadsMut {
            data: &mut out,
            layout: query_layout,
        },
        Some(&mut lse),
    );
    let out = flex_from_vec(out, &shape_of(&q_in));
    let tracked = match AttentionOp
        .prepare::<NoCheckpointing>([q.node(), k.node(), v.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = AttentionState {
                q: q_in,
                k: k_in,
                v: v_in,
                out: out.clone(),
                lse,
                shape,
                key_len: key_len.to_vec(),
            };
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    from_tracked(tracked)
}

// ---------------------------------------------------------------------------------------
// SwiGLU

#[derive(Debug)]
struct SwigluOp;

impl Backward<Flex, 2> for SwigluOp {
    /// The gate and up inputs.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [gate_parent, up_parent] = ops.parents;
        let d_out = contiguous(grads.consume::<Flex>(&ops.node));
        if gate_parent.is_none() && up_parent.is_none() {
            return;
        }
        let (gate, up) = ops.state;
        let dims = shape_of(&gate);
        let width = dims.last().copied().unwrap_or(1);
        let rows = gate.layout().num_elements() / width.max(1);
        let mut d_gate = vec![0.0f32; rows * width];
        let mut d_up = vec![0.0f32; rows * width];
        let rows_of = |data| Rows {
            data,
            row_stride: width,
        };
        swiglu_backward(
            SwigluShape { rows, width },
            rows_of(values(&d_out)),
            rows_of(values(&gate)),
            rows_of(values(&up)),
            RowsMut {
                data: &mut d_gate,
                row_stride: width,
            },
            RowsMut {
                data: &mut d_up,
                row_stride: width,
            },
        );
        if let Some(parent) = gate_parent {
            grads.register::<Flex>(parent.id, flex_from_vec(d_gate, &dims));
        }
        if let Some(parent) = up_parent {
            grads.register::<Flex>(parent.id, flex_from_vec(d_up, &dims));
        }
    }
}

pub(super) fn swiglu(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    let (gate, up) = (into_tracked(gate), into_tracked(up));
    let (gate_in, up_in) = (
        contiguous(gate.primitive().clone()),
        contiguous(up.primitive().clone()),
    );
    let dims = shape_of(&gate_in);
    let width = dims.last().copied().unwrap_or(1);
    let rows = gate_in.layout().num_elements() / width.max(1);
    let mut out = vec![0.0f32; rows * width];
    swiglu_kernel(
        SwigluShape { rows, width },
        Rows {
            data: values(&gate_in),
            row_stride: width,
        },
        Rows {
            data: values(&up_in),
            row_stride: width,
        },
        RowsMut {
            data: &mut out,
            row_stride: width,
        },
    );
    let out = flex_from_vec(out, &dims);
    let tracked = match SwigluOp
        .prepare::<NoCheckpointing>([gate.node(), up.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((gate_in, up_in), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    from_tracked(tracked)
}

// ---------------------------------------------------------------------------------------
// Frozen linear

#[derive(Debug)]
struct FrozenLinearOp;

/// The packed weight (Wᵀ already built) and the input's shape.
#[derive(Debug, Clone)]
struct FrozenLinearState {
    packed: PackedWeight,
    input_shape: Vec<usize>,
}

impl Backward<Flex, 1> for FrozenLinearOp {
    type State = FrozenLinearState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let d_y = contiguous(grads.consume::<Flex>(&ops.node));
        let Some(parent) = parent else { return };
        let state = ops.state;
        // dX = dY · Wᵀ; W is frozen, so there is no weight gradient to form.
        let transposed = state.packed.built_transposed();
        let (n, k) = (transposed.k(), transposed.n());
        let m = d_y.layout().num_elements() / n.max(1);
        let d_x = written_by(m * k, |d_x| {
            matmul_packed_uninit(values(&d_y), m, n, transposed, d_x, k);
        });
        grads.register::<Flex>(parent.id, flex_from_vec(d_x, &state.input_shape));
    }
}

pub(super) fn frozen_linear<const D: usize>(
    x: Tensor<D>,
    linear: &Linear,
    packed: &PackedWeight,
    bias: Option<Vec<f32>>,
) -> Tensor<D> {
    let x = into_tracked(x);
    let input = contiguous(x.primitive().clone());
    let input_shape = shape_of(&input);
    let weight = packed.forward(linear);
    let (k, n) = (weight.k(), weight.n());
    let m = input.layout().num_elements() / k.max(1);
    let mut out = written_by(m * n, |out| {
        matmul_packed_uninit(values(&input), m, k, weight, out, n);
    });
    if let Some(bias) = &bias {
        add_bias(&mut out, bias);
    }
    let mut out_shape = input_shape.clone();
    if let Some(last) = out_shape.last_mut() {
        *last = n;
    }
    let out = flex_from_vec(out, &out_shape);
    let tracked = match FrozenLinearOp
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            packed.transposed(linear);
            let state = FrozenLinearState {
                packed: packed.clone(),
                input_shape,
            };
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    from_tracked(tracked)
}
