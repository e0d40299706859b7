//! [`GgufFile`]: a parsed GGUF file over its bytes (memory-mapped or owned), with typed
//! metadata getters and tensor access.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use super::dequant::{DequantizedTensor, dequantize_into};
use super::error::GgufError;
use super::header::{Header, parse_header, tensor_byte_range};
use super::metadata::MetadataValue;
use super::tensor_info::TensorInfo;

/// Where the file bytes live: a read-only map for real models, a vector for tests and
/// in-memory files.
enum Storage {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Mapped(map) => map,
            Self::Owned(bytes) => bytes,
        }
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::Mapped(_) => "Mapped",
            Self::Owned(_) => "Owned",
        };
        write!(f, "{kind}({} bytes)", self.bytes().len())
    }
}

/// A validated GGUF v2/v3 file. Construction checks the whole header and that every tensor
/// lies inside the file, so the accessors cannot fail on out-of-range data.
#[derive(Debug)]
pub struct GgufFile {
    storage: Storage,
    header: Header,
}

impl GgufFile {
    /// Memory-maps and parses the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let file = File::open(path)?;
        // SAFETY: the file is opened read-only and mapped read-only, and we never hand out
        // mutable access. The remaining hazard, another process truncating or rewriting the
        // file while it is mapped, is the one every mmap-based model loader accepts: model
        // files are not edited in place while a runtime uses them.
        let map = unsafe { Mmap::map(&file)? };
        Self::from_storage(Storage::Mapped(map))
    }

    /// Parses a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GgufError> {
        Self::from_storage(Storage::Owned(bytes))
    }

    fn from_storage(storage: Storage) -> Result<Self, GgufError> {
        let header = parse_header(storage.bytes())?;
        Ok(Self { storage, header })
    }

    pub fn version(&self) -> u32 {
        self.header.version
    }

    /// Alignment of the data section and tensor offsets (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.header.alignment
    }

    /// Absolute file offset where tensor data begins.
    pub fn data_start(&self) -> u64 {
        self.header.data_start
    }

    /// Total size of the underlying file in bytes.
    pub fn file_len(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    pub fn metadata(&self) -> &BTreeMap<String, MetadataValue> {
        &self.header.metadata
    }

    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.header.metadata.get(key)
    }

    fn require(&self, key: &str) -> Result<&MetadataValue, GgufError> {
        self.get(key)
            .ok_or_else(|| GgufError::MissingKey(key.to_owned()))
    }

    fn require_integer(&self, key: &str) -> Result<i128, GgufError> {
        let value = self.require(key)?;
        value
            .as_integer()
            .ok_or_else(|| wrong_type(key, "integer", value))
    }

    /// Any integer-typed value that fits in a `u32` (files disagree on u32 vs u64 vs i32).
    pub fn get_u32(&self, key: &str) -> Result<u32, GgufError> {
        let integer = self.require_integer(key)?;
        u32::try_from(integer).map_err(|_| out_of_range(key, "u32"))
    }

    /// Any integer-typed value that fits in a `u64`.
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        let integer = self.require_integer(key)?;
        u64::try_from(integer).map_err(|_| out_of_range(key, "u64"))
    }

    /// Any integer-typed value that fits in an `i64`.
    pub fn get_i64(&self, key: &str) -> Result<i64, GgufError> {
        let integer = self.require_integer(key)?;
        i64::try_from(integer).map_err(|_| out_of_range(key, "i64"))
    }

    /// An f32 or f64 value (f64 is narrowed to the nearest f32).
    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        let value = self.require(key)?;
        match *value {
            MetadataValue::F32(v) => Ok(v),
            MetadataValue::F64(v) => Ok(v as f32),
            _ => Err(wrong_type(key, "float", value)),
        }
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        let value = self.require(key)?;
        value
            .as_bool()
            .ok_or_else(|| wrong_type(key, "bool", value))
    }

    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let value = self.require(key)?;
        value
            .as_str()
            .ok_or_else(|| wrong_type(key, "string", value))
    }

    fn get_array(&self, key: &str, expected: &'static str) -> Result<&[MetadataValue], GgufError> {
        let value = self.require(key)?;
        value
            .as_array()
            .ok_or_else(|| wrong_type(key, expected, value))
    }

    /// An array of strings, e.g. `tokenizer.ggml.tokens`.
    pub fn get_string_array(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        const EXPECTED: &str = "array of string";
        self.get_array(key, EXPECTED)?
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| wrong_array_type(key, EXPECTED, item))
            })
            .collect()
    }

    /// An array of integers that all fit in `i32`, e.g. `tokenizer.ggml.token_type`.
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>, GgufError> {
        const EXPECTED: &str = "array of integers";
        self.get_array(key, EXPECTED)?
            .iter()
            .map(|item| {
                let integer = item
                    .as_integer()
                    .ok_or_else(|| wrong_array_type(key, EXPECTED, item))?;
                i32::try_from(integer).map_err(|_| out_of_range(key, "i32"))
            })
            .collect()
    }

    /// `general.architecture`, e.g. `"llama"`; it prefixes the model's hyperparameter keys.
    pub fn architecture(&self) -> Result<&str, GgufError> {
        self.get_str("general.architecture")
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.header.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        let index = *self.header.tensor_index.get(name)?;
        self.header.tensors.get(index)
    }

    /// Raw bytes of a tensor of this file. Bounds were checked at parse time; an info that
    /// did not come from this file and points outside it yields an empty slice.
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        self.try_tensor_data(info).unwrap_or(&[])
    }

    /// Raw bytes of a tensor, with an error instead of an empty slice for foreign infos.
    pub fn try_tensor_data(&self, info: &TensorInfo) -> Result<&[u8], GgufError> {
        let file_len = self.file_len();
        let out_of_bounds = |end| GgufError::TensorOutOfBounds {
            name: info.name.clone(),
            end,
            file_len,
        };
        let (start, end) = tensor_byte_range(info, self.header.data_start)
            .ok_or_else(|| out_of_bounds(u64::MAX))?;
        let start_index = usize::try_from(start).map_err(|_| out_of_bounds(end))?;
        let end_index = usize::try_from(end).map_err(|_| out_of_bounds(end))?;
        self.storage
            .bytes()
            .get(start_index..end_index)
            .ok_or_else(|| out_of_bounds(end))
    }

    /// Decodes the named tensor to f32 in row-major order (shape = GGUF dims reversed).
    pub fn dequantize(&self, name: &str) -> Result<DequantizedTensor, GgufError> {
        let info = self
            .tensor(name)
            .ok_or_else(|| GgufError::MissingTensor(name.to_owned()))?;
        self.dequantize_info(info)
    }

    /// Like [`Self::dequantize`], for an info already in hand.
    pub fn dequantize_info(&self, info: &TensorInfo) -> Result<DequantizedTensor, GgufError> {
        if !info.ggml_type.can_dequantize() {
            return Err(GgufError::UnsupportedGgmlType {
                ggml_type: info.ggml_type,
            });
        }
        let bytes = self.try_tensor_data(info)?;
        let len = usize::try_from(info.element_count()).map_err(|_| GgufError::SizeOverflow {
            what: "tensor element count",
        })?;
        let mut data = vec![0.0f32; len];
        dequantize_into(info.ggml_type, bytes, &mut data)?;
        Ok(DequantizedTensor {
            shape: info.shape(),
            data,
        })
    }
}

fn wrong_type(key: &str, expected: &'static str, found: &MetadataValue) -> GgufError {
    GgufError::WrongValueType {
        key: key.to_owned(),
        expected,
        found: found.value_type().name(),
    }
}

fn wrong_array_type(key: &str, expected: &'static str, element: &MetadataValue) -> GgufError {
    GgufError::WrongValueType {
        key: key.to_owned(),
        expected,
        found: element.value_type().array_name(),
    }
}

fn out_of_range(key: &str, target: &'static str) -> GgufError {
    GgufError::IntegerOutOfRange {
        key: key.to_owned(),
        target,
    }
}
