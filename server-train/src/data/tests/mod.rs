//! Tests of the data pipeline: hand-checked fixtures, failure modes, and the real datasets.
//!
//! Fixtures live in `server-train/tests/fixtures/` and are compiled in with `include_bytes!`
//! (byte-exact: CRLF line ends, Latin-1 bytes), then written to a temporary folder.

mod failures;
mod ml1m_fixture;
mod other_loaders;
mod real;
mod store;

use std::path::{Path, PathBuf};

/// The hand-written 20-rating ML-1M fixture. Stored as `*.dat.fixture` so no file named
/// like the licensed MovieLens data is ever tracked; tests write it back as `*.dat`.
pub const ML1M_TINY: [(&str, &[u8]); 3] = [
    (
        "users.dat",
        include_bytes!("../../../tests/fixtures/ml-1m-tiny/users.dat.fixture"),
    ),
    (
        "movies.dat",
        include_bytes!("../../../tests/fixtures/ml-1m-tiny/movies.dat.fixture"),
    ),
    (
        "ratings.dat",
        include_bytes!("../../../tests/fixtures/ml-1m-tiny/ratings.dat.fixture"),
    ),
];

/// The hand-written ML-25M fixture.
pub const ML25M_TINY: [(&str, &[u8]); 2] = [
    (
        "movies.csv",
        include_bytes!("../../../tests/fixtures/ml-25m-tiny/movies.csv"),
    ),
    (
        "ratings.csv",
        include_bytes!("../../../tests/fixtures/ml-25m-tiny/ratings.csv"),
    ),
];

/// The hand-written GoodReads fixture.
pub const GOODREADS_TINY: [(&str, &[u8]); 3] = [
    (
        "goodreads_interactions_poetry.json",
        include_bytes!("../../../tests/fixtures/goodreads-tiny/goodreads_interactions_poetry.json"),
    ),
    (
        "goodreads_books_poetry.json",
        include_bytes!("../../../tests/fixtures/goodreads-tiny/goodreads_books_poetry.json"),
    ),
    (
        "goodreads_book_genres_initial.json",
        include_bytes!("../../../tests/fixtures/goodreads-tiny/goodreads_book_genres_initial.json"),
    ),
];

pub use reclora_test_support::TempDir;

/// Writes `files` into a new subfolder `name` of `root`.
pub fn write_files(root: &TempDir, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("create fixture dir");
    for (file, bytes) in files {
        std::fs::write(dir.join(file), bytes).expect("write fixture");
    }
    dir
}

/// Entries of `dir` (names), sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub use reclora_test_support::assets_dir;

/// A real dataset folder; panics with the fix when it is missing (never skips silently).
pub fn real_dataset(name: &str, probe: &str) -> PathBuf {
    let dir = assets_dir().join(name);
    assert!(
        dir.join(probe).is_file(),
        "{} is missing: run scripts/fetch-assets.sh first (or set RECLORA_ASSETS)",
        dir.join(probe).display()
    );
    dir
}
