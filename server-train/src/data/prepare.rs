//! The `prepare` job: raw files → protocol samples → feature ids → a prepared folder.
//!
//! Nothing appears at `out` unless the whole run succeeds: files are written to a sibling
//! `out.tmp-<pid>` that is renamed over `out` at the end, and removed on any error. An
//! existing `out` is replaced only if it is a prepared dataset (has meta.json) or empty.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::info;

use crate::atomic_dir::{AtomicDirError, write_dir_atomically};

use super::features::build_features;
use super::raw::RawDataset;
use super::samples::{MIN_HISTORY, build_samples};
use super::store::META_FILE;
use super::writer::write_store;
use super::{DataError, DatasetName, goodreads, movielens1m, movielens25m, movielens100k};

/// What `prepare` produced. `Display` prints the counts line, e.g.
/// `samples=970009 train=776007 valid=97000 test=97002`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareSummary {
    /// Dataset.
    pub dataset: DatasetName,
    /// Output folder.
    pub out: PathBuf,
    /// Rating events read.
    pub interactions: usize,
    /// Users with ratings.
    pub users: usize,
    /// Items with ratings.
    pub items: usize,
    /// Samples after the ≥ 5 filter.
    pub samples: usize,
    /// Train samples.
    pub train: usize,
    /// Valid samples.
    pub valid: usize,
    /// Test samples.
    pub test: usize,
    /// Categorical features.
    pub num_features: usize,
    /// Features + rating codes.
    pub embedding_rows: usize,
}

impl fmt::Display for PrepareSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "samples={} train={} valid={} test={}",
            self.samples, self.train, self.valid, self.test
        )
    }
}

/// Reads the raw files of `dataset` from `dir`.
pub fn load_raw(dataset: DatasetName, dir: &Path) -> Result<RawDataset, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingFile {
            path: dir.to_path_buf(),
            what: "raw-data folder",
        });
    }
    match dataset {
        DatasetName::Ml1m => movielens1m::load(dir),
        DatasetName::Ml100k => movielens100k::load(dir),
        DatasetName::Ml25m => movielens25m::load(dir),
        DatasetName::Goodreads => goodreads::load(dir),
    }
}

/// Prepares `dataset` from the raw files in `raw` into the folder `out`.
pub fn prepare(dataset: DatasetName, raw: &Path, out: &Path) -> Result<PrepareSummary, DataError> {
    let started = Instant::now();
    let data = load_raw(dataset, raw)?;
    info!(
        dataset = %dataset,
        interactions = data.interactions.len(),
        users = data.users.len(),
        items = data.items.len(),
        seconds = started.elapsed().as_secs_f64(),
        "raw files read"
    );
    let table = build_samples(&data, MIN_HISTORY)?;
    let features = build_features(&data, &table)?;
    info!(
        samples = table.sample_user.len(),
        num_features = features.num_features,
        seconds = started.elapsed().as_secs_f64(),
        "samples and features built"
    );
    let meta = write_atomically(out, |tmp| write_store(tmp, &data, &table, &features))?;
    let summary = PrepareSummary {
        dataset,
        out: out.to_path_buf(),
        interactions: meta.counts.interactions as usize,
        users: meta.counts.users as usize,
        items: meta.counts.items as usize,
        samples: meta.counts.samples as usize,
        train: meta.counts.train as usize,
        valid: meta.counts.valid as usize,
        test: meta.counts.test as usize,
        num_features: meta.num_features as usize,
        embedding_rows: meta.embedding_rows as usize,
    };
    info!(seconds = started.elapsed().as_secs_f64(), "{summary}");
    Ok(summary)
}

/// Runs `write` on a fresh temporary folder, then moves it to `out` (see
/// [`write_dir_atomically`]); `out` may be replaced if absent, empty, or a prepared dataset.
pub fn write_atomically<T>(
    out: &Path,
    write: impl FnOnce(&Path) -> Result<T, DataError>,
) -> Result<T, DataError> {
    write_dir_atomically(out, META_FILE, write)
}

impl From<AtomicDirError> for DataError {
    fn from(error: AtomicDirError) -> Self {
        match error {
            AtomicDirError::BadOutputPath(path) => Self::BadOutputPath { path },
            AtomicDirError::Occupied(path) => Self::OutputNotDataset { path },
            AtomicDirError::Io(path, source) => Self::io(path, source),
        }
    }
}
