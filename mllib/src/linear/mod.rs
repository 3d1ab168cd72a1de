//! Linear models: [`LogisticRegression`] (L-BFGS over distributed loss and gradient aggregates)
//! and [`LinearRegression`] (one aggregate of least-squares statistics, then an exact solve).
//!
//! Both standardize features internally ([`scaling`]) without rewriting the data, and share the
//! parameter checks and input preparation here.

mod logistic;
mod regression;
mod scaling;
pub mod steps;

use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::Expr;

pub use logistic::{
    Family, LogisticOutput, LogisticPrediction, LogisticProbability, LogisticRegression,
    LogisticRegressionModel, LogisticScorer,
};
pub use regression::{LinearPrediction, LinearRegression, LinearRegressionModel};

use crate::error::{MlError, Result};
use crate::params::{all_valid, check_at_least, check_column_list, HandleInvalid};
use crate::summary::{numeric_column, summarize, ColumnSummary};

/// The parameters both linear estimators have.
#[derive(Debug, Clone, PartialEq)]
struct LinearParams {
    features: Vec<String>,
    label: String,
    reg_param: f64,
    max_iter: usize,
    tol: f64,
    fit_intercept: bool,
    prediction_column: String,
    handle_invalid: HandleInvalid,
}

impl LinearParams {
    fn new<I, S>(features: I, max_iter: usize) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            features: features.into_iter().map(Into::into).collect(),
            label: "label".to_string(),
            reg_param: 0.0,
            max_iter,
            tol: 1e-6,
            fit_intercept: true,
            prediction_column: "prediction".to_string(),
            handle_invalid: HandleInvalid::Error,
        }
    }
}

/// Checks the parameters both estimators share.
fn validate_common(params: &LinearParams) -> Result<()> {
    check_column_list("features", &params.features)?;
    if params.features.contains(&params.label) {
        return Err(MlError::InvalidParam {
            param: "label",
            reason: format!("'{}' is also a feature", params.label),
        });
    }
    check_at_least("reg_param", params.reg_param, 0.0)?;
    check_at_least("tol", params.tol, 0.0)
}

/// The training rows and columns: `Float64` features then the label, over `data` without the
/// rows a `skip`/`keep` policy ignores.
fn training_columns(params: &LinearParams, data: &DataFrame) -> Result<(DataFrame, Vec<Expr>)> {
    let mut columns = params
        .features
        .iter()
        .map(|feature| numeric_column(data, feature))
        .collect::<Result<Vec<_>>>()?;
    columns.push(numeric_column(data, &params.label)?);
    let data = match params.handle_invalid {
        HandleInvalid::Error => data.clone(),
        HandleInvalid::Skip | HandleInvalid::Keep => data.clone().filter(all_valid(&columns))?,
    };
    Ok((data, columns))
}

/// Training input with its column statistics, checked.
struct Prepared {
    data: DataFrame,
    columns: Vec<Expr>,
    summaries: Vec<ColumnSummary>,
    label: String,
}

impl Prepared {
    fn feature_summaries(&self) -> &[ColumnSummary] {
        &self.summaries[..self.summaries.len() - 1]
    }

    fn label_summary(&self) -> &ColumnSummary {
        &self.summaries[self.summaries.len() - 1]
    }
}

/// Reads the statistics of features and label (one aggregate) and checks them against the
/// invalid-value policy and for emptiness.
async fn prepare(
    params: &LinearParams,
    data: &DataFrame,
    estimator: &'static str,
) -> Result<Prepared> {
    let (data, columns) = training_columns(params, data)?;
    let mut names = params.features.clone();
    names.push(params.label.clone());
    let summaries = summarize(&data, &names).await?;
    if let Some(invalid) = summaries
        .iter()
        .find(|summary| summary.null_count + summary.nan_count > 0)
    {
        // Only under `error`: the other policies filtered these rows out.
        return Err(MlError::InvalidValues {
            column: invalid.column.clone(),
            values: invalid.null_count + invalid.nan_count,
        });
    }
    let label = &summaries[summaries.len() - 1];
    if label.count == 0 {
        return Err(MlError::NotEnoughRows {
            estimator,
            reason: format!(
                "no rows with valid features and label ({} rows in the input)",
                label.rows
            ),
        });
    }
    Ok(Prepared {
        data,
        columns,
        summaries,
        label: params.label.clone(),
    })
}

#[cfg(test)]
mod tests;
