//! Time to first score on the phone path: opens a `Recommender` on a bundle (CPU), scores
//! one candidate for a user built from the bundle's own dictionaries, and reports the time
//! of each stage and the process memory (anonymous vs file-backed) after open and after
//! the first score.
//!
//! usage: first_score BUNDLE_DIR [THREADS] [--verify]

use std::path::PathBuf;
use std::time::Instant;

use reclora_core::history::{Feedback, StoredEvent, UserProfile};
use reclora_core::runtime::{Backend, Recommender, RecommenderOptions, UserSnapshot};

fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1e3
}

fn memory() -> serde_json::Value {
    serde_json::json!({
        "rss_mb": status_mb("VmRSS:"),
        "rss_anon_mb": status_mb("RssAnon:"),
        "rss_file_mb": status_mb("RssFile:"),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .ok_or("usage: first_score BUNDLE_DIR [THREADS] [--verify]")?,
    );
    let threads = args.get(1).and_then(|t| t.parse().ok()).unwrap_or(2);
    let verify_checksums = args.iter().any(|a| a == "--verify");
    let options = RecommenderOptions {
        backend: Backend::Cpu { threads },
        verify_checksums,
        ..RecommenderOptions::default()
    };
    let started = Instant::now();
    let recommender = Recommender::open_bundle(&dir, options)?;
    let open_seconds = started.elapsed().as_secs_f64();
    let after_open = memory();

    // A user whose profile takes each field's first value and who rated the first 30
    // catalog items: a realistic prompt length without any dataset at hand.
    let features = recommender.features();
    let profile = UserProfile::new(features.fields[..features.user_fields].iter().map(|f| {
        (
            f.name.clone(),
            f.values.first().cloned().unwrap_or_default(),
        )
    }));
    let ids: Vec<u32> = features.fields[features.user_fields]
        .values
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    let events = ids
        .iter()
        .take(30)
        .enumerate()
        .map(|(k, &item_id)| StoredEvent {
            item_id,
            feedback: Feedback::Rating(1 + (k % 5) as u8),
            timestamp: 978_300_000 + k as i64,
        })
        .collect();
    let user = UserSnapshot { profile, events };
    let candidate = ids.get(40).copied().ok_or("catalog too small")?;
    let scoring = Instant::now();
    let score = recommender.score_user(&user, &[candidate])?;
    let first_score_seconds = scoring.elapsed().as_secs_f64();
    let total = started.elapsed().as_secs_f64();
    let scoring = Instant::now();
    recommender.score_user(&user, &[candidate])?;
    let second_score_seconds = scoring.elapsed().as_secs_f64();
    let mapped: u64 = recommender.manifest().files.values().map(|f| f.bytes).sum();
    println!(
        "{}",
        serde_json::json!({
            "bundle": dir,
            "quant": recommender.manifest().quant,
            "threads": threads,
            "verify_checksums": verify_checksums,
            "mapped_mb": mapped as f64 / 1e6,
            "open_seconds": open_seconds,
            "after_open": after_open,
            "first_score_seconds": first_score_seconds,
            "time_to_first_score_seconds": total,
            "second_score_seconds": second_score_seconds,
            "after_first_score": memory(),
            "p_yes": score[0],
        })
    );
    Ok(())
}
