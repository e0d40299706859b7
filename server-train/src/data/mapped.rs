//! The memory-mapped `arrays.safetensors`: located by its header, checked once, read in place.
//!
//! Elements are decoded with `from_le_bytes` on access, so no alignment or `unsafe` casts
//! are needed, and nothing is copied at open time. `open` checks dtypes and shapes against
//! meta.json and every stored id against its range, so later reads stay in bounds.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensors};

use super::store::{FieldMeta, Meta, arrays};
use super::{DataError, StoreProblem};

/// Element range of one array inside the mapped file.
#[derive(Debug, Clone, Copy)]
pub struct Array {
    start: usize,
    len: usize,
}

/// All arrays of a prepared dataset.
#[derive(Debug)]
pub struct MappedArrays {
    mmap: Mmap,
    /// U64 `[users + 1]`.
    pub user_offsets: Array,
    /// U32 `[interactions]`.
    pub interaction_item: Array,
    /// U8 `[interactions]`.
    pub interaction_rating: Array,
    /// I64 `[interactions]`.
    pub interaction_timestamp: Array,
    /// U32 `[samples]`.
    pub sample_user: Array,
    /// U32 `[samples]`.
    pub sample_position: Array,
    /// U8 `[samples]`.
    pub sample_label: Array,
    /// U32 `[users, user fields]`.
    pub user_features: Array,
    /// U32 `[items, item fields]`.
    pub item_features: Array,
}

impl MappedArrays {
    /// Maps `path` and checks it against `meta` (whose first `user_fields` fields are the
    /// user's).
    pub fn open(path: &Path, meta: &Meta, user_fields: usize) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DataError::MissingFile {
                path: path.to_path_buf(),
                what: "prepared-dataset file (run prepare first)",
            },
            _ => DataError::io(path, e),
        })?;
        // SAFETY: the file is only read. As for any mmap reader, it must not be truncated or
        // rewritten while open; prepare replaces dataset folders by rename, never in place.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| DataError::io(path, e))?;
        let (header, metadata) = SafeTensors::read_metadata(&mmap)
            .map_err(|e| DataError::store(path, StoreProblem::Safetensors(e)))?;
        let table = Table {
            path,
            data_start: 8 + header,
            metadata,
        };
        let c = meta.counts;
        let (n, s, u, i) = (
            c.interactions as usize,
            c.samples as usize,
            c.users as usize,
            c.items as usize,
        );
        let item_fields = meta.fields.len() - user_fields;
        let mapped = Self {
            user_offsets: table.get(arrays::USER_OFFSETS, Dtype::U64, &[u + 1])?,
            interaction_item: table.get(arrays::INTERACTION_ITEM, Dtype::U32, &[n])?,
            interaction_rating: table.get(arrays::INTERACTION_RATING, Dtype::U8, &[n])?,
            interaction_timestamp: table.get(arrays::INTERACTION_TIMESTAMP, Dtype::I64, &[n])?,
            sample_user: table.get(arrays::SAMPLE_USER, Dtype::U32, &[s])?,
            sample_position: table.get(arrays::SAMPLE_POSITION, Dtype::U32, &[s])?,
            sample_label: table.get(arrays::SAMPLE_LABEL, Dtype::U8, &[s])?,
            user_features: table.get(arrays::USER_FEATURES, Dtype::U32, &[u, user_fields])?,
            item_features: table.get(arrays::ITEM_FEATURES, Dtype::U32, &[i, item_fields])?,
            mmap,
        };
        mapped.validate(path, meta, user_fields)?;
        Ok(mapped)
    }

    /// Checks every stored id against its range (one pass over the arrays).
    fn validate(&self, path: &Path, meta: &Meta, user_fields: usize) -> Result<(), DataError> {
        let range = |name, index: usize, value: u64, limit: u64| {
            DataError::store(
                path,
                StoreProblem::ValueRange {
                    name,
                    index,
                    value,
                    limit,
                },
            )
        };
        let c = meta.counts;
        let users = c.users as usize;
        let mut previous = 0u64;
        for user in 0..=users {
            let offset = self.u64(self.user_offsets, user);
            if (user == 0 && offset != 0) || offset < previous || offset > c.interactions {
                return Err(DataError::store(path, StoreProblem::Offsets { user }));
            }
            previous = offset;
        }
        if previous != c.interactions {
            return Err(DataError::store(
                path,
                StoreProblem::Offsets { user: users },
            ));
        }
        let (user_meta, item_meta) = meta.fields.split_at(user_fields);
        let item_field = &item_meta[0];
        let levels = u64::from(meta.rating_levels);
        for k in 0..c.interactions as usize {
            let item = self.u32(self.interaction_item, k);
            if item.wrapping_sub(item_field.offset) >= item_field.count {
                let limit = field_limit(item_field);
                return Err(range(arrays::INTERACTION_ITEM, k, item.into(), limit));
            }
            let rating = u64::from(self.u8(self.interaction_rating, k));
            if rating == 0 || rating > levels {
                return Err(range(arrays::INTERACTION_RATING, k, rating, levels + 1));
            }
        }
        for k in 0..c.samples as usize {
            let user = self.u32(self.sample_user, k) as usize;
            if user >= users {
                return Err(range(arrays::SAMPLE_USER, k, user as u64, users as u64));
            }
            let run = self.run(user).len() as u64;
            let position = u64::from(self.u32(self.sample_position, k));
            if position >= run {
                return Err(range(arrays::SAMPLE_POSITION, k, position, run));
            }
            let label = u64::from(self.u8(self.sample_label, k));
            if label > 1 {
                return Err(range(arrays::SAMPLE_LABEL, k, label, 2));
            }
        }
        let rows = [
            (arrays::USER_FEATURES, self.user_features, users, user_meta),
            (
                arrays::ITEM_FEATURES,
                self.item_features,
                c.items as usize,
                item_meta,
            ),
        ];
        for (name, array, count, fields) in rows {
            for row in 0..count {
                for (k, field) in fields.iter().enumerate() {
                    let index = row * fields.len() + k;
                    let id = self.u32(array, index);
                    if id.wrapping_sub(field.offset) >= field.count {
                        return Err(range(name, index, id.into(), field_limit(field)));
                    }
                }
            }
        }
        Ok(())
    }

    /// Interaction positions of local user `user`, chronological.
    pub fn run(&self, user: usize) -> std::ops::Range<usize> {
        let start = self.u64(self.user_offsets, user) as usize;
        let end = self.u64(self.user_offsets, user + 1) as usize;
        start..end.max(start)
    }

    /// Element `index` of a U32 array.
    pub fn u32(&self, array: Array, index: usize) -> u32 {
        u32::from_le_bytes(self.bytes(array, index))
    }

    /// Element `index` of a U64 array.
    pub fn u64(&self, array: Array, index: usize) -> u64 {
        u64::from_le_bytes(self.bytes(array, index))
    }

    /// Element `index` of an I64 array.
    pub fn i64(&self, array: Array, index: usize) -> i64 {
        i64::from_le_bytes(self.bytes(array, index))
    }

    /// Element `index` of a U8 array.
    pub fn u8(&self, array: Array, index: usize) -> u8 {
        u8::from_le_bytes(self.bytes(array, index))
    }

    /// The `N` bytes of element `index`; zeros past the end (unreachable after validation).
    fn bytes<const N: usize>(&self, array: Array, index: usize) -> [u8; N] {
        if index >= array.len {
            return [0; N];
        }
        let start = array.start + index * N;
        self.mmap
            .get(start..start + N)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; N])
    }
}

/// The safetensors header of the mapped file.
struct Table<'a> {
    path: &'a Path,
    data_start: usize,
    metadata: Metadata,
}

impl Table<'_> {
    /// The array `name`, checked for dtype and shape.
    fn get(&self, name: &'static str, dtype: Dtype, shape: &[usize]) -> Result<Array, DataError> {
        let problem = |problem| DataError::store(self.path, problem);
        let info = self
            .metadata
            .info(name)
            .ok_or_else(|| problem(StoreProblem::MissingArray { name }))?;
        if info.dtype != dtype {
            return Err(problem(StoreProblem::Dtype {
                name,
                found: format!("{:?}", info.dtype),
                expected: dtype_name(dtype),
            }));
        }
        if info.shape != shape {
            return Err(problem(StoreProblem::Shape {
                name,
                found: info.shape.clone(),
                expected: shape.to_vec(),
            }));
        }
        let (begin, end) = info.data_offsets;
        Ok(Array {
            start: self.data_start + begin,
            len: (end - begin) * 8 / dtype.bitsize().max(1),
        })
    }
}

fn dtype_name(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::U8 => "U8",
        Dtype::U32 => "U32",
        Dtype::U64 => "U64",
        Dtype::I64 => "I64",
        _ => "another dtype",
    }
}

/// One past the last global id of `field`.
fn field_limit(field: &FieldMeta) -> u64 {
    u64::from(field.offset) + u64::from(field.count)
}
