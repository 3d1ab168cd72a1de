//! `Imputer`: replaces missing values by each column's mean, median or most frequent value.

use async_trait::async_trait;
use datafusion::common::cast::as_float64_array;
use datafusion::dataframe::DataFrame;
use datafusion::functions::expr_fn::isnan;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{col, lit, when, Expr, SortExpr};
use serde_json::json;

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::kernels::quantile::DEFAULT_K;
use crate::model::{append_columns, as_float64, AnyModel};
use crate::params::{check_absent, feature_exprs, output_columns_builder, setters, Columns};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::quantiles::approx_quantiles;
use crate::summary::summarize;

/// The value an [`Imputer`] fills in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImputeStrategy {
    /// The mean of the present values (the default).
    #[default]
    Mean,
    /// Their median, from the quantile sketch of [`crate::quantiles`] (rank error within the
    /// bound it reports: 0.2% of the values at a million).
    Median,
    /// The most frequent present value; ties go to the smallest (scikit-learn's and Spark's
    /// `mode`).
    MostFrequent,
}

impl ImputeStrategy {
    /// The strategy's name: `mean`, `median` or `most_frequent`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImputeStrategy::Mean => "mean",
            ImputeStrategy::Median => "median",
            ImputeStrategy::MostFrequent => "most_frequent",
        }
    }
}

impl std::str::FromStr for ImputeStrategy {
    type Err = MlError;

    fn from_str(value: &str) -> Result<Self> {
        match value.to_ascii_lowercase().as_str() {
            "mean" => Ok(ImputeStrategy::Mean),
            "median" => Ok(ImputeStrategy::Median),
            "most_frequent" | "mode" => Ok(ImputeStrategy::MostFrequent),
            _ => Err(MlError::InvalidParam {
                param: "strategy",
                reason: format!("'{value}' is not one of mean, median, most_frequent"),
            }),
        }
    }
}

/// Fills missing values of numeric columns, as Spark ML's `Imputer` (and scikit-learn's
/// `SimpleImputer`): a value is missing when it is null, NaN, or equal to `missing_value`
/// (default NaN, i.e. only null and NaN). The fill value (the *surrogate*) of each column is
/// computed from its present values by [`ImputeStrategy`], in one distributed pass (a summary,
/// a sketch, or a `GROUP BY` per column for `most_frequent`). Output columns (`Float64`) default
/// to `<input>_imputed`; a column without any present value fails the fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Imputer {
    columns: Columns,
    strategy: ImputeStrategy,
    missing_value: f64,
}

impl Imputer {
    /// An imputer of `input_columns` by their means.
    pub fn new(input_columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            columns: Columns::new(input_columns),
            strategy: ImputeStrategy::default(),
            missing_value: f64::NAN,
        }
    }

    output_columns_builder!();
}

setters! {
    Imputer;
    /// How the fill value is chosen (default the mean).
    strategy: ImputeStrategy;
    /// A value that also counts as missing, besides null and NaN (default NaN: none).
    missing_value: f64;
}

#[async_trait]
impl Estimator for Imputer {
    type Model = ImputerModel;

    async fn fit(&self, data: &DataFrame) -> Result<ImputerModel> {
        let outputs = self.columns.output_names("imputed")?;
        check_absent(data, "output_columns", &outputs)?;
        let inputs = feature_exprs(data, &self.columns.inputs)?;
        // The present values only: missing ones become null, which every pass below ignores.
        let present = data.clone().select(
            inputs
                .into_iter()
                .zip(&self.columns.inputs)
                .map(|(value, name)| {
                    let missing = is_missing(value.clone(), self.missing_value);
                    Ok(when(missing, lit(f64::NAN)).otherwise(value)?.alias(name))
                })
                .collect::<Result<Vec<_>>>()?,
        )?;
        let surrogates = match self.strategy {
            ImputeStrategy::Mean => summarize(&present, &self.columns.inputs)
                .await?
                .into_iter()
                .map(|summary| {
                    check_present(&summary.column, summary.count, summary.rows)
                        .map(|_| summary.mean)
                })
                .collect::<Result<Vec<_>>>()?,
            ImputeStrategy::Median => {
                approx_quantiles(&present, &self.columns.inputs, &[0.5], DEFAULT_K)
                    .await?
                    .into_iter()
                    .map(|quantiles| quantiles.values[0])
                    .collect()
            }
            ImputeStrategy::MostFrequent => {
                let mut modes = Vec::with_capacity(self.columns.inputs.len());
                for column in &self.columns.inputs {
                    modes.push(most_frequent(&present, column).await?);
                }
                modes
            }
        };
        Ok(ImputerModel {
            inputs: self.columns.inputs.clone(),
            output_columns: outputs,
            surrogates,
            strategy: self.strategy,
            missing_value: self.missing_value,
        })
    }
}

/// True where `value` is null, NaN or `missing_value`.
fn is_missing(value: Expr, missing_value: f64) -> Expr {
    let invalid = value.clone().is_null().or(isnan(value.clone()));
    if missing_value.is_nan() {
        invalid
    } else {
        invalid.or(value.eq(lit(missing_value)))
    }
}

/// Fails when `column` has no present value among its `rows`.
fn check_present(column: &str, present: u64, rows: u64) -> Result<()> {
    if present == 0 {
        return Err(MlError::NoValidValues {
            column: column.to_string(),
            rows,
        });
    }
    Ok(())
}

/// The most frequent non-null, non-NaN value of `column` (`Float64`) in `data`; the smallest of
/// equally frequent ones.
async fn most_frequent(data: &DataFrame, column: &str) -> Result<f64> {
    let value = col(column);
    let top = data
        .clone()
        .filter(
            value
                .clone()
                .is_not_null()
                .and(Expr::Not(Box::new(isnan(value.clone())))),
        )?
        .aggregate(
            vec![value.clone().alias("value")],
            vec![count(lit(1)).alias("count")],
        )?
        .sort(vec![
            SortExpr::new(col("count"), false, false),
            SortExpr::new(col("value"), true, false),
        ])?
        .limit(0, Some(1))?
        .collect()
        .await?;
    match top.iter().find(|batch| batch.num_rows() > 0) {
        Some(batch) => Ok(as_float64_array(batch.column(0))?.value(0)),
        None => {
            let rows = data.clone().count().await? as u64;
            check_present(column, 0, rows).map(|_| f64::NAN)
        }
    }
}

/// A fitted [`Imputer`]: the fill value of each input column.
#[derive(Debug, Clone, PartialEq)]
pub struct ImputerModel {
    inputs: Vec<String>,
    output_columns: Vec<String>,
    surrogates: Vec<f64>,
    strategy: ImputeStrategy,
    missing_value: f64,
}

impl ImputerModel {
    /// The fill value of each input column, in input order.
    pub fn surrogates(&self) -> &[f64] {
        &self.surrogates
    }
}

impl Model for ImputerModel {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        let inputs = feature_exprs(&data, &self.inputs)?;
        append_columns(data, self, inputs)
    }
}

#[async_trait]
impl AnyModel for ImputerModel {
    fn input_columns(&self) -> &[String] {
        &self.inputs
    }

    fn output_columns(&self) -> Vec<String> {
        self.output_columns.clone()
    }

    fn column_exprs(&self, inputs: Vec<Expr>) -> Result<Vec<Expr>> {
        as_float64(inputs)
            .into_iter()
            .zip(&self.surrogates)
            .map(|(value, &surrogate)| {
                let missing = is_missing(value.clone(), self.missing_value);
                Ok(when(missing, lit(surrogate)).otherwise(value)?)
            })
            .collect()
    }
}

impl PersistentModel for ImputerModel {
    const MODEL_TYPE: &'static str = "imputer";

    fn to_saved(&self) -> ModelParts {
        ModelParts {
            features: self.inputs.clone(),
            params: json!({
                "output_columns": self.output_columns,
                "strategy": self.strategy.as_str(),
            }),
            // NaN has no JSON form, so the missing value rides with the arrays.
            arrays: vec![
                ("surrogates", self.surrogates.clone()),
                ("missing_value", vec![self.missing_value]),
            ],
        }
    }

    fn from_saved(saved: &SavedModel) -> Result<Self> {
        let inputs = saved.metadata.features.clone();
        let strategy: String = saved.param("strategy")?;
        Ok(Self {
            surrogates: saved.array_of_len("surrogates", inputs.len())?,
            missing_value: saved.array_of_len("missing_value", 1)?[0],
            output_columns: saved.param("output_columns")?,
            strategy: strategy.parse()?,
            inputs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::{column_values, rows_frame, two_partition_frame};

    #[tokio::test]
    async fn fills_null_and_nan_with_mean_median_or_mode() {
        let data = two_partition_frame(); // x: 1, 2, null, NaN, 3, 6
        let fill = |strategy| {
            let data = data.clone();
            async move {
                let model = Imputer::new(["x"])
                    .strategy(strategy)
                    .fit(&data)
                    .await
                    .unwrap();
                column_values(&model.transform(data).unwrap(), "x_imputed").await
            }
        };
        let expected = |surrogate| {
            vec![
                Some(1.0),
                Some(2.0),
                Some(surrogate),
                Some(surrogate),
                Some(3.0),
                Some(6.0),
            ]
        };
        assert_eq!(fill(ImputeStrategy::Mean).await, expected(3.0));
        assert_eq!(fill(ImputeStrategy::Median).await, expected(2.0));
        assert_eq!(fill(ImputeStrategy::MostFrequent).await, expected(1.0));
    }

    #[tokio::test]
    async fn a_missing_value_marker_counts_as_missing() {
        let rows: Vec<Vec<Option<f64>>> = [-1.0, 4.0, 4.0, -1.0, 8.0, -1.0]
            .iter()
            .map(|v| vec![Some(*v)])
            .collect();
        let data = rows_frame(&["v"], &rows, 2);
        let model = Imputer::new(["v"])
            .missing_value(-1.0)
            .strategy(ImputeStrategy::MostFrequent)
            .output_columns(["filled"])
            .fit(&data)
            .await
            .unwrap();
        assert_eq!(model.surrogates(), [4.0]);
        assert_eq!(
            column_values(&model.transform(data).unwrap(), "filled").await,
            [
                Some(4.0),
                Some(4.0),
                Some(4.0),
                Some(4.0),
                Some(8.0),
                Some(4.0)
            ]
        );
    }

    #[tokio::test]
    async fn a_column_of_missing_values_and_bad_strategies_are_named() {
        let rows = vec![vec![None], vec![Some(f64::NAN)]];
        let data = rows_frame(&["v"], &rows, 1);
        for strategy in [
            ImputeStrategy::Mean,
            ImputeStrategy::Median,
            ImputeStrategy::MostFrequent,
        ] {
            let error = Imputer::new(["v"])
                .strategy(strategy)
                .fit(&data)
                .await
                .unwrap_err();
            assert_eq!(
                error.to_string(),
                "column 'v' has no valid values (all 2 rows are null or NaN)",
                "{strategy:?}"
            );
        }
        assert_eq!(
            "avg".parse::<ImputeStrategy>().unwrap_err().to_string(),
            "invalid parameter strategy: 'avg' is not one of mean, median, most_frequent"
        );
    }
}
