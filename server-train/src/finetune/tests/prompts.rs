//! The prompt dump holds the micro-batches `finetune` trains on and the prompts `eval` scores.

use reclora_core::prompt::{HistorySelection, PromptLayout};
use reclora_core::tokenizer::PromptTemplate;

use super::fixture::{EarliestRetriever, TempDir, byte_tokenizer, synthetic_dataset, tiny_config};
use crate::data::Split;
use crate::finetune::config::FinetuneMode;
use crate::finetune::encode::PromptEncoder;
use crate::finetune::plan::StepPlan;
use crate::finetune::prompts::dump_prompts;

#[test]
fn the_dump_repeats_the_runs_micro_batches_and_test_prompts() {
    let root = TempDir::new("prompts");
    let data = synthetic_dataset(&root);
    let tokenizer = byte_tokenizer();
    let encoder = PromptEncoder::new(&tokenizer, PromptTemplate::ChatMl).expect("encoder");
    let retriever = EarliestRetriever;
    let config = tiny_config(FinetuneMode::LoraRetrieved, 0);
    let dump = dump_prompts(&config, &data, &encoder, Some(&retriever), 2, 5).expect("dump");
    assert_eq!(dump.steps.len(), 2);
    assert_eq!(dump.pad_id, encoder.pad_id());
    let answers = encoder.answers();
    assert_eq!(dump.answer_ids, [answers.yes, answers.no]);

    // Each step holds the plan's rows, shortest prompts first, in micro-batches.
    let mut plan = StepPlan::new(&config, data.split_len(Split::Train)).expect("plan");
    for (step, dumped) in dump.steps.iter().enumerate() {
        let mut planned = plan.rows(step);
        planned.sort_unstable();
        let mut rows: Vec<usize> = dumped.iter().flatten().map(|p| p.row).collect();
        rows.sort_unstable();
        assert_eq!(rows, planned, "step {step}");
        assert_eq!(dumped.len(), planned.len().div_ceil(config.micro_batch));
        assert!(dumped.iter().all(|m| m.len() <= config.micro_batch));
        let lengths: Vec<usize> = dumped.iter().flatten().map(|p| p.input.len()).collect();
        assert!(lengths.windows(2).all(|w| w[0] <= w[1]), "{lengths:?}");
        for prompt in dumped.iter().flatten() {
            let label = data.sample(Split::Train, prompt.row).expect("row").label;
            let answer = if label { answers.yes } else { answers.no };
            let ids = encoder
                .prompts(
                    &data,
                    Split::Train,
                    &[prompt.row],
                    config.mode.history(config.history_k),
                    Some(&retriever),
                )
                .expect("prompt");
            // The prompt, then the answer; the end token is predicted, never read.
            assert_eq!(prompt.input[..prompt.input.len() - 1], ids[0][..]);
            assert_eq!(prompt.input.last(), Some(&answer));
            assert_eq!(prompt.supervised[0], (prompt.input.len() - 2, answer));
            assert_eq!(prompt.supervised[1], (prompt.input.len() - 1, answers.end));
        }
    }

    assert_eq!(
        dump.test.iter().map(|t| t.row).collect::<Vec<_>>(),
        (0..5).collect::<Vec<_>>()
    );
    let selection = config.mode.history(config.history_k);
    for test in &dump.test {
        let ids = encoder
            .prompts(&data, Split::Test, &[test.row], selection, Some(&retriever))
            .expect("prompt");
        assert_eq!(test.prompt, ids[0]);
        assert_eq!(
            test.label,
            data.sample(Split::Test, test.row).expect("row").label
        );
    }
}

/// `--layout candidate-last` moves the note and the question before the candidate: the
/// same profile and history, the title alone on the last line before the chat tail.
#[test]
fn the_candidate_last_layout_ends_every_prompt_with_its_title() {
    let root = TempDir::new("prompts-layout");
    let data = synthetic_dataset(&root);
    let tokenizer = byte_tokenizer();
    let rella = PromptEncoder::new(&tokenizer, PromptTemplate::ChatMl).expect("encoder");
    let last = rella.clone().with_layout(PromptLayout::CandidateLast);
    let selection = HistorySelection::LastK(3);
    let rows: Vec<usize> = (0..4).collect();
    let decode = |ids: &[u32]| tokenizer.decode(ids).expect("text");
    let rella_ids = rella
        .prompts(&data, Split::Train, &rows, selection, None)
        .expect("rella");
    let last_ids = last
        .prompts(&data, Split::Train, &rows, selection, None)
        .expect("candidate-last");
    for ((&row, rella_ids), last_ids) in rows.iter().zip(&rella_ids).zip(&last_ids) {
        let item = data.sample(Split::Train, row).expect("row").item;
        let (title, _) = data.item_text(item).expect("title");
        let (rella_text, last_text) = (decode(rella_ids), decode(last_ids));
        let tail = format!("\nMovie: ***{title}***<|im_end|>\n<|im_start|>assistant\n");
        assert!(last_text.ends_with(&tail), "{last_text}");
        let history = |text: &str| {
            text.lines()
                .find(|line| line.starts_with("['0."))
                .map(str::to_owned)
        };
        assert_eq!(history(&rella_text), history(&last_text));
        assert!(history(&last_text).is_some());
        // Only the order moved: "below. " and "Movie: " are new, the "." after the title
        // went; the line breaks stay two.
        assert_eq!(rella_text.len() + 7 + 7 - 1, last_text.len());
    }
}
