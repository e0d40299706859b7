//! `reclora-train llm …`: tokenize, score, generate, nll.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use reclora_core::LanguageModel;
use reclora_core::tokenizer::PromptTemplate;
use serde::{Deserialize, Serialize};

use crate::cli::{LlmArgs, LlmCommand};
use crate::error::CliError;

/// One line of the `score` input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreRequest {
    prompt: String,
    chat: bool,
}

/// One line of the `score` output.
#[derive(Debug, Serialize)]
struct ScoreLine {
    p_yes: f32,
    logit_yes: f32,
    logit_no: f32,
    tokens: usize,
}

/// Loads the model and runs one `llm` subcommand.
pub fn run(args: LlmArgs) -> Result<(), CliError> {
    let device = args.backend.device()?;
    let started = Instant::now();
    let model = LanguageModel::load(&args.model, &device)?;
    tracing::info!(
        model = %args.model.display(),
        backend = %args.backend,
        seconds = started.elapsed().as_secs_f32(),
        "model loaded"
    );
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
    }
    Ok(())
}

fn read_requests(path: &Path) -> Result<Vec<ScoreRequest>, CliError> {
    let file = File::open(path).map_err(|e| CliError::io(path, e))?;
    let mut requests = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| CliError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let request = serde_json::from_str(&line).map_err(|e| CliError::BadInputLine {
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
fn score(
    model: &LanguageModel,
    input: &Path,
    output: &Path,
    batch_size: usize,
) -> Result<(), CliError> {
    let requests = read_requests(input)?;
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
            for score in model.score_yes_no(&prompts, template)? {
                lines.push(ScoreLine {
                    p_yes: score.p_yes,
                    logit_yes: score.logit_yes,
                    logit_no: score.logit_no,
                    tokens: score.tokens,
                });
            }
            progress.inc(batch.len() as u64);
        }
    }
    progress.finish_and_clear();
    let partial = output.with_extension("jsonl.partial");
    {
        let file = File::create(&partial).map_err(|e| CliError::io(&partial, e))?;
        let mut writer = BufWriter::new(file);
        for line in &lines {
            let json = serde_json::to_string(line).unwrap_or_default();
            writeln!(writer, "{json}").map_err(|e| CliError::io(&partial, e))?;
        }
        writer.flush().map_err(|e| CliError::io(&partial, e))?;
    }
    std::fs::rename(&partial, output).map_err(|e| CliError::io(output, e))?;
    Ok(())
}
