//! The wrapper in Rust: the scenario the Kotlin, Swift and Python tests run, against core's
//! own results on the same bundle.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fixture::{self, CANDIDATES, UNKNOWN_ITEM};
use crate::records::{Feedback, RecommenderOptions, UserEvent};
use crate::{RecloraError, Recommender};

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("reclora-ffi-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_owned()
}

/// The fixture written once per test (tiny: well under a second).
fn setup(name: &str) -> (TempDir, fixture::Expected) {
    let dir = TempDir::new(name);
    let expected = fixture::write(&dir.0).expect("fixture");
    (dir, expected)
}

fn open(dir: &TempDir, history: &str) -> Result<Arc<Recommender>, RecloraError> {
    Recommender::open(
        text(&dir.join(fixture::BUNDLE)),
        text(&dir.join(history)),
        fixture::options(),
    )
}

fn open_with_user(dir: &TempDir) -> Arc<Recommender> {
    let recommender = open(dir, "history.bin").expect("opens");
    recommender
        .set_profile(fixture::profile())
        .expect("profile");
    recommender
        .record_events(fixture::events())
        .expect("events");
    recommender
}

#[test]
fn the_scenario_matches_core_and_the_history_persists() {
    let (dir, expected) = setup("scenario");
    let recommender = open(&dir, "history.bin").expect("opens");
    recommender
        .set_profile(fixture::profile())
        .expect("profile");
    for event in fixture::events() {
        recommender.record_event(event).expect("event");
    }
    assert_eq!(recommender.history_length(), Ok(20));
    recommender.close().expect("close");
    let recommender = open(&dir, "history.bin").expect("reopens");
    assert_eq!(recommender.history_length(), Ok(20));
    let scores = recommender.score(CANDIDATES.to_vec()).expect("scores");
    let want: Vec<f64> = expected.scores.iter().map(|&s| f64::from(s)).collect();
    assert_eq!(scores, want, "the wrapper changes nothing");
    assert!(
        scores.iter().any(|&s| (s - scores[0]).abs() > 1e-4),
        "{scores:?}"
    );
    let top = recommender.rank(CANDIDATES.to_vec(), 3).expect("rank");
    let top: Vec<(i64, f64)> = top.iter().map(|s| (s.item_id, s.score)).collect();
    let want: Vec<(i64, f64)> = expected
        .top3
        .iter()
        .map(|&(id, s)| (i64::from(id), f64::from(s)))
        .collect();
    assert_eq!(top, want);
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
}

#[test]
fn every_failure_is_a_typed_error() {
    let (dir, _) = setup("errors");
    let missing = Recommender::open(
        text(&dir.join("no-such-bundle")),
        text(&dir.join("h.bin")),
        fixture::options(),
    );
    assert!(
        matches!(missing, Err(RecloraError::Io { reason }) if reason.contains("no-such-bundle"))
    );
    let no_folder = open(&dir, "no-such-folder/history.bin");
    assert!(
        matches!(no_folder, Err(RecloraError::Io { .. })),
        "{no_folder:?}"
    );
    let corrupt = Recommender::open(
        text(&dir.join(fixture::CORRUPT_BUNDLE)),
        text(&dir.join("h.bin")),
        fixture::options(),
    );
    assert!(
        matches!(&corrupt, Err(RecloraError::BundleInvalid { reason }) if reason.contains("llm.safetensors")),
        "{corrupt:?}"
    );
    let bad_threads = Recommender::open(
        text(&dir.join(fixture::BUNDLE)),
        text(&dir.join("h.bin")),
        RecommenderOptions {
            threads: -1,
            ..fixture::options()
        },
    );
    assert!(matches!(
        bad_threads,
        Err(RecloraError::InvalidArgument { .. })
    ));
    let bad_rerank = Recommender::open(
        text(&dir.join(fixture::BUNDLE)),
        text(&dir.join("h.bin")),
        RecommenderOptions {
            llm_rerank: -1,
            ..fixture::options()
        },
    );
    assert!(
        matches!(
            &bad_rerank,
            Err(RecloraError::InvalidArgument { reason }) if reason.contains("llm_rerank")
        ),
        "{bad_rerank:?}"
    );

    let recommender = open_with_user(&dir);
    assert!(matches!(
        recommender.score(vec![]),
        Err(RecloraError::InvalidArgument { reason }) if reason.contains("empty")
    ));
    assert_eq!(
        recommender.score(vec![5, UNKNOWN_ITEM]),
        Err(RecloraError::UnknownItem {
            item_id: UNKNOWN_ITEM
        })
    );
    assert!(matches!(
        recommender.score(vec![-1]),
        Err(RecloraError::InvalidArgument { .. })
    ));
    assert!(matches!(
        recommender.rank(vec![5], 0),
        Err(RecloraError::InvalidArgument { .. })
    ));
    // One bad rating rejects the whole batch before anything is written.
    let bad = UserEvent {
        item_id: 5,
        feedback: Feedback::Rating { stars: 6 },
        timestamp_seconds: 1,
    };
    let good = UserEvent {
        feedback: Feedback::Like,
        ..bad
    };
    assert!(matches!(
        recommender.record_events(vec![good, bad]),
        Err(RecloraError::InvalidArgument { reason }) if reason.contains('6')
    ));
    assert_eq!(recommender.history_length(), Ok(20));

    recommender.close().expect("close");
    recommender.close().expect("closing twice is fine");
    assert_eq!(
        recommender.score(CANDIDATES.to_vec()),
        Err(RecloraError::Closed)
    );
    assert_eq!(recommender.history_length(), Err(RecloraError::Closed));
    assert_eq!(recommender.record_event(good), Err(RecloraError::Closed));
}

#[test]
fn a_panic_is_an_internal_error_and_the_next_call_works() {
    let (dir, expected) = setup("panic");
    let recommender = open_with_user(&dir);
    let error = recommender
        .panic_for_test("boom from the test hook".into())
        .expect_err("panics");
    assert!(
        matches!(&error, RecloraError::Internal { reason } if reason.contains("boom from the test hook")),
        "{error:?}"
    );
    let scores = recommender.score(CANDIDATES.to_vec()).expect("still works");
    assert_eq!(scores[0], f64::from(expected.scores[0]));
    assert_eq!(recommender.history_length(), Ok(20));
}

#[test]
fn four_threads_score_like_serial_calls() {
    let (dir, _) = setup("threads");
    let recommender = open_with_user(&dir);
    let slates: Vec<Vec<i64>> = (0..4).map(|t| CANDIDATES[t..t + 3].to_vec()).collect();
    let serial: Vec<Vec<f64>> = slates
        .iter()
        .map(|s| recommender.score(s.clone()).expect("serial"))
        .collect();
    std::thread::scope(|scope| {
        for (slate, want) in slates.iter().zip(&serial) {
            let recommender = &recommender;
            scope.spawn(move || {
                for _ in 0..25 {
                    assert_eq!(&recommender.score(slate.clone()).expect("parallel"), want);
                }
            });
        }
    });
}

#[test]
fn clearing_forgets_events_and_keeps_the_profile() {
    let (dir, expected) = setup("clear");
    let recommender = open_with_user(&dir);
    recommender.clear_history().expect("clear");
    assert_eq!(recommender.history_length(), Ok(0));
    // The profile is still there (scoring needs it) and the history matters.
    let scores = recommender.score(CANDIDATES.to_vec()).expect("scores");
    assert_ne!(scores[0], f64::from(expected.scores[0]));
    drop(recommender);
    let recommender = open(&dir, "history.bin").expect("reopens");
    assert_eq!(recommender.history_length(), Ok(0));
}
