//! Each unit's record in `<out>/.pipeline/<unit>.json`: the fingerprint of its inputs and
//! settings, and whether it finished. A unit is up to date when its record says done under
//! the fingerprint it would have now and its outputs are there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reclora_core::bundle::FileDigest;
use serde::{Deserialize, Serialize};

use super::error::PipelineError;
use super::units::Unit;

/// Where a unit's last run got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StampState {
    /// Started and not finished (killed, or failed): a rerun resumes.
    Running,
    /// Finished.
    Done,
}

/// A unit's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    /// The unit ("finetune reclora").
    pub unit: String,
    /// sha256 of the version, the command lines and the inputs below.
    pub fingerprint: String,
    /// Running or done.
    pub state: StampState,
    /// The command lines, with the output folder written `$OUT`.
    pub commands: Vec<Vec<String>>,
    /// Input name (an upstream unit, or a file) → its fingerprint or content hash.
    pub inputs: BTreeMap<String, String>,
    /// Wall seconds of the finished run (0 while running).
    pub seconds: f64,
}

/// What a unit would record now.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The fingerprint.
    pub fingerprint: String,
    /// The command lines, root written `$OUT`.
    pub commands: Vec<Vec<String>>,
    /// The inputs.
    pub inputs: BTreeMap<String, String>,
}

/// The unit's identity from its command lines, its upstream units' fingerprints and the
/// contents of its input files (`hashes` caches file hashes across units).
pub fn identity(
    unit: &Unit,
    root: &Path,
    upstream: &[(String, String)],
    hashes: &mut BTreeMap<PathBuf, String>,
) -> Result<Identity, PipelineError> {
    let root_text = root.display().to_string();
    let commands: Vec<Vec<String>> = unit
        .commands
        .iter()
        .map(|argv| argv.iter().map(|a| a.replace(&root_text, "$OUT")).collect())
        .collect();
    let mut inputs: BTreeMap<String, String> = upstream.iter().cloned().collect();
    for file in &unit.input_files {
        let hash = match hashes.get(file) {
            Some(hash) => hash.clone(),
            None => {
                let hash = hash_path(file)?;
                hashes.insert(file.clone(), hash.clone());
                hash
            }
        };
        inputs.insert(file.display().to_string(), hash);
    }
    // Separators keep ("ab", "c") and ("a", "bc") apart.
    let mut text = format!(
        "reclora-train {}\n{}",
        env!("CARGO_PKG_VERSION"),
        unit.label()
    );
    for argv in &commands {
        text.push('\0');
        for arg in argv {
            text.push_str(arg);
            text.push('\u{1}');
        }
    }
    for (name, value) in &inputs {
        text.push_str(&format!("\u{2}{name}\u{3}{value}"));
    }
    Ok(Identity {
        fingerprint: FileDigest::of_bytes(text.as_bytes()).sha256,
        commands,
        inputs,
    })
}

/// sha256 of a file, or of a folder's files (relative names and their digests, sorted).
pub fn hash_path(path: &Path) -> Result<String, PipelineError> {
    if path.is_file() {
        return Ok(FileDigest::of_file(path)?.sha256);
    }
    let mut files = Vec::new();
    collect_files(path, path, &mut files)?;
    files.sort();
    let mut listing = String::new();
    for (relative, file) in files {
        let digest = FileDigest::of_file(&file)?;
        listing.push_str(&format!("{relative}\0{}\n", digest.sha256));
    }
    Ok(FileDigest::of_bytes(listing.as_bytes()).sha256)
}

fn collect_files(
    root: &Path,
    path: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), PipelineError> {
    let meta = std::fs::metadata(path).map_err(|e| PipelineError::io(path, e))?;
    if meta.is_file() {
        let relative = path.strip_prefix(root).unwrap_or(path);
        out.push((relative.display().to_string(), path.to_path_buf()));
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(|e| PipelineError::io(path, e))? {
        let entry = entry.map_err(|e| PipelineError::io(path, e))?;
        collect_files(root, &entry.path(), out)?;
    }
    Ok(())
}

/// The record's path.
pub fn stamp_path(state_dir: &Path, unit: &Unit) -> PathBuf {
    state_dir.join(format!("{}.json", unit.id()))
}

/// The unit's record, if it has a readable one (an unreadable record counts as none: the
/// unit then runs afresh).
pub fn read_stamp(state_dir: &Path, unit: &Unit) -> Option<Stamp> {
    let path = stamp_path(state_dir, unit);
    if !path.is_file() {
        return None;
    }
    match crate::json_file::read_json(&path) {
        Ok(stamp) => Some(stamp),
        Err(error) => {
            tracing::warn!(%error, "unreadable stage record; the stage runs afresh");
            None
        }
    }
}

/// Writes the unit's record (through a temporary file and a rename).
pub fn write_stamp(state_dir: &Path, unit: &Unit, stamp: &Stamp) -> Result<(), PipelineError> {
    std::fs::create_dir_all(state_dir).map_err(|e| PipelineError::io(state_dir, e))?;
    Ok(crate::json_file::write_json(
        &stamp_path(state_dir, unit),
        stamp,
    )?)
}
