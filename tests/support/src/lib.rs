//! Helpers shared by the test suites of every reclora crate. It depends on no reclora
//! crate, so a crate's own unit tests can use it without a second copy of that crate.

use std::path::{Path, PathBuf};

/// A fresh, empty folder under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    /// A new folder named `reclora-<name>-<random>`.
    ///
    /// # Panics
    /// When the system temp dir is not writable: a test cannot run without it.
    #[allow(clippy::expect_used)]
    pub fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("reclora-{name}-"))
            .tempdir()
            .expect("the system temp dir is writable");
        Self(dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// A path inside it.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.path().join(name)
    }
}

/// The git-ignored asset folder of scripts/fetch-assets.sh: `RECLORA_ASSETS` when set,
/// else the workspace's `assets/`.
pub fn assets_dir() -> PathBuf {
    std::env::var_os("RECLORA_ASSETS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets"),
        PathBuf::from,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_distinct_and_removed_on_drop() {
        let (a, b) = (TempDir::new("x"), TempDir::new("x"));
        assert_ne!(a.path(), b.path());
        std::fs::write(a.join("f"), b"1").expect("writes");
        let kept = a.path().to_path_buf();
        assert!(kept.join("f").is_file());
        drop(a);
        assert!(!kept.exists());
    }

    #[test]
    fn the_assets_folder_is_the_workspace_s() {
        if std::env::var_os("RECLORA_ASSETS").is_none() {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            assert!(workspace.join("Cargo.toml").is_file());
            assert_eq!(assets_dir(), workspace.join("assets"));
        }
    }
}
