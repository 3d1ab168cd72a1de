//! Standardization inside linear fits. The optimizer works on standardized coefficients (each
//! feature divided by its standard deviation and, with an intercept, centred), which conditions
//! the problem and makes the L2 penalty treat features alike, as Spark's `standardization = true`
//! does. The data is never rewritten: raw-space coefficients go into the aggregates, and their
//! gradients come back to standardized space here.

use crate::summary::ColumnSummary;

/// Per-feature shift and scale of the standardized space.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scaling {
    means: Vec<f64>,
    std_devs: Vec<f64>,
}

impl Scaling {
    /// From the features' summaries; `center` only with an intercept (without one, shifting
    /// would change the model).
    pub(crate) fn new(features: &[ColumnSummary], center: bool) -> Self {
        Self::from_moments(
            features
                .iter()
                .map(|summary| (if center { summary.mean } else { 0.0 }, summary.std_dev()))
                .collect(),
        )
    }

    /// From `(mean, standard deviation)` pairs; NaN deviations (one row) count as 0.
    pub(crate) fn from_moments(moments: Vec<(f64, f64)>) -> Self {
        let (means, std_devs) = moments
            .into_iter()
            .map(|(mean, std_dev)| (mean, if std_dev.is_finite() { std_dev } else { 0.0 }))
            .unzip();
        Self { means, std_devs }
    }

    fn dim(&self) -> usize {
        self.means.len()
    }

    /// Raw-space coefficients and intercepts for standardized ones (row-major `outputs x dim`,
    /// then one intercept per output). A constant feature's coefficient is 0.
    pub(crate) fn to_raw(&self, standardized: &[f64], intercepts: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let dim = self.dim();
        let mut raw = vec![0.0; standardized.len()];
        let mut raw_intercepts = intercepts.to_vec();
        for (output, intercept) in raw_intercepts.iter_mut().enumerate() {
            for j in 0..dim {
                if self.std_devs[j] > 0.0 {
                    let coefficient = standardized[output * dim + j] / self.std_devs[j];
                    raw[output * dim + j] = coefficient;
                    *intercept -= coefficient * self.means[j];
                }
            }
        }
        (raw, raw_intercepts)
    }

    /// The gradient with respect to standardized coefficients, from the gradient with respect
    /// to raw ones and to the intercepts. A constant feature's entry is 0.
    pub(crate) fn gradient_to_standardized(&self, raw: &[f64], intercepts: &[f64]) -> Vec<f64> {
        let dim = self.dim();
        let mut standardized = vec![0.0; raw.len()];
        for (output, intercept) in intercepts.iter().enumerate() {
            for j in 0..dim {
                if self.std_devs[j] > 0.0 {
                    standardized[output * dim + j] =
                        (raw[output * dim + j] - self.means[j] * intercept) / self.std_devs[j];
                }
            }
        }
        standardized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_standardized_coefficients_give_the_same_margin() {
        let scaling = Scaling::from_moments(vec![(2.0, 4.0), (5.0, 0.0), (-1.0, 0.5)]);
        let (raw, intercepts) = scaling.to_raw(&[1.0, 7.0, -2.0], &[0.5]);
        assert_eq!(raw[1], 0.0, "a constant feature gets no weight");
        let x = [3.0, 5.0, 0.0];
        let raw_margin: f64 = intercepts[0] + raw.iter().zip(x).map(|(w, v)| w * v).sum::<f64>();
        let standardized_margin = 0.5 + 1.0 * (3.0 - 2.0) / 4.0 + -2.0 * (0.0 + 1.0) / 0.5;
        assert!((raw_margin - standardized_margin).abs() < 1e-12);
    }
}
