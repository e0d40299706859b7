//! What can be wrong with a bundle.

use std::path::PathBuf;

/// A module's tensor file does not fit the module.
#[derive(Debug, thiserror::Error)]
pub enum TensorFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The safetensors header or layout is invalid (truncated, overlapping, bad JSON).
    #[error("invalid safetensors: {0}")]
    Format(#[from] safetensors::SafeTensorError),
    /// A parameter the module has is not in the file.
    #[error("tensor `{name}` is missing")]
    Missing {
        /// Its module path.
        name: String,
    },
    /// The file holds a tensor the module does not have (another config's file).
    #[error("tensor `{name}` is not a parameter of this module")]
    Unexpected {
        /// Its name in the file.
        name: String,
    },
    /// Stored in another element type.
    #[error("tensor `{name}` is {found}, expected F32 or F16")]
    Dtype {
        /// Its module path.
        name: String,
        /// The stored dtype.
        found: String,
    },
    /// Stored with another shape than the config gives.
    #[error("tensor `{name}` has shape {found:?}, the config says {expected:?}")]
    Shape {
        /// Its module path.
        name: String,
        /// The module's shape.
        expected: Vec<usize>,
        /// The stored shape.
        found: Vec<usize>,
    },
    /// NaN or infinity in a weight.
    #[error("tensor `{name}` has a non-finite value at element {index}")]
    NonFinite {
        /// Its module path.
        name: String,
        /// The first bad element.
        index: usize,
    },
}

/// A bundle that cannot be opened, naming the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file the bundle needs is not there.
    #[error("bundle file {path} is missing")]
    MissingFile {
        /// Where it should be.
        path: PathBuf,
    },
    /// The manifest has no entry for a file the runtime needs.
    #[error("the manifest lists no `{file}`")]
    NotInManifest {
        /// The file name.
        file: String,
    },
    /// Truncated or grown since export.
    #[error("{path} has {found} bytes, the manifest says {expected}")]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// Size in the manifest.
        expected: u64,
        /// Size on disk.
        found: u64,
    },
    /// Same size, other content (checked only when asked: it reads every byte).
    #[error("{path} has sha256 {found}, the manifest says {expected}")]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// Hash in the manifest.
        expected: String,
        /// Hash of the content.
        found: String,
    },
    /// `manifest.json` is not valid JSON of the expected shape.
    #[error("{path}: invalid manifest: {source}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Exported by a newer format than this runtime reads.
    #[error("bundle format version {found}; this runtime reads up to {supported}")]
    UnsupportedVersion {
        /// The manifest's version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// Exported by an older format that this runtime no longer reads (format 1 stored q8
    /// and q4 matrices as row-major Q8_0 / Q4_0 blocks, which the int8 GEMM cannot read
    /// in place).
    #[error(
        "bundle format version {found} is no longer read (this runtime reads {oldest} to \
         {supported}); export the bundle again with this version's `reclora-train export`"
    )]
    OutdatedVersion {
        /// The manifest's version.
        found: u32,
        /// The oldest this build reads.
        oldest: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// `llm.safetensors` does not fit the manifest, or the export could not write it.
    #[error("llm.safetensors: {0}")]
    Llm(#[from] LlmFileError),
    /// The manifest's PLoRA config does not fit its LLM config.
    #[error("manifest: {source}")]
    Config {
        /// What does not fit.
        source: crate::plora::PloraError,
    },
    /// The manifest's configs declare more parameters than their file holds, or a size
    /// beyond what the runtime allocates: refused before anything is allocated.
    #[error("manifest declares {what} = {declared}, above the limit {limit} ({limited_by})")]
    DeclaredSize {
        /// What the config sizes.
        what: &'static str,
        /// The declared amount.
        declared: u64,
        /// The most allowed.
        limit: u64,
        /// Where the limit comes from.
        limited_by: &'static str,
    },
    /// A JSON side file (`features.json`, `items.json`) does not parse as its type.
    #[error("{path}: {source}")]
    SideFile {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The side files disagree with each other or with the manifest.
    #[error("{path}: {problem}")]
    Catalog {
        /// The file found inconsistent.
        path: PathBuf,
        /// What is wrong.
        problem: CatalogProblem,
    },
    /// `tokenizer.json` does not load.
    #[error("tokenizer.json: {0}")]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
    /// A module's tensors do not fit its config.
    #[error("{path}: {source}")]
    Tensors {
        /// The tensor file.
        path: PathBuf,
        /// What does not fit.
        source: TensorFileError,
    },
    /// The LLM could not be built from `llm.safetensors` (opening validated the file, so
    /// this is a weight the model asks for in another form than the file holds).
    #[error("building the LLM from llm.safetensors: {source}")]
    Model {
        /// What the model builder rejected (boxed: `LlmError` is large and rare here).
        source: Box<crate::llm::LlmError>,
    },
}

impl BundleError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `llm.safetensors` does not hold what the manifest's LLM config and quant scheme need.
#[derive(Debug, thiserror::Error)]
pub enum LlmFileError {
    /// The safetensors header or layout is invalid (truncated, overlapping, bad JSON).
    #[error("invalid safetensors: {0}")]
    Format(#[from] safetensors::SafeTensorError),
    /// A weight the model needs is absent.
    #[error("weight `{name}` is missing")]
    Missing {
        /// Hugging Face name.
        name: String,
    },
    /// A tensor the config has no place for.
    #[error("tensor `{name}` is not a weight of this model")]
    Unexpected {
        /// Its name in the file.
        name: String,
    },
    /// Wrong dtype or shape for its kind (U8 rows for matrices, F32 for vectors).
    #[error("weight `{name}` is {dtype} {shape:?}, which does not fit the config")]
    Layout {
        /// Hugging Face name.
        name: String,
        /// Stored dtype.
        dtype: String,
        /// Stored shape.
        shape: Vec<usize>,
    },
    /// The quantized bytes are invalid (length, alignment, NaN scale).
    #[error("weight `{name}`: {source}")]
    Quant {
        /// Hugging Face name.
        name: String,
        /// What the quantized view rejected.
        source: crate::quant::QuantError,
    },
    /// NaN or infinity in an f32 vector.
    #[error("weight `{name}` has a non-finite value at element {index}")]
    NonFinite {
        /// Hugging Face name.
        name: String,
        /// The first bad element.
        index: usize,
    },
    /// The manifest records no storage format for a matrix the model needs.
    #[error("the manifest records no format for matrix `{name}`")]
    NoFormat {
        /// Hugging Face name.
        name: String,
    },
    /// The manifest records a format for a matrix this model does not have.
    #[error("the manifest records a format for `{name}`, which is not a matrix of this model")]
    FormatOfNoMatrix {
        /// The name in the manifest.
        name: String,
    },
    /// A packed matrix's own header disagrees with the manifest or the config.
    #[error(
        "weight `{name}` is packed {found}; the manifest and config say {expected} [{rows}, {cols}]"
    )]
    PackedMismatch {
        /// Hugging Face name.
        name: String,
        /// The manifest's format.
        expected: crate::quant::MatrixFormat,
        /// The config's output features.
        rows: usize,
        /// The config's input features.
        cols: usize,
        /// The packed header's format and shape.
        found: String,
    },
    /// The export's weight source failed.
    #[error("reading the source model: {0}")]
    Source(#[from] crate::llm::LlmError),
}

/// How the catalog side files can contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogProblem {
    /// A list has another length than its siblings or the manifest's item count.
    #[error("`{list}` has {found} entries, expected {expected}")]
    Length {
        /// Which list.
        list: &'static str,
        /// The length required.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A field the runtime needs is not among the CRM's fields.
    #[error("no feature field `{name}`")]
    MissingField {
        /// Its name.
        name: &'static str,
    },
    /// An item's value is not in its field's dictionary.
    #[error("item row {row}: `{value}` is not a value of field `{field}`")]
    UnknownValue {
        /// The item row.
        row: usize,
        /// The field.
        field: String,
        /// The value.
        value: String,
    },
    /// The fields' offsets, sizes or count contradict the CRM config.
    #[error("feature layout: {what}")]
    Layout {
        /// What contradicts what.
        what: &'static str,
    },
    /// An item id is given twice or is not a number.
    #[error("item id `{id}` at row {row} is duplicated or not a number")]
    ItemId {
        /// The row.
        row: usize,
        /// The id as written.
        id: String,
    },
    /// `items.safetensors` does not hold `item_ids` U32 `[n]` and `embeddings` F32
    /// `[n, dim]` for the rows of `items.json`.
    #[error("items.safetensors: `{name}` is {dtype} {shape:?}")]
    EmbeddingLayout {
        /// The tensor.
        name: &'static str,
        /// Its dtype (empty when absent).
        dtype: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// The embedding rows cannot back a retriever (non-finite, duplicate ids).
    #[error("items.safetensors: {0}")]
    EmbeddingTable(crate::prompt::EmbeddingTableError),
    /// The unknown dataset name has no prompt wording.
    #[error("no prompt wording for dataset `{dataset}`")]
    Dataset {
        /// The name.
        dataset: String,
    },
}
