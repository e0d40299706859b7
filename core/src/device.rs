//! Run-time backend choice. burn 0.22 picks the backend through its `Device`, so the
//! product exposes that choice instead of hard-coding one.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// Which compute backend a model runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn-flex: pure-Rust SIMD CPU backend (NEON on phones). The default.
    Cpu,
    /// burn-ndarray: the deprecated CPU backend, opt-in through the `ndarray` feature.
    Ndarray,
    /// wgpu: Vulkan, Metal or WebGPU, whichever the machine offers.
    Wgpu,
    /// CUDA: servers only, behind the `cuda` feature (its build downloads LLVM).
    Cuda,
}

/// The requested backend was not compiled into this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "backend `{backend}` is not compiled into this build (enable the cargo feature `{feature}`)"
)]
pub struct BackendUnavailable {
    /// The backend that was asked for.
    pub backend: BackendKind,
    /// The cargo feature that provides it.
    pub feature: &'static str,
}

/// A backend could not give a device: not compiled in, or no hardware for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// This build lacks the backend.
    #[error(transparent)]
    NotCompiled(#[from] BackendUnavailable),
    /// The cuda backend is compiled in but the machine has no CUDA device.
    #[error("no CUDA device on this machine (no NVIDIA driver, or the driver lists no GPU)")]
    NoCudaDevice,
}

/// The text given for a backend names none we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend `{0}`: expected one of cpu, ndarray, wgpu, cuda")]
pub struct UnknownBackend(pub String);

impl BackendKind {
    /// The cargo feature that compiles this backend in.
    pub fn feature(self) -> &'static str {
        match self {
            BackendKind::Cpu => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }

    /// Whether this build can create a device of this kind.
    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::Cpu => cfg!(feature = "flex"),
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The burn device for this backend (the first adapter or GPU for wgpu/cuda).
    ///
    /// wgpu devices are lazy: a machine with no adapter fails on first use, not here.
    pub fn device(self) -> Result<Device, BackendUnavailable> {
        let unavailable = BackendUnavailable {
            backend: self,
            feature: self.feature(),
        };
        match self {
            #[cfg(feature = "flex")]
            BackendKind::Cpu => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)] // kept as an explicit opt-in; flex is the default
            BackendKind::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "cuda")]
            BackendKind::Cuda => Ok(Device::cuda(burn::tensor::DeviceIndex::Default)),
            #[allow(unreachable_patterns)] // every arm above may be compiled out
            _ => Err(unavailable),
        }
    }
}

impl BackendKind {
    /// [`device`](Self::device), after checking that the machine has that device: burn's
    /// CUDA device is lazy and would panic at the first tensor instead.
    pub fn open(self) -> Result<Device, DeviceError> {
        let device = self.device()?;
        #[cfg(feature = "cuda")]
        if self == BackendKind::Cuda && !has_cuda_device() {
            return Err(DeviceError::NoCudaDevice);
        }
        Ok(device)
    }
}

/// Whether the CUDA driver loads and lists a GPU (cubecl asks `is_culib_present` first, so
/// a machine without the driver answers false instead of panicking). Checked once.
#[cfg(feature = "cuda")]
fn has_cuda_device() -> bool {
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| !Device::enumerate(burn::tensor::DeviceType::Cuda).is_empty())
}

/// Whether `device` is the plain CPU device: burn-flex without autodiff. Host-side
/// kernels (the quantized matmul of `crate::quant`) cost only memcpys of activations there;
/// a GPU would pay a device round trip per call, and an autodiff device would lose the
/// gradient through them. ndarray is a CPU backend too but deprecated and off by default,
/// so it answers false and gets the dense path.
pub fn is_plain_cpu(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        // Device equality compares the hardware and ignores autodiff, hence both checks.
        *device == Device::flex() && !device.is_autodiff()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        })
    }
}

impl FromStr for BackendKind {
    type Err = UnknownBackend;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(BackendKind::Cpu),
            "ndarray" => Ok(BackendKind::Ndarray),
            "wgpu" | "vulkan" | "gpu" => Ok(BackendKind::Wgpu),
            "cuda" => Ok(BackendKind::Cuda),
            _ => Err(UnknownBackend(text.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backend_names() {
        assert_eq!("cpu".parse::<BackendKind>(), Ok(BackendKind::Cpu));
        assert_eq!("WGPU".parse::<BackendKind>(), Ok(BackendKind::Wgpu));
        assert_eq!(
            "tpu".parse::<BackendKind>(),
            Err(UnknownBackend("tpu".to_string()))
        );
    }

    #[test]
    fn only_plain_flex_counts_as_the_cpu() {
        assert!(is_plain_cpu(&Device::flex()));
        assert!(!is_plain_cpu(&Device::flex().autodiff()));
        #[cfg(feature = "wgpu")]
        assert!(!is_plain_cpu(&Device::wgpu(
            burn::tensor::DeviceKind::DefaultDevice
        )));
    }

    /// Training's rule: no CUDA device (or no cuda feature) is a typed error, never a
    /// panic at the first tensor. Skips, saying so, where a CUDA device exists.
    #[test]
    fn cuda_without_a_device_is_a_typed_error() {
        match BackendKind::Cuda.open() {
            Err(DeviceError::NotCompiled(err)) => {
                assert!(!BackendKind::Cuda.is_compiled());
                assert_eq!(err.backend, BackendKind::Cuda);
            }
            Err(DeviceError::NoCudaDevice) => assert!(BackendKind::Cuda.is_compiled()),
            Ok(_) => eprintln!("skipped: this machine has a CUDA device"),
        }
    }

    #[test]
    fn uncompiled_backend_is_a_typed_error() {
        if !BackendKind::Cuda.is_compiled() {
            let err = BackendKind::Cuda.device().err();
            assert_eq!(
                err,
                Some(BackendUnavailable {
                    backend: BackendKind::Cuda,
                    feature: "cuda"
                })
            );
        }
    }
}
