//! Scores from the bundle against the reference pipeline.

use burn::tensor::Device;

use super::fixture::{Sources, write_bundle, write_bundle_laid_out};
use super::reference::{Reference, TestUser, user_a, user_b};
use crate::bundle::QuantScheme;
use crate::bundle::manifest::file;
use crate::history::{Feedback, FsyncPolicy, HistoryOptions, StoredEvent};
use crate::prompt::PromptLayout;
use crate::runtime::{Backend, GateMode, Recommender, RecommenderOptions};
use reclora_test_support::TempDir;

const CANDIDATES: [u32; 6] = [5, 34, 233, 1, 89, 21];

fn options(backend: Backend, gate_mode: GateMode) -> RecommenderOptions {
    RecommenderOptions {
        backend,
        gate_mode: Some(gate_mode),
        batch_size: 4, // 6 candidates: one full batch and one padded
        ..RecommenderOptions::default()
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn expected(reference: &Reference, sources: &Sources, user: &TestUser, per_user: bool) -> Vec<f32> {
    CANDIDATES
        .iter()
        .map(|&c| {
            if per_user {
                reference.per_user(sources, user, c)
            } else {
                reference.per_sample(sources, user, c)
            }
        })
        .collect()
}

/// One body, every backend and layout: an f32 bundle reproduces the reference in both
/// gate modes.
fn bundle_matches_reference(backend: Backend, tolerance: f32, layout: PromptLayout) {
    let dir = TempDir::new("runtime-f32");
    let cpu = Device::flex();
    let sources = super::fixture::sources(&cpu);
    write_bundle_laid_out(dir.path(), &sources, QuantScheme::F32, layout, |_| {});
    let reference = Reference::new(&cpu).in_layout(layout);
    for (mode, per_user) in [(GateMode::PerSample, false), (GateMode::PerUser, true)] {
        let recommender =
            Recommender::open_bundle(dir.path(), options(backend, mode)).expect("opens");
        if matches!(backend, Backend::Wgpu | Backend::Cuda) {
            assert_eq!(
                recommender.backend().fallback,
                None,
                "no {backend:?} device"
            );
        }
        for user in [user_a(), user_b()] {
            let want = expected(&reference, &sources, &user, per_user);
            let got = recommender
                .score_user(&user.snapshot, &CANDIDATES)
                .expect("scores");
            let diff = max_diff(&got, &want);
            eprintln!("{backend:?} {mode:?} {layout}: max |Δ| {diff:.2e} over {want:?}");
            assert!(diff <= tolerance, "{mode:?}: {got:?} vs {want:?}");
            // The adapter and the history matter: scores are not all equal.
            assert!(want.iter().any(|&p| (p - want[0]).abs() > 1e-4), "{want:?}");
        }
    }
}

#[test]
fn cpu_bundle_matches_the_training_time_pipeline() {
    bundle_matches_reference(Backend::Cpu { threads: 2 }, 2e-5, PromptLayout::Rella);
}

/// The candidate-last layout: per-user scoring runs only the title and the chat tail per
/// candidate, and still equals one full forward of each prompt.
#[test]
fn cpu_candidate_last_bundle_matches_the_training_time_pipeline() {
    bundle_matches_reference(
        Backend::Cpu { threads: 2 },
        2e-5,
        PromptLayout::CandidateLast,
    );
}

/// lavapipe (software Vulkan) in CI; f32 kernels in another summation order.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_bundle_matches_the_training_time_pipeline() {
    bundle_matches_reference(Backend::Wgpu, 1e-3, PromptLayout::Rella);
}

/// With no gate mode asked for, a bundle is served in the mode its adapter was trained
/// for (`plora.gate_mode`); an explicit mode still wins.
#[test]
fn the_trained_gate_mode_is_served_unless_another_is_asked_for() {
    let cpu = Device::flex();
    let sources = super::fixture::sources(&cpu);
    let reference = Reference::new(&cpu);
    let user = user_a();
    let dir = TempDir::new("runtime-trained-mode");
    write_bundle(dir.path(), &sources, QuantScheme::F32);
    let manifest_path = dir.join(file::MANIFEST);
    let text = std::fs::read_to_string(&manifest_path).expect("manifest");
    let mut manifest: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(manifest["plora"]["gate_mode"], "per-sample");
    let open = |manifest: &serde_json::Value, gate_mode: Option<GateMode>| {
        std::fs::write(&manifest_path, manifest.to_string()).expect("rewrite");
        let options = RecommenderOptions {
            gate_mode,
            ..options(Backend::Cpu { threads: 2 }, GateMode::PerSample)
        };
        Recommender::open_bundle(dir.path(), options).expect("opens")
    };
    let per_sample = expected(&reference, &sources, &user, false);
    let per_user = expected(&reference, &sources, &user, true);
    assert!(
        max_diff(&per_sample, &per_user) > 1e-4,
        "the modes must differ"
    );
    let scores = |recommender: &Recommender| {
        recommender
            .score_user(&user.snapshot, &CANDIDATES)
            .expect("scores")
    };

    // A manifest from before the field reads as per-sample.
    manifest["plora"]
        .as_object_mut()
        .expect("plora table")
        .remove("gate_mode");
    let recommender = open(&manifest, None);
    assert_eq!(recommender.gate_mode(), GateMode::PerSample);
    assert!(max_diff(&scores(&recommender), &per_sample) <= 2e-5);

    manifest["plora"]["gate_mode"] = "per-user".into();
    let recommender = open(&manifest, None);
    assert_eq!(recommender.manifest().plora.gate_mode, GateMode::PerUser);
    assert_eq!(recommender.gate_mode(), GateMode::PerUser);
    assert!(max_diff(&scores(&recommender), &per_user) <= 2e-5);

    let recommender = open(&manifest, Some(GateMode::PerSample));
    assert_eq!(recommender.gate_mode(), GateMode::PerSample);
    assert!(max_diff(&scores(&recommender), &per_sample) <= 2e-5);
}

/// Runs where this build and machine have a CUDA device; skips, saying why, elsewhere.
#[test]
fn cuda_bundle_matches_the_training_time_pipeline() {
    if let Err(why) = crate::BackendKind::Cuda.open() {
        eprintln!("skipped: {why}");
        return;
    }
    bundle_matches_reference(Backend::Cuda, 1e-3, PromptLayout::Rella);
}

/// Quantized LLM matrices stay within the acceptance bound of the f32 pipeline.
#[test]
fn quantized_bundles_stay_within_the_parity_bound() {
    let cpu = Device::flex();
    let sources = super::fixture::sources(&cpu);
    let reference = Reference::new(&cpu);
    let user = user_a();
    let want = expected(&reference, &sources, &user, false);
    for (quant, bound) in [
        (QuantScheme::F16, 1e-3),
        (QuantScheme::Q8, 0.02),
        (QuantScheme::Q4, 0.05),
    ] {
        let dir = TempDir::new("runtime-quant");
        write_bundle(dir.path(), &sources, quant);
        let recommender = Recommender::open_bundle(
            dir.path(),
            options(Backend::Cpu { threads: 2 }, GateMode::PerSample),
        )
        .expect("opens");
        let got = recommender
            .score_user(&user.snapshot, &CANDIDATES)
            .expect("scores");
        let diff = max_diff(&got, &want);
        eprintln!("{quant:?}: max |Δ| {diff:.2e}");
        assert!(diff <= bound, "{quant:?}: {diff}");
        assert!(
            diff > 0.0 || quant == QuantScheme::F16,
            "{quant:?} changed nothing"
        );
    }
}

/// Events go through the store (unknown item kept there, skipped by the models), and
/// `rank` orders `score`'s values.
#[test]
fn store_backed_scoring_and_ranking() {
    let dir = TempDir::new("runtime-store");
    let cpu = Device::flex();
    let sources = super::fixture::sources(&cpu);
    write_bundle(&dir.join("bundle"), &sources, QuantScheme::F32);
    let user = user_a();
    let history = HistoryOptions {
        fsync: FsyncPolicy::Never,
        ..HistoryOptions::default()
    };
    let open = || {
        Recommender::open(
            &dir.join("bundle"),
            &dir.join("history.bin"),
            RecommenderOptions {
                history,
                ..options(Backend::Cpu { threads: 2 }, GateMode::PerSample)
            },
        )
        .expect("opens")
    };
    let recommender = open();
    recommender
        .set_profile(user.snapshot.profile.clone())
        .expect("profile");
    for event in &user.snapshot.events {
        recommender.record(*event).expect("append");
    }
    let direct = recommender
        .score_user(&user.snapshot, &CANDIDATES)
        .expect("direct");
    assert_eq!(recommender.score(&CANDIDATES).expect("stored"), direct);
    drop(recommender);
    // Reopened from disk: the unknown item 999 is still stored.
    let recommender = open();
    let stored = recommender.snapshot().expect("snapshot");
    assert!(stored.events.iter().any(|e| e.item_id == 999));
    assert_eq!(recommender.score(&CANDIDATES).expect("reopened"), direct);
    let ranked = recommender.rank(&CANDIDATES, 3).expect("rank");
    let mut sorted = direct.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let top: Vec<f32> = ranked.iter().map(|s| s.score).collect();
    assert_eq!(top, sorted[..3]);
    for item in &ranked {
        let at = CANDIDATES
            .iter()
            .position(|&c| c == item.item_id)
            .expect("candidate");
        assert_eq!(direct[at], item.score);
    }
    // A like counts as 5 stars: recording one changes the scores.
    recommender
        .record(StoredEvent {
            item_id: 34,
            feedback: Feedback::Like,
            timestamp: 500,
        })
        .expect("like");
    assert_ne!(recommender.score(&CANDIDATES).expect("after like"), direct);
}

/// `llm_rerank`: DIN orders every candidate, the LLM re-scores DIN's best N, the rest
/// follow in DIN's order with DIN's P(click).
#[test]
fn llm_rerank_scores_only_dins_best_candidates() {
    let dir = TempDir::new("runtime-rerank");
    let cpu = Device::flex();
    let sources = super::fixture::sources(&cpu);
    write_bundle(dir.path(), &sources, QuantScheme::F32);
    let reference = Reference::new(&cpu);
    let user = user_a();
    let open = |llm_rerank| {
        Recommender::open_bundle(
            dir.path(),
            RecommenderOptions {
                llm_rerank,
                ..options(Backend::Cpu { threads: 2 }, GateMode::PerSample)
            },
        )
    };
    let full = open(None).expect("opens");
    let crm = full
        .crm_scores(&user.snapshot, &CANDIDATES)
        .expect("crm scores");
    for (&c, &p) in CANDIDATES.iter().zip(&crm) {
        let want = reference.crm_p_click(&sources, &user, c);
        assert!(
            (p - want).abs() <= 1e-6,
            "item {c}: DIN {p} vs reference {want}"
        );
    }
    assert!(crm.iter().any(|&p| (p - crm[0]).abs() > 1e-4), "{crm:?}");
    let llm = full
        .score_user(&user.snapshot, &CANDIDATES)
        .expect("llm scores");

    // By hand: DIN's three best, in the LLM's order, then the other three in DIN's.
    let mut by_crm: Vec<usize> = (0..CANDIDATES.len()).collect();
    by_crm.sort_by(|&a, &b| crm[b].total_cmp(&crm[a]));
    let mut head = by_crm[..3].to_vec();
    head.sort_by(|&a, &b| llm[b].total_cmp(&llm[a]));
    let want: Vec<(u32, f32)> = head
        .iter()
        .map(|&i| (CANDIDATES[i], llm[i]))
        .chain(by_crm[3..].iter().map(|&i| (CANDIDATES[i], crm[i])))
        .collect();
    let reranker = open(Some(3)).expect("opens");
    let got = reranker
        .rank_user(&user.snapshot, &CANDIDATES, 6)
        .expect("reranked");
    assert_eq!(
        got.iter().map(|s| s.item_id).collect::<Vec<_>>(),
        want.iter().map(|w| w.0).collect::<Vec<_>>()
    );
    for (g, (id, score)) in got.iter().zip(&want) {
        // The shortlist runs in other batches than the full slate: f32 sums only.
        assert!(
            (g.score - score).abs() <= 1e-5,
            "item {id}: {} vs {score}",
            g.score
        );
    }
    let top2 = reranker
        .rank_user(&user.snapshot, &CANDIDATES, 2)
        .expect("top 2");
    assert_eq!(top2.as_slice(), &got[..2]);

    // A shortlist as long as the slate is the plain ranking.
    let plain = full
        .rank_user(&user.snapshot, &CANDIDATES, 4)
        .expect("plain");
    let all = open(Some(6)).expect("opens");
    assert_eq!(
        all.rank_user(&user.snapshot, &CANDIDATES, 4)
            .expect("n = 6"),
        plain
    );
    assert!(matches!(
        open(Some(0)),
        Err(crate::runtime::RuntimeError::ZeroOption {
            option: "llm_rerank"
        })
    ));
}

/// 8 threads scoring at once give exactly the serial results.
#[test]
fn eight_threads_score_like_serial_calls() {
    let dir = TempDir::new("runtime-threads");
    let cpu = Device::flex();
    let sources = super::fixture::sources(&cpu);
    write_bundle(dir.path(), &sources, QuantScheme::Q8);
    let recommender = Recommender::open_bundle(
        dir.path(),
        options(Backend::Cpu { threads: 2 }, GateMode::PerSample),
    )
    .expect("opens");
    let users = [user_a(), user_b()];
    let serial: Vec<Vec<f32>> = users
        .iter()
        .map(|u| {
            recommender
                .score_user(&u.snapshot, &CANDIDATES)
                .expect("serial")
        })
        .collect();
    let parallel: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (recommender, user) = (&recommender, &users[t % 2]);
                scope.spawn(move || recommender.score_user(&user.snapshot, &CANDIDATES))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("scores"))
            .collect()
    });
    for (t, scores) in parallel.iter().enumerate() {
        assert_eq!(scores, &serial[t % 2], "thread {t}");
    }
}
