//! A test sample as the phone would hold it: the user's profile values and every earlier
//! interaction under raw ids, plus the raw id of the target.

use reclora_core::bundle::FeaturesFile;
use reclora_core::history::{Feedback, StoredEvent, UserProfile};
use reclora_core::runtime::UserSnapshot;

use super::ParityError;
use crate::data::{PreparedDataset, Split};

/// The phone-side inputs of sample `index` of `split`, and the target's raw item id.
pub fn user_snapshot(
    data: &PreparedDataset,
    features: &FeaturesFile,
    split: Split,
    index: usize,
) -> Result<(UserSnapshot, u32), ParityError> {
    let sample = data.sample(split, index)?;
    let ids = data
        .user_feature_ids(sample.user)
        .ok_or(ParityError::UnknownUser { user: sample.user })?;
    let profile = features
        .fields
        .iter()
        .zip(&ids)
        .map(|(field, &id)| Ok((field.name.clone(), field_value(field, id)?.to_owned())))
        .collect::<Result<Vec<_>, ParityError>>()?;
    let raw_id = |item: u32| raw_item_id(data, item);
    let events = data
        .full_history(split, index)?
        .iter()
        .map(|event| {
            Ok(StoredEvent {
                item_id: raw_id(event.item)?,
                feedback: Feedback::Rating(event.rating),
                timestamp: event.timestamp,
            })
        })
        .collect::<Result<Vec<_>, ParityError>>()?;
    let snapshot = UserSnapshot {
        profile: UserProfile::new(profile),
        events,
    };
    Ok((snapshot, raw_id(sample.item)?))
}

/// The raw dataset id of item feature `item`, as the phone names items.
pub fn raw_item_id(data: &PreparedDataset, item: u32) -> Result<u32, ParityError> {
    data.item_raw_id(item)
        .and_then(|raw| raw.parse::<u32>().ok())
        .ok_or(ParityError::ItemId { item })
}

/// The raw dataset id of local user `user` (the value of the first profile field).
pub fn raw_user_id(
    data: &PreparedDataset,
    features: &FeaturesFile,
    user: u32,
) -> Result<String, ParityError> {
    let id = data
        .user_feature_ids(user)
        .and_then(|ids| ids.first().copied())
        .ok_or(ParityError::UnknownUser { user })?;
    let field = features
        .fields
        .first()
        .ok_or(ParityError::UnknownUser { user })?;
    Ok(field_value(field, id)?.to_owned())
}

fn field_value(field: &reclora_core::bundle::FeatureField, id: u32) -> Result<&str, ParityError> {
    id.checked_sub(field.offset)
        .and_then(|k| field.values.get(k as usize))
        .map(String::as_str)
        .ok_or(ParityError::FeatureId {
            field: field.name.clone(),
            id,
        })
}
