//! `reclora-train export`: a finished RecLoRA run as an on-device bundle folder, every
//! file safetensors or JSON and listed in `manifest.json` with its sha256.

mod error;
mod side_files;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use reclora_core::LanguageModel;
use reclora_core::bundle::manifest::file;
use reclora_core::bundle::{
    BUNDLE_FORMAT_VERSION, BundleManifest, CrmSpec, FileDigest, PromptSpec, QuantScheme,
    serialize_llm, serialize_module, serialize_module_as,
};
use safetensors::Dtype;

pub use error::ExportError;
pub use side_files::{bundle_features, bundle_items};

use crate::atomic_dir::write_dir_atomically;
use crate::finetune::encode::PromptEncoder;
use crate::finetune::files::RunFolder;
use crate::finetune::{FinetuneError, FinetuneMode, FrozenCrm};

/// Options of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A finished `finetune --mode reclora` run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// Storage of the LLM's matrices: q8 (Q8_0 in the int8 GEMM's panels), q4 (Q4_1
    /// projections, Q8_0 embeddings and head), f16 or f32.
    #[arg(long, default_value = "q8", value_parser = parse_quant)]
    pub quant: QuantScheme,
    /// Output bundle folder; written only if the whole export succeeds.
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_quant(text: &str) -> Result<QuantScheme, String> {
    QuantScheme::from_name(text)
        .ok_or_else(|| format!("unknown quant `{text}`: expected q8, q4, f16 or f32"))
}

/// `reclora-train export`.
pub fn run_export(args: ExportArgs) -> Result<(), crate::error::CliError> {
    let manifest = export_bundle(&args.run, args.quant, &args.out)?;
    let bytes: u64 = manifest.files.values().map(|f| f.bytes).sum();
    println!(
        "{}",
        serde_json::json!({
            "bundle": args.out,
            "quant": manifest.quant,
            "files": manifest.files.len() + 1,
            "bytes": bytes,
            "items": manifest.item_count,
        })
    );
    Ok(())
}

/// Writes the bundle of `run` to `out` and returns its manifest.
pub fn export_bundle(
    run: &Path,
    quant: QuantScheme,
    out: &Path,
) -> Result<BundleManifest, ExportError> {
    let folder = RunFolder::new(run);
    let config = folder.read_config()?;
    if !matches!(
        config.mode,
        FinetuneMode::Reclora | FinetuneMode::RecloraFused
    ) {
        return Err(ExportError::NotReclora {
            run: run.to_path_buf(),
            mode: config.mode,
        });
    }
    if !folder.adapter().is_file() {
        return Err(ExportError::Unfinished {
            run: run.to_path_buf(),
            file: folder.adapter(),
        });
    }
    // `read_config` validated these for reclora; the errors are the ones it uses.
    let mode = config.mode;
    let crm_dir = config.crm.clone().ok_or(FinetuneError::NeedsCrm { mode })?;
    let items_dir = config
        .items
        .clone()
        .ok_or(FinetuneError::NeedsItems { mode })?;
    let plora_config = config
        .plora
        .clone()
        .ok_or(FinetuneError::AdapterConfig { mode, trains: true })?;

    let device = Device::flex();
    let (weights, llm_config, tokenizer) = LanguageModel::open_source(&config.model)?;
    let encoder = PromptEncoder::new(&tokenizer, config.template)?.with_layout(config.layout);
    let answers = encoder.answers();
    let crm = FrozenCrm::load(&crm_dir, &device)?;
    let plora = plora_config.load(&llm_config, &folder.adapter(), &device)?;
    let features = bundle_features(&config.data)?;
    let items = bundle_items(&config.data, &items_dir)?;
    let item_count = items.ids.len();
    let dataset = features.dataset.clone();
    let matrices = quant.plan(&llm_config);

    write_dir_atomically(out, file::MANIFEST, |dir| {
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|source| ExportError::Io { path, source })
        };
        write(
            file::LLM,
            &serialize_llm(weights.as_ref(), &llm_config, &matrices)?,
        )?;
        write(file::CRM, &serialize_module(crm.din())?)?;
        // PLoRA in f16 next to quantized weights (half the bytes); in f32 next to f32
        // ones, whose bundle reproduces the server bit for bit.
        let plora_dtype = if quant == QuantScheme::F32 {
            Dtype::F32
        } else {
            Dtype::F16
        };
        write(file::PLORA, &serialize_module_as(&plora, plora_dtype)?)?;
        let tokenizer_json = tokenizer
            .inner()
            .to_string(false)
            .map_err(ExportError::Tokenizer)?;
        write(file::TOKENIZER, tokenizer_json.as_bytes())?;
        let items_source = items_dir.join("items.safetensors");
        std::fs::copy(&items_source, dir.join(file::ITEMS)).map_err(|source| ExportError::Io {
            path: items_source.clone(),
            source,
        })?;
        write(file::ITEMS_JSON, &to_json_bytes(&items))?;
        write(file::FEATURES, &to_json_bytes(&features))?;

        let mut files = std::collections::BTreeMap::new();
        for name in file::ALL {
            files.insert(name.to_owned(), FileDigest::of_file(&dir.join(name))?);
        }
        let manifest = BundleManifest {
            format_version: BUNDLE_FORMAT_VERSION,
            llm: llm_config.clone(),
            quant,
            matrices: matrices.clone(),
            crm: CrmSpec {
                din: crm.config().clone(),
                history_len: crm.history_len(),
            },
            // The run's gate mode, so the runtime serves the adapter as it was trained.
            plora: reclora_core::plora::PloraConfig {
                gate_mode: config.gate_mode.runtime(),
                ..plora_config.clone()
            },
            prompt: PromptSpec {
                dataset: dataset.clone(),
                template: config.template.as_str().to_owned(),
                layout: config.layout,
                history_k: config.history_k,
                answer_ids: [answers.yes, answers.no],
                pad_id: encoder.pad_id(),
            },
            item_count,
            files,
        };
        // The manifest last: a folder without it is not a bundle.
        write(file::MANIFEST, manifest.to_json().as_bytes())?;
        Ok(manifest)
    })
}

/// Plain data with string keys: serialization cannot fail.
fn to_json_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finetune::files::write_json;

    /// A run folder holding only a valid `config.json` of `mode` (with or without a CRM).
    fn run_with(dir: &Path, mode: FinetuneMode, with_crm: bool) -> PathBuf {
        let run = dir.join(format!("{}-{with_crm}", mode.as_str()));
        std::fs::create_dir_all(&run).expect("run dir");
        let config = crate::finetune::FinetuneConfig {
            crm: with_crm.then(|| dir.join("crm")),
            items: Some(dir.join("items")),
            plora: crate::finetune::PloraOptions::default().adapter_for(mode, 64),
            ..crate::finetune::FinetuneConfig::new(mode, dir.join("model.gguf"), dir.join("data"))
        };
        write_json(&RunFolder::new(&run).config(), &config).expect("config");
        run
    }

    #[test]
    fn only_finished_reclora_runs_export_and_nothing_is_written_otherwise() {
        let dir_dir = reclora_test_support::TempDir::new("export");
        let dir = dir_dir.path().to_path_buf();
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.join("bundle");

        let lora = run_with(&dir, FinetuneMode::LoraLast, true);
        assert!(matches!(
            export_bundle(&lora, QuantScheme::Q8, &out),
            Err(ExportError::NotReclora {
                mode: FinetuneMode::LoraLast,
                ..
            })
        ));
        let reclora = run_with(&dir, FinetuneMode::Reclora, true);
        match export_bundle(&reclora, QuantScheme::Q8, &out) {
            Err(ExportError::Unfinished { file, .. }) => {
                assert_eq!(file, RunFolder::new(&reclora).adapter());
            }
            other => panic!("{other:?}"),
        }
        // A reclora run without a CRM is not a valid run: refused when its config is read.
        let no_crm = run_with(&dir, FinetuneMode::Reclora, false);
        std::fs::write(RunFolder::new(&no_crm).adapter(), b"").expect("adapter");
        assert!(matches!(
            export_bundle(&no_crm, QuantScheme::Q8, &out),
            Err(ExportError::Run(FinetuneError::NeedsCrm { .. }))
        ));
        assert!(matches!(
            export_bundle(&dir.join("nowhere"), QuantScheme::Q8, &out),
            Err(ExportError::Run(_))
        ));
        assert!(!out.exists(), "a failed export leaves no bundle folder");
        assert_eq!(parse_quant("q4"), Ok(QuantScheme::Q4));
        assert_eq!(parse_quant("q4x32"), Ok(QuantScheme::Q4));
        assert!(parse_quant("q3").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
