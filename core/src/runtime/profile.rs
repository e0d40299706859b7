//! The user's side of a sample: profile values → the CRM's user feature ids, and the
//! profile sentence of the prompt.

use std::collections::HashMap;
use std::path::Path;

use crate::bundle::{BundleError, CatalogProblem, FeaturesFile};
use crate::history::UserProfile;
use crate::prompt::{Gender, Profile};

use super::error::RuntimeError;

/// One user field's dictionary.
#[derive(Debug, Clone)]
struct UserField {
    name: String,
    ids: HashMap<String, u32>,
    /// Prompt text by in-field id; empty when the raw value is shown.
    texts: Vec<String>,
    offset: u32,
}

impl UserField {
    fn text(&self, global_id: u32) -> Option<&str> {
        let k = global_id.checked_sub(self.offset)? as usize;
        self.texts.get(k).map(String::as_str)
    }
}

/// The user fields of the CRM, in column order.
#[derive(Debug, Clone)]
pub struct ProfileSchema {
    fields: Vec<UserField>,
}

impl ProfileSchema {
    /// The user fields of `features`; `path` names `features.json` in errors.
    pub fn new(features: &FeaturesFile, path: &Path) -> Result<Self, BundleError> {
        let fields =
            features
                .fields
                .get(..features.user_fields)
                .ok_or_else(|| BundleError::Catalog {
                    path: path.to_path_buf(),
                    problem: CatalogProblem::Layout {
                        what: "more user fields than fields",
                    },
                })?;
        let fields = fields
            .iter()
            .map(|f| UserField {
                name: f.name.clone(),
                ids: f
                    .values
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(k, v)| (v.clone(), f.offset + k as u32))
                    .collect(),
                texts: f.texts.clone(),
                offset: f.offset,
            })
            .collect();
        Ok(Self { fields })
    }

    /// The names of the profile fields a user must have (`user_id`, `gender`, ...).
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// Global feature ids of the user's fields, in column order.
    ///
    /// The CRM has no bucket for values it never saw, so a missing or unknown value is an
    /// error rather than a silent guess.
    pub fn feature_ids(&self, profile: &UserProfile) -> Result<Vec<u32>, RuntimeError> {
        self.fields
            .iter()
            .map(|field| {
                let value =
                    profile
                        .get(&field.name)
                        .ok_or_else(|| RuntimeError::MissingProfileField {
                            field: field.name.clone(),
                        })?;
                field
                    .ids
                    .get(value)
                    .copied()
                    .ok_or_else(|| RuntimeError::UnknownProfileValue {
                        field: field.name.clone(),
                        value: value.to_owned(),
                    })
            })
            .collect()
    }

    /// The prompt's profile sentence (gender, occupation, age texts) from the ids of
    /// [`Self::feature_ids`]; `None` when the dataset has no demographics.
    pub fn prompt_profile(&self, ids: &[u32]) -> Option<Profile> {
        let text = |name: &str| {
            let k = self.fields.iter().position(|f| f.name == name)?;
            self.fields[k].text(*ids.get(k)?)
        };
        let gender = match text("gender")? {
            "male" => Gender::Male,
            "female" => Gender::Female,
            _ => return None,
        };
        Some(Profile {
            gender,
            occupation: text("occupation")?.to_owned(),
            age: text("age")?.to_owned(),
        })
    }
}
