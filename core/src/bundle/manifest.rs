//! `manifest.json`: what a bundle holds and how it was made. Read first, and the format
//! version before anything else, so a newer bundle is refused by name rather than misread.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::BundleError;
use super::files::FileDigest;
use super::quant_scheme::QuantScheme;
use crate::crm::DinConfig;
use crate::llm::LlamaConfig;
use crate::plora::PloraConfig;
use crate::prompt::PromptLayout;
use crate::quant::MatrixFormat;

/// The bundle format this build writes and the newest it reads.
///
/// - 3: the prompt's layout (`prompt.layout`: `rella` or `candidate-last`). A format-2
///   reader would ignore the field and score a candidate-last bundle on ReLLa's prompts,
///   so the version moves; format 2 reads as `rella`.
/// - 2: q8 and q4 matrices in the int8 GEMM's packed panels (Q8_0, Q4_1), their format
///   recorded per matrix (`matrices`); the scheme names `q8x32`, `q4x32`.
/// - 1: row-major Q8_0 / Q4_0 blocks (`quant`: `q8`, `q4`); refused, see
///   [`OLDEST_FORMAT_VERSION`].
pub const BUNDLE_FORMAT_VERSION: u32 = 3;

/// The oldest bundle format this build reads: format 1's row-major blocks would need a
/// repack into RAM, which the memory bound of an in-place model does not allow.
pub const OLDEST_FORMAT_VERSION: u32 = 2;

/// File names inside a bundle folder.
pub mod file {
    /// The manifest itself.
    pub const MANIFEST: &str = "manifest.json";
    /// The LLM's weights, each matrix stored as the manifest's `matrices` says.
    pub const LLM: &str = "llm.safetensors";
    /// The CRM (DIN) parameters, f32.
    pub const CRM: &str = "crm.safetensors";
    /// PLoRA banks and gates, f32.
    pub const PLORA: &str = "plora.safetensors";
    /// The tokenizer (Hugging Face `tokenizers` JSON).
    pub const TOKENIZER: &str = "tokenizer.json";
    /// PCA item embeddings for LSMR, `[item_count, dim]` f32.
    pub const ITEMS: &str = "items.safetensors";
    /// Item ids, titles and genres, in the row order of `items.safetensors`.
    pub const ITEMS_JSON: &str = "items.json";
    /// The ID dictionaries the CRM's features need.
    pub const FEATURES: &str = "features.json";

    /// Every file a bundle must list, besides the manifest.
    pub const ALL: [&str; 7] = [LLM, CRM, PLORA, TOKENIZER, ITEMS, ITEMS_JSON, FEATURES];
}

/// The frozen CRM: DIN's config and the history length it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmSpec {
    /// DIN's sizes.
    pub din: DinConfig,
    /// Long-history length fed to DIN (60).
    pub history_len: usize,
}

/// How prompts are built and read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptSpec {
    /// The dataset whose ReLLa wording the prompt uses (`ml-1m`).
    pub dataset: String,
    /// Chat template name (`chatml` or `plain`).
    pub template: String,
    /// Where the prompt names the candidate (absent before format 3: ReLLa's order).
    #[serde(default)]
    pub layout: PromptLayout,
    /// Short-history length K in the prompt.
    pub history_k: usize,
    /// Token ids of the positive and negative answers.
    pub answer_ids: [u32; 2],
    /// Right-padding id.
    pub pad_id: u32,
}

/// Everything the runtime needs to know before mapping any weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleManifest {
    /// [`BUNDLE_FORMAT_VERSION`] at export.
    pub format_version: u32,
    /// The LLM's architecture.
    pub llm: LlamaConfig,
    /// How the LLM's matrices were stored at export.
    pub quant: QuantScheme,
    /// The storage of every LLM matrix, by Hugging Face name (what the runtime reads).
    pub matrices: BTreeMap<String, MatrixFormat>,
    /// The CRM.
    pub crm: CrmSpec,
    /// The adapter.
    pub plora: PloraConfig,
    /// Prompt construction and answer tokens.
    pub prompt: PromptSpec,
    /// Items in `items.safetensors`.
    pub item_count: usize,
    /// Size and sha256 of every other file.
    pub files: BTreeMap<String, FileDigest>,
}

#[derive(Deserialize)]
struct VersionOnly {
    format_version: u32,
}

impl BundleManifest {
    /// Reads and checks `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self, BundleError> {
        let path = dir.join(file::MANIFEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BundleError::MissingFile { path });
            }
            Err(e) => return Err(BundleError::io(&path, e)),
        };
        Self::parse(&text, &path)
    }

    /// Parses and checks manifest `text`: the version first, then the whole manifest,
    /// then that every file in [`file::ALL`] is listed. `path` only names the file in
    /// errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, BundleError> {
        let parse_error = |source| BundleError::Manifest {
            path: path.to_path_buf(),
            source,
        };
        // The version first: a newer layout may not parse as this one.
        let version: VersionOnly = serde_json::from_str(text).map_err(parse_error)?;
        if version.format_version == 0 || version.format_version > BUNDLE_FORMAT_VERSION {
            return Err(BundleError::UnsupportedVersion {
                found: version.format_version,
                supported: BUNDLE_FORMAT_VERSION,
            });
        }
        if version.format_version < OLDEST_FORMAT_VERSION {
            return Err(BundleError::OutdatedVersion {
                found: version.format_version,
                oldest: OLDEST_FORMAT_VERSION,
                supported: BUNDLE_FORMAT_VERSION,
            });
        }
        let manifest: Self = serde_json::from_str(text).map_err(parse_error)?;
        for name in file::ALL {
            if !manifest.files.contains_key(name) {
                return Err(BundleError::NotInManifest {
                    file: name.to_owned(),
                });
            }
        }
        Ok(manifest)
    }

    /// The manifest as pretty JSON.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialization cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
