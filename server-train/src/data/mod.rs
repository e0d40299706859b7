//! Recommendation data: raw MovieLens/GoodReads files → ReLLa/RecLoRA samples on disk.
//!
//! [`prepare()`] runs the whole job; [`PreparedDataset::open`] reopens its output for training
//! (DIN batches) and prompting. The pipeline:
//!
//! - loaders ([`movielens1m`], [`movielens100k`], [`movielens25m`], [`goodreads`]) read files
//!   into the common [`raw::RawDataset`] contract;
//! - [`samples`] sorts, builds histories, filters (≥ 5 earlier interactions) and splits 8:1:1;
//! - [`features`] assigns the categorical feature ids (first appearance, one offset table);
//! - [`store`] defines the folder layout (meta.json, arrays.safetensors, JSON dictionaries),
//!   [`writer`] writes it, [`prepared`] maps it back; [`batch`] makes padded DIN inputs.

pub mod batch;
pub mod error;
pub mod features;
pub mod goodreads;
mod mapped;
pub mod movielens100k;
pub mod movielens1m;
pub mod movielens25m;
mod name;
pub mod prepare;
pub mod prepared;
pub mod raw;
pub mod samples;
mod source;
pub mod store;
#[cfg(test)]
pub(crate) mod tests;
pub mod text;
pub mod writer;

pub use batch::DinBatch;
pub use error::{DataError, LineProblem, StoreProblem};
pub use features::Field;
pub use name::DatasetName;
pub use prepare::{PrepareSummary, load_raw, prepare};
pub use prepared::{PreparedDataset, SampleRef, UserProfile};
pub use samples::{MIN_HISTORY, Split, SplitSizes};
pub use store::HISTORY_LEN;
