//! MovieLens-25M loader: `movies.csv` and `ratings.csv` (UTF-8, one header line each).
//!
//! - movies.csv: `movieId,title,genres`; titles with commas are CSV-quoted; genres are
//!   `|`-separated (the first is kept; "(no genres listed)" stays as written).
//! - ratings.csv: `userId,movieId,rating,timestamp`; ratings are half stars 0.5..=5.0,
//!   stored as codes 1..=10, label rating > 3.0.
//!
//! There is no user table: users are the ids seen in ratings.csv, without demographics.
//! Ids are integers and compare as integers on timestamp ties (ReLLa's ml-25m notebook).

use std::path::Path;

use super::movielens1m::first_genre;
use super::raw::{
    IdIndex, IdKind, IdOrder, RatingScale, RawDataset, RawInteraction, RawItem, RawUser,
};
use super::source::{for_each_line, number, utf8};
use super::{DataError, DatasetName, LineProblem};

const MOVIES_HEADER: &str = "movieId,title,genres";
const RATINGS_HEADER: &str = "userId,movieId,rating,timestamp";

/// Reads `movies.csv` and `ratings.csv` of `dir`.
pub fn load(dir: &Path) -> Result<RawDataset, DataError> {
    let (items, item_index) = load_movies(&dir.join("movies.csv"))?;
    let (users, interactions) = load_ratings(&dir.join("ratings.csv"), &item_index)?;
    Ok(RawDataset {
        name: DatasetName::Ml25m,
        rating_scale: RatingScale::HalfStars,
        id_order: IdOrder::Numeric,
        users,
        items,
        interactions,
    })
}

/// Checks the header line; `true` means the line was the header (skip it).
fn header(seen: &mut bool, line: &str, expected: &'static str) -> Result<bool, LineProblem> {
    if *seen {
        return Ok(false);
    }
    *seen = true;
    let found = line.trim_start_matches('\u{feff}').trim();
    if found == expected {
        Ok(true)
    } else {
        Err(LineProblem::BadHeader {
            expected,
            found: found.to_string(),
        })
    }
}

/// The `N` fields of one CSV line, RFC 4180 quoting (titles with commas are quoted, inner
/// quotes doubled), each trimmed.
fn fields<const N: usize>(line: &str) -> Result<[String; N], LineProblem> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let records = reader
        .records()
        .collect::<Result<Vec<csv::StringRecord>, csv::Error>>()?;
    let [record] = &records[..] else {
        return Err(LineProblem::CsvRecords {
            found: records.len(),
        });
    };
    let fields: Vec<String> = record.iter().map(|f| f.trim().to_string()).collect();
    fields
        .try_into()
        .map_err(|fields: Vec<String>| LineProblem::FieldCount {
            expected: N,
            found: fields.len(),
            separator: ",",
        })
}

/// An id that must be a non-negative integer (the numeric tie order relies on it).
fn integer_id(text: &str, field: &'static str) -> Result<(), LineProblem> {
    number::<u64>(text.as_bytes(), field, "a non-negative integer id").map(|_| ())
}

fn load_movies(path: &Path) -> Result<(Vec<RawItem>, IdIndex), DataError> {
    let mut items = Vec::new();
    let mut index = IdIndex::default();
    let mut seen_header = false;
    for_each_line(path, "MovieLens-25M movie table", |line, bytes| {
        let text = utf8(bytes)?;
        if header(&mut seen_header, text, MOVIES_HEADER)? {
            return Ok(());
        }
        let [id, title, genres] = fields::<3>(text)?;
        integer_id(&id, "movieId")?;
        index.insert_new(&id, line)?;
        items.push(RawItem {
            id,
            title,
            genre: first_genre(&genres),
        });
        Ok(())
    })?;
    Ok((items, index))
}

/// Half-star text ("3.5") → code 1..=10.
fn half_stars(text: &str) -> Result<u8, LineProblem> {
    let bad = || LineProblem::BadValue {
        field: "rating",
        value: text.to_string(),
        expected: "a multiple of 0.5 from 0.5 to 5.0",
    };
    let value: f64 = text.parse().map_err(|_| bad())?;
    let doubled = value * 2.0;
    if doubled.fract() == 0.0 && (1.0..=10.0).contains(&doubled) {
        Ok(doubled as u8)
    } else {
        Err(bad())
    }
}

fn load_ratings(
    path: &Path,
    items: &IdIndex,
) -> Result<(Vec<RawUser>, Vec<RawInteraction>), DataError> {
    let mut users = Vec::new();
    let mut user_index = IdIndex::default();
    let mut out = Vec::new();
    let mut seen_header = false;
    for_each_line(path, "MovieLens-25M ratings", |line, bytes| {
        let text = utf8(bytes)?;
        if header(&mut seen_header, text, RATINGS_HEADER)? {
            return Ok(());
        }
        let f: Vec<&str> = text.split(',').map(str::trim).collect();
        let [user, item, rating, timestamp] = f[..] else {
            return Err(LineProblem::FieldCount {
                expected: 4,
                found: f.len(),
                separator: ",",
            });
        };
        let (user_id, new) = user_index.intern(user, line)?;
        if new {
            integer_id(user, "userId")?;
            users.push(RawUser {
                id: user.to_string(),
                profile: None,
            });
        }
        out.push(RawInteraction {
            user: user_id,
            item: items.resolve(item.as_bytes(), IdKind::Item, "movies.csv")?,
            rating: half_stars(rating)?,
            timestamp: number(
                timestamp.as_bytes(),
                "timestamp",
                "an integer (Unix seconds)",
            )?,
        });
        Ok(())
    })?;
    Ok((users, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_titles_keep_their_commas_and_quotes() {
        assert_eq!(
            fields::<3>("1,Toy Story (1995),Comedy").expect("plain"),
            ["1", "Toy Story (1995)", "Comedy"]
        );
        assert_eq!(
            fields::<3>("11,\"American President, The (1995)\",Comedy|Drama|Romance")
                .expect("quoted"),
            [
                "11",
                "American President, The (1995)",
                "Comedy|Drama|Romance"
            ]
        );
        assert_eq!(
            fields::<3>("7,\"Say \"\"Hi\"\", Bob\",Drama").expect("doubled quotes"),
            ["7", "Say \"Hi\", Bob", "Drama"]
        );
        assert_eq!(fields::<3>("a,,c").expect("empty"), ["a", "", "c"]);
        // An unterminated quote swallows the rest of the line: one field short.
        assert!(matches!(
            fields::<3>("1,\"open title,Drama"),
            Err(LineProblem::FieldCount {
                expected: 3,
                found: 2,
                ..
            })
        ));
        // A quoted line break would be a second record.
        assert!(matches!(
            fields::<3>("1,\"a\nb\",c\n2,d,e"),
            Err(LineProblem::CsvRecords { found: 2 })
        ));
    }

    #[test]
    fn half_star_codes() {
        assert_eq!(half_stars("0.5").expect("ok"), 1);
        assert_eq!(half_stars("3.0").expect("ok"), 6);
        assert_eq!(half_stars("3.5").expect("ok"), 7);
        assert_eq!(half_stars("5").expect("ok"), 10);
        assert!(half_stars("0").is_err());
        assert!(half_stars("5.5").is_err());
        assert!(half_stars("3.25").is_err());
        assert!(half_stars("NaN").is_err());
        assert!(!RatingScale::HalfStars.is_positive(6));
        assert!(RatingScale::HalfStars.is_positive(7));
    }
}
