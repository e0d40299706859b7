//! Host batches for DIN: flat, row-major, padded, built by the server's dataset reader and
//! by the on-device runtime alike, then moved onto a device in one place.
//!
//! `field_ids` has one column per present field (8 for MovieLens-1M: user, gender, age,
//! occupation, zip, item, title, genre), so DIN finds the target item at `item_field`.
//! Histories are the last `history_len` earlier interactions in time order, right-padded
//! with id 0 and mask 0.

use burn::tensor::{Device, Tensor, TensorData};

use super::DinInput;

/// Model inputs for a batch of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct DinBatch {
    /// Samples in the batch.
    pub batch: usize,
    /// Columns of `field_ids`.
    pub num_fields: usize,
    /// Column of the target item id in `field_ids`.
    pub item_field: usize,
    /// Columns of the history arrays.
    pub history_len: usize,
    /// `[batch, num_fields]` global feature ids of the user's and the target item's fields.
    pub field_ids: Vec<i64>,
    /// `[batch, history_len]` item-id feature ids, right-padded with 0.
    pub history_item_ids: Vec<i64>,
    /// `[batch, history_len]` rating embedding rows (`num_features + rating - 1`), padded with 0.
    pub history_rating_ids: Vec<i64>,
    /// `[batch, history_len]` 1.0 for a real event, 0.0 for padding.
    pub history_mask: Vec<f32>,
    /// `[batch]` 1.0 positive, 0.0 negative.
    pub labels: Vec<f32>,
}

/// Moves one host batch onto `device`.
pub fn to_din_input(batch: &DinBatch, device: &Device) -> DinInput {
    let hist = [batch.batch, batch.history_len];
    DinInput {
        field_ids: Tensor::from_data(
            TensorData::new(batch.field_ids.clone(), [batch.batch, batch.num_fields]),
            device,
        ),
        history_items: Tensor::from_data(
            TensorData::new(batch.history_item_ids.clone(), hist),
            device,
        ),
        history_ratings: Tensor::from_data(
            TensorData::new(batch.history_rating_ids.clone(), hist),
            device,
        ),
        history_mask: Tensor::from_data(TensorData::new(batch.history_mask.clone(), hist), device),
    }
}
