//! The projection of attention and MLP: a dense burn `Linear`; a [`PackedLinear`] whose
//! weight stays in the int8 GEMM's packed blocks (in the bundle's map); or a
//! [`QuantLinear`] whose row-major weight (f16, older blocks) is decoded per product.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;

use super::host::{PackedWeight, ProjectionInput, dense_projection, packed_projection};
use crate::quant::{PackedLinear, QuantLinear};

/// y = x·Wᵀ + b, with W dense on the device or quantized on the host.
#[derive(Module, Debug)]
pub enum Projection {
    /// burn's `Linear` (weight `[in, out]` on the device): GGUF, Hugging Face, training,
    /// GPUs.
    Dense(DenseProjection),
    /// A row-major quantized weight read in place (f16 bundles), decoded per product.
    Quantized(QuantProjection),
    /// Packed Q8_0 / Q4_1 blocks read in place, multiplied by the int8 GEMM: the CPU
    /// runtime over a q8 or q4 bundle.
    Packed(PackedProjection),
}

/// A [`PackedLinear`] as a module field, with no parameters (as [`QuantProjection`]).
#[derive(Module, Debug)]
pub struct PackedProjection {
    /// The projection; validated when built.
    #[module(skip)]
    pub linear: PackedLinear,
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

    /// A projection over packed blocks.
    pub fn packed(linear: PackedLinear) -> Self {
        Self::Packed(PackedProjection { linear })
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
        self.forward_input(&ProjectionInput::new(x))
    }

    /// [`Self::forward`] on an input shared with other projections: a packed projection
    /// quantizes it once for all of them.
    ///
    /// # Shapes
    /// - `input`: `[..., in_features]`; returns `[..., out_features]`
    ///
    /// # Panics
    /// As [`Self::forward`].
    pub fn forward_input<const D: usize>(&self, input: &ProjectionInput<D>) -> Tensor<D> {
        let x = || input.tensor().clone();
        match self {
            Projection::Dense(dense) => dense_projection(&dense.linear, &dense.packed, x()),
            Projection::Packed(packed) => packed_projection(&packed.linear, input),
            Projection::Quantized(quantized) => {
                let x = x();
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

    /// Whether the weight stays quantized (row-major or packed).
    pub fn is_quantized(&self) -> bool {
        matches!(self, Projection::Quantized(_) | Projection::Packed(_))
    }

    /// Whether the weight is in the int8 GEMM's packed blocks.
    pub fn is_packed(&self) -> bool {
        matches!(self, Projection::Packed(_))
    }
}
