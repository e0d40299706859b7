//! The binary's exit status and message on bad input.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reclora-bench"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_missing_bundle_exits_1_with_one_clear_line() {
    let dir = reclora_test_support::TempDir::new("bench-cli");
    let replay = dir.join("replay.json");
    std::fs::write(
        &replay,
        r#"{"format":"reclora-replay/1","dataset":"ml-1m","source":"x","seed":1,"requests":[]}"#,
    )
    .expect("write");
    let missing = dir.join("nothing-here");
    let out = bench(&[
        "--bundle",
        missing.to_str().expect("utf-8"),
        "--replay",
        replay.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(text.starts_with("error: no bundle at "), "{text}");
    assert!(text.contains("nothing-here"), "{text}");
}

#[test]
fn an_empty_or_malformed_replay_exits_1() {
    let dir = reclora_test_support::TempDir::new("bench-cli");
    std::fs::write(dir.join("manifest.json"), "{}").expect("manifest");
    let replay = dir.join("replay.json");
    std::fs::write(
        &replay,
        r#"{"format":"reclora-replay/1","dataset":"ml-1m","source":"x","seed":1,"requests":[]}"#,
    )
    .expect("write");
    let bundle = dir.path().to_str().expect("utf-8");
    let out = bench(&[
        "--bundle",
        bundle,
        "--replay",
        replay.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the replay has no request with a candidate"),
        "{}",
        stderr(&out)
    );

    std::fs::write(&replay, "[1, 2").expect("write");
    let out = bench(&[
        "--bundle",
        bundle,
        "--replay",
        replay.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a valid replay file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_arguments_exit_2_with_usage_or_1_with_the_option() {
    let out = bench(&["--gate-mode", "sometimes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'sometimes'"),
        "{}",
        stderr(&out)
    );
    let out = bench(&["--bundle", "b", "--replay", "r", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--threads must be at least 1"),
        "{}",
        stderr(&out)
    );
    let out = bench(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--bundle is required"),
        "{}",
        stderr(&out)
    );
    let out = bench(&["--compare", "only-one.json"]);
    assert_eq!(out.status.code(), Some(2));
}
