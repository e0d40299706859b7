//! Typed errors for bad options and incomplete folders, raised before any model is loaded.

use clap::Parser;
use clap::error::ErrorKind;

use super::fixture::{TempDir, tiny_config};
use crate::cli::Cli;
use crate::data::DatasetName;
use crate::error::CliError;
use crate::finetune::config::{FinetuneConfig, FinetuneMode};
use crate::finetune::error::FinetuneError;
use crate::finetune::files::{RunFolder, TrainState, read_json, write_json};
use crate::finetune::frozen_crm::FrozenCrm;
use crate::finetune::retriever::open_retriever;
use crate::json_file::FileError;
use crate::lsmr::table::TABLE_FORMAT_VERSION;
use crate::lsmr::{ItemEmbeddings, ItemTableInfo};
use reclora_core::prompt::HistoryEvent;

fn run(args: &[&str]) -> Result<(), CliError> {
    let mut argv = vec!["reclora-train"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).expect("parses").run()
}

fn finetune_error(result: Result<(), CliError>) -> FinetuneError {
    match result {
        Err(CliError::Finetune(error)) => error,
        other => panic!("expected a fine-tuning error, got {other:?}"),
    }
}

#[test]
fn unknown_mode_is_rejected_by_the_parser_and_in_config_json() {
    let error = Cli::try_parse_from([
        "reclora-train",
        "finetune",
        "--data",
        "d",
        "--out",
        "o",
        "--mode",
        "lora-everything",
    ])
    .expect_err("unknown mode");
    assert_eq!(error.kind(), ErrorKind::InvalidValue);
    assert!(
        error.to_string().contains("reclora"),
        "lists the modes: {error}"
    );
    let root = TempDir::new("mode");
    let path = root.join("config.json");
    let mut json = serde_json::to_value(tiny_config(FinetuneMode::LoraLast, 4)).expect("json");
    json["mode"] = "lora-everything".into();
    std::fs::write(&path, json.to_string()).expect("write");
    let error = read_json::<FinetuneConfig>(&path).expect_err("bad mode");
    assert!(matches!(error, FileError::Json { .. }), "{error}");
}

#[test]
fn missing_crm_is_typed() {
    let root = TempDir::new("crm");
    let error = FrozenCrm::load(root.path(), &burn::tensor::Device::flex()).expect_err("empty");
    assert!(
        matches!(&error, FinetuneError::MissingCrmCheckpoint { path } if path.ends_with("model-best.bpk")),
        "{error}"
    );
    let crm = root.path().to_str().expect("utf-8");
    let base = [
        "finetune", "--data", "d", "--out", "o", "--mode", "reclora", "--items", "i",
    ];
    let error = finetune_error(run(&[&base[..], &["--crm", crm]].concat()));
    assert!(
        matches!(error, FinetuneError::MissingCrmCheckpoint { .. }),
        "{error}"
    );
    let error = finetune_error(run(&base));
    assert!(
        matches!(
            error,
            FinetuneError::NeedsCrm {
                mode: FinetuneMode::Reclora
            }
        ),
        "{error}"
    );
}

#[test]
fn missing_item_table_is_typed_for_retrieved_modes() {
    let root = TempDir::new("items");
    let error = open_retriever(root.path(), DatasetName::Ml1m)
        .err()
        .expect("empty folder");
    assert!(
        matches!(&error, FinetuneError::MissingItemsTable { path } if path.ends_with("items.safetensors")),
        "{error}"
    );
    let items = root.path().to_str().expect("utf-8");
    let base = [
        "finetune",
        "--data",
        "d",
        "--out",
        "o",
        "--mode",
        "lora-retrieved",
    ];
    let error = finetune_error(run(&[&base[..], &["--items", items]].concat()));
    assert!(
        matches!(error, FinetuneError::MissingItemsTable { .. }),
        "{error}"
    );
    let error = finetune_error(run(&base));
    assert!(
        matches!(
            error,
            FinetuneError::NeedsItems {
                mode: FinetuneMode::LoraRetrieved
            }
        ),
        "{error}"
    );
    // Last-K modes never need the table.
    tiny_config(FinetuneMode::LoraLast, 4)
        .validate()
        .expect("valid");
    let mut zero_shot = tiny_config(FinetuneMode::ZeroShot, 4);
    zero_shot.items = None;
    zero_shot.crm = None;
    zero_shot.validate().expect("valid");
}

#[test]
fn eval_rejects_zero_rows_and_folders_that_are_not_finished_runs() {
    let root = TempDir::new("eval-errors");
    let dir = root.path().to_str().expect("utf-8");
    let error = finetune_error(run(&["eval", "--run", dir, "--test-rows", "0"]));
    assert!(
        matches!(
            error,
            FinetuneError::ZeroOption {
                option: "--test-rows"
            }
        ),
        "{error}"
    );
    for option in ["--test-sample", "--valid-sample"] {
        let error = finetune_error(run(&["eval", "--run", dir, option, "0"]));
        assert!(
            matches!(error, FinetuneError::ZeroOption { option: named } if named == option),
            "{error}"
        );
    }
    let error = finetune_error(run(&["eval", "--run", dir, "--batch", "0"]));
    assert!(
        matches!(error, FinetuneError::ZeroOption { option: "--batch" }),
        "{error}"
    );
    let error = finetune_error(run(&["eval", "--run", dir]));
    assert!(
        matches!(&error, FinetuneError::MissingRunConfig { path } if path.ends_with("config.json")),
        "{error}"
    );
    // A training run that stopped early cannot be evaluated.
    let folder = RunFolder::new(root.path());
    let mut config = tiny_config(FinetuneMode::LoraLast, 4);
    config.items = None;
    write_json(&folder.config(), &config).expect("config");
    let mut state = TrainState::new(3);
    state.steps_done = 1;
    write_json(&folder.state(), &state).expect("state");
    let error = finetune_error(run(&["eval", "--run", dir]));
    assert!(
        matches!(
            error,
            FinetuneError::TrainingIncomplete {
                steps_done: 1,
                total_steps: 3
            }
        ),
        "{error}"
    );
}

#[test]
fn bad_sizes_are_typed() {
    let check = |edit: fn(&mut FinetuneConfig)| {
        let mut config = tiny_config(FinetuneMode::Reclora, 4);
        edit(&mut config);
        config.validate().expect_err("invalid")
    };
    assert!(matches!(
        check(|c| c.micro_batch = 0),
        FinetuneError::ZeroOption {
            option: "--micro-batch"
        }
    ));
    assert!(matches!(
        check(|c| c.grad_accum = 0),
        FinetuneError::ZeroOption {
            option: "--grad-accum"
        }
    ));
    assert!(matches!(
        check(|c| c.train_size = 0),
        FinetuneError::ZeroOption {
            option: "--train-size"
        }
    ));
    assert!(matches!(
        check(|c| c.learning_rate = f64::NAN),
        FinetuneError::BadLearningRate(_)
    ));
    assert!(matches!(
        check(|c| c.plora = None),
        FinetuneError::AdapterConfig {
            mode: FinetuneMode::Reclora,
            trains: true
        }
    ));
    assert!(matches!(
        check(|c| if let Some(p) = &mut c.plora {
            p.rank = 0
        }),
        FinetuneError::Plora(_)
    ));
}

#[test]
fn a_stored_item_table_opens_as_the_retriever_of_its_dataset_only() {
    let root = TempDir::new("table");
    // Three items in 2-D: item 11 points almost like item 10, item 12 is orthogonal to it.
    let table = ItemEmbeddings {
        item_ids: vec![10, 11, 12],
        dim: 2,
        embeddings: vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0],
        mean: vec![0.0; 3],
        components: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    };
    let info = |dataset: &str| ItemTableInfo {
        format_version: TABLE_FORMAT_VERSION,
        model: "tiny".into(),
        dataset: dataset.into(),
        hidden_size: 3,
        dim: 2,
        item_count: 3,
        first_item_id: 10,
        explained_variance_ratio: vec![0.5, 0.5],
        explained_variance_ratio_total: 1.0,
        pooling: String::new(),
        description_template: String::new(),
        prompt_template: String::new(),
        seconds: 0.0,
    };
    table.write(root.path(), &info("ml-100k")).expect("writes");
    let error = open_retriever(root.path(), DatasetName::Ml1m)
        .err()
        .expect("other dataset");
    assert!(
        matches!(error, FinetuneError::ItemsDataset { data: "ml-1m", .. }),
        "{error}"
    );
    table.write(root.path(), &info("ml-1m")).expect("writes");
    let retriever = open_retriever(root.path(), DatasetName::Ml1m).expect("opens");
    let event = |item| HistoryEvent {
        item,
        rating: 4,
        timestamp: 0,
    };
    let history = [event(12), event(11)];
    // cos(10, 11) = 0.994 beats cos(10, 12) = 0.
    assert_eq!(retriever.select(10, &history, 1), vec![1]);
}

#[test]
fn adapt_layers_reaches_the_adapter_config_and_zero_is_refused() {
    #[derive(clap::Parser)]
    struct Finetune {
        #[command(flatten)]
        args: crate::finetune::command::FinetuneArgs,
    }
    let parse = |extra: &[&str]| {
        let mut argv = vec![
            "finetune", "--data", "d", "--out", "o", "--mode", "reclora", "--crm", "c", "--items",
            "i",
        ];
        argv.extend_from_slice(extra);
        Finetune::try_parse_from(argv)
            .expect("parses")
            .args
            .config(256)
    };
    let all = parse(&[]);
    assert_eq!(all.plora.as_ref().map(|p| p.adapt_layers), Some(None));
    let top = parse(&["--adapt-layers", "4"]);
    let plora = top.plora.as_ref().expect("reclora has an adapter");
    assert_eq!(plora.adapt_layers, Some(4));
    assert_eq!(plora.first_adapted_layer(30), 26);
    let zero = parse(&["--adapt-layers", "0"]);
    assert!(matches!(
        zero.validate(),
        Err(FinetuneError::Plora(
            reclora_core::PloraError::NoAdaptedLayers
        ))
    ));
}
