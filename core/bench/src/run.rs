//! One benchmark run of a bundle on a replay set: open (cold, warm), time to first score,
//! per-request latency, throughput, a plain prefill, memory and AUC, as a [`BenchReport`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use reclora_core::LlamaConfig;
use reclora_core::bundle::manifest::file;
use reclora_core::quant::QuantKernel;
use reclora_core::runtime::{Backend, GateMode, Recommender, RecommenderOptions};

use crate::error::BenchError;
use crate::replay::{Replay, Request, Selection};
use crate::schema::{
    Accuracy, BenchReport, Engine, Latency, MachineInfo, Memory, ModelInfo, OpenTimes, Prefill,
    RunConfig, SCHEMA, Throughput,
};
use crate::{machine, memory, page_cache, stats};

/// A fraction of cached pages at or under which an open counts as cold.
pub const COLD_FRACTION: f64 = 0.05;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The bundle folder.
    pub bundle: PathBuf,
    /// The replay file.
    pub replay: PathBuf,
    /// CPU (with its threads) or wgpu.
    pub backend: Backend,
    /// Gate mode.
    pub gate_mode: GateMode,
    /// How packed bundles quantize activations (`Int8`: one 8-bit pass).
    pub kernel: QuantKernel,
    /// Rank each slate with the LLM on DIN's best N only (scores become rank places).
    pub llm_rerank: Option<usize>,
    /// Which requests.
    pub selection: Selection,
    /// Prompts per LLM forward.
    pub batch_size: usize,
    /// Tokens of the plain prefill (0: skip it).
    pub prefill_tokens: usize,
    /// Its timed repetitions.
    pub prefill_repeats: usize,
    /// Keep every P(yes) in the report.
    pub keep_scores: bool,
    /// The model's name in the report.
    pub model_name: Option<String>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl RunPlan {
    /// The recommender's options.
    pub fn options(&self) -> RecommenderOptions {
        RecommenderOptions {
            backend: self.backend,
            gate_mode: Some(self.gate_mode),
            kernel: self.kernel,
            llm_rerank: self.llm_rerank,
            batch_size: self.batch_size,
            max_candidates: self.selection.candidates.max(1),
            ..RecommenderOptions::default()
        }
    }

    /// Checks the options, the bundle folder and the replay, and draws the requests.
    pub fn prepare(&self) -> Result<Vec<Request>, BenchError> {
        check_sizes(self)?;
        check_bundle(&self.bundle)?;
        let replay = Replay::read(&self.replay)?;
        self.selection.draw(&replay, &self.replay)
    }
}

fn check_sizes(plan: &RunPlan) -> Result<(), BenchError> {
    let checks = [
        ("candidates", plan.selection.candidates),
        ("requests", plan.selection.requests),
        ("batch", plan.batch_size),
    ];
    for (option, value) in checks {
        if value == 0 {
            return Err(BenchError::BadArgument {
                option,
                reason: "must be at least 1".to_owned(),
            });
        }
    }
    if let Backend::Cpu { threads: 0 } = plan.backend {
        return Err(BenchError::BadArgument {
            option: "threads",
            reason: "must be at least 1".to_owned(),
        });
    }
    if plan.selection.history == Some(0) {
        return Err(BenchError::BadArgument {
            option: "history",
            reason: "must be at least 1 (leave it out to keep every interaction)".to_owned(),
        });
    }
    if plan.prefill_tokens > 0 && plan.prefill_repeats == 0 {
        return Err(BenchError::BadArgument {
            option: "prefill-repeats",
            reason: "must be at least 1 when --prefill-tokens is set".to_owned(),
        });
    }
    Ok(())
}

/// Fails with [`BenchError::MissingBundle`] unless `dir` holds a manifest.
pub fn check_bundle(dir: &Path) -> Result<(), BenchError> {
    if dir.join(file::MANIFEST).is_file() {
        Ok(())
    } else {
        Err(BenchError::MissingBundle {
            path: dir.to_path_buf(),
        })
    }
}

/// Runs `plan`.
pub fn run(plan: &RunPlan) -> Result<BenchReport, BenchError> {
    let requests = plan.prepare()?;
    let load_avg_1m = machine::load_avg_1m();
    let (open, recommender) = open_times(plan)?;
    let started = Instant::now();
    let slate_scores = |request: &Request| -> Result<Vec<f32>, BenchError> {
        match plan.llm_rerank {
            Some(_) => rank_scores(&recommender, request),
            None => Ok(recommender.score_user(&request.user, &request.candidates)?),
        }
    };
    let first = slate_scores(&requests[0])?;
    let first_request_s = started.elapsed().as_secs_f64();
    let first_score_s = open.warm_s + first_request_s;

    let warmup = plan.selection.warmup;
    let bar = progress_bar(plan, requests.len().saturating_sub(1) as u64)?;
    let mut latencies = Vec::with_capacity(plan.selection.requests);
    let mut scores = Vec::new();
    for (k, request) in requests.iter().enumerate().skip(1) {
        let started = Instant::now();
        let slate = slate_scores(request)?;
        let seconds = started.elapsed().as_secs_f64();
        if k >= warmup {
            latencies.push(seconds);
            scores.push(slate);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // With no warm-up the first request is also the first timed one.
    let timed = &requests[warmup..];
    if warmup == 0 {
        latencies.insert(0, first_request_s);
        scores.insert(0, first);
    }

    let mut tokens = Vec::with_capacity(timed.len());
    for request in timed {
        let ids = recommender.prompt_ids(&request.user, &request.candidates, plan.gate_mode)?;
        tokens.push(ids.tokens_run());
    }
    let prefill = prefill(plan, &recommender, &requests[0])?;
    let rss = memory::rss();
    let mapped = memory::mapped_under(&plan.bundle);
    let manifest = recommender.manifest();
    let backend = recommender.backend();
    let (cpu_model, isa) = machine::cpu();
    let threads = match plan.backend {
        Backend::Cpu { threads } => threads,
        Backend::Wgpu | Backend::Cuda => {
            backend.pool.as_ref().map_or(0, |p| p.current_num_threads())
        }
    };
    let is_wgpu = matches!(backend.kind, reclora_core::BackendKind::Wgpu);
    Ok(BenchReport {
        schema: SCHEMA.to_owned(),
        engine: Engine {
            name: "reclora".to_owned(),
            version: format!("reclora-bench {}", env!("CARGO_PKG_VERSION")),
        },
        variant: variant_name(plan),
        model: ModelInfo {
            name: plan
                .model_name
                .clone()
                .unwrap_or_else(|| model_name(&manifest.llm)),
            quant: format!("{:?}", manifest.quant).to_lowercase(),
            path: plan.bundle.display().to_string(),
            bytes: manifest.files.values().map(|f| f.bytes).sum(),
        },
        machine: MachineInfo {
            cpu_model,
            isa,
            logical_cpus: machine::logical_cpus(),
            threads,
            backend: if is_wgpu { "wgpu" } else { "cpu" }.to_owned(),
            adapter: if is_wgpu {
                machine::wgpu_adapter()
            } else {
                None
            },
            fallback: backend.fallback.as_ref().map(ToString::to_string),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            load_avg_1m,
        },
        config: RunConfig {
            candidates: plan.selection.candidates,
            history: plan.selection.history,
            requests: plan.selection.requests,
            warmup,
            seed: plan.selection.seed,
            batch_size: Some(plan.batch_size),
            replay: Some(plan.replay.display().to_string()),
            prompts: None,
        },
        open: Some(open),
        first_score_s: Some(first_score_s),
        latency: latency(&latencies, plan.selection.candidates),
        throughput: throughput(&latencies, &tokens, plan.selection.candidates),
        prefill,
        memory: Some(Memory {
            peak_rss_bytes: rss.peak.unwrap_or(0),
            rss_anon_bytes: rss.anon,
            rss_file_bytes: rss.file,
            mapped_bytes: mapped.map(|m| m.0),
            mapped_resident_bytes: mapped.map(|m| m.1),
        }),
        accuracy: Some(accuracy(timed, &scores)),
        peaks: None,
        scores: plan.keep_scores.then(|| scores.concat()),
        notes: notes(plan, &open_state_note(&recommender)),
    })
}

fn open_state_note(recommender: &Recommender) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(reason) = &recommender.backend().fallback {
        notes.push(format!("wgpu asked for, ran on the CPU: {reason}"));
    }
    notes
}

fn notes(plan: &RunPlan, extra: &[String]) -> Vec<String> {
    let mut notes = extra.to_vec();
    if plan.gate_mode == GateMode::PerUser {
        notes.push(
            "per-user: one gate per user, the shared prompt prefix run once; users without \
             history fall back to per-sample"
                .to_owned(),
        );
    }
    notes
}

/// `per-sample` / `per-user`.
/// The report's variant: the gate mode, `-q8act` for 8-bit activations, `-rerankN`.
fn variant_name(plan: &RunPlan) -> String {
    let mut name = gate_mode_name(plan.gate_mode).to_owned();
    if plan.kernel == QuantKernel::Int8 {
        name.push_str("-q8act");
    }
    if let Some(n) = plan.llm_rerank {
        name.push_str(&format!("-rerank{n}"));
    }
    name
}

pub fn gate_mode_name(mode: GateMode) -> &'static str {
    match mode {
        GateMode::PerSample => "per-sample",
        GateMode::PerUser => "per-user",
    }
}

/// A readable name for a Llama config (SmolLM2-135M by its shape).
pub fn model_name(config: &LlamaConfig) -> String {
    let smollm2 = (config.vocab_size, config.hidden_size, config.num_layers) == (49152, 576, 30);
    if smollm2 {
        "SmolLM2-135M-Instruct".to_owned()
    } else {
        format!(
            "llama {}L x {} (vocab {})",
            config.num_layers, config.hidden_size, config.vocab_size
        )
    }
}

/// Cold then warm open times, and the warmly opened recommender (the cold one is dropped).
fn open_times(plan: &RunPlan) -> Result<(OpenTimes, Recommender), BenchError> {
    let files = page_cache::files(&plan.bundle);
    page_cache::drop_cached(&files);
    let fraction = page_cache::cached_fraction(&files);
    let started = Instant::now();
    let cold = Recommender::open_bundle(&plan.bundle, plan.options())?;
    let cold_s = started.elapsed().as_secs_f64();
    drop(cold);
    let started = Instant::now();
    let warm = Recommender::open_bundle(&plan.bundle, plan.options())?;
    let warm_s = started.elapsed().as_secs_f64();
    let is_cold = fraction.is_some_and(|f| f <= COLD_FRACTION);
    let times = OpenTimes {
        cold_s,
        cold_state: if is_cold { "cold" } else { "warm" }.to_owned(),
        cold_resident_fraction: fraction,
        warm_s,
    };
    Ok((times, warm))
}

fn progress_bar(plan: &RunPlan, len: u64) -> Result<ProgressBar, BenchError> {
    if !plan.progress {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} requests, {elapsed} (eta {eta})",
    )?);
    bar.set_prefix(gate_mode_name(plan.gate_mode));
    Ok(bar)
}

/// The prefill's token ids: `request`'s first full prompt, repeated to `tokens`.
pub fn prefill_ids(
    recommender: &Recommender,
    request: &Request,
    tokens: usize,
) -> Result<Vec<u32>, BenchError> {
    let prompts = recommender
        .prompt_ids(&request.user, &request.candidates, GateMode::PerSample)?
        .full_prompts();
    let source: Vec<u32> = prompts.into_iter().flatten().collect();
    Ok(source.iter().copied().cycle().take(tokens).collect())
}

fn prefill(
    plan: &RunPlan,
    recommender: &Recommender,
    request: &Request,
) -> Result<Option<Prefill>, BenchError> {
    if plan.prefill_tokens == 0 {
        return Ok(None);
    }
    let ids = prefill_ids(recommender, request, plan.prefill_tokens)?;
    let spec = &recommender.manifest().prompt;
    let rows = [ids];
    let once = || {
        recommender.backend().run(|| {
            recommender
                .llm()
                .last_position_logits(&rows, &spec.answer_ids, spec.pad_id)
        })
    };
    once()?;
    let mut times = Vec::with_capacity(plan.prefill_repeats);
    for _ in 0..plan.prefill_repeats {
        let started = Instant::now();
        once()?;
        times.push(started.elapsed().as_secs_f64());
    }
    let median_s = stats::median(&times).unwrap_or(f64::NAN);
    let tokens = rows[0].len();
    Ok(Some(Prefill {
        tokens,
        repeats: plan.prefill_repeats,
        median_s,
        tokens_per_s: tokens as f64 / median_s,
        flop_per_token: Some(flop_per_token(&recommender.manifest().llm, tokens)),
    }))
}

/// FLOPs per token of a causal prefill of `tokens` tokens: every projection and MLP matmul
/// (2 per weight), and attention's scores and weighted sum over on average
/// `(tokens + 1) / 2` keys.
pub fn flop_per_token(config: &LlamaConfig, tokens: usize) -> f64 {
    let (h, q, kv, i) = (
        config.hidden_size as f64,
        config.q_dim() as f64,
        config.kv_dim() as f64,
        config.intermediate_size as f64,
    );
    let weights = h * q + 2.0 * h * kv + q * h + 3.0 * h * i;
    let keys = (tokens as f64 + 1.0) / 2.0;
    let attention = 2.0 * 2.0 * q * keys;
    config.num_layers as f64 * (2.0 * weights + attention)
}

/// Latency figures of the timed requests.
pub fn latency(seconds: &[f64], candidates: usize) -> Option<Latency> {
    let ms: Vec<f64> = seconds.iter().map(|s| s * 1e3).collect();
    let p50_ms = stats::quantile(&ms, 0.5)?;
    Some(Latency {
        requests: ms.len(),
        p50_ms,
        p95_ms: stats::quantile(&ms, 0.95)?,
        p99_ms: stats::quantile(&ms, 0.99)?,
        mean_ms: stats::mean(&ms)?,
        per_candidate_p50_ms: p50_ms / candidates.max(1) as f64,
    })
}

/// Throughput over the timed requests.
pub fn throughput(seconds: &[f64], tokens: &[usize], candidates: usize) -> Option<Throughput> {
    let total: f64 = seconds.iter().sum();
    if seconds.is_empty() || total <= 0.0 {
        return None;
    }
    let token_sum = tokens.iter().sum::<usize>() as f64;
    Some(Throughput {
        candidates_per_s: (seconds.len() * candidates) as f64 / total,
        prompt_tokens_per_s: token_sum / total,
        tokens_per_request: token_sum / tokens.len().max(1) as f64,
    })
}

/// A request ranked with `llm_rerank`: each candidate's score is its place in the ranking,
/// `(len − position) / len` (1 for the first), since the re-ranked head holds P(yes) and
/// the tail DIN's P(click), which do not compare.
fn rank_scores(recommender: &Recommender, request: &Request) -> Result<Vec<f32>, BenchError> {
    let n = request.candidates.len();
    let ranked = recommender.rank_user(&request.user, &request.candidates, n)?;
    let mut scores = vec![0.0; n];
    for (position, item) in ranked.iter().enumerate() {
        // A slate may repeat an id: give each copy the first free place.
        if let Some(at) =
            (0..n).find(|&i| request.candidates[i] == item.item_id && scores[i] == 0.0)
        {
            scores[at] = (n - position) as f32 / n as f32;
        }
    }
    Ok(scores)
}

/// AUC over the labelled candidates of the distinct timed requests.
pub fn accuracy(requests: &[Request], scores: &[Vec<f32>]) -> Accuracy {
    let mut seen = std::collections::HashSet::new();
    let (mut labels, mut values) = (Vec::new(), Vec::new());
    let mut per_request = Vec::new();
    for (request, slate) in requests.iter().zip(scores) {
        if !seen.insert(request.index) {
            continue;
        }
        let (mut own_labels, mut own_values) = (Vec::new(), Vec::new());
        for (label, &score) in request.labels.iter().zip(slate) {
            if let Some(label) = label {
                own_labels.push(*label);
                own_values.push(score);
            }
        }
        per_request.extend(stats::auc(&own_labels, &own_values));
        labels.extend(own_labels);
        values.extend(own_values);
    }
    Accuracy {
        auc: stats::auc(&labels, &values),
        labelled: labels.len(),
        positives: labels.iter().filter(|&&l| l).count(),
        request_auc: (!per_request.is_empty())
            .then(|| per_request.iter().sum::<f64>() / per_request.len() as f64),
    }
}
