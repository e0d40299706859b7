//! The bundle's file table: every file's size and sha256, checked when it is mapped.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::BundleError;
use crate::quant::SharedBytes;

/// Size and content hash of one bundle file, as the manifest records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Length in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
}

impl FileDigest {
    /// Hashes the file at `path`.
    pub fn of_file(path: &Path) -> Result<Self, BundleError> {
        let mut file = File::open(path).map_err(|e| BundleError::io(path, e))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = file
                .read(&mut buffer)
                .map_err(|e| BundleError::io(path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            bytes += n as u64;
        }
        Ok(Self {
            bytes,
            sha256: hex(&hasher.finalize()),
        })
    }

    /// The digest of in-memory `content`.
    pub fn of_bytes(content: &[u8]) -> Self {
        Self {
            bytes: content.len() as u64,
            sha256: hex(&Sha256::digest(content)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A read-only memory map of one bundle file, shareable with the matrices viewing it.
#[derive(Debug)]
pub struct MappedFile {
    path: PathBuf,
    map: Arc<Mmap>,
}

impl MappedFile {
    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The map as shared bytes: a model's quantized matrices hold it, so it stays mapped
    /// as long as any of them lives, even after the bundle is dropped.
    pub fn shared_bytes(&self) -> SharedBytes {
        self.map.clone()
    }

    /// Where it was mapped from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Maps file `name` of `dir`, checking it against its manifest entry: it must exist and
/// have the recorded size; with `verify_checksums` its sha256 must match too (this reads
/// the whole file once).
pub fn map_checked(
    dir: &Path,
    name: &str,
    files: &BTreeMap<String, FileDigest>,
    verify_checksums: bool,
) -> Result<MappedFile, BundleError> {
    let expected = files.get(name).ok_or_else(|| BundleError::NotInManifest {
        file: name.to_owned(),
    })?;
    let path = dir.join(name);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BundleError::MissingFile { path });
        }
        Err(e) => return Err(BundleError::io(&path, e)),
    };
    let found = file
        .metadata()
        .map_err(|e| BundleError::io(&path, e))?
        .len();
    if found != expected.bytes {
        return Err(BundleError::SizeMismatch {
            path,
            expected: expected.bytes,
            found,
        });
    }
    // SAFETY: the bundle is read-only by contract; a file changed under the map is
    // caught by the size check above or the optional checksum below only at open.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| BundleError::io(&path, e))?;
    if verify_checksums {
        let actual = hex(&Sha256::digest(&map[..]));
        if actual != expected.sha256 {
            return Err(BundleError::ChecksumMismatch {
                path,
                expected: expected.sha256.clone(),
                found: actual,
            });
        }
    }
    Ok(MappedFile {
        path,
        map: Arc::new(map),
    })
}
