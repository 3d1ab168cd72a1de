//! `LogisticRegression`: binary and multinomial logistic regression with L2 regularization,
//! fitted by L-BFGS over distributed loss and gradient aggregates.

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use datafusion::logical_expr::Expr;
use serde_json::json;

use super::scaling::Scaling;
use super::steps::LogisticLossStep;
use super::{prepare, validate_common, LinearParams};
use crate::aggregate::run;
use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::evaluation::{binary_metrics, multiclass_metrics, Metrics};
use crate::kernels::linear::{margins, sigmoid};
use crate::model::{as_float64, AnyModel};
use crate::optim::lbfgs::{minimize, LbfgsSettings};
use crate::params::{check_range, feature_exprs, setters, HandleInvalid, MAX_CLASSES};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::predict::{append_prediction, model_call, RowModel};
use crate::summary::numeric_column;

/// Whether to model two classes with one output (`Binomial`) or each class with its own
/// (`Multinomial`, softmax); `Auto` picks binomial for two classes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Family {
    /// Binomial for 2 classes, multinomial for more.
    #[default]
    Auto,
    /// One output: the log-odds of class 1.
    Binomial,
    /// One output per class.
    Multinomial,
}

/// Logistic regression of an integer class `label` (0, 1, ..., k - 1) on numeric `features`, as
/// Spark ML's `LogisticRegression`.
///
/// Minimizes `mean log loss + reg_param / 2 * ||w||²` over standardized features (the penalty
/// does not apply to intercepts) with L-BFGS; every evaluation of the objective and its gradient
/// is one aggregate over the data.
///
/// Parameters and defaults: `label = "label"`, `reg_param = 0`, `max_iter = 100`, `tol = 1e-6`
/// (stop when the objective's relative decrease falls below it), `fit_intercept = true`,
/// `family = Auto`, `threshold = 0.5` (binary: predict 1 when P(1) exceeds it),
/// `prediction_column = "prediction"` (the class, `Float64`), `probability_column =
/// "probability"` (binary: P(1); multinomial: the predicted class's probability),
/// `handle_invalid = error` (rows with a null or NaN feature or label).
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    params: LinearParams,
    family: Family,
    threshold: f64,
    probability_column: String,
}

impl LogisticRegression {
    /// Logistic regression on `features`, with the defaults above.
    pub fn new<I, S>(features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            params: LinearParams::new(features, 100),
            family: Family::Auto,
            threshold: 0.5,
            probability_column: "probability".to_string(),
        }
    }
}

setters! {
    LogisticRegression;
    /// The label column (default `label`).
    label.params: impl Into<String>;
    /// L2 regularization strength (default 0).
    reg_param.params: f64;
    /// Most L-BFGS iterations (default 100).
    max_iter.params: usize;
    /// Convergence tolerance (default 1e-6).
    tol.params: f64;
    /// Whether to fit intercepts (default `true`).
    fit_intercept.params: bool;
    /// Binomial or multinomial (default `Auto`).
    family: Family;
    /// Binary decision threshold on P(1) (default 0.5).
    threshold: f64;
    /// The predicted-class column `transform` appends (default `prediction`).
    prediction_column.params: impl Into<String>;
    /// The probability column `transform` appends (default `probability`).
    probability_column: impl Into<String>;
    /// What fitting and `transform` do with rows whose features or label are null or NaN.
    handle_invalid.params: HandleInvalid;
}

#[async_trait]
impl Estimator for LogisticRegression {
    type Model = LogisticRegressionModel;

    async fn fit(&self, data: &DataFrame) -> Result<LogisticRegressionModel> {
        validate_common(&self.params)?;
        check_range("threshold", self.threshold, 0.0, 1.0)?;
        let prepared = prepare(&self.params, data, "LogisticRegression").await?;
        let label = prepared.label_summary();
        let classes = label.max + 1.0;
        if label.min < 0.0 || label.max.fract() != 0.0 || classes > MAX_CLASSES as f64 {
            return Err(MlError::InvalidLabel {
                column: self.params.label.clone(),
                reason: format!(
                    "labels must be class indices 0, 1, 2, ...; found values from {} to {}",
                    label.min, label.max
                ),
            });
        }
        let classes = classes as usize;
        if classes < 2 {
            return Err(MlError::InvalidLabel {
                column: self.params.label.clone(),
                reason: "every row has label 0; two classes or more are needed".to_string(),
            });
        }
        let multinomial = match self.family {
            Family::Auto => classes > 2,
            Family::Binomial if classes > 2 => {
                return Err(MlError::InvalidParam {
                    param: "family",
                    reason: format!("binomial, but the label has {classes} classes"),
                })
            }
            Family::Binomial => false,
            Family::Multinomial => true,
        };
        let outputs = if multinomial { classes } else { 1 };
        let dim = self.params.features.len();
        let scaling = Scaling::new(prepared.feature_summaries(), self.params.fit_intercept);
        let rows = label.count as f64;
        let mut start = vec![0.0; outputs * dim + outputs];
        if !multinomial && self.params.fit_intercept {
            // Start from the class prior's log-odds, as Spark does: fewer iterations.
            let positive = label.mean.clamp(1e-12, 1.0 - 1e-12);
            start[dim] = (positive / (1.0 - positive)).ln();
        }
        let fit_intercept = self.params.fit_intercept;
        let reg_param = self.params.reg_param;
        let objective = |theta: Vec<f64>| {
            let scaling = &scaling;
            let prepared = &prepared;
            async move {
                let (standardized, intercepts) = theta.split_at(outputs * dim);
                let intercepts: Vec<f64> = if fit_intercept {
                    intercepts.to_vec()
                } else {
                    vec![0.0; outputs]
                };
                let (coefficients, intercepts) = scaling.to_raw(standardized, &intercepts);
                let step = LogisticLossStep {
                    multinomial,
                    dim,
                    coefficients,
                    intercepts,
                };
                let pass = run(&prepared.data, &step, prepared.columns.clone()).await?;
                let (loss, coefficient_gradient, intercept_gradient, bad_labels) =
                    step.split(&pass.value);
                if bad_labels > 0.0 {
                    return Err(MlError::InvalidLabel {
                        column: prepared.label.clone(),
                        reason: format!(
                            "{bad_labels} rows have a label that is not a class index 0..{}",
                            classes - 1
                        ),
                    });
                }
                let penalty: f64 =
                    standardized.iter().map(|w| w * w).sum::<f64>() * reg_param / 2.0;
                let mut gradient: Vec<f64> = scaling
                    .gradient_to_standardized(coefficient_gradient, intercept_gradient)
                    .iter()
                    .zip(standardized)
                    .map(|(g, w)| g / rows + reg_param * w)
                    .collect();
                gradient.extend(intercept_gradient.iter().map(|g| {
                    if fit_intercept {
                        g / rows
                    } else {
                        0.0
                    }
                }));
                Ok((loss / rows + penalty, gradient))
            }
        };
        let settings = LbfgsSettings {
            max_iter: self.params.max_iter,
            tol: self.params.tol,
            ..LbfgsSettings::default()
        };
        let minimum = minimize(objective, start, settings).await?;
        let (standardized, intercepts) = minimum.x.split_at(outputs * dim);
        let intercepts = if fit_intercept {
            intercepts.to_vec()
        } else {
            vec![0.0; outputs]
        };
        let (coefficients, intercepts) = scaling.to_raw(standardized, &intercepts);
        Ok(LogisticRegressionModel {
            features: self.params.features.clone(),
            label: self.params.label.clone(),
            scorer: LogisticScorer {
                multinomial,
                classes,
                threshold: self.threshold,
                coefficients,
                intercepts,
            },
            objective_history: minimum.history,
            iterations: minimum.iterations,
            prediction_column: self.params.prediction_column.clone(),
            probability_column: self.probability_column.clone(),
            handle_invalid: self.params.handle_invalid,
        })
    }
}

/// A fitted [`LogisticRegression`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegressionModel {
    features: Vec<String>,
    label: String,
    scorer: LogisticScorer,
    objective_history: Vec<f64>,
    iterations: usize,
    prediction_column: String,
    probability_column: String,
    handle_invalid: HandleInvalid,
}

impl LogisticRegressionModel {
    /// Raw-space coefficients: one row of one value per feature for binomial models, one row
    /// per class for multinomial ones.
    pub fn coefficients(&self) -> Vec<Vec<f64>> {
        self.scorer
            .coefficients
            .chunks(self.features.len())
            .map(<[f64]>::to_vec)
            .collect()
    }

    /// Intercepts: one (binomial) or one per class.
    pub fn intercepts(&self) -> &[f64] {
        &self.scorer.intercepts
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.scorer.classes
    }

    /// The objective (mean log loss plus penalty) at the start and after each iteration.
    pub fn objective_history(&self) -> &[f64] {
        &self.objective_history
    }

    /// L-BFGS iterations run.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// The feature columns, in coefficient order.
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// The label column it was trained on, which `evaluate` compares against.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Metrics of the model on `data` (which has the label column), in aggregates over the
    /// scored rows: binary models `roc_auc`, `pr_auc`, `log_loss`, `accuracy`, `f1`,
    /// `precision`, `recall`; multinomial ones `accuracy`, `f1` (macro) and `log_loss`.
    pub async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        let scored = self.transform(data.clone())?;
        let (prediction, probability) = (&self.prediction_column, &self.probability_column);
        if !self.scorer.multinomial {
            return binary_metrics(&scored, &self.label, probability, prediction).await;
        }
        let mut metrics =
            multiclass_metrics(&scored, &self.label, prediction, self.scorer.classes).await?;
        let mut columns = feature_exprs(data, &self.features)?;
        columns.push(numeric_column(data, &self.label)?);
        let step = LogisticLossStep {
            multinomial: true,
            dim: self.features.len(),
            coefficients: self.scorer.coefficients.clone(),
            intercepts: self.scorer.intercepts.clone(),
        };
        let pass = run(data, &step, columns).await?;
        let loss = step.split(&pass.value).0;
        metrics
            .0
            .push(("log_loss", loss / pass.valid_rows().max(1) as f64));
        Ok(metrics)
    }
}

#[async_trait]
impl AnyModel for LogisticRegressionModel {
    fn input_columns(&self) -> &[String] {
        &self.features
    }

    fn output_columns(&self) -> Vec<String> {
        vec![
            self.prediction_column.clone(),
            self.probability_column.clone(),
        ]
    }

    async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        LogisticRegressionModel::evaluate(self, data).await
    }

    fn prediction(&self, features: Vec<Expr>) -> Result<Expr> {
        let scorer = LogisticPrediction::from(self.scorer.clone());
        let call = model_call(&scorer, HandleInvalid::Keep, as_float64(features));
        Ok(call)
    }
}

impl Model for LogisticRegressionModel {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        let predicted = append_prediction(
            data,
            &LogisticPrediction::from(self.scorer.clone()),
            &self.features,
            &self.prediction_column,
            self.handle_invalid,
        )?;
        append_prediction(
            predicted,
            &LogisticProbability::from(self.scorer.clone()),
            &self.features,
            &self.probability_column,
            self.handle_invalid,
        )
    }
}

impl PersistentModel for LogisticRegressionModel {
    const MODEL_TYPE: &'static str = "logistic_regression";

    fn to_saved(&self) -> ModelParts {
        let params = json!({
            "label": self.label,
            "multinomial": self.scorer.multinomial,
            "classes": self.scorer.classes,
            "threshold": self.scorer.threshold,
            "prediction_column": self.prediction_column,
            "probability_column": self.probability_column,
            "handle_invalid": self.handle_invalid.as_str(),
            "iterations": self.iterations,
            "objective_history": self.objective_history,
        });
        let arrays = vec![
            ("coefficients", self.scorer.coefficients.clone()),
            ("intercepts", self.scorer.intercepts.clone()),
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
        let intercepts = saved.array("intercepts")?.to_vec();
        if intercepts.is_empty() || coefficients.len() != intercepts.len() * features.len() {
            return Err(saved.corrupt(format!(
                "{} coefficients and {} intercepts for {} features",
                coefficients.len(),
                intercepts.len(),
                features.len()
            )));
        }
        Ok(Self {
            features,
            label: saved.param("label")?,
            scorer: LogisticScorer {
                multinomial: saved.param("multinomial")?,
                classes: saved.param("classes")?,
                threshold: saved.param("threshold")?,
                coefficients,
                intercepts,
            },
            objective_history: saved.param("objective_history")?,
            iterations: saved.param("iterations")?,
            prediction_column: saved.param("prediction_column")?,
            probability_column: saved.param("probability_column")?,
            handle_invalid: saved.param::<String>("handle_invalid")?.parse()?,
        })
    }
}

/// What scoring needs of a logistic model.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticScorer {
    multinomial: bool,
    classes: usize,
    threshold: f64,
    coefficients: Vec<f64>,
    intercepts: Vec<f64>,
}

impl LogisticScorer {
    fn encode(&self) -> Vec<f64> {
        let mut params = vec![
            f64::from(u8::from(self.multinomial)),
            self.classes as f64,
            self.threshold,
            self.intercepts.len() as f64,
        ];
        params.extend(&self.coefficients);
        params.extend(&self.intercepts);
        params
    }

    fn decode(name: &str, params: &[f64]) -> DataFusionResult<Self> {
        let [multinomial, classes, threshold, outputs, rest @ ..] = params else {
            return exec_err!("{name}: truncated parameters");
        };
        let outputs = *outputs as usize;
        if outputs == 0 || rest.len() < outputs || !(rest.len() - outputs).is_multiple_of(outputs) {
            return exec_err!("{name}: corrupt coefficients in the parameters");
        }
        let (coefficients, intercepts) = rest.split_at(rest.len() - outputs);
        Ok(Self {
            multinomial: *multinomial != 0.0,
            classes: *classes as usize,
            threshold: *threshold,
            coefficients: coefficients.to_vec(),
            intercepts: intercepts.to_vec(),
        })
    }

    fn dim(&self) -> usize {
        self.coefficients.len() / self.intercepts.len()
    }

    /// For each row: the predicted class and its probability (binary: P(1)).
    fn score(&self, features: &[&[f64]]) -> (Vec<f64>, Vec<f64>) {
        let margin = margins(features, &self.coefficients, &self.intercepts);
        if !self.multinomial {
            let probability: Vec<f64> = margin[0].iter().map(|m| sigmoid(*m)).collect();
            let class = probability
                .iter()
                .map(|p| f64::from(u8::from(*p > self.threshold)))
                .collect();
            return (class, probability);
        }
        let rows = margin[0].len();
        (0..rows)
            .map(|row| {
                let (best, top) = margin
                    .iter()
                    .enumerate()
                    .map(|(class, m)| (class, m[row]))
                    .fold((0, f64::NEG_INFINITY), |b, c| if c.1 > b.1 { c } else { b });
                let total: f64 = margin.iter().map(|m| (m[row] - top).exp()).sum();
                (best as f64, 1.0 / total)
            })
            .unzip()
    }
}

/// One output of a logistic model as a row function: the class (`PROBABILITY = false`) or the
/// probability of class 1 (binomial) or of the predicted class (multinomial), as `Float64`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticOutput<const PROBABILITY: bool>(pub LogisticScorer);

/// The predicted class.
pub type LogisticPrediction = LogisticOutput<false>;

/// The probability.
pub type LogisticProbability = LogisticOutput<true>;

impl<const PROBABILITY: bool> From<LogisticScorer> for LogisticOutput<PROBABILITY> {
    fn from(scorer: LogisticScorer) -> Self {
        Self(scorer)
    }
}

impl<const PROBABILITY: bool> RowModel for LogisticOutput<PROBABILITY> {
    const NAME: &'static str = if PROBABILITY {
        "ml_logistic_probability"
    } else {
        "ml_logistic_predict"
    };
    const OUTPUT: DataType = DataType::Float64;

    fn decode(params: &[f64]) -> DataFusionResult<Self> {
        LogisticScorer::decode(Self::NAME, params).map(Self)
    }

    fn encode(&self) -> Vec<f64> {
        self.0.encode()
    }

    fn features(&self) -> usize {
        self.0.dim()
    }

    fn predict(&self, features: &[&[f64]]) -> DataFusionResult<ArrayRef> {
        let (class, probability) = self.0.score(features);
        let output = if PROBABILITY { probability } else { class };
        Ok(std::sync::Arc::new(Float64Array::from(output)))
    }
}
