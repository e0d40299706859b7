//! A burn module's float parameters as a safetensors file, named by module path
//! (`layers.0.projections.1.bank.a`), and back into a module of the same config.

use std::collections::HashSet;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use super::error::TensorFileError;

/// Every float parameter of `module` as `(path, f32 data)`, in visit order.
pub fn module_tensors<M: Module>(module: &M) -> Vec<(String, TensorData)> {
    struct Collect {
        path: Vec<String>,
        tensors: Vec<(String, TensorData)>,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_owned());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let data = param.val().into_data().convert::<f32>();
            self.tensors.push((self.path.join("."), data));
        }
    }
    let mut collect = Collect {
        path: Vec::new(),
        tensors: Vec::new(),
    };
    module.visit(&mut collect);
    collect.tensors
}

/// The safetensors bytes of `module`'s float parameters (f32, little-endian).
pub fn serialize_module<M: Module>(module: &M) -> Result<Vec<u8>, TensorFileError> {
    serialize_module_as(module, Dtype::F32)
}

/// The safetensors bytes of `module`'s float parameters stored as `dtype`: F32, or F16
/// (rounded to nearest even, half the bytes; [`load_module`] reads both back as f32).
///
/// # Panics
/// On any other `dtype` (a programming error: the callers pass a constant).
pub fn serialize_module_as<M: Module>(
    module: &M,
    dtype: Dtype,
) -> Result<Vec<u8>, TensorFileError> {
    let tensors = module_tensors(module);
    let stored: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, data)| {
            let shape = data.shape().to_vec();
            let bytes = match dtype {
                Dtype::F32 => data.as_bytes().to_vec(),
                Dtype::F16 => data
                    .iter::<f32>()
                    .flat_map(|v| half::f16::from_f32(v).to_le_bytes())
                    .collect(),
                other => panic!("serialize_module_as: {other:?} is not a stored float type"),
            };
            (name, shape, bytes)
        })
        .collect();
    let views = stored
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(safetensors::serialize(views, None)?)
}

/// Writes `module`'s float parameters to `path`.
pub fn save_module<M: Module>(module: &M, path: &Path) -> Result<(), TensorFileError> {
    let bytes = serialize_module(module)?;
    std::fs::write(path, bytes).map_err(|source| TensorFileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `module` (built from the same config) with every float parameter replaced by the
/// tensor of the same path in `bytes`; names, dtypes and shapes must all match.
pub fn load_module<M: Module>(module: M, bytes: &[u8]) -> Result<M, TensorFileError> {
    let file = SafeTensors::deserialize(bytes)?;
    struct Fill<'a> {
        file: &'a SafeTensors<'a>,
        path: Vec<String>,
        used: HashSet<String>,
        error: Option<TensorFileError>,
    }
    impl ModuleMapper for Fill<'_> {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_owned());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if self.error.is_some() {
                return param;
            }
            let name = self.path.join(".");
            let expected = param.lazy_shape().to_vec();
            match read_f32(self.file, &name, &expected) {
                Ok(data) => {
                    self.used.insert(name);
                    param.map(|tensor| Tensor::from_data(data, &tensor.device()))
                }
                Err(error) => {
                    self.error = Some(error);
                    param
                }
            }
        }
    }
    let mut fill = Fill {
        file: &file,
        path: Vec::new(),
        used: HashSet::new(),
        error: None,
    };
    let module = module.map(&mut fill);
    if let Some(error) = fill.error {
        return Err(error);
    }
    let mut extra: Vec<String> = file
        .names()
        .into_iter()
        .filter(|name| !fill.used.contains(*name))
        .map(str::to_owned)
        .collect();
    extra.sort();
    if let Some(name) = extra.into_iter().next() {
        return Err(TensorFileError::Unexpected { name });
    }
    Ok(module)
}

fn read_f32(
    file: &SafeTensors<'_>,
    name: &str,
    expected: &[usize],
) -> Result<TensorData, TensorFileError> {
    let view = file.tensor(name).map_err(|_| TensorFileError::Missing {
        name: name.to_owned(),
    })?;
    if !matches!(view.dtype(), Dtype::F32 | Dtype::F16) {
        return Err(TensorFileError::Dtype {
            name: name.to_owned(),
            found: format!("{:?}", view.dtype()),
        });
    }
    if view.shape() != expected {
        return Err(TensorFileError::Shape {
            name: name.to_owned(),
            expected: expected.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let values = match view.dtype() {
        Dtype::F16 => finite_f16_le(view.data()),
        _ => finite_f32_le(view.data()),
    }
    .map_err(|index| TensorFileError::NonFinite {
        name: name.to_owned(),
        index,
    })?;
    Ok(TensorData::new(values, expected.to_vec()))
}

/// Little-endian f16 values of `bytes` as f32, or the index of the first NaN or infinity.
fn finite_f16_le(bytes: &[u8]) -> Result<Vec<f32>, usize> {
    let values: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect();
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(index),
        None => Ok(values),
    }
}

/// Little-endian f32 values of `bytes`, or the index of the first NaN or infinity.
pub(crate) fn finite_f32_le(bytes: &[u8]) -> Result<Vec<f32>, usize> {
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(index),
        None => Ok(values),
    }
}
