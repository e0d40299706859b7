//! The CI parity check on a tiny run: train, evaluate on the server, export f32 and q8
//! bundles, score the same test rows through the on-device runtime and compare.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use reclora_core::LanguageModel;
use reclora_core::bundle::QuantScheme;
use reclora_core::bundle::llm_tensors;
use reclora_core::llm::{LlamaConfig, SeededWeights, WeightSource};
use reclora_core::prompt::{HistoryRetriever, PromptLayout};
use reclora_core::rng::SplitMix64;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::{ActivationsArg, GateModeArg, ParityArgs, parity};
use crate::crm::{CrmTrainConfig, train_crm};
use crate::data::{DatasetName, PreparedDataset, Split};
use crate::export::export_bundle;
use crate::finetune::files::RunFolder;
use crate::finetune::retriever::open_retriever;
use crate::finetune::tests::fixture::{
    TempDir, byte_tokenizer, synthetic_dataset_sized, tiny_bundle_llama_config, tiny_config,
};
use crate::finetune::{
    EvalInputs, EvalOptions, EvalRows, FinetuneConfig, FinetuneMode, FrozenCrm, RunControl,
    TrainInputs, evaluate, finetune,
};
use crate::lsmr::table::TABLE_FORMAT_VERSION;
use crate::lsmr::{ItemEmbeddings, ItemTableInfo};

/// The seeded tiny Llama as a Hugging Face folder (config, weights, tokenizer), the form
/// a run's `--model` names.
pub(crate) fn write_hf_folder(dir: &Path, config: &LlamaConfig) {
    std::fs::create_dir_all(dir).expect("model dir");
    let seeded = SeededWeights::new(config.clone(), 5);
    let owned: Vec<(String, Vec<usize>, Vec<u8>)> = llm_tensors(config)
        .into_iter()
        .map(|t| {
            let values = seeded.require(&t.name, &t.shape).expect("weight");
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (t.name, t.shape, bytes)
        })
        .collect();
    let views = owned.iter().map(|(name, shape, bytes)| {
        (
            name.clone(),
            TensorView::new(Dtype::F32, shape.clone(), bytes).expect("view"),
        )
    });
    let weights = safetensors::serialize(views, None).expect("serialize");
    std::fs::write(dir.join("model.safetensors"), weights).expect("weights");
    let hf = serde_json::json!({
        "model_type": "llama",
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "num_key_value_heads": config.num_kv_heads,
        "head_dim": config.head_dim,
        "rms_norm_eps": config.rms_norm_eps,
        "rope_theta": config.rope_theta,
        "max_position_embeddings": config.max_position_embeddings,
        "tie_word_embeddings": config.tie_word_embeddings,
    });
    std::fs::write(dir.join("config.json"), hf.to_string()).expect("config");
    let tokenizer = byte_tokenizer().inner().to_string(false).expect("json");
    std::fs::write(dir.join("tokenizer.json"), tokenizer).expect("tokenizer");
}

/// A random 4-dimensional LSMR table over the dataset's items.
pub(crate) fn write_item_table(data: &PreparedDataset, dir: &Path, hidden: usize) {
    std::fs::create_dir_all(dir).expect("items dir");
    let n = data.meta().counts.items as usize;
    let first = data.meta().fields[data.item_field()].offset;
    let mut rng = SplitMix64::new(3);
    let table = ItemEmbeddings {
        item_ids: (first..first + n as u32).collect(),
        dim: 4,
        embeddings: (0..n * 4).map(|_| rng.unit_f32() * 2.0 - 1.0).collect(),
        mean: vec![0.0; hidden],
        components: vec![0.0; 4 * hidden],
    };
    let info = ItemTableInfo {
        format_version: TABLE_FORMAT_VERSION,
        model: "tiny".into(),
        dataset: "ml-1m".into(),
        hidden_size: hidden,
        dim: 4,
        item_count: n,
        first_item_id: first,
        explained_variance_ratio: vec![0.25; 4],
        explained_variance_ratio_total: 1.0,
        pooling: "mean".into(),
        description_template: String::new(),
        prompt_template: String::new(),
        seconds: 0.0,
    };
    table.write(dir, &info).expect("item table");
}

#[test]
fn bundles_of_a_tiny_run_reproduce_its_server_scores() {
    let root = TempDir::new("parity");
    let data = synthetic_dataset_sized(&root, 17);
    let crm_dir = root.join("din");
    let crm_config = CrmTrainConfig {
        epochs: 1,
        batch_size: 16,
        learning_rate: 1e-2,
        ..CrmTrainConfig::default()
    };
    train_crm(&data, &crm_config, &crm_dir, false, &Device::flex()).expect("DIN");
    let model_dir = root.join("tiny-llm");
    let llm_config = tiny_bundle_llama_config();
    write_hf_folder(&model_dir, &llm_config);
    let items_dir = root.join("items");
    write_item_table(&data, &items_dir, llm_config.hidden_size);
    let retriever = open_retriever(&items_dir, DatasetName::Ml1m).expect("retriever");
    let setup = Setup {
        root: root.path(),
        data: &data,
        crm_dir: &crm_dir,
        model_dir: &model_dir,
        items_dir: &items_dir,
        llm_config: &llm_config,
        retriever: retriever.as_ref(),
    };
    // RecLoRA, and RecLoRA-fused, whose bundle also scores DIN's logit with the learned w;
    // then RecLoRA-fused trained and scored with per-user gates on candidate-last prompts,
    // which the runtime's per-user mode (its own user representation and shared prefix)
    // must reproduce.
    let per_sample = (GateModeArg::PerSample, PromptLayout::Rella);
    for mode in [FinetuneMode::Reclora, FinetuneMode::RecloraFused] {
        bundle_reproduces_the_server(&setup, mode, per_sample);
    }
    let per_user = (GateModeArg::PerUser, PromptLayout::CandidateLast);
    bundle_reproduces_the_server(&setup, FinetuneMode::RecloraFused, per_user);
}

/// What both modes' runs share.
struct Setup<'a> {
    root: &'a Path,
    data: &'a PreparedDataset,
    crm_dir: &'a Path,
    model_dir: &'a Path,
    items_dir: &'a Path,
    llm_config: &'a LlamaConfig,
    retriever: &'a dyn HistoryRetriever,
}

fn bundle_reproduces_the_server(
    setup: &Setup<'_>,
    mode: FinetuneMode,
    (gate_mode, layout): (GateModeArg, PromptLayout),
) {
    let Setup {
        root,
        data,
        crm_dir,
        model_dir,
        items_dir,
        llm_config,
        retriever,
    } = *setup;
    // A few PLoRA steps so that the adapter is not the identity.
    let train_device = Device::flex().autodiff();
    let (llm, tokenizer) = LanguageModel::load(model_dir, &train_device)
        .expect("tiny model")
        .into_parts();
    let llm = llm.no_grad();
    let crm = FrozenCrm::load(crm_dir, &train_device).expect("DIN");
    let config = FinetuneConfig {
        model: model_dir.to_path_buf(),
        data: data.dir().to_path_buf(),
        crm: Some(crm_dir.to_path_buf()),
        items: Some(items_dir.to_path_buf()),
        train_size: 16,
        epochs: 1,
        micro_batch: 4,
        grad_accum: 1,
        learning_rate: 5e-2,
        gate_mode,
        layout,
        ..tiny_config(mode, crm.representation_dim())
    };
    let run = root.join(format!("{mode}-{}", gate_mode.as_str()));
    finetune(
        TrainInputs {
            data,
            llm: &llm,
            tokenizer: &tokenizer,
            crm: Some(&crm),
            retriever: Some(retriever),
        },
        &config,
        &run,
        RunControl {
            resume: false,
            stop_after_steps: None,
            progress: false,
        },
    )
    .expect("fine-tunes");

    // The server's scores, as `reclora-train eval` computes them.
    let device = Device::flex();
    let (eval_llm, _) = LanguageModel::load(model_dir, &device)
        .expect("model")
        .into_parts();
    let plora = config.plora.as_ref().expect("adapter config");
    let adapter = plora
        .load(llm_config, &RunFolder::new(&run).adapter(), &device)
        .expect("adapter");
    if mode == FinetuneMode::RecloraFused {
        // w started at 1 and was trained.
        let w = adapter.crm_logit_weight_value().expect("fused weight");
        assert!(w != 1.0 && w.is_finite(), "{w}");
    }
    let eval_crm = FrozenCrm::load(crm_dir, &device).expect("DIN");
    evaluate(
        EvalInputs {
            data,
            llm: &eval_llm,
            tokenizer: &tokenizer,
            adapter: Some(&adapter),
            crm: Some(&eval_crm),
            retriever: Some(retriever),
        },
        &config,
        &run,
        EvalOptions {
            rows: EvalRows::first_test(1_000),
            batch: 4,
            stop_after_rows: None,
            progress: false,
        },
    )
    .expect("evaluates");

    let rows = data.split_len(Split::Test);
    for (quant, bound) in [(QuantScheme::F32, 2e-5), (QuantScheme::Q8, 0.02)] {
        let bundle = root.join(format!("bundle-{mode}-{}-{quant:?}", gate_mode.as_str()));
        export_bundle(&run, quant, &bundle).expect("exports");
        let report = parity(&ParityArgs {
            run: run.clone(),
            bundle: bundle.clone(),
            test_rows: 1_000,
            wgpu: false,
            threads: 2,
            // Unset: the bundle serves the mode its adapter was trained in.
            gate_mode: None,
            activations: ActivationsArg::Exact,
            out: None,
        })
        .expect("parity");
        assert_eq!(
            report.gate_mode,
            gate_mode.as_str(),
            "the bundle's trained mode"
        );
        eprintln!(
            "parity {mode} {} {quant:?}: {} rows, max |Δ| {:.2e}, AUC server {:.4} bundle {:.4}",
            gate_mode.as_str(),
            report.rows,
            report.max_abs_diff,
            report.auc_server,
            report.auc_bundle
        );
        assert_eq!(report.rows, rows);
        assert!(
            report.max_abs_diff <= bound,
            "{mode} {quant:?}: {}",
            report.max_abs_diff
        );
        if quant == QuantScheme::F32 {
            assert_eq!(report.auc_diff, 0.0);
        }
    }
}
