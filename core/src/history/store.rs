//! The append-only store: open (with torn-tail recovery), append, compact.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::error::{HistoryError, RecordDefect};
use super::event::{StoredEvent, UserProfile};
use super::record::{self, FORMAT_VERSION, HEADER_LEN, MAGIC, RECORD_HEADER_LEN, Record};

/// When appended records are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `fdatasync` after every append: an acknowledged event survives power loss.
    EveryAppend,
    /// `fdatasync` after every n appends (and on [`HistoryStore::sync`]).
    EveryN(u32),
    /// Leave it to the OS. Acknowledged events still survive a process crash (they are in
    /// the page cache), not a power loss.
    Never,
}

/// How the store behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryOptions {
    /// Durability of appends.
    pub fsync: FsyncPolicy,
    /// Events kept: older ones are dropped at the next compaction.
    pub max_events: usize,
    /// Events the file may hold beyond `max_events` before it is compacted (amortizes the
    /// rewrite).
    pub compact_slack: usize,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        Self {
            fsync: FsyncPolicy::EveryAppend,
            max_events: 1_000,
            compact_slack: 250,
        }
    }
}

/// The user's history: an append-only file and, in memory, its last `max_events` events
/// and latest profile.
#[derive(Debug)]
pub struct HistoryStore {
    path: PathBuf,
    file: File,
    file_len: u64,
    options: HistoryOptions,
    events: VecDeque<StoredEvent>,
    profile: Option<UserProfile>,
    events_in_file: usize,
    unsynced: u32,
    recovered_bytes: u64,
}

impl HistoryStore {
    /// Opens (or creates) the store at `path`. A torn last record (a crash mid-append) is
    /// cut off; damage with intact data after it is an error, and nothing is changed.
    pub fn open(path: impl AsRef<Path>, options: HistoryOptions) -> Result<Self, HistoryError> {
        let path = path.as_ref().to_path_buf();
        if options.max_events == 0 {
            return Err(HistoryError::InvalidOptions(
                "max_events must be at least 1",
            ));
        }
        if let FsyncPolicy::EveryN(0) = options.fsync {
            return Err(HistoryError::InvalidOptions("fsync every 0 appends"));
        }
        let leftover = compaction_path(&path);
        if leftover.exists() {
            // A compaction that never reached its rename: the original is intact.
            std::fs::remove_file(&leftover).map_err(|e| HistoryError::io(&leftover, e))?;
        }
        if !path.exists() {
            write_atomically(&path, &record::header())?;
        }
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| HistoryError::io(&path, e))?;
        check_header(&path, &bytes)?;

        let mut events = VecDeque::new();
        let mut profile = None;
        let mut events_in_file = 0;
        let mut offset = HEADER_LEN;
        let mut recovered_bytes = 0;
        while offset < bytes.len() {
            match record::decode(&bytes[offset..]) {
                Ok((record, len)) => {
                    match record {
                        Record::Event(event) => {
                            events_in_file += 1;
                            push_bounded(&mut events, event, options.max_events);
                        }
                        Record::Profile(p) => profile = Some(p),
                    }
                    offset += len;
                }
                Err(defect) if is_torn_tail(&bytes[offset..], defect) => {
                    recovered_bytes = (bytes.len() - offset) as u64;
                    break;
                }
                Err(reason) => {
                    return Err(HistoryError::Corrupt {
                        path,
                        offset: offset as u64,
                        reason,
                    });
                }
            }
        }
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| HistoryError::io(&path, e))?;
        if recovered_bytes > 0 {
            tracing::warn!(path = %path.display(), bytes = recovered_bytes, "cut a torn tail");
            file.set_len(offset as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| HistoryError::io(&path, e))?;
        }
        let mut store = Self {
            path,
            file,
            file_len: offset as u64,
            options,
            events,
            profile,
            events_in_file,
            unsynced: 0,
            recovered_bytes,
        };
        store.seek_to_end()?;
        if store.needs_compaction() {
            store.compact()?;
        }
        Ok(store)
    }

    /// Appends `event`; when this returns `Ok` the event is acknowledged (durable as the
    /// fsync policy says).
    pub fn append(&mut self, event: StoredEvent) -> Result<(), HistoryError> {
        self.write_record(&Record::Event(event))?;
        self.events_in_file += 1;
        push_bounded(&mut self.events, event, self.options.max_events);
        if self.needs_compaction() {
            self.compact()?;
        }
        Ok(())
    }

    /// Records a new profile (replacing the previous one).
    pub fn set_profile(&mut self, profile: UserProfile) -> Result<(), HistoryError> {
        self.write_record(&Record::Profile(profile.clone()))?;
        self.profile = Some(profile);
        Ok(())
    }

    /// Forces every appended record to stable storage.
    pub fn sync(&mut self) -> Result<(), HistoryError> {
        self.file
            .sync_data()
            .map_err(|e| HistoryError::io(&self.path, e))?;
        self.unsynced = 0;
        Ok(())
    }

    /// The kept events, oldest first.
    pub fn events(&self) -> impl ExactSizeIterator<Item = &StoredEvent> + '_ {
        self.events.iter()
    }

    /// The latest profile, if one was set.
    pub fn profile(&self) -> Option<&UserProfile> {
        self.profile.as_ref()
    }

    /// Bytes of a torn tail cut off at open (0 when the file was clean).
    pub fn recovered_bytes(&self) -> u64 {
        self.recovered_bytes
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Forgets every event and keeps the profile: the file is rewritten with the profile
    /// alone (write, fsync, rename), so a crash leaves either the old history or none.
    pub fn clear_events(&mut self) -> Result<(), HistoryError> {
        let kept = std::mem::take(&mut self.events);
        if let Err(error) = self.compact() {
            self.events = kept;
            return Err(error);
        }
        Ok(())
    }

    /// Rewrites the file with only the profile and the kept events (write, fsync,
    /// rename), so a crash at any point leaves either the old file or the new one.
    pub fn compact(&mut self) -> Result<(), HistoryError> {
        let mut bytes = record::header().to_vec();
        if let Some(profile) = &self.profile {
            bytes.extend(record::encode(&Record::Profile(profile.clone()))?);
        }
        for event in &self.events {
            bytes.extend(record::encode(&Record::Event(*event))?);
        }
        write_atomically(&self.path, &bytes)?;
        self.file = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| HistoryError::io(&self.path, e))?;
        self.file_len = bytes.len() as u64;
        self.seek_to_end()?;
        self.events_in_file = self.events.len();
        self.unsynced = 0;
        Ok(())
    }

    fn needs_compaction(&self) -> bool {
        self.events_in_file > self.options.max_events + self.options.compact_slack
    }

    fn write_record(&mut self, record: &Record) -> Result<(), HistoryError> {
        let framed = record::encode(record)?;
        if let Err(error) = self.file.write_all(&framed) {
            // Never leave a half record for the next append to follow.
            let _ = self.file.set_len(self.file_len);
            let _ = self.seek_to_end();
            return Err(HistoryError::io(&self.path, error));
        }
        self.file_len += framed.len() as u64;
        self.unsynced += 1;
        let due = match self.options.fsync {
            FsyncPolicy::EveryAppend => true,
            FsyncPolicy::EveryN(n) => self.unsynced >= n,
            FsyncPolicy::Never => false,
        };
        if due {
            self.sync()?;
        }
        Ok(())
    }

    fn seek_to_end(&mut self) -> Result<(), HistoryError> {
        use std::io::{Seek, SeekFrom};
        self.file
            .seek(SeekFrom::Start(self.file_len))
            .map(|_| ())
            .map_err(|e| HistoryError::io(&self.path, e))
    }
}

fn push_bounded(events: &mut VecDeque<StoredEvent>, event: StoredEvent, max: usize) {
    if events.len() == max {
        events.pop_front();
    }
    events.push_back(event);
}

fn check_header(path: &Path, bytes: &[u8]) -> Result<(), HistoryError> {
    if bytes.len() < HEADER_LEN || bytes[..8] != MAGIC {
        return Err(HistoryError::NotAHistoryFile {
            path: path.to_path_buf(),
        });
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&bytes[8..HEADER_LEN]);
    let found = u32::from_le_bytes(version);
    if found == 0 || found > FORMAT_VERSION {
        return Err(HistoryError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}

/// A defect that only a crash mid-append explains: the record runs past the end of the
/// file, is the file's last record, or is followed only by zeros (space the file system
/// allocated but never filled).
fn is_torn_tail(rest: &[u8], defect: RecordDefect) -> bool {
    if defect == RecordDefect::Truncated || rest.iter().all(|&b| b == 0) {
        return true;
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&rest[..4]);
    RECORD_HEADER_LEN + u32::from_le_bytes(len) as usize == rest.len()
}

fn compaction_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".compact");
    path.with_file_name(name)
}

/// Writes `bytes` to a sibling, fsyncs it, renames it over `path`, fsyncs the folder.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), HistoryError> {
    let tmp = compaction_path(path);
    let written = File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(HistoryError::io(path, error));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Durably publishes the rename; not every platform can open a folder, which is fine.
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}
