//! reclora-train: server-side RecLoRA jobs — data preparation, CRM pretraining, LLM
//! utilities, PLoRA fine-tuning, LLM evaluation, bundle export and bundle-vs-server parity.

pub mod atomic_dir;
pub mod cli;
pub mod crm;
pub mod data;
pub mod error;
pub mod export;
pub mod finetune;
pub mod json_file;
pub mod llm_cmd;
pub mod lsmr;
pub mod metrics;
pub mod parity;
pub mod pipeline;
pub mod progress;
pub mod rank;
pub mod replay;
pub mod report;
#[cfg(test)]
mod round_trip_tests;
pub mod schedule;
pub mod scores;
