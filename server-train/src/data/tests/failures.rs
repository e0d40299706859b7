//! Bad input gives typed errors naming file and line, and never leaves output behind.

use std::path::Path;

use super::{ML1M_TINY, TempDir, entries, write_files};
use crate::data::prepare::write_atomically;
use crate::data::{DataError, DatasetName, LineProblem, PreparedDataset, prepare};

/// The fixture with ratings.dat line `line` (1-based) replaced by `text`.
fn with_rating_line(line: usize, text: &str) -> Vec<u8> {
    let ratings = String::from_utf8(ML1M_TINY[2].1.to_vec()).expect("ascii");
    let mut lines: Vec<&str> = ratings.split("\r\n").collect();
    lines[line - 1] = text;
    lines.join("\r\n").into_bytes()
}

/// `prepare` on the fixture with `ratings` fails; nothing is left next to `out`.
fn prepare_fails(root: &TempDir, ratings: &[u8]) -> DataError {
    let raw = write_files(
        root,
        "raw",
        &[ML1M_TINY[0], ML1M_TINY[1], ("ratings.dat", ratings)],
    );
    let out = root.join("out");
    let err = prepare(DatasetName::Ml1m, &raw, &out).expect_err("must fail");
    assert!(!out.exists(), "out must not exist after a failure");
    assert_eq!(entries(root.path()), ["raw"], "no temporary folder left");
    err
}

#[test]
fn malformed_row_names_file_and_line() {
    let root = TempDir::new("malformed");
    let err = prepare_fails(&root, &with_rating_line(17, "2::73::5"));
    let message = err.to_string();
    assert!(
        message.ends_with("ratings.dat:17: expected 4 fields separated by \"::\", found 3"),
        "{message}"
    );
    assert!(matches!(
        err,
        DataError::BadLine {
            line: 17,
            problem: LineProblem::FieldCount {
                expected: 4,
                found: 3,
                ..
            },
            ..
        }
    ));
}

#[test]
fn bad_values_name_file_and_line() {
    let root = TempDir::new("bad-rating");
    let err = prepare_fails(&root, &with_rating_line(3, "1::1::6::978300100"));
    assert!(
        err.to_string()
            .ends_with("ratings.dat:3: rating \"6\" is not an integer from 1 to 5"),
        "{err}"
    );
    let root = TempDir::new("bad-timestamp");
    let err = prepare_fails(&root, &with_rating_line(5, "1::73::3::soon"));
    assert!(
        err.to_string()
            .contains("ratings.dat:5: timestamp \"soon\""),
        "{err}"
    );
}

#[test]
fn unknown_movie_or_user_names_file_and_line() {
    let root = TempDir::new("unknown-movie");
    let err = prepare_fails(&root, &with_rating_line(2, "2::4242::3::978300100"));
    assert!(
        err.to_string()
            .ends_with("ratings.dat:2: item \"4242\" is not in movies.dat"),
        "{err}"
    );
    let root = TempDir::new("unknown-user");
    let err = prepare_fails(&root, &with_rating_line(20, "77::2::1::978301000"));
    assert!(matches!(
        &err,
        DataError::BadLine { line: 20, problem: LineProblem::UnknownUser { id, .. }, .. } if id == "77"
    ));
}

#[test]
fn bad_user_table_rows_are_errors() {
    let root = TempDir::new("bad-users");
    let users = b"1::F::25::12::10001\r\n2::X::35::7::20002\r\n";
    let raw = write_files(
        &root,
        "raw",
        &[("users.dat", users), ML1M_TINY[1], ML1M_TINY[2]],
    );
    let err = prepare(DatasetName::Ml1m, &raw, &root.join("out")).expect_err("bad gender");
    assert!(
        err.to_string()
            .ends_with("users.dat:2: gender \"X\" is not M or F"),
        "{err}"
    );
    let users = b"1::F::25::12::10001\r\n1::M::35::7::20002\r\n";
    std::fs::write(raw.join("users.dat"), users).expect("write");
    let err = prepare(DatasetName::Ml1m, &raw, &root.join("out")).expect_err("duplicate");
    assert!(
        err.to_string()
            .ends_with("users.dat:2: duplicate id \"1\" (first on line 1)"),
        "{err}"
    );
    let users = b"1::F::26::12::10001\r\n";
    std::fs::write(raw.join("users.dat"), users).expect("write");
    let err = prepare(DatasetName::Ml1m, &raw, &root.join("out")).expect_err("age");
    assert!(err.to_string().contains("users.dat:1: age \"26\""), "{err}");
    assert!(!root.join("out").exists());
}

#[test]
fn missing_file_and_folder_are_clear() {
    let root = TempDir::new("missing");
    let raw = write_files(&root, "raw", &[ML1M_TINY[1], ML1M_TINY[2]]);
    let err = prepare(DatasetName::Ml1m, &raw, &root.join("out")).expect_err("missing");
    match &err {
        DataError::MissingFile { path, .. } => assert_eq!(path, &raw.join("users.dat")),
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("users.dat: no such file"), "{err}");
    let nowhere = root.join("nowhere");
    let err = prepare(DatasetName::Ml1m, &nowhere, &root.join("out")).expect_err("no dir");
    assert!(matches!(err, DataError::MissingFile { .. }));
    assert!(!root.join("out").exists());
}

#[test]
fn unknown_dataset_name_lists_valid_names() {
    let err = "ml-2m".parse::<DatasetName>().expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "unknown dataset \"ml-2m\"; valid names: ml-1m, ml-100k, ml-25m, goodreads"
    );
    for name in DatasetName::ALL {
        assert_eq!(name.as_str().parse::<DatasetName>().expect("known"), name);
    }
}

#[test]
fn failed_write_leaves_no_output_and_no_temp() {
    let root = TempDir::new("atomic");
    let out = root.join("out");
    let result: Result<(), DataError> = write_atomically(&out, |tmp: &Path| {
        std::fs::write(tmp.join("half.json"), b"{").expect("write");
        Err(DataError::NoSamples {
            dataset: "test".into(),
            min_history: 5,
        })
    });
    assert!(result.is_err());
    assert!(!out.exists());
    assert!(
        entries(root.path()).is_empty(),
        "{:?}",
        entries(root.path())
    );
}

#[test]
fn failed_rerun_keeps_the_previous_output() {
    let root = TempDir::new("rerun");
    let raw = write_files(&root, "raw", &ML1M_TINY);
    let out = root.join("out");
    prepare(DatasetName::Ml1m, &raw, &out).expect("first run");
    // A successful rerun replaces the folder in place.
    prepare(DatasetName::Ml1m, &raw, &out).expect("second run");
    std::fs::write(raw.join("ratings.dat"), with_rating_line(4, "broken")).expect("write");
    prepare(DatasetName::Ml1m, &raw, &out).expect_err("broken rerun");
    let data = PreparedDataset::open(&out).expect("old output intact");
    assert_eq!(data.split_len(crate::data::Split::Train), 3);
    assert_eq!(entries(root.path()), ["out", "raw"]);
}

#[test]
fn refuses_to_replace_a_folder_that_is_not_a_dataset() {
    let root = TempDir::new("not-dataset");
    let raw = write_files(&root, "raw", &ML1M_TINY);
    let out = root.join("precious");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("notes.txt"), b"keep me").expect("write");
    let err = prepare(DatasetName::Ml1m, &raw, &out).expect_err("refuse");
    assert!(matches!(err, DataError::OutputNotDataset { .. }));
    assert_eq!(
        std::fs::read(out.join("notes.txt")).expect("kept"),
        b"keep me"
    );
    assert_eq!(entries(root.path()), ["precious", "raw"]);
}
