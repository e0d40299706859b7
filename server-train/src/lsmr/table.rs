//! The stored item-embedding table: `items.safetensors` plus `items.json`.
//!
//! `items.safetensors` (little-endian):
//! - `item_ids` U32 `[n]`: item-id feature ids (the ids `HistoryEvent::item` uses), row order;
//! - `embeddings` F32 `[n, dim]`: PCA coordinates of each item's pooled hidden state;
//! - `mean` F32 `[d]` and `components` F32 `[dim, d]`: the PCA, so that a new item's pooled
//!   vector `x` projects as `components · (x − mean)`.
//!
//! `items.json` ([`ItemTableInfo`]) records the model, sizes, explained variance, the
//! pooling rule and the prompt template. The folder is written to a sibling temporary folder
//! and renamed into place, so a failed run leaves nothing half-written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::atomic_dir::{AtomicDirError, write_dir_atomically};

use super::error::{LsmrError, TableProblem};

/// Arrays file.
pub const TABLE_FILE: &str = "items.safetensors";
/// Description file.
pub const INFO_FILE: &str = "items.json";
/// Bumped whenever the layout changes.
pub const TABLE_FORMAT_VERSION: u32 = 1;

/// `items.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemTableInfo {
    /// [`TABLE_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The LLM, as given on the command line.
    pub model: String,
    /// Dataset name ("ml-1m").
    pub dataset: String,
    /// Hidden size of the LLM (`d`).
    pub hidden_size: usize,
    /// PCA components kept.
    pub dim: usize,
    /// Rows of the table.
    pub item_count: usize,
    /// Item-id feature id of row 0 (rows are consecutive ids).
    pub first_item_id: u32,
    /// Share of the pooled vectors' variance per kept component.
    pub explained_variance_ratio: Vec<f64>,
    /// Their sum.
    pub explained_variance_ratio_total: f64,
    /// Which tokens were averaged.
    pub pooling: String,
    /// The item description, before filling in.
    pub description_template: String,
    /// The full model input of an item, `{description}` standing for the description.
    pub prompt_template: String,
    /// Wall time of the embedding run.
    pub seconds: f64,
}

/// The loaded table.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemEmbeddings {
    /// Item-id feature id of each row.
    pub item_ids: Vec<u32>,
    /// Columns of `embeddings`.
    pub dim: usize,
    /// `[n, dim]` row-major.
    pub embeddings: Vec<f32>,
    /// `[d]` PCA mean.
    pub mean: Vec<f32>,
    /// `[dim, d]` PCA components.
    pub components: Vec<f32>,
}

impl ItemEmbeddings {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.item_ids.len()
    }

    /// Whether the table has no item.
    pub fn is_empty(&self) -> bool {
        self.item_ids.is_empty()
    }

    /// Row `row` of `embeddings`.
    pub fn row(&self, row: usize) -> &[f32] {
        &self.embeddings[row * self.dim..(row + 1) * self.dim]
    }

    /// Checks sizes, finiteness and unique ids.
    pub fn validate(&self) -> Result<(), LsmrError> {
        let n = self.item_ids.len();
        let d = self.mean.len();
        let widths = [
            ("embeddings", n * self.dim, self.embeddings.len()),
            ("components", self.dim * d, self.components.len()),
        ];
        for (what, expected, found) in widths {
            if expected != found {
                return Err(LsmrError::Width {
                    what,
                    expected,
                    found,
                });
            }
        }
        let arrays = [
            ("embeddings", &self.embeddings),
            ("mean", &self.mean),
            ("components", &self.components),
        ];
        for (what, values) in arrays {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(LsmrError::NonFinite { what });
            }
        }
        let mut ids = self.item_ids.clone();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(LsmrError::DuplicateItem { item: pair[0] });
        }
        Ok(())
    }

    /// Writes `items.safetensors` and `items.json` into the existing folder `dir`.
    pub fn write(&self, dir: &Path, info: &ItemTableInfo) -> Result<(), LsmrError> {
        self.validate()?;
        let path = dir.join(TABLE_FILE);
        let (n, d) = (self.item_ids.len(), self.mean.len());
        let owned = [
            ("item_ids", Dtype::U32, vec![n], le_bytes(&self.item_ids)),
            (
                "embeddings",
                Dtype::F32,
                vec![n, self.dim],
                le_bytes(&self.embeddings),
            ),
            ("mean", Dtype::F32, vec![d], le_bytes(&self.mean)),
            (
                "components",
                Dtype::F32,
                vec![self.dim, d],
                le_bytes(&self.components),
            ),
        ];
        let mut views = Vec::with_capacity(owned.len());
        for (name, dtype, shape, bytes) in &owned {
            let view = TensorView::new(*dtype, shape.clone(), bytes)
                .map_err(|e| LsmrError::table(&path, e))?;
            views.push((name.to_string(), view));
        }
        let header = BTreeMap::from([
            ("format".to_string(), "reclora-item-embeddings".to_string()),
            (
                "format_version".to_string(),
                TABLE_FORMAT_VERSION.to_string(),
            ),
        ]);
        safetensors::serialize_to_file(views, Some(header.into_iter().collect()), &path)
            .map_err(|e| LsmrError::table(&path, e))?;
        let info_path = dir.join(INFO_FILE);
        let file = File::create(&info_path).map_err(|e| LsmrError::io(&info_path, e))?;
        let mut writer = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut writer, info)
            .map_err(|e| LsmrError::table(&info_path, e))?;
        writer
            .write_all(b"\n")
            .and_then(|()| writer.flush())
            .map_err(|e| LsmrError::io(&info_path, e))
    }

    /// Reads and validates the table in `dir`.
    pub fn load(dir: &Path) -> Result<(Self, ItemTableInfo), LsmrError> {
        let info_path = dir.join(INFO_FILE);
        let text = std::fs::read_to_string(&info_path).map_err(|e| LsmrError::io(&info_path, e))?;
        let info: ItemTableInfo =
            serde_json::from_str(&text).map_err(|e| LsmrError::table(&info_path, e))?;
        if info.format_version != TABLE_FORMAT_VERSION {
            return Err(LsmrError::table(
                &info_path,
                TableProblem::Version {
                    found: info.format_version,
                    expected: TABLE_FORMAT_VERSION,
                },
            ));
        }
        let path = dir.join(TABLE_FILE);
        let bytes = std::fs::read(&path).map_err(|e| LsmrError::io(&path, e))?;
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| LsmrError::table(&path, e))?;
        let (n, dim, d) = (info.item_count, info.dim, info.hidden_size);
        let read = |name: &'static str, dtype: Dtype, shape: Vec<usize>| {
            let view = tensors
                .tensor(name)
                .map_err(|_| LsmrError::table(&path, TableProblem::MissingArray { name }))?;
            if view.dtype() != dtype {
                return Err(LsmrError::table(
                    &path,
                    TableProblem::Dtype {
                        name,
                        found: view.dtype(),
                        expected: dtype,
                    },
                ));
            }
            if view.shape() != shape.as_slice() {
                return Err(LsmrError::table(
                    &path,
                    TableProblem::Shape {
                        name,
                        found: view.shape().to_vec(),
                        expected: shape,
                    },
                ));
            }
            Ok(view.data().chunks_exact(4).map(le_word).collect::<Vec<_>>())
        };
        let table = Self {
            item_ids: read("item_ids", Dtype::U32, vec![n])?
                .into_iter()
                .map(u32::from_le_bytes)
                .collect(),
            dim,
            embeddings: to_f32(read("embeddings", Dtype::F32, vec![n, dim])?),
            mean: to_f32(read("mean", Dtype::F32, vec![d])?),
            components: to_f32(read("components", Dtype::F32, vec![dim, d])?),
        };
        table.validate()?;
        Ok((table, info))
    }
}

/// Runs `write` on a fresh temporary folder, then moves it to `out` (see
/// [`write_dir_atomically`]); `out` may be replaced only if absent, empty, or an earlier table
/// (has `items.json`).
pub fn write_atomically<T>(
    out: &Path,
    write: impl FnOnce(&Path) -> Result<T, LsmrError>,
) -> Result<T, LsmrError> {
    write_dir_atomically(out, INFO_FILE, write)
}

impl From<AtomicDirError> for LsmrError {
    fn from(error: AtomicDirError) -> Self {
        match error {
            AtomicDirError::BadOutputPath(path) => Self::BadOutputPath { path },
            AtomicDirError::Occupied(path) => Self::OutputNotItemTable { path },
            AtomicDirError::Io(path, source) => Self::io(path, source),
        }
    }
}

/// A 4-byte little-endian word (the caller passes `chunks_exact(4)` slices).
fn le_word(chunk: &[u8]) -> [u8; 4] {
    let mut word = [0u8; 4];
    word.copy_from_slice(chunk);
    word
}

fn to_f32(words: Vec<[u8; 4]>) -> Vec<f32> {
    words.into_iter().map(f32::from_le_bytes).collect()
}

/// Little-endian bytes of 4-byte numbers.
fn le_bytes<T: Copy + ToLeBytes>(values: &[T]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le()).collect()
}

/// `to_le_bytes` for the two element types stored.
trait ToLeBytes {
    fn to_le(self) -> [u8; 4];
}

impl ToLeBytes for u32 {
    fn to_le(self) -> [u8; 4] {
        self.to_le_bytes()
    }
}

impl ToLeBytes for f32 {
    fn to_le(self) -> [u8; 4] {
        self.to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(table: &ItemEmbeddings) -> ItemTableInfo {
        ItemTableInfo {
            format_version: TABLE_FORMAT_VERSION,
            model: "tiny".into(),
            dataset: "test".into(),
            hidden_size: table.mean.len(),
            dim: table.dim,
            item_count: table.len(),
            first_item_id: table.item_ids[0],
            explained_variance_ratio: vec![0.75, 0.25],
            explained_variance_ratio_total: 1.0,
            pooling: "mean".into(),
            description_template: "{title}".into(),
            prompt_template: "{description}".into(),
            seconds: 0.0,
        }
    }

    fn table() -> ItemEmbeddings {
        ItemEmbeddings {
            item_ids: vec![10, 11, 12],
            dim: 2,
            embeddings: vec![1.0, -2.0, 0.5, 0.25, -1e-7, 3.0e8],
            mean: vec![0.1, 0.2, 0.3],
            components: vec![1.0, 0.0, 0.0, 0.0, 0.6, 0.8],
        }
    }

    /// Round trip is bit-exact; a failed write leaves neither output nor temporary folder;
    /// a folder that is not a table is never replaced.
    #[test]
    fn lsmr_table_round_trip_and_atomic_write() {
        let root_dir = reclora_test_support::TempDir::new("table");
        let root = root_dir.path().to_path_buf();
        let out = root.join("items");
        let table = table();
        write_atomically(&out, |tmp| table.write(tmp, &info(&table))).expect("write");
        let (loaded, loaded_info) = ItemEmbeddings::load(&out).expect("load");
        assert_eq!(loaded, table);
        assert_eq!(loaded_info, info(&table));
        // Overwriting an earlier table works.
        write_atomically(&out, |tmp| table.write(tmp, &info(&table))).expect("rewrite");

        let failed = root.join("failed");
        let mut bad = table.clone();
        bad.embeddings[3] = f32::NAN;
        let result = write_atomically(&failed, |tmp| bad.write(tmp, &info(&bad)));
        assert!(matches!(result, Err(LsmrError::NonFinite { .. })));
        assert!(!failed.exists());
        let leftovers: Vec<_> = std::fs::read_dir(&root)
            .expect("read")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("items")]);

        let foreign = root.join("foreign");
        std::fs::create_dir_all(&foreign).expect("mkdir");
        std::fs::write(foreign.join("notes.txt"), "keep").expect("write");
        assert!(matches!(
            write_atomically(&foreign, |tmp| table.write(tmp, &info(&table))),
            Err(LsmrError::OutputNotItemTable { .. })
        ));
        assert!(foreign.join("notes.txt").is_file());
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn lsmr_table_validation() {
        let mut duplicate = table();
        duplicate.item_ids[2] = 10;
        assert!(matches!(
            duplicate.validate(),
            Err(LsmrError::DuplicateItem { item: 10 })
        ));
        let mut short = table();
        short.embeddings.pop();
        assert!(matches!(short.validate(), Err(LsmrError::Width { .. })));

        let root_dir = reclora_test_support::TempDir::new("table-shape");
        let root = root_dir.path().to_path_buf();
        let good = table();
        good.write(&root, &info(&good)).expect("write");
        let mut wrong = info(&good);
        wrong.dim = 3;
        std::fs::write(
            root.join(INFO_FILE),
            serde_json::to_string(&wrong).expect("json"),
        )
        .expect("write");
        assert!(matches!(
            ItemEmbeddings::load(&root),
            Err(LsmrError::Table {
                problem: TableProblem::Shape { .. },
                ..
            })
        ));
        std::fs::remove_dir_all(&root).ok();
    }
}
