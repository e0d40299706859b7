//! A recipe turned into units of work: one per stage (finetune and eval once per mode),
//! each with the exact `reclora-train` command lines it runs, what it depends on, and the
//! outputs that show it is done.
//!
//! Every key is checked against the stage command's own flags (clap), and every command
//! line is parsed by that command's parser before anything runs, so a recipe that would
//! fail halfway is refused up front with the key and line at fault.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use super::error::RecipeError;
use super::recipe::{Recipe, Section, Setting, SettingValue};
use super::stage::{KeyKind, PIPELINE_KEYS, PipelineKey, Stage};
use crate::cli::Cli;

/// The folders of a pipeline's output, one per stage.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The pipeline's output folder.
    pub root: PathBuf,
}

impl Layout {
    /// The prepared dataset.
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    /// The CRM run.
    pub fn crm(&self) -> PathBuf {
        self.root.join("crm")
    }
    /// The item table.
    pub fn items(&self) -> PathBuf {
        self.root.join("items")
    }
    /// One mode's run folder (finetune and eval).
    pub fn run(&self, mode: &str) -> PathBuf {
        self.root.join("runs").join(mode)
    }
    /// The report.
    pub fn report(&self) -> PathBuf {
        self.root.join("report")
    }
    /// The bundle.
    pub fn bundle(&self) -> PathBuf {
        self.root.join("bundle")
    }
    /// The on-device check's files.
    pub fn check(&self) -> PathBuf {
        self.root.join("check")
    }
    /// The stages' state files.
    pub fn state(&self) -> PathBuf {
        self.root.join(".pipeline")
    }
}

/// What a finished unit leaves behind.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// This file exists.
    File(PathBuf),
    /// This `train-state.json` says the run finished.
    Trained(PathBuf),
}

/// What a unit removes before a fresh run (its own outputs only).
#[derive(Debug, Clone, PartialEq)]
pub enum Outputs {
    /// A whole folder.
    Dir(PathBuf),
    /// These files (eval's, inside the finetune run's folder).
    Files(Vec<PathBuf>),
}

/// One unit of work.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The stage.
    pub stage: Stage,
    /// The finetune mode, for finetune and eval.
    pub mode: Option<String>,
    /// Command lines (without the program name), run in order.
    pub commands: Vec<Vec<String>>,
    /// Units (indices) whose outputs this one reads.
    pub deps: Vec<usize>,
    /// Files whose contents are inputs (the raw dataset, the model).
    pub input_files: Vec<PathBuf>,
    /// What shows it finished.
    pub done: Vec<Done>,
    /// What a fresh run removes first.
    pub outputs: Outputs,
    /// Whether `--resume` continues it (crm, finetune).
    pub resumable: bool,
}

impl Unit {
    /// "finetune reclora", "crm".
    pub fn label(&self) -> String {
        match &self.mode {
            Some(mode) => format!("{} {mode}", self.stage.name()),
            None => self.stage.name().to_owned(),
        }
    }

    /// The state file's stem: "finetune-reclora".
    pub fn id(&self) -> String {
        self.label().replace(' ', "-")
    }
}

/// Modes `export` can package.
const EXPORTABLE: [&str; 2] = ["reclora", "reclora-fused"];

/// Builds and checks every unit of `recipe`, writing under `root`.
pub fn plan_units(recipe: &Recipe, root: &Path) -> Result<Vec<Unit>, RecipeError> {
    let builder = Builder {
        recipe,
        layout: Layout {
            root: root.to_path_buf(),
        },
    };
    builder.units()
}

struct Builder<'a> {
    recipe: &'a Recipe,
    layout: Layout,
}

impl Builder<'_> {
    fn units(&self) -> Result<Vec<Unit>, RecipeError> {
        self.check_pipeline_keys()?;
        for stage in Stage::ALL {
            self.check_keys(stage, self.recipe.section(stage))?;
        }
        let modes = self.modes()?;
        let layout = &self.layout;
        let mut units = Vec::new();

        let raw = self.raw_dataset()?;
        units.push(Unit {
            stage: Stage::Prepare,
            mode: None,
            commands: vec![self.command(Stage::Prepare, None, &[("out", path(&layout.data()))])?],
            deps: vec![],
            input_files: vec![raw],
            done: vec![Done::File(
                layout.data().join(crate::data::store::META_FILE),
            )],
            outputs: Outputs::Dir(layout.data()),
            resumable: false,
        });
        let prepare = 0;

        units.push(Unit {
            stage: Stage::Crm,
            mode: None,
            commands: vec![self.command(
                Stage::Crm,
                None,
                &[("data", path(&layout.data())), ("out", path(&layout.crm()))],
            )?],
            deps: vec![prepare],
            input_files: vec![],
            done: vec![Done::File(layout.crm().join("metrics.json"))],
            outputs: Outputs::Dir(layout.crm()),
            resumable: true,
        });
        let crm = 1;

        let items_command = self.command(
            Stage::EmbedItems,
            None,
            &[
                ("data", path(&layout.data())),
                ("out", path(&layout.items())),
            ],
        )?;
        let model = self.model_of(Stage::EmbedItems, None, &items_command)?;
        units.push(Unit {
            stage: Stage::EmbedItems,
            mode: None,
            commands: vec![items_command],
            deps: vec![prepare],
            input_files: vec![model],
            done: vec![Done::File(layout.items().join("items.json"))],
            outputs: Outputs::Dir(layout.items()),
            resumable: false,
        });
        let items = 2;

        let mut finetunes = Vec::new();
        for (mode, _) in &modes {
            let run = layout.run(mode);
            let mut managed = vec![
                ("data", path(&layout.data())),
                ("crm", path(&layout.crm())),
                ("items", path(&layout.items())),
                ("mode", mode.clone()),
                ("out", path(&run)),
            ];
            let mut deps = vec![prepare, crm, items];
            // `warm-start = "lora-retrieved"`: that mode's run of this pipeline.
            if let Some(source) = self.warm_start_mode(mode, &modes)? {
                managed.push(("warm-start", path(&layout.run(&source))));
                let index = finetunes
                    .iter()
                    .find(|(m, _): &&(String, usize)| *m == source)
                    .map(|(_, i)| *i);
                match index {
                    Some(index) => deps.push(index),
                    None => {
                        let setting = self.warm_start_setting(mode).cloned();
                        return Err(RecipeError::UnlistedMode {
                            path: self.recipe.path.clone(),
                            line: setting.map_or(0, |s| s.line),
                            stage: format!("finetune.{mode}"),
                            name: format!("warm-start = \"{source}\" (list it before {mode})"),
                            modes: self.modes_text(&modes),
                        });
                    }
                }
            }
            let command = self.command(Stage::Finetune, Some(mode), &managed)?;
            let model = self.model_of(Stage::Finetune, Some(mode), &command)?;
            units.push(Unit {
                stage: Stage::Finetune,
                mode: Some(mode.clone()),
                commands: vec![command],
                deps,
                input_files: vec![model],
                done: vec![Done::Trained(run.join("train-state.json"))],
                outputs: Outputs::Dir(run),
                resumable: true,
            });
            finetunes.push((mode.clone(), units.len() - 1));
        }

        let mut evals = Vec::new();
        for (mode, finetune) in &finetunes {
            let run = layout.run(mode);
            let managed = [("run", path(&run))];
            // `valid-sample` beside the test flags: the seeded valid sample that selects
            // models, then the test rows, as two `eval` runs (the flags conflict in one).
            let commands = if self
                .find_setting(Stage::Eval, Some(mode), "valid-sample")
                .is_some()
            {
                vec![
                    self.command_excluding(
                        Stage::Eval,
                        Some(mode),
                        &managed,
                        &["test-rows", "test-sample"],
                    )?,
                    self.command_excluding(Stage::Eval, Some(mode), &managed, &["valid-sample"])?,
                ]
            } else {
                vec![self.command(Stage::Eval, Some(mode), &managed)?]
            };
            let splits: Vec<crate::data::Split> = commands
                .iter()
                .map(|command| {
                    if has_flag(command, "--valid-sample") {
                        crate::data::Split::Valid
                    } else {
                        crate::data::Split::Test
                    }
                })
                .collect();
            let files = [crate::data::Split::Test, crate::data::Split::Valid]
                .into_iter()
                .flat_map(|split| {
                    [
                        run.join(crate::finetune::files::scores_file(split)),
                        run.join(crate::finetune::files::metrics_file(split)),
                    ]
                })
                .collect();
            units.push(Unit {
                stage: Stage::Eval,
                mode: Some(mode.clone()),
                commands,
                deps: vec![*finetune],
                input_files: vec![],
                done: splits
                    .into_iter()
                    .map(|split| Done::File(run.join(crate::finetune::files::metrics_file(split))))
                    .collect(),
                outputs: Outputs::Files(files),
                resumable: false,
            });
            evals.push((mode.clone(), units.len() - 1));
        }

        let mut report_runs = vec![path(&layout.crm())];
        report_runs.extend(evals.iter().map(|(mode, _)| path(&layout.run(mode))));
        let report_managed: Vec<(&str, String)> = report_runs
            .iter()
            .map(|run| (POSITIONAL, run.clone()))
            .chain([("out", path(&layout.report()))])
            .collect();
        let mut report_deps = vec![crm];
        report_deps.extend(evals.iter().map(|(_, i)| *i));
        units.push(Unit {
            stage: Stage::Report,
            mode: None,
            commands: vec![self.command(Stage::Report, None, &report_managed)?],
            deps: report_deps,
            input_files: vec![],
            done: vec![Done::File(layout.report().join("report.md"))],
            outputs: Outputs::Dir(layout.report()),
            resumable: false,
        });

        let export_mode = self.export_mode(&modes)?;
        let export_run = layout.run(&export_mode);
        let finetune_index = finetunes
            .iter()
            .find(|(m, _)| *m == export_mode)
            .map_or(0, |(_, i)| *i);
        let eval_index = evals
            .iter()
            .find(|(m, _)| *m == export_mode)
            .map_or(0, |(_, i)| *i);
        units.push(Unit {
            stage: Stage::Export,
            mode: None,
            commands: vec![self.command(
                Stage::Export,
                None,
                &[("run", path(&export_run)), ("out", path(&layout.bundle()))],
            )?],
            deps: vec![finetune_index],
            input_files: vec![],
            done: vec![Done::File(
                layout
                    .bundle()
                    .join(reclora_core::bundle::manifest::file::MANIFEST),
            )],
            outputs: Outputs::Dir(layout.bundle()),
            resumable: false,
        });
        let export = units.len() - 1;

        units.push(Unit {
            stage: Stage::Check,
            mode: None,
            commands: self.check_commands(&export_run)?,
            deps: vec![export, eval_index],
            input_files: vec![],
            done: vec![
                Done::File(layout.check().join(PARITY_FILE)),
                Done::File(layout.check().join(SLATE_FILE)),
            ],
            outputs: Outputs::Dir(layout.check()),
            resumable: false,
        });
        Ok(units)
    }

    /// `parity` on the first `rows` rows the run scored, then one slate through `rank`.
    fn check_commands(&self, run: &Path) -> Result<Vec<Vec<String>>, RecipeError> {
        let layout = &self.layout;
        let section = self.recipe.section(Stage::Check);
        let rows = match section.get("rows") {
            Some(setting) => count(&self.recipe.path, Stage::Check, setting)?,
            None => DEFAULT_CHECK_ROWS,
        };
        let mut parity = vec![
            "parity".to_owned(),
            "--run".to_owned(),
            path(run),
            "--bundle".to_owned(),
            path(&layout.bundle()),
            "--test-rows".to_owned(),
            rows.to_string(),
            "--out".to_owned(),
            path(&layout.check().join(PARITY_FILE)),
        ];
        // The runtime settings the two commands share.
        for key in ["gate-mode", "activations", "threads"] {
            if let Some(setting) = section.get(key) {
                push_setting(&mut parity, setting);
            }
        }
        self.parse(Stage::Check, None, &parity)?;
        let rank = self.command(
            Stage::Check,
            None,
            &[
                ("bundle", path(&layout.bundle())),
                ("data", path(&layout.data())),
                ("out", path(&layout.check().join(SLATE_FILE))),
            ],
        )?;
        Ok(vec![parity, rank])
    }

    /// `[finetune] modes`, each with its line.
    fn modes(&self) -> Result<Vec<(String, usize)>, RecipeError> {
        let section = self.recipe.section(Stage::Finetune);
        let modes = match section.get("modes") {
            None => vec![("reclora".to_owned(), 0)],
            Some(setting) => match &setting.value {
                SettingValue::List(items) if !items.is_empty() => {
                    items.iter().map(|m| (m.clone(), setting.line)).collect()
                }
                other => {
                    return Err(RecipeError::WrongType {
                        path: self.recipe.path.clone(),
                        line: setting.line,
                        stage: "finetune".into(),
                        key: "modes".into(),
                        expected: "a non-empty array of mode names",
                        found: other.type_name(),
                    });
                }
            },
        };
        for (index, (mode, line)) in modes.iter().enumerate() {
            if <crate::finetune::FinetuneMode as clap::ValueEnum>::from_str(mode, false).is_err() {
                return Err(RecipeError::UnknownMode {
                    path: self.recipe.path.clone(),
                    line: *line,
                    mode: mode.clone(),
                });
            }
            if modes[..index].iter().any(|(m, _)| m == mode) {
                return Err(RecipeError::UnlistedMode {
                    path: self.recipe.path.clone(),
                    line: *line,
                    stage: "finetune".into(),
                    name: format!("{mode} (listed twice)"),
                    modes: self.modes_text(&modes),
                });
            }
        }
        for (name, sub) in &section.subsections {
            if !modes.iter().any(|(m, _)| m == name) {
                return Err(RecipeError::UnlistedMode {
                    path: self.recipe.path.clone(),
                    line: sub.line,
                    stage: format!("finetune.{name}"),
                    name: name.clone(),
                    modes: self.modes_text(&modes),
                });
            }
            self.check_keys(Stage::Finetune, sub)?;
        }
        Ok(modes)
    }

    fn modes_text(&self, modes: &[(String, usize)]) -> String {
        let names: Vec<&str> = modes.iter().map(|(m, _)| m.as_str()).collect();
        format!("[{}]", names.join(", "))
    }

    fn warm_start_setting(&self, mode: &str) -> Option<&Setting> {
        let section = self.recipe.section(Stage::Finetune);
        section
            .subsection(mode)
            .and_then(|s| s.get("warm-start"))
            .or_else(|| section.get("warm-start"))
    }

    /// The mode named by `warm-start`, when it names one rather than a folder.
    fn warm_start_mode(
        &self,
        mode: &str,
        modes: &[(String, usize)],
    ) -> Result<Option<String>, RecipeError> {
        let Some(setting) = self.warm_start_setting(mode) else {
            return Ok(None);
        };
        let SettingValue::Scalar(value) = &setting.value else {
            return Ok(None);
        };
        let names_mode = modes.iter().any(|(m, _)| m == value)
            || <crate::finetune::FinetuneMode as clap::ValueEnum>::from_str(value, false).is_ok();
        Ok(names_mode.then(|| value.clone()))
    }

    fn export_mode(&self, modes: &[(String, usize)]) -> Result<String, RecipeError> {
        let section = self.recipe.section(Stage::Export);
        if let Some(setting) = section.get("mode") {
            let SettingValue::Scalar(mode) = &setting.value else {
                return Err(self.wrong_key_type(Stage::Export, setting, KeyKind::Text));
            };
            if !modes.iter().any(|(m, _)| m == mode) {
                return Err(RecipeError::UnlistedMode {
                    path: self.recipe.path.clone(),
                    line: setting.line,
                    stage: "export".into(),
                    name: mode.clone(),
                    modes: self.modes_text(modes),
                });
            }
            return Ok(mode.clone());
        }
        modes
            .iter()
            .rev()
            .find(|(m, _)| EXPORTABLE.contains(&m.as_str()))
            .map(|(m, _)| m.clone())
            .ok_or_else(|| RecipeError::NothingToExport {
                path: self.recipe.path.clone(),
                line: modes.first().map_or(0, |(_, line)| *line),
                modes: self.modes_text(modes),
            })
    }

    /// `[prepare] raw`, which must exist.
    fn raw_dataset(&self) -> Result<PathBuf, RecipeError> {
        let section = self.recipe.section(Stage::Prepare);
        let Some(setting) = section.get("raw") else {
            return Err(RecipeError::Missing {
                path: self.recipe.path.clone(),
                line: section.line,
                stage: "prepare".into(),
                key: "raw".into(),
            });
        };
        let SettingValue::Scalar(raw) = &setting.value else {
            return Err(self.wrong_key_type(Stage::Prepare, setting, KeyKind::Text));
        };
        let raw = PathBuf::from(raw);
        if !raw.is_dir() {
            return Err(RecipeError::MissingPath {
                path: self.recipe.path.clone(),
                line: setting.line,
                stage: "prepare".into(),
                key: "raw".into(),
                missing: raw,
            });
        }
        Ok(raw)
    }

    /// The `--model` of a built command line, which must exist.
    fn model_of(
        &self,
        stage: Stage,
        mode: Option<&str>,
        command: &[String],
    ) -> Result<PathBuf, RecipeError> {
        let model = flag_value(command, "--model")
            .map_or_else(|| PathBuf::from(crate::cli::DEFAULT_MODEL), PathBuf::from);
        if model.exists() {
            return Ok(model);
        }
        let (stage_name, line) = self
            .find_setting(stage, mode, "model")
            .map(|(name, s)| (name, s.line))
            .or_else(|| {
                self.recipe
                    .pipeline
                    .get("model")
                    .map(|s| ("pipeline".to_owned(), s.line))
            })
            .unwrap_or((stage.name().to_owned(), 0));
        Err(RecipeError::MissingPath {
            path: self.recipe.path.clone(),
            line,
            stage: stage_name,
            key: "model".into(),
            missing: model,
        })
    }

    /// `[pipeline]`: known keys, each a string.
    fn check_pipeline_keys(&self) -> Result<(), RecipeError> {
        let section = &self.recipe.pipeline;
        if let Some((name, sub)) = section.subsections.first() {
            return Err(RecipeError::UnknownStage {
                path: self.recipe.path.clone(),
                line: sub.line,
                name: format!("pipeline.{name}"),
            });
        }
        for setting in &section.settings {
            let Some(key) = PIPELINE_KEYS.iter().find(|k| k.name == setting.key) else {
                return Err(RecipeError::UnknownKey {
                    path: self.recipe.path.clone(),
                    line: setting.line,
                    stage: "pipeline".into(),
                    key: setting.key.clone(),
                    known: PIPELINE_KEYS.map(|k| k.name).join(", "),
                });
            };
            if !matches!(setting.value, SettingValue::Scalar(_)) {
                return Err(RecipeError::WrongType {
                    path: self.recipe.path.clone(),
                    line: setting.line,
                    stage: "pipeline".into(),
                    key: setting.key.clone(),
                    expected: key.expected.describe(),
                    found: setting.value.type_name(),
                });
            }
        }
        Ok(())
    }

    /// Every key of a stage's table names a flag of its command (or a pipeline key) and has
    /// a TOML type that flag can take.
    fn check_keys(&self, stage: Stage, section: &Section) -> Result<(), RecipeError> {
        if stage != Stage::Finetune
            && let Some((name, sub)) = section.subsections.first()
        {
            return Err(RecipeError::UnknownStage {
                path: self.recipe.path.clone(),
                line: sub.line,
                name: format!("{}.{name}", stage.name()),
            });
        }
        let command = subcommand(stage);
        for setting in &section.settings {
            if stage.managed_flags().contains(&setting.key.as_str()) {
                return Err(RecipeError::Managed {
                    path: self.recipe.path.clone(),
                    line: setting.line,
                    stage: stage.name().into(),
                    key: setting.key.clone(),
                });
            }
            if let Some(key) = stage.pipeline_keys().iter().find(|k| k.name == setting.key) {
                self.check_pipeline_key(stage, setting, key)?;
                continue;
            }
            let arg = command
                .get_arguments()
                .find(|a| a.get_long() == Some(setting.key.as_str()));
            let Some(arg) = arg else {
                return Err(RecipeError::UnknownKey {
                    path: self.recipe.path.clone(),
                    line: setting.line,
                    stage: stage.name().into(),
                    key: setting.key.clone(),
                    known: known_keys(stage, &command),
                });
            };
            let takes_value = arg.get_action().takes_values();
            let many = matches!(arg.get_action(), clap::ArgAction::Append);
            let expected = match (&setting.value, takes_value, many) {
                (SettingValue::Switch(_), false, _) => None,
                (_, false, _) => Some("true or false"),
                (SettingValue::Switch(_), true, _) => Some("a string or number"),
                (SettingValue::List(_), true, false) => Some("a single string or number"),
                _ => None,
            };
            if let Some(expected) = expected {
                return Err(RecipeError::WrongType {
                    path: self.recipe.path.clone(),
                    line: setting.line,
                    stage: stage.name().into(),
                    key: setting.key.clone(),
                    expected,
                    found: setting.value.type_name(),
                });
            }
        }
        Ok(())
    }

    fn check_pipeline_key(
        &self,
        stage: Stage,
        setting: &Setting,
        key: &PipelineKey,
    ) -> Result<(), RecipeError> {
        let ok = match (key.expected, &setting.value) {
            (KeyKind::Text, SettingValue::Scalar(_)) => true,
            (KeyKind::TextList, SettingValue::List(_)) => true,
            (KeyKind::Count, SettingValue::Scalar(text)) => text.parse::<usize>().is_ok(),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(self.wrong_key_type(stage, setting, key.expected))
        }
    }

    fn wrong_key_type(&self, stage: Stage, setting: &Setting, expected: KeyKind) -> RecipeError {
        RecipeError::WrongType {
            path: self.recipe.path.clone(),
            line: setting.line,
            stage: stage.name().into(),
            key: setting.key.clone(),
            expected: expected.describe(),
            found: setting.value.type_name(),
        }
    }

    /// The command line of `stage` (for `mode`): `[pipeline]` defaults, the table's
    /// settings, the mode's table over them, then the pipeline's own flags; parsed by the
    /// command's parser.
    fn command(
        &self,
        stage: Stage,
        mode: Option<&str>,
        managed: &[(&str, String)],
    ) -> Result<Vec<String>, RecipeError> {
        self.command_excluding(stage, mode, managed, &[])
    }

    /// [`Self::command`] without the recipe's settings of `left_out`.
    fn command_excluding(
        &self,
        stage: Stage,
        mode: Option<&str>,
        managed: &[(&str, String)],
        left_out: &[&str],
    ) -> Result<Vec<String>, RecipeError> {
        let section = self.recipe.section(stage);
        let sub = mode.and_then(|m| section.subsection(m));
        let command = subcommand(stage);
        let has_flag = |name: &str| command.get_arguments().any(|a| a.get_long() == Some(name));
        let overridden: Vec<&str> = managed
            .iter()
            .map(|(k, _)| *k)
            .chain(left_out.iter().copied())
            .collect();
        let mut argv = vec![stage.command().to_owned()];
        for key in ["model", "backend"] {
            let set_here = section.get(key).is_some() || sub.is_some_and(|s| s.get(key).is_some());
            // `crm --model` names the CRM architecture, not the LLM.
            let applies = has_flag(key) && (key != "model" || stage.reads_the_llm());
            if let (false, true, Some(setting)) = (set_here, applies, self.recipe.pipeline.get(key))
            {
                push_setting(&mut argv, setting);
            }
        }
        let pipeline_keys: Vec<&str> = stage.pipeline_keys().iter().map(|k| k.name).collect();
        for setting in &section.settings {
            let replaced = sub.is_some_and(|s| s.get(&setting.key).is_some());
            if !replaced
                && !pipeline_keys.contains(&setting.key.as_str())
                && !overridden.contains(&setting.key.as_str())
            {
                push_setting(&mut argv, setting);
            }
        }
        for setting in sub.map_or(&[][..], |s| &s.settings[..]) {
            if !overridden.contains(&setting.key.as_str()) {
                push_setting(&mut argv, setting);
            }
        }
        for (flag, value) in managed {
            if *flag != POSITIONAL {
                argv.push(format!("--{flag}"));
            }
            argv.push(value.clone());
        }
        self.parse(stage, mode, &argv)?;
        Ok(argv)
    }

    /// Parses `argv` as the CLI would; a refusal is mapped back to the key at fault.
    fn parse(&self, stage: Stage, mode: Option<&str>, argv: &[String]) -> Result<(), RecipeError> {
        let full = std::iter::once("reclora-train").chain(argv.iter().map(String::as_str));
        let Err(error) = <Cli as clap::Parser>::try_parse_from(full) else {
            return Ok(());
        };
        let flag = match error.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(text)) => Some(text.clone()),
            Some(ContextValue::Strings(list)) => list.first().cloned(),
            _ => None,
        }
        .map(|text| {
            text.trim_start_matches('-')
                .split([' ', '='])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default();
        let section = self.recipe.section(stage);
        let setting = self.find_setting(stage, mode, &flag).or_else(|| {
            self.recipe
                .pipeline
                .get(&flag)
                .map(|s| ("pipeline".to_owned(), s))
        });
        match setting {
            None if error.kind() == ErrorKind::MissingRequiredArgument => {
                Err(RecipeError::Missing {
                    path: self.recipe.path.clone(),
                    line: section.line,
                    stage: stage.name().to_owned(),
                    key: flag,
                })
            }
            setting => {
                let (table, line) = setting.map_or_else(
                    || (stage.name().to_owned(), section.line),
                    |(table, s)| (table, s.line),
                );
                Err(RecipeError::BadValue {
                    path: self.recipe.path.clone(),
                    line,
                    stage: table,
                    key: flag,
                    error: Box::new(error),
                })
            }
        }
    }

    fn find_setting(
        &self,
        stage: Stage,
        mode: Option<&str>,
        key: &str,
    ) -> Option<(String, &Setting)> {
        let section = self.recipe.section(stage);
        mode.and_then(|m| section.subsection(m))
            .and_then(|s| s.get(key))
            .map(|s| (format!("{}.{}", stage.name(), mode.unwrap_or_default()), s))
            .or_else(|| section.get(key).map(|s| (stage.name().to_owned(), s)))
    }
}

/// A managed argument given without a flag (`report`'s run folders).
const POSITIONAL: &str = "";

/// Test rows the on-device check scores by default.
pub const DEFAULT_CHECK_ROWS: usize = 20;
/// The check's parity report.
pub const PARITY_FILE: &str = "parity.json";
/// The check's ranked slate.
pub const SLATE_FILE: &str = "slate.json";

fn subcommand(stage: Stage) -> clap::Command {
    Cli::command()
        .find_subcommand(stage.command())
        .cloned()
        .unwrap_or_else(|| clap::Command::new(stage.command()))
}

fn known_keys(stage: Stage, command: &clap::Command) -> String {
    let mut keys: Vec<&str> = command
        .get_arguments()
        .filter_map(clap::Arg::get_long)
        .filter(|name| *name != "help" && !stage.managed_flags().contains(name))
        .collect();
    keys.extend(stage.pipeline_keys().iter().map(|k| k.name));
    keys.join(", ")
}

fn push_setting(argv: &mut Vec<String>, setting: &Setting) {
    let flag = format!("--{}", setting.key);
    match &setting.value {
        SettingValue::Switch(true) => argv.push(flag),
        SettingValue::Switch(false) => {}
        SettingValue::Scalar(value) => {
            argv.push(flag);
            argv.push(value.clone());
        }
        SettingValue::List(values) => {
            for value in values {
                argv.push(flag.clone());
                argv.push(value.clone());
            }
        }
    }
}

fn count(recipe: &Path, stage: Stage, setting: &Setting) -> Result<usize, RecipeError> {
    match &setting.value {
        SettingValue::Scalar(text) => text.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| RecipeError::WrongType {
        path: recipe.to_path_buf(),
        line: setting.line,
        stage: stage.name().into(),
        key: setting.key.clone(),
        expected: KeyKind::Count.describe(),
        found: setting.value.type_name(),
    })
}

fn path(dir: &Path) -> String {
    dir.display().to_string()
}

fn has_flag(argv: &[String], flag: &str) -> bool {
    argv.iter().any(|a| a == flag)
}

/// The value after the last `flag` of a command line.
pub fn flag_value<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    argv.windows(2)
        .rev()
        .find(|w| w[0] == flag)
        .map(|w| w[1].as_str())
}
