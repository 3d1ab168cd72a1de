//! Per-column summary statistics, all columns in one distributed aggregate.
//!
//! Each statistic is one of DataFusion's mergeable aggregates (`count`, `avg`, `var_samp` by
//! Welford's method, `min`, `max`), so partitions compute partial states that merge exactly, in
//! one process or across executors. Only the single result row reaches the caller.

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_float64_array, as_int64_array};
use datafusion::common::{internal_datafusion_err, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::functions::expr_fn::isnan;
use datafusion::functions_aggregate::expr_fn::{avg, count, max, min, var_sample};
use datafusion::logical_expr::{cast, ident, lit, when, Expr};

use crate::error::{MlError, Result};

/// The statistics of one numeric column. Values count as *valid* when neither null nor NaN; the
/// moments and extremes are over the valid values only, and are NaN when there are none.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSummary {
    /// The column's name.
    pub column: String,
    /// Rows in the input.
    pub rows: u64,
    /// Valid values.
    pub count: u64,
    /// Null values.
    pub null_count: u64,
    /// NaN values.
    pub nan_count: u64,
    /// Mean of the valid values.
    pub mean: f64,
    /// Sample variance (divided by `count - 1`, like Spark's `Summarizer` and `var_samp`) of the
    /// valid values; 0 for a single value.
    pub variance: f64,
    /// Smallest valid value.
    pub min: f64,
    /// Largest valid value.
    pub max: f64,
}

impl ColumnSummary {
    /// Sample standard deviation: the square root of [`ColumnSummary::variance`].
    pub fn std_dev(&self) -> f64 {
        self.variance.sqrt()
    }
}

/// Computes a [`ColumnSummary`] for each of `columns` (numeric, any integer, float or decimal
/// type) with one aggregate query over `data`.
///
/// Fails with [`MlError::UnknownColumn`] or [`MlError::NotNumeric`] naming the column before any
/// data is read.
pub async fn summarize(data: &DataFrame, columns: &[String]) -> Result<Vec<ColumnSummary>> {
    let mut aggregates = vec![count(lit(1)).alias("rows")];
    for (index, column) in columns.iter().enumerate() {
        let value = numeric_column(data, column)?;
        let valid =
            when(isnan(value.clone()), lit(ScalarValue::Float64(None))).otherwise(value.clone())?;
        aggregates.extend([
            count(value).alias(format!("non_null_{index}")),
            count(valid.clone()).alias(format!("count_{index}")),
            avg(valid.clone()).alias(format!("mean_{index}")),
            var_sample(valid.clone()).alias(format!("variance_{index}")),
            min(valid.clone()).alias(format!("min_{index}")),
            max(valid).alias(format!("max_{index}")),
        ]);
    }
    let batches = data
        .clone()
        .aggregate(vec![], aggregates)?
        .collect()
        .await?;
    let row = AggregateRow::new(&batches)?;
    let rows = row.int("rows")?;
    columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let non_null = row.int(&format!("non_null_{index}"))?;
            let count = row.int(&format!("count_{index}"))?;
            Ok(ColumnSummary {
                column: column.clone(),
                rows,
                count,
                null_count: rows - non_null,
                nan_count: non_null - count,
                mean: row.float(&format!("mean_{index}"))?.unwrap_or(f64::NAN),
                variance: match row.float(&format!("variance_{index}"))? {
                    Some(variance) => variance,
                    None if count == 1 => 0.0,
                    None => f64::NAN,
                },
                min: row.float(&format!("min_{index}"))?.unwrap_or(f64::NAN),
                max: row.float(&format!("max_{index}"))?.unwrap_or(f64::NAN),
            })
        })
        .collect()
}

/// `column` of `data` as a `Float64` expression, after checking that it exists and is numeric.
pub(crate) fn numeric_column(data: &DataFrame, column: &str) -> Result<Expr> {
    let data_type = column_type(data, column)?;
    if !data_type.is_numeric() {
        return Err(MlError::NotNumeric {
            column: column.to_string(),
            data_type,
        });
    }
    Ok(cast(ident(column), DataType::Float64))
}

/// `column` of `data` as an expression of its own type, after checking that it exists.
pub(crate) fn column_of(data: &DataFrame, column: &str) -> Result<Expr> {
    column_type(data, column)?;
    Ok(ident(column))
}

/// The type of `column` in `data`; an error listing the columns when there is no such column.
fn column_type(data: &DataFrame, column: &str) -> Result<DataType> {
    let schema = data.schema();
    match schema.fields().iter().find(|field| field.name() == column) {
        Some(field) => Ok(field.data_type().clone()),
        None => Err(MlError::UnknownColumn {
            column: column.to_string(),
            available: schema
                .fields()
                .iter()
                .map(|field| field.name().as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The one row a global aggregate returns, read by column name.
struct AggregateRow<'a> {
    batch: &'a RecordBatch,
}

impl<'a> AggregateRow<'a> {
    fn new(batches: &'a [RecordBatch]) -> Result<Self> {
        match batches.iter().find(|batch| batch.num_rows() > 0) {
            Some(batch) if batch.num_rows() == 1 => Ok(Self { batch }),
            _ => Err(
                internal_datafusion_err!("a global aggregate returned other than one row").into(),
            ),
        }
    }

    fn column(&self, name: &str) -> Result<&'a dyn Array> {
        self.batch
            .column_by_name(name)
            .map(|array| array.as_ref())
            .ok_or_else(|| internal_datafusion_err!("aggregate result has no column {name}").into())
    }

    fn int(&self, name: &str) -> Result<u64> {
        let value = as_int64_array(self.column(name)?)?.value(0);
        Ok(u64::try_from(value).unwrap_or(0))
    }

    fn float(&self, name: &str) -> Result<Option<f64>> {
        let array = as_float64_array(self.column(name)?)?;
        Ok(array.is_valid(0).then(|| array.value(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::two_partition_frame;

    #[tokio::test]
    async fn statistics_merge_across_partitions_and_skip_null_and_nan() {
        let data = two_partition_frame();
        let summaries = summarize(&data, &["x".to_string(), "n".to_string()])
            .await
            .unwrap();
        let x = &summaries[0];
        assert_eq!((x.rows, x.count, x.null_count, x.nan_count), (6, 4, 1, 1));
        assert_eq!((x.mean, x.min, x.max), (3.0, 1.0, 6.0));
        // (4 + 1 + 0 + 9) / (4 - 1)
        assert!((x.variance - 14.0 / 3.0).abs() < 1e-12);
        let n = &summaries[1];
        assert_eq!(
            (n.count, n.mean, n.variance, n.std_dev()),
            (6, 1.0, 0.0, 0.0)
        );
    }

    #[tokio::test]
    async fn unknown_and_non_numeric_columns_are_named() {
        let data = two_partition_frame();
        let missing = summarize(&data, &["y".to_string()]).await.unwrap_err();
        assert_eq!(
            missing.to_string(),
            "column 'y' not found; available columns: x, n, s"
        );
        let text = summarize(&data, &["s".to_string()]).await.unwrap_err();
        assert_eq!(
            text.to_string(),
            "column 's' has type Utf8; a numeric column is required"
        );
    }
}
