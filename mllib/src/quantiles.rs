//! Approximate quantiles of numeric columns, all columns in one distributed aggregate.
//!
//! Each column gets its own [`QuantileSketch`] (see [`crate::kernels::quantile`] for the sketch
//! and its error bound): partitions sketch their rows, and the sketches merge in the final stage
//! in a canonical order, so results depend on the data and its partitioning only. A column skips
//! only its own null and NaN values: a null in one column does not hide another column's value
//! in the same row. What reaches the driver is one sketch per column, never the rows.
//!
//! [`approx_quantiles`] answers given probabilities; [`sketch_columns`] returns the sketches, for
//! callers that ask for more later.

use datafusion::common::{exec_datafusion_err, exec_err};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;

use crate::aggregate::{run_each, PartialAggregate};
use crate::error::{MlError, Result};
use crate::kernels::quantile::{QuantileSketch, MAX_K, MIN_K};
use crate::summary::numeric_column;

/// Approximate quantiles of one column, over its valid (neither null nor NaN) values.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnQuantiles {
    /// The column's name.
    pub column: String,
    /// Rows in the input.
    pub rows: u64,
    /// Valid values.
    pub valid: u64,
    /// One quantile per requested probability, in the same order (lower definition: the
    /// smallest value whose rank is at least `probability · valid`; always one of the values).
    pub values: Vec<f64>,
    /// A worst-case bound, in values, on how far the rank of each of `values` is from the rank
    /// asked for (0: exact, as when `valid <= k`).
    pub rank_error_bound: f64,
    /// The exact smallest valid value (the quantile at probability 0).
    pub min: f64,
    /// The exact largest valid value (the quantile at probability 1).
    pub max: f64,
}

/// The sketch of one column's valid values.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSketch {
    /// The column's name.
    pub column: String,
    /// Rows in the input; the sketch's `count()` is the column's valid values.
    pub rows: u64,
    /// The merged sketch of the column.
    pub sketch: QuantileSketch,
}

/// Computes the `probabilities` quantiles (each in `[0, 1]`) of each of `columns` (numeric, any
/// integer, float or decimal type), ignoring null and NaN values, with one aggregate query over
/// `data`. `k` is the sketch's items per level (in `MIN_K..=MAX_K` of
/// [`crate::kernels::quantile`], odd values rounded up; [`crate::kernels::quantile::DEFAULT_K`]
/// bounds the rank error by 0.2% of the values at a million values): memory per column and
/// partition grows as `k·log2(n / k)`, the error as `log2(n / k) / k`.
///
/// Fails with [`MlError::InvalidParam`] for a probability outside `[0, 1]` or a `k` out of
/// range, [`MlError::UnknownColumn`] or [`MlError::NotNumeric`] before any data is read, and
/// with [`MlError::NoValidValues`] for a column whose values are all null or NaN.
pub async fn approx_quantiles(
    data: &DataFrame,
    columns: &[String],
    probabilities: &[f64],
    k: usize,
) -> Result<Vec<ColumnQuantiles>> {
    if let Some(bad) = probabilities.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(MlError::InvalidParam {
            param: "probabilities",
            reason: format!("each must be in [0, 1], got {bad}"),
        });
    }
    sketch_columns(data, columns, k)
        .await?
        .into_iter()
        .map(
            |ColumnSketch {
                 column,
                 rows,
                 sketch,
             }| {
                let (Some(values), Some(min), Some(max)) =
                    (sketch.quantiles(probabilities), sketch.min(), sketch.max())
                else {
                    return Err(MlError::NoValidValues { column, rows });
                };
                Ok(ColumnQuantiles {
                    column,
                    rows,
                    valid: sketch.count(),
                    values,
                    rank_error_bound: sketch.rank_error_bound(),
                    min,
                    max,
                })
            },
        )
        .collect()
}

/// Sketches the valid values of each of `columns` with one aggregate query over `data`; a
/// column without valid values gets an empty sketch. `k` and the errors are as in
/// [`approx_quantiles`] (all but [`MlError::NoValidValues`]).
pub async fn sketch_columns(
    data: &DataFrame,
    columns: &[String],
    k: usize,
) -> Result<Vec<ColumnSketch>> {
    if !(MIN_K..=MAX_K).contains(&k) {
        return Err(MlError::InvalidParam {
            param: "k",
            reason: format!("must be in [{MIN_K}, {MAX_K}], got {k}"),
        });
    }
    let step = QuantileSketchStep { k };
    let steps = columns
        .iter()
        .map(|column| Ok((&step, vec![numeric_column(data, column)?])))
        .collect::<Result<Vec<_>>>()?;
    let merged = run_each(data, steps).await?;
    columns
        .iter()
        .zip(merged)
        .map(|(column, merged)| {
            let sketch = QuantileSketch::decode(&merged.value)
                .filter(|sketch| sketch.count() == merged.valid_rows())
                .ok_or_else(|| {
                    exec_datafusion_err!(
                        "{}: corrupt sketch of column '{column}'",
                        QuantileSketchStep::NAME
                    )
                })?;
            Ok(ColumnSketch {
                column: column.clone(),
                rows: merged.rows,
                sketch,
            })
        })
        .collect()
}

/// Sketches one feature. Partial state: the [`QuantileSketch::encode`]d sketch. A partial that
/// does not decode (corrupted on the wire) makes the merged state empty, which
/// [`sketch_columns`] reports as corrupt.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileSketchStep {
    /// Items per sketch level, in `MIN_K..=MAX_K`.
    pub k: usize,
}

impl PartialAggregate for QuantileSketchStep {
    const NAME: &'static str = "ml_quantile_sketch";

    fn decode(params: &[f64]) -> DataFusionResult<Self> {
        match params {
            [k] if (MIN_K as f64..=MAX_K as f64).contains(k) && k.fract() == 0.0 => {
                Ok(Self { k: *k as usize })
            }
            _ => exec_err!("{}: corrupt parameters", Self::NAME),
        }
    }

    fn encode(&self) -> Vec<f64> {
        vec![self.k as f64]
    }

    fn features(&self) -> usize {
        1
    }

    fn empty(&self) -> Vec<f64> {
        QuantileSketch::new(self.k).encode()
    }

    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
        match QuantileSketch::decode(partial) {
            Some(mut sketch) => {
                sketch.insert_all(features[0]);
                *partial = sketch.encode();
            }
            None => partial.clear(),
        }
    }

    fn merge(&self, into: &mut Vec<f64>, other: &[f64]) {
        match (QuantileSketch::decode(into), QuantileSketch::decode(other)) {
            (Some(mut sketch), Some(other)) => {
                sketch.merge(&other);
                *into = sketch.encode();
            }
            _ => into.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::quantile::DEFAULT_K;
    use crate::test_frames::{rows_frame, two_partition_frame};

    fn names(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|column| column.to_string()).collect()
    }

    #[tokio::test]
    async fn small_data_gets_exact_quantiles_across_partitions() {
        let a = [5.0, 1.0, 4.0, 2.0, 3.0, 7.0, 6.0];
        let rows: Vec<Vec<Option<f64>>> = a.iter().map(|&a| vec![Some(a), Some(-a)]).collect();
        let data = rows_frame(&["a", "b"], &rows, 3);
        let quantiles = approx_quantiles(&data, &names(&["a", "b"]), &[0.0, 0.25, 0.5, 1.0], 8)
            .await
            .unwrap();
        assert_eq!(
            quantiles[0],
            ColumnQuantiles {
                column: "a".into(),
                rows: 7,
                valid: 7,
                values: vec![1.0, 2.0, 4.0, 7.0],
                rank_error_bound: 0.0,
                min: 1.0,
                max: 7.0,
            }
        );
        assert_eq!(quantiles[1].values, vec![-7.0, -6.0, -4.0, -1.0]);

        // x: 1, 2 | NaN, 3, 6 (and a null): the lower median of [1, 2, 3, 6] is 2; n is Int32.
        let data = two_partition_frame();
        let quantiles = approx_quantiles(&data, &names(&["x", "n"]), &[0.5, 0.75], DEFAULT_K)
            .await
            .unwrap();
        assert_eq!((quantiles[0].rows, quantiles[0].valid), (6, 4));
        assert_eq!(quantiles[0].values, vec![2.0, 3.0]);
        assert_eq!((quantiles[0].min, quantiles[0].max), (1.0, 6.0));
        assert_eq!(
            (quantiles[1].valid, &quantiles[1].values),
            (6, &vec![1.0, 1.0])
        );
    }

    #[tokio::test]
    async fn nulls_and_nan_in_one_column_do_not_drop_other_columns_values() {
        let rows = vec![
            vec![Some(1.0), Some(10.0)],
            vec![None, Some(20.0)],
            vec![Some(3.0), Some(30.0)],
            vec![Some(f64::NAN), Some(40.0)],
            vec![Some(5.0), Some(50.0)],
            vec![Some(6.0), Some(60.0)],
        ];
        let data = rows_frame(&["a", "b"], &rows, 2);
        let quantiles = approx_quantiles(&data, &names(&["a", "b"]), &[0.5], DEFAULT_K)
            .await
            .unwrap();
        assert_eq!((quantiles[0].rows, quantiles[0].valid), (6, 4));
        assert_eq!(quantiles[0].values, vec![3.0]);
        assert_eq!((quantiles[1].rows, quantiles[1].valid), (6, 6));
        assert_eq!(quantiles[1].values, vec![30.0]);
        assert_eq!((quantiles[1].min, quantiles[1].max), (10.0, 60.0));
    }

    #[tokio::test]
    async fn many_rows_stay_within_the_bound_and_repeat_exactly() {
        let n = 20_000u64;
        let rows: Vec<Vec<Option<f64>>> = (0..n)
            .map(|i| vec![Some(((i * 7_919) % n) as f64)])
            .collect();
        let data = rows_frame(&["v"], &rows, 4);
        let probabilities: Vec<f64> = (0..=20).map(|p| p as f64 / 20.0).collect();
        let first = approx_quantiles(&data, &names(&["v", "v"]), &probabilities, 64)
            .await
            .unwrap();
        let quantiles = &first[0];
        assert_eq!(quantiles.valid, n);
        assert!(quantiles.rank_error_bound > 0.0);
        assert!(quantiles.rank_error_bound <= QuantileSketch::worst_case_rank_error(n, 64));
        for (&q, &value) in probabilities.iter().zip(&quantiles.values) {
            let exact = ((q * n as f64).ceil() - 1.0).max(0.0);
            assert!(
                (value - exact).abs() <= quantiles.rank_error_bound,
                "q = {q}: {value} vs {exact}"
            );
        }
        assert_eq!(&first[1], quantiles);
        let again = approx_quantiles(&data, &names(&["v"]), &probabilities, 64)
            .await
            .unwrap();
        assert_eq!(&again[0], quantiles);
    }

    #[tokio::test]
    async fn unknown_and_non_numeric_columns_are_errors() {
        let data = two_partition_frame();
        let error = approx_quantiles(&data, &names(&["x", "nope"]), &[0.5], DEFAULT_K)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "column 'nope' not found; available columns: x, n, s"
        );
        let error = approx_quantiles(&data, &names(&["s"]), &[0.5], DEFAULT_K)
            .await
            .unwrap_err();
        assert!(matches!(error, MlError::NotNumeric { column, .. } if column == "s"));
    }

    #[tokio::test]
    async fn a_column_without_valid_values_is_an_error() {
        let rows = vec![
            vec![None, Some(1.0)],
            vec![Some(f64::NAN), Some(2.0)],
            vec![None, Some(3.0)],
        ];
        let data = rows_frame(&["a", "b"], &rows, 2);
        let error = approx_quantiles(&data, &names(&["b", "a"]), &[0.5], DEFAULT_K)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, MlError::NoValidValues { column, rows: 3 } if column == "a"),
            "{error}"
        );
        let sketches = sketch_columns(&data, &names(&["a", "b"]), DEFAULT_K)
            .await
            .unwrap();
        assert_eq!((sketches[0].rows, sketches[0].sketch.count()), (3, 0));
        assert_eq!(sketches[1].sketch.quantile(0.5), Some(2.0));
    }

    #[tokio::test]
    async fn probabilities_and_k_are_validated() {
        let data = two_partition_frame();
        for probabilities in [vec![0.5, 1.5], vec![-0.1], vec![f64::NAN]] {
            let error = approx_quantiles(&data, &names(&["x"]), &probabilities, DEFAULT_K)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    error,
                    MlError::InvalidParam {
                        param: "probabilities",
                        ..
                    }
                ),
                "{error}"
            );
        }
        for k in [0, MIN_K - 1, MAX_K + 1] {
            let error = approx_quantiles(&data, &names(&["x"]), &[0.5], k)
                .await
                .unwrap_err();
            assert!(
                matches!(error, MlError::InvalidParam { param: "k", .. }),
                "{error}"
            );
        }
        assert!(approx_quantiles(&data, &[], &[0.5], DEFAULT_K)
            .await
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_corrupt_partial_empties_the_merged_state() {
        let step = QuantileSketchStep { k: 8 };
        let mut merged = step.empty();
        step.update(&[&[2.0, 1.0]], &mut merged);
        step.merge(&mut merged, &[1.0, 2.0]);
        assert!(merged.is_empty());
        step.merge(&mut merged, &step.empty());
        assert!(QuantileSketch::decode(&merged).is_none());
        assert_eq!(QuantileSketchStep::decode(&step.encode()).unwrap(), step);
        assert!(QuantileSketchStep::decode(&[7.5]).is_err());
    }
}
