//! Hugging Face checkpoints: `config.json`, `model.safetensors` (or shards) and
//! `tokenizer.json` in one folder.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use super::config::{HfLlamaConfig, LlamaConfig};
use super::error::LlmError;
use super::weights::{HostTensor, WeightSource};

/// Memory-mapped safetensors shards of a Hugging Face checkpoint.
#[derive(Debug)]
pub struct SafetensorsWeights {
    folder: PathBuf,
    shards: Vec<(PathBuf, Mmap)>,
    /// Weight name → index into `shards`.
    index: BTreeMap<String, usize>,
}

fn io_error(path: &Path, source: std::io::Error) -> LlmError {
    LlmError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, LlmError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    serde_json::from_str(&text).map_err(|source| LlmError::Json {
        path: path.display().to_string(),
        source,
    })
}

#[derive(serde::Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

/// Reads `config.json` of a Hugging Face folder.
pub fn read_hf_config(folder: &Path) -> Result<LlamaConfig, LlmError> {
    let hf: HfLlamaConfig = read_json(&folder.join("config.json"))?;
    hf.into_config()
}

impl SafetensorsWeights {
    /// Maps `model.safetensors`, or every shard named in `model.safetensors.index.json`.
    pub fn open(folder: &Path) -> Result<Self, LlmError> {
        let single = folder.join("model.safetensors");
        let index_path = folder.join("model.safetensors.index.json");
        let files: Vec<PathBuf> = if single.is_file() {
            vec![single]
        } else if index_path.is_file() {
            let index: ShardIndex = read_json(&index_path)?;
            let names: BTreeSet<String> = index.weight_map.into_values().collect();
            names
                .into_iter()
                .map(|name| {
                    // Shard names are plain file names; refuse paths that escape the folder.
                    if name.contains('/') || name.contains('\\') || name.starts_with('.') {
                        Err(LlmError::Safetensors {
                            path: index_path.display().to_string(),
                            message: format!("shard name `{name}` is not a plain file name"),
                        })
                    } else {
                        Ok(folder.join(name))
                    }
                })
                .collect::<Result<_, _>>()?
        } else {
            return Err(LlmError::Io {
                path: single.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "neither model.safetensors nor model.safetensors.index.json exists",
                ),
            });
        };
        let mut shards = Vec::with_capacity(files.len());
        let mut index = BTreeMap::new();
        for path in files {
            let file = File::open(&path).map_err(|e| io_error(&path, e))?;
            // SAFETY: read-only map of a file we do not modify; concurrent truncation by
            // another process is outside what any mmap reader can defend against.
            let mmap = unsafe { Mmap::map(&file) }.map_err(|e| io_error(&path, e))?;
            let names = SafeTensors::read_metadata(&mmap)
                .map_err(|e| safetensors_error(&path, e))?
                .1
                .tensors()
                .into_keys()
                .collect::<Vec<_>>();
            for name in names {
                index.insert(name, shards.len());
            }
            shards.push((path, mmap));
        }
        Ok(Self {
            folder: folder.to_path_buf(),
            shards,
            index,
        })
    }
}

fn safetensors_error(path: &Path, error: safetensors::SafeTensorError) -> LlmError {
    LlmError::Safetensors {
        path: path.display().to_string(),
        message: error.to_string(),
    }
}

/// Converts little-endian f32/f16/bf16 bytes to f32.
fn to_f32(name: &str, dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>, LlmError> {
    let values = match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(LlmError::WeightDtype {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    };
    Ok(values)
}

impl WeightSource for SafetensorsWeights {
    fn source_name(&self) -> String {
        self.folder.display().to_string()
    }

    fn load(&self, name: &str) -> Result<Option<HostTensor>, LlmError> {
        let Some(&shard) = self.index.get(name) else {
            return Ok(None);
        };
        let (path, mmap) = &self.shards[shard];
        let tensors = SafeTensors::deserialize(mmap).map_err(|e| safetensors_error(path, e))?;
        let view = tensors
            .tensor(name)
            .map_err(|e| safetensors_error(path, e))?;
        let values = to_f32(name, view.dtype(), view.data())?;
        Ok(Some(HostTensor {
            shape: view.shape().to_vec(),
            values,
        }))
    }
}
