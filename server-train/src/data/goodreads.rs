//! GoodReads loader (UCSD Book Graph, Wan & McAuley), JSON lines, decompressed (`gunzip`).
//!
//! Upstream records, one JSON object per line (other keys are ignored):
//! - `goodreads_interactions*.json` (`_dedup`, or per genre like `_poetry`):
//!   `{"user_id": "8842281e1d1347389f2ab93d60773d4d", "book_id": "24375664",
//!     "review_id": "5cd416f3efc3f944fce4ce2db2290d5e", "is_read": true, "rating": 5,
//!     "review_text_incomplete": "", "date_added": "Mon Aug 01 13:41:57 -0700 2016",
//!     "date_updated": "Mon Aug 01 13:42:41 -0700 2016", "read_at": "", "started_at": ""}`.
//!   `rating` is 0 when the user shelved the book without rating it: those lines are skipped.
//!   The timestamp is `date_added` (`%a %b %d %H:%M:%S %z %Y`), converted to UTC seconds.
//! - `goodreads_books*.json`: `{"book_id": "5333265", "title": "W.C. Fields: A Life on Film",
//!   "popular_shelves": [{"count": "3", "name": "to-read"}, ...], ...}` (numbers are strings).
//! - optional `goodreads_book_genres_initial.json`:
//!   `{"book_id": "5333265", "genres": {"history, historical fiction, biography": 1}}`.
//!   A book's genre is its highest-count entry (ties: the alphabetically first); books
//!   without one, or all books when the file is absent, get "unknown".
//!
//! Label: rating ≥ 4. No demographics. Ids are strings and compare as text on ties.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::raw::{
    IdIndex, IdKind, IdOrder, RatingScale, RawDataset, RawInteraction, RawItem, RawUser,
};
use super::source::for_each_line;
use super::{DataError, DatasetName, LineProblem};

/// Genre of books the genre file does not cover.
pub const UNKNOWN_GENRE: &str = "unknown";

#[derive(Deserialize)]
struct InteractionLine {
    user_id: String,
    book_id: String,
    rating: u8,
    date_added: String,
}

#[derive(Deserialize)]
struct BookLine {
    book_id: String,
    title: String,
}

#[derive(Deserialize)]
struct GenreLine {
    book_id: String,
    genres: BTreeMap<String, u64>,
}

/// Reads the interaction, book and (optional) genre files of `dir`.
pub fn load(dir: &Path) -> Result<RawDataset, DataError> {
    let interactions_path = find_one(
        dir,
        "goodreads_interactions",
        "goodreads_interactions*.json",
    )?;
    let books_path = find_one(dir, "goodreads_books", "goodreads_books*.json")?;
    let genres_path = dir.join("goodreads_book_genres_initial.json");
    let genres = if genres_path.is_file() {
        load_genres(&genres_path)?
    } else {
        HashMap::new()
    };
    let (items, item_index) = load_books(&books_path, &genres)?;
    let (users, interactions) = load_interactions(&interactions_path, &item_index, &books_path)?;
    Ok(RawDataset {
        name: DatasetName::Goodreads,
        rating_scale: RatingScale::Stars,
        id_order: IdOrder::Text,
        users,
        items,
        interactions,
    })
}

/// The single `{prefix}*.json` file of `dir`.
fn find_one(dir: &Path, prefix: &str, pattern: &'static str) -> Result<PathBuf, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::MissingFile {
            path: dir.to_path_buf(),
            what: "GoodReads raw-data folder",
        },
        _ => DataError::io(dir, e),
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let name = entry.map_err(|e| DataError::io(dir, e))?.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(prefix) && name.ends_with(".json") {
            found.push(name.into_owned());
        }
    }
    found.sort();
    match <[String; 1]>::try_from(found) {
        Ok([name]) => Ok(dir.join(name)),
        Err(found) => Err(DataError::AmbiguousInput {
            dir: dir.to_path_buf(),
            pattern,
            found,
        }),
    }
}

fn load_genres(path: &Path) -> Result<HashMap<String, String>, DataError> {
    let mut out = HashMap::new();
    for_each_line(path, "GoodReads genre table", |_, bytes| {
        let record: GenreLine = serde_json::from_slice(bytes)?;
        let mut best: Option<(&String, u64)> = None;
        for (name, &count) in &record.genres {
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((name, count));
            }
        }
        if let Some((name, _)) = best {
            out.insert(record.book_id, name.clone());
        }
        Ok(())
    })?;
    Ok(out)
}

fn load_books(
    path: &Path,
    genres: &HashMap<String, String>,
) -> Result<(Vec<RawItem>, IdIndex), DataError> {
    let mut items = Vec::new();
    let mut index = IdIndex::default();
    for_each_line(path, "GoodReads book table", |line, bytes| {
        let record: BookLine = serde_json::from_slice(bytes)?;
        index.insert_new(&record.book_id, line)?;
        let genre = genres
            .get(&record.book_id)
            .cloned()
            .unwrap_or_else(|| UNKNOWN_GENRE.to_string());
        items.push(RawItem {
            id: record.book_id,
            title: record.title.trim().to_string(),
            genre,
        });
        Ok(())
    })?;
    Ok((items, index))
}

fn load_interactions(
    path: &Path,
    items: &IdIndex,
    books_path: &Path,
) -> Result<(Vec<RawUser>, Vec<RawInteraction>), DataError> {
    let books_name = books_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut users = Vec::new();
    let mut user_index = IdIndex::default();
    let mut out = Vec::new();
    for_each_line(path, "GoodReads interactions", |line, bytes| {
        let record: InteractionLine = serde_json::from_slice(bytes)?;
        if record.rating == 0 {
            return Ok(());
        }
        if record.rating > 5 {
            return Err(LineProblem::BadValue {
                field: "rating",
                value: record.rating.to_string(),
                expected: "an integer from 0 to 5",
            });
        }
        let timestamp = parse_date(&record.date_added).ok_or_else(|| LineProblem::BadValue {
            field: "date_added",
            value: record.date_added.clone(),
            expected: "a date like \"Fri Oct 27 10:05:25 -0700 2017\"",
        })?;
        let item = items.resolve(record.book_id.as_bytes(), IdKind::Item, &books_name)?;
        let (user, new) = user_index.intern(&record.user_id, line)?;
        if new {
            users.push(RawUser {
                id: record.user_id,
                profile: None,
            });
        }
        out.push(RawInteraction {
            user,
            item,
            rating: record.rating,
            timestamp,
        });
        Ok(())
    })?;
    Ok((users, out))
}

/// `"Fri Oct 27 10:05:25 -0700 2017"` → Unix seconds (UTC). The weekday is checked for
/// spelling only.
pub fn parse_date(text: &str) -> Option<i64> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = text.split_ascii_whitespace();
    let (weekday, month, day, time, zone, year) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some() || !DAYS.contains(&weekday) {
        return None;
    }
    let month = MONTHS.iter().position(|&m| m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    if !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let offset: i64 =
        digits[..2].parse::<i64>().ok()? * 3600 + digits[2..].parse::<i64>().ok()? * 60;
    let local = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    Some(local - sign * offset)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from Python:
    /// `datetime.strptime(s, "%a %b %d %H:%M:%S %z %Y").timestamp()`.
    #[test]
    fn parses_upstream_dates() {
        assert_eq!(
            parse_date("Fri Oct 27 10:05:25 -0700 2017"),
            Some(1_509_123_925)
        );
        assert_eq!(
            parse_date("Mon Aug 01 13:41:57 -0700 2016"),
            Some(1_470_084_117)
        );
        assert_eq!(parse_date("Thu Jan 01 00:00:00 +0000 1970"), Some(0));
        assert_eq!(
            parse_date("Tue Feb 29 23:59:59 +0530 2000"),
            Some(951_848_999)
        );
        assert_eq!(parse_date("Sat Feb 29 12:00:00 +0000 2001"), None);
        assert_eq!(parse_date("Fri Oct 27 10:05:25 2017"), None);
        assert_eq!(parse_date("Fri Octo 27 10:05:25 -0700 2017"), None);
        assert_eq!(parse_date(""), None);
    }
}
