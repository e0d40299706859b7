//! Output folders that appear whole or not at all: written into a sibling temporary folder,
//! then renamed into place. Shared by `prepare` and `embed-items`.

use std::path::{Path, PathBuf};

/// Why an atomic folder write could not start or finish.
#[derive(Debug)]
pub enum AtomicDirError {
    /// The output path has no final component (e.g. `/` or `..`).
    BadOutputPath(PathBuf),
    /// The output exists, is not empty, and lacks the marker file of this kind of folder.
    Occupied(PathBuf),
    /// The OS refused an operation on a path.
    Io(PathBuf, std::io::Error),
}

/// Runs `write` on a fresh sibling `out.tmp-<pid>` folder, then moves it to `out`; on any
/// error the temporary folder is removed and `out` is left as it was. An existing `out` is
/// replaced only if it is empty or holds `marker` (an earlier output of the same kind).
pub fn write_dir_atomically<T, E: From<AtomicDirError>>(
    out: &Path,
    marker: &str,
    write: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<T, E> {
    let name = out
        .file_name()
        .ok_or_else(|| AtomicDirError::BadOutputPath(out.to_path_buf()))?
        .to_string_lossy()
        .into_owned();
    check_replaceable(out, marker)?;
    let sibling =
        |suffix: &str| out.with_file_name(format!("{name}.{suffix}-{}", std::process::id()));
    let tmp = sibling("tmp");
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| AtomicDirError::Io(parent.into(), e))?;
    }
    remove_dir_if_exists(&tmp)?;
    std::fs::create_dir(&tmp).map_err(|e| AtomicDirError::Io(tmp.clone(), e))?;
    let result = write(&tmp).and_then(|value| {
        replace_dir(&tmp, out, &sibling("old"))?;
        Ok(value)
    });
    if result.is_err() {
        // Best effort: the original error is what matters.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn check_replaceable(out: &Path, marker: &str) -> Result<(), AtomicDirError> {
    if !out.exists() {
        return Ok(());
    }
    let empty = out.is_dir()
        && std::fs::read_dir(out)
            .map_err(|e| AtomicDirError::Io(out.into(), e))?
            .next()
            .is_none();
    if empty || out.join(marker).is_file() {
        Ok(())
    } else {
        Err(AtomicDirError::Occupied(out.to_path_buf()))
    }
}

/// Moves `tmp` to `out`, parking an existing `out` at `old` until the move succeeded.
fn replace_dir(tmp: &Path, out: &Path, old: &Path) -> Result<(), AtomicDirError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| AtomicDirError::Io(path, e)
    };
    if !out.exists() {
        return std::fs::rename(tmp, out).map_err(io(out));
    }
    remove_dir_if_exists(old)?;
    std::fs::rename(out, old).map_err(io(out))?;
    if let Err(e) = std::fs::rename(tmp, out) {
        let _ = std::fs::rename(old, out);
        return Err(AtomicDirError::Io(out.into(), e));
    }
    std::fs::remove_dir_all(old).map_err(io(old))
}

fn remove_dir_if_exists(path: &Path) -> Result<(), AtomicDirError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(AtomicDirError::Io(path.into(), e))
        }
        _ => Ok(()),
    }
}
