//! Categorical feature ids for the CTR model: one dictionary per field, one global offset table.
//!
//! Fields, in order: user id, gender, age, occupation, zip code (only when the dataset has
//! demographics), then item id, title, first genre. Within a field, values get ids in order of
//! first appearance while scanning the globally sorted interaction table row by row — what
//! ReLLa's notebook does, so the ids match its `ctr-meta.json`. Scanning row by row is the
//! same as scanning users (or items) in their first-appearance order, which is how it is
//! computed here. Items never rated get no id. Global id = field offset + id in field.
//! The rating codes come after all features: row `num_features + code - 1`.

use std::collections::HashMap;

use super::DataError;
use super::raw::RawDataset;
use super::samples::SampleTable;
use super::text::gender_code;

/// A categorical field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// User id.
    UserId,
    /// Gender code.
    Gender,
    /// Age (ML-1M bucket code, ML-100K years).
    Age,
    /// Occupation (ML-1M code, ML-100K name).
    Occupation,
    /// Zip code.
    ZipCode,
    /// Item id (movie or book).
    ItemId,
    /// Item title.
    Title,
    /// First genre.
    Genre,
}

impl Field {
    /// All fields in table order.
    pub const ALL: [Self; 8] = [
        Self::UserId,
        Self::Gender,
        Self::Age,
        Self::Occupation,
        Self::ZipCode,
        Self::ItemId,
        Self::Title,
        Self::Genre,
    ];

    /// Name used in features.json and meta.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserId => "user_id",
            Self::Gender => "gender",
            Self::Age => "age",
            Self::Occupation => "occupation",
            Self::ZipCode => "zip_code",
            Self::ItemId => "item_id",
            Self::Title => "title",
            Self::Genre => "genre",
        }
    }

    /// Inverse of [`Self::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Whether the field describes the user (else the item).
    pub fn is_user_field(self) -> bool {
        matches!(
            self,
            Self::UserId | Self::Gender | Self::Age | Self::Occupation | Self::ZipCode
        )
    }
}

/// The values of one field, in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDictionary {
    /// The field.
    pub field: Field,
    /// Global id of this field's first value.
    pub offset: u32,
    /// Raw values; the id of `values[k]` within the field is `k`.
    pub values: Vec<String>,
    /// Prompt text of each value (demographic fields; the raw value otherwise).
    pub texts: Vec<String>,
}

/// All dictionaries plus each user's and item's global feature ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureTable {
    /// Present fields, in table order.
    pub dictionaries: Vec<FieldDictionary>,
    /// `[users, user_fields]` global ids, users in local order.
    pub user_features: Vec<u32>,
    /// `[items, item_fields]` global ids, items in local order.
    pub item_features: Vec<u32>,
    /// Sum of the field sizes.
    pub num_features: u32,
}

impl FeatureTable {
    /// Fields describing the user.
    pub fn user_fields(&self) -> usize {
        self.dictionaries
            .iter()
            .filter(|d| d.field.is_user_field())
            .count()
    }

    /// Fields describing the item.
    pub fn item_fields(&self) -> usize {
        self.dictionaries.len() - self.user_fields()
    }

    /// Global id of the item-id field's first value.
    pub fn item_offset(&self) -> u32 {
        self.dictionaries
            .iter()
            .find(|d| d.field == Field::ItemId)
            .map_or(0, |d| d.offset)
    }
}

/// Interns values in first-appearance order.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    values: Vec<String>,
    texts: Vec<String>,
}

impl Interner {
    fn id(&mut self, value: &str, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.ids.insert(value.to_string(), id);
        self.values.push(value.to_string());
        self.texts.push(text.to_string());
        id
    }
}

/// Builds the dictionaries for the users and items of `table`.
pub fn build_features(raw: &RawDataset, table: &SampleTable) -> Result<FeatureTable, DataError> {
    let profiles = raw.has_profiles();
    let fields: Vec<Field> = Field::ALL
        .into_iter()
        .filter(|f| profiles || !f.is_user_field() || *f == Field::UserId)
        .collect();
    let user_fields = fields.iter().filter(|f| f.is_user_field()).count();
    let mut interners: Vec<Interner> = fields.iter().map(|_| Interner::default()).collect();

    let mut user_local = Vec::with_capacity(table.user_order.len() * user_fields);
    for &u in &table.user_order {
        let user = &raw.users[u as usize];
        let mut values: Vec<(&str, &str)> = vec![(user.id.as_str(), user.id.as_str())];
        if let (true, Some(p)) = (profiles, &user.profile) {
            let gender = gender_code(p.gender);
            let gender_text = p.gender.noun();
            values.extend([
                (gender, gender_text),
                (p.age.as_str(), p.age_text.as_str()),
                (p.occupation.as_str(), p.occupation_text.as_str()),
                (p.zip.as_str(), p.zip.as_str()),
            ]);
        }
        for (k, (value, text)) in values.into_iter().enumerate() {
            user_local.push(interners[k].id(value, text));
        }
    }
    let mut item_local = Vec::with_capacity(table.item_order.len() * (fields.len() - user_fields));
    for &i in &table.item_order {
        let item = &raw.items[i as usize];
        for (k, value) in [&item.id, &item.title, &item.genre].into_iter().enumerate() {
            item_local.push(interners[user_fields + k].id(value, value));
        }
    }

    let mut dictionaries = Vec::with_capacity(fields.len());
    let mut offset = 0usize;
    for (field, interner) in fields.iter().zip(interners) {
        let size = interner.values.len();
        dictionaries.push(FieldDictionary {
            field: *field,
            offset: offset as u32,
            values: interner.values,
            texts: interner.texts,
        });
        offset += size;
    }
    let num_features = u32::try_from(offset).map_err(|_| DataError::TooMany {
        what: "features",
        count: offset,
    })?;
    let to_global = |local: Vec<u32>, width: usize, first: usize| -> Vec<u32> {
        local
            .into_iter()
            .enumerate()
            .map(|(k, id)| dictionaries[first + k % width].offset + id)
            .collect()
    };
    let item_fields = fields.len() - user_fields;
    let user_features = to_global(user_local, user_fields, 0);
    let item_features = to_global(item_local, item_fields, user_fields);
    Ok(FeatureTable {
        dictionaries,
        user_features,
        item_features,
        num_features,
    })
}
