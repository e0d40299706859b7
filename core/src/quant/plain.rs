//! Reinterpreting weight bytes (an mmap, a file buffer) as typed slices without copying.
//!
//! The one place in `quant` with `unsafe`: every other file works on typed slices.

use std::mem::{align_of, size_of};

use half::f16;

use super::block::{BlockQ4, BlockQ8};

// The files are little-endian; reading an f16 field in place assumes the host is too.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "quant assumes a little-endian host"
);

/// Types that can be viewed from raw bytes.
///
/// # Safety
/// Implementors are `#[repr(C)]` or primitive, have no padding (size = sum of fields), and
/// every bit pattern is a valid value.
pub(crate) unsafe trait Plain: Copy + 'static {}

// SAFETY: primitives, every bit pattern valid.
unsafe impl Plain for f32 {}
// SAFETY: a u16 bit pattern, every one valid.
unsafe impl Plain for f16 {}
// SAFETY: repr(C) f16 + [i8; 32], size asserted to be 34 (no padding) in `block`.
unsafe impl Plain for BlockQ8 {}
// SAFETY: repr(C) f16 + [u8; 16], size asserted to be 18 (no padding) in `block`.
unsafe impl Plain for BlockQ4 {}

/// Why bytes could not be viewed as `[T]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CastError {
    /// The start address is not a multiple of `align_of::<T>()`.
    Misaligned { align: usize, address_mod: usize },
    /// The length is not a multiple of `size_of::<T>()`.
    Ragged { size: usize },
}

/// Views `bytes` as a slice of `T`, without copying.
pub(crate) fn cast_slice<T: Plain>(bytes: &[u8]) -> Result<&[T], CastError> {
    let align = align_of::<T>();
    let address_mod = bytes.as_ptr() as usize % align;
    if address_mod != 0 {
        return Err(CastError::Misaligned { align, address_mod });
    }
    let size = size_of::<T>();
    if !bytes.len().is_multiple_of(size) {
        return Err(CastError::Ragged { size });
    }
    // SAFETY: the pointer is aligned for T (checked), the length covers whole Ts (checked),
    // T: Plain accepts any bit pattern, and the lifetime is that of `bytes`.
    Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), bytes.len() / size) })
}

/// The bytes of a typed slice (what a bundle writer puts in the file).
pub(crate) fn as_bytes<T: Plain>(values: &[T]) -> &[u8] {
    // SAFETY: T: Plain has no padding, so every byte is initialized; u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), size_of_val(values)) }
}

/// The bytes of a typed slice, writable: any bytes written form valid Ts.
pub(crate) fn as_bytes_mut<T: Plain>(values: &mut [T]) -> &mut [u8] {
    let len = size_of_val(values);
    // SAFETY: as in `as_bytes`, and T: Plain accepts whatever bit pattern is written.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), len) }
}
