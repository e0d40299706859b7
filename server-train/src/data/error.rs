//! Errors of the data pipeline. Every variant names the file (and line) or value at fault.

use std::path::PathBuf;

use reclora_core::prompt::PromptError;

use super::Split;

/// Why preparing or reading a dataset failed.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The dataset name is not one we can prepare.
    #[error("unknown dataset {name:?}; valid names: ml-1m, ml-100k, ml-25m, goodreads")]
    UnknownDataset {
        /// What was asked for.
        name: String,
    },
    /// An input file does not exist.
    #[error("{}: no such file (the {what})", path.display())]
    MissingFile {
        /// The expected path.
        path: PathBuf,
        /// What the file should hold.
        what: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// One line of an input file is malformed or refers to something unknown.
    #[error("{}:{line}: {problem}", path.display())]
    BadLine {
        /// The input file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        problem: LineProblem,
    },
    /// A folder holds zero or several files where exactly one was expected.
    #[error("{}: expected exactly one file {pattern}, found [{}]", dir.display(), found.join(", "))]
    AmbiguousInput {
        /// The raw-data folder.
        dir: PathBuf,
        /// The file-name pattern.
        pattern: &'static str,
        /// Matching names (none or several).
        found: Vec<String>,
    },
    /// A loader produced an interaction that points outside its user or item table.
    #[error("raw interaction refers to {what} {index}, but there are only {len}")]
    RawOutOfRange {
        /// "user" or "item".
        what: &'static str,
        /// The bad index.
        index: u32,
        /// Table length.
        len: usize,
    },
    /// A count does not fit the 32-bit ids of the stored format.
    #[error("too many {what} ({count}) for 32-bit ids")]
    TooMany {
        /// What overflowed.
        what: &'static str,
        /// How many there are.
        count: usize,
    },
    /// No interaction has enough earlier interactions to be a sample.
    #[error("{dataset}: no sample has at least {min_history} earlier interactions")]
    NoSamples {
        /// Dataset name.
        dataset: String,
        /// The protocol's minimum.
        min_history: usize,
    },
    /// The output path cannot be a dataset folder.
    #[error("{}: output path needs a folder name", path.display())]
    BadOutputPath {
        /// The given path.
        path: PathBuf,
    },
    /// The output folder exists and is not a prepared dataset, so it is left alone.
    #[error("{}: exists and is not a prepared dataset (no meta.json); not replacing it", path.display())]
    OutputNotDataset {
        /// The given output folder.
        path: PathBuf,
    },
    /// A prepared-dataset file is unreadable or inconsistent.
    #[error("{}: {problem}", path.display())]
    BadStore {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: StoreProblem,
    },
    /// A sample index past the end of its split.
    #[error("{split} sample {index} does not exist (the split has {len})")]
    SampleOutOfRange {
        /// The split.
        split: Split,
        /// The asked index.
        index: usize,
        /// Split length.
        len: usize,
    },
    /// The prompt could not be built.
    #[error(transparent)]
    Prompt(#[from] PromptError),
}

/// What is wrong with one input line.
#[derive(Debug, thiserror::Error)]
pub enum LineProblem {
    /// Wrong number of separated fields.
    #[error("expected {expected} fields separated by {separator:?}, found {found}")]
    FieldCount {
        /// Fields the format has.
        expected: usize,
        /// Fields on the line.
        found: usize,
        /// The separator.
        separator: &'static str,
    },
    /// A field does not parse or is out of its domain.
    #[error("{field} {value:?} is not {expected}")]
    BadValue {
        /// Field name.
        field: &'static str,
        /// The text found.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A rating refers to a user missing from the user table.
    #[error("user {id:?} is not in {table}")]
    UnknownUser {
        /// Raw user id.
        id: String,
        /// The user table's file name.
        table: String,
    },
    /// A rating refers to an item missing from the item table.
    #[error("item {id:?} is not in {table}")]
    UnknownItem {
        /// Raw item id.
        id: String,
        /// The item table's file name.
        table: String,
    },
    /// The same id appears twice in a table.
    #[error("duplicate id {id:?} (first on line {first_line})")]
    DuplicateId {
        /// Raw id.
        id: String,
        /// Line of the first occurrence.
        first_line: usize,
    },
    /// The first line is not the expected CSV header.
    #[error("expected header {expected:?}, found {found:?}")]
    BadHeader {
        /// The header the format has.
        expected: &'static str,
        /// What the file has.
        found: String,
    },
    /// A CSV line cannot be read (the csv crate's error).
    #[error("bad CSV line: {0}")]
    Csv(#[from] csv::Error),
    /// A CSV line holds no record, or more than one (a quoted line break).
    #[error("expected one CSV record on the line, found {found}")]
    CsvRecords {
        /// Records the line held.
        found: usize,
    },
    /// The line is not UTF-8 where the format requires it.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// A JSON line does not match the expected record.
    #[error("bad JSON record: {0}")]
    Json(#[from] serde_json::Error),
}

/// What is wrong with a prepared-dataset file.
#[derive(Debug, thiserror::Error)]
pub enum StoreProblem {
    /// Written by another version of the format.
    #[error("format version {found}, this build reads version {expected}; run prepare again")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version this code writes and reads.
        expected: u32,
    },
    /// Not a JSON document of the expected shape.
    #[error("bad JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Not a readable safetensors file.
    #[error("bad safetensors: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// A required array is absent.
    #[error("array {name:?} is missing")]
    MissingArray {
        /// Array name.
        name: &'static str,
    },
    /// An array has the wrong element type.
    #[error("array {name:?} has dtype {found}, expected {expected}")]
    Dtype {
        /// Array name.
        name: &'static str,
        /// Dtype in the file.
        found: String,
        /// Dtype the format has.
        expected: &'static str,
    },
    /// An array or list has the wrong length for the counts in meta.json.
    #[error("{name} has shape {found:?}, expected {expected:?} (from meta.json)")]
    Shape {
        /// Array or list name.
        name: &'static str,
        /// Shape found.
        found: Vec<usize>,
        /// Shape expected.
        expected: Vec<usize>,
    },
    /// An array entry is outside its valid range.
    #[error("{name}[{index}] = {value} is out of range (must be below {limit})")]
    ValueRange {
        /// Array name.
        name: &'static str,
        /// Entry position.
        index: usize,
        /// The bad value.
        value: u64,
        /// Exclusive upper bound.
        limit: u64,
    },
    /// Per-user offsets do not describe consecutive runs.
    #[error("user_offsets is not non-decreasing from 0 to the interaction count at user {user}")]
    Offsets {
        /// First user whose run is wrong.
        user: usize,
    },
    /// meta.json disagrees with itself.
    #[error("meta.json is inconsistent: {what}")]
    Meta {
        /// Which rule is broken.
        what: &'static str,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A malformed line.
    pub fn line(path: impl Into<PathBuf>, line: usize, problem: LineProblem) -> Self {
        Self::BadLine {
            path: path.into(),
            line,
            problem,
        }
    }

    /// An unreadable or inconsistent store file.
    pub fn store(path: impl Into<PathBuf>, problem: impl Into<StoreProblem>) -> Self {
        Self::BadStore {
            path: path.into(),
            problem: problem.into(),
        }
    }
}
