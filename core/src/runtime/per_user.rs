//! [`GateMode::PerUser`](super::GateMode::PerUser): one target-free user representation
//! gates every candidate, so all candidates share one LoRA mixture and one prompt prefix
//! (profile and the last K interactions). The prefix runs once into a KV cache; each
//! candidate runs only its suffix (target sentence, question, chat tail), batched.

use burn::tensor::{Int, Tensor, TensorData};

use crate::llm::{AttentionMask, KvCache, LlmError, ProjectionAdapter, YesNoScore};
use crate::prompt::HistorySelection;
use crate::prompt::{HistoryEvent, ItemTitles, PromptError, PromptInput, select_history};

use super::error::RuntimeError;
use super::recommender::Recommender;
use super::user::UserContext;

/// Past interactions used as pseudo-targets for the user representation.
pub const PSEUDO_TARGETS: usize = 8;

impl Recommender {
    /// The user representation: the mean of R_c over the user's last
    /// [`PSEUDO_TARGETS`] interactions, each taken as the target with the events before it
    /// as its past. It depends on no candidate.
    ///
    /// # Shapes
    /// - returns `[1, representation_dim]`
    fn user_representation(&self, user: &UserContext) -> Result<Tensor<2>, RuntimeError> {
        let history = &user.history;
        let first = history.len().saturating_sub(PSEUDO_TARGETS);
        let samples: Vec<(usize, &[HistoryEvent])> = (first..history.len())
            .map(|at| {
                let row = (history[at].item - self.catalog.item_feature(0)) as usize;
                (row, &history[..at])
            })
            .collect();
        let batch = self.din_batch(user, samples.into_iter());
        let r_c = self
            .bundle
            .crm()
            .forward_representation(&crate::crm::to_din_input(&batch, &self.backend.device));
        Ok(r_c.mean_dim(0))
    }

    /// Scores `rows` with one shared gate and a cached prompt prefix.
    pub(super) fn score_per_user(
        &self,
        user: &UserContext,
        rows: &[usize],
    ) -> Result<Vec<f32>, RuntimeError> {
        let spec = &self.manifest().prompt;
        let r_user = self.user_representation(user)?;
        let context = self.adapter(&r_user, 1)?;
        let adapter = Some(&context as &dyn ProjectionAdapter);

        let shown = select_history(
            &user.history,
            0,
            HistorySelection::LastK(spec.history_k),
            None,
        )?;
        let title = |item: u32| {
            self.catalog
                .title(item)
                .map(str::to_owned)
                .ok_or(PromptError::UnknownItem { item })
        };
        let history = shown
            .iter()
            .map(|e| Ok((title(e.item)?, e.rating)))
            .collect::<Result<Vec<_>, PromptError>>()?;
        let texts = rows
            .iter()
            .map(|&row| {
                Ok(self.render(&PromptInput {
                    profile: user.profile.clone(),
                    history: history.clone(),
                    target_title: title(self.catalog.item_feature(row))?,
                }))
            })
            .collect::<Result<Vec<_>, PromptError>>()?;
        // The prefix ends with the line break after the history list: everything after
        // it names the candidate.
        let cut = texts[0]
            .rfind("\nBased on the ")
            .map(|at| at + 1)
            .ok_or(RuntimeError::PrefixSplit)?;
        let prefix_ids = self.tokenizer.encode(&texts[0][..cut])?;
        let suffixes = self
            .tokenizer
            .encode_batch(&texts)?
            .into_iter()
            .map(|ids| {
                ids.strip_prefix(prefix_ids.as_slice())
                    .filter(|rest| !rest.is_empty())
                    .map(<[u32]>::to_vec)
                    .ok_or(RuntimeError::PrefixSplit)
            })
            .collect::<Result<Vec<_>, _>>()?;

        let limit = self.llm.config.max_position_embeddings;
        let longest = suffixes.iter().map(Vec::len).max().unwrap_or(0);
        if prefix_ids.len() + longest > limit {
            return Err(LlmError::BadRequest {
                reason: format!(
                    "prompt of {} tokens exceeds the model's {limit} positions",
                    prefix_ids.len() + longest
                ),
            }
            .into());
        }
        self.llm.check_ids(&prefix_ids)?;
        let device = &self.backend.device;
        let mut prefix_cache = KvCache::new(self.llm.config.num_layers);
        let prefix_tokens = id_tensor(&prefix_ids, 1, prefix_ids.len(), device);
        self.llm.forward_hidden(
            prefix_tokens,
            &AttentionMask::causal(1, prefix_ids.len(), 0),
            Some(&mut prefix_cache),
            adapter,
        );

        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| (suffixes[i].len(), i));
        let pad = spec.pad_id;
        let mut scores = vec![0.0; rows.len()];
        for chunk in order.chunks(self.options.batch_size) {
            let batch = chunk.len();
            let seq = chunk.iter().map(|&i| suffixes[i].len()).max().unwrap_or(1);
            let past = prefix_ids.len();
            let mut ids = Vec::with_capacity(batch * seq);
            let mut key_valid = Vec::with_capacity(batch * (past + seq));
            for &i in chunk {
                let suffix = &suffixes[i];
                self.llm.check_ids(suffix)?;
                ids.extend(suffix.iter().copied());
                ids.extend(std::iter::repeat_n(pad, seq - suffix.len()));
                key_valid.extend(std::iter::repeat_n(true, past));
                key_valid.extend((0..seq).map(|j| j < suffix.len()));
            }
            let mask = AttentionMask::with_key_validity(batch, seq, past, key_valid)
                .ok_or(RuntimeError::PrefixSplit)?;
            let mut cache = prefix_cache.repeat_batch(batch);
            let hidden = self.llm.forward_hidden(
                id_tensor(&ids, batch, seq, device),
                &mask,
                Some(&mut cache),
                adapter,
            );
            let last: Vec<usize> = chunk.iter().map(|&i| suffixes[i].len() - 1).collect();
            let normed = self.llm.normed_at(hidden, &last);
            let logits = self.llm.logits_for_tokens(normed, &spec.answer_ids)?;
            let values = logits
                .try_into_data()
                .map_err(|_| RuntimeError::Readback)?
                .try_into_vec::<f32>()
                .map_err(|_| RuntimeError::Readback)?;
            for (&i, pair) in chunk.iter().zip(values.chunks_exact(2)) {
                let tokens = past + suffixes[i].len();
                scores[i] = YesNoScore::from_logits(pair[0], pair[1], tokens).p_yes;
            }
        }
        Ok(scores)
    }
}

fn id_tensor(
    ids: &[u32],
    batch: usize,
    seq: usize,
    device: &burn::tensor::Device,
) -> Tensor<2, Int> {
    let values: Vec<i64> = ids.iter().map(|&id| i64::from(id)).collect();
    Tensor::from_data(TensorData::new(values, [batch, seq]), device)
}
