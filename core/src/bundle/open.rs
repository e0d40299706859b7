//! Opening a bundle: manifest first, then every file mapped and checked against it, then
//! each model file validated against its config, before anything is scored.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use super::error::BundleError;
use super::files::{MappedFile, map_checked};
use super::llm_file::LlmFile;
use super::manifest::{BundleManifest, file};
use super::tensor_file::load_module;
use crate::crm::Din;
use crate::plora::Plora;

/// How much to check at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BundleOptions {
    /// Hash every file against the manifest's sha256 (reads every byte once; sizes are
    /// always checked).
    pub verify_checksums: bool,
}

/// An opened, validated bundle: its manifest, read-only maps of its files, and the DIN
/// and PLoRA already loaded (validating them means loading them).
#[derive(Debug)]
pub struct Bundle {
    dir: PathBuf,
    manifest: BundleManifest,
    llm: MappedFile,
    crm: Din,
    plora: Plora,
    tokenizer: MappedFile,
    items: MappedFile,
    items_json: MappedFile,
    features: MappedFile,
}

impl Bundle {
    /// Opens `dir`: the manifest (version first), every listed file (size, optional
    /// sha256), the LLM's tensors (shapes, quant layout, finite scales) and the CRM and
    /// PLoRA tensors against their configs, loading those two onto `device`.
    pub fn open(dir: &Path, device: &Device, options: BundleOptions) -> Result<Self, BundleError> {
        let manifest = BundleManifest::read(dir)?;
        let map = |name| map_checked(dir, name, &manifest.files, options.verify_checksums);
        let crm_file = map(file::CRM)?;
        let plora_file = map(file::PLORA)?;
        let din = manifest.crm.din.init(device);
        let crm = load_module(din, crm_file.bytes()).map_err(|source| BundleError::Tensors {
            path: crm_file.path().to_path_buf(),
            source,
        })?;
        let plora = manifest
            .plora
            .init(&manifest.llm, device)
            .map_err(|source| BundleError::Config { source })?;
        let plora =
            load_module(plora, plora_file.bytes()).map_err(|source| BundleError::Tensors {
                path: plora_file.path().to_path_buf(),
                source,
            })?;
        let bundle = Self {
            dir: dir.to_path_buf(),
            llm: map(file::LLM)?,
            crm,
            plora,
            tokenizer: map(file::TOKENIZER)?,
            items: map(file::ITEMS)?,
            items_json: map(file::ITEMS_JSON)?,
            features: map(file::FEATURES)?,
            manifest,
        };
        bundle.llm_file()?;
        Ok(bundle)
    }

    /// The manifest.
    pub fn manifest(&self) -> &BundleManifest {
        &self.manifest
    }

    /// The bundle folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The LLM's weights, viewed in place in the map.
    pub fn llm_file(&self) -> Result<LlmFile<'_>, BundleError> {
        Ok(LlmFile::parse(
            self.llm.bytes(),
            &self.manifest.llm,
            self.manifest.quant,
        )?)
    }

    /// The DIN.
    pub fn crm(&self) -> &Din {
        &self.crm
    }

    /// The PLoRA banks and gates.
    pub fn plora(&self) -> &Plora {
        &self.plora
    }

    /// The raw bytes of `tokenizer.json`, `items.safetensors`, `items.json` and
    /// `features.json`, in that order.
    pub fn side_files(&self) -> [&[u8]; 4] {
        [
            self.tokenizer.bytes(),
            self.items.bytes(),
            self.items_json.bytes(),
            self.features.bytes(),
        ]
    }
}
