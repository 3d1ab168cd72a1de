//! `MinMaxScaler`: rescales features linearly to a target range from their training extremes.

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{lit, Expr};
use serde_json::json;

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::model::{append_columns, as_float64, AnyModel};
use crate::params::{check_absent, feature_exprs, output_columns_builder, setters, Columns};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::summary::summarize;

/// Rescales numeric columns to `[min, max]` (default `[0, 1]`), as Spark ML's `MinMaxScaler`:
/// `(x - e_min) / (e_max - e_min) * (max - min) + min`, where `e_min` and `e_max` are the column's
/// training extremes. A constant column maps to `(min + max) / 2`. Values outside the training
/// range map outside `[min, max]` (no clipping).
///
/// Invalid values: the extremes are fitted on non-null, non-NaN values only; `transform` maps
/// null to null and NaN to NaN. A column without any valid value fails the fit. Output columns
/// default to `<input>_scaled`.
#[derive(Debug, Clone, PartialEq)]
pub struct MinMaxScaler {
    columns: Columns,
    min: f64,
    max: f64,
}

impl MinMaxScaler {
    /// A scaler of `input_columns` to `[0, 1]`.
    pub fn new(input_columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            columns: Columns::new(input_columns),
            min: 0.0,
            max: 1.0,
        }
    }

    output_columns_builder!();
}

setters! {
    MinMaxScaler;
    /// The lower end of the target range (default 0).
    min: f64;
    /// The upper end of the target range (default 1).
    max: f64;
}

#[async_trait]
impl Estimator for MinMaxScaler {
    type Model = MinMaxScalerModel;

    async fn fit(&self, data: &DataFrame) -> Result<MinMaxScalerModel> {
        let outputs = self.columns.output_names("scaled")?;
        if !(self.min.is_finite() && self.max.is_finite() && self.min < self.max) {
            return Err(MlError::InvalidParam {
                param: "min",
                reason: format!(
                    "the range [{}, {}] must be finite with min < max",
                    self.min, self.max
                ),
            });
        }
        check_absent(data, "output_columns", &outputs)?;
        let summaries = summarize(data, &self.columns.inputs).await?;
        if let Some(empty) = summaries.iter().find(|summary| summary.count == 0) {
            return Err(MlError::NoValidValues {
                column: empty.column.clone(),
                rows: empty.rows,
            });
        }
        Ok(MinMaxScalerModel {
            inputs: self.columns.inputs.clone(),
            output_columns: outputs,
            original_min: summaries.iter().map(|s| s.min).collect(),
            original_max: summaries.iter().map(|s| s.max).collect(),
            min: self.min,
            max: self.max,
        })
    }
}

/// A fitted [`MinMaxScaler`]: each input column's training extremes.
#[derive(Debug, Clone, PartialEq)]
pub struct MinMaxScalerModel {
    inputs: Vec<String>,
    output_columns: Vec<String>,
    original_min: Vec<f64>,
    original_max: Vec<f64>,
    min: f64,
    max: f64,
}

impl MinMaxScalerModel {
    /// The smallest training value of each input column.
    pub fn original_min(&self) -> &[f64] {
        &self.original_min
    }

    /// The largest training value of each input column.
    pub fn original_max(&self) -> &[f64] {
        &self.original_max
    }
}

impl Model for MinMaxScalerModel {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        let inputs = feature_exprs(&data, &self.inputs)?;
        append_columns(data, self, inputs)
    }
}

#[async_trait]
impl AnyModel for MinMaxScalerModel {
    fn input_columns(&self) -> &[String] {
        &self.inputs
    }

    fn output_columns(&self) -> Vec<String> {
        self.output_columns.clone()
    }

    fn column_exprs(&self, inputs: Vec<Expr>) -> Result<Vec<Expr>> {
        let range = self.max - self.min;
        Ok(as_float64(inputs)
            .into_iter()
            .zip(self.original_min.iter().zip(&self.original_max))
            .map(|(value, (&low, &high))| {
                let span = high - low;
                if span == 0.0 {
                    // Keeps null and NaN as they are, like the general case.
                    value * lit(0.0) + lit((self.min + self.max) / 2.0)
                } else {
                    (value - lit(low)) * lit(range / span) + lit(self.min)
                }
            })
            .collect())
    }
}

impl PersistentModel for MinMaxScalerModel {
    const MODEL_TYPE: &'static str = "min_max_scaler";

    fn to_saved(&self) -> ModelParts {
        ModelParts {
            features: self.inputs.clone(),
            params: json!({
                "min": self.min,
                "max": self.max,
                "output_columns": self.output_columns,
            }),
            arrays: vec![
                ("original_min", self.original_min.clone()),
                ("original_max", self.original_max.clone()),
            ],
        }
    }

    fn from_saved(saved: &SavedModel) -> Result<Self> {
        let inputs = saved.metadata.features.clone();
        let per_column = |name: &str| saved.array_of_len(name, inputs.len());
        Ok(Self {
            original_min: per_column("original_min")?,
            original_max: per_column("original_max")?,
            output_columns: saved.param("output_columns")?,
            min: saved.param("min")?,
            max: saved.param("max")?,
            inputs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::{column_values, two_partition_frame};

    #[tokio::test]
    async fn rescales_to_the_range_and_keeps_invalid_values() {
        let data = two_partition_frame();
        let model = MinMaxScaler::new(["x", "n"])
            .min(-1.0)
            .max(1.0)
            .fit(&data)
            .await
            .unwrap();
        assert_eq!(model.original_min(), [1.0, 1.0]);
        assert_eq!(model.original_max(), [6.0, 1.0]);
        let out = model.transform(data).unwrap();
        let x = column_values(&out, "x_scaled").await;
        assert_eq!(x[0], Some(-1.0));
        assert_eq!(x[1], Some(-0.6));
        assert_eq!(x[2], None);
        assert!(x[3].unwrap().is_nan());
        assert_eq!(x[5], Some(1.0));
        assert_eq!(column_values(&out, "n_scaled").await, vec![Some(0.0); 6]);
    }

    #[tokio::test]
    async fn bad_ranges_and_text_columns_are_named() {
        let data = two_partition_frame();
        let error = MinMaxScaler::new(["x"])
            .min(2.0)
            .fit(&data)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter min: the range [2, 1] must be finite with min < max"
        );
        let error = MinMaxScaler::new(["s"]).fit(&data).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "column 's' has type Utf8; a numeric column is required"
        );
    }
}
