//! The projection of attention and MLP: a dense burn `Linear`, or a [`QuantLinear`] whose
//! weight stays quantized (in the bundle's map) and is decoded block by block per product.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;

use super::host::{PackedWeight, dense_projection};
use crate::quant::QuantLinear;

/// y = x·Wᵀ + b, with W dense on the device or quantized on the host.
#[derive(Module, Debug)]
pub enum Projection {
    /// burn's `Linear` (weight `[in, out]` on the device): GGUF, Hugging Face, training,
    /// GPUs.
    Dense(DenseProjection),
    /// A quantized weight read in place: the CPU runtime over a bundle.
    Quantized(QuantProjection),
}

/// A [`QuantLinear`] as a module field. It has no parameters (nothing to train, save or
/// move): moving the model to another device leaves it on the host, and its outputs land
/// on the device of its input.
#[derive(Module, Debug)]
pub struct QuantProjection {
    /// The projection; validated when built (weight layout and scales, bias length).
    #[module(skip)]
    pub linear: QuantLinear,
}

/// A frozen dense projection: burn's `Linear`, and on the CPU its weight packed once for
/// the host GEMM (on first use; see [`PackedWeight`]).
#[derive(Module, Debug)]
pub struct DenseProjection {
    /// The weights, `[in, out]`, and the bias.
    pub linear: Linear,
    /// The packed copies of the (frozen) weight; the linear must not change after the
    /// first product.
    #[module(skip)]
    pub packed: PackedWeight,
}

impl Projection {
    /// A dense projection over `linear`.
    pub fn dense(linear: Linear) -> Self {
        Self::Dense(DenseProjection {
            linear,
            packed: PackedWeight::default(),
        })
    }

    /// A quantized projection.
    pub fn quantized(linear: QuantLinear) -> Self {
        Self::Quantized(QuantProjection { linear })
    }

    /// Applies the projection to the last axis.
    ///
    /// # Shapes
    /// - `x`: `[..., in_features]`; returns `[..., out_features]`
    ///
    /// # Panics
    /// When `x`'s last axis is not `in_features` (as burn's `Linear` does). A quantized
    /// projection also panics if `x` cannot be read back to the host, which cannot happen
    /// on the CPU device it is built for (`Bundle::llm_model` builds it for flex only):
    /// everything else its kernel could reject was validated at construction.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Projection::Dense(dense) => dense_projection(&dense.linear, &dense.packed, x),
            Projection::Quantized(quantized) => {
                let in_features = quantized.linear.weight().view().cols();
                assert_eq!(
                    x.dims()[D - 1],
                    in_features,
                    "quantized projection: input width"
                );
                quantized
                    .linear
                    .forward(x)
                    .unwrap_or_else(|err| panic!("quantized projection: {err}"))
            }
        }
    }

    /// Whether the weight stays quantized.
    pub fn is_quantized(&self) -> bool {
        matches!(self, Projection::Quantized(_))
    }
}
