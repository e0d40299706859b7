//! `reclora-train pipeline --recipe R.toml`: raw data to a ranked slate on the device in one
//! command. The stages (prepare, crm, embed-items, finetune and eval per mode, report,
//! export, the on-device check) run the same code as their own subcommands, with the
//! recipe's tables as their flags.
//!
//! Reruns are make-like: a unit whose record (`<out>/.pipeline/<unit>.json`) carries the
//! fingerprint it would have now (its settings, its upstream units' fingerprints and its
//! input files' contents) and whose outputs are there is skipped; a changed setting re-runs
//! that unit and every unit that reads its outputs; a unit killed midway resumes through
//! its own `--resume` path.

pub mod error;
mod plan;
pub mod recipe;
mod stage;
mod stamp;
mod summary;
#[cfg(test)]
mod tests;
mod units;

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

pub use error::{PipelineError, RecipeError};
pub use plan::{Action, Reason};
pub use recipe::Recipe;
pub use stage::Stage;
pub use units::Layout;

use plan::{Step, plan};
use stamp::{Stamp, StampState, write_stamp};
use units::{Outputs, plan_units};

/// Options of `pipeline`.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// The recipe (TOML): one table per stage, keys named as the stage's flags.
    #[arg(long)]
    pub recipe: PathBuf,
    /// Output folder (default: the recipe's `[pipeline] out`, else runs/<recipe name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print which stages would run and why; run nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What one unit did.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitOutcome {
    /// "finetune reclora".
    pub unit: String,
    /// Skipped, resumed or run.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// Wall seconds (0 when skipped).
    pub seconds: f64,
}

/// What a pipeline run did.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineOutcome {
    /// The output folder.
    pub out: PathBuf,
    /// Every unit, in order.
    pub units: Vec<UnitOutcome>,
}

impl PipelineOutcome {
    /// Whether every unit was up to date.
    pub fn all_up_to_date(&self) -> bool {
        self.units.iter().all(|u| u.action == Action::Skip)
    }
}

/// `reclora-train pipeline`.
pub fn run_pipeline_command(args: PipelineArgs) -> Result<(), crate::error::CliError> {
    let recipe = Recipe::read(&args.recipe).map_err(PipelineError::from)?;
    let out = output_folder(&recipe, args.out.as_deref());
    if args.dry_run {
        let steps = planned(&recipe, &out)?;
        print!("{}", summary::plan_table(&out, &steps));
        return Ok(());
    }
    let outcome = run_pipeline(&recipe, &out)?;
    print!("{}", summary::summary(&outcome, &Layout { root: out }));
    Ok(())
}

/// The output folder: `--out`, else `[pipeline] out`, else runs/<recipe file stem>.
pub fn output_folder(recipe: &Recipe, out: Option<&Path>) -> PathBuf {
    if let Some(out) = out {
        return out.to_path_buf();
    }
    if let Some(recipe::SettingValue::Scalar(out)) =
        recipe.pipeline.get("out").map(|s| s.value.clone())
    {
        return PathBuf::from(out);
    }
    let stem = recipe
        .path
        .file_stem()
        .map_or_else(|| "pipeline".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("runs").join(stem)
}

/// The plan of `recipe` writing to `out`, checked whole; writes nothing.
pub fn planned(recipe: &Recipe, out: &Path) -> Result<Vec<Step>, PipelineError> {
    let units = plan_units(recipe, out)?;
    let layout = Layout {
        root: out.to_path_buf(),
    };
    plan(&units, out, &layout.state())
}

/// Runs every unit of `recipe` that is not up to date, in order.
pub fn run_pipeline(recipe: &Recipe, out: &Path) -> Result<PipelineOutcome, PipelineError> {
    let steps = planned(recipe, out)?;
    let layout = Layout {
        root: out.to_path_buf(),
    };
    let bar = crate::progress::shown(
        ProgressBar::new(steps.len() as u64).with_style(
            ProgressStyle::with_template("pipeline [{pos}/{len}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
    );
    let mut outcomes = Vec::with_capacity(steps.len());
    for (k, step) in steps.iter().enumerate() {
        let label = step.unit.label();
        let verb = match step.action {
            Action::Skip => "skip",
            Action::Resume => "resume",
            Action::Run => "run",
        };
        bar.set_position(k as u64);
        bar.set_message(format!("{label}: {verb}"));
        crate::progress::line(&format!(
            "pipeline [{}/{}] {label}: {verb} ({})",
            k + 1,
            steps.len(),
            step.reason
        ));
        let started = Instant::now();
        if step.action != Action::Skip {
            run_step(step, &layout).inspect_err(|_| bar.abandon())?;
        }
        outcomes.push(UnitOutcome {
            unit: label,
            action: step.action,
            reason: step.reason.clone(),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    bar.set_position(steps.len() as u64);
    bar.finish_with_message("done");
    Ok(PipelineOutcome {
        out: out.to_path_buf(),
        units: outcomes,
    })
}

fn run_step(step: &Step, layout: &Layout) -> Result<(), PipelineError> {
    let unit = &step.unit;
    if step.action == Action::Run {
        remove_outputs(&unit.outputs)?;
    }
    let record = |state, seconds| Stamp {
        unit: unit.label(),
        fingerprint: step.identity.fingerprint.clone(),
        state,
        commands: step.identity.commands.clone(),
        inputs: step.identity.inputs.clone(),
        seconds,
    };
    write_stamp(&layout.state(), unit, &record(StampState::Running, 0.0))?;
    let started = Instant::now();
    for argv in &unit.commands {
        let mut argv = argv.clone();
        if step.action == Action::Resume && unit.resumable {
            argv.push("--resume".into());
        }
        if let Some(out) = units::flag_value(&argv, "--out").map(PathBuf::from)
            && let Some(parent) = out.parent()
        {
            std::fs::create_dir_all(parent).map_err(|e| PipelineError::io(parent, e))?;
        }
        crate::cli::run_args(&argv).map_err(|source| PipelineError::Stage {
            unit: unit.label(),
            source: Box::new(source),
        })?;
    }
    let seconds = started.elapsed().as_secs_f64();
    write_stamp(&layout.state(), unit, &record(StampState::Done, seconds))
}

fn remove_outputs(outputs: &Outputs) -> Result<(), PipelineError> {
    match outputs {
        Outputs::Dir(dir) if dir.exists() => {
            std::fs::remove_dir_all(dir).map_err(|e| PipelineError::io(dir, e))
        }
        Outputs::Dir(_) => Ok(()),
        Outputs::Files(files) => {
            for file in files.iter().filter(|f| f.exists()) {
                std::fs::remove_file(file).map_err(|e| PipelineError::io(file, e))?;
            }
            Ok(())
        }
    }
}
