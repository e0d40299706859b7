//! Turning [`Backend`] into a burn device, falling back to the CPU when no GPU adapter
//! exists, and saying why.

use std::sync::Arc;

use burn::tensor::Device;

use crate::{BackendKind, DeviceError};

use super::error::RuntimeError;
use super::options::Backend;

/// Why the GPU was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackReason {
    /// This build has no `wgpu` feature.
    NotCompiled,
    /// wgpu found no usable adapter; the text is wgpu's.
    NoAdapter(String),
    /// CUDA was asked for: not compiled in, or no CUDA device.
    Cuda(DeviceError),
}

impl std::fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotCompiled => f.write_str("this build has no wgpu backend"),
            Self::NoAdapter(why) => write!(f, "no wgpu adapter: {why}"),
            Self::Cuda(why) => write!(f, "{why}"),
        }
    }
}

/// The device the models run on, and the CPU pool that runs their kernels.
#[derive(Debug, Clone)]
pub struct ResolvedBackend {
    /// The burn device.
    pub device: Device,
    /// Which backend it is.
    pub kind: BackendKind,
    /// The CPU pool (CPU backend only).
    pub pool: Option<Arc<rayon::ThreadPool>>,
    /// Set when the GPU was asked for and the CPU is used instead.
    pub fallback: Option<FallbackReason>,
}

impl ResolvedBackend {
    /// Resolves `backend`, logging a fallback at `warn`.
    pub fn resolve(backend: Backend) -> Result<Self, RuntimeError> {
        match backend {
            Backend::Cpu { threads } => Self::cpu(threads, None),
            Backend::Wgpu => match probe_wgpu() {
                Ok(device) => Ok(Self {
                    device,
                    kind: BackendKind::Wgpu,
                    pool: None,
                    fallback: None,
                }),
                Err(reason) => {
                    tracing::warn!(%reason, "wgpu unavailable, scoring on the CPU");
                    Self::cpu(all_threads(), Some(reason))
                }
            },
            Backend::Cuda => match BackendKind::Cuda.open() {
                Ok(device) => Ok(Self {
                    device,
                    kind: BackendKind::Cuda,
                    pool: None,
                    fallback: None,
                }),
                Err(why) => {
                    let reason = FallbackReason::Cuda(why);
                    tracing::warn!(%reason, "cuda unavailable, scoring on the CPU");
                    Self::cpu(all_threads(), Some(reason))
                }
            },
        }
    }

    fn cpu(threads: usize, fallback: Option<FallbackReason>) -> Result<Self, RuntimeError> {
        let device = BackendKind::Cpu.device()?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("reclora-cpu-{i}"))
            .build()
            .map_err(|source| RuntimeError::ThreadPool { threads, source })?;
        Ok(Self {
            device,
            kind: BackendKind::Cpu,
            pool: Some(Arc::new(pool)),
            fallback,
        })
    }

    /// Runs `work` inside the CPU pool (so burn-flex and the quantized kernels use its
    /// threads), or directly on a GPU backend.
    pub fn run<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        match &self.pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }
}

fn all_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The default wgpu device, after checking that the machine has an adapter: burn's own
/// device is lazy and would panic at the first tensor instead. Checked once per process.
#[cfg(feature = "wgpu")]
fn probe_wgpu() -> Result<Device, FallbackReason> {
    static PROBE: std::sync::OnceLock<Result<(), FallbackReason>> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| {
            use burn_wgpu::wgpu::{Backends, Instance};
            let adapters = block_on(Instance::default().enumerate_adapters(Backends::PRIMARY));
            if adapters.is_empty() {
                Err(FallbackReason::NoAdapter(
                    "no Vulkan, Metal or DX12 adapter".to_owned(),
                ))
            } else {
                Ok(())
            }
        })
        .clone()?;
    BackendKind::Wgpu
        .device()
        .map_err(|_| FallbackReason::NotCompiled)
}

/// Drives a future that native wgpu completes without waiting on anything.
#[cfg(feature = "wgpu")]
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}

#[cfg(not(feature = "wgpu"))]
fn probe_wgpu() -> Result<Device, FallbackReason> {
    Err(FallbackReason::NotCompiled)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime's rule: no CUDA (device or feature) falls back to the CPU and keeps the
    /// reason. Skips, saying so, where a CUDA device exists.
    #[test]
    fn cuda_without_a_device_falls_back_to_the_cpu() {
        let resolved = ResolvedBackend::resolve(Backend::Cuda).expect("resolves");
        if resolved.kind == BackendKind::Cuda {
            eprintln!("skipped: this machine has a CUDA device");
            return;
        }
        assert_eq!(resolved.kind, BackendKind::Cpu);
        assert!(resolved.pool.is_some());
        let want = if BackendKind::Cuda.is_compiled() {
            DeviceError::NoCudaDevice
        } else {
            DeviceError::NotCompiled(crate::BackendUnavailable {
                backend: BackendKind::Cuda,
                feature: "cuda",
            })
        };
        assert_eq!(resolved.fallback, Some(FallbackReason::Cuda(want)));
    }
}
