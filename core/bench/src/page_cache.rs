//! Cold opens: asking the kernel to drop a folder's files from the page cache
//! (`posix_fadvise(DONTNEED)`, which needs no privilege and touches only those files), and
//! measuring how much of them is still cached (`mincore`).

use std::path::{Path, PathBuf};

/// The regular files directly in `dir`.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Asks the kernel to drop `files`' cached pages (pages another process maps stay).
pub fn drop_cached(files: &[PathBuf]) {
    for path in files {
        if let Ok(file) = std::fs::File::open(path) {
            advise_dontneed(&file);
        }
    }
}

#[cfg(unix)]
fn advise_dontneed(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on an open descriptor; no memory is passed.
    let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

#[cfg(not(unix))]
fn advise_dontneed(_file: &std::fs::File) {}

/// The fraction of `files`' pages in the page cache (`None` where it cannot be told).
pub fn cached_fraction(files: &[PathBuf]) -> Option<f64> {
    let (mut cached, mut total) = (0u64, 0u64);
    for path in files {
        let (c, t) = cached_pages(path)?;
        cached += c;
        total += t;
    }
    (total > 0).then(|| cached as f64 / total as f64)
}

/// (cached, total) pages of one file.
#[cfg(unix)]
fn cached_pages(path: &Path) -> Option<(u64, u64)> {
    let file = std::fs::File::open(path).ok()?;
    if file.metadata().ok()?.len() == 0 {
        return Some((0, 0));
    }
    // SAFETY: read-only map of a file nobody truncates during the benchmark; only its
    // address range is passed to mincore, no byte is read.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    // SAFETY: sysconf has no memory arguments.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    let pages = map.len().div_ceil(page);
    let mut vec = vec![0u8; pages];
    // SAFETY: the range is the live map above; `vec` has one byte per page of it.
    let status = unsafe {
        libc::mincore(
            map.as_ptr() as *mut libc::c_void,
            map.len(),
            vec.as_mut_ptr().cast(),
        )
    };
    (status == 0).then(|| {
        let cached = vec.iter().filter(|&&b| b & 1 == 1).count();
        (cached as u64, pages as u64)
    })
}

#[cfg(not(unix))]
fn cached_pages(_path: &Path) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_is_cached_and_advice_is_harmless() {
        let dir = reclora_test_support::TempDir::new("bench-cache");
        std::fs::write(dir.join("a.bin"), vec![7u8; 64 * 1024]).expect("write");
        let files = files(dir.path());
        assert_eq!(files, [dir.join("a.bin")]);
        let before = cached_fraction(&files).expect("mincore works on Linux");
        assert!(before > 0.9, "just written, so cached: {before}");
        drop_cached(&files);
        let after = cached_fraction(&files).expect("mincore");
        assert!((0.0..=1.0).contains(&after));
        assert_eq!(
            std::fs::read(dir.join("a.bin")).expect("read").len(),
            64 * 1024
        );
    }
}
