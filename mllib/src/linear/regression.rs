//! `LinearRegression`: least squares with L2 or elastic-net regularization, from ONE aggregate
//! of sufficient statistics (`XᵀX`, `Xᵀy`, sums) and an exact solve in the driver — Spark's
//! "normal" solver. The statistics take `O(dim²)` numbers, so this suits up to a few thousand
//! features.

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use serde_json::json;

use super::scaling::Scaling;
use super::steps::GramStep;
use super::{training_columns, validate_common, LinearParams};
use crate::aggregate::run;
use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::evaluation::{regression_metrics, Metrics};
use crate::kernels::linear::margins;
use crate::params::{check_range, setters, HandleInvalid};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::predict::{scored_model, RowModel};

/// Linear regression of a numeric `label` on numeric `features`, as Spark ML's
/// `LinearRegression`.
///
/// Minimizes `1/(2n) Σ (y - ŷ)² + reg_param * (elastic_net_param * ||w||₁ + (1 -
/// elastic_net_param) / 2 * ||w||²)` over standardized features (sample standard deviation; the
/// intercept is not penalized). With `elastic_net_param = 0` (ridge, or plain least squares when
/// `reg_param = 0`) the solution is exact (Cholesky); otherwise coordinate descent runs until no
/// coefficient changes by more than `tol` or `max_iter` sweeps. A constant feature gets
/// coefficient 0. Exactly collinear features without regularization fail with a clear error.
///
/// Parameters and defaults: `label = "label"`, `reg_param = 0`, `elastic_net_param = 0`,
/// `max_iter = 100`, `tol = 1e-6`, `fit_intercept = true`, `prediction_column = "prediction"`,
/// `handle_invalid = error` (rows with a null or NaN feature or label).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearRegression {
    params: LinearParams,
    elastic_net_param: f64,
}

impl LinearRegression {
    /// Linear regression on `features`, with the defaults above.
    pub fn new<I, S>(features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            params: LinearParams::new(features, 100),
            elastic_net_param: 0.0,
        }
    }
}

setters! {
    LinearRegression;
    /// The label column (default `label`).
    label.params: impl Into<String>;
    /// Regularization strength (default 0).
    reg_param.params: f64;
    /// The L1 share of the penalty, in [0, 1] (default 0: ridge).
    elastic_net_param: f64;
    /// Most coordinate-descent sweeps (default 100; elastic net only).
    max_iter.params: usize;
    /// Coordinate-descent tolerance (default 1e-6; elastic net only).
    tol.params: f64;
    /// Whether to fit an intercept (default `true`).
    fit_intercept.params: bool;
    /// The column `transform` appends (default `prediction`).
    prediction_column.params: impl Into<String>;
    /// What fitting and `transform` do with rows whose features or label are null or NaN.
    handle_invalid.params: HandleInvalid;
}

#[async_trait]
impl Estimator for LinearRegression {
    type Model = LinearRegressionModel;

    async fn fit(&self, data: &DataFrame) -> Result<LinearRegressionModel> {
        validate_common(&self.params)?;
        check_range("elastic_net_param", self.elastic_net_param, 0.0, 1.0)?;
        let (data, columns) = training_columns(&self.params, data)?;
        let dim = self.params.features.len();
        let step = GramStep { dim };
        let pass = run(&data, &step, columns).await?;
        self.params
            .handle_invalid
            .check_fit(pass.invalid_rows, &self.params.features)?;
        if pass.valid_rows() == 0 {
            return Err(MlError::NotEnoughRows {
                estimator: "LinearRegression",
                reason: format!(
                    "no rows with valid features and label ({} rows in the input)",
                    pass.rows
                ),
            });
        }
        let gram = Gram::new(dim, pass.valid_rows() as f64, &pass.value);
        let (coefficients, intercept) = self.solve(&gram)?;
        let (rmse, r2) = gram.fit_quality(&coefficients, intercept);
        Ok(LinearRegressionModel {
            features: self.params.features.clone(),
            label: self.params.label.clone(),
            coefficients,
            intercept,
            training_rmse: rmse,
            training_r2: r2,
            prediction_column: self.params.prediction_column.clone(),
            handle_invalid: self.params.handle_invalid,
        })
    }
}

impl LinearRegression {
    /// Raw-space coefficients and intercept minimizing the objective for these statistics.
    fn solve(&self, gram: &Gram) -> Result<(Vec<f64>, f64)> {
        let dim = gram.dim;
        let center = self.params.fit_intercept;
        let means: Vec<f64> = (0..dim).map(|j| gram.sums[j] / gram.rows).collect();
        let label_mean = gram.label_sum / gram.rows;
        let std_devs: Vec<f64> = (0..dim)
            .map(|j| {
                let variance = gram.product(j, j) / gram.rows - means[j] * means[j];
                (variance.max(0.0) * gram.rows / (gram.rows - 1.0).max(1.0)).sqrt()
            })
            .collect();
        let shift = |j: usize| if center { means[j] } else { 0.0 };
        let label_shift = if center { label_mean } else { 0.0 };
        let kept: Vec<usize> = (0..dim).filter(|j| std_devs[*j] > 0.0).collect();
        // The (centred when fitting an intercept) second moments of the standardized features.
        let matrix: Vec<Vec<f64>> = kept
            .iter()
            .map(|&j| {
                kept.iter()
                    .map(|&k| {
                        (gram.product(j, k) / gram.rows - shift(j) * shift(k))
                            / (std_devs[j] * std_devs[k])
                    })
                    .collect()
            })
            .collect();
        let target: Vec<f64> = kept
            .iter()
            .map(|&j| (gram.label_products[j] / gram.rows - shift(j) * label_shift) / std_devs[j])
            .collect();
        let (lambda, alpha) = (self.params.reg_param, self.elastic_net_param);
        let solution = if alpha * lambda == 0.0 {
            let mut ridge = matrix.clone();
            for (j, row) in ridge.iter_mut().enumerate() {
                row[j] += lambda;
            }
            cholesky_solve(&ridge, &target).ok_or_else(|| MlError::NotEnoughRows {
                estimator: "LinearRegression",
                reason: "the features are collinear (or there are fewer rows than features); \
                         set reg_param > 0"
                    .to_string(),
            })?
        } else {
            coordinate_descent(
                &matrix,
                &target,
                lambda,
                alpha,
                self.params.max_iter,
                self.params.tol,
            )
        };
        let mut standardized = vec![0.0; dim];
        for (value, &j) in solution.iter().zip(&kept) {
            standardized[j] = *value;
        }
        let scaling = Scaling::from_moments((0..dim).map(|j| (shift(j), std_devs[j])).collect());
        let (coefficients, intercepts) = scaling.to_raw(&standardized, &[label_shift]);
        Ok((coefficients, intercepts[0]))
    }
}

/// The merged statistics of a [`GramStep`], unpacked.
struct Gram<'a> {
    dim: usize,
    rows: f64,
    sums: &'a [f64],
    label_sum: f64,
    products: &'a [f64],
    label_products: &'a [f64],
    label_squares: f64,
}

impl<'a> Gram<'a> {
    fn new(dim: usize, rows: f64, state: &'a [f64]) -> Self {
        let (sums, rest) = state.split_at(dim);
        let (label_sum, rest) = rest.split_first().expect("gram layout");
        let (products, rest) = rest.split_at(dim * (dim + 1) / 2);
        let (label_products, rest) = rest.split_at(dim);
        Self {
            dim,
            rows,
            sums,
            label_sum: *label_sum,
            products,
            label_products,
            label_squares: rest[0],
        }
    }

    /// `Σ x_j x_k`.
    fn product(&self, j: usize, k: usize) -> f64 {
        let (j, k) = (j.min(k), j.max(k));
        // Row j of the upper triangle starts after rows 0..j, of dim - i entries each.
        let start = j * self.dim - j * j.saturating_sub(1) / 2;
        self.products[start + k - j]
    }

    /// Training RMSE and R² of `coefficients` and `intercept`, from the statistics alone.
    fn fit_quality(&self, coefficients: &[f64], intercept: f64) -> (f64, f64) {
        let dim = self.dim;
        let mut quadratic = 0.0;
        for j in 0..dim {
            for k in 0..dim {
                quadratic += coefficients[j] * coefficients[k] * self.product(j, k);
            }
        }
        let cross: f64 = (0..dim)
            .map(|j| coefficients[j] * self.label_products[j])
            .sum();
        let linear: f64 = (0..dim).map(|j| coefficients[j] * self.sums[j]).sum();
        let squared_error = self.label_squares - 2.0 * (intercept * self.label_sum + cross)
            + quadratic
            + 2.0 * intercept * linear
            + self.rows * intercept * intercept;
        let total = self.label_squares - self.label_sum * self.label_sum / self.rows;
        let squared_error = squared_error.max(0.0);
        (
            (squared_error / self.rows).sqrt(),
            1.0 - squared_error / total,
        )
    }
}

/// Solves `a x = b` for symmetric positive definite `a`; `None` when it is not (numerically).
fn cholesky_solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut lower = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| lower[i][k] * lower[j][k]).sum();
            if i == j {
                let pivot = a[i][i] - sum;
                if pivot <= 1e-12 * a[i][i].abs().max(1.0) {
                    return None;
                }
                lower[i][i] = pivot.sqrt();
            } else {
                lower[i][j] = (a[i][j] - sum) / lower[j][j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| lower[i][k] * y[k]).sum::<f64>()) / lower[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| lower[k][i] * x[k]).sum::<f64>()) / lower[i][i];
    }
    Some(x)
}

/// Minimizes `wᵀAw/2 - bᵀw + λ(α||w||₁ + (1-α)/2 ||w||²)` by cyclic coordinate descent with
/// soft thresholding (Friedman, Hastie and Tibshirani's covariance updates).
fn coordinate_descent(
    a: &[Vec<f64>],
    b: &[f64],
    lambda: f64,
    alpha: f64,
    sweeps: usize,
    tol: f64,
) -> Vec<f64> {
    let n = b.len();
    let mut w = vec![0.0; n];
    for _ in 0..sweeps.max(1) {
        let mut largest_change: f64 = 0.0;
        for j in 0..n {
            let residual = b[j]
                - (0..n)
                    .filter(|k| *k != j)
                    .map(|k| a[j][k] * w[k])
                    .sum::<f64>();
            let shrunk = residual.signum() * (residual.abs() - lambda * alpha).max(0.0);
            let updated = shrunk / (a[j][j] + lambda * (1.0 - alpha));
            largest_change = largest_change.max((updated - w[j]).abs());
            w[j] = updated;
        }
        if largest_change <= tol {
            break;
        }
    }
    w
}

/// A fitted [`LinearRegression`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinearRegressionModel {
    features: Vec<String>,
    label: String,
    coefficients: Vec<f64>,
    intercept: f64,
    training_rmse: f64,
    training_r2: f64,
    prediction_column: String,
    handle_invalid: HandleInvalid,
}

impl LinearRegressionModel {
    /// Raw-space coefficients, one per feature.
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    /// The intercept.
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// Root mean squared error on the training rows.
    pub fn training_rmse(&self) -> f64 {
        self.training_rmse
    }

    /// R² on the training rows.
    pub fn training_r2(&self) -> f64 {
        self.training_r2
    }

    /// The feature columns, in coefficient order.
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// The label column it was trained on, which `evaluate` compares against.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `rmse`, `mse`, `mae` and `r2` of the model's predictions on `data` (which has the label
    /// column), as one aggregate.
    pub async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        let scored = self.transform(data.clone())?;
        regression_metrics(&scored, &self.label, &self.prediction_column).await
    }
}

impl LinearRegressionModel {
    /// The prediction function's model.
    pub(crate) fn scorer(&self) -> LinearPrediction {
        LinearPrediction {
            coefficients: self.coefficients.clone(),
            intercept: self.intercept,
        }
    }
}

scored_model!(LinearRegressionModel, DataType::Float64);

impl PersistentModel for LinearRegressionModel {
    const MODEL_TYPE: &'static str = "linear_regression";

    fn to_saved(&self) -> ModelParts {
        let params = json!({
            "label": self.label,
            "prediction_column": self.prediction_column,
            "handle_invalid": self.handle_invalid.as_str(),
            "training_rmse": self.training_rmse,
            "training_r2": self.training_r2,
        });
        let arrays = vec![
            ("coefficients", self.coefficients.clone()),
            ("intercept", vec![self.intercept]),
        ];
        ModelParts {
            features: self.features.clone(),
            params,
            arrays,
        }
    }

    fn from_saved(saved: &SavedModel) -> Result<Self> {
        let features = saved.metadata.features.clone();
        let coefficients = saved.array("coefficients")?.to_vec();
        let &[intercept] = saved.array("intercept")? else {
            return Err(saved.corrupt("the intercept is not one value".to_string()));
        };
        if coefficients.len() != features.len() {
            return Err(saved.corrupt(format!(
                "{} coefficients for {} features",
                coefficients.len(),
                features.len()
            )));
        }
        Ok(Self {
            features,
            label: saved.param("label")?,
            coefficients,
            intercept,
            training_rmse: saved.param("training_rmse")?,
            training_r2: saved.param("training_r2")?,
            prediction_column: saved.param("prediction_column")?,
            handle_invalid: saved.param::<String>("handle_invalid")?.parse()?,
        })
    }
}

/// Prediction: `intercept + Σ coefficient * feature`, as `Float64`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearPrediction {
    /// One per feature.
    pub coefficients: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
}

impl RowModel for LinearPrediction {
    const NAME: &'static str = "ml_linear_predict";
    const OUTPUT: DataType = DataType::Float64;

    fn decode(params: &[f64]) -> DataFusionResult<Self> {
        match params.split_last() {
            Some((intercept, coefficients)) if !coefficients.is_empty() => Ok(Self {
                coefficients: coefficients.to_vec(),
                intercept: *intercept,
            }),
            _ => exec_err!("{}: corrupt parameters", Self::NAME),
        }
    }

    fn encode(&self) -> Vec<f64> {
        let mut params = self.coefficients.clone();
        params.push(self.intercept);
        params
    }

    fn features(&self) -> usize {
        self.coefficients.len()
    }

    fn predict(&self, features: &[&[f64]]) -> DataFusionResult<ArrayRef> {
        let prediction = margins(features, &self.coefficients, &[self.intercept]).remove(0);
        Ok(std::sync::Arc::new(Float64Array::from(prediction)))
    }
}
