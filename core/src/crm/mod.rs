//! Conventional recommenders (CRM). Their hidden vector R_c drives RecLoRA's gates, so
//! their forward runs on the phone too.

mod batch;
mod din;

pub use batch::{DinBatch, to_din_input};
pub use din::{Din, DinConfig, DinInput};
