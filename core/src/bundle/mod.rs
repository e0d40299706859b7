//! The on-device bundle: what `reclora-train export` writes and the runtime opens.
//!
//! - [`tensor_file`]: module parameters ↔ safetensors, named by module path;
//! - [`files`]: the manifest's file table (size, sha256) and checked memory maps;
//! - [`manifest`]: `manifest.json`, version-checked first;
//! - [`llm_file`]: the LLM's block-quantized weights, validated and viewed in place;
//! - [`quant_scheme`]: how `export` stores each LLM matrix;
//! - [`side_files`]: the typed `features.json` and `items.json`;
//! - [`shared_llm`]: those weights shared with a model that runs on them in place;
//! - [`open`]: [`Bundle::open`], every check before the first score.

mod error;
pub mod files;
pub mod llm_file;
pub mod manifest;
#[cfg(test)]
mod model_tests;
pub mod open;
pub mod quant_scheme;
pub mod shared_llm;
pub mod side_files;
pub mod tensor_file;
#[cfg(test)]
mod tests;

pub use error::{BundleError, CatalogProblem, LlmFileError, TensorFileError};
pub use files::{FileDigest, MappedFile, map_checked};
pub use llm_file::{DATA_ALIGN, LlmFile, LlmTensor, StoredMatrix, llm_tensors, serialize_llm};
pub use manifest::{
    BUNDLE_FORMAT_VERSION, BundleManifest, CrmSpec, OLDEST_FORMAT_VERSION, PromptSpec,
};
pub use open::{Bundle, BundleOptions};
pub use quant_scheme::QuantScheme;
pub use shared_llm::SharedLlmFile;
pub use side_files::{FeatureField, FeaturesFile, ItemsFile};
pub use tensor_file::{
    load_module, module_tensors, save_module, serialize_module, serialize_module_as,
};
