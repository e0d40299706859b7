//! Causal attention mask with key padding, or packed segments after a shared prefix.

use burn::tensor::{Bool, Device, Tensor, TensorData};

/// Which keys each query may see: causal order, and per row the keys before its length
/// (the rest is right padding). Query `i` of row `b` (absolute position `past + i`) sees key
/// `j` when `j == past + i`, or when `j < past + i` and `j < key_len[b]`.
///
/// A packed mask ([`AttentionMask::packed_after`]) instead lays segments one after another
/// in a single row: each query sees the `past` cached positions and its own segment.
///
/// Built on the host, since it is small and known before the forward pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttentionMask {
    batch: usize,
    queries: usize,
    past: usize,
    /// `[batch]`: valid keys per row, `1..=past + queries`.
    key_len: Vec<usize>,
    /// Packed masks only.
    packed: Option<Packed>,
}

/// The segments of a packed row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packed {
    /// Queries per segment.
    lengths: Vec<usize>,
    /// `[queries]`: where each query's segment starts in the packed row.
    starts: Vec<usize>,
}

impl AttentionMask {
    /// A causal mask for right-padded rows of the given lengths, with no cache.
    pub fn right_padded(lengths: &[usize], seq: usize) -> Self {
        Self::right_padded_after(lengths, seq, 0)
    }

    /// A causal mask for right-padded rows of the given lengths after `past` cached
    /// positions that every row may see (a shared prompt prefix).
    pub fn right_padded_after(lengths: &[usize], seq: usize, past: usize) -> Self {
        Self {
            batch: lengths.len(),
            queries: seq,
            past,
            // The kernels want at least one valid key: an empty row (all padding, its
            // outputs unused) is given its first key.
            key_len: lengths
                .iter()
                .map(|&len| (past + len).clamp(1, (past + seq).max(1)))
                .collect(),
            packed: None,
        }
    }

    /// One row of segments of `lengths` (each at least 1) packed one after another, after
    /// `past` cached positions that all of them see: query `i` of a segment starting at
    /// packed index `o` sits at position `past + i` of its own sequence and sees the cached
    /// keys and keys `past + o ..= past + o + i`, never another segment's.
    pub fn packed_after(lengths: &[usize], past: usize) -> Self {
        let starts = lengths
            .iter()
            .scan(0, |offset, &len| {
                let start = *offset;
                *offset += len;
                Some(std::iter::repeat_n(start, len))
            })
            .flatten()
            .collect::<Vec<_>>();
        let queries = starts.len();
        Self {
            batch: 1,
            queries,
            past,
            key_len: vec![past + queries],
            packed: Some(Packed {
                lengths: lengths.to_vec(),
                starts,
            }),
        }
    }

    /// Queries per segment of a packed mask; `None` for row masks.
    pub fn segments(&self) -> Option<&[usize]> {
        self.packed.as_ref().map(|packed| packed.lengths.as_slice())
    }

    /// Each query's position in its own sequence, for RoPE: `past + i` in a row, `past` plus
    /// the index within its segment when packed.
    ///
    /// # Shapes
    /// - returns `[queries]`
    pub fn positions(&self) -> Vec<usize> {
        match &self.packed {
            Some(packed) => (0..self.queries)
                .map(|i| self.past + i - packed.starts[i])
                .collect(),
            None => (self.past..self.past + self.queries).collect(),
        }
    }

    /// A causal mask for `queries` new tokens after `past` cached ones, every key valid.
    pub fn causal(batch: usize, queries: usize, past: usize) -> Self {
        Self {
            batch,
            queries,
            past,
            key_len: vec![past + queries; batch],
            packed: None,
        }
    }

    /// Valid keys per row.
    pub fn key_lengths(&self) -> &[usize] {
        &self.key_len
    }

    /// Cached positions before the queries.
    pub fn past(&self) -> usize {
        self.past
    }

    /// Number of keys (cached plus new).
    pub fn keys(&self) -> usize {
        self.past + self.queries
    }

    /// Number of rows.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Whether query `i` of row `b` must not see key `j`. A query always sees itself,
    /// so no softmax row is empty (an empty row would give NaN, and NaN·0 leaks).
    pub fn is_masked(&self, b: usize, i: usize, j: usize) -> bool {
        let absolute = self.past + i;
        if let Some(packed) = &self.packed {
            let own_start = self.past + packed.starts[i];
            return j >= self.past && !(own_start..=absolute).contains(&j);
        }
        j != absolute && (j > absolute || j >= self.key_len[b])
    }

    /// The mask as burn wants it: true where attention is forbidden.
    ///
    /// # Shapes
    /// - returns `[batch, heads, queries, past + queries]`
    pub fn to_tensor(&self, heads: usize, device: &Device) -> Tensor<4, Bool> {
        let keys = self.keys();
        let mut values = Vec::with_capacity(self.batch * self.queries * keys);
        for b in 0..self.batch {
            for i in 0..self.queries {
                for j in 0..keys {
                    values.push(self.is_masked(b, i, j));
                }
            }
        }
        let data = TensorData::new(values, [self.batch, 1, self.queries, keys]);
        Tensor::<4, Bool>::from_data(data, device).repeat_dim(1, heads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_padding_hides_pad_keys_but_keeps_the_diagonal() {
        let mask = AttentionMask::right_padded(&[2, 3], 3);
        // Row 0, query 1 sees keys 0 and 1, not 2 (future).
        assert!(!mask.is_masked(0, 1, 0));
        assert!(!mask.is_masked(0, 1, 1));
        assert!(mask.is_masked(0, 1, 2));
        // Row 0, query 2 is padding: it sees the real keys and itself only.
        assert!(!mask.is_masked(0, 2, 1));
        assert!(!mask.is_masked(0, 2, 2));
        // Row 1 has no padding.
        assert!(!mask.is_masked(1, 2, 2));
    }

    #[test]
    fn cached_positions_are_visible_to_new_queries() {
        let mask = AttentionMask::causal(1, 2, 3);
        assert_eq!(mask.keys(), 5);
        assert!(!mask.is_masked(0, 0, 3));
        assert!(mask.is_masked(0, 0, 4));
        assert!(!mask.is_masked(0, 1, 4));
    }

    #[test]
    fn packed_segments_see_the_prefix_and_themselves_only() {
        // Two cached positions, then segments of 2 and 3 queries (packed indices 0-1, 2-4).
        let mask = AttentionMask::packed_after(&[2, 3], 2);
        assert_eq!((mask.batch(), mask.keys()), (1, 7));
        assert_eq!(mask.segments(), Some(&[2, 3][..]));
        assert_eq!(mask.positions(), vec![2, 3, 2, 3, 4]);
        let visible = |i: usize| {
            (0..mask.keys())
                .filter(|&j| !mask.is_masked(0, i, j))
                .collect::<Vec<_>>()
        };
        assert_eq!(visible(0), vec![0, 1, 2]);
        assert_eq!(visible(1), vec![0, 1, 2, 3]);
        // The second segment's first query: the prefix and its own key 4, not 2 or 3.
        assert_eq!(visible(2), vec![0, 1, 4]);
        assert_eq!(visible(4), vec![0, 1, 4, 5, 6]);
        assert_eq!(AttentionMask::causal(1, 3, 2).positions(), vec![2, 3, 4]);
    }
}
