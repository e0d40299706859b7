//! The token ids a scoring call runs, without running them: what an outside peer (the
//! benchmark tool's llama.cpp and PyTorch peers) needs to score the very same prompts.

use crate::llm::LlamaModel;
use crate::prompt::HistorySelection;

use super::error::RuntimeError;
use super::options::GateMode;
use super::recommender::Recommender;
use super::user::{UserContext, UserSnapshot};

/// The prompts of one slate, as [`Recommender::score_user`] would run them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptIds {
    /// One full prompt per candidate, in candidate order ([`GateMode::PerSample`], or
    /// [`GateMode::PerUser`] for a user without history).
    PerSample {
        /// Token ids of each candidate's prompt.
        prompts: Vec<Vec<u32>>,
    },
    /// One shared prefix run once, then each candidate's own suffix
    /// ([`GateMode::PerUser`]); `prefix + suffixes[i]` is candidate i's full prompt.
    PerUser {
        /// The shared prefix (profile and the last K interactions).
        prefix: Vec<u32>,
        /// Each candidate's suffix, in candidate order.
        suffixes: Vec<Vec<u32>>,
    },
}

impl PromptIds {
    /// Tokens the LLM runs for the slate: every prompt, or the prefix once plus every
    /// suffix.
    pub fn tokens_run(&self) -> usize {
        match self {
            Self::PerSample { prompts } => prompts.iter().map(Vec::len).sum(),
            Self::PerUser { prefix, suffixes } => {
                prefix.len() + suffixes.iter().map(Vec::len).sum::<usize>()
            }
        }
    }

    /// Each candidate's full prompt.
    pub fn full_prompts(&self) -> Vec<Vec<u32>> {
        match self {
            Self::PerSample { prompts } => prompts.clone(),
            Self::PerUser { prefix, suffixes } => suffixes
                .iter()
                .map(|suffix| [prefix.as_slice(), suffix].concat())
                .collect(),
        }
    }
}

impl Recommender {
    /// The bundle's LLM as the recommender runs it (in place on the CPU).
    pub fn llm(&self) -> &LlamaModel {
        &self.llm
    }

    /// The token ids `score_user(user, candidates)` would run under `mode` (whatever the
    /// recommender's own gate mode), in candidate order.
    pub fn prompt_ids(
        &self,
        user: &UserSnapshot,
        candidates: &[u32],
        mode: GateMode,
    ) -> Result<PromptIds, RuntimeError> {
        let rows = candidates
            .iter()
            .map(|&item_id| {
                self.catalog
                    .row(item_id)
                    .ok_or(RuntimeError::UnknownCandidate { item_id })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let user = UserContext::new(
            user,
            &self.schema,
            &self.catalog,
            self.features.rating_levels,
        )?;
        let k = self.manifest().prompt.history_k;
        if mode == GateMode::PerUser && !user.history.is_empty() && !rows.is_empty() {
            let texts = self.prompt_texts(&user, &rows, HistorySelection::LastK(k))?;
            let (prefix, suffixes) = self.split_prefix(&texts)?;
            return Ok(PromptIds::PerUser { prefix, suffixes });
        }
        let texts = self.prompt_texts(&user, &rows, HistorySelection::Retrieved { k })?;
        Ok(PromptIds::PerSample {
            prompts: self.tokenizer.encode_batch(&texts)?,
        })
    }

    /// Splits per-user prompts (same prefix, one per candidate) into the prefix's ids and
    /// each prompt's remaining ids. The prefix ends with the line break before the first
    /// part that names the candidate: after the history list in ReLLa's layout, before the
    /// last line in the candidate-last one.
    pub(super) fn split_prefix(
        &self,
        texts: &[String],
    ) -> Result<(Vec<u32>, Vec<Vec<u32>>), RuntimeError> {
        let first = texts.first().ok_or(RuntimeError::PrefixSplit)?;
        let cut = self
            .rella
            .candidate_start(first)
            .ok_or(RuntimeError::PrefixSplit)?;
        let prefix_ids = self.tokenizer.encode(&first[..cut])?;
        let suffixes = self
            .tokenizer
            .encode_batch(texts)?
            .into_iter()
            .map(|ids| {
                ids.strip_prefix(prefix_ids.as_slice())
                    .filter(|rest| !rest.is_empty())
                    .map(<[u32]>::to_vec)
                    .ok_or(RuntimeError::PrefixSplit)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((prefix_ids, suffixes))
    }
}
