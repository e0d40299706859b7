//! The one error type of `quant`: every bad layout, corrupt scale or shape mismatch says
//! what and where, so a bundle loader can report it instead of computing garbage.

use burn::tensor::TensorReadError;

use super::scheme::WeightQuant;

/// Why a quantized matrix could not be built, viewed or multiplied.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// Block formats need whole 32-element blocks in every row.
    #[error("{quant} matrix: {cols} columns is not a multiple of the block size {block}")]
    ColsNotBlockAligned {
        quant: WeightQuant,
        cols: usize,
        block: usize,
    },

    /// The byte buffer does not hold exactly `rows × cols` values in this format.
    #[error("{quant} matrix [{rows}, {cols}] needs {expected} bytes, got {found}")]
    ByteLength {
        quant: WeightQuant,
        rows: usize,
        cols: usize,
        expected: usize,
        found: usize,
    },

    /// The bytes start at an address the format cannot be read from in place.
    #[error(
        "{quant} matrix bytes start at an address ≡ {address_mod} (mod {align}); they must be {align}-byte aligned"
    )]
    Misaligned {
        quant: WeightQuant,
        align: usize,
        address_mod: usize,
    },

    /// A block scale is NaN or infinite: the matrix is corrupt.
    #[error("{quant} matrix: scale of row {row}, block {block} is {scale} (not finite)")]
    NonFiniteScale {
        quant: WeightQuant,
        row: usize,
        block: usize,
        scale: f32,
    },

    /// A value to quantize is NaN or infinite.
    #[error("value at row {row}, column {col} is {value} (not finite); cannot quantize")]
    NonFiniteValue { row: usize, col: usize, value: f32 },

    /// A block's scale does not fit in f16 (|values| above about 8.3e6 for Q8).
    #[error("{quant}: scale {scale} of row {row}, block {block} overflows f16")]
    ScaleOverflow {
        quant: WeightQuant,
        row: usize,
        block: usize,
        scale: f32,
    },

    /// `rows × cols` does not fit in memory arithmetic.
    #[error("matrix [{rows}, {cols}] is too large")]
    SizeOverflow { rows: usize, cols: usize },

    /// The f32 values handed to a quantizer are not `rows × cols` many.
    #[error("expected {rows} × {cols} values, got {found}")]
    ValueCount {
        rows: usize,
        cols: usize,
        found: usize,
    },

    /// The input of a product is not a whole number of rows of the weight's width.
    #[error("input of {len} values is not a whole number of rows of width {cols}")]
    InputLength { len: usize, cols: usize },

    /// The bias has the wrong length.
    #[error("bias of {found} values for {expected} output features")]
    BiasLength { expected: usize, found: usize },

    /// A view handed to [`SharedMatrix::within`](super::SharedMatrix::within) does not lie
    /// inside the shared bytes.
    #[error("a {len}-byte matrix view does not lie inside the {shared_len} shared bytes")]
    NotWithin { len: usize, shared_len: usize },

    /// Packed (int8 GEMM) bytes are invalid, or an f32 weight cannot be packed.
    #[error("packed weight: {0}")]
    Packed(#[from] reclora_kernels::qgemm::QuantError),

    /// Reading the input tensor back to the host failed.
    #[error("reading the input tensor to the host failed: {0}")]
    Readback(#[from] TensorReadError),
}
