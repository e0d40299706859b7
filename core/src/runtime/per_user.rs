//! [`GateMode::PerUser`](super::GateMode::PerUser): one target-free user representation
//! gates every candidate, so all candidates share one LoRA mixture and one prompt prefix
//! (profile and the last K interactions). The prefix runs once into a KV cache; each
//! candidate runs only its suffix (its part of the prompt and the chat tail), all of them
//! packed into one forward against the one stored prefix.

use burn::tensor::Tensor;

use crate::llm::ProjectionAdapter;
use crate::prompt::HistorySelection;

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
    fn user_representation(&self, user: &UserContext) -> Tensor<2> {
        let history = &user.history;
        let first = history.len().saturating_sub(PSEUDO_TARGETS);
        let samples = (first..history.len()).map(|at| {
            let row = (history[at].item - self.catalog.item_feature(0)) as usize;
            (row, &history[..at])
        });
        self.representations(user, samples).mean_dim(0)
    }

    /// Scores `rows` with one shared gate and a cached prompt prefix.
    pub(super) fn score_per_user(
        &self,
        user: &UserContext,
        rows: &[usize],
    ) -> Result<Vec<f32>, RuntimeError> {
        let spec = &self.manifest().prompt;
        let r_user = self.user_representation(user);
        let context = self.adapter(&r_user, 1)?;
        let adapter = Some(&context as &dyn ProjectionAdapter);

        let texts = self.prompt_texts(user, rows, HistorySelection::LastK(spec.history_k))?;
        let (prefix_ids, suffixes) = self.split_prefix(&texts)?;

        // RecLoRA-fused: DIN's logit of each candidate, target-aware over the whole history.
        let crm_logits = match self.crm_logit_weight {
            Some(_) => {
                let samples = rows.iter().map(|&row| (row, user.history.as_slice()));
                self.representations_and_logits(user, samples)?.1
            }
            None => None,
        };
        let prefix = self.llm.prefill(&prefix_ids, adapter)?;
        let logits =
            self.llm
                .last_position_logits_after(&prefix, &suffixes, &spec.answer_ids, adapter)?;
        let scores = logits
            .iter()
            .zip(&suffixes)
            .enumerate()
            .map(|(i, (pair, suffix))| {
                let tokens = prefix_ids.len() + suffix.len();
                let crm_logit = crm_logits.as_ref().map(|l| l[i]);
                self.p_yes(pair, tokens, crm_logit)
            })
            .collect();
        Ok(scores)
    }
}
