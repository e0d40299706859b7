//! The burn LLM against Hugging Face transformers (float32, same dequantized weights) on
//! the real SmolLM2-135M-Instruct. Fixture: scripts/oracle/make_llm_fixture.py.

use reclora_core::LanguageModel;
use reclora_core::tokenizer::PromptTemplate;
use reclora_tests::{f32_array, max_abs_diff, read_fixture, u32_array};

fn model() -> &'static LanguageModel {
    crate::cpu_smollm2()
}

#[test]
fn prompt_tokenization_matches_hf() {
    let golden = read_fixture("llm_golden.json");
    for prompt in golden["prompts"].as_array().expect("prompts") {
        let ids = model()
            .tokenize(prompt["text"].as_str().expect("text"))
            .expect("tokenizes");
        assert_eq!(ids, u32_array(&prompt["input_ids"]), "{}", prompt["name"]);
    }
}

#[test]
fn the_tokenizer_alone_matches_hf_without_loading_weights() {
    let golden = read_fixture("llm_golden.json");
    let tokenizer =
        LanguageModel::load_tokenizer(&reclora_tests::smollm2_gguf()).expect("tokenizer");
    for prompt in golden["prompts"].as_array().expect("prompts") {
        let ids = tokenizer
            .encode(prompt["text"].as_str().expect("text"))
            .expect("tokenizes");
        assert_eq!(ids, u32_array(&prompt["input_ids"]), "{}", prompt["name"]);
    }
    assert!(matches!(
        LanguageModel::load_tokenizer(std::path::Path::new("Cargo.toml")),
        Err(reclora_core::LlmError::UnknownModelFormat { .. })
    ));
}

#[test]
fn last_position_logits_and_p_yes_match_hf() {
    let golden = read_fixture("llm_golden.json");
    let token_ids = u32_array(&golden["token_ids"]);
    assert!(token_ids.len() >= 20);
    let prompts = golden["prompts"].as_array().expect("prompts");
    // One batched forward over prompts of different lengths exercises the padding mask.
    let rows: Vec<Vec<u32>> = prompts.iter().map(|p| u32_array(&p["input_ids"])).collect();
    let logits = model()
        .last_position_logits(&rows, &token_ids)
        .expect("forward");
    for (prompt, got) in prompts.iter().zip(&logits) {
        let want = f32_array(&prompt["logits"]);
        let diff = max_abs_diff(got, &want);
        eprintln!("{}: max |Δlogit| = {diff:.2e}", prompt["name"]);
        assert!(diff <= 1e-3, "{}: max |Δlogit| = {diff}", prompt["name"]);
    }
    for template in [PromptTemplate::ChatMl, PromptTemplate::Plain] {
        let chat = template == PromptTemplate::ChatMl;
        let group: Vec<&serde_json::Value> = prompts
            .iter()
            .filter(|p| p["chat"].as_bool() == Some(chat))
            .collect();
        let texts: Vec<&str> = group
            .iter()
            .map(|p| p["prompt"].as_str().expect("prompt"))
            .collect();
        let scores = model().score_yes_no(&texts, template).expect("scores");
        for (prompt, score) in group.iter().zip(scores) {
            let p_yes = prompt["p_yes"].as_f64().expect("p_yes") as f32;
            let logit_yes = prompt["logit_yes"].as_f64().expect("logit") as f32;
            let logit_no = prompt["logit_no"].as_f64().expect("logit") as f32;
            eprintln!(
                "{}: |Δp_yes| = {:.2e}",
                prompt["name"],
                (score.p_yes - p_yes).abs()
            );
            assert!((score.p_yes - p_yes).abs() <= 1e-3, "{}", prompt["name"]);
            assert!(
                (score.logit_yes - logit_yes).abs() <= 1e-3,
                "{}",
                prompt["name"]
            );
            assert!(
                (score.logit_no - logit_no).abs() <= 1e-3,
                "{}",
                prompt["name"]
            );
            assert_eq!(
                score.tokens,
                prompt["input_ids"].as_array().map_or(0, Vec::len)
            );
        }
    }
}

#[test]
fn mean_nll_matches_hf() {
    let golden = read_fixture("llm_golden.json");
    let ids = model()
        .tokenize(golden["nll"]["text"].as_str().expect("text"))
        .expect("tokenizes");
    assert_eq!(ids, u32_array(&golden["nll"]["input_ids"]));
    let nll = model().mean_nll(&ids).expect("nll");
    let want = golden["nll"]["mean_nll"].as_f64().expect("nll");
    eprintln!("mean NLL {nll:.5} vs HF {want:.5}");
    assert!((nll - want).abs() <= 0.02, "NLL {nll} vs HF {want}");
}

#[test]
fn greedy_generation_names_rome() {
    let golden = read_fixture("llm_golden.json");
    let ids = model()
        .tokenize("The capital of Italy is")
        .expect("tokenizes");
    let generated = model().generate_greedy(&ids, 4).expect("generates");
    assert_eq!(generated, u32_array(&golden["generate"]["greedy_ids"]));
    let text = model().tokenizer().decode(&generated).expect("decodes");
    assert!(text.starts_with(" Rome"), "continuation was {text:?}");
}
