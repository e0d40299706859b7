//! Golden test against the reference Python `gguf` package: the fixture holds raw blocks of
//! every supported type with the values `gguf.quants.dequantize` produced for them, plus
//! `gguf.quants.quantize` outputs for Q8_0/Q4_0. Regenerate with
//! `scripts/oracle/make_dequant_fixture.py`.

use serde_json::Value;

use crate::gguf::{GgmlType, dequantize_into, quantize_q4_0, quantize_q8_0};

const FIXTURE: &str = include_str!("../../../tests/fixtures/gguf_dequant.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture is valid JSON")
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn f32_list(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("array of numbers")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect()
}

fn cases<'a>(fixture: &'a Value, section: &str) -> &'a [Value] {
    fixture[section].as_array().expect("section array")
}

#[test]
fn dequantization_matches_python_gguf() {
    let fixture = fixture();
    let mut seen = Vec::new();
    for case in cases(&fixture, "dequant") {
        let type_name = case["type"].as_str().expect("type name");
        let type_id = case["type_id"].as_u64().expect("type id") as u32;
        let ggml_type = GgmlType::from_id(type_id).expect("known type");
        let bytes = hex_bytes(case["bytes_hex"].as_str().expect("hex"));
        let expected = f32_list(&case["values"]);
        let mut out = vec![f32::NAN; expected.len()];
        dequantize_into(ggml_type, &bytes, &mut out).unwrap_or_else(|e| panic!("{type_name}: {e}"));

        let max_diff = out
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max_diff <= 1e-6, "{type_name}: max abs diff {max_diff}");
        // Same operation order as ggml, so the results should be bit-identical too.
        let mismatches = out
            .iter()
            .zip(&expected)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(
            mismatches, 0,
            "{type_name}: {mismatches} values differ in bits"
        );
        seen.push(ggml_type);
    }
    let supported: Vec<GgmlType> = GgmlType::ALL
        .into_iter()
        .filter(|t| t.can_dequantize() && *t != GgmlType::Q8K)
        .collect();
    for ty in supported {
        assert!(seen.contains(&ty), "fixture lacks {ty}");
    }
}

#[test]
fn quantizers_match_python_gguf() {
    let fixture = fixture();
    for case in cases(&fixture, "quantize") {
        let type_name = case["type"].as_str().expect("type name");
        let input = f32_list(&case["input"]);
        let expected = hex_bytes(case["bytes_hex"].as_str().expect("hex"));
        let (ggml_type, actual) = match type_name {
            "Q8_0" => (GgmlType::Q8_0, quantize_q8_0(&input)),
            "Q4_0" => (GgmlType::Q4_0, quantize_q4_0(&input)),
            other => panic!("unexpected quantize case {other}"),
        };
        let actual = actual.expect("whole blocks");
        assert_eq!(actual, expected, "{type_name} bytes");

        // And the decoded values land within one quantization step of the input, plus the
        // error of storing the step `d` as f16 (large for tiny blocks, where d is subnormal).
        let mut decoded = vec![0.0f32; input.len()];
        dequantize_into(ggml_type, &actual, &mut decoded).expect("decodes");
        let levels = if ggml_type == GgmlType::Q8_0 {
            127.0
        } else {
            8.0
        };
        for (block_in, block_out) in input.chunks(32).zip(decoded.chunks(32)) {
            let amax = block_in.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let step = amax / levels;
            let f16_error = (half::f16::from_f32(step).to_f32() - step).abs();
            let tolerance = step + levels * f16_error + 1e-12;
            for (x, y) in block_in.iter().zip(block_out) {
                assert!((x - y).abs() <= tolerance, "{type_name}: {x} vs {y}");
            }
        }
    }
}

/// Q8_K has no Python dequantizer; ggml's rule is simply `d * q` with an f32 `d`.
#[test]
fn q8_k_dequantizes_as_d_times_q() {
    let mut block = 0.5f32.to_le_bytes().to_vec();
    block.extend((0..256i32).map(|i| (i - 128) as i8 as u8));
    block.extend([0xAB; 32]); // block sums, ignored
    let mut out = [0.0f32; 256];
    dequantize_into(GgmlType::Q8K, &block, &mut out).expect("decodes");
    for (i, y) in out.iter().enumerate() {
        assert_eq!(*y, (i as f32 - 128.0) * 0.5);
    }
}
