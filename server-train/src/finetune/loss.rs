//! The causal-LM loss on the answer tokens only, through the frozen LLM and the adapter.

use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use reclora_core::LlmError;
use reclora_core::llm::{LlamaModel, PaddedBatch, ProjectionAdapter};
use reclora_core::plora::{LoraContext, Plora};

use super::encode::{AnswerTokens, SupervisedRow};
use super::error::FinetuneError;

/// The adapter of one batch: gates from R_c for a gated PLoRA, α ≡ 1 for a static LoRA.
///
/// # Shapes
/// - `r_c`: `[batch, d_c]`, required when the PLoRA is gated
pub fn batch_adapter<'a>(
    plora: &'a Plora,
    r_c: Option<&Tensor<2>>,
    batch: usize,
    device: &Device,
) -> Result<LoraContext<'a>, FinetuneError> {
    let gates = match r_c {
        Some(r_c) if plora.config.is_gated() => plora.gates(r_c)?,
        _ => plora.static_gates(batch, device)?,
    };
    Ok(LoraContext::new(plora, gates)?)
}

/// Every supervised `(flat index into [batch·seq], target id)` of a right-padded batch.
pub fn supervised_targets(rows: &[SupervisedRow], seq: usize) -> Vec<(usize, u32)> {
    rows.iter()
        .enumerate()
        .flat_map(|(row, sample)| {
            sample
                .supervised()
                .map(|(position, target)| (row * seq + position, target))
        })
        .collect()
}

/// Σ over rows and supervised tokens of −log p(target | preceding tokens), divided by
/// `normalizer` (the supervised-token count of the whole optimizer step, so micro-batch
/// losses add up to the step's mean).
///
/// Rows are right-padded with `pad_id`; only the answer and end-token targets enter the
/// loss, and only at their positions are the final norm and the vocabulary projection
/// computed.
///
/// # Shapes
/// - returns `[1]`
pub fn answer_loss(
    llm: &LlamaModel,
    adapter: Option<&dyn ProjectionAdapter>,
    rows: &[SupervisedRow],
    pad_id: u32,
    normalizer: f64,
) -> Result<Tensor<1>, FinetuneError> {
    Ok(answer_loss_parts(llm, adapter, rows, pad_id, normalizer)?.total)
}

/// [`answer_loss`] (or [`yes_no_loss_parts`]) and its per-token terms.
#[derive(Debug)]
pub struct LossParts {
    /// The loss to differentiate, `[1]`.
    pub total: Tensor<1>,
    /// −log p of each supervised token (not normalized), row by row: for the LM loss the
    /// answer, then the end token; for the yes/no loss one two-way term per row.
    pub token_nll: Vec<f64>,
    /// Terms per row in `token_nll` (2 or 1).
    pub terms_per_row: usize,
}

impl LossParts {
    /// Σ −log p(answer) over the rows: the part that decides the ranking (the end token
    /// after it is learned almost at once and halves the reported mean).
    pub fn answer_nll_sum(&self) -> f64 {
        self.token_nll
            .iter()
            .step_by(self.terms_per_row.max(1))
            .sum()
    }
}

/// [`answer_loss`], also returning every supervised token's −log p.
pub fn answer_loss_parts(
    llm: &LlamaModel,
    adapter: Option<&dyn ProjectionAdapter>,
    rows: &[SupervisedRow],
    pad_id: u32,
    normalizer: f64,
) -> Result<LossParts, FinetuneError> {
    if let Some(row) = rows.iter().position(|row| row.prompt.is_empty()) {
        return Err(LlmError::BadRequest {
            reason: format!("training row {row} has an empty prompt"),
        }
        .into());
    }
    let inputs: Vec<Vec<u32>> = rows.iter().map(SupervisedRow::input).collect();
    let config = &llm.config;
    let batch = PaddedBatch::new(&inputs, pad_id, config.max_position_embeddings)?;
    let vocab_size = config.vocab_size;
    let ids = inputs
        .iter()
        .flatten()
        .chain(rows.iter().map(|r| &r.target[1]));
    if let Some(&id) = ids.into_iter().find(|&&id| id as usize >= vocab_size) {
        return Err(LlmError::TokenOutOfRange { id, vocab_size }.into());
    }
    if let Some(adapter) = adapter {
        adapter.check_fits(config, rows.len())?;
    }
    let device = llm.device();
    let hidden = llm.forward_hidden(batch.to_tensor(&device), &batch.mask(), None, adapter);
    let [rows_count, seq, d] = hidden.dims();
    let targets = supervised_targets(rows, seq);
    let count = targets.len();
    let positions: Vec<i64> = targets.iter().map(|&(flat, _)| flat as i64).collect();
    let target_ids: Vec<i64> = targets.iter().map(|&(_, id)| i64::from(id)).collect();
    let positions = Tensor::<1, Int>::from_data(TensorData::new(positions, [count]), &device);
    let target_ids = Tensor::<2, Int>::from_data(TensorData::new(target_ids, [count, 1]), &device);
    let picked = hidden.reshape([rows_count * seq, d]).select(0, positions);
    let logits = llm.full_logits(llm.norm.forward(picked)); // [count, vocab]
    let nll = log_softmax(logits, 1).gather(1, target_ids).neg(); // [count, 1]
    let token_nll = nll
        .clone()
        .try_into_data()
        .ok()
        .and_then(|data| data.try_into_vec::<f32>().ok())
        .ok_or(FinetuneError::Readback)?
        .into_iter()
        .map(f64::from)
        .collect();
    Ok(LossParts {
        total: nll.sum().div_scalar(normalizer),
        token_nll,
        terms_per_row: 2,
    })
}

/// The yes/no loss: Σ over rows of −log σ(±z), z = logit_yes − logit_no at the last prompt
/// position (the answer position `eval` scores), + for "yes" rows and − for "no" rows,
/// divided by `normalizer` (the step's row count). With `fusion` = (the fused PLoRA, the
/// CRM's logits `[rows]`), z is RecLoRA-fused's (logit_yes − logit_no) + w · logit_CRM.
///
/// Only the two answer rows of the output projection are computed.
///
/// # Shapes
/// - `fusion.1`: `[rows]`; the returned total is `[1]`
pub fn yes_no_loss_parts(
    llm: &LlamaModel,
    adapter: Option<&dyn ProjectionAdapter>,
    rows: &[SupervisedRow],
    pad_id: u32,
    answers: AnswerTokens,
    fusion: Option<(&Plora, Tensor<1>)>,
    normalizer: f64,
) -> Result<LossParts, FinetuneError> {
    if let Some(row) = rows.iter().position(|row| row.prompt.is_empty()) {
        return Err(LlmError::BadRequest {
            reason: format!("training row {row} has an empty prompt"),
        }
        .into());
    }
    let prompts: Vec<Vec<u32>> = rows.iter().map(|row| row.prompt.clone()).collect();
    let config = &llm.config;
    let batch = PaddedBatch::new(&prompts, pad_id, config.max_position_embeddings)?;
    if let Some(&id) = prompts
        .iter()
        .flatten()
        .find(|&&id| id as usize >= config.vocab_size)
    {
        return Err(LlmError::TokenOutOfRange {
            id,
            vocab_size: config.vocab_size,
        }
        .into());
    }
    if let Some(adapter) = adapter {
        adapter.check_fits(config, rows.len())?;
    }
    let device = llm.device();
    let hidden = llm.forward_hidden(batch.to_tensor(&device), &batch.mask(), None, adapter);
    let last: Vec<usize> = rows.iter().map(|row| row.prompt.len() - 1).collect();
    let pair = llm.logits_for_tokens(llm.normed_at(hidden, &last), &[answers.yes, answers.no])?;
    let count = rows.len();
    let difference = (pair.clone().narrow(1, 0, 1) - pair.narrow(1, 1, 1)).reshape([count]); // [rows]
    let logit = match fusion {
        Some((plora, crm_logits)) => plora
            .fused_logit(difference, crm_logits)
            .ok_or(FinetuneError::NotFused)?,
        None => difference,
    };
    // −log σ(s·z) with s = +1 for "yes", −1 for "no".
    let signs: Vec<f32> = rows
        .iter()
        .map(|row| {
            if row.target[0] == answers.yes {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    let signs = Tensor::<1>::from_data(TensorData::new(signs, [count]), &device);
    let nll = log_sigmoid(logit * signs).neg(); // [rows]
    let token_nll = nll
        .clone()
        .try_into_data()
        .ok()
        .and_then(|data| data.try_into_vec::<f32>().ok())
        .ok_or(FinetuneError::Readback)?
        .into_iter()
        .map(f64::from)
        .collect();
    Ok(LossParts {
        total: nll.sum().div_scalar(normalizer),
        token_nll,
        terms_per_row: 1,
    })
}
