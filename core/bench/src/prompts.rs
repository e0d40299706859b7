//! The prompts file (`reclora-prompts/1`): the exact token ids reclora runs for the
//! requests of a run, in both gate modes, so that peers score the very same prompts; and
//! reclora's zero-shot (no LoRA) scores of them, the reference the llama.cpp peer is
//! checked against.

use std::path::{Path, PathBuf};
use std::time::Instant;

use reclora_core::LanguageModel;
use reclora_core::bundle::{Bundle, BundleOptions};
use reclora_core::llm::LlamaModel;
use reclora_core::runtime::{
    Backend, GateMode, PromptIds, Recommender, ResolvedBackend, RuntimeError,
};
use serde::{Deserialize, Serialize};

use crate::error::BenchError;
use crate::run::{self, RunPlan};
use crate::schema::{
    BenchReport, Engine, Latency, MachineInfo, ModelInfo, Prefill, RunConfig, SCHEMA,
};
use crate::{machine, stats};

/// The `format` of this version of the prompts file.
pub const PROMPTS_FORMAT: &str = "reclora-prompts/1";

/// The prompts of a run's requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptsFile {
    /// Always [`PROMPTS_FORMAT`].
    pub format: String,
    /// The bundle the prompts were rendered from.
    pub bundle: String,
    /// The replay they came from.
    pub replay: String,
    /// Token ids of "Yes" and "No": P(yes) is their two-way softmax at the last position.
    pub answer_ids: [u32; 2],
    /// The padding id.
    pub pad_id: u32,
    /// Candidates per request.
    pub candidates: usize,
    /// The first `warmup` requests are untimed.
    pub warmup: usize,
    /// Ids of the plain prefill (the first request's first prompts, repeated).
    pub prefill_ids: Vec<u32>,
    /// Every request, warm-ups first.
    pub requests: Vec<PromptRequest>,
}

/// One request's prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptRequest {
    /// Index in the replay.
    pub replay_index: usize,
    /// Candidate raw ids.
    pub candidates: Vec<u32>,
    /// Their labels (`None` for fillers).
    pub labels: Vec<Option<bool>>,
    /// Per-sample mode: one full prompt per candidate (retrieved history).
    pub per_sample: Vec<Vec<u32>>,
    /// Per-user mode: the shared prefix and each candidate's suffix (last-K history);
    /// `None` for a user without history, whom per-user mode scores per sample.
    pub per_user: Option<PerUserPrompts>,
}

/// A per-user slate's prompts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerUserPrompts {
    /// The shared prefix.
    pub prefix: Vec<u32>,
    /// Each candidate's suffix.
    pub suffixes: Vec<Vec<u32>>,
}

impl PromptsFile {
    /// Reads and checks a prompts file.
    pub fn read(path: &Path) -> Result<Self, BenchError> {
        let text = std::fs::read_to_string(path).map_err(|e| BenchError::io(path, e))?;
        let file: Self = serde_json::from_str(&text).map_err(|source| BenchError::Json {
            path: path.to_path_buf(),
            what: "prompts file",
            source,
        })?;
        if file.format != PROMPTS_FORMAT {
            return Err(BenchError::Version {
                path: path.to_path_buf(),
                found: file.format,
                expected: PROMPTS_FORMAT,
            });
        }
        if file.requests.len() <= file.warmup {
            return Err(BenchError::EmptyReplay {
                path: path.to_path_buf(),
                why: " after the warm-ups".to_owned(),
            });
        }
        Ok(file)
    }

    /// The full prompts of the timed requests in `mode`, request by request.
    pub fn timed_prompts(&self, mode: GateMode) -> Vec<Vec<u32>> {
        self.requests[self.warmup..]
            .iter()
            .flat_map(|request| match (&request.per_user, mode) {
                (Some(split), GateMode::PerUser) => split
                    .suffixes
                    .iter()
                    .map(|suffix| [split.prefix.as_slice(), suffix].concat())
                    .collect(),
                _ => request.per_sample.clone(),
            })
            .collect()
    }
}

/// Renders the prompts of `plan`'s requests (the same requests a run with the same
/// selection scores) through the bundle.
pub fn render(plan: &RunPlan) -> Result<PromptsFile, BenchError> {
    let requests = plan.prepare()?;
    let recommender = Recommender::open_bundle(&plan.bundle, plan.options())?;
    let mut out = Vec::with_capacity(requests.len());
    for request in &requests {
        let ids = |mode| recommender.prompt_ids(&request.user, &request.candidates, mode);
        let PromptIds::PerSample { prompts } = ids(GateMode::PerSample)? else {
            return Err(RuntimeError::PrefixSplit.into());
        };
        let per_user = match ids(GateMode::PerUser)? {
            PromptIds::PerUser { prefix, suffixes } => Some(PerUserPrompts { prefix, suffixes }),
            PromptIds::PerSample { .. } => None,
        };
        out.push(PromptRequest {
            replay_index: request.index,
            candidates: request.candidates.clone(),
            labels: request.labels.clone(),
            per_sample: prompts,
            per_user,
        });
    }
    let spec = &recommender.manifest().prompt;
    Ok(PromptsFile {
        format: PROMPTS_FORMAT.to_owned(),
        bundle: plan.bundle.display().to_string(),
        replay: plan.replay.display().to_string(),
        answer_ids: spec.answer_ids,
        pad_id: spec.pad_id,
        candidates: plan.selection.candidates,
        warmup: plan.selection.warmup,
        prefill_ids: run::prefill_ids(&recommender, &requests[0], plan.prefill_tokens)?,
        requests: out,
    })
}

/// Where zero-shot weights come from.
#[derive(Debug, Clone)]
pub enum ZeroShotModel {
    /// A `.gguf` file (or Hugging Face folder), dequantized to dense f32.
    File(PathBuf),
    /// A bundle's LLM, in place (its LoRA unused).
    Bundle(PathBuf),
}

/// Scores the timed prompts of `prompts` in `mode` with no adapter: the raw LLM.
pub fn zero_shot(
    prompts_path: &Path,
    model: &ZeroShotModel,
    mode: GateMode,
    threads: usize,
    batch: usize,
) -> Result<BenchReport, BenchError> {
    if threads == 0 || batch == 0 {
        let option = if threads == 0 { "threads" } else { "batch" };
        return Err(BenchError::BadArgument {
            option,
            reason: "must be at least 1".to_owned(),
        });
    }
    let prompts = PromptsFile::read(prompts_path)?;
    let backend = ResolvedBackend::resolve(Backend::Cpu { threads })?;
    let started = Instant::now();
    let (llm, quant, path, bytes) = backend.run(|| load(model, &backend))?;
    let load_s = started.elapsed().as_secs_f64();
    let rows = prompts.timed_prompts(mode);
    let mut scores = Vec::with_capacity(rows.len());
    let started = Instant::now();
    for chunk in rows.chunks(batch) {
        let logits =
            backend.run(|| llm.last_position_logits(chunk, &prompts.answer_ids, prompts.pad_id))?;
        for (pair, ids) in logits.iter().zip(chunk) {
            scores.push(reclora_core::YesNoScore::from_logits(pair[0], pair[1], ids.len()).p_yes);
        }
    }
    let scoring_s = started.elapsed().as_secs_f64();
    let timed = prompts.requests.len() - prompts.warmup;
    let per_request = vec![scoring_s / timed as f64; timed];
    let prefill = time_prefill(&llm, &backend, &prompts)?;
    let (cpu_model, isa) = machine::cpu();
    Ok(BenchReport {
        schema: SCHEMA.to_owned(),
        engine: Engine {
            name: "reclora".to_owned(),
            version: format!("reclora-bench {}", env!("CARGO_PKG_VERSION")),
        },
        variant: format!("zero-shot-{}", run::gate_mode_name(mode)),
        model: ModelInfo {
            name: run::model_name(&llm.config),
            quant,
            path,
            bytes,
        },
        machine: MachineInfo {
            cpu_model,
            isa,
            logical_cpus: machine::logical_cpus(),
            threads,
            backend: "cpu".to_owned(),
            adapter: None,
            fallback: None,
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            load_avg_1m: machine::load_avg_1m(),
        },
        config: RunConfig {
            candidates: prompts.candidates,
            history: None,
            requests: timed,
            warmup: prompts.warmup,
            seed: 0,
            batch_size: Some(batch),
            replay: Some(prompts.replay.clone()),
            prompts: Some(prompts_path.display().to_string()),
        },
        open: None,
        first_score_s: None,
        latency: run::latency(&per_request, prompts.candidates).map(|l| Latency {
            p95_ms: l.p50_ms,
            p99_ms: l.p50_ms,
            ..l
        }),
        throughput: None,
        prefill,
        memory: None,
        accuracy: None,
        peaks: None,
        scores: Some(scores),
        notes: vec![format!(
            "no LoRA, prompts of {} mode, batches of {batch}; loading took {load_s:.2} s; \
                 latency is the mean per request (no percentiles)",
            run::gate_mode_name(mode)
        )],
    })
}

fn load(
    model: &ZeroShotModel,
    backend: &ResolvedBackend,
) -> Result<(LlamaModel, String, String, u64), BenchError> {
    match model {
        ZeroShotModel::File(path) => {
            let bytes = std::fs::metadata(path)
                .map_err(|e| BenchError::io(path, e))?
                .len();
            let llm = LanguageModel::load(path, &backend.device)?;
            let quant = gguf_type_name(path);
            Ok((llm.into_parts().0, quant, path.display().to_string(), bytes))
        }
        ZeroShotModel::Bundle(dir) => {
            run::check_bundle(dir)?;
            let bundle = Bundle::open(dir, &backend.device, BundleOptions::default())
                .map_err(RuntimeError::from)?;
            let llm = bundle
                .llm_model(&backend.device, Default::default())
                .map_err(RuntimeError::from)?;
            let manifest = bundle.manifest();
            let quant = format!("{:?}", manifest.quant).to_lowercase();
            let bytes = manifest.files.values().map(|f| f.bytes).sum();
            Ok((llm, quant, dir.display().to_string(), bytes))
        }
    }
}

/// `Q8_0` from `….Q8_0.gguf`, else `gguf`.
fn gguf_type_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.rsplit('.')
        .next()
        .filter(|s| s.starts_with(['Q', 'F', 'B']))
        .unwrap_or("gguf")
        .to_owned()
}

fn time_prefill(
    llm: &LlamaModel,
    backend: &ResolvedBackend,
    prompts: &PromptsFile,
) -> Result<Option<Prefill>, BenchError> {
    if prompts.prefill_ids.is_empty() {
        return Ok(None);
    }
    let rows = [prompts.prefill_ids.clone()];
    let once =
        || backend.run(|| llm.last_position_logits(&rows, &prompts.answer_ids, prompts.pad_id));
    once()?;
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        once()?;
        times.push(started.elapsed().as_secs_f64());
    }
    let median_s = stats::median(&times).unwrap_or(f64::NAN);
    let tokens = rows[0].len();
    Ok(Some(Prefill {
        tokens,
        repeats: times.len(),
        median_s,
        tokens_per_s: tokens as f64 / median_s,
        flop_per_token: Some(run::flop_per_token(&llm.config, tokens)),
    }))
}
