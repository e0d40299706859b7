//! Principal component analysis of the pooled item vectors.
//!
//! Center the rows, form the `d x d` sample covariance (divided by `n - 1`), and take the
//! eigenvectors of its `dim` largest eigenvalues (nalgebra's `SymmetricEigen`). Each
//! component's sign is fixed so that its largest-magnitude entry is positive, which makes the
//! projection deterministic.

use nalgebra::{DMatrix, SymmetricEigen};

use super::LsmrError;

/// A fitted PCA: `project(x) = components · (x − mean)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// `[d]` mean of the fitted rows.
    mean: Vec<f64>,
    /// `[dim, d]` row-major unit components, largest variance first.
    components: Vec<f64>,
    /// `[dim]` variance along each component (its covariance eigenvalue).
    explained_variance: Vec<f64>,
    /// Trace of the covariance: the variance of all `d` directions together.
    total_variance: f64,
}

impl Pca {
    /// Fits `dim` components to `rows` (each of width `d`). `dim` is clamped to
    /// `min(rows, d)`.
    pub fn fit(rows: &[Vec<f32>], dim: usize) -> Result<Self, LsmrError> {
        let n = rows.len();
        let d = rows.first().map_or(0, Vec::len);
        if n == 0 || d == 0 {
            return Err(LsmrError::EmptyPcaInput { rows: n, cols: d });
        }
        if let Some(bad) = rows.iter().find(|r| r.len() != d) {
            return Err(LsmrError::Width {
                what: "PCA input rows",
                expected: d,
                found: bad.len(),
            });
        }
        if rows.iter().flatten().any(|v| !v.is_finite()) {
            return Err(LsmrError::NonFinite {
                what: "PCA input rows",
            });
        }
        let dim = dim.clamp(1, n.min(d));
        let mut mean = vec![0.0f64; d];
        for row in rows {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        let centered = DMatrix::from_fn(n, d, |i, j| f64::from(rows[i][j]) - mean[j]);
        let covariance = centered.tr_mul(&centered) / (n.saturating_sub(1).max(1) as f64);
        let total_variance = covariance.trace();
        let eigen = SymmetricEigen::new(covariance);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| {
            eigen.eigenvalues[b]
                .total_cmp(&eigen.eigenvalues[a])
                .then(a.cmp(&b))
        });
        let mut components = Vec::with_capacity(dim * d);
        let mut explained_variance = Vec::with_capacity(dim);
        for &k in &order[..dim] {
            let column = eigen.eigenvectors.column(k);
            let largest =
                column.iter().copied().fold(
                    0.0f64,
                    |best, v| if v.abs() > best.abs() { v } else { best },
                );
            let sign = if largest < 0.0 { -1.0 } else { 1.0 };
            components.extend(column.iter().map(|&v| sign * v));
            // Round-off can leave a null direction slightly negative.
            explained_variance.push(eigen.eigenvalues[k].max(0.0));
        }
        Ok(Self {
            mean,
            components,
            explained_variance,
            total_variance,
        })
    }

    /// Number of components.
    pub fn dim(&self) -> usize {
        self.explained_variance.len()
    }

    /// Width of the input vectors.
    pub fn input_dim(&self) -> usize {
        self.mean.len()
    }

    /// `[d]` mean.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// `[dim, d]` row-major components.
    pub fn components(&self) -> &[f64] {
        &self.components
    }

    /// `[dim]` variance along each component, descending.
    pub fn explained_variance(&self) -> &[f64] {
        &self.explained_variance
    }

    /// `[dim]` share of the total variance per component (0 when the data has none).
    pub fn explained_variance_ratio(&self) -> Vec<f64> {
        self.explained_variance
            .iter()
            .map(|v| {
                if self.total_variance > 0.0 {
                    v / self.total_variance
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// `[dim]` coordinates of `x` (width `d`).
    pub fn project(&self, x: &[f32]) -> Result<Vec<f32>, LsmrError> {
        let d = self.input_dim();
        if x.len() != d {
            return Err(LsmrError::Width {
                what: "vector to project",
                expected: d,
                found: x.len(),
            });
        }
        Ok(self
            .components
            .chunks_exact(d)
            .map(|component| {
                component
                    .iter()
                    .zip(x.iter().zip(&self.mean))
                    .map(|(c, (&v, m))| c * (f64::from(v) - m))
                    .sum::<f64>() as f32
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    /// Points c + t·u on a line: one component ±u (sign-fixed to +u, whose largest entry is
    /// positive), all variance on it, variance = sample variance of t, projection = t − mean t.
    #[test]
    fn lsmr_pca_points_on_a_line() {
        let u = [2.0 / 3.0, -1.0 / 3.0, 2.0 / 3.0];
        let c = [1.0, 2.0, -3.0];
        let ts = [-2.0, 0.0, 1.0, 3.0, 8.0];
        let rows: Vec<Vec<f32>> = ts
            .iter()
            .map(|t| (0..3).map(|j| (c[j] + t * u[j]) as f32).collect())
            .collect();
        let pca = Pca::fit(&rows, 1).expect("fit");
        // mean t = 2; Σ(t − 2)² = 16 + 4 + 1 + 1 + 36 = 58; / (n − 1) = 14.5.
        assert!(close(pca.explained_variance()[0], 14.5, 1e-5));
        assert!(close(pca.explained_variance_ratio()[0], 1.0, 1e-6));
        for (got, want) in pca.components().iter().zip(u) {
            assert!(close(*got, want, 1e-6), "{got} vs {want}");
        }
        for (j, m) in pca.mean().iter().enumerate() {
            assert!(close(*m, c[j] + 2.0 * u[j], 1e-6));
        }
        for (row, t) in rows.iter().zip(ts) {
            let p = pca.project(row).expect("project");
            assert!(
                close(f64::from(p[0]), t - 2.0, 1e-5),
                "{p:?} vs {}",
                t - 2.0
            );
        }
    }

    /// Four points (±a, 0), (0, ±b) rotated by 45°: mean 0, covariance eigenvalues 2a²/3 and
    /// 2b²/3 along the rotated axes (1, 1)/√2 and (−1, 1)/√2 → sign-fixed to (1, −1)/√2.
    #[test]
    fn lsmr_pca_known_covariance() {
        let (a, b) = (3.0f64, 1.0f64);
        let r = std::f64::consts::FRAC_1_SQRT_2;
        let rotate = |x: f64, y: f64| vec![(r * (x - y)) as f32, (r * (x + y)) as f32];
        let rows = vec![
            rotate(a, 0.0),
            rotate(-a, 0.0),
            rotate(0.0, b),
            rotate(0.0, -b),
        ];
        let pca = Pca::fit(&rows, 2).expect("fit");
        assert!(close(pca.explained_variance()[0], 2.0 * a * a / 3.0, 1e-5));
        assert!(close(pca.explained_variance()[1], 2.0 * b * b / 3.0, 1e-5));
        let ratio = pca.explained_variance_ratio();
        assert!(close(ratio[0], 0.9, 1e-6) && close(ratio[1], 0.1, 1e-6));
        let c = pca.components();
        // First axis: rotate(1, 0) = (r, r); second: rotate(0, 1) = (−r, r), sign-fixed.
        let want = [r, r, r, -r];
        let matches_first = close(c[0], want[0], 1e-6) && close(c[1], want[1], 1e-6);
        assert!(matches_first, "{c:?}");
        // (−r, r) and (r, −r) tie on magnitude; either is a valid, deterministic choice.
        assert!(
            close(c[2].abs(), r, 1e-6) && close(c[2], -c[3], 1e-6),
            "{c:?}"
        );
    }

    /// Random correlated data: projections are decorrelated, their variances equal the
    /// explained variances and descend, and all d components keep the total variance.
    #[test]
    fn lsmr_pca_projections_are_decorrelated_and_descending() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let (n, d) = (60, 6);
        let rows: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                let z: Vec<f64> = (0..d).map(|_| next()).collect();
                // Mix so that the columns are correlated with different scales.
                (0..d)
                    .map(|j| (z[j] * (j + 1) as f64 + z[(j + 1) % d] * 0.7 + 5.0) as f32)
                    .collect()
            })
            .collect();
        let pca = Pca::fit(&rows, d).expect("fit");
        let projected: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| {
                pca.project(r)
                    .expect("project")
                    .into_iter()
                    .map(f64::from)
                    .collect()
            })
            .collect();
        let variance = pca.explained_variance();
        for k in 0..d {
            if k > 0 {
                assert!(variance[k] <= variance[k - 1]);
            }
            for l in 0..d {
                let covariance: f64 =
                    projected.iter().map(|p| p[k] * p[l]).sum::<f64>() / (n - 1) as f64;
                let want = if k == l { variance[k] } else { 0.0 };
                assert!(
                    close(covariance, want, 1e-4),
                    "cov[{k}][{l}] = {covariance}"
                );
            }
        }
        let total: f64 = pca.explained_variance_ratio().iter().sum();
        assert!(close(total, 1.0, 1e-9), "{total}");
        // Clamped to min(n, d); fewer components keep the leading ones.
        assert_eq!(Pca::fit(&rows, 100).expect("fit").dim(), d);
        let two = Pca::fit(&rows, 2).expect("fit");
        assert_eq!(two.components(), &pca.components()[..2 * d]);
        assert_eq!(Pca::fit(&rows[..3], 100).expect("fit").dim(), 3);
    }

    #[test]
    fn lsmr_pca_rejects_bad_input() {
        assert!(matches!(
            Pca::fit(&[], 2),
            Err(LsmrError::EmptyPcaInput { rows: 0, .. })
        ));
        assert!(matches!(
            Pca::fit(&[vec![1.0, 2.0], vec![1.0]], 2),
            Err(LsmrError::Width { .. })
        ));
        assert!(matches!(
            Pca::fit(&[vec![1.0, f32::NAN]], 2),
            Err(LsmrError::NonFinite { .. })
        ));
        let pca = Pca::fit(&[vec![1.0, 2.0], vec![3.0, 5.0]], 1).expect("fit");
        assert!(pca.project(&[1.0]).is_err());
    }
}
