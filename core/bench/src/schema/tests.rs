//! The report's fields against their documentation in docs/bench.md.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

const DOC: &str = include_str!("../../../../docs/bench.md");

/// A report with every optional field set, so that every field shows up in its JSON.
pub(crate) fn full_report() -> BenchReport {
    BenchReport {
        schema: SCHEMA.to_owned(),
        engine: Engine {
            name: "reclora".into(),
            version: "reclora-bench 0.1.0".into(),
        },
        variant: "per-sample".into(),
        model: ModelInfo {
            name: "SmolLM2-135M-Instruct".into(),
            quant: "q8".into(),
            path: "bundles/q8".into(),
            bytes: 150_000_000,
        },
        machine: MachineInfo {
            cpu_model: "cpu".into(),
            isa: vec!["avx2".into()],
            logical_cpus: 2,
            threads: 2,
            backend: "cpu".into(),
            adapter: Some("llvmpipe".into()),
            fallback: Some("no adapter".into()),
            os: "linux".into(),
            arch: "x86_64".into(),
            load_avg_1m: Some(1.5),
        },
        config: RunConfig {
            candidates: 50,
            history: Some(30),
            requests: 10,
            warmup: 1,
            seed: 7,
            batch_size: Some(8),
            replay: Some("replay.json".into()),
            prompts: Some("prompts.json".into()),
        },
        open: Some(OpenTimes {
            cold_s: 0.5,
            cold_state: "cold".into(),
            cold_resident_fraction: Some(0.01),
            warm_s: 0.2,
        }),
        first_score_s: Some(2.0),
        latency: Some(Latency {
            requests: 10,
            p50_ms: 100.0,
            p95_ms: 120.0,
            p99_ms: 130.0,
            mean_ms: 105.0,
            per_candidate_p50_ms: 2.0,
        }),
        throughput: Some(Throughput {
            candidates_per_s: 500.0,
            prompt_tokens_per_s: 1000.0,
            tokens_per_request: 14_000.0,
        }),
        prefill: Some(Prefill {
            tokens: 256,
            repeats: 3,
            median_s: 0.3,
            tokens_per_s: 853.3,
            flop_per_token: Some(2.2e8),
        }),
        memory: Some(Memory {
            peak_rss_bytes: 300,
            rss_anon_bytes: Some(100),
            rss_file_bytes: Some(200),
            mapped_bytes: Some(250),
            mapped_resident_bytes: Some(190),
        }),
        accuracy: Some(Accuracy {
            auc: Some(0.7),
            labelled: 40,
            positives: 20,
            request_auc: Some(0.65),
        }),
        peaks: Some(Peaks {
            sgemm_gflops: Some(100.0),
            int8_gops: Some(400.0),
            shapes: vec!["256x576x1536".into()],
        }),
        scores: Some(vec![0.5]),
        notes: vec!["note".into()],
    }
}

fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                paths(child, &path, out);
            }
        }
        Value::Array(items) => {
            if let Some(first) = items.first() {
                paths(first, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The field paths of the schema table in docs/bench.md (first column, in backticks).
fn documented() -> BTreeSet<String> {
    let start = DOC
        .find("<!-- schema:begin -->")
        .expect("schema:begin marker");
    let end = DOC.find("<!-- schema:end -->").expect("schema:end marker");
    DOC[start..end]
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_field_is_documented_and_every_documented_field_exists() {
    let value = serde_json::to_value(full_report()).expect("serializes");
    let mut emitted = BTreeSet::new();
    paths(&value, "", &mut emitted);
    let documented = documented();
    let undocumented: Vec<_> = emitted.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&emitted).collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/bench.md: {undocumented:?}"
    );
    assert!(stale.is_empty(), "documented but not emitted: {stale:?}");
    assert!(
        DOC.contains(SCHEMA),
        "docs/bench.md names the schema version"
    );
}

#[test]
fn reports_round_trip_and_unknown_fields_or_versions_are_refused() {
    let dir = reclora_test_support::TempDir::new("bench-schema");
    let path = dir.join("r.json");
    let report = full_report();
    report.write(&path).expect("write");
    assert_eq!(BenchReport::read(&path).expect("read"), report);

    let mut value = serde_json::to_value(&report).expect("value");
    value["latency"]["p42_ms"] = Value::from(1.0);
    std::fs::write(&path, value.to_string()).expect("write");
    let error = BenchReport::read(&path).expect_err("unknown field");
    assert!(error.to_string().contains("p42_ms"), "{error}");

    value = serde_json::to_value(&report).expect("value");
    value["schema"] = Value::from("reclora-bench/0");
    std::fs::write(&path, value.to_string()).expect("write");
    let error = BenchReport::read(&path).expect_err("old version");
    assert!(matches!(error, BenchError::Version { .. }), "{error}");
}
