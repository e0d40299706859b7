//! CTR evaluation metrics: AUC, LogLoss, and a bootstrap confidence interval for AUC.
//!
//! AUC is the Mann–Whitney statistic with average ranks for tied scores, which is what
//! scikit-learn's `roc_auc_score` computes (a tie counts one half). LogLoss clips
//! probabilities to `[LOGLOSS_EPS, 1 - LOGLOSS_EPS]` with `LOGLOSS_EPS = 1e-7`, the value
//! scikit-learn used by default before 1.3 and torch's BCE users commonly apply; recent
//! scikit-learn clips at the dtype's machine epsilon instead, so the values agree whenever
//! no probability lies within 1e-7 of 0 or 1.

/// Clipping bound of [`logloss`].
pub const LOGLOSS_EPS: f64 = 1e-7;

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// Labels and scores differ in length.
    #[error("{labels} labels but {scores} scores")]
    LengthMismatch {
        /// Number of labels.
        labels: usize,
        /// Number of scores.
        scores: usize,
    },
    /// No samples at all.
    #[error("no samples")]
    Empty,
    /// AUC is undefined with a single class.
    #[error("AUC needs both classes, got {positives} positives and {negatives} negatives")]
    OneClass {
        /// Positive labels.
        positives: usize,
        /// Negative labels.
        negatives: usize,
    },
    /// A score is NaN.
    #[error("score {index} is NaN")]
    NanScore {
        /// Its position.
        index: usize,
    },
    /// A label is not 0 or 1.
    #[error("label {index} is {value}, expected 0 or 1")]
    BadLabel {
        /// Its position.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A probability is NaN or outside [0, 1].
    #[error("probability {index} is {value}, expected a number in [0, 1]")]
    BadProbability {
        /// Its position.
        index: usize,
        /// The value.
        value: f64,
    },
    /// The bootstrap was asked for zero resamples, or every resample had a single class.
    #[error("bootstrap has no usable resample ({resamples} drawn)")]
    NoResamples {
        /// Resamples drawn.
        resamples: usize,
    },
}

/// A binary label: `bool`, or a number that is exactly 0 or 1.
pub trait BinaryLabel: Copy {
    /// `Some(true)` for 1, `Some(false)` for 0, `None` otherwise.
    fn positive(self) -> Option<bool>;
    /// The value, for error messages.
    fn value(self) -> f64;
}

impl BinaryLabel for bool {
    fn positive(self) -> Option<bool> {
        Some(self)
    }
    fn value(self) -> f64 {
        f64::from(u8::from(self))
    }
}

impl BinaryLabel for f32 {
    fn positive(self) -> Option<bool> {
        f64::from(self).positive()
    }
    fn value(self) -> f64 {
        f64::from(self)
    }
}

impl BinaryLabel for f64 {
    fn positive(self) -> Option<bool> {
        if self == 1.0 {
            Some(true)
        } else if self == 0.0 {
            Some(false)
        } else {
            None
        }
    }
    fn value(self) -> f64 {
        self
    }
}

impl BinaryLabel for u8 {
    fn positive(self) -> Option<bool> {
        match self {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    fn value(self) -> f64 {
        f64::from(self)
    }
}

/// Labels as booleans, checked against the number of scores.
fn check_labels<L: BinaryLabel>(labels: &[L], scores: usize) -> Result<Vec<bool>, MetricError> {
    if labels.len() != scores {
        return Err(MetricError::LengthMismatch {
            labels: labels.len(),
            scores,
        });
    }
    if labels.is_empty() {
        return Err(MetricError::Empty);
    }
    labels
        .iter()
        .enumerate()
        .map(|(index, l)| {
            l.positive().ok_or(MetricError::BadLabel {
                index,
                value: l.value(),
            })
        })
        .collect()
}

/// Sample positions sorted by score, and the tie groups as ranges of that order.
fn tie_groups(scores: &[f32]) -> Result<(Vec<usize>, Vec<std::ops::Range<usize>>), MetricError> {
    if let Some(index) = scores.iter().position(|s| s.is_nan()) {
        return Err(MetricError::NanScore { index });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut groups = Vec::new();
    let mut start = 0;
    for end in 1..=order.len() {
        if end == order.len() || scores[order[end]] != scores[order[start]] {
            groups.push(start..end);
            start = end;
        }
    }
    Ok((order, groups))
}

/// Area under the ROC curve: (sum of positive average ranks − P(P+1)/2) / (P·N).
pub fn auc<L: BinaryLabel>(labels: &[L], scores: &[f32]) -> Result<f64, MetricError> {
    let labels = check_labels(labels, scores.len())?;
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(MetricError::OneClass {
            positives,
            negatives,
        });
    }
    let (order, groups) = tie_groups(scores)?;
    let mut positive_rank_sum = 0.0f64;
    for group in groups {
        // Ranks start..end are 1-based start+1..=end; their mean is (start + 1 + end) / 2.
        let average_rank = (group.start + 1 + group.end) as f64 / 2.0;
        let group_positives = order[group].iter().filter(|&&i| labels[i]).count();
        positive_rank_sum += average_rank * group_positives as f64;
    }
    let p = positives as f64;
    let n = negatives as f64;
    Ok((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean binary cross-entropy with probabilities clipped to `[1e-7, 1 - 1e-7]`.
pub fn logloss<L: BinaryLabel>(labels: &[L], probs: &[f32]) -> Result<f64, MetricError> {
    let labels = check_labels(labels, probs.len())?;
    let mut total = 0.0f64;
    for (index, (&label, &prob)) in labels.iter().zip(probs).enumerate() {
        let p = f64::from(prob);
        if !(0.0..=1.0).contains(&p) {
            return Err(MetricError::BadProbability { index, value: p });
        }
        let p = p.clamp(LOGLOSS_EPS, 1.0 - LOGLOSS_EPS);
        total -= if label { p.ln() } else { (1.0 - p).ln() };
    }
    Ok(total / labels.len() as f64)
}

/// 95 % percentile bootstrap interval of the AUC: `resamples` draws of n samples with
/// replacement (splitmix64 seeded by `seed`), single-class draws skipped, then the 2.5th and
/// 97.5th percentiles with linear interpolation (numpy's default).
pub fn bootstrap_auc_ci<L: BinaryLabel>(
    labels: &[L],
    scores: &[f32],
    resamples: usize,
    seed: u64,
) -> Result<(f64, f64), MetricError> {
    let labels = check_labels(labels, scores.len())?;
    let (order, groups) = tie_groups(scores)?;
    let n = labels.len();
    let mut rng = SplitMix64::new(seed);
    let mut counts = vec![0u32; n];
    let mut aucs = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        counts.fill(0);
        for _ in 0..n {
            counts[rng.below(n)] += 1;
        }
        if let Some(value) = weighted_auc(&labels, &order, &groups, &counts) {
            aucs.push(value);
        }
    }
    if aucs.is_empty() {
        return Err(MetricError::NoResamples { resamples });
    }
    aucs.sort_by(f64::total_cmp);
    Ok((percentile(&aucs, 0.025), percentile(&aucs, 0.975)))
}

/// A paired comparison of two score columns on the same rows: AUC(b) − AUC(a) and its
/// 95 % paired bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AucDifference {
    /// AUC(b) − AUC(a) on all rows.
    pub difference: f64,
    /// 2.5th and 97.5th percentiles of the resampled differences.
    pub ci: (f64, f64),
}

/// Paired percentile bootstrap of AUC(`scores_b`) − AUC(`scores_a`): each of `resamples`
/// draws takes n rows with replacement (splitmix64 seeded by `seed`, the same stream as
/// [`bootstrap_auc_ci`]) and scores both columns on the *same* rows, so the per-row
/// difficulty shared by the two models cancels; single-class draws are skipped.
pub fn paired_bootstrap_auc_difference<L: BinaryLabel>(
    labels: &[L],
    scores_a: &[f32],
    scores_b: &[f32],
    resamples: usize,
    seed: u64,
) -> Result<AucDifference, MetricError> {
    let labels = check_labels(labels, scores_a.len())?;
    if scores_b.len() != labels.len() {
        return Err(MetricError::LengthMismatch {
            labels: labels.len(),
            scores: scores_b.len(),
        });
    }
    let difference = auc(&labels, scores_b)? - auc(&labels, scores_a)?;
    let (order_a, groups_a) = tie_groups(scores_a)?;
    let (order_b, groups_b) = tie_groups(scores_b)?;
    let n = labels.len();
    let mut rng = SplitMix64::new(seed);
    let mut counts = vec![0u32; n];
    let mut differences = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        counts.fill(0);
        for _ in 0..n {
            counts[rng.below(n)] += 1;
        }
        let a = weighted_auc(&labels, &order_a, &groups_a, &counts);
        let b = weighted_auc(&labels, &order_b, &groups_b, &counts);
        if let (Some(a), Some(b)) = (a, b) {
            differences.push(b - a);
        }
    }
    if differences.is_empty() {
        return Err(MetricError::NoResamples { resamples });
    }
    differences.sort_by(f64::total_cmp);
    Ok(AucDifference {
        difference,
        ci: (
            percentile(&differences, 0.025),
            percentile(&differences, 0.975),
        ),
    })
}

/// AUC of a resample where sample `i` appears `counts[i]` times; `None` if single-class.
/// Equals [`auc`] on the resampled data: within a tie group each positive–negative pair
/// counts one half, across groups one.
fn weighted_auc(
    labels: &[bool],
    order: &[usize],
    groups: &[std::ops::Range<usize>],
    counts: &[u32],
) -> Option<f64> {
    let mut negatives_below = 0.0f64;
    let mut wins = 0.0f64;
    let mut positives = 0.0f64;
    for group in groups {
        let (mut pos, mut neg) = (0.0f64, 0.0f64);
        for &i in &order[group.clone()] {
            let c = f64::from(counts[i]);
            if labels[i] {
                pos += c;
            } else {
                neg += c;
            }
        }
        wins += pos * (negatives_below + neg / 2.0);
        negatives_below += neg;
        positives += pos;
    }
    (positives > 0.0 && negatives_below > 0.0).then(|| wins / (positives * negatives_below))
}

/// The `q` quantile of sorted, non-empty `values`, interpolating linearly.
fn percentile(values: &[f64], q: f64) -> f64 {
    let position = q * (values.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    let fraction = position - low as f64;
    values[low] + (values[high] - values[low]) * fraction
}

/// Steele, Lea & Flood's splitmix64: tiny, seedable, good enough for resampling.
#[derive(Debug, Clone)]
struct SplitMix64(reclora_core::rng::SplitMix64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(reclora_core::rng::SplitMix64::new(seed))
    }

    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; bias below 2^-32 for n < 2^32).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four samples, one tie between a positive and a negative at 0.4.
    /// Pairs (pos, neg): (0.8, 0.4)=1, (0.8, 0.2)=1, (0.4, 0.4)=½, (0.4, 0.2)=1 → 3.5 / 4.
    /// By ranks: 0.2→1, 0.4→2.5, 0.4→2.5, 0.8→4; positives 4 + 2.5 − 3 = 3.5.
    #[test]
    fn auc_by_hand_with_a_tie() {
        let labels = [1.0f32, 0.0, 1.0, 0.0];
        let scores = [0.8f32, 0.4, 0.4, 0.2];
        assert_eq!(auc(&labels, &scores).expect("auc"), 0.875);
        let bools = [true, false, true, false];
        assert_eq!(auc(&bools, &scores).expect("auc"), 0.875);
        // Perfect, inverted, and all-tied rankings.
        assert_eq!(
            auc(&[0u8, 0, 1, 1], &[0.1, 0.2, 0.3, 0.4]).expect("auc"),
            1.0
        );
        assert_eq!(
            auc(&[1u8, 1, 0, 0], &[0.1, 0.2, 0.3, 0.4]).expect("auc"),
            0.0
        );
        assert_eq!(auc(&[1u8, 0, 1], &[0.5, 0.5, 0.5]).expect("auc"), 0.5);
        // -0.0 and 0.0 are one tie group.
        assert_eq!(auc(&[1u8, 0], &[-0.0, 0.0]).expect("auc"), 0.5);
    }

    #[test]
    fn auc_errors() {
        assert!(matches!(
            auc(&[1u8, 1], &[0.1, 0.2]),
            Err(MetricError::OneClass {
                positives: 2,
                negatives: 0
            })
        ));
        assert!(matches!(
            auc(&[1u8, 0], &[0.1]),
            Err(MetricError::LengthMismatch {
                labels: 2,
                scores: 1
            })
        ));
        assert!(matches!(
            auc(&[1u8, 0], &[0.1, f32::NAN]),
            Err(MetricError::NanScore { index: 1 })
        ));
        assert!(matches!(
            auc(&[1.0f32, 0.5], &[0.1, 0.2]),
            Err(MetricError::BadLabel { index: 1, .. })
        ));
        assert!(matches!(auc::<u8>(&[], &[]), Err(MetricError::Empty)));
    }

    /// −(ln 0.8 + ln 0.6) / 2 = (0.2231435513142097 + 0.5108256237659907) / 2, and the
    /// clipped extremes −ln(1 − 1e-7) = 1.0000000494736474e-07 and −ln(1e-7) =
    /// 16.11809565095832 (`-math.log(1 - 1e-7)`, `-math.log(1e-7)` in Python).
    #[test]
    fn logloss_by_hand_and_clipping() {
        let got = logloss(&[1u8, 0], &[0.8, 0.4]).expect("logloss");
        let expected = (0.223_143_551_314_209_7 + 0.510_825_623_765_990_7) / 2.0;
        // 0.8f32 and 0.4f32 are not 0.8 and 0.4: allow their rounding (~3e-8 relative).
        assert!((got - expected).abs() < 1e-7, "{got} vs {expected}");
        let exact = logloss(&[1u8, 0], &[0.5, 0.5]).expect("logloss");
        assert!((exact - std::f64::consts::LN_2).abs() < 1e-15);
        let clipped = logloss(&[1u8, 0], &[1.0, 0.0]).expect("logloss");
        assert!((clipped - 1.000_000_049_473_647_4e-7).abs() < 1e-20);
        let worst = logloss(&[0u8], &[1.0]).expect("logloss");
        assert!((worst - 16.118_095_650_958_32).abs() < 1e-9, "{worst}");
        assert!(matches!(
            logloss(&[1u8], &[1.5]),
            Err(MetricError::BadProbability { index: 0, .. })
        ));
        assert!(matches!(
            logloss(&[1u8], &[f32::NAN]),
            Err(MetricError::BadProbability { .. })
        ));
    }

    /// scikit-learn's `roc_auc_score` and `log_loss` on 200 samples with many ties
    /// (scripts/oracle/make_metrics_fixture.py).
    #[test]
    fn matches_scikit_learn_fixture() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/metrics_sklearn.json"))
                .expect("fixture json");
        let numbers = |key: &str| -> Vec<f64> {
            fixture[key]
                .as_array()
                .expect("array")
                .iter()
                .map(|v| v.as_f64().expect("number"))
                .collect()
        };
        let labels: Vec<f32> = numbers("labels").iter().map(|&v| v as f32).collect();
        let scores: Vec<f32> = numbers("scores").iter().map(|&v| v as f32).collect();
        let probs: Vec<f32> = numbers("probs").iter().map(|&v| v as f32).collect();
        assert_eq!(labels.len(), 200);
        let distinct: std::collections::BTreeSet<u32> =
            scores.iter().map(|s| s.to_bits()).collect();
        assert!(distinct.len() <= 11, "scores are rounded to one decimal");
        let want_auc = fixture["roc_auc_score"].as_f64().expect("auc");
        let want_logloss = fixture["log_loss"].as_f64().expect("logloss");
        let got_auc = auc(&labels, &scores).expect("auc");
        let got_logloss = logloss(&labels, &probs).expect("logloss");
        assert!(
            (got_auc - want_auc).abs() <= 1e-9,
            "{got_auc} vs {want_auc}"
        );
        assert!(
            (got_logloss - want_logloss).abs() <= 1e-9,
            "{got_logloss} vs {want_logloss}"
        );
    }

    #[test]
    fn weighted_auc_with_unit_counts_is_auc() {
        let labels = [true, false, true, false, true, false, false];
        let scores = [0.9f32, 0.1, 0.5, 0.5, 0.3, 0.7, 0.3];
        let (order, groups) = tie_groups(&scores).expect("groups");
        let weighted = weighted_auc(&labels, &order, &groups, &[1; 7]).expect("auc");
        assert!((weighted - auc(&labels, &scores).expect("auc")).abs() < 1e-15);
        // Duplicating every sample leaves AUC unchanged.
        let doubled = weighted_auc(&labels, &order, &groups, &[2; 7]).expect("auc");
        assert!((doubled - weighted).abs() < 1e-15);
    }

    /// scripts/oracle/paired_bootstrap_reference.py: AUC by counting (positive, negative)
    /// pairs with multiplicities over the same splitmix64 resamples, numpy percentiles.
    #[test]
    fn paired_bootstrap_matches_the_pairwise_reference() {
        let n = 60;
        let labels: Vec<bool> = (0..n).map(|i| i % 3 != 1).collect();
        let bump = |i: usize, by: usize| if i % 3 != 1 { by } else { 0 };
        let a: Vec<f32> = (0..n)
            .map(|i| (i * 37 % 41 + bump(i, 20)) as f32 / 100.0)
            .collect();
        let b: Vec<f32> = (0..n)
            .map(|i| (i * 53 % 43 + bump(i, 30)) as f32 / 100.0)
            .collect();
        let got = paired_bootstrap_auc_difference(&labels, &a, &b, 200, 7).expect("paired");
        assert!((got.difference - 0.118_125).abs() < 1e-12, "{got:?}");
        assert!(
            (got.ci.0 - 0.019_255_208_333_333_274).abs() < 1e-12,
            "{got:?}"
        );
        assert!(
            (got.ci.1 - 0.232_803_818_105_928_04).abs() < 1e-12,
            "{got:?}"
        );
        // A column against itself: every resampled difference is 0.
        let same = paired_bootstrap_auc_difference(&labels, &a, &a, 50, 3).expect("same");
        assert_eq!((same.difference, same.ci), (0.0, (0.0, 0.0)));
        assert!(matches!(
            paired_bootstrap_auc_difference(&labels, &a, &b[..10], 10, 1),
            Err(MetricError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_auc() {
        let labels: Vec<bool> = (0..400).map(|i| i % 3 == 0).collect();
        let scores: Vec<f32> = (0..400)
            .map(|i| ((i * 37 % 101) as f32 / 100.0 + if i % 3 == 0 { 0.3 } else { 0.0 }).min(1.0))
            .collect();
        let point = auc(&labels, &scores).expect("auc");
        let (low, high) = bootstrap_auc_ci(&labels, &scores, 500, 7).expect("ci");
        assert!(low < point && point < high, "{low} {point} {high}");
        assert!(high - low < 0.2);
        assert_eq!(
            bootstrap_auc_ci(&labels, &scores, 500, 7).expect("ci"),
            (low, high)
        );
        assert_ne!(
            bootstrap_auc_ci(&labels, &scores, 500, 8).expect("ci"),
            (low, high)
        );
        assert!(matches!(
            bootstrap_auc_ci(&labels, &scores, 0, 7),
            Err(MetricError::NoResamples { resamples: 0 })
        ));
    }

    /// splitmix64 reference outputs for seed 0 (from the published C code).
    #[test]
    fn splitmix_reference_values() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], [2.5, 97.5]) == [1.075, 3.925]
        let v = [1.0, 2.0, 3.0, 4.0];
        assert!((percentile(&v, 0.025) - 1.075).abs() < 1e-12);
        assert!((percentile(&v, 0.975) - 3.925).abs() < 1e-12);
    }
}
