//! What gradient-boosted trees minimize: each loss's gradients and hessians, its value and its
//! best constant. The driver, the workers (in this process or in executor tasks) and fitted
//! ensembles all need it, so it stands below them all.

use crate::kernels::linear::sigmoid;

/// What the trees minimize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// Binary log loss on labels 0 and 1; scores are log-odds.
    BinaryLogistic,
    /// Multiclass log loss on labels `0..classes` (at least 3): one score per class, the
    /// class probabilities their softmax; each boosting round grows one tree per class.
    Softmax {
        /// The number of classes.
        classes: usize,
    },
    /// Squared error; scores are the predicted values.
    SquaredError,
}

impl Objective {
    /// The objective of a classifier over `classes` classes (binary for 2).
    pub(crate) fn classification(classes: usize) -> Self {
        if classes <= 2 {
            Objective::BinaryLogistic
        } else {
            Objective::Softmax { classes }
        }
    }

    /// Scores per row: one per class for softmax, else one. Each boosting round grows this many
    /// trees, tree `output` of a round adding to score `output`.
    pub(crate) fn outputs(self) -> usize {
        match self {
            Objective::Softmax { classes } => classes,
            Objective::BinaryLogistic | Objective::SquaredError => 1,
        }
    }

    /// The gradient and hessian of the loss in each of a row's scores (`scores`, one per
    /// output) for `label`, written to `out` (one pair per output).
    pub(crate) fn derivatives(self, scores: &[f64], label: f64, out: &mut [(f64, f64)]) {
        match self {
            Objective::BinaryLogistic => {
                let p = sigmoid(scores[0]);
                out[0] = (p - label, (p * (1.0 - p)).max(1e-16));
            }
            Objective::SquaredError => out[0] = (scores[0] - label, 1.0),
            Objective::Softmax { classes } => {
                // LightGBM's scaling of the diagonal hessian: K / (K - 1).
                let factor = classes as f64 / (classes as f64 - 1.0);
                let (max, sum) = softmax_parts(scores);
                for (class, (out, score)) in out.iter_mut().zip(scores).enumerate() {
                    let p = (score - max).exp() / sum;
                    let target = f64::from(u8::from(class as f64 == label));
                    *out = (p - target, (factor * p * (1.0 - p)).max(1e-16));
                }
            }
        }
    }

    /// The loss at a row's `scores` for `label` (log loss in its stable form; half the squared
    /// error).
    pub(crate) fn loss(self, scores: &[f64], label: f64) -> f64 {
        match self {
            Objective::BinaryLogistic => {
                let score = scores[0];
                score.max(0.0) + (-score.abs()).exp().ln_1p() - label * score
            }
            Objective::SquaredError => 0.5 * (scores[0] - label).powi(2),
            Objective::Softmax { .. } => {
                let (max, sum) = softmax_parts(scores);
                max + sum.ln() - scores[label as usize]
            }
        }
    }

    /// The constant scores (one per output) that minimize the loss, from the weighted label
    /// mean and each class's share of the weight.
    pub(crate) fn base_scores(self, mean: f64, class_shares: &[f64]) -> Vec<f64> {
        match self {
            Objective::BinaryLogistic => vec![(mean / (1.0 - mean)).ln()],
            Objective::SquaredError => vec![mean],
            // The log of each class's share (any constant added gives the same softmax); a
            // class without rows starts as if it had a millionth of them.
            Objective::Softmax { .. } => class_shares
                .iter()
                .map(|share| share.max(1e-6).ln())
                .collect(),
        }
    }
}

/// The largest score and the sum of `exp(score - largest)`: the stable parts of a softmax.
pub(crate) fn softmax_parts(scores: &[f64]) -> (f64, f64) {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (max, scores.iter().map(|score| (score - max).exp()).sum())
}
