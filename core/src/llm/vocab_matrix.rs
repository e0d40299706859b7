//! A `[vocab, d]` matrix, one row per token: the token embeddings, and the output head
//! (its own, or the embeddings when tied). Dense on the device, or quantized in place with
//! only the rows asked for decoded.

use burn::module::{Module, Param};
use burn::tensor::{Int, Tensor, TensorData};

use super::host::{ProjectionInput, on_device, packed_projection};
use crate::quant::{PackedLinear, QuantError, QuantKernel, QuantLinear, QuantWeight, SharedPacked};

/// One row per token, dense or quantized.
#[derive(Module, Debug)]
pub enum VocabMatrix {
    /// f32 rows on the device.
    Dense(Param<Tensor<2>>),
    /// Row-major quantized rows read in place (f16 bundles).
    Quantized(QuantVocabMatrix),
    /// Packed Q8_0 / Q4_1 rows read in place (q8 and q4 bundles): lookups decode their
    /// rows, the full head runs on the int8 GEMM.
    Packed(PackedVocabMatrix),
}

/// Packed rows as a module field, with no parameters.
#[derive(Module, Debug)]
pub struct PackedVocabMatrix {
    /// x·Wᵀ without bias: the head's product; its weight is the rows looked up.
    #[module(skip)]
    pub linear: PackedLinear,
}

/// Quantized rows as a module field, with no parameters (see
/// [`QuantProjection`](super::projection::QuantProjection)).
#[derive(Module, Debug)]
pub struct QuantVocabMatrix {
    /// x·Wᵀ without bias: the head's product; its weight is the rows looked up.
    #[module(skip)]
    pub linear: QuantLinear,
}

impl VocabMatrix {
    /// Quantized rows `weight` (`[vocab, d]`); `kernel` computes the full-vocabulary head.
    pub fn quantized(weight: QuantWeight, kernel: QuantKernel) -> Result<Self, QuantError> {
        let linear = QuantLinear::new(weight, None, kernel)?;
        Ok(Self::Quantized(QuantVocabMatrix { linear }))
    }

    /// Packed rows `weight` (`[vocab, d]`); `kernel` decides the head's activation bits.
    pub fn packed(weight: SharedPacked, kernel: QuantKernel) -> Self {
        let linear = PackedLinear::new(weight, None, kernel)
            .unwrap_or_else(|_| unreachable!("a projection without bias is always valid"));
        Self::Packed(PackedVocabMatrix { linear })
    }

    /// Whether the rows stay quantized (row-major or packed).
    pub fn is_quantized(&self) -> bool {
        matches!(self, VocabMatrix::Quantized(_) | VocabMatrix::Packed(_))
    }

    /// The rows of `ids`, on `ids`' device. A quantized matrix decodes just those rows.
    ///
    /// # Shapes
    /// - `ids`: `[n]`; returns `[n, d]`
    ///
    /// # Panics
    /// On an id outside the vocabulary (callers check ids first, see
    /// `LlamaModel::token_tensor`); a quantized matrix also if `ids` cannot be read back
    /// to the host, which cannot happen on the CPU device it is built for.
    pub fn rows(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        match self {
            VocabMatrix::Dense(weight) => weight.val().select(0, ids),
            VocabMatrix::Quantized(quantized) => quantized.decode_rows(ids),
            VocabMatrix::Packed(packed) => packed.decode_rows(ids),
        }
    }

    /// x·Wᵀ: one logit per token of the vocabulary.
    ///
    /// # Shapes
    /// - `normed`: `[n, d]`; returns `[n, vocab]`
    ///
    /// # Panics
    /// As [`Projection::forward`](super::projection::Projection::forward).
    pub fn logits(&self, normed: Tensor<2>) -> Tensor<2> {
        match self {
            VocabMatrix::Dense(weight) => normed.matmul(weight.val().transpose()),
            VocabMatrix::Quantized(quantized) => {
                let d = quantized.linear.weight().view().cols();
                assert_eq!(normed.dims()[1], d, "quantized head: input width");
                quantized
                    .linear
                    .forward(normed)
                    .unwrap_or_else(|err| panic!("quantized head: {err}"))
            }
            VocabMatrix::Packed(packed) => {
                packed_projection(&packed.linear, &ProjectionInput::new(normed))
            }
        }
    }

    /// The logits of `ids` only: those rows, then a small product on the device.
    ///
    /// # Shapes
    /// - `normed`: `[n, d]`, `ids`: `[k]`; returns `[n, k]`
    pub fn logits_of(&self, normed: Tensor<2>, ids: Tensor<1, Int>) -> Tensor<2> {
        normed.matmul(self.rows(ids).transpose())
    }
}

impl QuantVocabMatrix {
    /// # Shapes
    /// - `ids`: `[n]`; returns `[n, d]`
    fn decode_rows(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        let device = ids.device();
        let ids = ids
            .try_into_vec_as::<i64>()
            .unwrap_or_else(|err| panic!("quantized rows: reading the ids back: {err}"));
        let weight = self.linear.weight().view();
        let d = weight.cols();
        let values = token_rows(&ids, weight.rows(), d, |index, row| {
            weight.decode_row(index, row);
        });
        Tensor::from_data(TensorData::new(values, [ids.len(), d]), &device)
    }
}

impl PackedVocabMatrix {
    /// # Shapes
    /// - `ids`: `[n]`; returns `[n, d]`
    fn decode_rows(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        let device = ids.device();
        let ids = ids
            .try_into_vec_as::<i64>()
            .unwrap_or_else(|err| panic!("packed rows: reading the ids back: {err}"));
        let weight = self.linear.weight().view();
        let d = weight.cols();
        let values = token_rows(&ids, weight.rows(), d, |index, row| {
            weight.dequantize_row(index, row);
        });
        on_device(&device, values, &[ids.len(), d])
    }
}

/// The `[ids.len(), d]` rows of `ids`, each written by `decode(index, row)`.
///
/// # Panics
/// On an id outside `0..vocab`.
fn token_rows(ids: &[i64], vocab: usize, d: usize, decode: impl Fn(usize, &mut [f32])) -> Vec<f32> {
    let mut values = vec![0.0f32; ids.len() * d];
    for (&id, row) in ids.iter().zip(values.chunks_exact_mut(d.max(1))) {
        let index = usize::try_from(id)
            .ok()
            .filter(|&index| index < vocab)
            .unwrap_or_else(|| panic!("token id {id} is outside the vocabulary of {vocab}"));
        decode(index, row);
    }
    values
}
