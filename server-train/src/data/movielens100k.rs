//! MovieLens-100K loader: `u.user`, `u.genre`, `u.item`, `u.data`.
//!
//! - u.user: `user id|age|gender|occupation|zip code`; age is a real age ("24") and the
//!   occupation a name ("technician"), both shown as they are.
//! - u.genre: `name|index`, the order of the genre flag columns of u.item.
//! - u.item: `id|title|release date|video release date|IMDb URL|` + one 0/1 flag per genre,
//!   ISO-8859-1. The genre is the first flag set, in u.genre order ("unknown" if none).
//! - u.data: `user id<TAB>item id<TAB>rating<TAB>timestamp`.
//!
//! Ids compare as text on timestamp ties, like the ML-1M files they mirror.

use std::path::Path;

use super::raw::{
    IdIndex, IdKind, IdOrder, RatingScale, RawDataset, RawInteraction, RawItem, RawProfile, RawUser,
};
use super::source::{for_each_line, latin1, number, split_fields, stars};
use super::text::gender_from_code;
use super::{DataError, DatasetName, LineProblem};

/// Genre flag columns in u.item.
const GENRES: usize = 19;

/// Reads the four files of `dir`.
pub fn load(dir: &Path) -> Result<RawDataset, DataError> {
    let (users, user_index) = load_users(&dir.join("u.user"))?;
    let genres = load_genres(&dir.join("u.genre"))?;
    let (items, item_index) = load_items(&dir.join("u.item"), &genres)?;
    let interactions = load_ratings(&dir.join("u.data"), &user_index, &item_index)?;
    Ok(RawDataset {
        name: DatasetName::Ml100k,
        rating_scale: RatingScale::Stars,
        id_order: IdOrder::Text,
        users,
        items,
        interactions,
    })
}

fn load_users(path: &Path) -> Result<(Vec<RawUser>, IdIndex), DataError> {
    let mut users = Vec::new();
    let mut index = IdIndex::default();
    for_each_line(path, "MovieLens-100K user table", |line, bytes| {
        let [id, age, gender, job, zip] = split_fields::<5>(bytes, "|")?;
        let id = latin1(id);
        let age: u8 = number(age, "age", "an age in years")?;
        let gender = gender_from_code(&latin1(gender)).ok_or_else(|| LineProblem::BadValue {
            field: "gender",
            value: latin1(gender),
            expected: "M or F",
        })?;
        let job = latin1(job);
        index.insert_new(&id, line)?;
        users.push(RawUser {
            id,
            profile: Some(RawProfile {
                gender,
                age: age.to_string(),
                age_text: age.to_string(),
                occupation: job.clone(),
                occupation_text: job,
                zip: latin1(zip),
            }),
        });
        Ok(())
    })?;
    Ok((users, index))
}

/// Genre names by flag column.
fn load_genres(path: &Path) -> Result<Vec<String>, DataError> {
    let mut names = vec![String::new(); GENRES];
    for_each_line(path, "MovieLens-100K genre list", |_, bytes| {
        let [name, column] = split_fields::<2>(bytes, "|")?;
        let column: usize = number(column, "genre index", "an integer from 0 to 18")?;
        let slot = names.get_mut(column).ok_or(LineProblem::BadValue {
            field: "genre index",
            value: column.to_string(),
            expected: "an integer from 0 to 18",
        })?;
        *slot = latin1(name);
        Ok(())
    })?;
    Ok(names)
}

fn load_items(path: &Path, genres: &[String]) -> Result<(Vec<RawItem>, IdIndex), DataError> {
    let mut items = Vec::new();
    let mut index = IdIndex::default();
    for_each_line(path, "MovieLens-100K item table", |line, bytes| {
        let fields = split_fields::<{ 5 + GENRES }>(bytes, "|")?;
        let id = latin1(fields[0]);
        let mut genre = None;
        for (column, flag) in fields[5..].iter().enumerate() {
            match *flag {
                b"0" => {}
                b"1" => {
                    genre = genre.or(Some(column));
                }
                other => {
                    return Err(LineProblem::BadValue {
                        field: "genre flag",
                        value: latin1(other),
                        expected: "0 or 1",
                    });
                }
            }
        }
        index.insert_new(&id, line)?;
        items.push(RawItem {
            id,
            title: latin1(fields[1]),
            genre: genre
                .and_then(|c| genres.get(c).cloned())
                .unwrap_or_else(|| "unknown".to_string()),
        });
        Ok(())
    })?;
    Ok((items, index))
}

fn load_ratings(
    path: &Path,
    users: &IdIndex,
    items: &IdIndex,
) -> Result<Vec<RawInteraction>, DataError> {
    let mut out = Vec::new();
    for_each_line(path, "MovieLens-100K ratings", |_, bytes| {
        let [user, item, rating, timestamp] = split_fields::<4>(bytes, "\t")?;
        out.push(RawInteraction {
            user: users.resolve(user, IdKind::User, "u.user")?,
            item: items.resolve(item, IdKind::Item, "u.item")?,
            rating: stars(rating)?,
            timestamp: number(timestamp, "timestamp", "an integer (Unix seconds)")?,
        });
        Ok(())
    })?;
    Ok(out)
}
