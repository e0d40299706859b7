//! One optimizer step's gradients: the answer-token loss of every micro-batch, each
//! back-propagated at once and summed into one set of gradients.

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Tensor;
use reclora_core::llm::LlamaModel;
use reclora_core::plora::Plora;
use reclora_core::prompt::{HistoryRetriever, HistorySelection};

use super::config::GateMode;
use super::config::TrainLoss;
use super::encode::{AnswerTokens, PromptEncoder, SupervisedRow};
use super::error::FinetuneError;
use super::frozen_crm::FrozenCrm;
use super::loss::{answer_loss_parts, batch_adapter, yes_no_loss_parts};
use crate::data::{PreparedDataset, Split};

/// Prompts of one forward/backward pass, with their R_c for a gated adapter.
#[derive(Debug, Clone)]
pub struct MicroBatch {
    /// Encoded rows.
    pub rows: Vec<SupervisedRow>,
    /// `[rows, d_c]` on the training device, constant; `None` for a static LoRA.
    pub r_c: Option<Tensor<2>>,
    /// DIN's click logits `[rows]`, constant; only for `reclora-fused`.
    pub crm_logits: Option<Tensor<1>>,
}

/// Where training rows come from.
#[derive(Clone, Copy)]
pub struct RowSource<'a> {
    /// The prepared dataset.
    pub data: &'a PreparedDataset,
    /// Prompt rendering and tokenization.
    pub encoder: &'a PromptEncoder<'a>,
    /// Which history prompts show.
    pub selection: HistorySelection,
    /// The LSMR retriever of the retrieved modes.
    pub retriever: Option<&'a dyn HistoryRetriever>,
    /// The frozen CRM, when the adapter is gated.
    pub crm: Option<&'a FrozenCrm>,
    /// Whether micro-batches also carry DIN's click logits (`reclora-fused`).
    pub crm_logits: bool,
    /// What the gates read.
    pub gate_mode: GateMode,
}

impl std::fmt::Debug for RowSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowSource")
            .field("selection", &self.selection)
            .field("retriever", &self.retriever.is_some())
            .field("crm", &self.crm.is_some())
            .finish_non_exhaustive()
    }
}

impl RowSource<'_> {
    /// Train rows `indices` cut into micro-batches of `micro_batch`, R_c on `device`.
    ///
    /// The rows are grouped by prompt length first: the step's gradient is a sum over
    /// rows, so the grouping does not change it, while similar lengths pad less.
    pub fn micro_batches(
        &self,
        indices: &[usize],
        micro_batch: usize,
        device: &burn::tensor::Device,
    ) -> Result<Vec<MicroBatch>, FinetuneError> {
        self.length_sorted_chunks(indices, micro_batch)?
            .into_iter()
            .map(|chunk| {
                let chunk_indices: Vec<usize> = chunk.iter().map(|(index, _)| *index).collect();
                let (r_c, crm_logits) = match self.crm {
                    Some(crm) => {
                        let (r_c, logits) = crm.gate_inputs(
                            self.data,
                            Split::Train,
                            &chunk_indices,
                            self.gate_mode,
                            self.crm_logits,
                            device,
                        )?;
                        (Some(r_c), logits)
                    }
                    None => (None, None),
                };
                Ok(MicroBatch {
                    rows: chunk.into_iter().map(|(_, row)| row).collect(),
                    r_c,
                    crm_logits,
                })
            })
            .collect()
    }

    /// The `(train index, row)` pairs of `indices`, sorted by prompt length (less padding)
    /// and cut into chunks of `micro_batch`.
    pub fn length_sorted_chunks(
        &self,
        indices: &[usize],
        micro_batch: usize,
    ) -> Result<Vec<Vec<(usize, SupervisedRow)>>, FinetuneError> {
        let rows = self.encoder.supervised_rows(
            self.data,
            Split::Train,
            indices,
            self.selection,
            self.retriever,
        )?;
        let mut by_length: Vec<(usize, SupervisedRow)> =
            indices.iter().copied().zip(rows).collect();
        by_length.sort_by_key(|(index, row)| (row.prompt.len(), *index));
        let mut chunks = Vec::with_capacity(by_length.len().div_ceil(micro_batch.max(1)));
        let mut rest = by_length.into_iter().peekable();
        while rest.peek().is_some() {
            chunks.push(rest.by_ref().take(micro_batch.max(1)).collect());
        }
        Ok(chunks)
    }
}

/// How a step's rows are read: the loss, the answer ids and the padding id.
#[derive(Debug, Clone, Copy)]
pub struct StepEncoding {
    /// The training loss.
    pub loss: TrainLoss,
    /// The answer and end ids.
    pub answers: AnswerTokens,
    /// Right-padding id.
    pub pad_id: u32,
}

/// One optimizer step's losses and gradients.
#[derive(Debug)]
pub struct StepResult {
    /// Mean loss over every term (LM: answer and end token; yes/no: one per row).
    pub loss: f64,
    /// Mean loss of the answer alone (LM: its full-vocabulary cross-entropy; yes/no: the
    /// two-way cross-entropy).
    pub answer_loss: f64,
    /// Gradients with respect to the adapter, accumulated over the micro-batches.
    pub grads: GradientsParams,
}

/// The step's mean loss and its gradients with respect to the adapter, accumulated over
/// `micro_batches`. Every micro-batch loss is divided by the step's total count of loss
/// terms (supervised tokens for the LM loss, rows for the yes/no loss), so the sum equals
/// one batch of all rows.
pub fn step_gradients(
    llm: &LlamaModel,
    plora: &Plora,
    micro_batches: &[MicroBatch],
    encoding: StepEncoding,
) -> Result<StepResult, FinetuneError> {
    let rows: usize = micro_batches.iter().map(|m| m.rows.len()).sum();
    let terms_per_row = match encoding.loss {
        TrainLoss::Lm => 2,
        TrainLoss::YesNo => 1,
    };
    let normalizer = (terms_per_row * rows).max(1) as f64;
    let device = llm.device();
    let mut accumulator = GradientsAccumulator::<Plora>::new();
    let mut loss_total = 0.0;
    let mut answer_total = 0.0;
    for micro in micro_batches {
        let adapter = batch_adapter(plora, micro.r_c.as_ref(), micro.rows.len(), &device)?;
        let parts = match encoding.loss {
            TrainLoss::Lm => answer_loss_parts(
                llm,
                Some(&adapter),
                &micro.rows,
                encoding.pad_id,
                normalizer,
            )?,
            TrainLoss::YesNo => yes_no_loss_parts(
                llm,
                Some(&adapter),
                &micro.rows,
                encoding.pad_id,
                encoding.answers,
                micro.crm_logits.clone().map(|logits| (plora, logits)),
                normalizer,
            )?,
        };
        loss_total += read_scalar(parts.total.clone())?;
        answer_total += parts.answer_nll_sum();
        let grads = GradientsParams::from_grads(parts.total.backward(), plora);
        accumulator.accumulate(plora, grads);
    }
    Ok(StepResult {
        loss: loss_total,
        answer_loss: answer_total / rows.max(1) as f64,
        grads: accumulator.grads(),
    })
}

/// The value of a one-element tensor.
pub fn read_scalar(tensor: Tensor<1>) -> Result<f64, FinetuneError> {
    tensor
        .try_into_data()
        .ok()
        .and_then(|data| data.try_into_vec::<f32>().ok())
        .and_then(|values| values.first().copied())
        .map(f64::from)
        .ok_or(FinetuneError::Readback)
}
