//! Dropout with a host-drawn mask on CPU devices.
//!
//! burn's dropout samples every element through a ChaCha-based sampler; on DIN's attention
//! activations (`[batch, 60, 256]`) that was a quarter of a CPU training step. On host
//! backends the mask is drawn here with splitmix64 instead (same Bernoulli(1 − p) law, scaled
//! by 1/(1 − p)); on GPU devices burn's own kernel is used.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::nn::Dropout;
use burn::tensor::{Device, Tensor, TensorData};

use crate::rng::SplitMix64;

/// Seed and call counter of the host masks: call `n` after `seed_host_dropout(s)` always gets
/// the same mask, so seeded runs are reproducible.
static HOST_MASK_SEED: AtomicU64 = AtomicU64::new(0x5eed);
static HOST_MASK_CALLS: AtomicU64 = AtomicU64::new(0);

/// Makes the following host dropout masks a function of `seed` (and call order).
pub fn seed_host_dropout(seed: u64) {
    HOST_MASK_SEED.store(seed, Ordering::SeqCst);
    HOST_MASK_CALLS.store(0, Ordering::SeqCst);
}

fn is_host_device(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    if *device == Device::ndarray() {
        return true;
    }
    let _ = device;
    false
}

/// `len` values, each 1/(1 − p) with probability 1 − p and 0 otherwise.
fn host_mask(len: usize, prob: f64) -> Vec<f32> {
    let call = HOST_MASK_CALLS.fetch_add(1, Ordering::SeqCst);
    let mut stream = SplitMix64::new(
        HOST_MASK_SEED.load(Ordering::SeqCst) ^ call.wrapping_mul(0xd1b5_4a32_d192_ed03),
    );
    // Compare 32-bit uniforms against p·2³², two per 64-bit draw.
    let threshold = (prob * 4_294_967_296.0) as u64;
    let kept = (1.0 / (1.0 - prob)) as f32;
    let mut mask = Vec::with_capacity(len);
    while mask.len() < len {
        let bits = stream.next_u64();
        for half in [bits & 0xffff_ffff, bits >> 32] {
            if mask.len() < len {
                mask.push(if half >= threshold { kept } else { 0.0 });
            }
        }
    }
    mask
}

/// `layer.forward(input)`, with the mask drawn on the host when `input` lives on a CPU device.
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    let device = input.device();
    let active = layer.training.is_enabled() && device.is_autodiff() && layer.prob > 0.0;
    if !active || !is_host_device(&device) {
        return layer.forward(input);
    }
    let shape = input.shape();
    let mask = host_mask(shape.num_elements(), layer.prob);
    input * Tensor::<D>::from_data(TensorData::new(mask, shape), &device)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// The mask counter is process-global: tests that read it take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn host_mask_keeps_one_minus_p_scaled() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        seed_host_dropout(7);
        let mask = host_mask(200_000, 0.1);
        let zeros = mask.iter().filter(|&&m| m == 0.0).count() as f64 / mask.len() as f64;
        // Binomial(200k, 0.1): sd of the fraction is 0.00067.
        assert!((zeros - 0.1).abs() < 0.004, "dropped fraction {zeros}");
        let mean = mask.iter().map(|&m| f64::from(m)).sum::<f64>() / mask.len() as f64;
        assert!((mean - 1.0).abs() < 0.005, "mean {mean}");
        assert!(
            mask.iter()
                .all(|&m| m == 0.0 || (m - 1.0 / 0.9).abs() < 1e-6)
        );
    }

    #[test]
    fn host_masks_are_reproducible_after_seeding() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        seed_host_dropout(3);
        let a = (host_mask(64, 0.5), host_mask(64, 0.5));
        seed_host_dropout(3);
        let b = (host_mask(64, 0.5), host_mask(64, 0.5));
        assert_eq!(a, b);
        assert_ne!(a.0, a.1, "successive calls draw new masks");
    }
}
