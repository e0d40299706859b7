//! The recipe file: one TOML table per stage whose keys are that stage's command-line flags
//! (`train-size = 512` is `finetune --train-size 512`), read with every key's line so
//! that a mistake is reported where it is.
//!
//! Only the syntax and the key names are checked here; [`super::units`] turns the settings
//! into command lines and lets the commands' own parsers check the values.

use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::RecipeError;
use super::stage::Stage;

/// One `key = value` of a stage's table.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The flag name, `-` between words (`train_size` is accepted as `train-size`).
    pub key: String,
    /// The value as the command line takes it.
    pub value: SettingValue,
    /// 1-based line of the key.
    pub line: usize,
}

/// A setting's value.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingValue {
    /// A TOML boolean: a switch such as `resume`, or a boolean pipeline key.
    Switch(bool),
    /// A string or number, passed as one argument.
    Scalar(String),
    /// An array of strings or numbers: the flag once per element.
    List(Vec<String>),
}

impl SettingValue {
    /// The TOML type's name, for errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Switch(_) => "a boolean",
            Self::Scalar(_) => "a string or number",
            Self::List(_) => "an array",
        }
    }
}

/// A stage's table: its settings in file order, and per-mode tables (`[finetune.reclora]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Section {
    /// 1-based line of the table's header (0 when the recipe has no such table).
    pub line: usize,
    /// The settings.
    pub settings: Vec<Setting>,
    /// `[stage.NAME]` sub-tables, in file order.
    pub subsections: Vec<(String, Section)>,
}

impl Section {
    /// The setting named `key`.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }

    /// The sub-table named `name`.
    pub fn subsection(&self, name: &str) -> Option<&Section> {
        self.subsections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }
}

/// A parsed recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// The file it was read from.
    pub path: PathBuf,
    /// `[pipeline]`: out, model, backend.
    pub pipeline: Section,
    /// One table per stage (empty when left out).
    pub stages: Vec<(Stage, Section)>,
}

impl Recipe {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, RecipeError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses a recipe's text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, RecipeError> {
        let at = Locator {
            path: path.to_path_buf(),
            text,
        };
        let document = DeTable::parse(text).map_err(|source| RecipeError::Syntax {
            path: path.to_path_buf(),
            line: source.span().map_or(0, |s| at.line(s.start)),
            message: source.message().to_owned(),
        })?;
        let mut pipeline = Section::default();
        let mut stages: Vec<(Stage, Section)> = Stage::ALL
            .into_iter()
            .map(|stage| (stage, Section::default()))
            .collect();
        let mut tables: Vec<_> = document.get_ref().iter().collect();
        tables.sort_by_key(|(name, _)| name.span().start);
        for (name, value) in tables {
            let line = at.line(name.span().start);
            let DeValue::Table(table) = value.get_ref() else {
                return Err(RecipeError::NotATable {
                    path: at.path.clone(),
                    line,
                    name: name.get_ref().to_string(),
                });
            };
            let section = at.section(name.get_ref(), line, table, true)?;
            if name.get_ref() == "pipeline" {
                pipeline = section;
                continue;
            }
            let stage = name
                .get_ref()
                .parse::<Stage>()
                .map_err(|_| RecipeError::UnknownStage {
                    path: at.path.clone(),
                    line,
                    name: name.get_ref().to_string(),
                })?;
            if let Some(slot) = stages.iter_mut().find(|(s, _)| *s == stage) {
                slot.1 = section;
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            pipeline,
            stages,
        })
    }

    /// The table of `stage`.
    pub fn section(&self, stage: Stage) -> &Section {
        self.stages
            .iter()
            .find(|(s, _)| *s == stage)
            .map(|(_, section)| section)
            .unwrap_or(&EMPTY)
    }
}

static EMPTY: Section = Section {
    line: 0,
    settings: Vec::new(),
    subsections: Vec::new(),
};

/// Byte offsets to lines, and the file's name for errors.
struct Locator<'a> {
    path: PathBuf,
    text: &'a str,
}

impl Locator<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn section(
        &self,
        name: &str,
        line: usize,
        table: &DeTable<'_>,
        allow_subsections: bool,
    ) -> Result<Section, RecipeError> {
        let mut section = Section {
            line,
            ..Section::default()
        };
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        for (key, value) in entries {
            let key_line = self.line(key.span().start);
            let flag = key.get_ref().replace('_', "-");
            let scalar = |value: &Spanned<DeValue<'_>>| -> Result<String, RecipeError> {
                match value.get_ref() {
                    DeValue::String(s) => Ok(s.to_string()),
                    // Written in decimal, as the flags parse it (0x10 is 16).
                    DeValue::Integer(i) => {
                        let digits = i.as_str().replace('_', "");
                        Ok(i64::from_str_radix(&digits, i.radix())
                            .map_or(digits, |n| n.to_string()))
                    }
                    DeValue::Float(f) => Ok(f.as_str().replace('_', "")),
                    other => Err(RecipeError::WrongType {
                        path: self.path.clone(),
                        line: self.line(value.span().start),
                        stage: name.to_owned(),
                        key: flag.clone(),
                        expected: "strings or numbers",
                        found: toml_type(other),
                    }),
                }
            };
            let value = match value.get_ref() {
                DeValue::Boolean(b) => SettingValue::Switch(*b),
                DeValue::Array(items) => {
                    SettingValue::List(items.iter().map(scalar).collect::<Result<_, _>>()?)
                }
                DeValue::Table(sub) if allow_subsections => {
                    let sub_name = format!("{name}.{}", key.get_ref());
                    let sub = self.section(&sub_name, key_line, sub, false)?;
                    section.subsections.push((key.get_ref().to_string(), sub));
                    continue;
                }
                DeValue::Table(_) | DeValue::Datetime(_) => {
                    return Err(RecipeError::WrongType {
                        path: self.path.clone(),
                        line: key_line,
                        stage: name.to_owned(),
                        key: flag,
                        expected: "a string, number, boolean or array",
                        found: toml_type(value.get_ref()),
                    });
                }
                _ => SettingValue::Scalar(scalar(value)?),
            };
            section.settings.push(Setting {
                key: flag,
                value,
                line: key_line,
            });
        }
        Ok(section)
    }
}

fn toml_type(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}
