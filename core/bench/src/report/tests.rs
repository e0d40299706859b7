//! The merged table on synthetic reports.

use super::*;
use crate::schema::tests::full_report;

fn report(
    engine: &str,
    variant: &str,
    quant: &str,
    per_candidate: f64,
    prefill: f64,
) -> BenchReport {
    let mut r = full_report();
    r.engine.name = engine.into();
    r.variant = variant.into();
    r.model.quant = quant.into();
    r.model.path = format!("{engine}-{quant}");
    if let Some(l) = r.latency.as_mut() {
        l.per_candidate_p50_ms = per_candidate;
        l.p50_ms = per_candidate * 50.0;
    }
    if let Some(p) = r.prefill.as_mut() {
        p.tokens_per_s = prefill;
        p.flop_per_token = Some(2e8);
    }
    r.peaks = None;
    r
}

#[test]
fn groups_medians_ratios_and_peak_fraction() {
    let mut peak = full_report();
    peak.engine.name = "machine".into();
    peak.variant = "peak".into();
    if let Some(p) = peak.peaks.as_mut() {
        p.sgemm_gflops = Some(200.0);
    }
    let reports = vec![
        report("reclora", "per-sample", "q8", 30.0, 400.0),
        report("reclora", "per-sample", "q8", 10.0, 600.0),
        report("reclora", "per-sample", "q8", 20.0, 500.0),
        report("reclora", "per-user", "q8", 5.0, 500.0),
        report("llama.cpp", "prompt-by-prompt", "Q8_0", 40.0, 1000.0),
        report("llama.cpp", "prefix-cache", "Q8_0", 10.0, 1000.0),
        report("transformers+peft", "peft-static-lora", "f32", 80.0, 250.0),
        peak,
    ];
    let text = render(&reports, "scripts/bench/peers/run-all.sh").expect("renders");
    let row = |label: &str| {
        text.lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no row {label} in\n{text}"))
            .split('|')
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    // Medians of the three rounds: 20 ms, 500 tokens/s; 500 × 2e8 / 200e9 = 50 %.
    let ours = row("reclora per-sample [3×]");
    assert_eq!(&ours[1..=2], ["q8 / Q8_0 (q8)", "reclora per-sample [3×]"]);
    assert_eq!(ours[5], "20.0");
    assert_eq!(ours[7], "500");
    assert_eq!(ours[9], "50.0");
    // Per candidate 20 / 40; prefill 500 / 1000.
    let llama = row("llama.cpp prompt by prompt");
    assert_eq!((llama[6], llama[8]), ("0.50", "0.50"));
    // The prefix cache is compared with per-user: 5 / 10.
    assert_eq!(row("llama.cpp with the prefix cache")[6], "0.50");
    assert_eq!(row("transformers + PEFT")[6], "0.25");
    assert!(text.contains("sgemm 200.0 GFLOP/s"), "{text}");
    assert!(text.contains("`scripts/bench/peers/run-all.sh`"), "{text}");
}

#[test]
fn agreement_pairs_llama_with_zero_shot_on_the_same_prompts() {
    let mut llama = report("llama.cpp", "prompt-by-prompt", "Q8_0", 1.0, 1.0);
    let mut zero = report("reclora", "zero-shot-per-sample", "Q8_0", 1.0, 1.0);
    zero.model.path = llama.model.path.clone();
    llama.scores = Some(vec![0.5, 0.6]);
    zero.scores = Some(vec![0.51, 0.6]);
    let found = agreements(&[llama.clone(), zero.clone()]);
    assert_eq!(found.len(), 1);
    assert!((found[0].max - 0.01).abs() < 1e-6, "{found:?}");
    assert!((found[0].mean - 0.005).abs() < 1e-6, "{found:?}");
    assert!(found[0].within_tolerance());
    // A second round, 0.03 off on one prompt: the largest max, the mean of the means.
    let mut again = llama.clone();
    again.scores = Some(vec![0.54, 0.6]);
    let found = agreements(&[llama.clone(), zero.clone(), again]);
    assert_eq!((found.len(), found[0].rounds, found[0].prompts), (1, 2, 2));
    assert!((found[0].max - 0.03).abs() < 1e-6, "{found:?}");
    assert!((found[0].mean - 0.01).abs() < 1e-6, "{found:?}");
    assert!(!found[0].within_tolerance());
    // Zero-shot and check reports (here of F32 weights) only feed the agreement lines:
    // no table group of their own.
    let ours = report("reclora", "per-sample", "q8", 1.0, 1.0);
    let (mut llama_f32, mut zero_f32) = (llama.clone(), zero.clone());
    llama_f32.model.quant = "F32".into();
    zero_f32.model.quant = "F32".into();
    let text = render(&[ours, llama_f32, zero_f32], "x").expect("renders");
    assert!(
        text.contains("max |ΔP| 0.0100, mean 0.0050, within 0.02"),
        "{text}"
    );
    assert!(!text.contains("| f32"), "{text}");
    assert!(matches!(
        render(&[llama.clone(), zero.clone()], "x"),
        Err(BenchError::NoReclora)
    ));
    zero.config.prompts = Some("other.json".into());
    assert!(agreements(&[llama, zero]).is_empty());
}

#[test]
fn splice_replaces_between_markers_or_appends() {
    let text = format!("# Perf\n\nbefore\n{BEGIN}\nold\n{END}\nafter\n");
    assert_eq!(
        splice(&text, "new\n"),
        format!("# Perf\n\nbefore\n{BEGIN}\nnew\n{END}\nafter\n")
    );
    let appended = splice("# Perf\n", "t\n");
    assert!(
        appended.starts_with("# Perf\n\n## On-device scoring"),
        "{appended}"
    );
    assert!(
        appended.ends_with(&format!("{BEGIN}\nt\n{END}\n")),
        "{appended}"
    );
}

#[test]
fn no_reclora_run_is_an_error() {
    let only_peer = vec![report("llama.cpp", "prompt-by-prompt", "Q8_0", 1.0, 1.0)];
    assert!(matches!(
        render(&only_peer, "x"),
        Err(BenchError::NoReclora)
    ));
    assert!(matches!(read_all(&[]), Err(BenchError::NoReports)));
}
