//! Writes small GGUF files with the test writer and checks the reader gives back exactly
//! what went in: every metadata type, shapes, raw bytes and decoded values.

use super::writer::{GgufBuilder, f16_bytes, f32_bytes};
use crate::gguf::{
    DEFAULT_ALIGNMENT, GgmlType, GgufError, GgufFile, MetadataValue, dequantize_into, quantize_q8_0,
};

fn sample_values(n: usize, seed: u32) -> Vec<f32> {
    // Deterministic, sign-mixed values spanning a few orders of magnitude.
    (0..n)
        .map(|i| {
            let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
            (x as f32 / (1u32 << 24) as f32 - 0.5) * 3.0
        })
        .collect()
}

fn nested_array() -> MetadataValue {
    MetadataValue::Array(vec![
        MetadataValue::Array(vec![MetadataValue::U32(1), MetadataValue::U32(2)]),
        MetadataValue::Array(vec![MetadataValue::U32(3)]),
    ])
}

fn sample_builder() -> GgufBuilder {
    let q8_values = sample_values(64 * 2, 7);
    let q8_bytes = quantize_q8_0(&q8_values).expect("whole blocks");
    GgufBuilder::new()
        .kv(
            "general.architecture",
            MetadataValue::String("llama".into()),
        )
        .kv("general.name", MetadataValue::String("tiny ünïcode".into()))
        .kv("test.u8", MetadataValue::U8(200))
        .kv("test.i8", MetadataValue::I8(-5))
        .kv("test.u16", MetadataValue::U16(65_000))
        .kv("test.i16", MetadataValue::I16(-32_000))
        .kv("llama.block_count", MetadataValue::U32(30))
        .kv("test.i32", MetadataValue::I32(-70_000))
        .kv("test.f32", MetadataValue::F32(1.5))
        .kv("test.bool", MetadataValue::Bool(true))
        .kv("test.u64", MetadataValue::U64(1 << 40))
        .kv("test.i64", MetadataValue::I64(-(1 << 40)))
        .kv("test.f64", MetadataValue::F64(0.1))
        .kv(
            "tokenizer.ggml.tokens",
            MetadataValue::Array(vec![
                MetadataValue::String("a".into()),
                MetadataValue::String("bé".into()),
                MetadataValue::String(String::new()),
            ]),
        )
        .kv(
            "tokenizer.ggml.token_type",
            MetadataValue::Array(vec![
                MetadataValue::I32(1),
                MetadataValue::I32(3),
                MetadataValue::I32(-1),
            ]),
        )
        .kv("test.nested", nested_array())
        .kv("test.empty", MetadataValue::Array(Vec::new()))
        .tensor(
            "a.f32",
            &[3, 2],
            GgmlType::F32,
            f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
        )
        .tensor(
            "b.f16",
            &[4],
            GgmlType::F16,
            f16_bytes(&[0.5, -2.0, 65504.0, 1e-7]),
        )
        .tensor("c.q8_0", &[64, 2], GgmlType::Q8_0, q8_bytes)
}

fn sample_file() -> GgufFile {
    let (bytes, _) = sample_builder().build();
    GgufFile::from_bytes(bytes).expect("sample file parses")
}

#[test]
fn header_fields_round_trip() {
    let (bytes, layout) = sample_builder().build();
    let file = GgufFile::from_bytes(bytes).expect("parses");
    assert_eq!(file.version(), 3);
    assert_eq!(file.alignment(), DEFAULT_ALIGNMENT);
    assert_eq!(file.data_start(), layout.data_start);
    assert_eq!(file.data_start() % 32, 0);
    assert_eq!(file.metadata().len(), 17);
    let names: Vec<&str> = file.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a.f32", "b.f16", "c.q8_0"]);
    let offsets: Vec<u64> = file.tensors().iter().map(|t| t.offset).collect();
    assert_eq!(offsets, layout.tensor_offsets);
}

#[test]
fn every_metadata_type_round_trips() {
    let file = sample_file();
    let builder = sample_builder();
    for (key, value) in &builder.metadata {
        assert_eq!(file.get(key), Some(value), "key {key}");
    }
    assert_eq!(file.get("test.nested"), Some(&nested_array()));
}

#[test]
fn typed_getters_convert_and_reject() {
    let file = sample_file();
    assert_eq!(file.architecture().expect("arch"), "llama");
    assert_eq!(file.get_str("general.name").expect("name"), "tiny ünïcode");
    assert_eq!(file.get_u32("llama.block_count").expect("u32"), 30);
    assert_eq!(file.get_u32("test.u8").expect("u8 widens"), 200);
    assert_eq!(file.get_u32("test.u16").expect("u16 widens"), 65_000);
    assert_eq!(file.get_u64("test.u64").expect("u64"), 1 << 40);
    assert_eq!(file.get_i64("test.i64").expect("i64"), -(1 << 40));
    assert_eq!(file.get_f32("test.f32").expect("f32"), 1.5);
    assert_eq!(file.get_f32("test.f64").expect("f64 narrows"), 0.1f32);
    assert!(file.get_bool("test.bool").expect("bool"));
    assert_eq!(
        file.get_string_array("tokenizer.ggml.tokens")
            .expect("tokens"),
        ["a", "bé", ""]
    );
    assert_eq!(
        file.get_i32_array("tokenizer.ggml.token_type")
            .expect("types"),
        [1, 3, -1]
    );
    assert!(
        file.get_string_array("test.empty")
            .expect("empty")
            .is_empty()
    );

    assert!(matches!(
        file.get_u32("test.i32"),
        Err(GgufError::IntegerOutOfRange { target: "u32", .. })
    ));
    assert!(matches!(
        file.get_u32("test.u64"),
        Err(GgufError::IntegerOutOfRange { .. })
    ));
    assert!(matches!(
        file.get_u32("general.name"),
        Err(GgufError::WrongValueType {
            expected: "integer",
            found: "string",
            ..
        })
    ));
    assert!(matches!(
        file.get_str("test.u8"),
        Err(GgufError::WrongValueType { found: "u8", .. })
    ));
    assert!(matches!(
        file.get_f32("test.u8"),
        Err(GgufError::WrongValueType { .. })
    ));
    assert!(matches!(
        file.get_string_array("tokenizer.ggml.token_type"),
        Err(GgufError::WrongValueType {
            found: "array of i32",
            ..
        })
    ));
    assert!(matches!(
        file.get_i32_array("tokenizer.ggml.tokens"),
        Err(GgufError::WrongValueType {
            found: "array of string",
            ..
        })
    ));
    assert!(matches!(
        file.get_u32("no.such.key"),
        Err(GgufError::MissingKey(key)) if key == "no.such.key"
    ));
}

#[test]
fn tensor_infos_and_raw_data_round_trip() {
    let file = sample_file();
    let builder = sample_builder();
    for expected in &builder.tensors {
        let info = file.tensor(&expected.name).expect("tensor present");
        assert_eq!(info.dims, expected.dims);
        assert_eq!(info.ggml_type, expected.ggml_type);
        assert_eq!(file.tensor_data(info), expected.data.as_slice());
        assert_eq!(info.byte_len(), expected.data.len() as u64);
    }
    let a = file.tensor("a.f32").expect("a");
    assert_eq!(a.shape(), [2, 3]);
    assert_eq!(a.element_count(), 6);
    assert!(file.tensor("missing").is_none());
    assert!(matches!(
        file.dequantize("missing"),
        Err(GgufError::MissingTensor(name)) if name == "missing"
    ));
}

#[test]
fn tensors_dequantize_to_written_values() {
    let file = sample_file();
    let a = file.dequantize("a.f32").expect("f32");
    assert_eq!(a.shape, [2, 3]);
    assert_eq!(a.data, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);

    let b = file.dequantize("b.f16").expect("f16");
    assert_eq!(b.shape, [4]);
    // 1e-7 is an f16 subnormal: 2 * 2^-24 = 1.1920929e-7.
    assert_eq!(b.data, [0.5, -2.0, 65504.0, 1.192_092_9e-7]);

    let c = file.dequantize("c.q8_0").expect("q8_0");
    assert_eq!(c.shape, [2, 64]);
    let original = sample_values(128, 7);
    for (block, decoded) in original.chunks(32).zip(c.data.chunks(32)) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        // Rounding error is at most half a step (amax/127), plus the f16 rounding of d.
        let tolerance = amax / 127.0 * 0.5 + amax * 1e-3;
        for (x, y) in block.iter().zip(decoded) {
            assert!((x - y).abs() <= tolerance, "{x} vs {y}");
        }
    }
}

#[test]
fn version_2_and_custom_alignment_are_read() {
    let mut builder = sample_builder().kv("general.alignment", MetadataValue::U32(64));
    builder.version = 2;
    builder.alignment = 64;
    let (bytes, layout) = builder.build();
    let file = GgufFile::from_bytes(bytes).expect("parses");
    assert_eq!(file.version(), 2);
    assert_eq!(file.alignment(), 64);
    assert_eq!(file.data_start(), layout.data_start);
    assert_eq!(file.data_start() % 64, 0);
    let a = file.dequantize("a.f32").expect("f32");
    assert_eq!(a.data, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
}

#[test]
fn file_without_tensors_is_valid() {
    let (bytes, _) = GgufBuilder::new()
        .kv("general.architecture", MetadataValue::String("none".into()))
        .build();
    let file = GgufFile::from_bytes(bytes).expect("parses");
    assert!(file.tensors().is_empty());
    assert_eq!(file.architecture().expect("arch"), "none");
}

#[test]
fn open_reads_through_mmap() {
    let (bytes, _) = sample_builder().build();
    let path_dir = reclora_test_support::TempDir::new("gguf-test");
    let path = path_dir.join("file.gguf");
    std::fs::write(&path, &bytes).expect("write temp file");
    let opened = GgufFile::open(&path);
    std::fs::remove_file(&path).expect("remove temp file");
    let file = opened.expect("opens");
    assert_eq!(file.file_len(), bytes.len() as u64);
    assert_eq!(
        file.dequantize("a.f32").expect("f32").data,
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
}

#[test]
fn open_missing_file_is_io_error() {
    let err = GgufFile::open("/nonexistent/reclora/model.gguf").expect_err("missing");
    assert!(matches!(err, GgufError::Io(_)));
}

#[test]
fn dequantize_into_rejects_bad_buffers() {
    let mut out = [0.0f32; 32];
    assert!(matches!(
        dequantize_into(GgmlType::Q8_0, &[0u8; 33], &mut out),
        Err(GgufError::BufferSizeMismatch {
            bytes: 33,
            values: 32,
            ..
        })
    ));
    let mut ragged = [0.0f32; 31];
    assert!(matches!(
        dequantize_into(GgmlType::Q4_0, &[0u8; 18], &mut ragged),
        Err(GgufError::BufferSizeMismatch { .. })
    ));
    assert!(matches!(
        dequantize_into(GgmlType::Iq2Xxs, &[0u8; 66], &mut [0.0f32; 256]),
        Err(GgufError::UnsupportedGgmlType {
            ggml_type: GgmlType::Iq2Xxs
        })
    ));
    assert!(quantize_q8_0(&[1.0; 33]).is_err());
}

#[test]
fn unsupported_tensor_type_is_a_typed_error() {
    let (bytes, _) = GgufBuilder::new()
        .tensor(
            "iq",
            &[256],
            GgmlType::Iq2Xxs,
            vec![0u8; GgmlType::Iq2Xxs.type_size()],
        )
        .build();
    let file = GgufFile::from_bytes(bytes).expect("parses: the type is known");
    assert!(matches!(
        file.dequantize("iq"),
        Err(GgufError::UnsupportedGgmlType {
            ggml_type: GgmlType::Iq2Xxs
        })
    ));
    assert_eq!(file.tensor_data(&file.tensors()[0]).len(), 66);
}

#[test]
fn type_ids_round_trip() {
    for ty in GgmlType::ALL {
        assert_eq!(GgmlType::from_id(ty.id()), Some(ty));
    }
    for retired in [4, 5, 31, 32, 33, 36, 37, 38, 42, 99, u32::MAX] {
        assert_eq!(GgmlType::from_id(retired), None, "id {retired}");
    }
    assert_eq!(GgmlType::BF16.id(), 30);
    assert_eq!(GgmlType::Q6K.type_size(), 210);
    assert_eq!(GgmlType::Q4K.block_size(), 256);
}
