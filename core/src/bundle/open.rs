//! Opening a bundle: manifest first, then every file mapped and checked against it, then
//! each model file validated against its config, before anything is scored.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use super::error::BundleError;
use super::files::{MappedFile, map_checked};
use super::llm_file::LlmFile;
use super::manifest::{BundleManifest, file};
use super::shared_llm::SharedLlmFile;
use super::tensor_file::load_module;
use crate::crm::Din;
use crate::device::is_plain_cpu;
use crate::llm::LlamaModel;
use crate::plora::Plora;
use crate::quant::{MatrixFormat, QuantKernel};

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
        check_declared_sizes(&manifest)?;
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
        // The one full check, scales included; later views of the same map skip the scan.
        LlmFile::parse(
            bundle.llm.bytes(),
            &bundle.manifest.llm,
            &bundle.manifest.matrices,
        )?;
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

    /// The LLM's weights, viewed in place in the map (validated at open; the layout is
    /// checked again, the block scales are not rescanned).
    pub fn llm_file(&self) -> Result<LlmFile<'_>, BundleError> {
        Ok(LlmFile::reparse(
            self.llm.bytes(),
            &self.manifest.llm,
            &self.manifest.matrices,
        )?)
    }

    /// The LLM, built to run on `device`.
    ///
    /// On the plain CPU device ([`is_plain_cpu`]) with q8, q4 or f16 weights, its matrices
    /// stay quantized in the map and are looked up row by row: packed ones (q8, q4) are
    /// multiplied by the int8 GEMM, f16 ones decoded by `kernel`. Nothing is dequantized
    /// into RAM, and the model keeps the map alive after the bundle is dropped. Otherwise every matrix is dequantized into an f32 tensor on `device`
    /// (`kernel` unused): the quantized projections copy activations to the host and back
    /// per call, memcpys on the CPU but device round trips on a GPU, where burn's matmul
    /// on dense weights is the tool; an autodiff device needs burn ops to carry gradients;
    /// and f32 weights gain nothing in place (same bytes, and burn's f32 GEMM is faster
    /// than the decode kernel).
    pub fn llm_model(
        &self,
        device: &Device,
        kernel: QuantKernel,
    ) -> Result<LlamaModel, BundleError> {
        let file = self.llm_file()?;
        let config = &self.manifest.llm;
        let in_place = self
            .manifest
            .matrices
            .values()
            .any(|format| *format != MatrixFormat::F32);
        let model = if is_plain_cpu(device) && in_place {
            let shared = SharedLlmFile::new(file, self.llm.shared_bytes());
            config.init_in_place(&shared, kernel, device)
        } else {
            config.init_from(&file, device)
        };
        model.map_err(|source| BundleError::Model {
            source: Box::new(source),
        })
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

/// Longest context the runtime builds RoPE tables for (SmolLM2: 8,192).
const MAX_POSITIONS: u64 = 1 << 17;

/// Refuses configs whose parameters cannot fit in their files, before `init` allocates
/// them: a manifest is checked only by its own digest, so its sizes are untrusted.
fn check_declared_sizes(manifest: &BundleManifest) -> Result<(), BundleError> {
    let file_bytes = |name: &str| manifest.files.get(name).map_or(0, |f| f.bytes);
    let din = &manifest.crm.din;
    let (d, h, m) = (
        din.embed_dim as u64,
        din.attention_hidden as u64,
        din.mlp_hidden as u64,
    );
    let fields = din.num_fields as u64;
    let din_params = [
        (din.embedding_rows as u64).saturating_mul(d),
        (2 * d).saturating_mul(d),
        (4 * d).saturating_mul(h),
        (fields.saturating_add(1))
            .saturating_mul(d)
            .saturating_mul(m),
        (din.mlp_layers.saturating_sub(1) as u64)
            .saturating_mul(m)
            .saturating_mul(m),
    ]
    .iter()
    .fold(0u64, |sum, &n| sum.saturating_add(n));
    let llm = &manifest.llm;
    let plora = &manifest.plora;
    let bank_params = plora.targets.iter().fold(0u64, |sum, kind| {
        let (d_in, d_out) = kind.dims(llm);
        sum.saturating_add(
            (plora.num_meta as u64)
                .saturating_mul(plora.rank as u64)
                .saturating_mul((d_in + d_out) as u64),
        )
    });
    let adapted_layers = llm.num_layers - plora.first_adapted_layer(llm.num_layers);
    let plora_params = bank_params.saturating_mul(adapted_layers as u64);
    let checks = [
        (
            "DIN parameter bytes",
            din_params.saturating_mul(4),
            file_bytes(file::CRM),
            "size of crm.safetensors",
        ),
        (
            // At least 2 bytes a parameter: PLoRA may be stored in f16.
            "PLoRA bank bytes",
            plora_params.saturating_mul(2),
            file_bytes(file::PLORA),
            "size of plora.safetensors",
        ),
        (
            "max_position_embeddings",
            llm.max_position_embeddings as u64,
            MAX_POSITIONS,
            "the runtime's RoPE table cap",
        ),
    ];
    for (what, declared, limit, limited_by) in checks {
        if declared > limit {
            return Err(BundleError::DeclaredSize {
                what,
                declared,
                limit,
                limited_by,
            });
        }
    }
    Ok(())
}
