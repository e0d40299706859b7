//! The history store against hand-made files: format bytes, torn tails at every offset,
//! corruption, bounds, and a child process killed mid-append 200 times.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::record::{self, HEADER_LEN, Record};
use super::*;
use crate::rng::SplitMix64;

/// A temporary folder removed on drop.
struct TempDir(reclora_test_support::TempDir);

impl TempDir {
    fn new(name: &str) -> Self {
        Self(reclora_test_support::TempDir::new(&format!(
            "history-{name}"
        )))
    }

    fn file(&self) -> PathBuf {
        self.0.join("history.bin")
    }
}

fn event(item_id: u32) -> StoredEvent {
    StoredEvent {
        item_id,
        feedback: Feedback::Rating(1 + (item_id % 5) as u8),
        timestamp: 978_300_000 + i64::from(item_id),
    }
}

fn ids(store: &HistoryStore) -> Vec<u32> {
    store.events().map(|e| e.item_id).collect()
}

fn fast() -> HistoryOptions {
    HistoryOptions {
        fsync: FsyncPolicy::Never,
        ..HistoryOptions::default()
    }
}

/// Clearing keeps the profile, empties the file's events, and survives a reopen; later
/// appends go on from an empty history.
#[test]
fn clear_events_keeps_the_profile_and_forgets_the_events() {
    let dir = TempDir::new("clear");
    let profile = UserProfile::new([("user_id", "11"), ("gender", "F")]);
    let mut store = HistoryStore::open(dir.file(), fast()).expect("opens");
    store.set_profile(profile.clone()).expect("profile");
    for id in 0..5 {
        store.append(event(id)).expect("append");
    }
    store.clear_events().expect("clears");
    assert!(ids(&store).is_empty());
    drop(store);
    let mut store = HistoryStore::open(dir.file(), fast()).expect("reopens");
    assert!(ids(&store).is_empty());
    assert_eq!(store.profile(), Some(&profile));
    store.append(event(7)).expect("append after clear");
    drop(store);
    let store = HistoryStore::open(dir.file(), fast()).expect("reopens again");
    assert_eq!(ids(&store), [7]);
}

#[test]
fn an_event_record_has_the_documented_bytes() {
    let framed = record::encode(&Record::Event(StoredEvent {
        item_id: 2858,
        feedback: Feedback::Rating(4),
        timestamp: 978_300_760,
    }))
    .expect("encodes");
    // Length 15, then crc32 (zlib) of length + payload, then kind 1, item, time, rating.
    let expected = "0f0000006cfcebb2012a0b000058af4f3a000000000004";
    let hex: String = framed.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, expected);
    let (decoded, len) = record::decode(&framed).expect("decodes");
    assert_eq!(len, framed.len());
    assert!(matches!(decoded, Record::Event(e) if e.item_id == 2858));
    assert_eq!(&record::header()[..8], b"RCLHIST\0");
}

#[test]
fn events_and_profile_survive_reopening() {
    let dir = TempDir::new("roundtrip");
    let profile = UserProfile::new([("gender", "F"), ("age", "25"), ("zip", "55117")]);
    let written = vec![
        event(1),
        StoredEvent {
            item_id: u32::MAX,
            feedback: Feedback::Like,
            timestamp: -5,
        },
        StoredEvent {
            item_id: 7,
            feedback: Feedback::Dislike,
            timestamp: i64::MAX,
        },
    ];
    {
        let mut store = HistoryStore::open(dir.file(), HistoryOptions::default()).expect("new");
        assert_eq!(store.events().len(), 0);
        store
            .set_profile(UserProfile::new([("gender", "M")]))
            .expect("profile");
        for e in &written {
            store.append(*e).expect("append");
        }
        store.set_profile(profile.clone()).expect("newer profile");
    }
    let store = HistoryStore::open(dir.file(), HistoryOptions::default()).expect("reopens");
    assert_eq!(store.events().copied().collect::<Vec<_>>(), written);
    assert_eq!(store.profile(), Some(&profile));
    assert_eq!(store.profile().and_then(|p| p.get("zip")), Some("55117"));
    assert_eq!(store.recovered_bytes(), 0);
    assert_eq!(
        written
            .iter()
            .map(|e| e.feedback.as_rating())
            .collect::<Vec<_>>(),
        [2, 5, 1]
    );
}

#[test]
fn a_torn_tail_is_cut_at_every_offset_and_appends_continue() {
    let dir = TempDir::new("torn");
    let whole = dir.0.join("whole.bin");
    {
        let mut store = HistoryStore::open(&whole, fast()).expect("new");
        for id in 0..5 {
            store.append(event(id)).expect("append");
        }
    }
    let bytes = std::fs::read(&whole).expect("read");
    let last_record = record::encode(&Record::Event(event(4)))
        .expect("encodes")
        .len();
    let four = bytes.len() - last_record;
    for cut in four + 1..bytes.len() {
        std::fs::write(dir.file(), &bytes[..cut]).expect("write");
        let mut store = HistoryStore::open(dir.file(), fast()).expect("recovers");
        assert_eq!(ids(&store), [0, 1, 2, 3], "cut at {cut}");
        assert_eq!(store.recovered_bytes(), (cut - four) as u64);
        assert_eq!(
            std::fs::metadata(dir.file()).expect("meta").len(),
            four as u64
        );
        store.append(event(9)).expect("append after recovery");
        drop(store);
        let again = HistoryStore::open(dir.file(), fast()).expect("reopens");
        assert_eq!(ids(&again), [0, 1, 2, 3, 9]);
        assert_eq!(again.recovered_bytes(), 0);
    }
    // Space allocated but never written reads as zeros.
    let mut zeros = bytes.clone();
    zeros.extend([0u8; 4096]);
    std::fs::write(dir.file(), &zeros).expect("write");
    let store = HistoryStore::open(dir.file(), fast()).expect("recovers");
    assert_eq!(ids(&store), [0, 1, 2, 3, 4]);
    assert_eq!(store.recovered_bytes(), 4096);
}

#[test]
fn damage_before_intact_records_is_an_error_and_changes_nothing() {
    let dir = TempDir::new("corrupt");
    {
        let mut store = HistoryStore::open(dir.file(), fast()).expect("new");
        for id in 0..5 {
            store.append(event(id)).expect("append");
        }
    }
    let mut bytes = std::fs::read(dir.file()).expect("read");
    let record_len = record::encode(&Record::Event(event(0)))
        .expect("encodes")
        .len();
    let second = HEADER_LEN + record_len;
    bytes[second + 10] ^= 0x40;
    std::fs::write(dir.file(), &bytes).expect("write");
    let error = HistoryStore::open(dir.file(), fast()).expect_err("corrupt");
    match error {
        HistoryError::Corrupt { offset, reason, .. } => {
            assert_eq!(offset, second as u64);
            assert_eq!(reason, RecordDefect::Checksum);
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(std::fs::read(dir.file()).expect("read"), bytes, "untouched");
}

#[test]
fn foreign_and_future_files_are_refused() {
    let dir = TempDir::new("header");
    for bytes in [&b""[..], b"RCLHIS", b"PK\x03\x04 not history at all"] {
        std::fs::write(dir.file(), bytes).expect("write");
        assert!(matches!(
            HistoryStore::open(dir.file(), fast()),
            Err(HistoryError::NotAHistoryFile { .. })
        ));
    }
    let mut future = record::header();
    future[8..].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(dir.file(), future).expect("write");
    assert!(matches!(
        HistoryStore::open(dir.file(), fast()),
        Err(HistoryError::UnsupportedVersion {
            found: 2,
            supported: 1,
            ..
        })
    ));
    assert!(matches!(
        HistoryStore::open(
            dir.0.join("other.bin"),
            HistoryOptions {
                max_events: 0,
                ..fast()
            }
        ),
        Err(HistoryError::InvalidOptions(_))
    ));
}

#[test]
fn invalid_records_are_refused_without_writing() {
    let dir = TempDir::new("invalid");
    let mut store = HistoryStore::open(dir.file(), fast()).expect("new");
    store.append(event(1)).expect("append");
    let before = std::fs::metadata(dir.file()).expect("meta").len();
    let bad = StoredEvent {
        feedback: Feedback::Rating(6),
        ..event(2)
    };
    assert!(matches!(
        store.append(bad),
        Err(HistoryError::InvalidRecord(InvalidRecord::Rating(6)))
    ));
    let huge = UserProfile::new((0..2_000).map(|i| (format!("field{i}"), "x".repeat(40))));
    assert!(matches!(
        store.set_profile(huge),
        Err(HistoryError::InvalidRecord(InvalidRecord::Oversized { .. }))
    ));
    assert!(matches!(
        store.set_profile(UserProfile::new([("zip", "9".repeat(70_000))])),
        Err(HistoryError::InvalidRecord(InvalidRecord::FieldTooLong(_)))
    ));
    assert_eq!(std::fs::metadata(dir.file()).expect("meta").len(), before);
    assert_eq!(ids(&store), [1]);
}

#[test]
fn the_store_keeps_the_last_events_and_compacts_by_rename() {
    let dir = TempDir::new("bounded");
    let options = HistoryOptions {
        fsync: FsyncPolicy::EveryN(7),
        max_events: 10,
        compact_slack: 5,
    };
    let profile = UserProfile::new([("age", "35")]);
    let record_len = record::encode(&Record::Event(event(0)))
        .expect("encodes")
        .len();
    let profile_len = record::encode(&Record::Profile(profile.clone()))
        .expect("encodes")
        .len();
    {
        let mut store = HistoryStore::open(dir.file(), options).expect("new");
        store.set_profile(profile.clone()).expect("profile");
        for id in 0..100 {
            store.append(event(id)).expect("append");
            let len = std::fs::metadata(dir.file()).expect("meta").len() as usize;
            assert!(
                len <= HEADER_LEN + profile_len + 15 * record_len,
                "{len} at {id}"
            );
        }
        assert_eq!(ids(&store), (90..100).collect::<Vec<_>>());
    }
    // A compaction that crashed before its rename leaves a sibling; open drops it.
    let leftover = dir.0.join("history.bin.compact");
    std::fs::write(&leftover, b"half").expect("write");
    let store = HistoryStore::open(dir.file(), options).expect("reopens");
    assert!(!leftover.exists());
    assert_eq!(ids(&store), (90..100).collect::<Vec<_>>());
    assert_eq!(store.profile(), Some(&profile));
}

const CHILD_PATH: &str = "RECLORA_HISTORY_CHILD_PATH";
const CHILD_START: &str = "RECLORA_HISTORY_CHILD_START";
const CHILD_POLICY: &str = "RECLORA_HISTORY_CHILD_POLICY";
const CRASH_OPTIONS: HistoryOptions = HistoryOptions {
    fsync: FsyncPolicy::Never,
    max_events: 32,
    compact_slack: 8,
};

fn crash_options(policy: &str) -> HistoryOptions {
    let fsync = match policy {
        "every" => FsyncPolicy::EveryAppend,
        "four" => FsyncPolicy::EveryN(4),
        _ => FsyncPolicy::Never,
    };
    HistoryOptions {
        fsync,
        ..CRASH_OPTIONS
    }
}

/// The writer the crash test kills: appends ids from `CHILD_START` on, printing each id
/// once `append` has returned. Does nothing when run as an ordinary (ignored) test.
#[test]
#[ignore = "child process of the crash test"]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_PATH) else {
        return;
    };
    let start: u32 = std::env::var(CHILD_START)
        .expect("start")
        .parse()
        .expect("number");
    let policy = std::env::var(CHILD_POLICY).unwrap_or_default();
    let mut store = HistoryStore::open(Path::new(&path), crash_options(&policy)).expect("opens");
    let mut out = std::io::stdout().lock();
    for id in start.. {
        store.append(event(id)).expect("append");
        writeln!(out, "ack {id}").expect("stdout");
        out.flush().expect("flush");
    }
}

#[test]
fn acknowledged_events_survive_200_kills_mid_append() {
    let dir = TempDir::new("crash");
    let exe = std::env::current_exe().expect("test binary");
    let mut random = SplitMix64::new(11);
    let mut next_id = 0u32;
    let mut compactions_seen = 0;
    for round in 0..200 {
        let policy = ["every", "four", "never"][round % 3];
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "history::tests::crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_PATH, dir.file())
            .env(CHILD_START, next_id.to_string())
            .env(CHILD_POLICY, policy)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns");
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let wanted = 1 + (random.next_u64() % 40) as usize;
        let mut acked: Option<u32> = None;
        let mut seen = 0;
        while seen < wanted {
            let Some(line) = lines.next() else { break };
            if let Some(id) = line.expect("utf-8").strip_prefix("ack ") {
                acked = Some(id.parse().expect("id"));
                seen += 1;
            }
        }
        child.kill().expect("SIGKILL");
        // Acks printed between our last read and the kill count too.
        for line in lines.map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("ack ") {
                acked = Some(id.parse().expect("id"));
            }
        }
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "round {round}: the child was not killed");
        let acked = acked.unwrap_or_else(|| panic!("round {round}: no append acknowledged"));

        let store = HistoryStore::open(dir.file(), crash_options(policy)).expect("reopens");
        let kept = ids(&store);
        let last = *kept.last().expect("events");
        assert!(
            last >= acked,
            "round {round}: acked {acked}, store ends at {last}"
        );
        let expected_len = CRASH_OPTIONS.max_events.min(last as usize + 1);
        assert_eq!(kept.len(), expected_len, "round {round}");
        assert!(
            kept.windows(2).all(|w| w[1] == w[0] + 1),
            "round {round}: gap in {kept:?}"
        );
        if (last + 1) as usize > CRASH_OPTIONS.max_events + CRASH_OPTIONS.compact_slack {
            compactions_seen += 1;
        }
        next_id = last + 1;
    }
    eprintln!(
        "[varies] crash: 200 kills, {next_id} events appended, {compactions_seen} rounds past a \
         compaction (the counts follow the kill timing)"
    );
    assert!(next_id > 200);
}
