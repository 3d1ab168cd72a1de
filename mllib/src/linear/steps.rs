//! The distributed steps of linear models, each one aggregate over features and label (the last
//! column).
//!
//! - [`LogisticLossStep`]: the summed log loss and its gradient at given coefficients — one
//!   objective evaluation of L-BFGS.
//! - [`GramStep`]: the sufficient statistics of least squares, `XᵀX`, `Xᵀy` and the sums —
//!   everything a linear regression needs, in one pass.

use crate::aggregate::{add_in_chunks, PartialAggregate};
use crate::codec::count_within;
use crate::kernels::linear::{add_gram, binary_logistic, gram_len, multinomial_logistic};
use crate::udf::MAX_FEATURE_COLUMNS;
use datafusion::common::exec_err;
use datafusion::error::Result;

/// Log loss and gradient at raw-space coefficients. Partial state: `[loss, coefficient
/// gradients (outputs x dim), intercept gradients (outputs), rows with a bad label]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticLossStep {
    /// Softmax over one output per class, instead of one output for class 1.
    pub multinomial: bool,
    /// Features per row.
    pub dim: usize,
    /// Row-major `outputs x dim`.
    pub coefficients: Vec<f64>,
    /// One per output.
    pub intercepts: Vec<f64>,
}

impl LogisticLossStep {
    /// Splits a merged state into loss, coefficient gradients, intercept gradients and the count
    /// of bad labels.
    pub fn split<'a>(&self, state: &'a [f64]) -> (f64, &'a [f64], &'a [f64], f64) {
        let (loss, rest) = state.split_at(1);
        let (coefficients, rest) = rest.split_at(self.coefficients.len());
        let (intercepts, bad) = rest.split_at(self.intercepts.len());
        (loss[0], coefficients, intercepts, bad[0])
    }
}

impl PartialAggregate for LogisticLossStep {
    const NAME: &'static str = "ml_logistic_loss";
    // A NaN feature makes the row's distances, or products, NaN, and they are summed.
    const NAN_SHOWS_IN_PARTIAL: bool = true;

    fn decode(params: &[f64]) -> Result<Self> {
        let [multinomial, outputs, dim, rest @ ..] = params else {
            return exec_err!("{}: truncated parameters", Self::NAME);
        };
        let multinomial = *multinomial != 0.0;
        // One output per class when multinomial, else one; `dim` coefficients and an intercept
        // per output.
        let shape = count_within(*outputs, rest.len())
            .zip(count_within(*dim, MAX_FEATURE_COLUMNS))
            .filter(|&(outputs, dim)| {
                (outputs == 1 || (multinomial && outputs > 1))
                    && outputs.checked_mul(dim + 1) == Some(rest.len())
            });
        let Some((outputs, dim)) = shape else {
            return exec_err!("{}: corrupt coefficients in the parameters", Self::NAME);
        };
        let (coefficients, intercepts) = rest.split_at(outputs * dim);
        Ok(Self {
            multinomial,
            dim,
            coefficients: coefficients.to_vec(),
            intercepts: intercepts.to_vec(),
        })
    }

    fn encode(&self) -> Vec<f64> {
        let mut params = vec![
            f64::from(u8::from(self.multinomial)),
            self.intercepts.len() as f64,
            self.dim as f64,
        ];
        params.extend(&self.coefficients);
        params.extend(&self.intercepts);
        params
    }

    fn features(&self) -> usize {
        self.dim + 1
    }

    fn empty(&self) -> Vec<f64> {
        vec![0.0; 2 + self.coefficients.len() + self.intercepts.len()]
    }

    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
        add_in_chunks(features, partial, |columns| {
            let (labels, columns) = columns.split_last().expect("label column");
            let result = if self.multinomial {
                multinomial_logistic(columns, labels, &self.coefficients, &self.intercepts)
            } else {
                binary_logistic(columns, labels, &self.coefficients, self.intercepts[0])
            };
            let mut partial = vec![result.loss];
            partial.extend(result.coefficients);
            partial.extend(result.intercepts);
            partial.push(result.bad_labels);
            partial
        });
    }
}

/// Least-squares sufficient statistics, laid out as [`add_gram`] documents.
#[derive(Debug, Clone, PartialEq)]
pub struct GramStep {
    /// Features per row.
    pub dim: usize,
}

impl PartialAggregate for GramStep {
    const NAME: &'static str = "ml_gram";
    // A NaN feature makes the row's distances, or products, NaN, and they are summed.
    const NAN_SHOWS_IN_PARTIAL: bool = true;

    fn decode(params: &[f64]) -> Result<Self> {
        match params {
            [dim] => match count_within(*dim, MAX_FEATURE_COLUMNS) {
                Some(dim) if dim >= 1 => Ok(Self { dim }),
                _ => exec_err!("{}: corrupt parameters", Self::NAME),
            },
            _ => exec_err!("{}: corrupt parameters", Self::NAME),
        }
    }

    fn encode(&self) -> Vec<f64> {
        vec![self.dim as f64]
    }

    fn features(&self) -> usize {
        self.dim + 1
    }

    fn empty(&self) -> Vec<f64> {
        vec![0.0; gram_len(self.dim)]
    }

    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
        add_in_chunks(features, partial, |columns| {
            let (labels, columns) = columns.split_last().expect("label column");
            let mut gram = self.empty();
            add_gram(columns, labels, &mut gram);
            gram
        });
    }
}
