//! Dropout with a host-drawn mask on CPU devices, for DIN and the PLoRA gates.
//!
//! burn's dropout samples every element through a ChaCha-based sampler; on DIN's attention
//! activations (`[batch, 60, 256]`) that was a quarter of a CPU training step. On host
//! backends the mask is drawn here with splitmix64 instead (same Bernoulli(1 − p) law, scaled
//! by 1/(1 − p)); on GPU devices burn's own kernel is used.
//!
//! The stream (seed and call counter) belongs to the calling thread: a training loop runs
//! its forwards on one thread, so its masks depend on its own seed alone, whatever other
//! threads (parallel tests, other jobs) train meanwhile.

use std::cell::Cell;

use burn::nn::Dropout;
use burn::tensor::{Device, Tensor, TensorData};

use crate::rng::SplitMix64;

thread_local! {
    /// Seed and call counter of this thread's host masks: call `n` after
    /// `seed_host_dropout(s)` always gets the same mask, so seeded runs are reproducible.
    static HOST_MASKS: Cell<(u64, u64)> = const { Cell::new((0x5eed, 0)) };
}

/// Makes this thread's following host dropout masks a function of `seed` (and call order).
pub fn seed_host_dropout(seed: u64) {
    HOST_MASKS.set((seed, 0));
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
    let (seed, call) = HOST_MASKS.get();
    HOST_MASKS.set((seed, call + 1));
    let mut stream = SplitMix64::new(seed ^ call.wrapping_mul(0xd1b5_4a32_d192_ed03));
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
    use super::*;

    #[test]
    fn host_mask_keeps_one_minus_p_scaled() {
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
        seed_host_dropout(3);
        let a = (host_mask(64, 0.5), host_mask(64, 0.5));
        seed_host_dropout(3);
        let b = (host_mask(64, 0.5), host_mask(64, 0.5));
        assert_eq!(a, b);
        assert_ne!(a.0, a.1, "successive calls draw new masks");
    }

    #[test]
    fn another_thread_drawing_meanwhile_does_not_change_the_masks() {
        seed_host_dropout(9);
        let alone: Vec<_> = (0..4).map(|_| host_mask(32, 0.3)).collect();
        seed_host_dropout(9);
        let mut beside = Vec::new();
        std::thread::scope(|scope| {
            let other = scope.spawn(|| {
                seed_host_dropout(9);
                let mut drawn = 0;
                for _ in 0..50 {
                    drawn += usize::from(!host_mask(32, 0.3).is_empty());
                }
                drawn
            });
            beside = (0..4).map(|_| host_mask(32, 0.3)).collect();
            assert_eq!(other.join().expect("thread"), 50);
        });
        assert_eq!(alone, beside);
    }
}
