//! Golden SmolLM2-135M-Instruct ids (tests/fixtures/tokenizer_golden.json, from
//! scripts/oracle/make_tokenizer_fixture.py) against both ways of building the tokenizer.
//!
//! - `RECLORA_TOKENIZER_GOLDEN`: the fixture (default: `<core>/../tests/fixtures/...`).
//! - `RECLORA_ASSETS`: where scripts/fetch-assets.sh put the real GGUF.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::super::*;

#[derive(Debug, Deserialize)]
struct Golden {
    vocab_size: usize,
    special_ids: HashMap<String, u32>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    text: String,
    ids: Vec<u32>,
}

impl Golden {
    fn case(&self, name: &str) -> &Case {
        self.cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("golden case {name} missing"))
    }
}

fn golden() -> Golden {
    let path = std::env::var_os("RECLORA_TOKENIZER_GOLDEN").map_or_else(
        || {
            std::env::var_os("CARGO_MANIFEST_DIR")
                .map_or_else(
                    || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
                    std::path::PathBuf::from,
                )
                .join("../tests/fixtures/tokenizer_golden.json")
        },
        PathBuf::from,
    );
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading golden fixture {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("parsing golden fixture {}: {e}", path.display()))
}

/// Checks `tok` against every golden case; returns how many matched (all, or it panics).
fn check_all(tok: &TextTokenizer, golden: &Golden, source: &str) -> usize {
    assert_eq!(tok.vocab_size(), golden.vocab_size, "{source}: vocab size");
    for (token, id) in &golden.special_ids {
        assert_eq!(tok.token_to_id(token), Some(*id), "{source}: {token}");
    }
    let mismatches: Vec<String> = golden
        .cases
        .iter()
        .filter_map(|case| {
            let ids = tok.encode(&case.text).unwrap();
            (ids != case.ids).then(|| {
                format!(
                    "{}: {:?}\n  got      {ids:?}\n  expected {:?}",
                    case.name, case.text, case.ids
                )
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{source}: {} of {} golden cases differ:\n{}",
        mismatches.len(),
        golden.cases.len(),
        mismatches.join("\n")
    );
    let texts: Vec<&str> = golden.cases.iter().map(|c| c.text.as_str()).collect();
    let expected: Vec<Vec<u32>> = golden.cases.iter().map(|c| c.ids.clone()).collect();
    assert_eq!(
        tok.encode_batch(&texts).unwrap(),
        expected,
        "{source}: batch"
    );
    for case in &golden.cases {
        // Bytes absent from the vocabulary are dropped, so only those cases cannot round-trip.
        if !case.name.contains("absent") {
            assert_eq!(
                tok.decode(&case.ids).unwrap(),
                case.text,
                "{source}: decode {}",
                case.name
            );
        }
    }
    golden.cases.len()
}

fn check_answers(tok: &TextTokenizer, golden: &Golden) {
    let id = |name: &str| match golden.case(name).ids.as_slice() {
        [id] => *id,
        ids => panic!("golden {name} is not one token: {ids:?}"),
    };
    assert_eq!(
        tok.answer_token_ids(PromptTemplate::ChatMl).unwrap(),
        (id("answer_yes"), id("answer_no"))
    );
    assert_eq!(
        tok.answer_token_ids(PromptTemplate::Plain).unwrap(),
        (id("answer_space_yes"), id("answer_space_no"))
    );
}

#[test]
fn golden_fixture_is_well_formed_and_matches_templates() {
    let golden = golden();
    assert!(golden.cases.len() >= 30, "{} cases", golden.cases.len());
    let prompt = &golden.case("movielens_prompt").text;
    assert_eq!(
        golden.case("chatml_movielens").text,
        PromptTemplate::ChatMl.render(prompt)
    );
    assert_eq!(
        golden.case("plain_movielens").text,
        PromptTemplate::Plain.render(prompt)
    );
    assert_eq!(
        golden.case("chatml_short").text,
        PromptTemplate::ChatMl.render("Is Heat (1995) a good movie?")
    );
    for name in [
        "answer_yes",
        "answer_no",
        "answer_space_yes",
        "answer_space_no",
    ] {
        assert_eq!(golden.case(name).ids.len(), 1, "{name}");
    }
    let chat = &golden.case("chatml_movielens").ids;
    let (im_start, im_end) = (
        golden.special_ids["<|im_start|>"],
        golden.special_ids["<|im_end|>"],
    );
    assert_eq!(chat.iter().filter(|&&id| id == im_start).count(), 2);
    assert_eq!(chat.iter().filter(|&&id| id == im_end).count(), 1);
    assert_eq!(chat.first(), Some(&im_start));
}

/// The real SmolLM2 GGUF; fails (never skips) when the asset is missing.
fn smollm2_vocab() -> GgufVocab {
    let path = std::env::var_os("RECLORA_ASSETS")
        .map_or_else(
            || {
                std::env::var_os("CARGO_MANIFEST_DIR")
                    .map_or_else(
                        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
                        std::path::PathBuf::from,
                    )
                    .join("../assets")
            },
            PathBuf::from,
        )
        .join("smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "missing {}: run scripts/fetch-assets.sh (or set RECLORA_ASSETS)",
        path.display()
    );
    let file = crate::gguf::GgufFile::open(&path).expect("GGUF opens");
    crate::llm::gguf_vocab(&file).expect("tokenizer metadata")
}

#[test]
fn gguf_rebuild_matches_golden() {
    let vocab = smollm2_vocab();
    let golden = golden();
    let tok = TextTokenizer::from_gguf_vocab(&vocab).expect("rebuilds");
    assert_eq!(tok.bos_token_id(), vocab.bos_token_id);
    assert_eq!(tok.eos_token_id(), vocab.eos_token_id);
    let n = check_all(&tok, &golden, "GGUF rebuild");
    assert!(n >= 25);
    check_answers(&tok, &golden);
}

#[test]
fn tokenizer_json_round_trip_matches_golden() {
    let rebuilt = TextTokenizer::from_gguf_vocab(&smollm2_vocab()).expect("rebuilds");
    let dir_dir = reclora_test_support::TempDir::new("tok");
    let dir = dir_dir.path().to_path_buf();
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("tokenizer.json");
    rebuilt
        .inner()
        .save(&path, false)
        .expect("saves tokenizer.json");
    let tok = TextTokenizer::from_file(&path).expect("loads tokenizer.json");
    std::fs::remove_dir_all(&dir).ok();
    let golden = golden();
    let n = check_all(&tok, &golden, "tokenizer.json");
    assert!(n >= 25);
    check_answers(&tok, &golden);
}
