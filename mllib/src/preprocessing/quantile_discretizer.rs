//! `QuantileDiscretizer`: buckets of (approximately) equal counts, from a mergeable sketch.

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;

use crate::error::{MlError, Result};
use crate::estimator::Estimator;
use crate::kernels::quantile::DEFAULT_K;
use crate::params::{
    check_absent, check_at_least, output_columns_builder, setters, Columns, HandleInvalid,
};
use crate::preprocessing::bucketizer::BucketizerModel;
use crate::quantiles::approx_quantiles;

/// Splits each input column into `num_buckets` buckets holding about equal numbers of rows, as
/// Spark ML's `QuantileDiscretizer`: the fit computes the `i / num_buckets` quantiles of each
/// column with one pass of the mergeable sketch of [`crate::quantiles`] (each quantile's rank
/// is within the bound the sketch reports: at most 0.2% of the values at a million, less in
/// practice), and returns a [`BucketizerModel`] with splits `-inf, q_1, ..., q_{n-1}, inf`.
/// Equal quantiles (a column with few distinct values) collapse, giving fewer buckets.
///
/// Null and NaN values are ignored by the fit and follow `handle_invalid` in the model (see
/// [`crate::Bucketizer`]). Output columns default to `<input>_bucket`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileDiscretizer {
    columns: Columns,
    num_buckets: usize,
    handle_invalid: HandleInvalid,
}

impl QuantileDiscretizer {
    /// A discretizer of `input_columns` into 2 buckets each (Spark's default).
    pub fn new(input_columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            columns: Columns::new(input_columns),
            num_buckets: 2,
            handle_invalid: HandleInvalid::Error,
        }
    }

    output_columns_builder!();
}

setters! {
    QuantileDiscretizer;
    /// How many buckets (at least 2, default 2).
    num_buckets: usize;
    /// What the model does with null and NaN values (default `error`).
    handle_invalid: HandleInvalid;
}

#[async_trait]
impl Estimator for QuantileDiscretizer {
    type Model = BucketizerModel;

    async fn fit(&self, data: &DataFrame) -> Result<BucketizerModel> {
        let outputs = self.columns.output_names("bucket")?;
        check_at_least("num_buckets", self.num_buckets as f64, 2.0)?;
        if self.num_buckets > 1 << 16 {
            return Err(MlError::InvalidParam {
                param: "num_buckets",
                reason: format!("{} is more than 65536", self.num_buckets),
            });
        }
        check_absent(data, "output_columns", &outputs)?;
        let probabilities: Vec<f64> = (1..self.num_buckets)
            .map(|i| i as f64 / self.num_buckets as f64)
            .collect();
        let quantiles =
            approx_quantiles(data, &self.columns.inputs, &probabilities, DEFAULT_K).await?;
        let splits = quantiles
            .into_iter()
            .map(|column| {
                let mut splits = vec![f64::NEG_INFINITY];
                splits.extend(column.values);
                splits.push(f64::INFINITY);
                splits.dedup();
                splits
            })
            .collect();
        Ok(BucketizerModel::from_parts(
            self.columns.inputs.clone(),
            outputs,
            splits,
            self.handle_invalid,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimator::Model;
    use crate::test_frames::{column_values, rows_frame};

    #[tokio::test]
    async fn buckets_hold_equal_counts_and_ties_collapse() {
        let rows: Vec<Vec<Option<f64>>> = (0..100)
            .map(|i| vec![Some(f64::from(i)), Some(f64::from(i % 2))])
            .collect();
        let data = rows_frame(&["v", "flag"], &rows, 3);
        let model = QuantileDiscretizer::new(["v", "flag"])
            .num_buckets(4)
            .fit(&data)
            .await
            .unwrap();
        let splits = model.splits();
        assert_eq!(splits[0][1..4], [24.0, 49.0, 74.0]);
        assert_eq!(splits[1], [f64::NEG_INFINITY, 0.0, 1.0, f64::INFINITY]);
        let buckets = column_values(&model.transform(data).unwrap(), "v_bucket").await;
        let count = |b: f64| buckets.iter().filter(|v| **v == Some(b)).count();
        assert_eq!(
            [count(0.0), count(1.0), count(2.0), count(3.0)],
            [24, 25, 25, 26]
        );
    }

    #[tokio::test]
    async fn too_few_buckets_are_named() {
        let data = rows_frame(&["v"], &[vec![Some(1.0)]], 1);
        let error = QuantileDiscretizer::new(["v"])
            .num_buckets(1)
            .fit(&data)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter num_buckets: 1 is not a finite number >= 2"
        );
    }
}
