//! GGUF reader: loads llama.cpp-format model files (GGUF v2/v3) and decodes their tensors
//! to f32, so the runtime can start from the same quantized weights llama.cpp ships.
//!
//! The file is treated as untrusted input. [`GgufFile::open`] memory-maps it and validates
//! the whole header up front — every count, string length, shape, type id and tensor byte
//! range is checked with overflow-checked arithmetic against the bytes actually present —
//! so a malformed file yields a [`GgufError`] rather than a panic or a huge allocation, and
//! later tensor access is infallible slicing.
//!
//! Layout reminders: GGUF `dims` put the contiguous axis first (ggml `ne[0]`), so the
//! row-major [`TensorInfo::shape`] is `dims` reversed. Dequantization follows ggml's
//! `dequantize_row_*` operation for operation and matches it bit for bit; the golden test
//! checks this against the reference Python `gguf` package.
//!
//! ```no_run
//! # fn main() -> Result<(), reclora_core::gguf::GgufError> {
//! use reclora_core::gguf::GgufFile;
//! let model = GgufFile::open("assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf")?;
//! let layers = model.get_u32("llama.block_count")?;
//! let embeddings = model.dequantize("token_embd.weight")?; // shape [vocab, hidden]
//! # let _ = (layers, embeddings);
//! # Ok(())
//! # }
//! ```

pub mod block_layout;
mod cursor;
mod dequant;
mod dequant_kquants;
mod dequant_legacy;
mod error;
mod file;
mod ggml_type;
mod header;
mod metadata;
mod quantize;
mod tensor_info;

#[cfg(test)]
mod tests;

pub use dequant::{DequantizedTensor, dequantize_into};
pub use error::GgufError;
pub use file::GgufFile;
pub use ggml_type::GgmlType;
pub use header::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC};
pub use metadata::{MAX_ARRAY_DEPTH, MetadataValue, MetadataValueType};
pub use quantize::{quantize_q4_0, quantize_q8_0};
pub use tensor_info::{MAX_DIMS, MAX_ELEMENTS, TensorInfo};
