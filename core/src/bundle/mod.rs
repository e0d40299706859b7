//! The on-device bundle: what `reclora-train export` writes and the runtime opens.
//!
//! - [`tensor_file`]: module parameters ↔ safetensors, named by module path.

mod error;
pub mod tensor_file;
#[cfg(test)]
mod tests;

pub use error::TensorFileError;
pub use tensor_file::{load_module, module_tensors, save_module, serialize_module};
