//! Shared helpers for the end-to-end tests in `tests/tests/`.

use std::path::PathBuf;

pub use reclora_test_support::assets_dir;

/// The committed fixtures folder.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        )
        .join("fixtures")
}

/// The real SmolLM2-135M-Instruct GGUF. Panics with the fix when it is missing, so a
/// machine without assets fails loudly instead of skipping.
pub fn smollm2_gguf() -> PathBuf {
    let path = assets_dir().join("smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-assets.sh first",
        path.display()
    );
    path
}

/// Reads a committed JSON fixture.
pub fn read_fixture(name: &str) -> serde_json::Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", path.display()))
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A JSON array of numbers as f32.
pub fn f32_array(value: &serde_json::Value) -> Vec<f32> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect()
}

/// A JSON array of integers as u32 token ids.
pub fn u32_array(value: &serde_json::Value) -> Vec<u32> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| u32::try_from(v.as_u64().expect("integer")).expect("u32"))
        .collect()
}
