//! Parses the GGUF header (magic, version, counts, metadata, tensor infos) and checks that
//! every tensor's bytes lie inside the file, so later data access needs no further checks.

use std::collections::{BTreeMap, HashMap};

use super::cursor::Cursor;
use super::error::GgufError;
use super::metadata::{MetadataValue, read_metadata};
use super::tensor_info::{TensorInfo, read_tensor_info};

pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Metadata key that overrides the data alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// Alignment of the data section and of tensor offsets when the file does not say.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Smallest tensor info: name length (8), n_dims (4), type (4), offset (8).
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// Everything the header says, already validated against the file length.
#[derive(Debug)]
pub(crate) struct Header {
    pub version: u32,
    pub alignment: u64,
    pub metadata: BTreeMap<String, MetadataValue>,
    pub tensors: Vec<TensorInfo>,
    pub tensor_index: HashMap<String, usize>,
    /// Absolute file offset of the data section (end of tensor infos, aligned up).
    pub data_start: u64,
}

pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header, GgufError> {
    let mut cursor = Cursor::new(bytes);
    let magic = cursor.read_array::<4>("magic")?;
    if magic != GGUF_MAGIC {
        return Err(GgufError::BadMagic { found: magic });
    }
    let version = cursor.read_u32("version")?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion(version));
    }
    let tensor_count_offset = cursor.offset();
    let tensor_count = cursor.read_u64("tensor_count")?;
    let kv_count_offset = cursor.offset();
    let kv_count = cursor.read_u64("metadata_kv_count")?;

    let metadata = read_metadata(&mut cursor, kv_count, kv_count_offset)?;
    let alignment = alignment_from(&metadata)?;

    cursor.check_count_fits(
        tensor_count,
        MIN_TENSOR_INFO_BYTES,
        "tensor_count",
        tensor_count_offset,
    )?;
    let capacity = usize::try_from(tensor_count).map_err(|_| GgufError::SizeOverflow {
        what: "tensor_count",
    })?;
    let mut tensors = Vec::with_capacity(capacity);
    let mut tensor_index = HashMap::with_capacity(capacity);
    for index in 0..capacity {
        let info = read_tensor_info(&mut cursor)?;
        if !info.offset.is_multiple_of(alignment) {
            return Err(GgufError::MisalignedOffset {
                name: info.name,
                offset: info.offset,
                alignment,
            });
        }
        if tensor_index.insert(info.name.clone(), index).is_some() {
            return Err(GgufError::DuplicateTensor(info.name));
        }
        tensors.push(info);
    }

    let data_start = align_up(cursor.offset(), alignment)?;
    let file_len = bytes.len() as u64;
    for info in &tensors {
        check_tensor_in_bounds(info, data_start, file_len)?;
    }

    Ok(Header {
        version,
        alignment,
        metadata,
        tensors,
        tensor_index,
        data_start,
    })
}

/// Absolute byte range of a tensor's data, or `None` if the arithmetic overflows.
pub(crate) fn tensor_byte_range(info: &TensorInfo, data_start: u64) -> Option<(u64, u64)> {
    let start = data_start.checked_add(info.offset)?;
    let end = start.checked_add(info.byte_len())?;
    Some((start, end))
}

fn check_tensor_in_bounds(
    info: &TensorInfo,
    data_start: u64,
    file_len: u64,
) -> Result<(), GgufError> {
    match tensor_byte_range(info, data_start) {
        Some((_, end)) if end <= file_len => Ok(()),
        range => Err(GgufError::TensorOutOfBounds {
            name: info.name.clone(),
            end: range.map_or(u64::MAX, |(_, end)| end),
            file_len,
        }),
    }
}

fn alignment_from(metadata: &BTreeMap<String, MetadataValue>) -> Result<u64, GgufError> {
    let Some(value) = metadata.get(ALIGNMENT_KEY) else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    let Some(integer) = value.as_integer() else {
        return Err(GgufError::WrongValueType {
            key: ALIGNMENT_KEY.to_owned(),
            expected: "integer",
            found: value.value_type().name(),
        });
    };
    let alignment = u64::try_from(integer).map_err(|_| GgufError::IntegerOutOfRange {
        key: ALIGNMENT_KEY.to_owned(),
        target: "u64",
    })?;
    if alignment.is_power_of_two() {
        Ok(alignment)
    } else {
        Err(GgufError::BadAlignment(alignment))
    }
}

/// Rounds `offset` up to a multiple of `alignment` (a nonzero power of two).
pub(crate) fn align_up(offset: u64, alignment: u64) -> Result<u64, GgufError> {
    let mask = alignment.wrapping_sub(1);
    offset
        .checked_add(mask)
        .map(|bumped| bumped & !mask)
        .ok_or(GgufError::SizeOverflow {
            what: "aligned data section start",
        })
}
