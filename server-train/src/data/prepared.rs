//! Reopening a prepared dataset for training and prompting.
//!
//! `open` checks the format version and meta.json's consistency, the JSON lists' lengths,
//! and (in `mapped.rs`) every array's dtype, shape and id range, so the accessors never
//! index out of bounds. Arrays stay memory-mapped; only items.json and users.json are parsed.

use std::path::{Path, PathBuf};

use reclora_core::prompt::{
    Gender, HistoryEvent, HistoryRetriever, HistorySelection, ItemTitles, Profile, PromptLayout,
    RellaTemplate,
};

use super::features::Field;
use super::mapped::MappedArrays;
use super::samples::{Split, SplitSizes};
use super::store::{
    ARRAYS_FILE, FORMAT_VERSION, ITEMS_FILE, ItemsFile, META_FILE, Meta, USERS_FILE, UsersFile,
    read_json,
};
use super::{DataError, DatasetName, StoreProblem};

/// One sample as the accessors return it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRef {
    /// Local user id (= user-id feature id, the first field).
    pub user: u32,
    /// Item-id global feature id of the target.
    pub item: u32,
    /// rating > 3.
    pub label: bool,
    /// Rating code of the target interaction.
    pub rating: u8,
    /// Unix seconds of the target interaction.
    pub timestamp: i64,
    /// Number of earlier interactions of the user (≥ 5).
    pub history_len: usize,
}

/// Demographics of a user, as prompts show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    /// Gender.
    pub gender: Gender,
    /// "male" / "female".
    pub gender_text: String,
    /// "25-34" (ML-1M) or "24" (ML-100K).
    pub age_text: String,
    /// "programmer".
    pub occupation_text: String,
    /// Zip code as written.
    pub zip_code: String,
}

impl UserProfile {
    /// The prompt builder's profile.
    pub fn to_prompt_profile(&self) -> Profile {
        Profile {
            gender: self.gender,
            occupation: self.occupation_text.clone(),
            age: self.age_text.clone(),
        }
    }
}

/// A prepared dataset folder, opened.
#[derive(Debug)]
pub struct PreparedDataset {
    dir: PathBuf,
    meta: Meta,
    name: DatasetName,
    split: SplitSizes,
    fields: Vec<Field>,
    user_fields: usize,
    item_offset: u32,
    items: ItemsFile,
    /// Per demographic field (gender, age, occupation, zip): offset and value texts.
    user_texts: Vec<(u32, Vec<String>)>,
    arrays: MappedArrays,
}

impl PreparedDataset {
    /// Opens and validates the folder written by `prepare`.
    pub fn open(dir: &Path) -> Result<Self, DataError> {
        let meta_path = dir.join(META_FILE);
        let meta: Meta = read_json(&meta_path)?;
        if meta.format_version != FORMAT_VERSION {
            return Err(DataError::store(
                &meta_path,
                StoreProblem::Version {
                    found: meta.format_version,
                    expected: FORMAT_VERSION,
                },
            ));
        }
        let checked = meta
            .check()
            .map_err(|what| DataError::store(&meta_path, StoreProblem::Meta { what }))?;
        let user_fields = checked.user_fields;

        let items_path = dir.join(ITEMS_FILE);
        let items: ItemsFile = read_json(&items_path)?;
        let lists = [
            ("items.json ids", items.ids.len()),
            ("items.json titles", items.titles.len()),
            ("items.json genres", items.genres.len()),
        ];
        for (name, len) in lists {
            check_len(&items_path, name, len, meta.counts.items as usize)?;
        }
        let users_path = dir.join(USERS_FILE);
        let mut users: UsersFile = read_json(&users_path)?;
        let mut user_texts = Vec::new();
        for field in &meta.fields[1..user_fields] {
            let texts = users.texts.remove(&field.name).unwrap_or_default();
            let expected = field.count as usize;
            check_len(&users_path, "users.json texts", texts.len(), expected)?;
            user_texts.push((field.offset, texts));
        }

        let arrays = MappedArrays::open(&dir.join(ARRAYS_FILE), &meta, user_fields)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name: checked.name,
            split: checked.split,
            fields: checked.fields,
            user_fields,
            item_offset: meta.fields[user_fields].offset,
            items,
            user_texts,
            arrays,
            meta,
        })
    }

    /// The folder it was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed meta.json.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Which dataset.
    pub fn dataset(&self) -> DatasetName {
        self.name
    }

    /// The prompt template for this dataset.
    pub fn prompt_template(&self) -> RellaTemplate {
        self.name.prompt_template()
    }

    /// Present fields, in the column order of [`super::DinBatch::field_ids`].
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Columns of [`super::DinBatch::field_ids`]: 8 with demographics, 4 without.
    pub fn num_fields(&self) -> usize {
        self.fields.len()
    }

    /// Column of the target item id in [`super::DinBatch::field_ids`].
    pub fn item_field(&self) -> usize {
        self.user_fields
    }

    /// Number of samples in `split`.
    pub fn split_len(&self, split: Split) -> usize {
        self.split.range(split).len()
    }

    /// Total categorical features (16,939 for ML-1M).
    pub fn num_features(&self) -> usize {
        self.meta.num_features as usize
    }

    /// Features plus rating codes (16,944 for ML-1M).
    pub fn embedding_rows(&self) -> usize {
        self.meta.embedding_rows as usize
    }

    /// Embedding row of a rating code: `num_features + rating - 1`; `None` outside 1..=levels.
    pub fn rating_feature_id(&self, rating: u8) -> Option<u32> {
        (1..=self.meta.rating_levels)
            .contains(&rating)
            .then(|| self.meta.num_features + u32::from(rating) - 1)
    }

    /// Global sample index of `(split, index)`.
    pub(super) fn global(&self, split: Split, index: usize) -> Result<usize, DataError> {
        let range = self.split.range(split);
        if index < range.len() {
            Ok(range.start + index)
        } else {
            Err(DataError::SampleOutOfRange {
                split,
                index,
                len: range.len(),
            })
        }
    }

    /// (global index, start of the user's run, position in the run) of a sample.
    fn locate(&self, split: Split, index: usize) -> Result<(usize, usize, usize), DataError> {
        let a = &self.arrays;
        let g = self.global(split, index)?;
        let user = a.u32(a.sample_user, g) as usize;
        let position = a.u32(a.sample_position, g) as usize;
        Ok((g, a.run(user).start, position))
    }

    /// The target of sample `index` of `split`.
    pub fn sample(&self, split: Split, index: usize) -> Result<SampleRef, DataError> {
        let a = &self.arrays;
        let (g, start, position) = self.locate(split, index)?;
        let at = start + position;
        Ok(SampleRef {
            user: a.u32(a.sample_user, g),
            item: a.u32(a.interaction_item, at),
            label: a.u8(a.sample_label, g) == 1,
            rating: a.u8(a.interaction_rating, at),
            timestamp: a.i64(a.interaction_timestamp, at),
            history_len: position,
        })
    }

    /// The last `max_len` earlier interactions as (item feature id, rating code), oldest first.
    pub fn history(
        &self,
        split: Split,
        index: usize,
        max_len: usize,
    ) -> Result<Vec<(u32, u8)>, DataError> {
        let a = &self.arrays;
        let (_, start, position) = self.locate(split, index)?;
        let from = start + position.saturating_sub(max_len);
        Ok((from..start + position)
            .map(|k| (a.u32(a.interaction_item, k), a.u8(a.interaction_rating, k)))
            .collect())
    }

    /// All earlier interactions, oldest first (input of a history retriever).
    pub fn full_history(&self, split: Split, index: usize) -> Result<Vec<HistoryEvent>, DataError> {
        let a = &self.arrays;
        let (_, start, position) = self.locate(split, index)?;
        Ok((start..start + position)
            .map(|k| HistoryEvent {
                item: a.u32(a.interaction_item, k),
                rating: a.u8(a.interaction_rating, k),
                timestamp: a.i64(a.interaction_timestamp, k),
            })
            .collect())
    }

    /// Global feature ids of a user's fields (user id, then demographics if any).
    pub fn user_feature_ids(&self, user: u32) -> Option<Vec<u32>> {
        let (a, user, width) = (&self.arrays, user as usize, self.user_fields);
        (user < self.meta.counts.users as usize).then(|| {
            (0..width)
                .map(|k| a.u32(a.user_features, user * width + k))
                .collect()
        })
    }

    /// Global feature ids of an item's fields (item id, title, genre).
    pub fn item_feature_ids(&self, item: u32) -> Option<Vec<u32>> {
        let (a, local) = (&self.arrays, self.local_item(item)?);
        let width = self.fields.len() - self.user_fields;
        Some(
            (0..width)
                .map(|k| a.u32(a.item_features, local * width + k))
                .collect(),
        )
    }

    /// Demographics of local user `user`; `None` for datasets without them or unknown users.
    pub fn user_profile(&self, user: u32) -> Option<UserProfile> {
        if !self.meta.has_profiles || self.user_texts.len() != 4 {
            return None;
        }
        let ids = self.user_feature_ids(user)?;
        let text = |k: usize| -> Option<String> {
            let (offset, texts) = self.user_texts.get(k)?;
            let id = ids.get(k + 1)?.checked_sub(*offset)?;
            texts.get(id as usize).cloned()
        };
        let gender_text = text(0)?;
        let gender = match gender_text.as_str() {
            "male" => Gender::Male,
            "female" => Gender::Female,
            _ => return None,
        };
        Some(UserProfile {
            gender,
            gender_text,
            age_text: text(1)?,
            occupation_text: text(2)?,
            zip_code: text(3)?,
        })
    }

    fn local_item(&self, item: u32) -> Option<usize> {
        let local = item.checked_sub(self.item_offset)? as usize;
        (local < self.items.titles.len()).then_some(local)
    }

    /// (title, genre) of an item feature id.
    pub fn item_text(&self, item: u32) -> Option<(&str, &str)> {
        let local = self.local_item(item)?;
        Some((
            self.items.titles.get(local)?.as_str(),
            self.items.genres.get(local)?.as_str(),
        ))
    }

    /// Raw dataset id of an item feature id.
    pub fn item_raw_id(&self, item: u32) -> Option<&str> {
        self.items
            .ids
            .get(self.local_item(item)?)
            .map(String::as_str)
    }

    /// The ReLLa prompt of a sample: profile (if any), selected history, target.
    pub fn prompt(
        &self,
        split: Split,
        index: usize,
        selection: HistorySelection,
        retriever: Option<&dyn HistoryRetriever>,
    ) -> Result<String, DataError> {
        self.prompt_in(PromptLayout::Rella, split, index, selection, retriever)
    }

    /// [`Self::prompt`] with its parts in `layout`.
    pub fn prompt_in(
        &self,
        layout: PromptLayout,
        split: Split,
        index: usize,
        selection: HistorySelection,
        retriever: Option<&dyn HistoryRetriever>,
    ) -> Result<String, DataError> {
        let sample = self.sample(split, index)?;
        let history = self.full_history(split, index)?;
        let profile = self
            .user_profile(sample.user)
            .map(|p| p.to_prompt_profile());
        Ok(self.prompt_template().with_layout(layout).build(
            profile,
            &history,
            sample.item,
            selection,
            retriever,
            self,
        )?)
    }

    /// The mapped arrays (for `batch.rs`).
    pub(super) fn arrays(&self) -> &MappedArrays {
        &self.arrays
    }

    /// (user fields, item fields).
    pub(super) fn widths(&self) -> (usize, usize) {
        (self.user_fields, self.fields.len() - self.user_fields)
    }

    /// Item-id feature id of local item 0.
    pub(super) fn item_offset(&self) -> u32 {
        self.item_offset
    }
}

impl ItemTitles for PreparedDataset {
    fn title(&self, item: u32) -> Option<&str> {
        self.item_text(item).map(|(title, _)| title)
    }
}

fn check_len(
    path: &Path,
    name: &'static str,
    found: usize,
    expected: usize,
) -> Result<(), DataError> {
    if found == expected {
        Ok(())
    } else {
        Err(DataError::store(
            path,
            StoreProblem::Shape {
                name,
                found: vec![found],
                expected: vec![expected],
            },
        ))
    }
}
