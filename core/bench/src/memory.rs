//! The process's memory from /proc (Linux, Android): peak and current resident set, and
//! how much of a folder's files is mapped and resident.

use std::path::Path;

/// Resident-set figures of /proc/self/status, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rss {
    /// VmHWM: the peak.
    pub peak: Option<u64>,
    /// RssAnon.
    pub anon: Option<u64>,
    /// RssFile.
    pub file: Option<u64>,
}

/// This process's [`Rss`] (all `None` where /proc is absent).
pub fn rss() -> Rss {
    parse_status(&std::fs::read_to_string("/proc/self/status").unwrap_or_default())
}

/// [`rss`] on the text of /proc/self/status.
pub fn parse_status(text: &str) -> Rss {
    let kib = |key: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            let number = rest.trim().strip_suffix("kB")?.trim();
            number.parse::<u64>().ok().map(|k| k * 1024)
        })
    };
    Rss {
        peak: kib("VmHWM"),
        anon: kib("RssAnon"),
        file: kib("RssFile"),
    }
}

/// (mapped, resident) bytes of this process's mappings of files under `dir`.
pub fn mapped_under(dir: &Path) -> Option<(u64, u64)> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    Some(parse_smaps(&smaps, &dir.to_string_lossy()))
}

/// [`mapped_under`] on the text of /proc/self/smaps.
pub fn parse_smaps(text: &str, dir: &str) -> (u64, u64) {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let (mut mapped, mut resident) = (0, 0);
    let mut inside = false;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && first.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            // A mapping's header: range perms offset dev inode [path].
            inside = fields.nth(4).is_some_and(|path| path.starts_with(&prefix));
            continue;
        }
        if !inside {
            continue;
        }
        let mut kib = || {
            fields
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        match first {
            "Size:" => mapped += kib(),
            "Rss:" => resident += kib(),
            _ => {}
        }
    }
    (mapped, resident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_in_bytes() {
        let text =
            "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t1024 kB\nRssAnon:\t 512 kB\nRssFile:\t 256 kB\n";
        assert_eq!(
            parse_status(text),
            Rss {
                peak: Some(2 << 20),
                anon: Some(512 << 10),
                file: Some(256 << 10),
            }
        );
        assert_eq!(parse_status(""), Rss::default());
    }

    #[test]
    fn smaps_counts_only_files_under_the_folder() {
        let text = "\
7f00-7f10 r--s 00000000 08:01 12 /b/q8/llm.safetensors
Size:               1000 kB
Rss:                 600 kB
Pss:                 600 kB
7f10-7f20 r--p 00000000 08:01 13 /b/q8-other/x
Size:                 50 kB
Rss:                  50 kB
7f20-7f30 rw-p 00000000 00:00 0
Size:                 70 kB
Rss:                  70 kB
7f30-7f40 r--s 00000000 08:01 14 /b/q8/crm.safetensors
Size:                 10 kB
Rss:                   4 kB
";
        assert_eq!(parse_smaps(text, "/b/q8"), (1010 * 1024, 604 * 1024));
        assert_eq!(parse_smaps(text, "/b/none"), (0, 0));
    }
}
