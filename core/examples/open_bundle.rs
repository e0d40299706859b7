//! Opens a bundle and reports the time and the process memory after open: total RSS and
//! its anonymous part (heap) vs file-backed pages (the maps).
//!
//! usage: open_bundle BUNDLE_DIR [--verify]

use std::path::PathBuf;
use std::time::Instant;

use reclora_core::bundle::{Bundle, BundleOptions};

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: open_bundle BUNDLE_DIR [--verify]")?,
    );
    let verify_checksums = args.next().as_deref() == Some("--verify");
    let before = status_kb("RssAnon:");
    let started = Instant::now();
    let device = burn::tensor::Device::flex();
    let bundle = Bundle::open(&dir, &device, BundleOptions { verify_checksums })?;
    let seconds = started.elapsed().as_secs_f64();
    let mapped: u64 = bundle.manifest().files.values().map(|f| f.bytes).sum();
    println!(
        "{}",
        serde_json::json!({
            "bundle": dir,
            "verify_checksums": verify_checksums,
            "open_seconds": seconds,
            "mapped_mb": mapped as f64 / 1e6,
            "rss_mb": status_kb("VmRSS:") as f64 / 1e3,
            "rss_anon_mb": status_kb("RssAnon:") as f64 / 1e3,
            "rss_anon_before_open_mb": before as f64 / 1e3,
            "rss_file_mb": status_kb("RssFile:") as f64 / 1e3,
        })
    );
    Ok(())
}
