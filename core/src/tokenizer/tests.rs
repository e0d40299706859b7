//! Unit tests on a hand-built vocabulary, and the golden SmolLM2 checks (which need files made by
//! `scripts/oracle/`; see `golden`).

#![allow(clippy::unwrap_used)]

use super::*;

mod golden;

/// A toy byte-level BPE vocabulary whose encodings can be worked out by hand.
fn toy_vocab(pre: Option<&str>) -> GgufVocab {
    let tokens = [
        ("<|endoftext|>", TOKEN_TYPE_CONTROL), // 0
        ("<|im_start|>", TOKEN_TYPE_CONTROL),  // 1
        ("<|im_end|>", TOKEN_TYPE_CONTROL),    // 2
        ("a", TOKEN_TYPE_NORMAL),              // 3
        ("b", TOKEN_TYPE_NORMAL),              // 4
        ("c", TOKEN_TYPE_NORMAL),              // 5
        ("Ġ", TOKEN_TYPE_NORMAL),              // 6  (space)
        ("1", TOKEN_TYPE_NORMAL),              // 7
        ("2", TOKEN_TYPE_NORMAL),              // 8
        ("3", TOKEN_TYPE_NORMAL),              // 9
        ("'", TOKEN_TYPE_NORMAL),              // 10
        ("S", TOKEN_TYPE_NORMAL),              // 11
        ("ab", TOKEN_TYPE_NORMAL),             // 12 = a + b     (rank 0)
        ("Ġab", TOKEN_TYPE_NORMAL),            // 13 = Ġ + ab    (rank 1)
        ("abc", TOKEN_TYPE_NORMAL),            // 14 = ab + c    (rank 2)
        ("ĠĠ", TOKEN_TYPE_NORMAL),             // 15 = Ġ + Ġ     (rank 3)
        ("12", TOKEN_TYPE_NORMAL),             // 16 = 1 + 2     (rank 4)
        ("123", TOKEN_TYPE_NORMAL),            // 17 = 12 + 3    (rank 5)
        ("'S", TOKEN_TYPE_NORMAL),             // 18 = ' + S     (rank 6)
        ("<think>", TOKEN_TYPE_USER_DEFINED),  // 19
        ("Ċ", TOKEN_TYPE_NORMAL),              // 20 (newline)
        ("ca", TOKEN_TYPE_NORMAL),             // 21 (no merge makes it)
    ];
    GgufVocab {
        model: "gpt2".to_owned(),
        pre: pre.map(str::to_owned),
        tokens: tokens.iter().map(|(t, _)| (*t).to_owned()).collect(),
        merges: ["a b", "Ġ ab", "ab c", "Ġ Ġ", "1 2", "12 3", "' S"]
            .map(str::to_owned)
            .to_vec(),
        token_types: tokens.iter().map(|(_, k)| *k).collect(),
        bos_token_id: Some(1),
        eos_token_id: Some(2),
        unknown_token_id: None,
        padding_token_id: Some(0),
        add_bos_token: Some(false),
    }
}

fn toy(pre: Option<&str>) -> TextTokenizer {
    TextTokenizer::from_gguf_vocab(&toy_vocab(pre)).unwrap()
}

fn build_err(vocab: &GgufVocab) -> TokenizerError {
    TextTokenizer::from_gguf_vocab(vocab).unwrap_err()
}

#[test]
fn toy_bpe_applies_merges_by_rank() {
    let tok = toy(None);
    assert_eq!(tok.encode("ab").unwrap(), [12]);
    assert_eq!(tok.encode(" ab").unwrap(), [13]);
    assert_eq!(tok.encode("abc ab").unwrap(), [14, 13]);
    assert_eq!(tok.encode("ba").unwrap(), [4, 3]);
    // "a b" (rank 0) wins; nothing then joins c + ab.
    assert_eq!(tok.encode("cab").unwrap(), [5, 12]);
    assert_eq!(tok.encode("a\nb").unwrap(), [3, 20, 4]);
    assert_eq!(tok.encode("").unwrap(), Vec::<u32>::new());
    // Bytes the vocabulary lacks are dropped, as in GPT-2 style tokenizer.json (no unk token);
    // what is left around them still merges.
    assert_eq!(tok.encode("axb").unwrap(), [12]);
    assert_eq!(tok.encode("x").unwrap(), Vec::<u32>::new());
}

#[test]
fn toy_metadata() {
    let tok = toy(Some("smollm"));
    assert_eq!(tok.vocab_size(), 22);
    assert_eq!(tok.bos_token_id(), Some(1));
    assert_eq!(tok.eos_token_id(), Some(2));
    assert_eq!(tok.token_to_id("Ġab"), Some(13));
    assert_eq!(tok.token_to_id("<|im_end|>"), Some(2));
    assert_eq!(tok.token_to_id("zz"), None);
    assert_eq!(tok.id_to_token(15).as_deref(), Some("ĠĠ"));
}

#[test]
fn special_and_user_tokens_are_single_ids_in_text() {
    let tok = toy(None);
    assert_eq!(
        tok.encode("a<|im_start|>b<|im_end|>").unwrap(),
        [3, 1, 4, 2]
    );
    assert_eq!(
        tok.encode("<|im_start|><|im_end|><|endoftext|>").unwrap(),
        [1, 2, 0]
    );
    assert_eq!(tok.encode(" ab<|im_end|> ab").unwrap(), [13, 2, 13]);
    assert_eq!(tok.encode("a<think>b").unwrap(), [3, 19, 4]);
    assert_eq!(tok.single_token_id("<|im_start|>").unwrap(), 1);
}

#[test]
fn decode_round_trips_and_keeps_special_tokens() {
    let tok = toy(Some("smollm"));
    assert_eq!(tok.decode(&[13, 14]).unwrap(), " ababc");
    assert_eq!(tok.decode(&[1, 3, 2]).unwrap(), "<|im_start|>a<|im_end|>");
    assert_eq!(tok.decode(&[]).unwrap(), "");
    let text = "abc ab  123\n'S";
    assert_eq!(tok.decode(&tok.encode(text).unwrap()).unwrap(), text);
    assert_eq!(
        tok.decode(&[3, 22]).unwrap_err(),
        TokenizerError::TokenIdOutOfRange {
            id: 22,
            vocab_size: 22
        }
    );
}

#[test]
fn encode_batch_matches_encode() {
    let tok = toy(Some("smollm"));
    let texts = ["ab", " ab", "abc ab", "", "<|im_start|>a"];
    let batch = tok.encode_batch(&texts).unwrap();
    let single: Vec<Vec<u32>> = texts.iter().map(|t| tok.encode(t).unwrap()).collect();
    assert_eq!(batch, single);
    let owned: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(tok.encode_batch(&owned).unwrap(), single);
}

#[test]
fn smollm_isolates_digits_but_gpt2_does_not() {
    // GPT-2 regex: "  1" -> " " + " 1" -> Ġ | Ġ 1 (no Ġ1 token).
    assert_eq!(toy(None).encode("  1").unwrap(), [6, 6, 7]);
    assert_eq!(toy(Some("gpt2")).encode("  1").unwrap(), [6, 6, 7]);
    assert_eq!(toy(Some("default")).encode("123").unwrap(), [17]);
    // Digits first: "  " + "1" -> ĠĠ | 1; every digit alone.
    let smollm = toy(Some("smollm"));
    assert_eq!(smollm.encode("  1").unwrap(), [15, 7]);
    assert_eq!(smollm.encode("123").unwrap(), [7, 8, 9]);
    assert_eq!(smollm.encode("a12b").unwrap(), [3, 7, 8, 4]);
}

#[test]
fn qwen2_and_llama3_split_digits_and_contractions() {
    let qwen2 = toy(Some("qwen2"));
    let llama3 = toy(Some("llama-bpe"));
    // \p{N} vs \p{N}{1,3}
    assert_eq!(qwen2.encode("123").unwrap(), [7, 8, 9]);
    assert_eq!(llama3.encode("123").unwrap(), [17]);
    assert_eq!(llama3.encode("1231").unwrap(), [17, 7]);
    // (?i:'s) keeps "'S" together; the GPT-2 regex is case sensitive.
    assert_eq!(qwen2.encode("'S").unwrap(), [18]);
    assert_eq!(llama3.encode("'S").unwrap(), [18]);
    assert_eq!(toy(None).encode("'S").unwrap(), [10, 11]);
    // Llama 3 ignores merges for a word already in the vocabulary.
    assert_eq!(llama3.encode("ca").unwrap(), [21]);
    assert_eq!(qwen2.encode("ca").unwrap(), [5, 3]);
    assert_eq!(toy(None).encode("ca").unwrap(), [5, 3]);
    // Both still recognise special tokens and spaces.
    assert_eq!(qwen2.encode("<|im_start|> ab").unwrap(), [1, 13]);
    assert_eq!(llama3.encode("abc ab").unwrap(), [14, 13]);
}

#[test]
fn pre_tokenizer_names() {
    use PreTokenizerKind as K;
    let cases = [
        (None, K::Gpt2),
        (Some("default"), K::Gpt2),
        (Some("gpt2"), K::Gpt2),
        (Some("smollm"), K::SmolLm),
        (Some("starcoder"), K::SmolLm),
        (Some("qwen2"), K::Qwen2),
        (Some("deepseek-r1-qwen"), K::Qwen2),
        (Some("llama-bpe"), K::Llama3),
        (Some("llama3"), K::Llama3),
        (Some("llama-v3"), K::Llama3),
    ];
    for (name, kind) in cases {
        assert_eq!(K::from_gguf_name(name).unwrap(), kind, "{name:?}");
    }
    for name in K::KNOWN_NAMES {
        assert!(K::from_gguf_name(Some(name)).is_ok(), "{name}");
    }
    assert_eq!(
        K::from_gguf_name(Some("SmolLM")).unwrap_err(),
        TokenizerError::UnsupportedPreTokenizer("SmolLM".to_owned())
    );
}

#[test]
fn single_token_id_checks_the_count() {
    let tok = toy(None);
    assert_eq!(tok.single_token_id("ab").unwrap(), 12);
    assert_eq!(tok.single_token_id(" ab").unwrap(), 13);
    assert_eq!(
        tok.single_token_id("abc ab").unwrap_err(),
        TokenizerError::NotSingleToken {
            text: "abc ab".to_owned(),
            ids: vec![14, 13]
        }
    );
    assert_eq!(
        tok.single_token_id("").unwrap_err(),
        TokenizerError::NotSingleToken {
            text: String::new(),
            ids: vec![]
        }
    );
    // The toy vocabulary cannot spell "Yes".
    assert!(matches!(
        tok.answer_token_ids(PromptTemplate::ChatMl),
        Err(TokenizerError::NotSingleToken { .. })
    ));
}

#[test]
fn vocab_errors_are_typed() {
    let mut v = toy_vocab(None);
    v.token_types.pop();
    assert_eq!(
        build_err(&v),
        TokenizerError::TokenTypeCountMismatch {
            tokens: 22,
            token_types: 21
        }
    );

    let mut v = toy_vocab(None);
    v.token_types.clear();
    assert!(matches!(
        build_err(&v),
        TokenizerError::TokenTypeCountMismatch { token_types: 0, .. }
    ));

    let v = toy_vocab(Some("falcon"));
    assert_eq!(
        build_err(&v),
        TokenizerError::UnsupportedPreTokenizer("falcon".to_owned())
    );

    let mut v = toy_vocab(None);
    v.model = "llama".to_owned();
    assert_eq!(
        build_err(&v),
        TokenizerError::UnsupportedModel("llama".to_owned())
    );

    let v = GgufVocab {
        model: "gpt2".to_owned(),
        ..GgufVocab::default()
    };
    assert_eq!(build_err(&v), TokenizerError::EmptyVocabulary);

    let mut v = toy_vocab(None);
    v.tokens[21] = "ab".to_owned();
    assert_eq!(
        build_err(&v),
        TokenizerError::DuplicateToken {
            token: "ab".to_owned(),
            first: 12,
            second: 21
        }
    );

    for bad in ["ab", "a ", " a"] {
        let mut v = toy_vocab(None);
        v.merges.push(bad.to_owned());
        assert_eq!(
            build_err(&v),
            TokenizerError::MalformedMerge {
                index: 7,
                merge: bad.to_owned()
            },
            "{bad:?}"
        );
    }

    let mut v = toy_vocab(None);
    v.merges.push("a c".to_owned());
    assert_eq!(
        build_err(&v),
        TokenizerError::MergeTokenNotInVocabulary {
            index: 7,
            merge: "a c".to_owned(),
            token: "ac".to_owned()
        }
    );
    let mut v = toy_vocab(None);
    v.merges.push("x a".to_owned());
    assert!(matches!(
        build_err(&v),
        TokenizerError::MergeTokenNotInVocabulary { token, .. } if token == "x"
    ));

    let mut v = toy_vocab(None);
    v.eos_token_id = Some(22);
    assert_eq!(
        build_err(&v),
        TokenizerError::SpecialTokenIdOutOfRange {
            which: "eos",
            id: 22,
            vocab_size: 22
        }
    );
}

#[test]
fn error_messages_name_the_problem() {
    let e = TokenizerError::NotSingleToken {
        text: " Yes".to_owned(),
        ids: vec![1, 2],
    };
    assert_eq!(
        e.to_string(),
        "text \" Yes\" encodes to 2 tokens [1, 2], expected exactly one"
    );
    let e = TokenizerError::UnsupportedPreTokenizer("x".to_owned());
    assert!(e.to_string().contains("\"x\""));
    assert!(e.to_string().contains("smollm"));
}

#[test]
fn from_file_reads_a_saved_tokenizer() {
    let tok = toy(Some("smollm"));
    let path_dir = reclora_test_support::TempDir::new("toy-tokenizer");
    let path = path_dir.join("file.json");
    std::fs::write(&path, tok.inner().to_string(false).unwrap()).unwrap();
    let loaded = TextTokenizer::from_file(&path);
    std::fs::remove_file(&path).unwrap();
    let loaded = loaded.unwrap();
    assert_eq!(loaded.bos_token_id(), None);
    assert_eq!(loaded.eos_token_id(), None);
    for text in ["abc ab", "  1", "a<|im_start|>b<think>", "123"] {
        assert_eq!(loaded.encode(text).unwrap(), tok.encode(text).unwrap());
    }
    let loaded = loaded.with_special_token_ids(Some(1), Some(2)).unwrap();
    assert_eq!(
        (loaded.bos_token_id(), loaded.eos_token_id()),
        (Some(1), Some(2))
    );
    assert!(matches!(
        loaded.with_special_token_ids(None, Some(99)),
        Err(TokenizerError::SpecialTokenIdOutOfRange { which: "eos", .. })
    ));
}

#[test]
fn from_file_missing_is_typed() {
    let err = TextTokenizer::from_file("/nonexistent/tokenizer.json").unwrap_err();
    assert!(
        matches!(&err, TokenizerError::LoadFile { path, .. } if path.ends_with("tokenizer.json")),
        "{err}"
    );
}

#[test]
fn chatml_template() {
    let t = PromptTemplate::ChatMl;
    assert_eq!(
        t.render("Hi?"),
        "<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(t.answer_words(), ("Yes", "No"));
    assert_eq!(t.to_string(), "chatml");
}

#[test]
fn plain_template() {
    let t = PromptTemplate::Plain;
    assert_eq!(t.render("Hi?"), "Hi?\nAnswer:");
    assert_eq!(t.answer_words(), (" Yes", " No"));
    assert_eq!(t.to_string(), "plain");
}

#[test]
fn template_names_round_trip() {
    for t in PromptTemplate::ALL {
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, format!("\"{}\"", t.as_str()));
        assert_eq!(serde_json::from_str::<PromptTemplate>(&json).unwrap(), t);
        assert_eq!(t.as_str().parse::<PromptTemplate>().unwrap(), t);
    }
    assert_eq!(
        "ChatML".parse::<PromptTemplate>().unwrap(),
        PromptTemplate::ChatMl
    );
    assert_eq!(
        "llama2".parse::<PromptTemplate>().unwrap_err(),
        TokenizerError::UnknownPromptTemplate("llama2".to_owned())
    );
    assert!(serde_json::from_str::<PromptTemplate>("\"ChatMl\"").is_err());
}
