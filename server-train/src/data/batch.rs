//! Flat, padded batches for the DIN/CTR model.
//!
//! Shapes are row-major. `field_ids` has one column per present field (8 for MovieLens-1M
//! and 100K: user, gender, age, occupation, zip, item, title, genre; 4 for ML-25M and
//! GoodReads: user, item, title, genre), so DIN sizes itself from `num_fields` and finds the
//! target item at column `item_field`. Histories are the last `history_len` earlier
//! interactions in time order, right-padded with id 0 and mask 0.

pub use reclora_core::crm::DinBatch;

use super::DataError;
use super::prepared::PreparedDataset;
use super::samples::Split;

impl PreparedDataset {
    /// The batch of samples `indices` of `split`.
    pub fn din_batch(
        &self,
        split: Split,
        indices: &[usize],
        history_len: usize,
    ) -> Result<DinBatch, DataError> {
        let (user_width, item_width) = self.widths();
        let num_fields = user_width + item_width;
        let batch = indices.len();
        let a = self.arrays();
        let rating_base = i64::from(self.meta().num_features) - 1;
        let mut out = DinBatch {
            batch,
            num_fields,
            item_field: user_width,
            history_len,
            field_ids: Vec::with_capacity(batch * num_fields),
            history_item_ids: vec![0; batch * history_len],
            history_rating_ids: vec![0; batch * history_len],
            history_mask: vec![0.0; batch * history_len],
            labels: Vec::with_capacity(batch),
        };
        for (row, &index) in indices.iter().enumerate() {
            let g = self.global(split, index)?;
            let user = a.u32(a.sample_user, g) as usize;
            let position = a.u32(a.sample_position, g) as usize;
            let start = a.run(user).start;
            let target = a.u32(a.interaction_item, start + position);
            let local_item = target.wrapping_sub(self.item_offset()) as usize;
            for k in 0..user_width {
                let id = a.u32(a.user_features, user * user_width + k);
                out.field_ids.push(i64::from(id));
            }
            for k in 0..item_width {
                let id = a.u32(a.item_features, local_item * item_width + k);
                out.field_ids.push(i64::from(id));
            }
            let shown = position.min(history_len);
            let first = start + position - shown;
            let base = row * history_len;
            for j in 0..shown {
                let k = first + j;
                out.history_item_ids[base + j] = i64::from(a.u32(a.interaction_item, k));
                out.history_rating_ids[base + j] =
                    rating_base + i64::from(a.u8(a.interaction_rating, k));
                out.history_mask[base + j] = 1.0;
            }
            out.labels.push(f32::from(a.u8(a.sample_label, g)));
        }
        Ok(out)
    }
}
