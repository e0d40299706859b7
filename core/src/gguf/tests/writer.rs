//! Test-only GGUF writer: builds valid files byte by byte (independently of the reader) and
//! records where each section starts, so tests can truncate or corrupt precise fields.

use crate::gguf::{GgmlType, MetadataValue};

/// Little-endian byte sink with the GGUF primitive encodings.
#[derive(Debug, Default)]
pub(super) struct RawWriter {
    pub bytes: Vec<u8>,
}

impl RawWriter {
    pub fn position(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn put(&mut self, raw: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(raw);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.put(&v.to_le_bytes())
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.put(&v.to_le_bytes())
    }

    pub fn string(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64).put(s.as_bytes())
    }

    /// GGUF header: magic, version, tensor count, metadata count.
    pub fn header(&mut self, version: u32, tensor_count: u64, kv_count: u64) -> &mut Self {
        self.put(b"GGUF")
            .u32(version)
            .u64(tensor_count)
            .u64(kv_count)
    }

    /// One metadata pair: key, value type id, value payload.
    pub fn kv(&mut self, key: &str, value: &MetadataValue) -> &mut Self {
        self.string(key).u32(value.value_type().id());
        self.value(value)
    }

    pub fn value(&mut self, value: &MetadataValue) -> &mut Self {
        match value {
            MetadataValue::U8(v) => self.put(&v.to_le_bytes()),
            MetadataValue::I8(v) => self.put(&v.to_le_bytes()),
            MetadataValue::U16(v) => self.put(&v.to_le_bytes()),
            MetadataValue::I16(v) => self.put(&v.to_le_bytes()),
            MetadataValue::U32(v) => self.put(&v.to_le_bytes()),
            MetadataValue::I32(v) => self.put(&v.to_le_bytes()),
            MetadataValue::F32(v) => self.put(&v.to_le_bytes()),
            MetadataValue::Bool(v) => self.put(&[u8::from(*v)]),
            MetadataValue::String(s) => self.string(s),
            MetadataValue::U64(v) => self.put(&v.to_le_bytes()),
            MetadataValue::I64(v) => self.put(&v.to_le_bytes()),
            MetadataValue::F64(v) => self.put(&v.to_le_bytes()),
            MetadataValue::Array(items) => {
                // Empty arrays get u8 as their element type; nothing reads it back.
                let element_type = items.first().map_or(0, |item| item.value_type().id());
                self.u32(element_type).u64(items.len() as u64);
                for item in items {
                    self.value(item);
                }
                self
            }
        }
    }

    /// One tensor info: name, n_dims, dims, type id, data offset.
    pub fn tensor_info(
        &mut self,
        name: &str,
        dims: &[u64],
        type_id: u32,
        offset: u64,
    ) -> &mut Self {
        self.string(name).u32(dims.len() as u32);
        for &d in dims {
            self.u64(d);
        }
        self.u32(type_id).u64(offset)
    }

    pub fn pad_to(&mut self, alignment: u64) -> &mut Self {
        while !self.position().is_multiple_of(alignment) {
            self.bytes.push(0);
        }
        self
    }
}

/// A tensor to write: `data` must already be encoded in `ggml_type`.
#[derive(Debug, Clone)]
pub(super) struct TestTensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    pub data: Vec<u8>,
}

/// Where the sections of a built file start (absolute byte offsets).
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub kv_starts: Vec<u64>,
    pub tensor_info_starts: Vec<u64>,
    pub data_start: u64,
    /// Offsets relative to `data_start`, as stored in the tensor infos.
    pub tensor_offsets: Vec<u64>,
}

/// Builds a valid GGUF file from metadata and tensors.
#[derive(Debug, Clone)]
pub(super) struct GgufBuilder {
    pub version: u32,
    /// Padding used for the data section; set `general.alignment` in metadata to match.
    pub alignment: u64,
    pub metadata: Vec<(String, MetadataValue)>,
    pub tensors: Vec<TestTensor>,
}

impl GgufBuilder {
    pub fn new() -> Self {
        Self {
            version: 3,
            alignment: 32,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    pub fn kv(mut self, key: &str, value: MetadataValue) -> Self {
        self.metadata.push((key.to_owned(), value));
        self
    }

    pub fn tensor(mut self, name: &str, dims: &[u64], ggml_type: GgmlType, data: Vec<u8>) -> Self {
        self.tensors.push(TestTensor {
            name: name.to_owned(),
            dims: dims.to_vec(),
            ggml_type,
            data,
        });
        self
    }

    pub fn build(&self) -> (Vec<u8>, Layout) {
        let mut w = RawWriter::default();
        w.header(
            self.version,
            self.tensors.len() as u64,
            self.metadata.len() as u64,
        );
        let mut kv_starts = Vec::new();
        for (key, value) in &self.metadata {
            kv_starts.push(w.position());
            w.kv(key, value);
        }
        let mut tensor_offsets = Vec::new();
        let mut next_offset = 0u64;
        for tensor in &self.tensors {
            tensor_offsets.push(next_offset);
            let len = tensor.data.len() as u64;
            next_offset = (next_offset + len).div_ceil(self.alignment) * self.alignment;
        }
        let mut tensor_info_starts = Vec::new();
        for (tensor, &offset) in self.tensors.iter().zip(&tensor_offsets) {
            tensor_info_starts.push(w.position());
            w.tensor_info(&tensor.name, &tensor.dims, tensor.ggml_type.id(), offset);
        }
        w.pad_to(self.alignment);
        let data_start = w.position();
        for tensor in &self.tensors {
            w.put(&tensor.data).pad_to(self.alignment);
        }
        let layout = Layout {
            kv_starts,
            tensor_info_starts,
            data_start,
            tensor_offsets,
        };
        (w.bytes, layout)
    }
}

pub(super) fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(super) fn f16_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect()
}
