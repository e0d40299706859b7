//! `reclora-bench report`: merges the reports of reclora and its peers (several rounds
//! each) into the one table of docs/perf.md: medians per (engine, mode, weights), ratios
//! reclora / peer, prefill as a fraction of the machine's sgemm peak, and the agreement of
//! llama.cpp's P(yes) with reclora's zero-shot scores on the same prompts.

use std::collections::BTreeMap;
use std::path::Path;

use crate::compare::{ratio, score_diff};
use crate::error::BenchError;
use crate::schema::BenchReport;
use crate::stats::median;
use crate::table::{markdown, num};

/// Where the table goes in the target file.
pub const BEGIN: &str = "<!-- reclora-bench:begin -->";
/// End of the generated part.
pub const END: &str = "<!-- reclora-bench:end -->";

/// The rows of a weight group, in table order: (engine, variant, label).
const ROWS: [(&str, &str, &str); 7] = [
    ("reclora", "per-sample", "reclora per-sample"),
    ("reclora", "per-user", "reclora per-user"),
    (
        "reclora",
        "per-sample-q8act",
        "reclora per-sample, 8-bit activations",
    ),
    (
        "reclora",
        "per-user-q8act",
        "reclora per-user, 8-bit activations",
    ),
    (
        "llama.cpp",
        "prompt-by-prompt",
        "llama.cpp prompt by prompt",
    ),
    (
        "llama.cpp",
        "prefix-cache",
        "llama.cpp with the prefix cache",
    ),
    (
        "transformers+peft",
        "peft-static-lora",
        "transformers + PEFT",
    ),
];

/// The weight group of a quant name: reclora's q8 with GGUF Q8_0, q4 with Q4_0.
pub fn weight_group(quant: &str) -> String {
    match quant.to_ascii_lowercase().as_str() {
        "q8" | "q8_0" => "q8 / Q8_0".to_owned(),
        "q4" | "q4_0" => "q4 / Q4_0".to_owned(),
        other => other.to_owned(),
    }
}

/// Medians over the rounds of one (engine, variant, weights).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    /// Rounds merged.
    pub rounds: usize,
    /// Slate p50 ms.
    pub p50_ms: Option<f64>,
    /// Slate p95 ms.
    pub p95_ms: Option<f64>,
    /// ms per candidate.
    pub per_candidate_ms: Option<f64>,
    /// Prefill tokens/s.
    pub prefill_tps: Option<f64>,
    /// FLOPs per prefill token.
    pub flop_per_token: Option<f64>,
    /// Peak RSS bytes.
    pub peak_rss: Option<f64>,
    /// AUC.
    pub auc: Option<f64>,
    /// Candidates per request.
    pub candidates: usize,
    /// Threads.
    pub threads: usize,
    /// The weights' quant name as the engine calls it.
    pub quant: String,
}

fn med(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let values: Vec<f64> = values.flatten().collect();
    median(&values)
}

/// Merges reports of the same key.
pub fn merge(reports: &[&BenchReport]) -> Merged {
    let all = || reports.iter();
    Merged {
        rounds: reports.len(),
        p50_ms: med(all().map(|r| r.latency.as_ref().map(|l| l.p50_ms))),
        p95_ms: med(all().map(|r| r.latency.as_ref().map(|l| l.p95_ms))),
        per_candidate_ms: med(all().map(|r| r.latency.as_ref().map(|l| l.per_candidate_p50_ms))),
        prefill_tps: med(all().map(|r| r.prefill.as_ref().map(|p| p.tokens_per_s))),
        flop_per_token: med(all().map(|r| r.prefill.as_ref().and_then(|p| p.flop_per_token))),
        peak_rss: med(all().map(|r| r.memory.as_ref().map(|m| m.peak_rss_bytes as f64))),
        auc: med(all().map(|r| r.accuracy.as_ref().and_then(|a| a.auc))),
        candidates: reports.first().map_or(0, |r| r.config.candidates),
        threads: reports.first().map_or(0, |r| r.machine.threads),
        quant: reports
            .first()
            .map_or_else(String::new, |r| r.model.quant.clone()),
    }
}

/// Reads every report file.
pub fn read_all(paths: &[std::path::PathBuf]) -> Result<Vec<BenchReport>, BenchError> {
    if paths.is_empty() {
        return Err(BenchError::NoReports);
    }
    paths.iter().map(|p| BenchReport::read(p)).collect()
}

/// The markdown of the merged table and what goes with it.
pub fn render(reports: &[BenchReport], command: &str) -> Result<String, BenchError> {
    let peak = reports
        .iter()
        .filter_map(|r| r.peaks.as_ref())
        .filter_map(|p| p.sgemm_gflops)
        .fold(None, |best: Option<f64>, x| {
            Some(best.map_or(x, |b| b.max(x)))
        });
    let int8 = reports
        .iter()
        .filter_map(|r| r.peaks.as_ref())
        .filter_map(|p| p.int8_gops)
        .fold(None, |best: Option<f64>, x| {
            Some(best.map_or(x, |b| b.max(x)))
        });
    // (group, engine, variant) → reports.
    let mut keyed: BTreeMap<(String, String, String), Vec<&BenchReport>> = BTreeMap::new();
    for r in reports.iter().filter(|r| r.peaks.is_none()) {
        let key = (
            weight_group(&r.model.quant),
            r.engine.name.clone(),
            r.variant.clone(),
        );
        keyed.entry(key).or_default().push(r);
    }
    let merged: BTreeMap<_, Merged> = keyed.iter().map(|(k, v)| (k.clone(), merge(v))).collect();
    let groups: Vec<String> = {
        let mut groups: Vec<String> = merged
            .keys()
            .filter(|(_, engine, variant)| {
                engine == "reclora" && (variant == "per-sample" || variant == "per-user")
            })
            .map(|(g, _, _)| g.clone())
            .collect();
        groups.dedup();
        groups
    };
    if groups.is_empty() {
        return Err(BenchError::NoReclora);
    }
    // PEFT runs dense f32 weights: it sits in every group.
    let peft = merged
        .iter()
        .find(|((_, engine, _), _)| engine == "transformers+peft")
        .map(|(_, m)| m.clone());
    let flops = merged.values().find_map(|m| m.flop_per_token);
    let header = [
        "weights",
        "engine, mode",
        "slate p50 ms",
        "slate p95 ms",
        "ms / candidate",
        "reclora / peer, per candidate",
        "prefill tokens/s (256)",
        "reclora / peer, prefill",
        "prefill % of sgemm peak",
        "peak RSS MB",
        "reclora / peer, RSS",
        "AUC",
    ];
    let mut rows = Vec::new();
    for group in &groups {
        let get = |engine: &str, variant: &str| {
            if engine == "transformers+peft" {
                return peft.clone();
            }
            merged
                .get(&(group.clone(), engine.to_owned(), variant.to_owned()))
                .cloned()
        };
        let ours_sample = get("reclora", "per-sample");
        let ours_user = get("reclora", "per-user");
        for (engine, variant, label) in ROWS {
            let Some(m) = get(engine, variant) else {
                continue;
            };
            let ours = if variant == "prefix-cache" {
                &ours_user
            } else {
                &ours_sample
            };
            let peer = engine != "reclora";
            let vs = |f: fn(&Merged) -> Option<f64>| {
                if peer {
                    num(ratio(ours.as_ref().and_then(f), f(&m)), 2)
                } else {
                    String::new()
                }
            };
            let percent = match (m.prefill_tps, m.flop_per_token.or(flops), peak) {
                (Some(tps), Some(f), Some(p)) => Some(100.0 * tps * f / (p * 1e9)),
                _ => None,
            };
            rows.push(vec![
                format!("{group} ({})", m.quant),
                format!("{label} [{}×]", m.rounds),
                num(m.p50_ms, 0),
                num(m.p95_ms, 0),
                num(m.per_candidate_ms, 1),
                vs(|m| m.per_candidate_ms),
                num(m.prefill_tps, 0),
                vs(|m| m.prefill_tps),
                num(percent, 1),
                num(m.peak_rss.map(|b| b / 1e6), 0),
                vs(|m| m.peak_rss),
                num(m.auc, 4),
            ]);
        }
    }
    let mut out = String::new();
    out.push_str(&markdown(&header, &rows));
    out.push_str("\n\n");
    out.push_str(&context(reports, peak, int8, command));
    Ok(out)
}

/// The machine, the peaks, the load, the agreement figures and the command.
fn context(reports: &[BenchReport], peak: Option<f64>, int8: Option<f64>, command: &str) -> String {
    let mut lines = Vec::new();
    if let Some(r) = reports.iter().find(|r| r.engine.name == "reclora") {
        let m = &r.machine;
        lines.push(format!(
            "- Machine: {}, {} logical CPUs ({}, {}), ISA: {}; every row on {} threads, {} candidates per request.",
            m.cpu_model, m.logical_cpus, m.os, m.arch, m.isa.join(" "), m.threads, r.config.candidates
        ));
    }
    let loads: Vec<f64> = reports
        .iter()
        .filter_map(|r| r.machine.load_avg_1m)
        .collect();
    if let (Some(lo), Some(hi)) = (
        loads.iter().copied().reduce(f64::min),
        loads.iter().copied().reduce(f64::max),
    ) {
        lines.push(format!(
            "- Load average (1 min) at the start of each run: {lo:.2}–{hi:.2}."
        ));
    }
    lines.push(format!(
        "- Measured peaks: f32 sgemm {} GFLOP/s, int8 GEMM {} GOP/s.",
        num(peak, 1),
        num(int8, 1)
    ));
    let versions: std::collections::BTreeSet<String> =
        reports.iter().map(|r| r.engine.version.clone()).collect();
    lines.push(format!(
        "- Engines: {}.",
        versions.into_iter().collect::<Vec<_>>().join(", ")
    ));
    for a in agreements(reports) {
        let verdict = if a.within_tolerance() {
            "within"
        } else {
            "above"
        };
        lines.push(format!(
            "- P(yes) agreement, {} vs {} on the same prompts and weights, no LoRA, {} prompts × \
             {} rounds: max |ΔP| {:.4}, mean {:.4}, {verdict} {AGREEMENT_TOLERANCE}.",
            a.peer, a.reference, a.prompts, a.rounds, a.max, a.mean
        ));
    }
    lines.push(format!("- Produced by `{command}`."));
    lines.join("\n") + "\n"
}

/// The largest |ΔP| between llama.cpp and reclora's zero-shot scores of the same prompts
/// and weights at which both count as computing the same thing.
pub const AGREEMENT_TOLERANCE: f64 = 0.02;

/// One llama.cpp variant against reclora's zero-shot scores, over all its rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// `llama.cpp prompt-by-prompt (Q8_0)`.
    pub peer: String,
    /// `reclora zero-shot-per-sample (Q8_0)`.
    pub reference: String,
    /// Rounds compared.
    pub rounds: usize,
    /// Prompts compared per round.
    pub prompts: usize,
    /// Largest |ΔP| over every round's prompts.
    pub max: f64,
    /// Mean |ΔP| over every round's prompts.
    pub mean: f64,
}

impl Agreement {
    /// Whether every prompt is within [`AGREEMENT_TOLERANCE`].
    pub fn within_tolerance(&self) -> bool {
        self.max <= AGREEMENT_TOLERANCE
    }
}

/// Each llama.cpp variant and weights against reclora's zero-shot scores of the same
/// prompts file, mode and model file (rounds merged: the largest max, the mean of means).
pub fn agreements(reports: &[BenchReport]) -> Vec<Agreement> {
    let mut out: Vec<Agreement> = Vec::new();
    for peer in reports.iter().filter(|r| r.engine.name == "llama.cpp") {
        let mode = match peer.variant.as_str() {
            "prompt-by-prompt" => "zero-shot-per-sample",
            "prefix-cache" => "zero-shot-per-user",
            _ => continue,
        };
        let reference = reports.iter().find(|r| {
            r.engine.name == "reclora"
                && r.variant == mode
                && r.model.path == peer.model.path
                && r.config.prompts == peer.config.prompts
        });
        let (Some(reference), Some(a)) = (reference, &peer.scores) else {
            continue;
        };
        let Some((max, mean)) = reference.scores.as_deref().and_then(|b| score_diff(a, b)) else {
            continue;
        };
        let name = |r: &BenchReport| format!("{} {} ({})", r.engine.name, r.variant, r.model.quant);
        let (peer_name, reference_name) = (name(peer), name(reference));
        match out
            .iter_mut()
            .find(|g| g.peer == peer_name && g.reference == reference_name)
        {
            Some(g) => {
                g.mean = (g.mean * g.rounds as f64 + mean) / (g.rounds + 1) as f64;
                g.max = g.max.max(max);
                g.rounds += 1;
            }
            None => out.push(Agreement {
                peer: peer_name,
                reference: reference_name,
                rounds: 1,
                prompts: a.len(),
                max,
                mean,
            }),
        }
    }
    out
}

/// Replaces the part of `text` between [`BEGIN`] and [`END`] with `table`; appends a new
/// section when the markers are absent.
pub fn splice(text: &str, table: &str) -> String {
    let block = format!("{BEGIN}\n{table}{END}");
    match (text.find(BEGIN), text.find(END)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{block}{}", &text[..start], &text[end + END.len()..])
        }
        _ => format!(
            "{}\n\n## On-device scoring against llama.cpp and PyTorch (reclora-bench)\n\n{block}\n",
            text.trim_end()
        ),
    }
}

/// Writes `table` into `path` between the markers.
pub fn write_into(path: &Path, table: &str) -> Result<(), BenchError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(BenchError::io(path, e)),
    };
    std::fs::write(path, splice(&text, table)).map_err(|e| BenchError::io(path, e))
}

#[cfg(test)]
mod tests;
