//! The stages, in order: their recipe tables, the command each runs, the flags the
//! pipeline sets itself, and the keys that only the pipeline reads.

/// One stage of the pipeline (a recipe table of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// `prepare`: the raw dataset into samples, features and the split.
    Prepare,
    /// `crm`: DIN on the train split.
    Crm,
    /// `embed-items`: the LSMR item table.
    EmbedItems,
    /// `finetune`, once per mode.
    Finetune,
    /// `eval`, once per mode.
    Eval,
    /// `report`: every evaluated mode and DIN on the rows they all scored.
    Report,
    /// `export`: one mode's run as an on-device bundle.
    Export,
    /// The on-device check: `parity` on a few rows and one slate through `rank`.
    Check,
}

/// A key only the pipeline reads (not a flag of the stage's command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineKey {
    /// Its name.
    pub name: &'static str,
    /// What it takes, for errors.
    pub expected: KeyKind,
    /// What it means (`--help`-like, for errors).
    pub help: &'static str,
}

/// The TOML type a [`PipelineKey`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A string.
    Text,
    /// An array of strings.
    TextList,
    /// A whole number.
    Count,
}

impl KeyKind {
    /// For errors.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Text => "a string",
            Self::TextList => "an array of strings",
            Self::Count => "a whole number",
        }
    }
}

impl Stage {
    /// Every stage, in the order they run.
    pub const ALL: [Stage; 8] = [
        Stage::Prepare,
        Stage::Crm,
        Stage::EmbedItems,
        Stage::Finetune,
        Stage::Eval,
        Stage::Report,
        Stage::Export,
        Stage::Check,
    ];

    /// The recipe table's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Prepare => "prepare",
            Self::Crm => "crm",
            Self::EmbedItems => "embed-items",
            Self::Finetune => "finetune",
            Self::Eval => "eval",
            Self::Report => "report",
            Self::Export => "export",
            Self::Check => "check",
        }
    }

    /// The `reclora-train` subcommand whose flags the table takes.
    pub fn command(self) -> &'static str {
        match self {
            Self::Check => "rank",
            other => other.name(),
        }
    }

    /// Whether the stage's `--model` is the frozen LLM (`[pipeline] model` applies).
    pub fn reads_the_llm(self) -> bool {
        matches!(self, Self::EmbedItems | Self::Finetune)
    }

    /// Flags the pipeline sets (paths between stages, resumption); a recipe may not.
    pub fn managed_flags(self) -> &'static [&'static str] {
        match self {
            Self::Prepare => &["out"],
            Self::Crm => &["data", "out", "resume"],
            Self::EmbedItems => &["data", "out"],
            Self::Finetune => &[
                "data",
                "crm",
                "items",
                "out",
                "resume",
                "mode",
                "stop-after-steps",
            ],
            Self::Eval => &["run", "stop-after-rows"],
            Self::Report => &["runs", "out"],
            Self::Export => &["run", "out"],
            Self::Check => &["bundle", "data", "json", "out"],
        }
    }

    /// Keys of the table that the pipeline reads itself.
    pub fn pipeline_keys(self) -> &'static [PipelineKey] {
        match self {
            Self::Finetune => &[PipelineKey {
                name: "modes",
                expected: KeyKind::TextList,
                help: "the finetune modes to train and evaluate (default [\"reclora\"])",
            }],
            Self::Export => &[PipelineKey {
                name: "mode",
                expected: KeyKind::Text,
                help: "which mode's run to package (default: the last mode that trains)",
            }],
            Self::Check => &[PipelineKey {
                name: "rows",
                expected: KeyKind::Count,
                help: "test rows scored by the bundle against the server (default 20)",
            }],
            _ => &[],
        }
    }
}

/// Keys of `[pipeline]`.
pub const PIPELINE_KEYS: [PipelineKey; 3] = [
    PipelineKey {
        name: "out",
        expected: KeyKind::Text,
        help: "the output folder (default runs/<recipe name>; --out wins)",
    },
    PipelineKey {
        name: "model",
        expected: KeyKind::Text,
        help: "the frozen LLM of every stage that takes --model",
    },
    PipelineKey {
        name: "backend",
        expected: KeyKind::Text,
        help: "the compute backend of every stage that takes --backend",
    },
];

/// A table name that is not a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStage;

impl std::str::FromStr for Stage {
    type Err = UnknownStage;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|stage| stage.name() == text)
            .ok_or(UnknownStage)
    }
}

/// The stage names, for errors.
pub fn stage_names() -> String {
    Stage::ALL.map(Stage::name).join(", ")
}
