//! The 20-rating ML-1M fixture (tests/fixtures/ml-1m-tiny), every number worked out by hand.
//!
//! users.dat (file order → raw index): 0 "1" F 25 12 10001, 1 "2" M 35 7 20002,
//! 2 "3" F 18 4 10001, 3 "10" M 25 12 30003.
//! movies.dat: 0 "1" Toy Story, 1 "2" Jumanji, 2 "6" Heat, 3 "10" GoldenEye,
//! 4 "11" American President, 5 "73" Misérables (byte 0xE9), 6 "527" Schindler's List,
//! 7 "999" Never Rated (never rated). Files use CRLF.
//!
//! Sorted by (timestamp, user id as text, movie id as text), timestamps minus 978300000:
//!
//! ```text
//! row ts   user movie rating   user position
//!  0   50   3    2     5        3:0
//!  1  100   1    1     5        1:0
//!  2  100   2    10    3        2:0
//!  3  200   1    6     4        1:1
//!  4  250   2    11    4        2:1   "11" < "6" as text (numeric order would swap 4 and 5)
//!  5  250   2    6     5        2:2
//!  6  300   1    527   5        1:2   "527" < "73" as text
//!  7  300   1    73    3        1:3
//!  8  400   1    2     2        1:4
//!  9  500   1    10    4        1:5   sample A (label 1)
//! 10  500   10   1     4        10:0  "1" < "10"
//! 11  600   2    1     2        2:3
//! 12  700   10   6     3        10:1  "10" < "2" as text (numeric would put user 2 first)
//! 13  700   2    527   4        2:4
//! 14  800   10   527   5        10:2
//! 15  800   2    73    5        2:5   sample B (label 1)
//! 16  900   1    11    3        1:6   sample C (label 0)
//! 17  900   10   73    2        10:3
//! 18 1000   2    2     1        2:6   sample D (label 0)
//! 19 1000   3    73    4        3:1
//! ```
//!
//! Positions ≥ 5 survive: A, B, C, D → n = 4: train ⌊3.2⌋ = 3 (A, B, C), valid ⌊0.4⌋ = 0,
//! test 1 (D).
//!
//! Local users by first appearance: "3"→0, "1"→1, "2"→2, "10"→3; runs: user 3 rows 0,19
//! (2), user 1 (7), user 2 (7), user 10 (4) → offsets [0, 2, 9, 16, 20].
//!
//! Feature ids (first appearance in the table, global offsets):
//! - user id (offset 0, 4): "3"=0, "1"=1, "2"=2, "10"=3
//! - gender (offset 4, 2): F=4, M=5
//! - age (offset 6, 3): 18=6, 25=7, 35=8
//! - occupation (offset 9, 3): 4=9, 12=10, 7=11
//! - zip (offset 12, 3): 10001=12 (users 3 and 1), 20002=13, 30003=14
//! - movie id (offset 15, 7): 2=15, 1=16, 10=17, 6=18, 11=19, 527=20, 73=21
//! - title (offset 22, 7): Jumanji=22, Toy Story=23, GoldenEye=24, Heat=25,
//!   American President=26, Schindler's List=27, Misérables=28
//! - genre (offset 29, 5): Adventure=29, Animation=30, Action=31 (GoldenEye, Heat),
//!   Comedy=32, Drama=33 (Schindler's List, Misérables)
//!
//! 34 features; rating r has embedding row 34 + r − 1; 39 rows.

use reclora_core::prompt::{Gender, HistoryEvent, HistorySelection};

use super::{ML1M_TINY, TempDir, write_files};
use crate::data::features::build_features;
use crate::data::samples::build_samples;
use crate::data::{
    DataError, DatasetName, Field, PreparedDataset, SampleRef, Split, load_raw, prepare,
};

const T0: i64 = 978_300_000;

/// The issue's reference prompt: sample A is the female programmer aged 25-34.
const SAMPLE_A_PROMPT: &str = "The user is a female. Her job is programmer. Her age is 25-34.\nThe user watched the following movies in order in the past, and rated them:\n['0. Toy Story (1995) (5 stars)', '1. Heat (1995) (4 stars)', \"2. Schindler's List (1993) (5 stars)\", '3. Misérables, Les (1995) (3 stars)', '4. Jumanji (1995) (2 stars)']\nBased on the movies the user has watched, deduce if the user will like the movie ***GoldenEye (1995)***.\nNote that more stars the user rated the movie, the higher the user liked the movie.\nYou should ONLY tell me yes or no.";

#[test]
fn fixture_has_crlf_and_latin1_bytes() {
    let movies = ML1M_TINY[1].1;
    assert!(movies.windows(2).any(|w| w == b"\r\n"), "CRLF line ends");
    assert!(movies.contains(&0xE9), "Latin-1 é");
    assert!(
        std::str::from_utf8(movies).is_err(),
        "movies.dat is not UTF-8"
    );
}

#[test]
fn parsing_sorting_filter_and_split_by_hand() {
    let root = TempDir::new("ml1m-protocol");
    let raw_dir = write_files(&root, "raw", &ML1M_TINY);
    let raw = load_raw(DatasetName::Ml1m, &raw_dir).expect("load");
    assert_eq!(raw.interactions.len(), 20);
    assert_eq!(raw.items[5].title, "Misérables, Les (1995)");
    assert_eq!(raw.items[3].genre, "Action");
    let table = build_samples(&raw, 5).expect("samples");
    assert_eq!(table.user_order, [2, 0, 1, 3]);
    assert_eq!(table.item_order, [1, 0, 3, 2, 4, 6, 5]);
    assert_eq!(table.user_offsets, [0, 2, 9, 16, 20]);
    // Runs, local item ids (movie 2=0, 1=1, 10=2, 6=3, 11=4, 527=5, 73=6).
    assert_eq!(
        table.items,
        [0, 6, 1, 3, 5, 6, 0, 2, 4, 2, 4, 3, 1, 5, 6, 0, 1, 3, 5, 6]
    );
    assert_eq!(
        table.ratings,
        [5, 4, 5, 4, 5, 3, 2, 4, 3, 3, 4, 5, 2, 4, 5, 1, 4, 3, 5, 2]
    );
    let ts: Vec<i64> = table.timestamps.iter().map(|t| t - T0).collect();
    assert_eq!(
        ts,
        [
            50, 1000, 100, 200, 300, 300, 400, 500, 900, 100, 250, 250, 600, 700, 800, 1000, 500,
            700, 800, 900
        ]
    );
    assert_eq!(table.sample_user, [1, 2, 1, 2]);
    assert_eq!(table.sample_position, [5, 5, 6, 6]);
    assert_eq!(table.sample_label, [1, 1, 0, 0]);
    assert_eq!(
        (table.split.train, table.split.valid, table.split.test),
        (3, 0, 1)
    );

    let features = build_features(&raw, &table).expect("features");
    let sizes: Vec<(Field, u32, usize)> = features
        .dictionaries
        .iter()
        .map(|d| (d.field, d.offset, d.values.len()))
        .collect();
    assert_eq!(
        sizes,
        [
            (Field::UserId, 0, 4),
            (Field::Gender, 4, 2),
            (Field::Age, 6, 3),
            (Field::Occupation, 9, 3),
            (Field::ZipCode, 12, 3),
            (Field::ItemId, 15, 7),
            (Field::Title, 22, 7),
            (Field::Genre, 29, 5),
        ]
    );
    assert_eq!(features.num_features, 34);
    assert_eq!(features.dictionaries[0].values, ["3", "1", "2", "10"]);
    assert_eq!(features.dictionaries[1].values, ["F", "M"]);
    assert_eq!(features.dictionaries[2].texts, ["18-24", "25-34", "35-44"]);
    assert_eq!(
        features.dictionaries[3].texts,
        ["college/grad student", "programmer", "executive/managerial"]
    );
    assert_eq!(
        features.dictionaries[5].values,
        ["2", "1", "10", "6", "11", "527", "73"]
    );
    assert_eq!(
        features.dictionaries[7].values,
        ["Adventure", "Animation", "Action", "Comedy", "Drama"]
    );
    // Per local user / item global ids.
    assert_eq!(
        features.user_features,
        [
            0, 4, 6, 9, 12, 1, 4, 7, 10, 12, 2, 5, 8, 11, 13, 3, 5, 7, 10, 14
        ]
    );
    assert_eq!(
        features.item_features,
        [
            15, 22, 29, 16, 23, 30, 17, 24, 31, 18, 25, 31, 19, 26, 32, 20, 27, 33, 21, 28, 33
        ]
    );
}

#[test]
fn prepared_dataset_accessors_by_hand() {
    let root = TempDir::new("ml1m-prepared");
    let raw_dir = write_files(&root, "raw", &ML1M_TINY);
    let out = root.join("prepared");
    let summary = prepare(DatasetName::Ml1m, &raw_dir, &out).expect("prepare");
    assert_eq!(summary.to_string(), "samples=4 train=3 valid=0 test=1");
    assert_eq!(
        (summary.interactions, summary.users, summary.items),
        (20, 4, 7)
    );
    assert_eq!((summary.num_features, summary.embedding_rows), (34, 39));

    let data = PreparedDataset::open(&out).expect("open");
    assert_eq!(data.dataset(), DatasetName::Ml1m);
    assert_eq!(data.num_features(), 34);
    assert_eq!(data.embedding_rows(), 39);
    assert_eq!(data.fields().len(), 8);
    assert_eq!(data.num_fields(), 8);
    assert_eq!(data.item_field(), 5);
    assert_eq!(Split::ALL.map(|s| data.split_len(s)), [3, 0, 1]);
    assert_eq!(data.rating_feature_id(1), Some(34));
    assert_eq!(data.rating_feature_id(5), Some(38));
    assert_eq!(data.rating_feature_id(0), None);
    assert_eq!(data.rating_feature_id(6), None);

    // Sample A = train 0, C = train 2, D = test 0.
    assert_eq!(
        data.sample(Split::Train, 0).expect("A"),
        SampleRef {
            user: 1,
            item: 17,
            label: true,
            rating: 4,
            timestamp: T0 + 500,
            history_len: 5
        }
    );
    assert_eq!(
        data.sample(Split::Train, 1).expect("B"),
        SampleRef {
            user: 2,
            item: 21,
            label: true,
            rating: 5,
            timestamp: T0 + 800,
            history_len: 5
        }
    );
    let d = data.sample(Split::Test, 0).expect("D");
    assert_eq!(
        (d.user, d.item, d.label, d.rating, d.history_len),
        (2, 15, false, 1, 6)
    );
    assert!(matches!(
        data.sample(Split::Valid, 0),
        Err(DataError::SampleOutOfRange {
            split: Split::Valid,
            index: 0,
            len: 0
        })
    ));
    assert!(data.sample(Split::Test, 1).is_err());

    // Histories, oldest first: A = Toy Story 5, Heat 4, Schindler 5, Misérables 3, Jumanji 2.
    assert_eq!(
        data.history(Split::Train, 0, 60).expect("A"),
        [(16, 5), (18, 4), (20, 5), (21, 3), (15, 2)]
    );
    assert_eq!(
        data.history(Split::Train, 0, 2).expect("A"),
        [(21, 3), (15, 2)]
    );
    // C = A's history plus GoldenEye 4.
    assert_eq!(
        data.history(Split::Train, 2, 60).expect("C"),
        [(16, 5), (18, 4), (20, 5), (21, 3), (15, 2), (17, 4)]
    );
    let full = data.full_history(Split::Test, 0).expect("D");
    let events: Vec<(u32, u8, i64)> = full
        .iter()
        .map(
            |HistoryEvent {
                 item,
                 rating,
                 timestamp,
             }| (*item, *rating, timestamp - T0),
        )
        .collect();
    assert_eq!(
        events,
        [
            (17, 3, 100),
            (19, 4, 250),
            (18, 5, 250),
            (16, 2, 600),
            (20, 4, 700),
            (21, 5, 800)
        ]
    );

    // Texts.
    // Items are addressed by their item-id feature id (15..=21).
    assert_eq!(
        data.item_text(21),
        Some(("Misérables, Les (1995)", "Drama"))
    );
    assert_eq!(data.item_text(17), Some(("GoldenEye (1995)", "Action")));
    assert_eq!(data.item_text(14), None, "a user field id");
    assert_eq!(data.item_text(22), None, "a title id");
    assert_eq!(data.item_feature_ids(21), Some(vec![21, 28, 33]));
    assert_eq!(data.user_feature_ids(3), Some(vec![3, 5, 7, 10, 14]));
    assert_eq!(data.item_raw_id(21), Some("73"));
    let profile = data.user_profile(1).expect("user 1");
    assert_eq!(profile.gender, Gender::Female);
    assert_eq!(
        (
            profile.gender_text.as_str(),
            profile.age_text.as_str(),
            profile.occupation_text.as_str(),
            profile.zip_code.as_str()
        ),
        ("female", "25-34", "programmer", "10001")
    );
    let user2 = data.user_profile(2).expect("user 2");
    assert_eq!(
        (
            user2.gender,
            user2.age_text.as_str(),
            user2.occupation_text.as_str()
        ),
        (Gender::Male, "35-44", "executive/managerial")
    );
    assert_eq!(data.user_profile(4), None);

    // The issue's reference prompt is exactly sample A with the last 5 events.
    let prompt = data
        .prompt(Split::Train, 0, HistorySelection::LastK(5), None)
        .expect("prompt");
    assert_eq!(prompt, SAMPLE_A_PROMPT);
}

#[test]
fn din_batch_by_hand() {
    let root = TempDir::new("ml1m-batch");
    let raw_dir = write_files(&root, "raw", &ML1M_TINY);
    let out = root.join("prepared");
    prepare(DatasetName::Ml1m, &raw_dir, &out).expect("prepare");
    let data = PreparedDataset::open(&out).expect("open");

    // Test sample D, history 8 wide: 6 events + 2 pads.
    let b = data.din_batch(Split::Test, &[0], 8).expect("batch");
    assert_eq!(
        (b.batch, b.num_fields, b.item_field, b.history_len),
        (1, 8, 5, 8)
    );
    // User "2": id 2, M 5, 35 → 8, occupation 7 → 11, zip 20002 → 13; Jumanji 15, 22, 29.
    assert_eq!(b.field_ids, [2, 5, 8, 11, 13, 15, 22, 29]);
    assert_eq!(b.history_item_ids, [17, 19, 18, 16, 20, 21, 0, 0]);
    // Ratings 3, 4, 5, 2, 4, 5 → 34 + r − 1.
    assert_eq!(b.history_rating_ids, [36, 37, 38, 35, 37, 38, 0, 0]);
    assert_eq!(b.history_mask, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    assert_eq!(b.labels, [0.0]);

    // Train A and C, 4 wide: the last 4 events of each.
    let b = data.din_batch(Split::Train, &[0, 2], 4).expect("batch");
    assert_eq!(
        b.field_ids,
        [1, 4, 7, 10, 12, 17, 24, 31, 1, 4, 7, 10, 12, 19, 26, 32]
    );
    // A: Heat, Schindler, Misérables, Jumanji; C: Schindler, Misérables, Jumanji, GoldenEye.
    assert_eq!(b.history_item_ids, [18, 20, 21, 15, 20, 21, 15, 17]);
    assert_eq!(b.history_rating_ids, [37, 38, 36, 35, 38, 36, 35, 37]);
    assert_eq!(b.history_mask, [1.0; 8]);
    assert_eq!(b.labels, [1.0, 0.0]);
    assert!(data.din_batch(Split::Train, &[3], 4).is_err());
    let empty = data.din_batch(Split::Train, &[], 4).expect("empty");
    assert_eq!((empty.batch, empty.field_ids.len()), (0, 0));
}
