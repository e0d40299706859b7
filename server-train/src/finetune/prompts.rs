//! `reclora-train prompts`: the token ids a fine-tuning run trains on (its first steps, in
//! micro-batches exactly as `finetune` forms them) and scores (the first test rows), so an
//! outside baseline can run the very same inputs.

use std::path::PathBuf;

use reclora_core::LanguageModel;
use reclora_core::prompt::HistoryRetriever;
use serde::Serialize;

use super::config::{FinetuneConfig, FinetuneMode};
use super::encode::PromptEncoder;
use super::error::FinetuneError;
use super::files::{RunFolder, write_json};
use super::plan::StepPlan;
use super::retriever::open_retriever;
use super::step::RowSource;
use crate::data::{PreparedDataset, Split};
use crate::error::CliError;

/// Options of `prompts`.
#[derive(Debug, clap::Args)]
pub struct PromptsArgs {
    /// A run folder made by `finetune`: its config decides mode, subset, template and K.
    #[arg(long)]
    pub run: PathBuf,
    /// Optimizer steps to write, from the first.
    #[arg(long, default_value_t = 2)]
    pub steps: usize,
    /// Test rows to write, from the first.
    #[arg(long, default_value_t = 32)]
    pub test_rows: usize,
    /// Output JSON file.
    #[arg(long)]
    pub out: PathBuf,
}

/// One supervised prompt: what the model reads and which positions predict which ids.
#[derive(Debug, Serialize)]
pub struct TrainPrompt {
    /// Train-split row.
    pub row: usize,
    /// Prompt ids followed by the answer id.
    pub input: Vec<u32>,
    /// `(position, target id)` pairs: the answer, then the end token.
    pub supervised: [(usize, u32); 2],
}

/// One scored prompt.
#[derive(Debug, Serialize)]
pub struct TestPrompt {
    /// Test-split row.
    pub row: usize,
    /// Prompt ids up to the assistant header.
    pub prompt: Vec<u32>,
    /// Whether the user liked the item (rating > 3).
    pub label: bool,
}

/// Everything a baseline needs to repeat a run's work.
#[derive(Debug, Serialize)]
pub struct PromptDump {
    /// The run's mode.
    pub mode: FinetuneMode,
    /// The positive and negative answer ids.
    pub answer_ids: [u32; 2],
    /// Right-padding id.
    pub pad_id: u32,
    /// Effective batches: each a list of micro-batches of prompts, sorted by length.
    pub steps: Vec<Vec<Vec<TrainPrompt>>>,
    /// The first test rows, in row order.
    pub test: Vec<TestPrompt>,
}

/// Builds the dump of `config`'s first `steps` steps and first `test_rows` test rows.
pub fn dump_prompts(
    config: &FinetuneConfig,
    data: &PreparedDataset,
    encoder: &PromptEncoder<'_>,
    retriever: Option<&dyn HistoryRetriever>,
    steps: usize,
    test_rows: usize,
) -> Result<PromptDump, FinetuneError> {
    let selection = config.history_selection();
    let source = RowSource {
        data,
        encoder,
        selection,
        retriever,
        crm: None,
        crm_logits: false,
        gate_mode: config.gate_mode,
    };
    let mut plan = StepPlan::new(config, data.split_len(Split::Train))?;
    let mut step_batches = Vec::new();
    for step in 0..steps.min(plan.total_steps()) {
        let chunks = source.length_sorted_chunks(&plan.rows(step), config.micro_batch)?;
        let micro: Vec<Vec<TrainPrompt>> = chunks
            .into_iter()
            .map(|chunk| {
                chunk
                    .into_iter()
                    .map(|(row, supervised)| TrainPrompt {
                        row,
                        input: supervised.input(),
                        supervised: supervised.supervised(),
                    })
                    .collect()
            })
            .collect();
        step_batches.push(micro);
    }
    let count = test_rows.min(data.split_len(Split::Test));
    let indices: Vec<usize> = (0..count).collect();
    let prompts = encoder.prompts(data, Split::Test, &indices, selection, retriever)?;
    let test = indices
        .into_iter()
        .zip(prompts)
        .map(|(row, prompt)| {
            Ok(TestPrompt {
                row,
                prompt,
                label: data.sample(Split::Test, row)?.label,
            })
        })
        .collect::<Result<Vec<_>, FinetuneError>>()?;
    let answers = encoder.answers();
    Ok(PromptDump {
        mode: config.mode,
        answer_ids: [answers.yes, answers.no],
        pad_id: encoder.pad_id(),
        steps: step_batches,
        test,
    })
}

/// `reclora-train prompts`.
pub fn run_prompts(args: PromptsArgs) -> Result<(), CliError> {
    let folder = RunFolder::new(&args.run);
    let config = folder.read_config()?;
    let data = PreparedDataset::open(&config.data)?;
    let retriever = match (&config.items, config.mode.retrieves()) {
        (Some(dir), true) => Some(open_retriever(dir, data.dataset())?),
        _ => None,
    };
    let tokenizer = LanguageModel::load_tokenizer(&config.model)?;
    let encoder = PromptEncoder::new(&tokenizer, config.template)?.with_layout(config.layout);
    let dump = dump_prompts(
        &config,
        &data,
        &encoder,
        retriever.as_deref(),
        args.steps,
        args.test_rows,
    )?;
    write_json(&args.out, &dump)?;
    eprintln!(
        "wrote {} steps and {} test prompts to {}",
        dump.steps.len(),
        dump.test.len(),
        args.out.display()
    );
    Ok(())
}
