//! The feature columns of one batch, as plain `f64` slices over the rows whose features are all
//! valid (neither null nor NaN): what kernels compute on.

use std::borrow::Cow;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array};
use datafusion::arrow::compute::filter;
use datafusion::common::cast::as_float64_array;
use datafusion::error::Result;

/// The valid rows of a batch's feature columns. Borrows the batch when every row is valid (the
/// common case: no copy); otherwise holds compacted copies of the valid rows.
#[derive(Debug)]
pub(crate) struct ValidFeatures<'a> {
    columns: Vec<Cow<'a, Float64Array>>,
    /// Which rows of the batch are valid; `None` when all are.
    mask: Option<BooleanArray>,
    rows: usize,
}

impl<'a> ValidFeatures<'a> {
    /// Splits `arrays` (`Float64`, equal lengths) into valid rows and a count of invalid ones.
    pub(crate) fn new(arrays: &'a [ArrayRef]) -> Result<Self> {
        let columns = arrays
            .iter()
            .map(|array| as_float64_array(array).map(Cow::Borrowed))
            .collect::<Result<Vec<_>>>()?;
        let rows = columns.first().map_or(0, |column| column.len());
        let all_valid = columns
            .iter()
            .all(|column| column.null_count() == 0 && !has_nan(column.values()));
        if all_valid {
            return Ok(Self {
                columns,
                mask: None,
                rows,
            });
        }
        let mask: BooleanArray = (0..rows)
            .map(|row| {
                Some(
                    columns
                        .iter()
                        .all(|column| column.is_valid(row) && !column.value(row).is_nan()),
                )
            })
            .collect();
        let compacted = columns
            .iter()
            .map(|column| {
                let kept = filter(column.as_ref(), &mask)?;
                Ok(Cow::Owned(as_float64_array(&kept)?.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            columns: compacted,
            mask: Some(mask),
            rows,
        })
    }

    /// Rows in the batch, valid or not.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Rows with a null or NaN feature.
    pub(crate) fn invalid_rows(&self) -> usize {
        self.mask
            .as_ref()
            .map_or(0, |mask| mask.len() - mask.true_count())
    }

    /// Which rows of the batch are valid, `None` when all are.
    pub(crate) fn mask(&self) -> Option<&BooleanArray> {
        self.mask.as_ref()
    }

    /// The valid rows, one slice per feature, in feature order.
    pub(crate) fn slices(&self) -> Vec<&[f64]> {
        self.columns
            .iter()
            .map(|column| column.values().as_ref())
            .collect()
    }
}

/// Whether `values` holds a NaN. First a branch-free pass that vectorizes: `x * 0` is NaN only
/// for NaN and infinite `x`, and eight independent lanes accumulate it; only when that flags
/// something does an exact scan tell NaN from infinity.
fn has_nan(values: &[f64]) -> bool {
    let mut lanes = [0.0f64; 8];
    let blocks = values.chunks_exact(8);
    let tail = blocks.remainder();
    for block in blocks {
        for (lane, value) in lanes.iter_mut().zip(block) {
            *lane += value * 0.0;
        }
    }
    let flagged = lanes.iter().any(|lane| lane.is_nan()) || tail.iter().any(|v| !v.is_finite());
    flagged && values.iter().any(|v| v.is_nan())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn drops_rows_with_null_or_nan_in_any_feature() {
        let x: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            None,
            Some(3.0),
            Some(4.0),
        ]));
        let y: ArrayRef = Arc::new(Float64Array::from(vec![10.0, 20.0, f64::NAN, 40.0]));
        let arrays = [x, y];
        let features = ValidFeatures::new(&arrays).unwrap();
        assert_eq!((features.rows(), features.invalid_rows()), (4, 2));
        assert_eq!(features.slices(), vec![&[1.0, 4.0][..], &[10.0, 40.0][..]]);
    }

    #[test]
    fn infinities_are_valid_and_nan_anywhere_is_found() {
        let mut values = vec![1.0; 37];
        values[5] = f64::INFINITY;
        assert!(!has_nan(&values));
        for position in [0, 17, 36] {
            let mut with_nan = values.clone();
            with_nan[position] = f64::NAN;
            assert!(has_nan(&with_nan), "NaN at {position}");
        }
    }

    #[test]
    fn borrows_clean_batches() {
        let x: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0]));
        let arrays = [x];
        let features = ValidFeatures::new(&arrays).unwrap();
        assert!(features.mask().is_none());
        assert_eq!(features.slices(), vec![&[1.0, 2.0][..]]);
    }
}
