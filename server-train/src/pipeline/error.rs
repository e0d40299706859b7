//! Why a recipe is refused, and why a pipeline run failed.

use std::path::PathBuf;

use super::stage::stage_names;

/// A recipe that cannot run, named by file, line and key. Nothing is written before a
/// recipe has been checked whole.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The file cannot be read.
    #[error("cannot read recipe {path}")]
    Read {
        /// The recipe.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Not TOML.
    #[error("{}: not valid TOML: {message}", at(path, *line))]
    Syntax {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The TOML parser's message.
        message: String,
    },
    /// A top-level key that is not a table.
    #[error("{}: `{name}` must be a table ([{name}])", at(path, *line))]
    NotATable {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The key.
        name: String,
    },
    /// A table that names no stage.
    #[error("{}: unknown stage [{name}]: expected pipeline, {}", at(path, *line), stage_names())]
    UnknownStage {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The table's name.
        name: String,
    },
    /// A key the stage's command has no flag for.
    #[error("{}: [{stage}] has no key `{key}`; it takes: {known}", at(path, *line))]
    UnknownKey {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The table.
        stage: String,
        /// The key.
        key: String,
        /// The keys it takes.
        known: String,
    },
    /// A flag the pipeline sets itself.
    #[error("{}: [{stage}] `{key}` is set by the pipeline and cannot be given", at(path, *line))]
    Managed {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The table.
        stage: String,
        /// The key.
        key: String,
    },
    /// A value of the wrong TOML type.
    #[error("{}: [{stage}] `{key}` must be {expected}, found {found}", at(path, *line))]
    WrongType {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The table.
        stage: String,
        /// The key.
        key: String,
        /// What it takes.
        expected: &'static str,
        /// What the file has.
        found: &'static str,
    },
    /// A value the stage's command refuses (its parser's message).
    #[error("{}: [{stage}] `{key}`: {}", at(path, *line), first_line(error))]
    BadValue {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The table.
        stage: String,
        /// The key.
        key: String,
        /// The command-line parser's error.
        error: Box<clap::Error>,
    },
    /// A required key is missing.
    #[error("{}: [{stage}] needs `{key}`", at(path, *line))]
    Missing {
        /// The recipe.
        path: PathBuf,
        /// 1-based line of the table (0: the table is missing).
        line: usize,
        /// The table.
        stage: String,
        /// The key.
        key: String,
    },
    /// A path that does not exist (the raw dataset, the model).
    #[error("{}: [{stage}] `{key}`: {missing} does not exist", at(path, *line))]
    MissingPath {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The table.
        stage: String,
        /// The key.
        key: String,
        /// The path.
        missing: PathBuf,
    },
    /// `[finetune.NAME]` or `[export] mode` naming a mode that `modes` does not list.
    #[error("{}: [{stage}] `{name}` is not one of the finetune modes ({modes})", at(path, *line))]
    UnlistedMode {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The table.
        stage: String,
        /// The mode named.
        name: String,
        /// `[finetune] modes`.
        modes: String,
    },
    /// `[finetune] modes` names no finetune mode.
    #[error("{}: [finetune] `modes`: unknown mode `{mode}`: expected zero-shot, lora-last, lora-retrieved, reclora or reclora-fused", at(path, *line))]
    UnknownMode {
        /// The recipe.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The name.
        mode: String,
    },
    /// No mode that `export` can package.
    #[error("{}: [export] needs a reclora or reclora-fused run; [finetune] modes is {modes}", at(path, *line))]
    NothingToExport {
        /// The recipe.
        path: PathBuf,
        /// 1-based line of `modes` (0: left out).
        line: usize,
        /// `[finetune] modes`.
        modes: String,
    },
}

/// "recipe.toml:12", or the file alone when there is no line (a table left out).
fn at(path: &std::path::Path, line: usize) -> String {
    if line == 0 {
        path.display().to_string()
    } else {
        format!("{}:{line}", path.display())
    }
}

/// clap's message without its "error: " prefix and usage footer.
fn first_line(error: &clap::Error) -> String {
    error
        .to_string()
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned()
}

/// Why a pipeline run stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The recipe is refused.
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// A stage failed; its outputs stay for a resume.
    #[error("stage {unit} failed")]
    Stage {
        /// The stage (with its mode).
        unit: String,
        /// The command's error.
        source: Box<crate::error::CliError>,
    },
    /// A state file or an input could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// An input file could not be hashed.
    #[error(transparent)]
    Digest(#[from] reclora_core::bundle::BundleError),
    /// A stage's state file is unreadable.
    #[error(transparent)]
    State(#[from] crate::json_file::FileError),
}

impl PipelineError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
