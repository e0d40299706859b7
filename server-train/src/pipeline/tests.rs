//! The pipeline end to end on the tiny ML-1M-format fixture and a tiny random Llama: every
//! stage, a rerun that skips everything, a changed finetune setting that re-runs only what
//! depends on it, an interrupted finetune that resumes to the same metrics; and recipes
//! refused with the key and line at fault, before anything is written.

use std::path::{Path, PathBuf};

use super::*;
use crate::finetune::tests::fixture::{TempDir, tiny_llama_config, write_synthetic_ml1m_sized};
use crate::parity::tests::write_hf_folder;
use crate::rank::RankedSlate;
use reclora_core::llm::LlamaConfig;

/// The raw fixture and the tiny model under `root`; returns (raw, model).
fn inputs(root: &TempDir) -> (PathBuf, PathBuf) {
    let raw = root.join("raw");
    write_synthetic_ml1m_sized(&raw, 17);
    let model = root.join("tiny-llm");
    let config = LlamaConfig {
        hidden_size: 32,
        intermediate_size: 64,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 8,
        ..tiny_llama_config()
    };
    write_hf_folder(&model, &config);
    (raw, model)
}

/// A tiny recipe: `finetune_extra` is appended to `[finetune]`.
fn tiny_recipe(raw: &Path, model: &Path, finetune_extra: &str) -> String {
    format!(
        r#"[pipeline]
model = "{model}"
backend = "cpu"

[prepare]
dataset = "ml-1m"
raw = "{raw}"

[crm]
epochs = 1
batch-size = 16

[embed-items]
dim = 4
batch = 8

[finetune]
modes = ["reclora"]
train-size = 8
micro-batch = 2
grad-accum = 2
history-k = 3
num-meta = 3
rank = 2
alpha = 4.0
gate-dropout = 0.0
checkpoint-every = 1
{finetune_extra}

[eval]
test-rows = 1000
batch = 4

[export]
quant = "q8"

[check]
rows = 5
top = 3
"#,
        model = model.display(),
        raw = raw.display(),
    )
}

fn write_recipe(root: &TempDir, name: &str, text: &str) -> Recipe {
    let path = root.join(name);
    std::fs::write(&path, text).expect("recipe");
    Recipe::read(&path).expect("parses")
}

fn actions(outcome: &PipelineOutcome) -> Vec<(String, Action)> {
    outcome
        .units
        .iter()
        .map(|u| (u.unit.clone(), u.action))
        .collect()
}

/// The reclora run's test metrics (AUC, LogLoss, rows) and its per-row scores.
fn results(out: &Path) -> (serde_json::Value, String) {
    let run = out.join("runs/reclora");
    let text = std::fs::read_to_string(run.join("metrics.json")).expect("metrics");
    let metrics: serde_json::Value = serde_json::from_str(&text).expect("json");
    let scores = std::fs::read_to_string(run.join("scores.csv")).expect("scores");
    (metrics["test"].clone(), scores)
}

#[test]
fn a_tiny_recipe_runs_every_stage_then_skips_then_reruns_only_what_changed() {
    let root = TempDir::new("pipeline-e2e");
    let (raw, model) = inputs(&root);
    let recipe = write_recipe(&root, "tiny.toml", &tiny_recipe(&raw, &model, ""));
    let out = root.join("out");

    let first = run_pipeline(&recipe, &out).expect("runs");
    let labels: Vec<String> = first.units.iter().map(|u| u.unit.clone()).collect();
    assert_eq!(
        labels,
        [
            "prepare",
            "crm",
            "embed-items",
            "finetune reclora",
            "eval reclora",
            "report",
            "export",
            "check"
        ]
    );
    assert!(first.units.iter().all(|u| u.action == Action::Run));
    assert!(first.units.iter().all(|u| u.reason == Reason::NeverRun));
    let layout = Layout { root: out.clone() };
    let report = std::fs::read_to_string(layout.report().join("report.md")).expect("report");
    assert!(
        report.contains("| crm |") && report.contains("| reclora |"),
        "{report}"
    );
    assert!(layout.bundle().join("manifest.json").is_file());
    let slate: RankedSlate =
        crate::json_file::read_json(&layout.check().join("slate.json")).expect("slate");
    assert!(slate.candidates >= 2);
    assert_eq!(slate.items.len(), slate.candidates.min(3));
    assert!(slate.items.windows(2).all(|w| w[0].score >= w[1].score));
    let parity: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(layout.check().join("parity.json")).expect("parity"),
    )
    .expect("json");
    assert_eq!(parity["rows"], 5);
    // The q8 bundle against the server's f32 scores, within the q8 parity bound.
    assert!(
        parity["max_abs_diff"].as_f64().expect("max") <= 0.02,
        "{parity}"
    );
    let reference = results(&out);
    assert!(reference.0["auc"].is_f64(), "{:?}", reference.0);

    // Nothing changed: every unit is up to date and the summary says so.
    let again = run_pipeline(&recipe, &out).expect("reruns");
    assert!(again.all_up_to_date(), "{:?}", actions(&again));
    assert!(summary::summary(&again, &layout).contains("every stage was up to date"));

    // One finetune setting changed: finetune and everything after it, nothing before.
    let changed = write_recipe(&root, "tiny.toml", &tiny_recipe(&raw, &model, "lr = 0.002"));
    let steps = planned(&changed, &out).expect("plan");
    let would: Vec<(String, Action)> = steps.iter().map(|s| (s.unit.label(), s.action)).collect();
    let expected = |label: &str| {
        if ["prepare", "crm", "embed-items"].contains(&label) {
            Action::Skip
        } else {
            Action::Run
        }
    };
    assert!(
        would
            .iter()
            .all(|(label, action)| *action == expected(label)),
        "{would:?}"
    );
    assert_eq!(
        steps[3].reason,
        Reason::SettingsChanged(vec![("--lr".into(), "(default)".into(), "0.002".into())])
    );
    assert!(
        matches!(&steps[4].reason, Reason::InputsChanged(names) if names == &["finetune reclora"])
    );
    let rerun = run_pipeline(&changed, &out).expect("reruns");
    assert_eq!(actions(&rerun), would, "the run did what the plan said");
    assert_ne!(results(&out).1, reference.1, "another lr, other scores");

    // Back to the first settings, but killed during finetune: the record says running
    // and the run folder holds a checkpoint of step 1 of 2 (what `--stop-after-steps`
    // leaves, as a SIGKILL after that checkpoint would).
    let recipe = write_recipe(&root, "tiny.toml", &tiny_recipe(&raw, &model, ""));
    let steps = planned(&recipe, &out).expect("plan");
    let finetune = &steps[3];
    let run_dir = out.join("runs/reclora");
    std::fs::remove_dir_all(&run_dir).expect("clean run");
    write_stamp(
        &layout.state(),
        &finetune.unit,
        &Stamp {
            unit: finetune.unit.label(),
            fingerprint: finetune.identity.fingerprint.clone(),
            state: StampState::Running,
            commands: finetune.identity.commands.clone(),
            inputs: finetune.identity.inputs.clone(),
            seconds: 0.0,
        },
    )
    .expect("stamp");
    let mut partial = finetune.unit.commands[0].clone();
    partial.extend(["--stop-after-steps".into(), "1".into()]);
    crate::cli::run_args(&partial).expect("first step");
    let state: crate::finetune::files::TrainState =
        crate::json_file::read_json(&run_dir.join("train-state.json")).expect("state");
    assert_eq!((state.steps_done, state.finished), (1, false));

    let resumed = run_pipeline(&recipe, &out).expect("resumes");
    assert_eq!(resumed.units[3].action, Action::Resume);
    assert_eq!(resumed.units[3].reason, Reason::Interrupted);
    assert_eq!(
        results(&out),
        reference,
        "the resumed run's metrics and scores equal the uninterrupted run's"
    );
}

#[test]
fn dry_run_plans_without_writing() {
    let root = TempDir::new("pipeline-dry");
    let (raw, model) = inputs(&root);
    let recipe = write_recipe(&root, "tiny.toml", &tiny_recipe(&raw, &model, ""));
    let out = root.join("out");
    let steps = planned(&recipe, &out).expect("plan");
    assert_eq!(steps.len(), 8);
    assert!(steps.iter().all(|s| s.action == Action::Run));
    let table = summary::plan_table(&out, &steps);
    assert!(
        table.contains("| 4 | finetune reclora | run | never run |"),
        "{table}"
    );
    assert!(!out.exists(), "a dry run writes nothing");
}

/// The recipe with `line_to_replace` (a whole line of the tiny recipe) replaced.
fn broken(root: &TempDir, raw: &Path, model: &Path, from: &str, to: &str) -> String {
    let text = tiny_recipe(raw, model, "");
    assert!(text.contains(from), "{from}");
    let recipe_path = root.join("broken.toml");
    std::fs::write(&recipe_path, text.replacen(from, to, 1)).expect("recipe");
    let out = root.join("out-broken");
    let error = Recipe::read(&recipe_path)
        .map_err(PipelineError::from)
        .and_then(|recipe| planned(&recipe, &out).map(|_| ()))
        .expect_err("refused");
    assert!(!out.exists(), "nothing written for a refused recipe");
    error.to_string()
}

#[test]
fn malformed_recipes_are_refused_with_the_key_and_line() {
    let root = TempDir::new("pipeline-errors");
    let (raw, model) = inputs(&root);
    let b = |from: &str, to: &str| broken(&root, &raw, &model, from, to);
    let path = root.join("broken.toml").display().to_string();

    // Line 10 is `epochs = 1` under [crm].
    assert_eq!(
        b("epochs = 1", "epochz = 1"),
        format!(
            "{path}:10: [crm] has no key `epochz`; it takes: model, backend, epochs, \
             batch-size, lr, lr-schedule, weight-decay, embed-init-std, train-limit, \
             eval-limit, seed"
        )
    );
    assert_eq!(
        b("epochs = 1", "epochs = [1, 2]"),
        format!("{path}:10: [crm] `epochs` must be a single string or number, found an array")
    );
    let text = b("train-size = 8", "train-size = \"eight\"");
    assert!(
        text.starts_with(&format!(
            "{path}:19: [finetune] `train-size`: invalid value 'eight'"
        )),
        "{text}"
    );
    assert_eq!(
        b("checkpoint-every = 1", "resume = true"),
        format!("{path}:27: [finetune] `resume` is set by the pipeline and cannot be given")
    );
    assert_eq!(
        b("[export]", "[exports]"),
        format!(
            "{path}:34: unknown stage [exports]: expected pipeline, prepare, crm, \
             embed-items, finetune, eval, report, export, check"
        )
    );
    assert_eq!(
        b("gate-dropout = 0.0", "gate-dropout = true"),
        format!("{path}:26: [finetune] `gate-dropout` must be a string or number, found a boolean")
    );
    let missing = root.join("raw").display().to_string();
    assert_eq!(
        b(
            &format!("raw = \"{missing}\""),
            "raw = \"/nonexistent/ml-1m\""
        ),
        format!("{path}:7: [prepare] `raw`: /nonexistent/ml-1m does not exist")
    );
    assert_eq!(
        b("dataset = \"ml-1m\"\n", ""),
        format!("{path}:5: [prepare] needs `dataset`")
    );
    assert_eq!(
        b(
            "modes = [\"reclora\"]",
            "modes = [\"reclora\", \"lora-lasts\"]"
        ),
        format!(
            "{path}:18: [finetune] `modes`: unknown mode `lora-lasts`: expected zero-shot, \
             lora-last, lora-retrieved, reclora or reclora-fused"
        )
    );
    let text = b("[eval]", "[eval\n");
    assert!(
        text.starts_with(&format!("{path}:30: not valid TOML")),
        "{text}"
    );
}

#[test]
fn warm_start_names_an_earlier_mode_and_depends_on_it() {
    let root = TempDir::new("pipeline-warm");
    let (raw, model) = inputs(&root);
    let text = tiny_recipe(
        &raw,
        &model,
        "\n[finetune.reclora]\nwarm-start = \"lora-retrieved\"\n",
    )
    .replace(
        "modes = [\"reclora\"]",
        "modes = [\"lora-retrieved\", \"reclora\"]",
    );
    let recipe = write_recipe(&root, "warm.toml", &text);
    let out = root.join("out");
    let steps = planned(&recipe, &out).expect("plan");
    let finetune = steps
        .iter()
        .find(|s| s.unit.label() == "finetune reclora")
        .expect("unit");
    let argv = &finetune.unit.commands[0];
    let warm = units::flag_value(argv, "--warm-start").expect("flag");
    assert_eq!(Path::new(warm), out.join("runs/lora-retrieved"));
    assert!(
        finetune
            .identity
            .inputs
            .contains_key("finetune lora-retrieved")
    );
    let static_run = steps
        .iter()
        .find(|s| s.unit.label() == "finetune lora-retrieved")
        .expect("unit");
    assert!(units::flag_value(&static_run.unit.commands[0], "--warm-start").is_none());
}
