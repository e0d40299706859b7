//! Malformed and hostile files: each must produce the specific typed error, and no input
//! (truncated anywhere, or randomly corrupted) may panic or allocate from a forged count.

use super::writer::{GgufBuilder, RawWriter, f32_bytes};
use crate::gguf::{GgmlType, GgufError, GgufFile, MAX_ARRAY_DEPTH, MetadataValue, quantize_q8_0};

fn valid_builder() -> GgufBuilder {
    let q8 = quantize_q8_0(&[0.25; 64]).expect("whole blocks");
    GgufBuilder::new()
        .kv(
            "general.architecture",
            MetadataValue::String("llama".into()),
        )
        .kv("llama.block_count", MetadataValue::U32(2))
        .kv(
            "tokenizer.ggml.tokens",
            MetadataValue::Array(vec![
                MetadataValue::String("<s>".into()),
                MetadataValue::String("hi".into()),
            ]),
        )
        .tensor("w.f32", &[4, 2], GgmlType::F32, f32_bytes(&[1.0; 8]))
        .tensor("w.q8_0", &[64], GgmlType::Q8_0, q8)
}

fn parse(bytes: &[u8]) -> Result<GgufFile, GgufError> {
    GgufFile::from_bytes(bytes.to_vec())
}

fn parse_err(bytes: &[u8]) -> GgufError {
    match parse(bytes) {
        Ok(_) => panic!("malformed file parsed successfully"),
        Err(err) => err,
    }
}

/// A header followed by a single metadata pair whose payload is given raw.
fn file_with_raw_kv(key: &str, type_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut w = RawWriter::default();
    w.header(3, 0, 1).string(key).u32(type_id).put(payload);
    w.bytes
}

/// A header with no metadata and one tensor info, plus `data_len` zero bytes of data.
fn file_with_tensor(
    name: &str,
    dims: &[u64],
    type_id: u32,
    offset: u64,
    data_len: usize,
) -> Vec<u8> {
    let mut w = RawWriter::default();
    w.header(3, 1, 0)
        .tensor_info(name, dims, type_id, offset)
        .pad_to(32);
    w.put(&vec![0u8; data_len]);
    w.bytes
}

#[test]
fn valid_fixture_parses() {
    let (bytes, _) = valid_builder().build();
    let file = parse(&bytes).expect("valid");
    assert_eq!(file.tensors().len(), 2);
}

#[test]
fn empty_file_is_truncated() {
    assert!(matches!(
        parse_err(&[]),
        GgufError::Truncated {
            what: "magic",
            offset: 0
        }
    ));
}

#[test]
fn truncated_inside_header() {
    let (bytes, _) = valid_builder().build();
    assert!(matches!(
        parse_err(&bytes[..2]),
        GgufError::Truncated {
            what: "magic",
            offset: 0
        }
    ));
    assert!(matches!(
        parse_err(&bytes[..6]),
        GgufError::Truncated {
            what: "version",
            offset: 4
        }
    ));
    assert!(matches!(
        parse_err(&bytes[..12]),
        GgufError::Truncated {
            what: "tensor_count",
            offset: 8
        }
    ));
    assert!(matches!(
        parse_err(&bytes[..20]),
        GgufError::Truncated {
            what: "metadata_kv_count",
            offset: 16
        }
    ));
}

#[test]
fn truncated_inside_metadata() {
    let (bytes, layout) = valid_builder().build();
    // Second pair is "llama.block_count" (8 + 17 key bytes, 4 type bytes) then a u32 value.
    let value_start = layout.kv_starts[1] + 8 + 17 + 4;
    let cut = (value_start + 2) as usize;
    assert!(matches!(
        parse_err(&bytes[..cut]),
        GgufError::Truncated { what: "metadata value", offset } if offset == value_start
    ));
    // Cutting inside the last token string: its declared length no longer fits.
    let last_kv_end = layout.tensor_info_starts[0] as usize;
    assert!(matches!(
        parse_err(&bytes[..last_kv_end - 1]),
        GgufError::LengthOutOfBounds {
            what: "metadata string",
            declared: 2,
            remaining: 1,
            ..
        }
    ));
}

#[test]
fn truncated_inside_tensor_infos() {
    let (bytes, layout) = valid_builder().build();
    // Second info: name (8 + 6), n_dims (4), one dim (8), type (4), then the u64 offset.
    let offset_field = layout.tensor_info_starts[1] + 8 + 6 + 4 + 8 + 4;
    let cut = (offset_field + 3) as usize;
    assert!(matches!(
        parse_err(&bytes[..cut]),
        GgufError::Truncated { what: "tensor data offset", offset } if offset == offset_field
    ));
}

#[test]
fn truncated_inside_tensor_data() {
    let (bytes, layout) = valid_builder().build();
    let q8_start = layout.data_start + layout.tensor_offsets[1];
    let cut = (q8_start + 10) as usize;
    let err = parse_err(&bytes[..cut]);
    assert!(
        matches!(
            &err,
            GgufError::TensorOutOfBounds { name, end, file_len }
                if name == "w.q8_0" && *end == q8_start + 68 && *file_len == cut as u64
        ),
        "{err:?}"
    );
}

#[test]
fn every_truncation_is_an_error() {
    let (bytes, layout) = valid_builder().build();
    // Everything past the last tensor's data is padding; cutting there stays valid.
    let data_end = (layout.data_start + layout.tensor_offsets[1] + 68) as usize;
    for cut in 0..data_end {
        assert!(parse(&bytes[..cut]).is_err(), "cut at {cut} parsed");
    }
    for cut in data_end..=bytes.len() {
        assert!(parse(&bytes[..cut]).is_ok(), "cut at {cut} failed");
    }
}

#[test]
fn random_corruption_never_panics() {
    let (bytes, _) = valid_builder().build();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut corrupted = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % corrupted.len() as u64) as usize;
            corrupted[at] = next() as u8;
        }
        if let Ok(file) = parse(&corrupted) {
            for info in file.tensors() {
                let _ = file.dequantize_info(info);
            }
        }
    }
}

#[test]
fn bad_magic() {
    let (mut bytes, _) = valid_builder().build();
    bytes[..4].copy_from_slice(b"GGML");
    assert!(matches!(
        parse_err(&bytes),
        GgufError::BadMagic { found } if &found == b"GGML"
    ));
}

#[test]
fn unsupported_versions() {
    for version in [0, 1, 4, u32::MAX] {
        let mut builder = valid_builder();
        builder.version = version;
        let (bytes, _) = builder.build();
        assert!(
            matches!(parse_err(&bytes), GgufError::UnsupportedVersion(v) if v == version),
            "version {version}"
        );
    }
    // A big-endian v3 file reads as version 0x03000000 and is refused, not misparsed.
    let (mut bytes, _) = valid_builder().build();
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(matches!(
        parse_err(&bytes),
        GgufError::UnsupportedVersion(0x0300_0000)
    ));
}

#[test]
fn tensor_offset_past_end_of_file() {
    let bytes = file_with_tensor("w", &[8], 0, 1 << 20, 32);
    let err = parse_err(&bytes);
    assert!(
        matches!(
            &err,
            GgufError::TensorOutOfBounds { name, end, file_len }
                if name == "w" && *end == 64 + (1 << 20) + 32 && *file_len == bytes.len() as u64
        ),
        "{err:?}"
    );
}

#[test]
fn tensor_offset_overflowing_u64() {
    let bytes = file_with_tensor("w", &[8], 0, u64::MAX - 31, 32);
    assert!(matches!(
        parse_err(&bytes),
        GgufError::TensorOutOfBounds { end: u64::MAX, .. }
    ));
}

#[test]
fn misaligned_tensor_offset() {
    let bytes = file_with_tensor("w", &[8], 0, 4, 64);
    assert!(matches!(
        parse_err(&bytes),
        GgufError::MisalignedOffset {
            offset: 4,
            alignment: 32,
            ..
        }
    ));
}

#[test]
fn absurd_dimensions() {
    for dims in [
        vec![1 << 40, 1 << 40],
        vec![u64::MAX, 2],
        vec![0, 4],
        vec![1 << 41],
    ] {
        let bytes = file_with_tensor("big", &dims, 0, 0, 64);
        let err = parse_err(&bytes);
        assert!(
            matches!(&err, GgufError::AbsurdDimension { name, dims: found } if name == "big" && *found == dims),
            "{dims:?}: {err:?}"
        );
    }
}

#[test]
fn too_many_dimensions() {
    let bytes = file_with_tensor("t", &[1, 1, 1, 1, 1], 0, 0, 32);
    assert!(matches!(
        parse_err(&bytes),
        GgufError::TooManyDims { n_dims: 5, .. }
    ));
    let mut w = RawWriter::default();
    w.header(3, 1, 0).string("t").u32(u32::MAX).put(&[0u8; 32]);
    assert!(matches!(
        parse_err(&w.bytes),
        GgufError::TooManyDims {
            n_dims: u32::MAX,
            ..
        }
    ));
}

#[test]
fn unknown_quant_type_id() {
    for type_id in [99, 4, 31] {
        let bytes = file_with_tensor("q", &[32], type_id, 0, 64);
        assert!(
            matches!(parse_err(&bytes), GgufError::UnknownGgmlType { name, type_id: t } if name == "q" && t == type_id),
            "type {type_id}"
        );
    }
}

#[test]
fn row_not_multiple_of_block_size() {
    let bytes = file_with_tensor("q", &[33, 2], GgmlType::Q4_0.id(), 0, 128);
    assert!(matches!(
        parse_err(&bytes),
        GgufError::RowNotBlockAligned {
            ne0: 33,
            block_size: 32,
            ggml_type: GgmlType::Q4_0,
            ..
        }
    ));
}

#[test]
fn huge_string_lengths() {
    // Metadata key length.
    let mut w = RawWriter::default();
    w.header(3, 0, 1).u64(1 << 60).put(b"general.name");
    assert!(matches!(
        parse_err(&w.bytes),
        GgufError::LengthOutOfBounds { what: "metadata key", declared, offset: 24, .. } if declared == 1 << 60
    ));
    // String value length (u64::MAX must not overflow the bounds arithmetic either).
    for declared in [1u64 << 60, u64::MAX] {
        let bytes = file_with_raw_kv("k", 8, &declared.to_le_bytes());
        assert!(matches!(
            parse_err(&bytes),
            GgufError::LengthOutOfBounds { what: "metadata string", declared: d, .. } if d == declared
        ));
    }
    // Tensor name length.
    let mut w = RawWriter::default();
    w.header(3, 1, 0).u64(1 << 60).put(&[0u8; 64]);
    assert!(matches!(
        parse_err(&w.bytes),
        GgufError::LengthOutOfBounds {
            what: "tensor name",
            ..
        }
    ));
}

#[test]
fn huge_array_counts() {
    for (element_type, count) in [
        (0u32, 1u64 << 62),
        (8, 1 << 61),
        (9, u64::MAX),
        (12, 1 << 40),
    ] {
        let mut payload = element_type.to_le_bytes().to_vec();
        payload.extend_from_slice(&count.to_le_bytes());
        payload.extend_from_slice(&[0u8; 16]);
        let bytes = file_with_raw_kv("arr", 9, &payload);
        assert!(
            matches!(
                parse_err(&bytes),
                GgufError::LengthOutOfBounds { what: "metadata array length", declared, .. } if declared == count
            ),
            "element type {element_type}, count {count}"
        );
    }
}

#[test]
fn huge_section_counts() {
    let mut w = RawWriter::default();
    w.header(3, 0, u64::MAX).put(&[0u8; 100]);
    assert!(matches!(
        parse_err(&w.bytes),
        GgufError::LengthOutOfBounds {
            what: "metadata_kv_count",
            offset: 16,
            ..
        }
    ));
    let mut w = RawWriter::default();
    w.header(3, 1 << 50, 0).put(&[0u8; 100]);
    assert!(matches!(
        parse_err(&w.bytes),
        GgufError::LengthOutOfBounds {
            what: "tensor_count",
            offset: 8,
            ..
        }
    ));
}

#[test]
fn deeply_nested_arrays() {
    let mut payload = Vec::new();
    for _ in 0..=MAX_ARRAY_DEPTH {
        payload.extend_from_slice(&9u32.to_le_bytes());
        payload.extend_from_slice(&1u64.to_le_bytes());
    }
    payload.extend_from_slice(&[0u8; 16]);
    // The outer value is itself an array, so the element type/count pairs above nest.
    let bytes = file_with_raw_kv("deep", 9, &payload);
    assert!(matches!(
        parse_err(&bytes),
        GgufError::ArrayNestingTooDeep { key, .. } if key == "deep"
    ));
}

#[test]
fn invalid_utf8_bool_and_value_type() {
    let mut w = RawWriter::default();
    w.header(3, 0, 1).u64(2).put(&[0xC3, 0x28]).u32(4).u32(0);
    assert!(matches!(
        parse_err(&w.bytes),
        GgufError::InvalidUtf8 {
            what: "metadata key",
            offset: 32
        }
    ));
    assert!(matches!(
        parse_err(&file_with_raw_kv("b", 7, &[2])),
        GgufError::InvalidBool { value: 2, .. }
    ));
    assert!(matches!(
        parse_err(&file_with_raw_kv("x", 13, &[0; 8])),
        GgufError::UnknownValueType { type_id: 13, .. }
    ));
}

#[test]
fn duplicate_keys_and_tensors() {
    let (bytes, _) = valid_builder()
        .kv("llama.block_count", MetadataValue::U32(3))
        .build();
    assert!(matches!(
        parse_err(&bytes),
        GgufError::DuplicateKey(key) if key == "llama.block_count"
    ));
    let (bytes, _) = valid_builder()
        .tensor("w.f32", &[8], GgmlType::F32, f32_bytes(&[0.0; 8]))
        .build();
    assert!(matches!(
        parse_err(&bytes),
        GgufError::DuplicateTensor(name) if name == "w.f32"
    ));
}

#[test]
fn bad_alignment_values() {
    for alignment in [0u32, 3, 48] {
        let (bytes, _) = valid_builder()
            .kv("general.alignment", MetadataValue::U32(alignment))
            .build();
        assert!(
            matches!(parse_err(&bytes), GgufError::BadAlignment(a) if a == u64::from(alignment)),
            "alignment {alignment}"
        );
    }
    let (bytes, _) = valid_builder()
        .kv("general.alignment", MetadataValue::String("32".into()))
        .build();
    assert!(matches!(
        parse_err(&bytes),
        GgufError::WrongValueType {
            expected: "integer",
            found: "string",
            ..
        }
    ));
}
