//! Human tables: one run's figures, and rows of figures as markdown.

use comfy_table::Table;
use comfy_table::presets::ASCII_MARKDOWN;

use crate::schema::BenchReport;

/// A markdown table (pipes, a header rule) of `rows` under `header`.
pub fn markdown(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = Table::new();
    table.load_preset(ASCII_MARKDOWN);
    table.set_header(header.iter().copied());
    for row in rows {
        table.add_row(row.clone());
    }
    table.to_string()
}

/// `x` with `digits` decimals, `–` for `None`.
pub fn num(x: Option<f64>, digits: usize) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// Bytes as MB (10^6), `–` for `None`.
pub fn mb(bytes: Option<u64>) -> String {
    num(bytes.map(|b| b as f64 / 1e6), 1)
}

/// One run's figures, for stdout.
pub fn summary(report: &BenchReport) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |name: &str, value: String| rows.push(vec![name.to_owned(), value]);
    let m = &report.machine;
    row("run", report.label());
    row(
        "model",
        format!(
            "{} ({}, {} MB)",
            report.model.name,
            report.model.path,
            mb(Some(report.model.bytes))
        ),
    );
    row("machine", format!("{} [{}]", m.cpu_model, m.isa.join(" ")));
    let adapter = m
        .adapter
        .as_deref()
        .map(|a| format!(", adapter {a}"))
        .unwrap_or_default();
    let fallback = m
        .fallback
        .as_deref()
        .map(|f| format!(" (fallback: {f})"))
        .unwrap_or_default();
    row(
        "backend",
        format!(
            "{}, {} threads{adapter}{fallback}, load {}",
            m.backend,
            m.threads,
            num(m.load_avg_1m, 2)
        ),
    );
    let c = &report.config;
    row(
        "requests",
        format!(
            "{} timed after {} warm-up, {} candidates each",
            c.requests, c.warmup, c.candidates
        ),
    );
    if let Some(open) = &report.open {
        row(
            "open",
            format!(
                "{} s {} (cached before: {}), {} s warm",
                num(Some(open.cold_s), 3),
                open.cold_state,
                num(open.cold_resident_fraction, 3),
                num(Some(open.warm_s), 3)
            ),
        );
    }
    row(
        "time to first score",
        format!("{} s", num(report.first_score_s, 3)),
    );
    if let Some(l) = &report.latency {
        row(
            "latency / request",
            format!(
                "p50 {} ms, p95 {} ms, p99 {} ms, mean {} ms",
                num(Some(l.p50_ms), 1),
                num(Some(l.p95_ms), 1),
                num(Some(l.p99_ms), 1),
                num(Some(l.mean_ms), 1)
            ),
        );
        row(
            "per candidate (p50)",
            format!("{} ms", num(Some(l.per_candidate_p50_ms), 2)),
        );
    }
    if let Some(t) = &report.throughput {
        row(
            "throughput",
            format!(
                "{} candidates/s, {} prompt tokens/s ({} tokens/request)",
                num(Some(t.candidates_per_s), 2),
                num(Some(t.prompt_tokens_per_s), 1),
                num(Some(t.tokens_per_request), 0)
            ),
        );
    }
    if let Some(p) = &report.prefill {
        let gflops = p.flop_per_token.map(|f| f * p.tokens_per_s / 1e9);
        row(
            "prefill",
            format!(
                "{} tokens: {} tokens/s ({} GFLOP/s)",
                p.tokens,
                num(Some(p.tokens_per_s), 1),
                num(gflops, 1)
            ),
        );
    }
    if let Some(mem) = &report.memory {
        row(
            "memory",
            format!(
                "peak RSS {} MB; now {} MB anon + {} MB file; {} MB of the bundle mapped, {} MB resident",
                mb(Some(mem.peak_rss_bytes)),
                mb(mem.rss_anon_bytes),
                mb(mem.rss_file_bytes),
                mb(mem.mapped_bytes),
                mb(mem.mapped_resident_bytes)
            ),
        );
    }
    if let Some(a) = &report.accuracy {
        row(
            "AUC",
            format!(
                "{} over {} labelled candidates ({} positive)",
                num(a.auc, 4),
                a.labelled,
                a.positives
            ),
        );
    }
    for note in &report.notes {
        row("note", note.clone());
    }
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    for r in rows {
        table.add_row(r);
    }
    table.to_string()
}
