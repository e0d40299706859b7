//! Dense projections on the host GEMM: the frozen weight is packed into the kernel's panel
//! layout once (on first use), instead of at every product as a generic GEMM must.

use std::sync::{Arc, OnceLock};

use burn::nn::Linear;
use burn::tensor::Tensor;
use reclora_kernels::gemm::{Layout, PackedMatrix, matmul_packed_uninit};

use super::{
    Route, contiguous, flex_from_vec, from_flex, host_copy, into_flex, values, written_by,
};

/// The packed forms of one frozen `[d_in, d_out]` weight, built on first use and shared by
/// every clone of the model: W for the forward, Wᵀ for the input gradient of a backward.
#[derive(Debug, Clone, Default)]
pub struct PackedWeight {
    forward: Arc<OnceLock<PackedMatrix>>,
    transposed: Arc<OnceLock<PackedMatrix>>,
}

impl PackedWeight {
    /// W (`[d_in, d_out]`), packed from `linear`'s weight the first time.
    pub(crate) fn forward(&self, linear: &Linear) -> &PackedMatrix {
        self.forward.get_or_init(|| {
            let [d_in, d_out] = linear.weight.dims();
            PackedMatrix::pack(
                &host_copy(linear.weight.val()),
                d_in,
                d_out,
                Layout::RowMajor,
            )
        })
    }

    /// Wᵀ (`[d_out, d_in]`), packed from the same weight the first time.
    #[cfg_attr(not(feature = "autodiff"), allow(dead_code))] // the autodiff op's backward
    pub(crate) fn transposed(&self, linear: &Linear) -> &PackedMatrix {
        self.transposed.get_or_init(|| {
            let [d_in, d_out] = linear.weight.dims();
            PackedMatrix::pack(
                &host_copy(linear.weight.val()),
                d_out,
                d_in,
                Layout::Transposed,
            )
        })
    }

    /// Wᵀ once [`Self::transposed`] has built it (a backward follows its forward).
    #[cfg(feature = "autodiff")]
    pub(crate) fn built_transposed(&self) -> &PackedMatrix {
        self.transposed
            .get()
            .unwrap_or_else(|| panic!("Wᵀ is packed by the forward before any backward"))
    }

    /// Bytes held by the packed copies built so far.
    pub fn size_bytes(&self) -> usize {
        let size = |cell: &OnceLock<PackedMatrix>| cell.get().map_or(0, PackedMatrix::size_bytes);
        size(&self.forward) + size(&self.transposed)
    }
}

/// `x · W + b` for a frozen `linear`.
///
/// # Shapes
/// - `x`: `[..., d_in]`; returns `[..., d_out]`
pub(crate) fn dense_projection<const D: usize>(
    linear: &Linear,
    packed: &PackedWeight,
    x: Tensor<D>,
) -> Tensor<D> {
    match Route::of(&x.device()) {
        Route::Host => {
            let mut dims = x.dims();
            let input = contiguous(into_flex(x));
            let weight = packed.forward(linear);
            let (k, n) = (weight.k(), weight.n());
            let m = input.layout().num_elements() / k;
            let mut out = written_by(m * n, |out| {
                matmul_packed_uninit(values(&input), m, k, weight, out, n);
            });
            if let Some(bias) = &linear.bias {
                add_bias(&mut out, &host_copy(bias.val()));
            }
            dims[D - 1] = n;
            from_flex(flex_from_vec(out, &dims))
        }
        #[cfg(feature = "autodiff")]
        Route::HostAutodiff if is_frozen(linear) => {
            let bias = linear.bias.as_ref().map(|b| host_copy(b.val()));
            super::autodiff::frozen_linear(x, linear, packed, bias)
        }
        _ => linear.forward(x),
    }
}

/// Whether neither the weight nor the bias of `linear` takes a gradient.
#[cfg(feature = "autodiff")]
fn is_frozen(linear: &Linear) -> bool {
    !linear.weight.val().is_require_grad()
        && linear
            .bias
            .as_ref()
            .is_none_or(|b| !b.val().is_require_grad())
}

/// Adds `bias` to every row of `out`.
pub(crate) fn add_bias(out: &mut [f32], bias: &[f32]) {
    for row in out.chunks_exact_mut(bias.len()) {
        for (value, b) in row.iter_mut().zip(bias) {
            *value += b;
        }
    }
}
