//! The real MovieLens-1M and -100K (scripts/fetch-assets.sh). These fail, never skip, when
//! the files are missing.
//!
//! Reference values come from an independent Python re-implementation of ReLLa's ML-1M
//! notebook (pandas-free: sorted(rows, key=(timestamp, user id str, movie id str)),
//! first-appearance dictionaries, `len(history) >= 5`, `int(0.8 * n)`), and from ReLLa's
//! published `data/ml-1m/proc_data/data/test/test_5_simple.json` (first test prompt).

use reclora_core::prompt::HistorySelection;

use super::{TempDir, real_dataset};
use crate::data::{DatasetName, PreparedDataset, Split, prepare};

/// (split, index, field ids, last-5 item ids, last-5 rating ids, history length, label).
type Reference = (Split, usize, [i64; 8], [i64; 5], [i64; 5], usize, f32);

#[test]
fn ml1m_real_counts_features_and_reference_samples() {
    let raw = real_dataset("ml-1m", "ratings.dat");
    let root = TempDir::new("real-ml1m");
    let out = root.join("ml-1m");
    let summary = prepare(DatasetName::Ml1m, &raw, &out).expect("prepare ml-1m");
    assert_eq!(
        summary.to_string(),
        "samples=970009 train=776007 valid=97000 test=97002"
    );
    assert_eq!(summary.interactions, 1_000_209);
    assert_eq!(summary.num_features, 16_939);
    assert_eq!(summary.embedding_rows, 16_944);

    let data = PreparedDataset::open(&out).expect("open ml-1m");

    let counts: Vec<(&str, u32, u32)> = data
        .meta()
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.offset, f.count))
        .collect();
    assert_eq!(
        counts,
        [
            ("user_id", 0, 6040),
            ("gender", 6040, 2),
            ("age", 6042, 7),
            ("occupation", 6049, 21),
            ("zip_code", 6070, 3439),
            ("item_id", 9509, 3706),
            ("title", 13215, 3706),
            ("genre", 16921, 18),
        ]
    );
    assert_eq!(data.num_features(), 16_939);
    assert_eq!(data.embedding_rows(), 16_944);

    let reference: [Reference; 4] = [
        (
            Split::Train,
            0,
            [0, 6040, 6042, 6049, 6070, 9514, 13220, 16923],
            [9509, 9510, 9511, 9512, 9513],
            [16942, 16942, 16943, 16942, 16943],
            5,
            0.0,
        ),
        (
            Split::Valid,
            0,
            [5414, 6040, 6046, 6050, 6373, 10090, 13796, 16925],
            [10214, 9826, 9606, 9809, 11625],
            [16941, 16942, 16942, 16941, 16941],
            122,
            1.0,
        ),
        (
            Split::Test,
            0,
            [6026, 6040, 6042, 6058, 9506, 10737, 14443, 16921],
            [10384, 11020, 10727, 9938, 10867],
            [16942, 16943, 16943, 16942, 16943],
            23,
            0.0,
        ),
        (
            Split::Test,
            97_001,
            [1081, 6040, 6046, 6055, 6367, 10609, 14315, 16935],
            [10571, 11375, 10537, 11701, 10653],
            [16942, 16939, 16943, 16941, 16942],
            450,
            1.0,
        ),
    ];
    for (split, index, fields, items, ratings, history_len, label) in reference {
        let b = data.din_batch(split, &[index], 5).expect("batch");
        assert_eq!(b.field_ids, fields, "{split} {index}");
        assert_eq!(b.history_item_ids, items, "{split} {index}");
        assert_eq!(b.history_rating_ids, ratings, "{split} {index}");
        assert_eq!(b.labels, [label], "{split} {index}");
        let sample = data.sample(split, index).expect("sample");
        assert_eq!(sample.history_len, history_len, "{split} {index}");
    }
    let b = data.din_batch(Split::Test, &[0], 60).expect("60 wide");
    assert_eq!(b.history_mask.iter().sum::<f32>(), 23.0);

    // ReLLa's published first test prompt (user 8, Ronin), in this project's wording.
    let prompt = data
        .prompt(Split::Test, 0, HistorySelection::LastK(5), None)
        .expect("prompt");
    assert_eq!(
        prompt,
        "The user is a male. His job is programmer. His age is 25-34.\n\
         The user watched the following movies in order in the past, and rated them:\n\
         ['0. True Romance (1993) (4 stars)', '1. Desperado (1995) (5 stars)', \
         '2. Backdraft (1991) (5 stars)', '3. Men in Black (1997) (4 stars)', \
         '4. Buffalo 66 (1998) (5 stars)']\n\
         Based on the movies the user has watched, deduce if the user will like the movie \
         ***Ronin (1998)***.\n\
         Note that more stars the user rated the movie, the higher the user liked the movie.\n\
         You should ONLY tell me yes or no."
    );
}

/// Every age bucket and occupation text appears verbatim in the dataset's README.
#[test]
fn ml1m_text_tables_match_the_real_readme() {
    use crate::data::text::{ml1m_age_text, ml1m_occupation_text};
    let readme_path = real_dataset("ml-1m", "README").join("README");
    let readme = std::fs::read_to_string(&readme_path).expect("README");
    for code in [1u8, 18, 25, 35, 45, 50, 56] {
        let text = ml1m_age_text(code).expect("bucket");
        assert!(
            readme.contains(&format!("{code}:  \"{text}\"")),
            "age {code}"
        );
    }
    for code in 1u8..=20 {
        let text = ml1m_occupation_text(code).expect("occupation");
        assert!(
            readme.contains(&format!("{code}:  \"{text}\"")),
            "occupation {code}"
        );
    }
    assert!(readme.contains("0:  \"other\" or not specified"));
}

/// 100,000 ratings by 943 users, each with ≥ 20: 100000 − 943 × 5 = 95,285 samples.
#[test]
fn ml100k_real_counts() {
    let raw = real_dataset("ml-100k", "u.data");
    let root = TempDir::new("real-ml100k");
    let out = root.join("ml-100k");
    let summary = prepare(DatasetName::Ml100k, &raw, &out).expect("prepare ml-100k");
    assert_eq!(summary.interactions, 100_000);
    assert_eq!(summary.users, 943);
    assert_eq!(summary.samples, 100_000 - 943 * 5);
    assert_eq!(
        summary.to_string(),
        "samples=95285 train=76228 valid=9528 test=9529"
    );
    let data = PreparedDataset::open(&out).expect("open");
    let counts: Vec<u32> = data.meta().fields.iter().map(|f| f.count).collect();
    // 18 duplicated titles in u.item; 19 genres including "unknown".
    assert_eq!(counts, [943, 2, 61, 21, 795, 1682, 1664, 19]);
    assert_eq!(data.num_features(), 5187);
    // Independent Python reference for the first test sample (user 659).
    let b = data.din_batch(Split::Test, &[0], 5).expect("batch");
    assert_eq!(b.field_ids, [815, 943, 970, 1009, 1728, 2101, 3783, 5181]);
    assert_eq!(b.history_item_ids, [1826, 2104, 2008, 2752, 1920]);
    assert_eq!(b.labels, [1.0]);
    let profile = data.user_profile(815).expect("profile");
    assert_eq!(
        (profile.age_text.as_str(), profile.occupation_text.as_str()),
        ("31", "educator")
    );
    assert_eq!(
        data.item_text(2101).map(|t| t.0),
        Some("Singin' in the Rain (1952)")
    );
}
