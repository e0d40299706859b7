//! MovieLens-1M loader: `users.dat`, `movies.dat`, `ratings.dat`, fields separated by `::`.
//!
//! - users.dat: `UserID::Gender::Age::Occupation::Zip-code` (codes per the README).
//! - movies.dat: `MovieID::Title::Genres`, ISO-8859-1, genres `|`-separated (first is kept).
//! - ratings.dat: `UserID::MovieID::Rating::Timestamp`, whole stars 1..=5.
//!
//! Ratings naming a user or movie missing from the tables are errors (ReLLa silently drops
//! them; the real files have none).

use std::path::Path;

use super::raw::{
    IdIndex, IdKind, IdOrder, RatingScale, RawDataset, RawInteraction, RawItem, RawProfile, RawUser,
};
use super::source::{for_each_line, latin1, number, split_fields, stars};
use super::text::{gender_from_code, ml1m_age_text, ml1m_occupation_text};
use super::{DataError, DatasetName, LineProblem};

/// Reads the three files of `dir`.
pub fn load(dir: &Path) -> Result<RawDataset, DataError> {
    let (users, user_index) = load_users(&dir.join("users.dat"))?;
    let (items, item_index) = load_movies(&dir.join("movies.dat"))?;
    let interactions = load_ratings(&dir.join("ratings.dat"), &user_index, &item_index)?;
    Ok(RawDataset {
        name: DatasetName::Ml1m,
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
    for_each_line(path, "MovieLens-1M user table", |line, bytes| {
        let [id, gender, age, job, zip] = split_fields::<5>(bytes, "::")?;
        let id = latin1(id);
        let gender = gender_from_code(&latin1(gender)).ok_or_else(|| LineProblem::BadValue {
            field: "gender",
            value: latin1(gender),
            expected: "M or F",
        })?;
        let age_code: u8 = number(age, "age", "an ML-1M age code")?;
        let age_text = ml1m_age_text(age_code).ok_or_else(|| LineProblem::BadValue {
            field: "age",
            value: age_code.to_string(),
            expected: "one of 1, 18, 25, 35, 45, 50, 56",
        })?;
        let job_code: u8 = number(job, "occupation", "an ML-1M occupation code")?;
        let job_text = ml1m_occupation_text(job_code).ok_or_else(|| LineProblem::BadValue {
            field: "occupation",
            value: job_code.to_string(),
            expected: "an integer from 0 to 20",
        })?;
        index.insert_new(&id, line)?;
        users.push(RawUser {
            id,
            profile: Some(RawProfile {
                gender,
                age: age_code.to_string(),
                age_text: age_text.to_string(),
                occupation: job_code.to_string(),
                occupation_text: job_text.to_string(),
                zip: latin1(zip),
            }),
        });
        Ok(())
    })?;
    Ok((users, index))
}

fn load_movies(path: &Path) -> Result<(Vec<RawItem>, IdIndex), DataError> {
    let mut items = Vec::new();
    let mut index = IdIndex::default();
    for_each_line(path, "MovieLens-1M movie table", |line, bytes| {
        let [id, title, genres] = split_fields::<3>(bytes, "::")?;
        let id = latin1(id);
        index.insert_new(&id, line)?;
        items.push(RawItem {
            id,
            title: latin1(title),
            genre: first_genre(&latin1(genres)),
        });
        Ok(())
    })?;
    Ok((items, index))
}

/// The first `|`-separated genre, trimmed (ReLLa: `genres.strip().split("|")[0]`).
pub fn first_genre(genres: &str) -> String {
    genres.split('|').next().unwrap_or("").trim().to_string()
}

fn load_ratings(
    path: &Path,
    users: &IdIndex,
    items: &IdIndex,
) -> Result<Vec<RawInteraction>, DataError> {
    let mut out = Vec::new();
    for_each_line(path, "MovieLens-1M ratings", |_, bytes| {
        let [user, item, rating, timestamp] = split_fields::<4>(bytes, "::")?;
        let user = users.resolve(user, IdKind::User, "users.dat")?;
        let item = items.resolve(item, IdKind::Item, "movies.dat")?;
        out.push(RawInteraction {
            user,
            item,
            rating: stars(rating)?,
            timestamp: number(timestamp, "timestamp", "an integer (Unix seconds)")?,
        });
        Ok(())
    })?;
    Ok(out)
}
