//! The N_m meta-LoRA pairs of one projection, stored concatenated, and the two ways of
//! mixing them per sample.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::config::MixtureForm;
use crate::init::uniform_matrix;
use crate::llm::host::scaled_low_rank;
use crate::rng::SplitMix64;

/// N_m pairs A_k ∈ R^{d_in×r}, B_k ∈ R^{d_out×r} of one adapted projection.
#[derive(Module, Debug)]
pub struct MetaLoraBank {
    /// A_cat = [A_1 … A_N], `[d_in, N_m·r]`: columns k·r..(k+1)·r hold A_k.
    pub a: Param<Tensor<2>>,
    /// B_catᵀ = [B_1ᵀ; …; B_Nᵀ], `[N_m·r, d_out]`: rows k·r..(k+1)·r hold B_kᵀ.
    pub b: Param<Tensor<2>>,
    /// Input width d_in.
    pub d_in: usize,
    /// Output width d_out.
    pub d_out: usize,
    /// N_m.
    pub num_meta: usize,
    /// r.
    pub rank: usize,
}

impl MetaLoraBank {
    /// A fresh bank initialized like PyTorch's LoRA: every A_k kaiming-uniform with
    /// a = √5, i.e. U(−1/√d_in, 1/√d_in), drawn row-major from `stream`, and B = 0 so the
    /// adapted model starts as the base model.
    pub fn init(
        d_in: usize,
        d_out: usize,
        num_meta: usize,
        rank: usize,
        stream: &mut SplitMix64,
        device: &Device,
    ) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        let width = num_meta * rank;
        Self {
            a: uniform_matrix(d_in, width, bound, stream, device),
            b: Param::from_tensor(Tensor::zeros([width, d_out], device)),
            d_in,
            d_out,
            num_meta,
            rank,
        }
    }

    /// The mixed correction `scaling · x·ΔW(α)` in the chosen form.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, d_in]`
    /// - `alpha`: `[batch, N_m]` (or `[1, N_m]` for one set of weights for all rows)
    /// - returns `[batch, seq, d_out]`
    pub fn delta(
        &self,
        x: Tensor<3>,
        alpha: Tensor<2>,
        mixture: MixtureForm,
        scaling: f64,
    ) -> Tensor<3> {
        match mixture {
            MixtureForm::SumOfProducts => self.sum_of_products(x, alpha, scaling),
            MixtureForm::ProductOfSums => self.product_of_sums(x, alpha, scaling),
        }
    }

    /// Σ_k α_k (x A_k) B_kᵀ as ((x·A_cat) ⊙ α repeated r times)·B_catᵀ: two matmuls,
    /// never a dense d_in×d_out matrix.
    ///
    /// # Shapes
    /// - as [`Self::delta`]
    pub fn sum_of_products(&self, x: Tensor<3>, alpha: Tensor<2>, scaling: f64) -> Tensor<3> {
        let [rows, num_meta] = alpha.dims();
        let per_column = alpha
            .mul_scalar(scaling)
            .unsqueeze_dim::<3>(2)
            .repeat_dim(2, self.rank)
            .reshape([rows, num_meta * self.rank]);
        scaled_low_rank(x, self.a.val(), self.b.val(), per_column)
    }

    /// (x · Σ_k α_k A_k)(Σ_k α_k B_k)ᵀ, as the official code: per-sample mixed A and B,
    /// then a batched matmul.
    ///
    /// # Shapes
    /// - as [`Self::delta`]
    pub fn product_of_sums(&self, x: Tensor<3>, alpha: Tensor<2>, scaling: f64) -> Tensor<3> {
        let [rows, num_meta] = alpha.dims();
        let (d_in, d_out, rank) = (self.d_in, self.d_out, self.rank);
        // [d_in, N_m·r] → [N_m, d_in·r], so one matmul with α mixes every A_k.
        let a_stack = self
            .a
            .val()
            .reshape([d_in, num_meta, rank])
            .swap_dims(0, 1)
            .reshape([num_meta, d_in * rank]);
        let mixed_a = alpha.clone().matmul(a_stack).reshape([rows, d_in, rank]);
        // B_catᵀ rows are already grouped by k: [N_m·r, d_out] → [N_m, r·d_out].
        let b_stack = self.b.val().reshape([num_meta, rank * d_out]);
        let mixed_b_t = alpha
            .mul_scalar(scaling)
            .matmul(b_stack)
            .reshape([rows, rank, d_out]);
        x.matmul(mixed_a).matmul(mixed_b_t)
    }
}
