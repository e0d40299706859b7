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
        let mut out = self.empty_din_batch(indices.len(), history_len);
        let a = self.arrays();
        for &index in indices {
            let g = self.global(split, index)?;
            let user = a.u32(a.sample_user, g) as usize;
            let position = a.u32(a.sample_position, g) as usize;
            self.push_din_row(&mut out, user, position, f32::from(a.u8(a.sample_label, g)));
        }
        Ok(out)
    }

    /// DIN rows for a target-free user representation (the on-device per-user gate): for
    /// each sample of `indices` (user u at position p), u's interactions at positions
    /// `p − pseudo_targets .. p` (clipped at 0), each as the target with the events before
    /// it as its history. A sample at p = 0 has no past and contributes its own row.
    ///
    /// Returns the batch and each sample's row count, in `indices` order. The rows'
    /// labels are 0: only DIN's representation of them is meaningful.
    pub fn pseudo_target_batch(
        &self,
        split: Split,
        indices: &[usize],
        history_len: usize,
        pseudo_targets: usize,
    ) -> Result<(DinBatch, Vec<usize>), DataError> {
        let a = self.arrays();
        let mut samples = Vec::with_capacity(indices.len());
        for &index in indices {
            let g = self.global(split, index)?;
            let user = a.u32(a.sample_user, g) as usize;
            let position = a.u32(a.sample_position, g) as usize;
            samples.push((user, position));
        }
        let counts: Vec<usize> = samples
            .iter()
            .map(|&(_, position)| position.min(pseudo_targets).max(1))
            .collect();
        let mut out = self.empty_din_batch(counts.iter().sum(), history_len);
        for &(user, position) in &samples {
            let first = position.saturating_sub(pseudo_targets);
            for target in first..position.max(1) {
                self.push_din_row(&mut out, user, target, 0.0);
            }
        }
        Ok((out, counts))
    }

    fn empty_din_batch(&self, batch: usize, history_len: usize) -> DinBatch {
        let (user_width, item_width) = self.widths();
        let num_fields = user_width + item_width;
        DinBatch {
            batch,
            num_fields,
            item_field: user_width,
            history_len,
            field_ids: Vec::with_capacity(batch * num_fields),
            history_item_ids: vec![0; batch * history_len],
            history_rating_ids: vec![0; batch * history_len],
            history_mask: vec![0.0; batch * history_len],
            labels: Vec::with_capacity(batch),
        }
    }

    /// Appends the row whose target is `user`'s interaction at `position` and whose
    /// history is the (at most `history_len`) interactions before it.
    fn push_din_row(&self, out: &mut DinBatch, user: usize, position: usize, label: f32) {
        let (user_width, item_width) = self.widths();
        let a = self.arrays();
        let rating_base = i64::from(self.meta().num_features) - 1;
        let row = out.labels.len();
        let start = a.run(user).start;
        let target = a.u32(a.interaction_item, start + position);
        let local_item = target.wrapping_sub(self.item_offset()) as usize;
        for k in 0..user_width {
            out.field_ids
                .push(i64::from(a.u32(a.user_features, user * user_width + k)));
        }
        for k in 0..item_width {
            out.field_ids.push(i64::from(
                a.u32(a.item_features, local_item * item_width + k),
            ));
        }
        let history_len = out.history_len;
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
        out.labels.push(label);
    }
}
