//! The one error type of the GGUF reader: every malformed input maps to a variant that says
//! what was wrong and where, so a caller can report it instead of the process panicking.

use super::ggml_type::GgmlType;

/// Why a GGUF file (or a raw tensor buffer) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("I/O error while reading a GGUF file: {0}")]
    Io(#[from] std::io::Error),

    #[error("not a GGUF file: magic bytes are {found:02x?}, expected \"GGUF\"")]
    BadMagic { found: [u8; 4] },

    #[error("unsupported GGUF version {0} (supported: 2 and 3, little-endian)")]
    UnsupportedVersion(u32),

    #[error("file truncated while reading {what} at byte offset {offset}")]
    Truncated { what: &'static str, offset: u64 },

    /// A length or count read from the file claims more bytes than the file has left.
    #[error(
        "{what} at byte offset {offset} declares {declared}, which needs more than the {remaining} bytes left in the file"
    )]
    LengthOutOfBounds {
        what: &'static str,
        declared: u64,
        offset: u64,
        remaining: u64,
    },

    #[error("invalid UTF-8 in {what} at byte offset {offset}")]
    InvalidUtf8 { what: &'static str, offset: u64 },

    #[error("invalid bool byte {value} at byte offset {offset} (must be 0 or 1)")]
    InvalidBool { value: u8, offset: u64 },

    #[error("unknown metadata value type id {type_id} for key {key:?}")]
    UnknownValueType { key: String, type_id: u32 },

    #[error("metadata key {key:?} nests arrays deeper than {max_depth} levels")]
    ArrayNestingTooDeep { key: String, max_depth: usize },

    #[error("metadata key {0:?} appears more than once")]
    DuplicateKey(String),

    #[error("tensor {0:?} appears more than once")]
    DuplicateTensor(String),

    #[error("general.alignment = {0} is not a nonzero power of two")]
    BadAlignment(u64),

    #[error("tensor {name:?} has {n_dims} dimensions (at most 4 are allowed)")]
    TooManyDims { name: String, n_dims: u32 },

    #[error(
        "tensor {name:?} has an absurd shape {dims:?} (a dim is 0 or the element count is too large)"
    )]
    AbsurdDimension { name: String, dims: Vec<u64> },

    #[error("tensor {name:?} has unknown ggml type id {type_id}")]
    UnknownGgmlType { name: String, type_id: u32 },

    #[error("ggml type {ggml_type:?} cannot be dequantized by this reader")]
    UnsupportedGgmlType { ggml_type: GgmlType },

    #[error(
        "tensor {name:?}: row length {ne0} is not a multiple of the {ggml_type:?} block size {block_size}"
    )]
    RowNotBlockAligned {
        name: String,
        ggml_type: GgmlType,
        ne0: u64,
        block_size: u64,
    },

    #[error("tensor {name:?}: data offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedOffset {
        name: String,
        offset: u64,
        alignment: u64,
    },

    #[error(
        "tensor {name:?}: data ends at byte {end}, past the end of the file ({file_len} bytes)"
    )]
    TensorOutOfBounds {
        name: String,
        end: u64,
        file_len: u64,
    },

    #[error("size computation overflowed while computing {what}")]
    SizeOverflow { what: &'static str },

    #[error("metadata key {0:?} is missing")]
    MissingKey(String),

    #[error("metadata key {key:?} holds {found}, expected {expected}")]
    WrongValueType {
        key: String,
        expected: &'static str,
        found: &'static str,
    },

    #[error("metadata key {key:?} holds an integer that does not fit in {target}")]
    IntegerOutOfRange { key: String, target: &'static str },

    #[error("tensor {0:?} is not in the file")]
    MissingTensor(String),

    /// The byte and value buffers handed to a dequantizer disagree on the element count.
    #[error("{ggml_type:?}: {bytes} bytes cannot hold exactly {values} values")]
    BufferSizeMismatch {
        ggml_type: GgmlType,
        bytes: usize,
        values: usize,
    },
}
