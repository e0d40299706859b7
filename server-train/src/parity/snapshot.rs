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
    let mut profile = Vec::with_capacity(ids.len());
    for (field, &id) in features.fields.iter().zip(&ids) {
        let value = id
            .checked_sub(field.offset)
            .and_then(|k| field.values.get(k as usize))
            .ok_or(ParityError::FeatureId {
                field: field.name.clone(),
                id,
            })?;
        profile.push((field.name.clone(), value.clone()));
    }
    let raw_id = |item: u32| {
        data.item_raw_id(item)
            .and_then(|raw| raw.parse::<u32>().ok())
            .ok_or(ParityError::ItemId { item })
    };
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
