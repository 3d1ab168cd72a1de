//! `StandardScaler`: standardizes features by the mean and standard deviation of the training data.

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{lit, Expr};
use serde_json::json;

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::model::{append_columns, as_float64, AnyModel};
use crate::params::{check_absent, feature_exprs, output_columns_builder, setters, Columns};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::summary::{summarize, ColumnSummary};

/// Standardizes numeric columns: `(x - mean) / std_dev`, as Spark ML's `StandardScaler`.
///
/// Parameters and defaults (Spark's): `with_mean = false` (no centering), `with_std = true`
/// (scale to unit sample standard deviation); output columns default to `<input>_scaled`.
/// A column whose standard deviation is 0 scales to 0.0.
///
/// Invalid values: the statistics are fitted on non-null, non-NaN values only; `transform` maps
/// null to null and NaN to NaN. A column without any valid value fails the fit.
///
/// ```no_run
/// # async fn demo(data: datafusion::dataframe::DataFrame) -> ember_mllib::Result<()> {
/// use ember_mllib::{Estimator, Model, StandardScaler};
///
/// let model = StandardScaler::new(["age", "income"]).with_mean(true).fit(&data).await?;
/// let scaled = model.transform(data)?; // adds age_scaled, income_scaled
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StandardScaler {
    columns: Columns,
    with_mean: bool,
    with_std: bool,
}

impl StandardScaler {
    /// A scaler of `input_columns` with Spark's defaults.
    pub fn new(input_columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            columns: Columns::new(input_columns),
            with_mean: false,
            with_std: true,
        }
    }

    output_columns_builder!();
}

setters! {
    StandardScaler;
    /// Whether to subtract the mean (default `false`).
    with_mean: bool;
    /// Whether to divide by the sample standard deviation (default `true`).
    with_std: bool;
}

#[async_trait]
impl Estimator for StandardScaler {
    type Model = StandardScalerModel;

    async fn fit(&self, data: &DataFrame) -> Result<StandardScalerModel> {
        let outputs = self.columns.output_names("scaled")?;
        check_absent(data, "output_columns", &outputs)?;
        let summaries = summarize(data, &self.columns.inputs).await?;
        if let Some(empty) = summaries.iter().find(|summary| summary.count == 0) {
            return Err(MlError::NoValidValues {
                column: empty.column.clone(),
                rows: empty.rows,
            });
        }
        Ok(StandardScalerModel {
            inputs: self.columns.inputs.clone(),
            summaries,
            output_columns: outputs,
            with_mean: self.with_mean,
            with_std: self.with_std,
        })
    }
}

/// A fitted [`StandardScaler`]: the statistics of each input column.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardScalerModel {
    inputs: Vec<String>,
    summaries: Vec<ColumnSummary>,
    output_columns: Vec<String>,
    with_mean: bool,
    with_std: bool,
}

impl StandardScalerModel {
    /// The training statistics, one per input column, in input order.
    pub fn summaries(&self) -> &[ColumnSummary] {
        &self.summaries
    }

    /// The columns it scales, in order.
    pub fn input_columns(&self) -> &[String] {
        &self.inputs
    }

    /// The columns `transform` appends, in input order.
    pub fn output_columns(&self) -> &[String] {
        &self.output_columns
    }

    /// `(shift, factor)` such that the output is `(x - shift) * factor`.
    fn affine(&self, summary: &ColumnSummary) -> (f64, f64) {
        let shift = if self.with_mean { summary.mean } else { 0.0 };
        let std_dev = summary.std_dev();
        let factor = match (self.with_std, std_dev == 0.0) {
            (false, _) => 1.0,
            (true, true) => 0.0,
            (true, false) => 1.0 / std_dev,
        };
        (shift, factor)
    }
}

impl Model for StandardScalerModel {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        let inputs = feature_exprs(&data, &self.inputs)?;
        append_columns(data, self, inputs)
    }
}

#[async_trait]
impl AnyModel for StandardScalerModel {
    fn input_columns(&self) -> &[String] {
        &self.inputs
    }

    fn output_columns(&self) -> Vec<String> {
        self.output_columns.clone()
    }

    fn column_exprs(&self, inputs: Vec<Expr>) -> Result<Vec<Expr>> {
        Ok(as_float64(inputs)
            .into_iter()
            .zip(&self.summaries)
            .map(|(value, summary)| {
                let (shift, factor) = self.affine(summary);
                (value - lit(shift)) * lit(factor)
            })
            .collect())
    }
}

impl PersistentModel for StandardScalerModel {
    const MODEL_TYPE: &'static str = "standard_scaler";

    fn to_saved(&self) -> ModelParts {
        let features = self.summaries.iter().map(|s| s.column.clone()).collect();
        let params = json!({
            "with_mean": self.with_mean,
            "with_std": self.with_std,
            "output_columns": self.output_columns,
        });
        let stat = |f: fn(&ColumnSummary) -> f64| self.summaries.iter().map(f).collect();
        let arrays = vec![
            ("rows", stat(|s| s.rows as f64)),
            ("count", stat(|s| s.count as f64)),
            ("null_count", stat(|s| s.null_count as f64)),
            ("nan_count", stat(|s| s.nan_count as f64)),
            ("mean", stat(|s| s.mean)),
            ("variance", stat(|s| s.variance)),
            ("min", stat(|s| s.min)),
            ("max", stat(|s| s.max)),
        ];
        ModelParts {
            features,
            params,
            arrays,
        }
    }

    fn from_saved(saved: &SavedModel) -> Result<Self> {
        let features = &saved.metadata.features;
        let names = [
            "rows",
            "count",
            "null_count",
            "nan_count",
            "mean",
            "variance",
            "min",
            "max",
        ];
        let arrays = names
            .iter()
            .map(|name| saved.array_of_len(name, features.len()))
            .collect::<Result<Vec<_>>>()?;
        let summaries = features
            .iter()
            .enumerate()
            .map(|(i, column)| ColumnSummary {
                column: column.clone(),
                rows: arrays[0][i] as u64,
                count: arrays[1][i] as u64,
                null_count: arrays[2][i] as u64,
                nan_count: arrays[3][i] as u64,
                mean: arrays[4][i],
                variance: arrays[5][i],
                min: arrays[6][i],
                max: arrays[7][i],
            })
            .collect();
        Ok(Self {
            inputs: features.clone(),
            summaries,
            output_columns: saved.param("output_columns")?,
            with_mean: saved.param("with_mean")?,
            with_std: saved.param("with_std")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::{column_values, two_partition_frame};

    /// The values of `column` after `model` transforms the test frame, in input order.
    async fn transformed(model: &StandardScalerModel, column: &str) -> Vec<Option<f64>> {
        column_values(&model.transform(two_partition_frame()).unwrap(), column).await
    }

    #[tokio::test]
    async fn scales_by_std_dev_by_default_and_centres_on_request() {
        let data = two_partition_frame();
        let std_dev = (14.0f64 / 3.0).sqrt();
        let model = StandardScaler::new(["x"]).fit(&data).await.unwrap();
        let scaled = transformed(&model, "x_scaled").await;
        assert_eq!(scaled[0], Some(1.0 / std_dev));
        assert_eq!(scaled[2], None, "null stays null");
        assert!(scaled[3].unwrap().is_nan(), "NaN stays NaN");
        assert_eq!(scaled[5], Some(6.0 / std_dev));

        let centred = StandardScaler::new(["x"])
            .with_mean(true)
            .with_std(false)
            .output_columns(["x_centred"])
            .fit(&data)
            .await
            .unwrap();
        let values = transformed(&centred, "x_centred").await;
        assert_eq!(values[0], Some(-2.0));
        assert_eq!(values[5], Some(3.0));
    }

    #[tokio::test]
    async fn constant_column_scales_to_zero() {
        let model = StandardScaler::new(["n"])
            .with_mean(true)
            .fit(&two_partition_frame())
            .await
            .unwrap();
        assert_eq!(model.summaries()[0].std_dev(), 0.0);
        assert_eq!(transformed(&model, "n_scaled").await, vec![Some(0.0); 6]);
    }

    #[tokio::test]
    async fn invalid_parameters_are_named() {
        let data = two_partition_frame();
        let fit_error = |scaler: StandardScaler| {
            let data = data.clone();
            async move { scaler.fit(&data).await.unwrap_err().to_string() }
        };
        assert_eq!(
            fit_error(StandardScaler::new(Vec::<String>::new())).await,
            "invalid parameter input_columns: name at least one column"
        );
        assert_eq!(
            fit_error(StandardScaler::new(["x", "x"])).await,
            "invalid parameter input_columns: 'x' is named twice"
        );
        assert_eq!(
            fit_error(StandardScaler::new(["x", "n"]).output_columns(["a"])).await,
            "invalid parameter output_columns: 1 names given for 2 input columns"
        );
        assert_eq!(
            fit_error(StandardScaler::new(["x"]).output_columns(["n"])).await,
            "invalid parameter output_columns: 'n' already exists in the input"
        );
    }

    #[tokio::test]
    async fn a_column_without_valid_values_fails_the_fit() {
        let data = two_partition_frame()
            .filter(datafusion::prelude::col("x").is_null())
            .unwrap();
        let error = StandardScaler::new(["x"]).fit(&data).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "column 'x' has no valid values (all 1 rows are null or NaN)"
        );
    }
}
