//! The CPU route of the model's hot operations: on burn-flex, tensors go straight into
//! `reclora-kernels`' plain-slice kernels (packed-weight GEMM, fused attention, RMSNorm,
//! RoPE, SwiGLU) and back, without copies; with autodiff they become custom operations
//! with hand-written backward passes. Every other backend (wgpu, cuda, ndarray) runs the
//! same model code on burn's generic operations, so one model serves every device.

#[cfg(feature = "autodiff")]
mod autodiff;
mod low_rank;
mod ops;
mod packed;
mod quantized;
#[cfg(test)]
mod tests;

pub use ops::LayerMask;

pub(crate) use low_rank::scaled_low_rank;
pub(crate) use ops::{attention, rms_norm, rope, swiglu};
pub use packed::PackedWeight;
pub(crate) use packed::dense_projection;
pub use quantized::ProjectionInput;
pub(crate) use quantized::{on_device, packed_projection};

use std::mem::{ManuallyDrop, MaybeUninit};

use burn::tensor::{Device, Tensor, TensorData};

#[cfg(feature = "flex")]
use burn::backend::Flex;
#[cfg(feature = "flex")]
use burn::backend::flex::FlexTensor;

/// Where an operation on a tensor of `device` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Plain flex: the kernels on the tensors' buffers.
    Host,
    /// Flex under autodiff (no gradient checkpointing): the kernels as custom operations.
    #[cfg(feature = "autodiff")]
    HostAutodiff,
    /// Any other device: burn's generic operations.
    Generic,
}

#[cfg(test)]
thread_local! {
    /// Set by [`with_generic_route`]: this thread's operations take burn's generic route.
    static GENERIC_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `work` with every operation of this thread on burn's generic route, the reference
/// the kernels are compared with.
#[cfg(test)]
pub(crate) fn with_generic_route<T>(work: impl FnOnce() -> T) -> T {
    GENERIC_ONLY.set(true);
    let result = work();
    GENERIC_ONLY.set(false);
    result
}

/// Environment variable that turns the CPU kernels off (`RECLORA_CPU_KERNELS=off`): every
/// operation then takes burn's generic route, as before the kernels existed. For
/// benchmarks and diagnosis (kernels vs generic in one binary), not for production.
pub const CPU_KERNELS_ENV: &str = "RECLORA_CPU_KERNELS";

/// Whether the process asked for the generic route everywhere (read once).
fn kernels_disabled() -> bool {
    static DISABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DISABLED.get_or_init(|| {
        std::env::var(CPU_KERNELS_ENV).is_ok_and(|value| value.eq_ignore_ascii_case("off"))
    })
}

impl Route {
    /// The route for tensors on `device`.
    pub(crate) fn of(device: &Device) -> Self {
        #[cfg(test)]
        if GENERIC_ONLY.get() {
            return Route::Generic;
        }
        if kernels_disabled() {
            return Route::Generic;
        }
        #[cfg(feature = "flex")]
        if *device == Device::flex() {
            if !device.is_autodiff() {
                return Route::Host;
            }
            #[cfg(feature = "autodiff")]
            if device.gradient_checkpointing_strategy()
                == Some(burn::tensor::GradientCheckpointingStrategy::Disabled)
            {
                return Route::HostAutodiff;
            }
        }
        let _ = device;
        Route::Generic
    }
}

/// The flex primitive of a float tensor on plain flex (the caller checked [`Route::Host`]).
#[cfg(feature = "flex")]
pub(crate) fn into_flex<const D: usize>(tensor: Tensor<D>) -> FlexTensor {
    tensor
        .try_into_primitive::<Flex>()
        .unwrap_or_else(|error| panic!("host route on a non-flex tensor: {error:?}"))
}

/// A plain-flex float tensor around `primitive`.
#[cfg(feature = "flex")]
pub(crate) fn from_flex<const D: usize>(primitive: FlexTensor) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(primitive)
}

/// `primitive` with its values contiguous from offset 0 (copies only a strided view).
#[cfg(feature = "flex")]
pub(crate) fn contiguous(primitive: FlexTensor) -> FlexTensor {
    let dense =
        primitive.layout().contiguous_offsets() == Some((0, primitive.layout().num_elements()));
    if dense {
        primitive
    } else {
        primitive.to_contiguous()
    }
}

/// The f32 values of a contiguous flex tensor.
#[cfg(feature = "flex")]
pub(crate) fn values(primitive: &FlexTensor) -> &[f32] {
    primitive
        .as_slice::<f32>()
        .unwrap_or_else(|| panic!("host kernels take contiguous f32 tensors"))
}

/// A contiguous flex tensor owning `values`.
#[cfg(feature = "flex")]
pub(crate) fn flex_from_vec(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}

/// The mutable values of `primitive` when it is contiguous and its buffer is not shared,
/// so an operation may write its result in place; `None` otherwise.
#[cfg(feature = "flex")]
pub(crate) fn unique_values_mut(primitive: &mut FlexTensor) -> Option<&mut [f32]> {
    let layout = primitive.layout();
    let full = layout.contiguous_offsets() == Some((0, layout.num_elements()))
        && primitive.bytes().len() == layout.num_elements() * size_of::<f32>();
    if full {
        primitive.try_storage_mut::<f32>()
    } else {
        None
    }
}

/// `len` floats all written by `fill` (the contract of the kernels' `_uninit` entry
/// points), without zeroing them first.
pub(crate) fn written_by(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut buffer: Vec<MaybeUninit<f32>> = Vec::with_capacity(len);
    // SAFETY: `MaybeUninit` elements need no initialization.
    unsafe { buffer.set_len(len) };
    fill(&mut buffer);
    let mut buffer = ManuallyDrop::new(buffer);
    // SAFETY: `fill` wrote every element; `MaybeUninit<f32>` has the layout of `f32`; the
    // allocation (pointer, capacity) is handed over whole.
    unsafe { Vec::from_raw_parts(buffer.as_mut_ptr().cast::<f32>(), len, buffer.capacity()) }
}

/// The values of any float tensor as one host vector (a copy; for weights at load).
pub(crate) fn host_copy<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_else(|error| panic!("weight readback: {error:?}"))
}
