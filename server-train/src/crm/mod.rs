//! Few2Many stage 1: the conventional recommender (DIN) trained on the full train split.

mod checkpoint;
mod train;

pub use crate::schedule::LrSchedule;
pub use reclora_core::crm::to_din_input;
pub use train::{CrmMetrics, CrmTrainConfig, SplitMetrics, evaluate, train_crm};
