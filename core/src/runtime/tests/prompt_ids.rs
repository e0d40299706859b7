//! `Recommender::prompt_ids`: the token ids peers score are the ones the runtime runs.

use burn::tensor::Device;

use super::fixture::{write_bundle, write_bundle_laid_out};
use super::reference::user_a;
use crate::YesNoScore;
use crate::bundle::QuantScheme;
use crate::prompt::PromptLayout;
use crate::runtime::{Backend, GateMode, PromptIds, Recommender, RecommenderOptions};
use crate::tokenizer::byte_level_tokenizer;
use reclora_test_support::TempDir;

const CANDIDATES: [u32; 3] = [5, 34, 233];

#[test]
fn prompt_ids_are_what_scoring_runs() {
    let dir = TempDir::new("runtime-prompt-ids");
    let cpu = Device::flex();
    let sources = super::fixture::sources(&cpu);
    write_bundle(dir.path(), &sources, QuantScheme::F32);
    let options = RecommenderOptions {
        backend: Backend::Cpu { threads: 1 },
        ..RecommenderOptions::default()
    };
    let recommender = Recommender::open_bundle(dir.path(), options).expect("opens");
    let user = user_a();

    let per_sample = recommender
        .prompt_ids(&user.snapshot, &CANDIDATES, GateMode::PerSample)
        .expect("ids");
    let PromptIds::PerSample { prompts } = &per_sample else {
        panic!("per-sample ids: {per_sample:?}");
    };
    assert_eq!(prompts.len(), CANDIDATES.len());
    assert_eq!(
        per_sample.tokens_run(),
        prompts.iter().map(Vec::len).sum::<usize>()
    );

    let per_user = recommender
        .prompt_ids(&user.snapshot, &CANDIDATES, GateMode::PerUser)
        .expect("ids");
    let PromptIds::PerUser { prefix, suffixes } = &per_user else {
        panic!("user A has a history: {per_user:?}");
    };
    assert_eq!(suffixes.len(), CANDIDATES.len());
    let full = per_user.full_prompts();
    assert!(
        full.iter()
            .zip(suffixes)
            .all(|(f, s)| f.len() == prefix.len() + s.len())
    );
    assert_eq!(
        per_user.tokens_run(),
        prefix.len() + suffixes.iter().map(Vec::len).sum::<usize>()
    );

    // Without a history there is nothing to share: per-user falls back to per-sample.
    let mut fresh = user.snapshot.clone();
    fresh.events.clear();
    let ids = recommender
        .prompt_ids(&fresh, &CANDIDATES, GateMode::PerUser)
        .expect("ids");
    assert!(matches!(ids, PromptIds::PerSample { .. }), "{ids:?}");

    // The raw LLM on the per-sample ids gives finite P(yes) of the right count.
    let spec = &recommender.manifest().prompt;
    let logits = recommender
        .backend()
        .run(|| {
            recommender
                .llm()
                .last_position_logits(prompts, &spec.answer_ids, spec.pad_id)
        })
        .expect("logits");
    assert_eq!(logits.len(), CANDIDATES.len());
    for (pair, ids) in logits.iter().zip(prompts) {
        let p = YesNoScore::from_logits(pair[0], pair[1], ids.len()).p_yes;
        assert!(p.is_finite() && (0.0..=1.0).contains(&p), "{p}");
    }
}

/// In the candidate-last layout a candidate's own ids are its title line and the chat
/// tail, nothing else; the prefix is every prompt's first part.
#[test]
fn candidate_last_suffixes_are_the_title_line_and_the_chat_tail() {
    let dir = TempDir::new("runtime-prompt-ids-last");
    let cpu = Device::flex();
    let sources = super::fixture::sources(&cpu);
    write_bundle_laid_out(
        dir.path(),
        &sources,
        QuantScheme::F32,
        PromptLayout::CandidateLast,
        |_| {},
    );
    let options = RecommenderOptions {
        backend: Backend::Cpu { threads: 1 },
        ..RecommenderOptions::default()
    };
    let recommender = Recommender::open_bundle(dir.path(), options).expect("opens");
    let ids = recommender
        .prompt_ids(&user_a().snapshot, &CANDIDATES, GateMode::PerUser)
        .expect("ids");
    let PromptIds::PerUser { prefix, suffixes } = &ids else {
        panic!("user A has a history: {ids:?}");
    };
    let tokenizer = byte_level_tokenizer().expect("tokenizer");
    // Fixture titles: "Movie {raw id} ({1980 + row})"; rows of 5, 34, 233: 3, 7, 11.
    for (suffix, title) in
        suffixes
            .iter()
            .zip(["Movie 5 (1983)", "Movie 34 (1987)", "Movie 233 (1991)"])
    {
        let text = format!("Movie: ***{title}***<|im_end|>\n<|im_start|>assistant\n");
        assert_eq!(suffix, &tokenizer.encode(&text).expect("ids"), "{title}");
    }
    let prefix_text = tokenizer.decode(prefix).expect("text");
    assert!(
        prefix_text.ends_with("will like the movie below. You should ONLY tell me yes or no.\n"),
        "{prefix_text}"
    );
}
