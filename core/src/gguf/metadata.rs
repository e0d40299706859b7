//! GGUF metadata values: the typed key/value pairs of the header, and their decoding.

use std::collections::BTreeMap;

use super::cursor::Cursor;
use super::error::GgufError;

/// Arrays of arrays are legal GGUF, but unbounded nesting would let a small file recurse
/// the parser off the stack; no real model nests more than once.
pub const MAX_ARRAY_DEPTH: usize = 8;

/// The type tag that precedes every GGUF metadata value (ids from the GGUF spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl MetadataValueType {
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            8 => Self::String,
            9 => Self::Array,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            _ => return None,
        })
    }

    pub fn id(self) -> u32 {
        match self {
            Self::U8 => 0,
            Self::I8 => 1,
            Self::U16 => 2,
            Self::I16 => 3,
            Self::U32 => 4,
            Self::I32 => 5,
            Self::F32 => 6,
            Self::Bool => 7,
            Self::String => 8,
            Self::Array => 9,
            Self::U64 => 10,
            Self::I64 => 11,
            Self::F64 => 12,
        }
    }

    /// Human-readable name for error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::I8 => "i8",
            Self::U16 => "u16",
            Self::I16 => "i16",
            Self::U32 => "u32",
            Self::I32 => "i32",
            Self::F32 => "f32",
            Self::Bool => "bool",
            Self::String => "string",
            Self::Array => "array",
            Self::U64 => "u64",
            Self::I64 => "i64",
            Self::F64 => "f64",
        }
    }

    /// Name of an array whose elements have this type, for error messages.
    pub fn array_name(self) -> &'static str {
        match self {
            Self::U8 => "array of u8",
            Self::I8 => "array of i8",
            Self::U16 => "array of u16",
            Self::I16 => "array of i16",
            Self::U32 => "array of u32",
            Self::I32 => "array of i32",
            Self::F32 => "array of f32",
            Self::Bool => "array of bool",
            Self::String => "array of string",
            Self::Array => "array of array",
            Self::U64 => "array of u64",
            Self::I64 => "array of i64",
            Self::F64 => "array of f64",
        }
    }

    /// Smallest encoding of one value of this type; used to reject element counts that
    /// cannot possibly fit in the rest of the file before allocating for them.
    fn min_encoded_bytes(self) -> u64 {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 | Self::String => 8,
            Self::Array => 4 + 8,
        }
    }
}

/// One decoded metadata value. Arrays keep their elements decoded (they are homogeneous in
/// the file, so every element has the array's element type).
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<MetadataValue>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl MetadataValue {
    pub fn value_type(&self) -> MetadataValueType {
        match self {
            Self::U8(_) => MetadataValueType::U8,
            Self::I8(_) => MetadataValueType::I8,
            Self::U16(_) => MetadataValueType::U16,
            Self::I16(_) => MetadataValueType::I16,
            Self::U32(_) => MetadataValueType::U32,
            Self::I32(_) => MetadataValueType::I32,
            Self::F32(_) => MetadataValueType::F32,
            Self::Bool(_) => MetadataValueType::Bool,
            Self::String(_) => MetadataValueType::String,
            Self::Array(_) => MetadataValueType::Array,
            Self::U64(_) => MetadataValueType::U64,
            Self::I64(_) => MetadataValueType::I64,
            Self::F64(_) => MetadataValueType::F64,
        }
    }

    /// The value of any integer variant, widened losslessly; `None` for non-integers.
    pub fn as_integer(&self) -> Option<i128> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::I8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::U64(v) => Some(v.into()),
            Self::I64(v) => Some(v.into()),
            _ => None,
        }
    }

    /// The value of a float variant (f32 widened to f64); `None` otherwise.
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[MetadataValue]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Reads `count` key/value pairs. Duplicate keys are an error, as in ggml's `gguf.cpp`.
pub(crate) fn read_metadata(
    cursor: &mut Cursor<'_>,
    count: u64,
    count_offset: u64,
) -> Result<BTreeMap<String, MetadataValue>, GgufError> {
    // Smallest pair: empty key (8-byte length), type tag (4), a one-byte value.
    cursor.check_count_fits(count, 8 + 4 + 1, "metadata_kv_count", count_offset)?;
    let mut metadata = BTreeMap::new();
    for _ in 0..count {
        let key = cursor.read_string("metadata key")?;
        let value_type = read_value_type(cursor, &key)?;
        let value = read_value(cursor, value_type, &key, 0)?;
        if metadata.contains_key(&key) {
            return Err(GgufError::DuplicateKey(key));
        }
        metadata.insert(key, value);
    }
    Ok(metadata)
}

fn read_value_type(cursor: &mut Cursor<'_>, key: &str) -> Result<MetadataValueType, GgufError> {
    let type_id = cursor.read_u32("metadata value type")?;
    MetadataValueType::from_id(type_id).ok_or_else(|| GgufError::UnknownValueType {
        key: key.to_owned(),
        type_id,
    })
}

fn read_value(
    cursor: &mut Cursor<'_>,
    value_type: MetadataValueType,
    key: &str,
    depth: usize,
) -> Result<MetadataValue, GgufError> {
    const WHAT: &str = "metadata value";
    Ok(match value_type {
        MetadataValueType::U8 => MetadataValue::U8(cursor.read_u8(WHAT)?),
        MetadataValueType::I8 => MetadataValue::I8(cursor.read_i8(WHAT)?),
        MetadataValueType::U16 => MetadataValue::U16(cursor.read_u16(WHAT)?),
        MetadataValueType::I16 => MetadataValue::I16(cursor.read_i16(WHAT)?),
        MetadataValueType::U32 => MetadataValue::U32(cursor.read_u32(WHAT)?),
        MetadataValueType::I32 => MetadataValue::I32(cursor.read_i32(WHAT)?),
        MetadataValueType::F32 => MetadataValue::F32(cursor.read_f32(WHAT)?),
        MetadataValueType::Bool => MetadataValue::Bool(cursor.read_bool(WHAT)?),
        MetadataValueType::String => MetadataValue::String(cursor.read_string("metadata string")?),
        MetadataValueType::U64 => MetadataValue::U64(cursor.read_u64(WHAT)?),
        MetadataValueType::I64 => MetadataValue::I64(cursor.read_i64(WHAT)?),
        MetadataValueType::F64 => MetadataValue::F64(cursor.read_f64(WHAT)?),
        MetadataValueType::Array => read_array(cursor, key, depth)?,
    })
}

fn read_array(
    cursor: &mut Cursor<'_>,
    key: &str,
    depth: usize,
) -> Result<MetadataValue, GgufError> {
    if depth >= MAX_ARRAY_DEPTH {
        return Err(GgufError::ArrayNestingTooDeep {
            key: key.to_owned(),
            max_depth: MAX_ARRAY_DEPTH,
        });
    }
    let element_type = read_value_type(cursor, key)?;
    let count_offset = cursor.offset();
    let count = cursor.read_u64("metadata array length")?;
    cursor.check_count_fits(
        count,
        element_type.min_encoded_bytes(),
        "metadata array length",
        count_offset,
    )?;
    let capacity = usize::try_from(count).map_err(|_| GgufError::SizeOverflow {
        what: "metadata array length",
    })?;
    let mut items = Vec::with_capacity(capacity);
    for _ in 0..count {
        items.push(read_value(cursor, element_type, key, depth + 1)?);
    }
    Ok(MetadataValue::Array(items))
}
