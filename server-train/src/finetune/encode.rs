//! From samples to token ids: the ReLLa prompt wrapped by the chat template, and the
//! supervised continuation (the answer word, then the end-of-turn token).

use reclora_core::prompt::{HistoryRetriever, HistorySelection, PromptLayout};
use reclora_core::tokenizer::{PromptTemplate, TextTokenizer};

use super::error::FinetuneError;
use crate::data::{PreparedDataset, Split};

/// The ids a row is supervised with and scored by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerTokens {
    /// The positive answer ("Yes").
    pub yes: u32,
    /// The negative answer ("No").
    pub no: u32,
    /// What ends the answer: `<|im_end|>` for ChatML, EOS for the plain template.
    pub end: u32,
}

/// One training row: its prompt ids and the two tokens that must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisedRow {
    /// The wrapped prompt, up to and including the assistant header.
    pub prompt: Vec<u32>,
    /// The answer token, then the end token.
    pub target: [u32; 2],
}

impl SupervisedRow {
    /// The row for `label` after `prompt`.
    pub fn new(prompt: Vec<u32>, label: bool, answers: AnswerTokens) -> Self {
        let answer = if label { answers.yes } else { answers.no };
        Self {
            prompt,
            target: [answer, answers.end],
        }
    }

    /// What the model reads: the prompt and the answer token (the end token is only
    /// predicted, never read).
    pub fn input(&self) -> Vec<u32> {
        let mut ids = Vec::with_capacity(self.prompt.len() + 1);
        ids.extend_from_slice(&self.prompt);
        ids.push(self.target[0]);
        ids
    }

    /// `(position, target)` of every supervised token: the last prompt position predicts
    /// the answer, the answer's position predicts the end token. No prompt token is a
    /// target.
    pub fn supervised(&self) -> [(usize, u32); 2] {
        let last = self.prompt.len() - 1;
        [(last, self.target[0]), (last + 1, self.target[1])]
    }
}

/// Renders, tokenizes and labels samples of a prepared dataset.
#[derive(Debug, Clone)]
pub struct PromptEncoder<'a> {
    tokenizer: &'a TextTokenizer,
    template: PromptTemplate,
    layout: PromptLayout,
    answers: AnswerTokens,
}

impl<'a> PromptEncoder<'a> {
    /// Looks up the answer words (single tokens) and the end token of `template`.
    pub fn new(
        tokenizer: &'a TextTokenizer,
        template: PromptTemplate,
    ) -> Result<Self, FinetuneError> {
        let (yes, no) = tokenizer.answer_token_ids(template)?;
        let end = match template {
            PromptTemplate::ChatMl => tokenizer.token_to_id("<|im_end|>"),
            PromptTemplate::Plain => tokenizer.eos_token_id(),
        }
        .ok_or(FinetuneError::NoEndToken {
            template: template.as_str(),
        })?;
        Ok(Self {
            tokenizer,
            template,
            layout: PromptLayout::Rella,
            answers: AnswerTokens { yes, no, end },
        })
    }

    /// The same encoder with the candidate placed by `layout`.
    pub fn with_layout(self, layout: PromptLayout) -> Self {
        Self { layout, ..self }
    }

    /// The answer and end ids.
    pub fn answers(&self) -> AnswerTokens {
        self.answers
    }

    /// The id right-padding uses (EOS, as [`reclora_core::LanguageModel`] does).
    pub fn pad_id(&self) -> u32 {
        self.tokenizer.eos_token_id().unwrap_or(0)
    }

    /// Wrapped prompt ids of samples `indices` of `split`.
    pub fn prompts(
        &self,
        data: &PreparedDataset,
        split: Split,
        indices: &[usize],
        selection: HistorySelection,
        retriever: Option<&dyn HistoryRetriever>,
    ) -> Result<Vec<Vec<u32>>, FinetuneError> {
        let texts = indices
            .iter()
            .map(|&index| {
                let prompt = data.prompt_in(self.layout, split, index, selection, retriever)?;
                Ok(self.template.render(&prompt))
            })
            .collect::<Result<Vec<_>, FinetuneError>>()?;
        Ok(self.tokenizer.encode_batch(&texts)?)
    }

    /// Training rows of samples `indices` of `split`, labelled from the dataset.
    pub fn supervised_rows(
        &self,
        data: &PreparedDataset,
        split: Split,
        indices: &[usize],
        selection: HistorySelection,
        retriever: Option<&dyn HistoryRetriever>,
    ) -> Result<Vec<SupervisedRow>, FinetuneError> {
        let prompts = self.prompts(data, split, indices, selection, retriever)?;
        indices
            .iter()
            .zip(prompts)
            .map(|(&index, prompt)| {
                let label = data.sample(split, index)?.label;
                Ok(SupervisedRow::new(prompt, label, self.answers))
            })
            .collect()
    }
}
