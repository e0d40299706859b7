//! The pipeline end to end on the tiny ML-1M-format fixture and a tiny random Llama: every
//! stage, a rerun that skips everything, a changed finetune setting that re-runs only what
//! depends on it, an interrupted finetune that resumes to the same metrics; and recipes
//! refused with the key and line at fault, before anything is written.

use std::path::{Path, PathBuf};

use super::*;
use crate::finetune::tests::fixture::{
    TempDir, tiny_bundle_llama_config, write_synthetic_ml1m_sized,
};
use crate::parity::tests::write_hf_folder;
use crate::rank::RankedSlate;

/// The raw fixture and the tiny model in a temporary folder, and where outputs go.
struct Tiny {
    root: TempDir,
    raw: PathBuf,
    model: PathBuf,
    out: PathBuf,
}

impl Tiny {
    fn new(name: &str) -> Self {
        let root = TempDir::new(name);
        let raw = root.join("raw");
        write_synthetic_ml1m_sized(&raw, 17);
        let model = root.join("tiny-llm");
        write_hf_folder(&model, &tiny_bundle_llama_config());
        let out = root.join("out");
        Self {
            root,
            raw,
            model,
            out,
        }
    }

    /// `tiny.toml`: the tiny recipe with `finetune_extra` in `[finetune]`.
    fn recipe(&self, finetune_extra: &str) -> Recipe {
        write_recipe(
            &self.root,
            "tiny.toml",
            &tiny_recipe(&self.raw, &self.model, finetune_extra),
        )
    }
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
valid-sample = 6

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
    let tiny = Tiny::new("pipeline-e2e");
    let (recipe, out) = (tiny.recipe(""), tiny.out.clone());

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
    // `valid-sample` beside the test rows: eval scored both, and the report shows each
    // run's valid AUC with its rows (the CRM's whole valid split, the adapter's sample).
    let eval = &planned(&recipe, &out).expect("plan")[4];
    assert_eq!(eval.unit.commands.len(), 2);
    assert_eq!(
        units::flag_value(&eval.unit.commands[0], "--valid-sample"),
        Some("6")
    );
    assert_eq!(
        units::flag_value(&eval.unit.commands[1], "--test-rows"),
        Some("1000")
    );
    let valid: serde_json::Value =
        crate::json_file::read_json(&out.join("runs/reclora/metrics-valid.json"))
            .expect("valid metrics");
    assert_eq!(valid["valid"]["n"], 6);
    assert!(
        report.contains(&format!(
            "{:.4} (6) |",
            valid["valid"]["auc"].as_f64().expect("auc")
        )),
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
    let changed = tiny.recipe("lr = 0.002");
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
    let recipe = tiny.recipe("");
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
    let tiny = Tiny::new("pipeline-dry");
    let (recipe, out) = (tiny.recipe(""), tiny.out.clone());
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

/// The error of the tiny recipe with its first `from` replaced by `to`.
fn broken(tiny: &Tiny, from: &str, to: &str) -> String {
    let text = tiny_recipe(&tiny.raw, &tiny.model, "");
    assert!(text.contains(from), "{from}");
    let recipe_path = tiny.root.join("broken.toml");
    std::fs::write(&recipe_path, text.replacen(from, to, 1)).expect("recipe");
    let out = tiny.root.join("out-broken");
    let error = Recipe::read(&recipe_path)
        .map_err(PipelineError::from)
        .and_then(|recipe| planned(&recipe, &out).map(|_| ()))
        .expect_err("refused");
    assert!(!out.exists(), "nothing written for a refused recipe");
    error.to_string()
}

#[test]
fn malformed_recipes_are_refused_with_the_key_and_line() {
    let tiny = Tiny::new("pipeline-errors");
    let b = |from: &str, to: &str| broken(&tiny, from, to);
    let path = tiny.root.join("broken.toml").display().to_string();

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
            "{path}:35: unknown stage [exports]: expected pipeline, prepare, crm, \
             embed-items, finetune, eval, report, export, check"
        )
    );
    assert_eq!(
        b("gate-dropout = 0.0", "gate-dropout = true"),
        format!("{path}:26: [finetune] `gate-dropout` must be a string or number, found a boolean")
    );
    let missing = tiny.raw.display().to_string();
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
    let tiny = Tiny::new("pipeline-warm");
    let text = tiny_recipe(
        &tiny.raw,
        &tiny.model,
        "\n[finetune.reclora]\nwarm-start = \"lora-retrieved\"\n",
    )
    .replace(
        "modes = [\"reclora\"]",
        "modes = [\"lora-retrieved\", \"reclora\"]",
    );
    let recipe = write_recipe(&tiny.root, "warm.toml", &text);
    let out = tiny.out.clone();
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

/// The recipe `recipes/NAME` with its `assets/` paths pointed at this checkout's assets.
fn shipped_recipe(root: &TempDir, name: &str) -> Recipe {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../recipes")
        .join(name);
    let text = std::fs::read_to_string(&shipped).expect("shipped recipe");
    let assets = crate::data::tests::real_dataset("ml-1m", "ratings.dat")
        .parent()
        .expect("assets")
        .display()
        .to_string();
    write_recipe(
        root,
        name,
        &text.replace("\"assets/", &format!("\"{assets}/")),
    )
}

/// Every command line of `label`'s unit, joined for matching.
fn commands_of(steps: &[Step], label: &str) -> Vec<String> {
    steps
        .iter()
        .find(|s| s.unit.label() == label)
        .unwrap_or_else(|| panic!("no unit {label}"))
        .unit
        .commands
        .iter()
        .map(|argv| argv.join(" "))
        .collect()
}

#[test]
fn the_shipped_recipes_plan_against_the_real_assets() {
    let root = TempDir::new("pipeline-recipes");
    let out = root.join("out");
    let labels = |steps: &[Step]| steps.iter().map(|s| s.unit.label()).collect::<Vec<_>>();

    let quick = planned(&shipped_recipe(&root, "quickstart.toml"), &out).expect("quickstart");
    assert_eq!(labels(&quick).len(), 8);

    let paper = planned(&shipped_recipe(&root, "paper.toml"), &out).expect("paper");
    assert_eq!(
        labels(&paper),
        [
            "prepare",
            "crm",
            "embed-items",
            "finetune zero-shot",
            "finetune lora-retrieved",
            "finetune reclora",
            "finetune reclora-fused",
            "eval zero-shot",
            "eval lora-retrieved",
            "eval reclora",
            "eval reclora-fused",
            "report",
            "export",
            "check"
        ]
    );
    // docs/results.md's protocol: the DIN acceptance run (3 epochs, crm's defaults), 1,024
    // prompts, the yes/no loss, RecLoRA warm-started from the static LoRA with a 10x gate
    // lr, 400 sampled valid rows to select on and 2,000 sampled test rows to report.
    let crm = &commands_of(&paper, "crm")[0];
    assert!(
        !crm.contains("--train-limit") && crm.contains("--epochs 3 "),
        "{crm}"
    );
    let reclora = &commands_of(&paper, "finetune reclora")[0];
    for flag in ["--train-size 1024", "--loss yes-no", "--gate-lr 0.01"] {
        assert!(reclora.contains(flag), "{reclora}");
    }
    let warm = out.join("runs/lora-retrieved").display().to_string();
    assert!(
        reclora.contains(&format!("--warm-start {warm}")),
        "{reclora}"
    );
    let eval = commands_of(&paper, "eval reclora-fused");
    assert_eq!(eval.len(), 2);
    assert!(
        eval[0].contains("--valid-sample 400 ") && eval[0].contains("--seed 1"),
        "{eval:?}"
    );
    assert!(
        eval[1].contains("--test-sample 2000 ") && !eval[1].contains("--valid-sample"),
        "{eval:?}"
    );
    assert!(commands_of(&paper, "export")[0].contains("runs/reclora-fused"));

    let small = planned(&shipped_recipe(&root, "ml-100k.toml"), &out).expect("ml-100k");
    assert!(commands_of(&small, "prepare")[0].contains("--dataset ml-100k"));
    assert!(commands_of(&small, "prepare")[0].contains("ml-100k"));
    assert_eq!(labels(&small), labels(&paper));
    assert!(!out.exists(), "planning writes nothing");
}

/// Set by the SIGKILL test for its child process: the recipe and the output folder.
const CHILD_RECIPE: &str = "RECLORA_PIPELINE_TEST_CHILD_RECIPE";
const CHILD_OUT: &str = "RECLORA_PIPELINE_TEST_CHILD_OUT";

/// The pipeline process of `a_pipeline_killed_during_finetune_resumes_to_the_same_metrics`:
/// this test binary re-run with only this test, which then runs `reclora-train pipeline` as
/// the binary would. Without the child's variables there is nothing to do.
#[test]
fn pipeline_child_process() {
    let (Some(recipe), Some(out)) = (
        std::env::var(CHILD_RECIPE).ok(),
        std::env::var(CHILD_OUT).ok(),
    ) else {
        return;
    };
    let argv = [
        "pipeline",
        "--recipe",
        recipe.as_str(),
        "--out",
        out.as_str(),
    ]
    .map(String::from);
    crate::cli::run_args(&argv).expect("the child pipeline");
}

#[test]
fn a_pipeline_killed_during_finetune_resumes_to_the_same_metrics() {
    let tiny = Tiny::new("pipeline-sigkill");
    // 8 epochs of 2 steps, a checkpoint after each: the kill lands with steps to go.
    let recipe = tiny.recipe("epochs = 8");
    let reference_out = tiny.root.join("uninterrupted");
    run_pipeline(&recipe, &reference_out).expect("uninterrupted run");
    let reference = results(&reference_out);

    let out = tiny.out.clone();
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "pipeline::tests::pipeline_child_process",
            "--test-threads=1",
        ])
        .env(CHILD_RECIPE, &recipe.path)
        .env(CHILD_OUT, &out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child");
    // SIGKILL once the first checkpoint is on disk and the run is not finished.
    let state_file = out.join("runs/reclora/train-state.json");
    let started = std::time::Instant::now();
    let killed_at = loop {
        let state = crate::json_file::read_json::<crate::finetune::files::TrainState>(&state_file);
        if let Ok(state) = state
            && state.steps_done >= 1
        {
            child.kill().expect("SIGKILL");
            break state;
        }
        if let Some(status) = child.try_wait().expect("child state") {
            panic!("the child pipeline ended before its first checkpoint: {status}");
        }
        assert!(
            started.elapsed().as_secs() < 600,
            "no checkpoint after 600 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    child.wait().expect("reaped");
    assert!(
        !killed_at.finished,
        "killed mid-finetune: {} of {} steps",
        killed_at.steps_done, killed_at.total_steps
    );

    let resumed = run_pipeline(&recipe, &out).expect("resumes");
    let did: Vec<(String, Action)> = actions(&resumed);
    assert_eq!(
        did[..3].iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        [Action::Skip; 3],
        "{did:?}"
    );
    assert_eq!(
        (resumed.units[3].action, &resumed.units[3].reason),
        (Action::Resume, &Reason::Interrupted)
    );
    let state: crate::finetune::files::TrainState =
        crate::json_file::read_json(&state_file).expect("state");
    assert!(
        state.finished && state.steps_done == 16,
        "{} steps",
        state.steps_done
    );
    assert_eq!(
        results(&out),
        reference,
        "the resumed run's metrics and scores equal the uninterrupted run's"
    );
}
