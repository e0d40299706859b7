//! Fine-tuning and evaluation on tiny random models, checked against hand computations,
//! single-batch references and uninterrupted runs.

mod end_to_end;
mod errors;
mod eval;
pub(crate) mod fixture;
mod loss;
mod prompts;
mod recipe;
mod train;
