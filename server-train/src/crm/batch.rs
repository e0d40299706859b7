//! Host batches → DIN tensors.

use burn::tensor::{Device, Tensor, TensorData};
use reclora_core::crm::DinInput;

use crate::data::DinBatch;

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
