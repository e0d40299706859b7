//! Tensor descriptors from the GGUF header: name, shape, element type and data offset.

use super::cursor::Cursor;
use super::error::GgufError;
use super::ggml_type::GgmlType;

/// ggml tensors have at most four dimensions.
pub const MAX_DIMS: u32 = 4;
/// Element-count ceiling. Far above any on-device model, far below anything that could
/// overflow the byte-size arithmetic, so a forged shape is rejected instead of trusted.
pub const MAX_ELEMENTS: u64 = 1 << 40;

/// One tensor's header entry. `dims` is in GGUF/ggml order: `dims[0]` is the contiguous
/// (fastest-varying) axis, so the row-major shape is `dims` reversed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset of the data relative to the start of the file's data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Row-major shape (outermost axis first), i.e. `dims` reversed.
    pub fn shape(&self) -> Vec<usize> {
        self.dims
            .iter()
            .rev()
            .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
            .collect()
    }

    /// Number of elements; saturates at `u64::MAX` for shapes that were never validated
    /// (parsed tensors are always below [`MAX_ELEMENTS`]).
    pub fn element_count(&self) -> u64 {
        self.dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(u64::MAX)
    }

    /// Size of the tensor's data in bytes; saturates like [`Self::element_count`].
    pub fn byte_len(&self) -> u64 {
        let blocks = self.element_count() / self.ggml_type.block_size() as u64;
        blocks.saturating_mul(self.ggml_type.type_size() as u64)
    }
}

/// Reads one tensor info (name, n_dims, dims, type id, offset) and validates its shape and
/// type. Offsets are checked later, once the data section's start is known.
pub(crate) fn read_tensor_info(cursor: &mut Cursor<'_>) -> Result<TensorInfo, GgufError> {
    let name = cursor.read_string("tensor name")?;
    let n_dims = cursor.read_u32("tensor n_dims")?;
    if n_dims > MAX_DIMS {
        return Err(GgufError::TooManyDims { name, n_dims });
    }
    let mut dims = Vec::with_capacity(MAX_DIMS as usize);
    for _ in 0..n_dims {
        dims.push(cursor.read_u64("tensor dimension")?);
    }
    let type_id = cursor.read_u32("tensor type")?;
    let offset = cursor.read_u64("tensor data offset")?;

    let Some(ggml_type) = GgmlType::from_id(type_id) else {
        return Err(GgufError::UnknownGgmlType { name, type_id });
    };
    let element_count = dims.iter().try_fold(
        1u64,
        |acc, &d| if d == 0 { None } else { acc.checked_mul(d) },
    );
    if element_count.is_none_or(|n| n > MAX_ELEMENTS) {
        return Err(GgufError::AbsurdDimension { name, dims });
    }
    let ne0 = dims.first().copied().unwrap_or(1);
    let block_size = ggml_type.block_size() as u64;
    if !ne0.is_multiple_of(block_size) {
        return Err(GgufError::RowNotBlockAligned {
            name,
            ggml_type,
            ne0,
            block_size,
        });
    }
    Ok(TensorInfo {
        name,
        dims,
        ggml_type,
        offset,
    })
}
