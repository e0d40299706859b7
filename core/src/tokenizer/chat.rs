//! Prompt templates: how a RecLoRA prompt is wrapped before tokenization, and which answer words
//! the model's next-token logits are read at.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::TokenizerError;

/// How a prompt is laid out for the model. Serialized as "chatml" / "plain".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptTemplate {
    /// One ChatML user turn and an open assistant turn, no system message and no BOS:
    /// `<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n`. Answers "Yes" / "No".
    ChatMl,
    /// The bare prompt followed by `\nAnswer:`. Answers " Yes" / " No".
    Plain,
}

impl PromptTemplate {
    /// Both templates, for iteration.
    pub const ALL: [Self; 2] = [Self::ChatMl, Self::Plain];

    /// The full model input for `prompt`. The prompt is inserted verbatim: special-token text
    /// inside it (`<|im_end|>`) is not escaped and would tokenize as the special token.
    pub fn render(&self, prompt: &str) -> String {
        match self {
            Self::ChatMl => {
                format!("<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n")
            }
            Self::Plain => format!("{prompt}\nAnswer:"),
        }
    }

    /// The (positive, negative) answer texts, each expected to be a single token.
    pub fn answer_words(&self) -> (&'static str, &'static str) {
        match self {
            Self::ChatMl => ("Yes", "No"),
            Self::Plain => (" Yes", " No"),
        }
    }

    /// The serialized name: "chatml" or "plain".
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ChatMl => "chatml",
            Self::Plain => "plain",
        }
    }
}

impl fmt::Display for PromptTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PromptTemplate {
    type Err = TokenizerError;

    /// "chatml" or "plain", ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|template| template.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| TokenizerError::UnknownPromptTemplate(s.to_owned()))
    }
}
