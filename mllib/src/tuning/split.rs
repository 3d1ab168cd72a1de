//! Splitting rows at random, lazily and reproducibly: [`random_split`] and the per-row value
//! [`RowUnitUdf`] that it, and the folds of [`super::CrossValidator`], filter on.

use std::sync::Arc;

use datafusion::arrow::array::Float64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{plan_err, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use datafusion::logical_expr::{
    lit, ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::{MlError, Result};
use crate::params::check_at_least;
use crate::random::bytes_unit;

/// Splits `data` into one DataFrame per weight, each row going to exactly one of them: the
/// splits are disjoint and together hold every row, in proportions close to `weights`
/// (normalized to sum 1).
///
/// Lazy: each split is `data` filtered on a uniform value in `[0, 1)` hashed from `seed` and
/// all of the row's values ([`RowUnitUdf`]), which falls in that split's share of `[0, 1)`. The
/// value does not depend on partitioning or row order, so the split is fixed for a seed and the
/// same on every executor (within one Ember version: the hash reads Arrow's row format). The
/// price of that independence: identical rows always land in the same split (Spark's
/// `randomSplit` instead depends on the partitioning). Each split reads `data` again, so `data`
/// must be deterministic; cache it first when it is expensive to compute.
///
/// Errors: `InvalidParam { param: "weights" }` unless there is at least one weight, each finite
/// and `>= 0`, with a positive finite sum.
pub fn random_split(data: &DataFrame, weights: &[f64], seed: u64) -> Result<Vec<DataFrame>> {
    check_weights(weights)?;
    (0..weights.len())
        .map(|index| {
            Ok(data
                .clone()
                .filter(split_filter(data, weights, seed, index)?)?)
        })
        .collect()
}

/// True for the rows of `data` that [`random_split`] with `weights` and `seed` puts in split
/// `index`; the same errors.
pub(crate) fn split_filter(
    data: &DataFrame,
    weights: &[f64],
    seed: u64,
    index: usize,
) -> Result<Expr> {
    check_weights(weights)?;
    let range = unit_ranges(weights)[index];
    Ok(in_range(&row_unit(data, seed), range))
}

fn check_weights(weights: &[f64]) -> Result<()> {
    if weights.is_empty() {
        return Err(MlError::InvalidParam {
            param: "weights",
            reason: "give at least one weight".to_string(),
        });
    }
    for &weight in weights {
        check_at_least("weights", weight, 0.0)?;
    }
    let total: f64 = weights.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return Err(MlError::InvalidParam {
            param: "weights",
            reason: format!("the weights sum to {total}; the sum must be positive and finite"),
        });
    }
    Ok(())
}

/// Consecutive `[lo, hi)` ranges of `[0, 1)`, one per weight, as wide as its share of the sum;
/// the last ends at exactly 1, so together they cover `[0, 1)`.
pub(super) fn unit_ranges(weights: &[f64]) -> Vec<(f64, f64)> {
    let total: f64 = weights.iter().sum();
    let mut cumulative = 0.0;
    let mut lo = 0.0;
    weights
        .iter()
        .enumerate()
        .map(|(index, weight)| {
            cumulative += weight;
            let hi = if index + 1 == weights.len() {
                1.0
            } else {
                cumulative / total
            };
            let range = (lo, hi);
            lo = hi;
            range
        })
        .collect()
}

/// True where `unit` lies in `[lo, hi)`.
pub(super) fn in_range(unit: &Expr, (lo, hi): (f64, f64)) -> Expr {
    unit.clone().gt_eq(lit(lo)).and(unit.clone().lt(lit(hi)))
}

/// Each row's uniform value in `[0, 1)` for `seed`, hashed from all of `data`'s columns.
pub(super) fn row_unit(data: &DataFrame, seed: u64) -> Expr {
    let mut args = vec![lit(seed)];
    args.extend(data.schema().columns().into_iter().map(Expr::Column));
    ScalarUDF::from(RowUnitUdf::new()).call(args)
}

/// `ml_row_unit(seed, column_1, ..., column_n)`: a uniform `Float64` in `[0, 1)` per row,
/// determined by `seed` (a `UInt64` literal) and the row's values, of any types Arrow's row
/// format encodes (nulls included). Rows with equal values get equal values. What
/// [`random_split`] and the tuning estimators filter on.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowUnitUdf {
    signature: Signature,
}

impl RowUnitUdf {
    /// The function's name in plans.
    pub const NAME: &'static str = "ml_row_unit";

    /// The function, accepting the seed and at least one column of any type.
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for RowUnitUdf {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for RowUnitUdf {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DataFusionResult<DataType> {
        let fields: Vec<SortField> = arg_types
            .iter()
            .skip(1)
            .cloned()
            .map(SortField::new)
            .collect();
        if fields.is_empty() || !RowConverter::supports_fields(&fields) {
            return plan_err!(
                "{}: needs the seed and at least one column of types Arrow rows encode, got \
                 {arg_types:?}",
                Self::NAME
            );
        }
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let Some(ColumnarValue::Scalar(ScalarValue::UInt64(Some(seed)))) = args.args.first() else {
            return plan_err!("{}: the first argument must be a UInt64 seed", Self::NAME);
        };
        let columns = args.args[1..]
            .iter()
            .map(|arg| arg.to_array(args.number_rows))
            .collect::<DataFusionResult<Vec<_>>>()?;
        let fields = columns
            .iter()
            .map(|column| SortField::new(column.data_type().clone()))
            .collect();
        let rows = RowConverter::new(fields)?.convert_columns(&columns)?;
        let units: Float64Array = rows
            .iter()
            .map(|row| bytes_unit(*seed, row.as_ref()))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(units)))
    }
}
