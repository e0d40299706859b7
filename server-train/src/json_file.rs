//! The JSON files of run folders (configs, train states, metrics): written whole through a
//! temporary file and a rename, so a killed job never leaves half a file, and read back
//! with every float exactly as it was written (serde_json's `float_roundtrip`, set for the
//! workspace; its default parser may be one ULP off).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a JSON file of a run folder cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The OS refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The file is not the JSON this job expects (corrupt, hand-edited, another version),
    /// or the value could not be serialized.
    #[error("run file {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// serde_json's error, with line and column.
        source: serde_json::Error,
    },
}

/// Writes `value` as pretty JSON to `path` through `path.json.partial` and a rename.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), FileError> {
    let text = serde_json::to_string_pretty(value).map_err(|source| FileError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text).map_err(|source| FileError::Io {
        path: partial.clone(),
        source,
    })?;
    std::fs::rename(&partial, path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a JSON file written by [`write_json`] (or by hand).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| FileError::Json {
        path: path.to_path_buf(),
        source,
    })
}
