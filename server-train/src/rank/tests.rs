//! `rank` on a tiny exported bundle: the slate is the user's own test items, ordered by the
//! runtime's scores, with the data's titles and labels; bad requests are typed errors.

use reclora_core::bundle::QuantScheme;
use reclora_core::runtime::{Recommender, RecommenderOptions};

use super::*;
use crate::export::export_bundle;
use crate::finetune::tests::fixture::TempDir;
use crate::replay::tests::tiny_run;

fn args(bundle: &std::path::Path, data: &std::path::Path) -> RankArgs {
    RankArgs {
        bundle: bundle.to_path_buf(),
        data: data.to_path_buf(),
        user: None,
        top: 3,
        candidates: Vec::new(),
        slate: 20,
        gate_mode: Some(GateModeArg::PerSample),
        llm_rerank: None,
        threads: 1,
        activations: ActivationsArg::Exact,
        json: true,
        out: None,
    }
}

#[test]
fn ranks_the_first_test_users_own_items_by_the_runtimes_scores() {
    let root = TempDir::new("rank");
    let (data, run) = tiny_run(&root);
    let bundle = root.join("bundle");
    export_bundle(&run, QuantScheme::Q8, &bundle).expect("exports");
    let slate = rank(&args(&bundle, data.dir())).expect("ranks");

    // The first test row's user, and every test row of theirs, in order.
    let first = data.sample(Split::Test, 0).expect("row 0");
    let rows: Vec<usize> = (0..data.split_len(Split::Test))
        .filter(|&r| data.sample(Split::Test, r).expect("row").user == first.user)
        .collect();
    let features = bundle_features(data.dir()).expect("features");
    let (snapshot, _) = user_snapshot(&data, &features, Split::Test, rows[0]).expect("snapshot");
    assert_eq!(slate.history_len, first.history_len);
    let mut own: Vec<(u32, bool)> = Vec::new();
    for &row in &rows {
        let (_, item) = user_snapshot(&data, &features, Split::Test, row).expect("item");
        if !own.iter().any(|(i, _)| *i == item) {
            own.push((item, data.sample(Split::Test, row).expect("row").label));
        }
    }
    assert_eq!(slate.candidates, own.len());

    // Scores, DIN's and the order, against the runtime called directly.
    let recommender =
        Recommender::open_bundle(&bundle, RecommenderOptions::default()).expect("open");
    let ids: Vec<u32> = own.iter().map(|(i, _)| *i).collect();
    let scores = recommender.score_user(&snapshot, &ids).expect("scores");
    let din = recommender.crm_scores(&snapshot, &ids).expect("din");
    let mut expected: Vec<usize> = (0..ids.len()).collect();
    expected.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    assert_eq!(slate.items.len(), 3.min(ids.len()));
    for (place, item) in slate.items.iter().enumerate() {
        let k = expected[place];
        assert_eq!(item.rank, place + 1);
        assert_eq!(item.item_id, ids[k]);
        assert!(
            (item.score - scores[k]).abs() < 1e-6,
            "{} vs {}",
            item.score,
            scores[k]
        );
        assert!((item.din - din[k]).abs() < 1e-6);
        assert_eq!(item.liked, Some(own[k].1));
        // The synthetic fixture titles movie m "Film {m-1} (199{(m-1) % 10})".
        let m = ids[k] - 1;
        assert_eq!(item.title, format!("Film {m} (199{})", m % 10));
    }
    let text = table(&slate);
    assert!(text.contains("| rank | title"), "{text}");
}

#[test]
fn bad_requests_get_typed_errors() {
    let root = TempDir::new("rank-errors");
    let (data, run) = tiny_run(&root);
    let bundle = root.join("bundle");
    export_bundle(&run, QuantScheme::Q8, &bundle).expect("exports");
    let base = args(&bundle, data.dir());
    let unknown = RankArgs {
        user: Some("9999".into()),
        ..base.clone()
    };
    assert!(matches!(rank(&unknown), Err(RankError::UnknownUser { user, .. }) if user == "9999"));
    let zero = RankArgs {
        top: 0,
        ..base.clone()
    };
    assert!(matches!(
        rank(&zero),
        Err(RankError::Zero { option: "top" })
    ));
    let item = RankArgs {
        candidates: vec![1, 424_242],
        ..base.clone()
    };
    assert!(matches!(
        rank(&item),
        Err(RankError::UnknownItem {
            item_id: 424_242,
            ..
        })
    ));
    // Explicit candidates: unrated ones have no label.
    let chosen = RankArgs {
        candidates: vec![1, 2, 3],
        top: 10,
        ..base
    };
    let slate = rank(&chosen).expect("ranks");
    assert_eq!(slate.items.len(), 3);
    let mut ids: Vec<u32> = slate.items.iter().map(|i| i.item_id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3]);
}
