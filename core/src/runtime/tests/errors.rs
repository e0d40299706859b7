//! Typed errors of the runtime, one per cause.

use burn::tensor::Device;

use super::fixture::{Sources, features, write_bundle, write_bundle_with};
use super::reference::user_a;
use crate::bundle::QuantScheme;
use crate::bundle::manifest::file;
use crate::bundle::{BundleError, CatalogProblem};
use crate::history::UserProfile;
use crate::runtime::{Backend, Recommender, RecommenderOptions, RuntimeError};
use reclora_test_support::TempDir;

fn cpu_options() -> RecommenderOptions {
    RecommenderOptions {
        backend: Backend::Cpu { threads: 1 },
        max_candidates: 4,
        ..RecommenderOptions::default()
    }
}

fn sources() -> Sources {
    super::fixture::sources(&Device::flex())
}

#[test]
fn bad_requests_and_profiles_name_what_is_wrong() {
    let dir = TempDir::new("runtime-errors");
    write_bundle(dir.path(), &sources(), QuantScheme::Q8);
    let recommender = Recommender::open_bundle(dir.path(), cpu_options()).expect("opens");
    let user = user_a();
    assert!(matches!(
        recommender.score_user(&user.snapshot, &[5, 777]),
        Err(RuntimeError::UnknownCandidate { item_id: 777 })
    ));
    assert!(matches!(
        recommender.score_user(&user.snapshot, &[1, 2, 3, 5, 8]),
        Err(RuntimeError::TooManyCandidates {
            requested: 5,
            limit: 4
        })
    ));
    assert_eq!(
        recommender.score_user(&user.snapshot, &[]).expect("empty"),
        Vec::<f32>::new()
    );
    let mut missing = user.snapshot.clone();
    missing.profile = UserProfile::new([("user_id", "11"), ("gender", "F")]);
    assert!(matches!(
        recommender.score_user(&missing, &[5]),
        Err(RuntimeError::MissingProfileField { field }) if field == "age"
    ));
    let mut unknown = user.snapshot.clone();
    unknown.profile.fields[2].1 = "99".into();
    assert!(matches!(
        recommender.score_user(&unknown, &[5]),
        Err(RuntimeError::UnknownProfileValue { field, value }) if field == "age" && value == "99"
    ));
    assert!(matches!(
        recommender.score(&[5]),
        Err(RuntimeError::NoStore)
    ));
    assert!(matches!(
        Recommender::open_bundle(
            dir.path(),
            RecommenderOptions {
                batch_size: 0,
                ..cpu_options()
            }
        ),
        Err(RuntimeError::ZeroOption {
            option: "batch_size"
        })
    ));
}

#[test]
fn inconsistent_side_files_are_catalog_errors() {
    let sources = sources();
    let open = |dir: &TempDir| Recommender::open_bundle(dir.path(), cpu_options());

    let dir = TempDir::new("runtime-features");
    write_bundle_with(dir.path(), &sources, QuantScheme::F32, |bundle| {
        let mut broken = features();
        broken.fields[1].offset += 1;
        std::fs::write(
            bundle.join(file::FEATURES),
            serde_json::to_vec(&broken).expect("json"),
        )
        .expect("write");
    });
    assert!(matches!(
        open(&dir),
        Err(RuntimeError::Bundle(BundleError::Catalog {
            problem: CatalogProblem::Layout { .. },
            ..
        }))
    ));

    let dir = TempDir::new("runtime-items");
    write_bundle_with(dir.path(), &sources, QuantScheme::F32, |bundle| {
        std::fs::write(bundle.join(file::ITEMS_JSON), b"{\"ids\": [").expect("write");
    });
    assert!(matches!(
        open(&dir),
        Err(RuntimeError::Bundle(BundleError::SideFile { .. }))
    ));

    let dir = TempDir::new("runtime-genre");
    write_bundle_with(dir.path(), &sources, QuantScheme::F32, |bundle| {
        let mut items = super::fixture::items();
        items.genres[4] = "Western".into();
        std::fs::write(
            bundle.join(file::ITEMS_JSON),
            serde_json::to_vec(&items).expect("json"),
        )
        .expect("write");
    });
    assert!(matches!(
        open(&dir),
        Err(RuntimeError::Bundle(BundleError::Catalog {
            problem: CatalogProblem::UnknownValue { row: 4, .. },
            ..
        }))
    ));
}

/// A manifest is trusted only as far as its files: sizes its files cannot hold are refused
/// before any tensor is allocated.
#[test]
fn oversized_declared_configs_are_refused_before_allocation() {
    let sources = sources();
    for (path, value, what) in [
        (
            &["crm", "din", "embedding_rows"][..],
            1u64 << 40,
            "DIN parameter bytes",
        ),
        (&["plora", "num_meta"][..], 1 << 30, "PLoRA bank bytes"),
        (
            &["llm", "max_position_embeddings"][..],
            1 << 40,
            "max_position_embeddings",
        ),
    ] {
        let dir = TempDir::new("runtime-declared");
        write_bundle(dir.path(), &sources, QuantScheme::F32);
        let manifest_path = dir.join(file::MANIFEST);
        let text = std::fs::read_to_string(&manifest_path).expect("manifest");
        let mut json: serde_json::Value = serde_json::from_str(&text).expect("json");
        let mut slot = &mut json;
        for key in path {
            slot = slot.get_mut(*key).expect("key");
        }
        *slot = serde_json::Value::from(value);
        std::fs::write(&manifest_path, json.to_string()).expect("write");
        match Recommender::open_bundle(dir.path(), cpu_options()) {
            Err(RuntimeError::Bundle(BundleError::DeclaredSize { what: found, .. })) => {
                assert_eq!(found, what);
            }
            other => panic!("{path:?}: {other:?}"),
        }
    }
}
