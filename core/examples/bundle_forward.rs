//! The bundle's LLM on the CPU: process memory after open and after building the model in
//! place (quantized matrices read from the map), then the wall time of one batched forward
//! (`last_position_logits` of the answer ids over random prompts) in place with the dequant
//! and int8 kernels vs the dense f32 model built from the same file, alternated per
//! repetition so machine load hits all three alike.
//!
//! Memory is read before the dense model exists, which adds its f32 weights to the
//! anonymous part; the last figures show that.
//!
//! usage: bundle_forward BUNDLE_DIR [ROWS] [TOKENS] [REPS]   (defaults 8 280 3)

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use reclora_core::LlamaModel;
use reclora_core::bundle::{Bundle, BundleOptions};
use reclora_core::quant::QuantKernel;
use reclora_core::rng::SplitMix64;

/// Process memory in MB, from /proc/self/status.
fn memory() -> serde_json::Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mb = |field: &str| {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1e3)
    };
    serde_json::json!({
        "rss_mb": mb("VmRSS:"),
        "rss_anon_mb": mb("RssAnon:"),
        "rss_file_mb": mb("RssFile:"),
        "peak_rss_mb": mb("VmHWM:"),
    })
}

fn arg(args: &[String], index: usize, default: usize) -> Result<usize, String> {
    args.get(index)
        .map_or(Ok(default), |v| v.parse().map_err(|e| format!("{v}: {e}")))
}

/// User + system CPU seconds of the whole process (every thread), from /proc/self/stat
/// (fields 14 and 15, in ticks of 1/100 s on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (the state) is the first after the name.
    let ticks = |field: usize| {
        fields
            .get(field - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

/// Wall and CPU seconds of one call.
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: f64,
    cpu: f64,
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Cost) {
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let out = f();
    let cost = Cost {
        wall: start.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu,
    };
    (out, cost)
}

/// Medians of wall and CPU seconds.
fn median(costs: &[Cost]) -> Cost {
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Cost {
        wall: mid(costs.iter().map(|c| c.wall).collect()),
        cpu: mid(costs.iter().map(|c| c.cpu).collect()),
    }
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bundle_forward BUNDLE_DIR [ROWS] [TOKENS] [REPS]";
    let dir = PathBuf::from(args.first().ok_or(usage)?);
    let (rows, tokens, reps) = (arg(&args, 1, 8)?, arg(&args, 2, 280)?, arg(&args, 3, 3)?);
    let device = Device::flex();
    let before_open = memory();

    let (bundle, open_time) = timed(|| Bundle::open(&dir, &device, BundleOptions::default()));
    let bundle = bundle?;
    let after_open = memory();
    let (in_place, build_time) = timed(|| bundle.llm_model(&device, QuantKernel::Dequant));
    let in_place = in_place?;
    let int8 = bundle.llm_model(&device, QuantKernel::Int8)?;
    let after_model = memory();

    let manifest = bundle.manifest();
    let mut rng = SplitMix64::new(2026);
    let vocab = manifest.llm.vocab_size as u64;
    let prompts: Vec<Vec<u32>> = (0..rows)
        .map(|_| {
            (0..tokens)
                .map(|_| (rng.next_u64() % vocab) as u32)
                .collect()
        })
        .collect();
    let answers = manifest.prompt.answer_ids;
    let pad = manifest.prompt.pad_id;
    let forward = |model: &LlamaModel| {
        let (logits, time) = timed(|| model.last_position_logits(&prompts, &answers, pad));
        logits.map(|l| (l, time))
    };

    let (in_place_logits, first_in_place) = forward(&in_place)?;
    let after_in_place_forward = memory();
    let (dense, dense_build_time) = timed(|| {
        let file = bundle.llm_file()?;
        Ok::<_, Box<dyn std::error::Error>>(manifest.llm.init_from(&file, &device)?)
    });
    let dense = dense?;
    let after_dense_model = memory();
    let (dense_logits, _) = forward(&dense)?;
    let (int8_logits, _) = forward(&int8)?;

    let (mut t_dequant, mut t_int8, mut t_dense) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        t_dequant.push(forward(&in_place)?.1);
        t_int8.push(forward(&int8)?.1);
        t_dense.push(forward(&dense)?.1);
    }
    let (dequant, int8, dense) = (median(&t_dequant), median(&t_int8), median(&t_dense));
    let mapped: u64 = manifest.files.values().map(|f| f.bytes).sum();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "bundle": dir,
            "quant": manifest.quant,
            "mapped_mb": mapped as f64 / 1e6,
            "bound_mb": 64.0 + mapped as f64 / 1e6,
            "open_seconds": open_time.wall,
            "in_place_build_seconds": build_time.wall,
            "dense_build_seconds": dense_build_time.wall,
            "memory": {
                "before_open": before_open,
                "after_open": after_open,
                "after_in_place_models": after_model,
                "after_in_place_forward": after_in_place_forward,
                "after_dense_model": after_dense_model,
            },
            "forward": {
                "rows": rows,
                "tokens": tokens,
                "reps": reps,
                "first_in_place_seconds": first_in_place.wall,
                "in_place_dequant_seconds": dequant.wall,
                "in_place_int8_seconds": int8.wall,
                "dense_f32_seconds": dense.wall,
                "dequant_over_dense": dequant.wall / dense.wall,
                "int8_over_dense": int8.wall / dense.wall,
                "in_place_dequant_cpu_seconds": dequant.cpu,
                "in_place_int8_cpu_seconds": int8.cpu,
                "dense_f32_cpu_seconds": dense.cpu,
                "dequant_over_dense_cpu": dequant.cpu / dense.cpu,
                "int8_over_dense_cpu": int8.cpu / dense.cpu,
                "max_abs_logit_diff_dequant_vs_dense": max_diff(&in_place_logits, &dense_logits),
                "max_abs_logit_diff_int8_vs_dense": max_diff(&int8_logits, &dense_logits),
            },
        }))?
    );
    Ok(())
}
