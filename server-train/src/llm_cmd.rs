//! `reclora-train llm …`: tokenize, score, generate, nll.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use reclora_core::bundle::manifest::file;
use reclora_core::bundle::{Bundle, BundleOptions};
use reclora_core::quant::QuantKernel;
use reclora_core::tokenizer::{PromptTemplate, TextTokenizer};
use reclora_core::{BackendKind, LanguageModel, LlmError, YesNoScore};
use serde::Deserialize;

use crate::cli::{LlmArgs, LlmCommand};
use crate::error::CliError;

/// One line of the `score` input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreRequest {
    prompt: String,
    chat: bool,
}

/// The prompts `demo` scores when no input is given.
const DEMO_PROMPTS: &str = include_str!("../../examples/demo_prompts.jsonl");

fn load_model(path: &Path, backend: BackendKind) -> Result<LanguageModel, CliError> {
    let device = backend.open()?;
    let started = Instant::now();
    let model = if path.join(file::MANIFEST).is_file() {
        load_bundle_llm(path, &device)?
    } else {
        LanguageModel::load(path, &device)?
    };
    tracing::info!(
        model = %path.display(),
        %backend,
        seconds = started.elapsed().as_secs_f32(),
        "model loaded"
    );
    Ok(model)
}

/// The LLM of the bundle folder `dir` as the runtime builds it (`Bundle::llm_model`: in
/// place from the map on the CPU) with the bundle's tokenizer.
fn load_bundle_llm(dir: &Path, device: &Device) -> Result<LanguageModel, CliError> {
    let bundle = Bundle::open(dir, device, BundleOptions::default())?;
    let model = bundle.llm_model(device, QuantKernel::default())?;
    let [tokenizer, ..] = bundle.side_files();
    let tokenizer = TextTokenizer::from_json_bytes(tokenizer, &dir.join(file::TOKENIZER))
        .map_err(LlmError::from)?;
    tracing::info!(bundle = %dir.display(), quant = %bundle.manifest().quant, "bundle LLM");
    Ok(LanguageModel::from_parts(model, tokenizer))
}

/// Scores the embedded demo prompts and prints one JSON line per prompt.
pub fn demo(model_path: &Path, backend: BackendKind) -> Result<(), CliError> {
    let model = load_model(model_path, backend)?;
    let requests = parse_requests(DEMO_PROMPTS, Path::new("<embedded demo prompts>"))?;
    let started = Instant::now();
    let scores = score_requests(&model, &requests, 3)?;
    for (request, score) in requests.iter().zip(&scores) {
        let target = request
            .prompt
            .split("***")
            .nth(1)
            .unwrap_or(request.prompt.as_str());
        let profile = request.prompt.lines().next().unwrap_or_default();
        println!(
            "{}",
            serde_json::json!({
                "profile": profile, "target": target, "p_yes": score.p_yes,
                "logit_yes": score.logit_yes, "logit_no": score.logit_no, "tokens": score.tokens,
            })
        );
    }
    tracing::info!(
        prompts = scores.len(),
        seconds = started.elapsed().as_secs_f32(),
        "demo scored"
    );
    Ok(())
}

/// Loads the model and runs one `llm` subcommand.
pub fn run(args: LlmArgs) -> Result<(), CliError> {
    let model = load_model(&args.model, args.backend)?;
    match args.command {
        LlmCommand::Tokenize { text } => {
            let ids = model.tokenize(&text)?;
            println!("{}", serde_json::to_string(&ids).unwrap_or_default());
        }
        LlmCommand::Score {
            input,
            output,
            batch_size,
        } => score(&model, &input, &output, batch_size.max(1))?,
        LlmCommand::Generate { prompt, max_tokens } => {
            let ids = model.tokenize(&prompt)?;
            let generated = model.generate_greedy(&ids, max_tokens)?;
            let text = model
                .tokenizer()
                .decode(&generated)
                .map_err(reclora_core::LlmError::from)?;
            println!("{prompt}{text}");
        }
        LlmCommand::Nll { text_file } => {
            let text =
                std::fs::read_to_string(&text_file).map_err(|e| CliError::io(&text_file, e))?;
            let ids = model.tokenize(&text)?;
            let nll = model.mean_nll(&ids)?;
            println!(
                "{}",
                serde_json::json!({"mean_nll": nll, "tokens": ids.len()})
            );
        }
        LlmCommand::BenchPrefill {
            ids_file,
            tokens,
            repeats,
            batch,
        } => bench_prefill(
            &model,
            &ids_file,
            PrefillShape {
                tokens,
                batch: batch.max(1),
            },
            repeats.max(1),
            args.backend,
        )?,
    }
    Ok(())
}

/// Rows and tokens per row of a prefill benchmark.
#[derive(Debug, Clone, Copy)]
struct PrefillShape {
    tokens: usize,
    batch: usize,
}

/// Offset between the windows of two consecutive benchmark rows.
const ROW_STRIDE: usize = 31;

/// Times one prefill forward (all positions, logits at the last one) and prints JSON: the
/// median wall seconds and the median CPU seconds of the whole process.
fn bench_prefill(
    model: &LanguageModel,
    ids_file: &Path,
    shape: PrefillShape,
    repeats: usize,
    backend: BackendKind,
) -> Result<(), CliError> {
    let PrefillShape { tokens, batch } = shape;
    let text = std::fs::read_to_string(ids_file).map_err(|e| CliError::io(ids_file, e))?;
    let ids: Vec<u32> = serde_json::from_str(&text).map_err(|e| CliError::BadInputLine {
        path: ids_file.to_path_buf(),
        line: 1,
        message: e.to_string(),
    })?;
    let needed = (batch - 1) * ROW_STRIDE + tokens;
    if ids.len() < needed {
        return Err(CliError::BadInputLine {
            path: ids_file.to_path_buf(),
            line: 1,
            message: format!(
                "{} ids, fewer than the {needed} that --tokens {tokens} --batch {batch} need",
                ids.len()
            ),
        });
    }
    let row: Vec<Vec<u32>> = (0..batch)
        .map(|r| ids[r * ROW_STRIDE..r * ROW_STRIDE + tokens].to_vec())
        .collect();
    let answer = [0u32, 1];
    model.last_position_logits(&row, &answer)?;
    let mut seconds = Vec::with_capacity(repeats);
    let mut cpu_seconds = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let (started, cpu) = (Instant::now(), process_cpu_seconds());
        model.last_position_logits(&row, &answer)?;
        seconds.push(started.elapsed().as_secs_f64());
        cpu_seconds.push(
            process_cpu_seconds()
                .zip(cpu)
                .map(|(end, start)| end - start),
        );
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let wall = median(seconds);
    let cpu = cpu_seconds
        .into_iter()
        .collect::<Option<Vec<f64>>>()
        .map(median);
    let tokens_total = (batch * tokens) as f64;
    println!(
        "{}",
        serde_json::json!({
            "impl": "reclora", "backend": backend.to_string(), "tokens": tokens,
            "batch": batch, "repeats": repeats, "median_seconds": wall,
            "tokens_per_second": tokens_total / wall,
            "median_cpu_seconds": cpu,
            "tokens_per_cpu_second": cpu.map(|cpu| tokens_total / cpu),
        })
    );
    Ok(())
}

/// CPU seconds used by every thread of this process so far (the first field of each
/// thread's `/proc/self/task/*/schedstat`, in nanoseconds), or `None` off Linux. On a
/// loaded machine it is a steadier measure of work than wall time.
fn process_cpu_seconds() -> Option<f64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut nanoseconds = 0u64;
    for task in tasks {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        nanoseconds += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(nanoseconds as f64 * 1e-9)
}

fn read_requests(path: &Path) -> Result<Vec<ScoreRequest>, CliError> {
    let mut text = String::new();
    File::open(path)
        .and_then(|file| BufReader::new(file).read_to_string(&mut text))
        .map_err(|e| CliError::io(path, e))?;
    parse_requests(&text, path)
}

/// Parses JSONL requests; `path` names the source in errors.
fn parse_requests(text: &str, path: &Path) -> Result<Vec<ScoreRequest>, CliError> {
    let mut requests = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let request = serde_json::from_str(line).map_err(|e| CliError::BadInputLine {
            path: path.to_path_buf(),
            line: index + 1,
            message: e.to_string(),
        })?;
        requests.push(request);
    }
    if requests.is_empty() {
        return Err(CliError::EmptyInput {
            path: path.to_path_buf(),
        });
    }
    Ok(requests)
}

/// Scores every request and writes the output atomically (temp file, then rename).
pub(crate) fn score(
    model: &LanguageModel,
    input: &Path,
    output: &Path,
    batch_size: usize,
) -> Result<(), CliError> {
    let requests = read_requests(input)?;
    let scores = score_requests(model, &requests, batch_size)?;
    write_atomically(output, &scores)
}

/// Scores requests in batches of one template each, keeping their order.
fn score_requests(
    model: &LanguageModel,
    requests: &[ScoreRequest],
    batch_size: usize,
) -> Result<Vec<YesNoScore>, CliError> {
    let progress = ProgressBar::new(requests.len() as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} prompts {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut lines = Vec::with_capacity(requests.len());
    // Batch only prompts of one template; order is kept.
    for chunk in requests.chunk_by(|a, b| a.chat == b.chat) {
        let template = if chunk[0].chat {
            PromptTemplate::ChatMl
        } else {
            PromptTemplate::Plain
        };
        for batch in chunk.chunks(batch_size) {
            let prompts: Vec<&str> = batch.iter().map(|r| r.prompt.as_str()).collect();
            lines.extend(model.score_yes_no(&prompts, template)?);
            progress.inc(batch.len() as u64);
        }
    }
    progress.finish_and_clear();
    Ok(lines)
}

/// Writes JSON lines to a temporary file, then renames it, so no half-written output
/// is left behind.
fn write_atomically(output: &Path, lines: &[YesNoScore]) -> Result<(), CliError> {
    let partial = output.with_extension("jsonl.partial");
    {
        let file = File::create(&partial).map_err(|e| CliError::io(&partial, e))?;
        let mut writer = BufWriter::new(file);
        for line in lines {
            let json = serde_json::to_string(line).unwrap_or_default();
            writeln!(writer, "{json}").map_err(|e| CliError::io(&partial, e))?;
        }
        writer.flush().map_err(|e| CliError::io(&partial, e))?;
    }
    std::fs::rename(&partial, output).map_err(|e| CliError::io(output, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn workspace_file(relative: &str) -> PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(
                || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
                std::path::PathBuf::from,
            )
            .join("..")
            .join(relative)
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let text = "{\"prompt\": \"a\", \"chat\": true}\n\n{\"prompt\": 3}\n";
        let err = parse_requests(text, Path::new("in.jsonl")).unwrap_err();
        match &err {
            CliError::BadInputLine { path, line, .. } => {
                assert_eq!(path, Path::new("in.jsonl"));
                assert_eq!(*line, 3);
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(err.to_string().starts_with("in.jsonl:3: "));
        assert!(matches!(
            parse_requests("\n", Path::new("e.jsonl")),
            Err(CliError::EmptyInput { .. })
        ));
        assert_eq!(
            parse_requests(DEMO_PROMPTS, Path::new("demo"))
                .expect("demo")
                .len(),
            6
        );
    }

    /// `llm score` on the real SmolLM2 reproduces the HF golden P(yes) and leaves no
    /// partial file; a bad input leaves no output at all.
    #[test]
    fn score_command_matches_golden_and_writes_atomically() {
        let gguf = workspace_file("assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(gguf.is_file(), "run scripts/fetch-assets.sh first");
        let golden: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(workspace_file("tests/fixtures/llm_golden.json"))
                .expect("fixture"),
        )
        .expect("json");
        let prompts: Vec<&serde_json::Value> = golden["prompts"]
            .as_array()
            .expect("prompts")
            .iter()
            .filter(|p| p["input_ids"].as_array().map_or(0, Vec::len) < 40)
            .collect();
        let dir_dir = reclora_test_support::TempDir::new("score");
        let dir = dir_dir.path().to_path_buf();
        let input = dir.join("in.jsonl");
        let lines: Vec<String> = prompts
            .iter()
            .map(|p| serde_json::json!({"prompt": p["prompt"], "chat": p["chat"]}).to_string())
            .collect();
        std::fs::write(&input, lines.join("\n")).expect("write input");
        let output = dir.join("out.jsonl");
        let model = load_model(&gguf, BackendKind::Cpu).expect("loads");
        score(&model, &input, &output, 2).expect("scores");
        let written = std::fs::read_to_string(&output).expect("output");
        let rows: Vec<serde_json::Value> = written
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(rows.len(), prompts.len());
        for (row, prompt) in rows.iter().zip(&prompts) {
            let got = row["p_yes"].as_f64().expect("p_yes");
            let want = prompt["p_yes"].as_f64().expect("p_yes");
            assert!(
                (got - want).abs() <= 1e-3,
                "{}: {got} vs {want}",
                prompt["name"]
            );
            assert_eq!(
                row["tokens"],
                serde_json::json!(prompt["input_ids"].as_array().map_or(0, Vec::len))
            );
        }
        assert!(!output.with_extension("jsonl.partial").exists());

        let bad_input = dir.join("bad.jsonl");
        std::fs::write(&bad_input, "{\"prompt\": \"x\"}\n").expect("write");
        let bad_output = dir.join("bad-out.jsonl");
        assert!(matches!(
            score(&model, &bad_input, &bad_output, 2),
            Err(CliError::BadInputLine { line: 1, .. })
        ));
        assert!(!bad_output.exists());
        std::fs::remove_dir_all(&dir).ok();
    }
}
