//! splitmix64: a tiny seeded generator that gives the same stream on every platform and
//! never touches the backend's (process-global) RNG.

/// A splitmix64 stream.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    stream: reclora_core::rng::SplitMix64,
}

impl SplitMix64 {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            stream: reclora_core::rng::SplitMix64::new(seed),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.stream.next_u64()
    }

    /// Uniform in `0..bound` (`bound > 0`); the modulo bias is below 2⁻⁴⁰ for the sizes here.
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    /// Uniform in `[-bound, bound)`, from the top 24 bits.
    pub fn symmetric(&mut self, bound: f64) -> f32 {
        let unit = (self.next_u64() >> 40) as f64 / (1u64 << 24) as f64;
        ((unit * 2.0 - 1.0) * bound) as f32
    }
}

/// A seed derived from `seed` and a purpose tag, so streams for different uses differ.
pub fn derive_seed(seed: u64, tag: u64) -> u64 {
    SplitMix64::new(seed ^ tag.wrapping_mul(0xd1b5_4a32_d192_ed03)).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_values_match_the_reference_splitmix64() {
        // Reference values of splitmix64 seeded with 0 (Vigna's C implementation).
        let mut stream = SplitMix64::new(0);
        assert_eq!(stream.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(stream.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        let mut stream = SplitMix64::new(7);
        let values: Vec<f32> = (0..1000).map(|_| stream.symmetric(0.5)).collect();
        assert!(values.iter().all(|v| (-0.5..0.5).contains(v)));
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / 1000.0;
        assert!(mean.abs() < 0.05, "{mean}");
    }
}
