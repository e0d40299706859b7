//! The exported `Recommender`: thin, documented wrappers over
//! [`reclora_core::runtime::Recommender`]. Each one checks its arguments, runs core inside
//! [`guarded`] (no panic crosses the boundary) and maps the detailed error to
//! [`RecloraError`].

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use reclora_core::runtime::Recommender as CoreRecommender;

use crate::error::{ArgumentError, Error, RecloraError};
use crate::records::{RecommenderOptions, ScoredItem, UserEvent, UserProfile, candidate_ids};

/// The on-device recommender: a bundle, the user's local history and a backend.
///
/// Thread-safe: every method may be called from any thread, and several `score` or `rank`
/// calls run at once. Calls block while the models run (milliseconds to seconds on a real
/// bundle), so the platform wrappers run them off the main thread. Use one recommender per
/// history file.
#[derive(Debug, uniffi::Object)]
pub struct Recommender {
    /// `None` once closed. Only cloned or taken under the lock, never held during a call.
    core: RwLock<Option<Arc<CoreRecommender>>>,
}

#[uniffi::export]
impl Recommender {
    /// Opens the bundle folder `bundle_dir` (validating its manifest, every file's size,
    /// optionally every sha256, and every tensor shape) and the user's history file at
    /// `history_path` (created when absent; a torn last record from a crash is cut).
    #[uniffi::constructor]
    pub fn open(
        bundle_dir: String,
        history_path: String,
        options: RecommenderOptions,
    ) -> Result<Arc<Self>, RecloraError> {
        guarded("open", || {
            let options = options.to_core()?;
            let core =
                CoreRecommender::open(Path::new(&bundle_dir), Path::new(&history_path), options)?;
            Ok(Arc::new(Self {
                core: RwLock::new(Some(Arc::new(core))),
            }))
        })
    }

    /// Appends one interaction to the history; durable when this returns.
    pub fn record_event(&self, event: UserEvent) -> Result<(), RecloraError> {
        self.call("record_event", |core| {
            core.record(event.to_core()?)?;
            Ok(())
        })
    }

    /// Appends `events` in order. Every event is checked first, so an invalid one rejects
    /// the call before anything is written.
    pub fn record_events(&self, events: Vec<UserEvent>) -> Result<(), RecloraError> {
        self.call("record_events", |core| {
            let events = events
                .into_iter()
                .map(UserEvent::to_core)
                .collect::<Result<Vec<_>, _>>()?;
            core.record_all(&events)?;
            Ok(())
        })
    }

    /// Replaces the stored profile.
    pub fn set_profile(&self, profile: UserProfile) -> Result<(), RecloraError> {
        self.call("set_profile", |core| {
            core.set_profile(profile.to_core())?;
            Ok(())
        })
    }

    /// P(yes) of each candidate for the stored user, in input order. Fails with
    /// `UnknownItem` when a candidate is not in the bundle.
    pub fn score(&self, candidate_ids: Vec<i64>) -> Result<Vec<f64>, RecloraError> {
        self.call("score", |core| {
            let ids = candidates(&candidate_ids)?;
            Ok(core.score(&ids)?.into_iter().map(f64::from).collect())
        })
    }

    /// The `top_k` best candidates, best first (ties keep the input order).
    pub fn rank(
        &self,
        candidate_ids: Vec<i64>,
        top_k: i32,
    ) -> Result<Vec<ScoredItem>, RecloraError> {
        self.call("rank", |core| {
            let ids = candidates(&candidate_ids)?;
            let top_k = usize::try_from(top_k)
                .ok()
                .filter(|&k| k > 0)
                .ok_or(ArgumentError::TopK(top_k))?;
            Ok(core
                .rank(&ids, top_k)?
                .into_iter()
                .map(|item| ScoredItem {
                    item_id: i64::from(item.item_id),
                    score: f64::from(item.score),
                })
                .collect())
        })
    }

    /// The number of stored events, unknown items included.
    pub fn history_length(&self) -> Result<i64, RecloraError> {
        self.call("history_length", |core| {
            Ok(i64::try_from(core.history_len()?).unwrap_or(i64::MAX))
        })
    }

    /// Forgets every stored event and keeps the profile.
    pub fn clear_history(&self) -> Result<(), RecloraError> {
        self.call("clear_history", |core| {
            core.clear_history()?;
            Ok(())
        })
    }

    /// Releases the bundle and the history file; every later call fails with `Closed`.
    /// Calls already running complete normally (each holds its own reference), and the
    /// files are released when the last of them returns. Closing twice is fine.
    pub fn close(&self) -> Result<(), RecloraError> {
        guarded("close", || {
            let taken = self
                .core
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            self.core.clear_poison();
            drop(taken);
            Ok(())
        })
    }
}

#[cfg(any(test, feature = "test-hooks"))]
#[uniffi::export]
impl Recommender {
    /// Test-only (`test-hooks` builds): panics inside Rust while holding this object's
    /// lock, poisoning it. The panic arrives as `Internal`; the next call must still work.
    pub fn panic_for_test(&self, message: String) -> Result<(), RecloraError> {
        guarded("panic_for_test", || {
            let _held = self.core.write().unwrap_or_else(PoisonError::into_inner);
            panic!("{message}");
        })
    }
}

impl Recommender {
    /// Runs `work` on the open core recommender, guarded.
    fn call<T>(
        &self,
        name: &'static str,
        work: impl FnOnce(&CoreRecommender) -> Result<T, Error>,
    ) -> Result<T, RecloraError> {
        guarded(name, || {
            let core = self.core()?;
            work(&core)
        })
    }

    /// The core recommender, shared with the call; a lock poisoned by a panic elsewhere
    /// still holds a valid `Option`, so it is used and cleared.
    fn core(&self) -> Result<Arc<CoreRecommender>, Error> {
        let core = self
            .core
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if self.core.is_poisoned() {
            self.core.clear_poison();
        }
        core.ok_or(Error::Closed)
    }
}

fn candidates(ids: &[i64]) -> Result<Vec<u32>, Error> {
    Ok(candidate_ids(ids)?)
}

/// Runs `work`, turning a panic into [`Error::Panic`] and any error into the public one
/// (logged with its detail). uniffi itself only catches panics in throwing functions and
/// reports them as its own generic error; catching here keeps every failure typed.
///
/// `AssertUnwindSafe`: after a panic the wrapper's state is a whole `Option<Arc<_>>`, core's
/// models are immutable, and core reloads a poisoned history store from its file.
pub(crate) fn guarded<T>(
    call: &'static str,
    work: impl FnOnce() -> Result<T, Error>,
) -> Result<T, RecloraError> {
    let outcome = panic::catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        Err(Error::Panic {
            call,
            message: panic_message(payload.as_ref()),
        })
    });
    outcome.map_err(|error| {
        match &error {
            Error::Panic { .. } => tracing::error!(call, %error, "caught a panic"),
            _ => tracing::debug!(call, %error, "call failed"),
        }
        RecloraError::from(error)
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}
