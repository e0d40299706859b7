//! Reads the real SmolLM2-135M-Instruct Q4_1 GGUF (llama.cpp's own output) and checks header
//! facts and decoded weights against the Python `gguf` package.
//!
//! The expected numbers were produced with gguf 0.19.0:
//! ```python
//! r = gguf.GGUFReader(path); t = {x.name: x for x in r.tensors}
//! v = gguf.quants.dequantize(t[name].data, t[name].tensor_type).reshape(-1)
//! np.format_float_positional(v[i], unique=True)  # shortest f32 repr, for each index below
//! float(v.astype(np.float64).sum())              # the checksum
//! ```

use reclora_test_support::assets_dir;

use crate::gguf::{GgmlType, GgufFile};

const MODEL: &str = "smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf";

fn open_model() -> GgufFile {
    let path = assets_dir().join(MODEL);
    assert!(
        path.is_file(),
        "missing {}: run scripts/fetch-assets.sh (or set RECLORA_ASSETS)",
        path.display()
    );
    GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_values(name: &str, data: &[f32], expected: &[(usize, f32)], checksum: f64) {
    for &(index, value) in expected {
        let got = data[index];
        // The literals are shortest round-trip f32 reprs, so equal decodes compare exactly.
        assert!(
            got == value,
            "{name}[{index}] = {got}, python gguf says {value}"
        );
    }
    let sum: f64 = data.iter().map(|&v| f64::from(v)).sum();
    assert!(
        (sum - checksum).abs() <= 1e-6 * checksum.abs().max(1.0),
        "{name} sum {sum}, python gguf says {checksum}"
    );
}

#[test]
fn smollm2_header() {
    let model = open_model();
    assert_eq!(model.version(), 3);
    assert_eq!(model.alignment(), 32);
    assert_eq!(model.data_start(), 1_785_664);
    assert_eq!(model.architecture().expect("arch"), "llama");
    assert_eq!(model.get_u32("llama.block_count").expect("layers"), 30);
    assert_eq!(
        model.get_u32("llama.embedding_length").expect("hidden"),
        576
    );
    assert_eq!(
        model.get_u32("llama.attention.head_count").expect("heads"),
        9
    );
    assert_eq!(
        model.get_u32("llama.attention.head_count_kv").expect("kv"),
        3
    );
    assert_eq!(
        model.get_f32("llama.rope.freq_base").expect("rope"),
        100_000.0
    );
    assert_eq!(model.metadata().len(), 33);

    let tokens = model
        .get_string_array("tokenizer.ggml.tokens")
        .expect("tokens");
    assert_eq!(tokens.len(), 49_152);
    assert_eq!(
        &tokens[..3],
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    );
    let token_types = model
        .get_i32_array("tokenizer.ggml.token_type")
        .expect("types");
    assert_eq!(token_types.len(), 49_152);
    assert_eq!(
        token_types.iter().map(|&t| i64::from(t)).sum::<i64>(),
        49_186
    );
    let merges = model
        .get_string_array("tokenizer.ggml.merges")
        .expect("merges");
    assert_eq!(merges.len(), 48_900);
    assert_eq!(merges[0], "Ġ t");

    // 272 tensors: Q4_1 projections, Q8_0 embeddings, F32 norms; no output.weight (tied).
    assert_eq!(model.tensors().len(), 272);
    let count = |ty| model.tensors().iter().filter(|t| t.ggml_type == ty).count();
    assert_eq!(count(GgmlType::Q4_1), 210);
    assert_eq!(count(GgmlType::F32), 61);
    assert_eq!(count(GgmlType::Q8_0), 1);
    assert!(model.tensor("output.weight").is_none());
}

#[test]
fn smollm2_attn_q_matches_python() {
    let model = open_model();
    let info = model.tensor("blk.0.attn_q.weight").expect("attn_q");
    assert_eq!(info.ggml_type, GgmlType::Q4_1);
    assert_eq!(info.dims, [576, 576]);
    let tensor = model.dequantize("blk.0.attn_q.weight").expect("decodes");
    assert_eq!(tensor.shape, [576, 576]);
    let expected = [
        (0, -0.096_313_48),
        (1, 0.157_348_63),
        (2, -0.096_313_48),
        (3, -0.730_468_75),
        (4, 1.171_997_1),
        (5, -0.096_313_48),
        (6, 0.030_517_578),
        (7, 0.664_672_85),
        (576 * 100 + 7, -0.098_876_95),
        (576 * 576 - 1, -0.255_859_38),
    ];
    assert_values("attn_q", &tensor.data, &expected, 59.223_220_825_195_31);
}

#[test]
fn smollm2_token_embd_matches_python() {
    let model = open_model();
    let info = model.tensor("token_embd.weight").expect("embeddings");
    assert_eq!(info.ggml_type, GgmlType::Q8_0);
    assert_eq!(info.dims, [576, 49_152]);
    let tensor = model.dequantize("token_embd.weight").expect("decodes");
    assert_eq!(tensor.shape, [49_152, 576]);
    let expected = [
        (0, -0.106_544_495),
        (1, 0.032_978_058),
        (2, 0.048_198_7),
        (3, -0.022_830_963),
        (4, -0.068_492_89),
        (5, -0.045_661_926),
        (6, 0.020_294_19),
        (7, -0.121_765_14),
        (1234 * 576 + 100, -0.503_845_2),
        (49_152 * 576 - 1, -0.041_702_27),
    ];
    assert_values(
        "token_embd",
        &tensor.data,
        &expected,
        -15_353.044_494_152_07,
    );
}

#[test]
fn smollm2_output_norm_matches_python() {
    let model = open_model();
    let tensor = model.dequantize("output_norm.weight").expect("decodes");
    assert_eq!(tensor.shape, [576]);
    let expected = [
        (0, 1.757_812_5),
        (1, 1.820_312_5),
        (2, 1.781_25),
        (3, 1.601_562_5),
        (7, 1.75),
        (575, 1.984_375),
    ];
    assert_values("output_norm", &tensor.data, &expected, 1_038.332_031_25);
}

#[test]
fn smollm2_every_tensor_decodes() {
    let model = open_model();
    for info in model.tensors() {
        let tensor = model.dequantize_info(info).expect("decodes");
        assert_eq!(
            tensor.data.len() as u64,
            info.element_count(),
            "{}",
            info.name
        );
        assert!(tensor.data.iter().all(|v| v.is_finite()), "{}", info.name);
    }
}
