//! The mapped `llm.safetensors` as a [`SharedMatrixSource`]: its matrices shared with the
//! model in place (they keep the map alive), its vectors copied out as f32.

use super::error::LlmFileError;
use super::llm_file::{LlmFile, StoredMatrix};
use crate::llm::{HostTensor, LlmError, SharedMatrixSource, WeightSource};
use crate::quant::{SharedBytes, SharedMatrix, SharedPacked, SharedWeight};

/// An [`LlmFile`] with the shared bytes it was parsed from.
pub struct SharedLlmFile<'a> {
    file: LlmFile<'a>,
    bytes: SharedBytes,
}

impl std::fmt::Debug for SharedLlmFile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLlmFile")
            .field("file", &self.file)
            .field("shared_len", &(*self.bytes).as_ref().len())
            .finish()
    }
}

impl<'a> SharedLlmFile<'a> {
    /// `file` over `bytes`, the very bytes it was parsed from (a matrix found elsewhere is
    /// refused when asked for).
    pub fn new(file: LlmFile<'a>, bytes: SharedBytes) -> Self {
        Self { file, bytes }
    }
}

impl WeightSource for SharedLlmFile<'_> {
    fn source_name(&self) -> String {
        self.file.source_name()
    }

    fn load(&self, name: &str) -> Result<Option<HostTensor>, LlmError> {
        self.file.load(name)
    }
}

impl SharedMatrixSource for SharedLlmFile<'_> {
    fn shared_matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Option<SharedWeight>, LlmError> {
        if !self.file.contains(name) {
            return Ok(None);
        }
        let weight_error = |source: LlmFileError| LlmError::SourceWeight {
            name: name.to_owned(),
            source: Box::new(source),
        };
        let quant_error = |source| {
            weight_error(LlmFileError::Quant {
                name: name.to_owned(),
                source,
            })
        };
        let shared = match self.file.matrix(name, rows, cols).map_err(weight_error)? {
            StoredMatrix::Packed { bytes, .. } => SharedWeight::Packed(
                SharedPacked::within(self.bytes.clone(), bytes).map_err(quant_error)?,
            ),
            StoredMatrix::Rows(view) => SharedWeight::Rows(
                SharedMatrix::within(self.bytes.clone(), &view).map_err(quant_error)?,
            ),
        };
        Ok(Some(shared))
    }
}
