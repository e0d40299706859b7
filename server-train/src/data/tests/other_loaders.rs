//! ML-25M and GoodReads on hand-written fixtures in their upstream formats.

use reclora_core::prompt::HistorySelection;

use super::{GOODREADS_TINY, ML25M_TINY, TempDir, write_files};
use crate::data::{DataError, DatasetName, Field, LineProblem, PreparedDataset, Split, prepare};

/// tests/fixtures/ml-25m-tiny, by hand. Ids compare as integers on ties.
///
/// ```text
/// ts    rows (user:movie rating)
/// 1000  2:11 3.5 | 7:5 2.0 | 7:209171 4.0 | 10:1 4.0   users 2 < 7 < 10, movies 5 < 209171
/// 1100  2:1 5.0  | 10:2 2.5
/// 1200  2:2 0.5  | 10:11 1.0
/// 1300  2:5 4.5  | 10:3112 5.0
/// 1400  2:6 3.0  | 10:10 2.0
/// 1500  2:10 3.5 (user 2 position 5: sample S0, 3.5 > 3 → 1)
///       10:6 3.0 (user 10 position 5: sample S1, 3.0 → 0)
/// ```
///
/// n = 2 → train 1 (S0), valid 0, test 1 (S1). Fields user, item, title, genre:
/// users 2=0, 7=1, 10=2 (3); movies 11=3, 5=4, 209171=5, 1=6, 2=7, 3112=8, 6=9, 10=10 (8);
/// titles 11..=18 in the same order; genres Comedy=19, Musical=20, (no genres listed)=21,
/// Adventure=22, Drama=23, Action=24 (6). 25 features + 10 half-star codes = 35 rows.
#[test]
fn ml25m_fixture_by_hand() {
    let root = TempDir::new("ml25m");
    let raw = write_files(&root, "raw", &ML25M_TINY);
    let out = root.join("out");
    let summary = prepare(DatasetName::Ml25m, &raw, &out).expect("prepare");
    assert_eq!(summary.to_string(), "samples=2 train=1 valid=0 test=1");
    assert_eq!((summary.num_features, summary.embedding_rows), (25, 35));
    let data = PreparedDataset::open(&out).expect("open");
    assert_eq!(
        data.fields(),
        [Field::UserId, Field::ItemId, Field::Title, Field::Genre]
    );
    assert_eq!(data.item_field(), 1);
    assert_eq!(data.user_profile(0), None, "no demographics");
    assert_eq!(data.item_text(10), Some(("GoldenEye (1995)", "Action")));
    assert_eq!(
        data.item_text(3),
        Some(("American President, The (1995)", "Comedy"))
    );
    assert_eq!(
        data.item_text(4),
        Some(("\"Great Performances\" Cats (1998)", "Musical"))
    );
    assert_eq!(
        data.item_text(5),
        Some(("Women of Devil's Island (1962)", "(no genres listed)"))
    );
    assert_eq!(data.rating_feature_id(10), Some(34));

    let b = data.din_batch(Split::Train, &[0], 6).expect("S0");
    assert_eq!(b.num_fields, 4);
    assert_eq!(b.field_ids, [0, 10, 18, 24]);
    // 11 (3.5 → code 7), 1 (5.0 → 10), 2 (0.5 → 1), 5 (4.5 → 9), 6 (3.0 → 6).
    assert_eq!(b.history_item_ids, [3, 6, 7, 4, 9, 0]);
    assert_eq!(b.history_rating_ids, [31, 34, 25, 33, 30, 0]);
    assert_eq!(b.labels, [1.0]);
    // Per-user gate rows of S0 (user 2, position 5), 4 pseudo-targets, history 3: the
    // targets at positions 1..5 (1, 2, 5, 6), each with the (at most 3) events before it.
    let (b, counts) = data
        .pseudo_target_batch(Split::Train, &[0], 3, 4)
        .expect("pseudo-targets of S0");
    assert_eq!(counts, [4]);
    assert_eq!(b.batch, 4);
    let user_item_title: Vec<&[i64]> = b.field_ids.chunks(4).map(|row| &row[..3]).collect();
    assert_eq!(
        user_item_title,
        [[0, 6, 14], [0, 7, 15], [0, 4, 12], [0, 9, 17]]
    );
    assert_eq!(b.history_item_ids, [3, 0, 0, 3, 6, 0, 3, 6, 7, 6, 7, 4]);
    assert_eq!(
        b.history_rating_ids,
        [31, 0, 0, 31, 34, 0, 31, 34, 25, 34, 25, 33]
    );
    assert_eq!(
        b.history_mask,
        [1., 0., 0., 1., 1., 0., 1., 1., 1., 1., 1., 1.]
    );
    assert_eq!(b.labels, [0.0; 4]);
    // More pseudo-targets than past events: all five, from position 0 (no history).
    let (b, counts) = data
        .pseudo_target_batch(Split::Test, &[0], 5, 8)
        .expect("pseudo-targets of S1");
    assert_eq!(counts, [5]);
    assert_eq!(b.history_mask[..5], [0.0; 5]);
    assert_eq!(
        b.field_ids.chunks(4).map(|row| row[1]).collect::<Vec<_>>(),
        [6, 7, 3, 8, 10]
    );
    let b = data.din_batch(Split::Test, &[0], 5).expect("S1");
    assert_eq!(b.field_ids, [2, 9, 17, 24]);
    // 1 (4.0 → 8), 2 (2.5 → 5), 11 (1.0 → 2), 3112 (5.0 → 10), 10 (2.0 → 4).
    assert_eq!(b.history_item_ids, [6, 7, 3, 8, 10]);
    assert_eq!(b.history_rating_ids, [32, 29, 26, 34, 28]);
    assert_eq!(b.labels, [0.0]);

    let prompt = data
        .prompt(Split::Train, 0, HistorySelection::LastK(5), None)
        .expect("prompt");
    assert_eq!(
        prompt,
        "The user watched the following movies in order in the past, and rated them:\n\
         ['0. American President, The (1995) (3.5 stars)', '1. Toy Story (1995) (5.0 stars)', \
         '2. Jumanji (1995) (0.5 star)', '3. \"Great Performances\" Cats (1998) (4.5 stars)', \
         '4. Heat (1995) (3.0 stars)']\n\
         Based on the movies the user has watched, deduce if the user will like the movie \
         ***GoldenEye (1995)***.\n\
         Note that more stars the user rated the movie, the higher the user liked the movie.\n\
         You should ONLY tell me yes or no."
    );
}

#[test]
fn ml25m_bad_csv_names_file_and_line() {
    let root = TempDir::new("ml25m-bad");
    let movies = b"movieId,title,genres\n1,Toy Story (1995),Comedy\n2,\"Open, quote (1995),Drama\n";
    let raw = write_files(&root, "raw", &[("movies.csv", movies), ML25M_TINY[1]]);
    let err = prepare(DatasetName::Ml25m, &raw, &root.join("out")).expect_err("quote");
    assert!(
        err.to_string()
            // The open quote swallows the rest of the line, one field short.
            .ends_with("movies.csv:3: expected 3 fields separated by \",\", found 2"),
        "{err}"
    );
    let ratings = b"user,movie,rating,timestamp\n";
    let raw = write_files(&root, "raw2", &[ML25M_TINY[0], ("ratings.csv", ratings)]);
    let err = prepare(DatasetName::Ml25m, &raw, &root.join("out")).expect_err("header");
    assert!(matches!(
        err,
        DataError::BadLine {
            line: 1,
            problem: LineProblem::BadHeader { .. },
            ..
        }
    ));
    let ratings = b"userId,movieId,rating,timestamp\n1,1,3.25,5\n";
    let raw = write_files(&root, "raw3", &[ML25M_TINY[0], ("ratings.csv", ratings)]);
    let err = prepare(DatasetName::Ml25m, &raw, &root.join("out")).expect_err("rating");
    assert!(
        err.to_string().contains("ratings.csv:2: rating \"3.25\""),
        "{err}"
    );
    assert!(!root.join("out").exists());
}

/// tests/fixtures/goodreads-tiny, by hand. User A = "8842…", B = "01ab…" (B < A as text).
/// Dates in UTC; A's "Mon Jan 02 10:00:00 -0700" is 17:00 UTC, after B's 12:00.
///
/// ```text
/// Jan 1 10:00  B:7 5 | A:1000 5        Jan 3 10:00  A:5 1
/// Jan 1 11:00  A:2001 4                Jan 3 11:00  B:1000 3
/// Jan 2 12:00  B:6 5                   Jan 4 09:00  B:2001 2
/// Jan 2 17:00  A:33 3                  Jan 4 10:00  B:33 4 (S0, 1) | A:6 4 (S1, 1)
/// Jan 3 09:00  B:5 4 | A:4 2           Jan 5 10:00  A:7 3 (S2, 0)
/// ```
/// A's book 8 (rating 0, not rated) is skipped. n = 3 → train 2, valid 0, test 1.
/// Users B=0, A=1; books 7=2, 1000=3, 2001=4, 6=5, 33=6, 5=7, 4=8; titles 9..=15 in the same
/// order; genres unknown=16 (7, 6, 5), fiction=17 (1000; 33 by the alphabetical tie-break),
/// poetry=18 (2001, 4). 19 features + 5 = 24 rows.
#[test]
fn goodreads_fixture_by_hand() {
    let root = TempDir::new("goodreads");
    let raw = write_files(&root, "raw", &GOODREADS_TINY);
    let out = root.join("out");
    let summary = prepare(DatasetName::Goodreads, &raw, &out).expect("prepare");
    assert_eq!(summary.to_string(), "samples=3 train=2 valid=0 test=1");
    assert_eq!(
        (summary.interactions, summary.users, summary.items),
        (13, 2, 7)
    );
    assert_eq!((summary.num_features, summary.embedding_rows), (19, 24));
    let data = PreparedDataset::open(&out).expect("open");
    assert_eq!(data.item_text(6), Some(("雪国 (Snow Country)", "fiction")));
    assert_eq!(data.item_text(3), Some(("Les Misérables", "fiction")));
    assert_eq!(data.item_text(2), Some(("Milk and Honey", "unknown")));
    assert_eq!(data.item_raw_id(8), Some("4"));

    let b = data.din_batch(Split::Train, &[0, 1], 5).expect("S0 S1");
    assert_eq!(b.field_ids, [0, 6, 13, 17, 1, 5, 12, 16]);
    // S0 (B): 7 5, 6 5, 5 4, 1000 3, 2001 2. S1 (A): 1000 5, 2001 4, 33 3, 4 2, 5 1.
    assert_eq!(b.history_item_ids, [2, 5, 7, 3, 4, 3, 4, 6, 8, 7]);
    assert_eq!(
        b.history_rating_ids,
        [23, 23, 22, 21, 20, 23, 22, 21, 20, 19]
    );
    assert_eq!(b.labels, [1.0, 1.0]);
    let s2 = data.sample(Split::Test, 0).expect("S2");
    // Thu Jan 05 10:00:00 UTC 2017.
    assert_eq!(
        (s2.user, s2.item, s2.rating, s2.timestamp),
        (1, 2, 3, 1_483_610_400)
    );
    assert!(!s2.label);

    let prompt = data
        .prompt(Split::Train, 1, HistorySelection::LastK(3), None)
        .expect("prompt");
    assert_eq!(
        prompt,
        "The user read the following books in order in the past, and rated them:\n\
         ['0. 雪国 (Snow Country) (3 stars)', '1. Ariel (2 stars)', \
         '2. Howl and Other Poems (1 star)']\n\
         Based on the books the user has read, deduce if the user will like the book \
         ***The Waste Land***.\n\
         Note that more stars the user rated the book, the higher the user liked the book.\n\
         You should ONLY tell me yes or no."
    );
}

#[test]
fn goodreads_bad_input_is_named() {
    let root = TempDir::new("goodreads-bad");
    let raw = write_files(&root, "raw", &GOODREADS_TINY);
    std::fs::write(raw.join("goodreads_interactions_extra.json"), b"").expect("write");
    let err = prepare(DatasetName::Goodreads, &raw, &root.join("out")).expect_err("two");
    assert!(matches!(err, DataError::AmbiguousInput { ref found, .. } if found.len() == 2));

    let bad_date = br#"{"user_id": "u", "book_id": "4", "rating": 4, "date_added": "yesterday"}"#;
    let raw = write_files(
        &root,
        "raw2",
        &[
            ("goodreads_interactions_x.json", bad_date),
            GOODREADS_TINY[1],
        ],
    );
    let err = prepare(DatasetName::Goodreads, &raw, &root.join("out")).expect_err("date");
    assert!(
        err.to_string()
            .contains("goodreads_interactions_x.json:1: date_added \"yesterday\""),
        "{err}"
    );

    let not_json = b"{\"user_id\": \"u\",\n";
    let raw = write_files(
        &root,
        "raw3",
        &[
            ("goodreads_interactions_x.json", not_json),
            GOODREADS_TINY[1],
        ],
    );
    let err = prepare(DatasetName::Goodreads, &raw, &root.join("out")).expect_err("json");
    assert!(matches!(
        err,
        DataError::BadLine {
            line: 1,
            problem: LineProblem::Json(_),
            ..
        }
    ));
    assert!(!root.join("out").exists());
}
