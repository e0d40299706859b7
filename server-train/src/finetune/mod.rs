//! Few2Many stage 2: an adapter (RecLoRA's PLoRA, or a static-LoRA baseline) trained on a
//! small train subset through the frozen LLM, the CRM frozen too; then P(yes) on the test
//! split.
//!
//! - [`config`]: the four modes and every option of a run (`config.json`);
//! - [`subset`], [`plan`]: the few-shot subset and the rows of every optimizer step;
//! - [`encode`]: ReLLa prompt → chat template → ids, and the supervised answer tokens;
//! - [`frozen_crm`]: DIN from its run folder, R_c as a constant;
//! - [`loss`], [`step`]: the answer-token (or yes/no) cross-entropy and accumulated
//!   gradients;
//! - [`warm_start`]: meta-LoRAs copied from a trained static LoRA;
//! - [`train`]: AdamW, linear decay, checkpoints and resume;
//! - [`eval`]: per-row scores appended to `scores.csv`, resumable, then `metrics.json`;
//! - [`command`]: the `finetune` and `eval` subcommands;
//! - [`prompts`]: a run's token ids as JSON, for outside baselines.

pub mod command;
pub mod config;
pub mod encode;
pub mod error;
pub mod eval;
pub mod files;
pub mod frozen_crm;
pub mod loss;
pub mod plan;
pub mod prompts;
mod random;
pub mod retriever;
pub mod step;
pub mod subset;
#[cfg(test)]
pub(crate) mod tests;
pub mod train;
pub mod warm_start;

pub use command::{EvalArgs, FinetuneArgs, run_eval, run_finetune};
pub use config::{FinetuneConfig, FinetuneMode, GateMode, PloraOptions, TrainLoss, WarmStart};
pub use error::FinetuneError;
pub use eval::{
    EvalInputs, EvalOptions, EvalRows, EvalSummary, LlmMetrics, RowSelection, ValidMetrics,
    evaluate,
};
pub use frozen_crm::FrozenCrm;
pub use prompts::{PromptsArgs, run_prompts};
pub use train::{RunControl, TrainInputs, TrainSummary, finetune};
