//! `Bucketizer`: maps numeric values to bucket indices by given split points (and the model
//! `QuantileDiscretizer` fits).

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use datafusion::logical_expr::Expr;
use serde_json::json;

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::model::{append_columns, as_float64, AnyModel};
use crate::params::{
    all_valid, check_absent, feature_exprs, output_columns_builder, setters, Columns, HandleInvalid,
};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::predict::{model_call, RowModel};

/// Maps each input column to the index (`Float64`, from 0) of the bucket its value falls in, as
/// Spark ML's `Bucketizer`: with splits `s_0 < s_1 < ... < s_n`, bucket `i` holds
/// `s_i <= x < s_{i+1}`, and the last bucket also holds `x = s_n`. Use `f64::NEG_INFINITY` and
/// `f64::INFINITY` as the outer splits to cover every value; a value outside the splits fails
/// the query, naming it.
///
/// Null and NaN values follow `handle_invalid`: `error` (default) fails, `skip` drops the row,
/// `keep` gives a null bucket (Spark puts NaN in an extra bucket instead; a null keeps the
/// invalid row visible to later stages, as every Ember stage does). Output columns default to
/// `<input>_bucket`.
///
/// Fitting only validates: the splits are given, not learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucketizer {
    columns: Columns,
    splits: Vec<Vec<f64>>,
    handle_invalid: HandleInvalid,
}

impl Bucketizer {
    /// Buckets `input_columns` by `splits`, one list of split points per input column.
    pub fn new(
        input_columns: impl IntoIterator<Item = impl Into<String>>,
        splits: Vec<Vec<f64>>,
    ) -> Self {
        Self {
            columns: Columns::new(input_columns),
            splits,
            handle_invalid: HandleInvalid::Error,
        }
    }

    output_columns_builder!();

    /// The model, after checking the parameters against each other and `data`'s schema.
    pub(crate) fn validated(&self, data: &DataFrame) -> Result<BucketizerModel> {
        let outputs = self.columns.output_names("bucket")?;
        if self.splits.len() != self.columns.inputs.len() {
            return Err(MlError::InvalidParam {
                param: "splits",
                reason: format!(
                    "{} lists of splits given for {} input columns",
                    self.splits.len(),
                    self.columns.inputs.len()
                ),
            });
        }
        for (column, splits) in self.columns.inputs.iter().zip(&self.splits) {
            check_splits(column, splits)?;
        }
        feature_exprs(data, &self.columns.inputs)?;
        check_absent(data, "output_columns", &outputs)?;
        Ok(BucketizerModel {
            inputs: self.columns.inputs.clone(),
            output_columns: outputs,
            splits: self.splits.clone(),
            handle_invalid: self.handle_invalid,
        })
    }
}

setters! {
    Bucketizer;
    /// What to do with null and NaN values (default `error`).
    handle_invalid: HandleInvalid;
}

/// Fails unless `splits` (of `column`) has at least two points, strictly increasing, none NaN.
fn check_splits(column: &str, splits: &[f64]) -> Result<()> {
    let problem = if splits.len() < 2 {
        Some("needs at least two split points".to_string())
    } else if splits.iter().any(|split| split.is_nan()) {
        Some("holds NaN".to_string())
    } else {
        splits
            .windows(2)
            .find(|pair| pair[0] >= pair[1])
            .map(|pair| format!("is not strictly increasing at {} >= {}", pair[0], pair[1]))
    };
    match problem {
        Some(problem) => Err(MlError::InvalidParam {
            param: "splits",
            reason: format!("the splits of '{column}' {problem}"),
        }),
        None => Ok(()),
    }
}

#[async_trait]
impl Estimator for Bucketizer {
    type Model = BucketizerModel;

    async fn fit(&self, data: &DataFrame) -> Result<BucketizerModel> {
        self.validated(data)
    }
}

/// Split points per column, applied as [`Bucketizer`] describes.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketizerModel {
    inputs: Vec<String>,
    output_columns: Vec<String>,
    splits: Vec<Vec<f64>>,
    handle_invalid: HandleInvalid,
}

impl BucketizerModel {
    /// The split points of each input column, in input order.
    pub fn splits(&self) -> &[Vec<f64>] {
        &self.splits
    }

    /// The model of `inputs` with `splits` (validated by the caller), `outputs` and
    /// `handle_invalid`.
    pub(crate) fn from_parts(
        inputs: Vec<String>,
        outputs: Vec<String>,
        splits: Vec<Vec<f64>>,
        handle_invalid: HandleInvalid,
    ) -> Self {
        Self {
            inputs,
            output_columns: outputs,
            splits,
            handle_invalid,
        }
    }
}

impl Model for BucketizerModel {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        let inputs = feature_exprs(&data, &self.inputs)?;
        let data = match self.handle_invalid {
            HandleInvalid::Skip => data.filter(all_valid(&inputs))?,
            HandleInvalid::Error | HandleInvalid::Keep => data,
        };
        append_columns(data, self, inputs)
    }
}

#[async_trait]
impl AnyModel for BucketizerModel {
    fn input_columns(&self) -> &[String] {
        &self.inputs
    }

    fn output_columns(&self) -> Vec<String> {
        self.output_columns.clone()
    }

    fn column_exprs(&self, inputs: Vec<Expr>) -> Result<Vec<Expr>> {
        Ok(as_float64(inputs)
            .into_iter()
            .zip(&self.splits)
            .map(|(input, splits)| {
                let buckets = Buckets {
                    splits: splits.clone(),
                };
                model_call(&buckets, self.handle_invalid, vec![input])
            })
            .collect())
    }
}

impl PersistentModel for BucketizerModel {
    const MODEL_TYPE: &'static str = "bucketizer";

    fn to_saved(&self) -> ModelParts {
        ModelParts {
            features: self.inputs.clone(),
            params: json!({
                "output_columns": self.output_columns,
                "handle_invalid": self.handle_invalid.as_str(),
            }),
            arrays: vec![
                (
                    "split_counts",
                    self.splits.iter().map(|s| s.len() as f64).collect(),
                ),
                ("splits", self.splits.concat()),
            ],
        }
    }

    fn from_saved(saved: &SavedModel) -> Result<Self> {
        let inputs = saved.metadata.features.clone();
        let counts = saved.array_of_len("split_counts", inputs.len())?;
        let mut flat = saved.array("splits")?;
        let mut splits = Vec::with_capacity(counts.len());
        for count in counts {
            let count = count as usize;
            if count > flat.len() {
                return Err(saved.corrupt("'splits' is shorter than 'split_counts' says".into()));
            }
            let (column, rest) = flat.split_at(count);
            splits.push(column.to_vec());
            flat = rest;
        }
        let handle_invalid: String = saved.param("handle_invalid")?;
        Ok(Self {
            output_columns: saved.param("output_columns")?,
            handle_invalid: handle_invalid.parse()?,
            splits,
            inputs,
        })
    }
}

/// One column's split points as a row function: the bucket of each value.
#[derive(Debug)]
pub(crate) struct Buckets {
    splits: Vec<f64>,
}

impl RowModel for Buckets {
    const NAME: &'static str = "ml_bucketize";
    const OUTPUT: DataType = DataType::Float64;

    fn decode(params: &[f64]) -> DataFusionResult<Self> {
        if params.len() < 2 {
            return plan_err!("{}: fewer than two split points", Self::NAME);
        }
        Ok(Self {
            splits: params.to_vec(),
        })
    }

    fn encode(&self) -> Vec<f64> {
        self.splits.clone()
    }

    fn features(&self) -> usize {
        1
    }

    fn predict(&self, features: &[&[f64]]) -> DataFusionResult<ArrayRef> {
        let (first, last) = (self.splits[0], self.splits[self.splits.len() - 1]);
        let last_bucket = self.splits.len() - 2;
        let mut buckets = Vec::with_capacity(features[0].len());
        for &value in features[0] {
            if !(first..=last).contains(&value) {
                return exec_err!(
                    "{}: value {value} is outside the splits [{first}, {last}]; use -inf and \
                     inf as the outer splits to cover every value",
                    Self::NAME
                );
            }
            let bucket = self.splits.partition_point(|split| *split <= value) - 1;
            buckets.push(bucket.min(last_bucket) as f64);
        }
        Ok(std::sync::Arc::new(Float64Array::from(buckets)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::{column_values, two_partition_frame};

    #[tokio::test]
    async fn buckets_include_their_lower_split_and_the_last_its_upper() {
        let data = two_partition_frame(); // x: 1, 2, null, NaN, 3, 6
        let model = Bucketizer::new(["x"], vec![vec![1.0, 2.0, 6.0]])
            .handle_invalid(HandleInvalid::Keep)
            .fit(&data)
            .await
            .unwrap();
        let out = model.transform(data.clone()).unwrap();
        let buckets = column_values(&out, "x_bucket").await;
        assert_eq!(
            buckets,
            vec![Some(0.0), Some(1.0), None, None, Some(1.0), Some(1.0)]
        );
        let skipped = Bucketizer::new(["x"], vec![vec![f64::NEG_INFINITY, 2.5, f64::INFINITY]])
            .handle_invalid(HandleInvalid::Skip)
            .fit(&data)
            .await
            .unwrap()
            .transform(data.clone())
            .unwrap();
        assert_eq!(
            column_values(&skipped, "x_bucket").await,
            vec![Some(0.0), Some(0.0), Some(1.0), Some(1.0)]
        );
    }

    #[tokio::test]
    async fn out_of_range_and_invalid_values_fail_by_default() {
        let data = two_partition_frame();
        let model = Bucketizer::new(["x"], vec![vec![0.0, 5.0]])
            .handle_invalid(HandleInvalid::Skip)
            .fit(&data)
            .await
            .unwrap();
        let error = model
            .transform(data.clone())
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("value 6 is outside the splits [0, 5]"),
            "{error}"
        );
        let model = Bucketizer::new(["x"], vec![vec![0.0, 10.0]])
            .fit(&data)
            .await
            .unwrap();
        let error = model
            .transform(data.clone())
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("null or NaN feature"), "{error}");
    }

    #[tokio::test]
    async fn bad_splits_are_named() {
        let data = two_partition_frame();
        let error = |splits: Vec<Vec<f64>>| {
            let data = data.clone();
            async move {
                Bucketizer::new(["x"], splits)
                    .fit(&data)
                    .await
                    .unwrap_err()
                    .to_string()
            }
        };
        assert_eq!(
            error(vec![vec![1.0]]).await,
            "invalid parameter splits: the splits of 'x' needs at least two split points"
        );
        assert_eq!(
            error(vec![vec![1.0, 1.0, 2.0]]).await,
            "invalid parameter splits: the splits of 'x' is not strictly increasing at 1 >= 1"
        );
        assert_eq!(
            error(vec![vec![0.0, 1.0], vec![0.0, 1.0]]).await,
            "invalid parameter splits: 2 lists of splits given for 1 input columns"
        );
    }
}
