//! splitmix64 (Steele, Lea & Flood): the one small seeded generator of the project. Same
//! stream on every platform, and it never touches burn's process-global RNG, so a value
//! drawn from it does not depend on what other threads (other tests) draw meanwhile.

/// A splitmix64 stream.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` from the top 24 bits.
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
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

    /// Normal with the given mean and standard deviation (Box–Muller, one draw per value).
    pub fn normal(&mut self, mean: f64, std: f64) -> f32 {
        // 53-bit uniforms; u1 in (0, 1] so the logarithm is finite.
        let u1 = ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (mean + std * z) as f32
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
        // Vigna's C implementation, seed 0.
        let mut stream = SplitMix64::new(0);
        assert_eq!(stream.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(stream.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn symmetric_values_stay_in_range_and_centre() {
        let mut stream = SplitMix64::new(7);
        let values: Vec<f32> = (0..1000).map(|_| stream.symmetric(0.5)).collect();
        assert!(values.iter().all(|v| (-0.5..0.5).contains(v)));
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / 1000.0;
        // U(−0.5, 0.5) over 1000 draws: sd of the mean 0.009.
        assert!(mean.abs() < 0.05, "{mean}");
    }

    #[test]
    fn normal_draws_have_the_asked_moments() {
        let mut stream = SplitMix64::new(11);
        let n = 200_000;
        let values: Vec<f64> = (0..n).map(|_| f64::from(stream.normal(0.5, 2.0))).collect();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        // sd of the mean 2/√n = 0.0045; of the variance about 4·√(2/n) = 0.013.
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        assert!((var - 4.0).abs() < 0.06, "variance {var}");
        // P(|z| > 3) = 0.0027.
        let tails = values
            .iter()
            .filter(|v| ((*v - 0.5) / 2.0).abs() > 3.0)
            .count();
        assert!(
            (tails as f64 / n as f64 - 0.0027).abs() < 0.0008,
            "tails {tails}"
        );
    }

    #[test]
    fn derived_seeds_differ_by_tag() {
        assert_ne!(derive_seed(7, 1), derive_seed(7, 2));
        assert_eq!(derive_seed(7, 1), derive_seed(7, 1));
    }
}
