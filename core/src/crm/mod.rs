//! Conventional recommenders (CRM). Their hidden vector R_c drives RecLoRA's gates, so
//! their forward runs on the phone too.

mod din;

pub use din::{Din, DinConfig, DinInput};
