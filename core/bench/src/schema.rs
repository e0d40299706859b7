//! The JSON report of one benchmark run, `reclora-bench/1`: what `--json` writes, what
//! the peer scripts (llama.cpp, PyTorch + PEFT, the machine's peaks) write too, and what
//! `--compare` and `report` read. Every field is documented in `docs/bench.md`, and a test
//! checks that the two name the same fields.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::BenchError;

/// The `schema` of this version. A new field that old readers can skip keeps it; a
/// renamed, removed or re-typed one bumps it.
pub const SCHEMA: &str = "reclora-bench/1";

/// One run of one engine in one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// What ran.
    pub engine: Engine,
    /// How it ran: `per-sample`, `per-user` (reclora), `prompt-by-prompt`, `prefix-cache`
    /// (llama.cpp), `peft-static-lora` (transformers + PEFT), `zero-shot`, `peak`.
    pub variant: String,
    /// The weights.
    pub model: ModelInfo,
    /// The machine and backend.
    pub machine: MachineInfo,
    /// The run's options.
    pub config: RunConfig,
    /// Opening the bundle (or loading the model).
    pub open: Option<OpenTimes>,
    /// From the start of a warm open to the first request's scores.
    pub first_score_s: Option<f64>,
    /// Per-request latency of ranking the slate.
    pub latency: Option<Latency>,
    /// Throughput over the timed requests.
    pub throughput: Option<Throughput>,
    /// One plain prefill, as llama-bench's `pp` reports it.
    pub prefill: Option<Prefill>,
    /// Memory.
    pub memory: Option<Memory>,
    /// Accuracy on the timed requests' labelled candidates.
    pub accuracy: Option<Accuracy>,
    /// The machine's measured limits (variant `peak`).
    pub peaks: Option<Peaks>,
    /// P(yes) of every candidate of the timed requests, request by request, for
    /// agreement checks between engines on the same prompts.
    pub scores: Option<Vec<f32>>,
    /// Anything a reader should know (fallbacks, what a figure includes).
    pub notes: Vec<String>,
}

/// The engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    /// `reclora`, `llama.cpp`, `transformers+peft` or `machine`.
    pub name: String,
    /// Its version (`reclora-bench 0.1.0`, `llama-cpp-python 0.3.36`, …).
    pub version: String,
}

/// The weights a run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// The model (`SmolLM2-135M-Instruct`).
    pub name: String,
    /// Weight format: `q8`, `q4`, `f16`, `f32` (bundles), `Q8_0`, `Q4_0`, `Q4_1`, `F32` (GGUF).
    pub quant: String,
    /// The bundle folder or model file.
    pub path: String,
    /// Its size on disk.
    pub bytes: u64,
}

/// Where it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineInfo {
    /// The CPU's model name.
    pub cpu_model: String,
    /// The CPU's SIMD / dot-product features that matter here.
    pub isa: Vec<String>,
    /// Logical CPUs.
    pub logical_cpus: usize,
    /// Threads the run used.
    pub threads: usize,
    /// `cpu` or `wgpu` (what actually ran).
    pub backend: String,
    /// The wgpu adapter, when the backend is wgpu.
    pub adapter: Option<String>,
    /// Why the GPU was asked for and not used.
    pub fallback: Option<String>,
    /// `linux`, `android`, …
    pub os: String,
    /// `x86_64`, `aarch64`, …
    pub arch: String,
    /// 1-minute load average at the start (other work on the machine).
    pub load_avg_1m: Option<f64>,
}

/// The run's options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Candidates per request.
    pub candidates: usize,
    /// Interactions kept per user (`None`: all).
    pub history: Option<usize>,
    /// Timed requests.
    pub requests: usize,
    /// Untimed requests before them.
    pub warmup: usize,
    /// Request order seed.
    pub seed: u64,
    /// Prompts per LLM forward.
    pub batch_size: Option<usize>,
    /// The replay file.
    pub replay: Option<String>,
    /// The prompts file a peer scored.
    pub prompts: Option<String>,
}

/// Open (or load) times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenTimes {
    /// The first open, after asking the kernel to drop the files' cached pages.
    pub cold_s: f64,
    /// `cold` when at most 5 % of the files' pages were still cached before it,
    /// otherwise `warm` (the page cache could not be dropped).
    pub cold_state: String,
    /// Fraction of the files' pages cached just before the cold open.
    pub cold_resident_fraction: Option<f64>,
    /// A second open, pages cached.
    pub warm_s: f64,
}

/// Per-request latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// Timed requests.
    pub requests: usize,
    /// Median ms per request (a slate of `config.candidates`).
    pub p50_ms: f64,
    /// 95th percentile (nearest rank).
    pub p95_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// `p50_ms / config.candidates`.
    pub per_candidate_p50_ms: f64,
}

/// Throughput over the timed requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throughput {
    /// Candidates scored per second.
    pub candidates_per_s: f64,
    /// Prompt tokens run through the LLM per second (a cached prefix counts once).
    pub prompt_tokens_per_s: f64,
    /// Mean tokens run per request.
    pub tokens_per_request: f64,
}

/// One plain prefill of `tokens` token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prefill {
    /// Prompt length.
    pub tokens: usize,
    /// Timed repetitions (after one warm-up).
    pub repeats: usize,
    /// Median seconds of one prefill.
    pub median_s: f64,
    /// `tokens / median_s`.
    pub tokens_per_s: f64,
    /// FLOPs one token of this prefill costs (projections, MLP, causal attention), from
    /// the model's config; `tokens_per_s × flop_per_token` is the achieved FLOP/s.
    pub flop_per_token: Option<f64>,
}

/// Memory of the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Peak resident set over the whole run (VmHWM / ru_maxrss).
    pub peak_rss_bytes: u64,
    /// Anonymous resident memory after the timed requests.
    pub rss_anon_bytes: Option<u64>,
    /// File-backed resident memory after the timed requests.
    pub rss_file_bytes: Option<u64>,
    /// Bytes of the model's files mapped into the process.
    pub mapped_bytes: Option<u64>,
    /// Of those, bytes resident.
    pub mapped_resident_bytes: Option<u64>,
}

/// Accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accuracy {
    /// ROC AUC over the labelled candidates (`None` without both classes).
    pub auc: Option<f64>,
    /// Labelled candidates.
    pub labelled: usize,
    /// Of those, positives.
    pub positives: usize,
    /// The mean over requests of each request's AUC of its own slate (its ranking, what an
    /// app shows; requests with both classes only). Absent from peers' files.
    #[serde(default)]
    pub request_auc: Option<f64>,
}

/// The machine's measured limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peaks {
    /// f32 GEMM GFLOP/s (numpy / OpenBLAS), best of the measured shapes.
    pub sgemm_gflops: Option<f64>,
    /// int8 GEMM GOP/s (torch `_int_mm`), best of the measured shapes.
    pub int8_gops: Option<f64>,
    /// The GEMM shapes measured (`MxKxN`).
    pub shapes: Vec<String>,
}

impl BenchReport {
    /// Reads a report and checks its schema version.
    pub fn read(path: &Path) -> Result<Self, BenchError> {
        let text = std::fs::read_to_string(path).map_err(|e| BenchError::io(path, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| BenchError::Json {
                path: path.to_path_buf(),
                what: "benchmark report",
                source,
            })?;
        let found = value.get("schema").and_then(|s| s.as_str()).unwrap_or("");
        if found != SCHEMA {
            return Err(BenchError::Version {
                path: path.to_path_buf(),
                found: found.to_owned(),
                expected: SCHEMA,
            });
        }
        serde_json::from_value(value).map_err(|source| BenchError::Json {
            path: path.to_path_buf(),
            what: "benchmark report",
            source,
        })
    }

    /// Writes it as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<(), BenchError> {
        let text = serde_json::to_string_pretty(self).map_err(|source| BenchError::Json {
            path: path.to_path_buf(),
            what: "benchmark report",
            source,
        })?;
        std::fs::write(path, text + "\n").map_err(|e| BenchError::io(path, e))
    }

    /// A short label: `engine variant (quant)`.
    pub fn label(&self) -> String {
        format!(
            "{} {} ({})",
            self.engine.name, self.variant, self.model.quant
        )
    }
}

#[cfg(test)]
pub(crate) mod tests;
