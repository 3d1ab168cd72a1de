//! Binning: each numeric feature's values mapped to at most 256 bins, so that tree learners
//! build split histograms over small integers instead of sorting values.
//!
//! # Bins
//!
//! A feature's values become one `u8` bin index per row. Bin [`MISSING_BIN`] (0) holds null and
//! NaN. The *value bins* `1..=n` (`n <= MAX_BINS`) hold the other values in increasing order:
//! with the feature's strictly increasing upper edges `upper[0..n]`, the last of them `+∞`, value
//! bin `b` holds the values `v` with `upper[b - 2] < v <= upper[b - 1]` (bin 1: `v <= upper[0]`),
//! so every value that is not missing has a bin, including values outside the range the edges
//! were fitted on. A split at threshold bin `t` sends the value bins `1..=t` left: the values
//! `v <= upper[t - 1]` ([`BinEdges::threshold_value`]), which is how a tree of bin thresholds
//! predicts on raw values.
//!
//! # Edges
//!
//! [`FeatureBins::fit`] sketches every feature in one aggregate query
//! ([`crate::quantiles::sketch_columns`] with [`BINNING_K`] items per level). From a feature's
//! sketch of its `n` valid values, the candidate edges are
//!
//! - every distinct value, when the sketch holds every value (it never compacted, which is so
//!   while `n <= BINNING_K`) and they number at most `max_bins`: each distinct value gets a value
//!   bin of its own, as in LightGBM;
//! - otherwise the `i / max_bins` quantiles, `i = 1..max_bins` (lower definition: the smallest
//!   value whose rank is at least `i·n / max_bins`), duplicates removed.
//!
//! Candidates at or above the largest value are dropped (that value's bin is the last, whose
//! upper edge is `+∞`), and `+∞` closes the list. Each edge is one of the training values, so
//! every value bin holds at least one training value; a feature whose valid values are all equal
//! gets a single value bin, and a tree can never split on it (not an error).
//!
//! With quantile edges the bins hold about equal numbers of rows: the rows at or below the `i`th
//! quantile number at least `i·n / max_bins - ε` and those strictly below it fewer than
//! `i·n / max_bins + ε`, where `ε` is the sketch's rank error bound
//! ([`QuantileSketch::rank_error_bound`](crate::kernels::quantile::QuantileSketch::rank_error_bound)),
//! at most `⌈log2(n / k)⌉ · n / k` with `k = BINNING_K`: 0 up to 8,192 values, 0.085% of the
//! values at a million (a fifth of a 255-bin width, 0.39%), and under half a bin width up to
//! 2^29 values. Ties merge bins: several quantiles falling on one frequent value collapse into
//! one edge, so the feature gets fewer bins; a value holding at least `n / max_bins + 2ε` rows
//! always ends a bin. The sketch costs at most `k·(⌈log2(n_p / k)⌉ + 1)` values per feature and
//! partition of `n_p` rows (typically about half that): under 800 KB at ten million rows.
//!
//! # Working set
//!
//! A [`BinnedBatch`] holds one partition's bins, labels and weights, built once per fit by that
//! partition's training task ([`crate::trees::tasks`]) and reused for every tree.

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::common::cast::as_float64_array;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{ident, Expr};

use crate::error::{MlError, Result};
use crate::kernels::histogram::HistogramLayout;
use crate::kernels::quantile::{QuantileSketch, DEFAULT_K};
use crate::params::check_column_list;
use crate::quantiles::{sketch_columns, ColumnSketch};
use crate::summary::numeric_column;

/// The bin of null and NaN values.
pub const MISSING_BIN: u8 = 0;

/// The most value bins a feature can have (and the default of learners' `max_bins`): with
/// [`MISSING_BIN`], 256 bins, so a bin index fits a `u8`.
pub const MAX_BINS: usize = 255;

/// Items per level of the sketches that edges are fitted from: twice
/// [`DEFAULT_K`], so the rank error stays under half a 255-bin width up to 2^29 values (see the
/// [module docs](self)).
pub const BINNING_K: usize = 2 * DEFAULT_K;

/// The value bins of one feature: their strictly increasing upper edges, the last `+∞` (see the
/// [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct BinEdges {
    /// The feature's column.
    pub column: String,
    /// Upper edge of value bin `b` at index `b - 1`.
    upper: Vec<f64>,
}

impl BinEdges {
    /// The bins of `column` with upper edges `upper`; `None` unless `upper` holds 1 to
    /// [`MAX_BINS`] strictly increasing values (so none NaN), the last `+∞`.
    pub fn new(column: impl Into<String>, upper: Vec<f64>) -> Option<Self> {
        let valid = (1..=MAX_BINS).contains(&upper.len())
            && upper.last() == Some(&f64::INFINITY)
            && upper.windows(2).all(|pair| pair[0] < pair[1]);
        valid.then(|| Self {
            column: column.into(),
            upper,
        })
    }

    /// Bins in all, [`MISSING_BIN`] included: the value bins plus one.
    pub fn bins(&self) -> usize {
        self.upper.len() + 1
    }

    /// The upper edges of the value bins, in order; the last is `+∞`.
    pub fn upper(&self) -> &[f64] {
        &self.upper
    }

    /// The bin of `value`: [`MISSING_BIN`] for NaN, else one more than the index of the first
    /// upper edge at or above it.
    #[inline]
    pub fn bin(&self, value: f64) -> u8 {
        if value.is_nan() {
            return MISSING_BIN;
        }
        // Below upper.len() <= MAX_BINS: the last edge, +∞, is at or above every value.
        let below = self.upper.partition_point(|&edge| edge < value);
        (below + 1) as u8
    }

    /// The value a split at threshold bin `threshold` stands for: the rows with
    /// `1 <= bin <= threshold` are those whose value is at most this (`+∞` for the last value
    /// bin: every value that is not missing).
    ///
    /// # Panics
    ///
    /// When `threshold` is [`MISSING_BIN`] or above the value bins.
    pub fn threshold_value(&self, threshold: u8) -> f64 {
        let index = usize::from(threshold);
        assert!(
            (1..=self.upper.len()).contains(&index),
            "threshold bin {threshold} of '{}' outside its value bins 1..={}",
            self.column,
            self.upper.len()
        );
        self.upper[index - 1]
    }

    /// The edges of a feature from its sketch (see the [module docs](self)); an error naming the
    /// column when it has no valid value.
    fn from_sketch(sketch: ColumnSketch, max_bins: usize) -> Result<Self> {
        let ColumnSketch {
            column,
            rows,
            sketch,
        } = sketch;
        let Some(max) = sketch.max() else {
            return Err(MlError::NoValidValues { column, rows });
        };
        let mut upper = candidate_edges(&sketch, max_bins);
        upper.retain(|&edge| edge < max);
        upper.push(f64::INFINITY);
        Ok(Self { column, upper })
    }
}

/// The sorted, distinct values that value bins may end at: every distinct value when the sketch
/// is exact and they number at most `max_bins`, else the `i / max_bins` quantiles.
fn candidate_edges(sketch: &QuantileSketch, max_bins: usize) -> Vec<f64> {
    if let Some(distinct) = exact_distinct_values(sketch, max_bins) {
        return distinct;
    }
    let probabilities: Vec<f64> = (1..max_bins).map(|i| i as f64 / max_bins as f64).collect();
    let mut edges = sketch.quantiles(&probabilities).unwrap_or_default();
    edges.dedup();
    edges
}

/// The distinct values of a sketch that never compacted (so holds every value, each of weight
/// 1), in increasing order, when at most `max_bins`.
fn exact_distinct_values(sketch: &QuantileSketch, max_bins: usize) -> Option<Vec<f64>> {
    if sketch.rank_error_bound() > 0.0 {
        return None;
    }
    let n = sketch.count() as f64;
    // The rank target j - 1/2 falls on the j-th smallest value, whatever the rounding.
    let probabilities: Vec<f64> = (1..=sketch.count()).map(|j| (j as f64 - 0.5) / n).collect();
    let mut values = sketch.quantiles(&probabilities)?;
    values.dedup();
    (values.len() <= max_bins).then_some(values)
}

/// The [`BinEdges`] of a list of features, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBins {
    features: Vec<BinEdges>,
}

impl FeatureBins {
    /// Fits the edges of each of `features` (numeric columns of `data`) with at most `max_bins`
    /// value bins each, in one aggregate query over `data` (see the [module docs](self)).
    ///
    /// Fails with [`MlError::InvalidParam`] for `max_bins` outside `2..=MAX_BINS` or an empty
    /// or repeating feature list, [`MlError::UnknownColumn`] or [`MlError::NotNumeric`] naming
    /// the column before any data is read, [`MlError::NotEnoughRows`] when `data` has no rows,
    /// and [`MlError::NoValidValues`] naming a feature whose values are all null or NaN (a tree
    /// could never use it; a feature missing from some partitions only is fine).
    pub async fn fit(data: &DataFrame, features: &[String], max_bins: usize) -> Result<Self> {
        if !(2..=MAX_BINS).contains(&max_bins) {
            return Err(MlError::InvalidParam {
                param: "max_bins",
                reason: format!("must be in [2, {MAX_BINS}], got {max_bins}"),
            });
        }
        check_column_list("features", features)?;
        let sketches = sketch_columns(data, features, BINNING_K).await?;
        if sketches.first().is_some_and(|sketch| sketch.rows == 0) {
            return Err(MlError::NotEnoughRows {
                estimator: "FeatureBins",
                reason: "the input has no rows".to_string(),
            });
        }
        let features = sketches
            .into_iter()
            .map(|sketch| BinEdges::from_sketch(sketch, max_bins))
            .collect::<Result<_>>()?;
        Ok(Self { features })
    }

    /// Bins with the given per-feature edges.
    pub fn from_edges(features: Vec<BinEdges>) -> Self {
        Self { features }
    }

    /// The edges of each feature, in the order fitted.
    pub fn features(&self) -> &[BinEdges] {
        &self.features
    }

    /// The histogram layout of these features' bins.
    pub fn layout(&self) -> HistogramLayout {
        HistogramLayout::new(&self.features.iter().map(BinEdges::bins).collect::<Vec<_>>())
    }

    /// The features' columns, in order.
    pub fn columns(&self) -> Vec<String> {
        self.features
            .iter()
            .map(|edges| edges.column.clone())
            .collect()
    }

    /// The edges as a flat vector, to travel in plans and be saved with models: for each
    /// feature, its number of value bins, then its upper edges (the last `+∞`). The columns are
    /// not included: the caller keeps them.
    pub fn encode(&self) -> Vec<f64> {
        let values = self
            .features
            .iter()
            .map(|edges| edges.upper.len() + 1)
            .sum();
        let mut encoded = Vec::with_capacity(values);
        for edges in &self.features {
            encoded.push(edges.upper.len() as f64);
            encoded.extend_from_slice(&edges.upper);
        }
        encoded
    }

    /// The bins [`FeatureBins::encode`] wrote, of the features `columns`; `None` when `encoded`
    /// is not the encoding of that many features' valid edges (see [`BinEdges::new`]).
    pub fn decode(columns: &[String], encoded: &[f64]) -> Option<Self> {
        let mut rest = encoded;
        let mut features = Vec::with_capacity(columns.len());
        for column in columns {
            let (&count, tail) = rest.split_first()?;
            if !(1.0..=MAX_BINS as f64).contains(&count) || count.fract() != 0.0 {
                return None;
            }
            let (upper, tail) = tail.split_at_checked(count as usize)?;
            features.push(BinEdges::new(column.clone(), upper.to_vec())?);
            rest = tail;
        }
        rest.is_empty().then_some(Self { features })
    }
}

/// Appends the bin of each of `values` to `out` (null: [`MISSING_BIN`]), allocating nothing per
/// value.
pub fn bin_column(edges: &BinEdges, values: &Float64Array, out: &mut Vec<u8>) {
    let raw = values.values().iter();
    match values.nulls() {
        None => out.extend(raw.map(|&value| edges.bin(value))),
        Some(nulls) => out.extend(raw.zip(nulls.iter()).map(|(&value, valid)| {
            if valid {
                edges.bin(value)
            } else {
                MISSING_BIN
            }
        })),
    }
}

/// The binned rows of one partition: the working set a tree learner reuses for every tree.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BinnedBatch {
    /// One column of bins per feature, in the order of the [`FeatureBins`], each `rows` long.
    pub bins: Vec<Vec<u8>>,
    /// The label of each row; a null label is NaN (the learner validates labels).
    pub label: Vec<f64>,
    /// The weight of each row, when weighted; a null weight is NaN (the learner validates
    /// weights).
    pub weight: Option<Vec<f64>>,
    /// Rows.
    pub rows: usize,
}

impl BinnedBatch {
    /// No rows, of `features` features, with weights when `weighted`.
    pub fn empty(features: usize, weighted: bool) -> Self {
        Self {
            bins: vec![Vec::new(); features],
            label: Vec::new(),
            weight: weighted.then(Vec::new),
            rows: 0,
        }
    }

    /// Appends rows given as `Float64` arrays: one per feature of `bins`, the label and the
    /// weight (when this batch is weighted).
    pub fn append_arrays(
        &mut self,
        bins: &FeatureBins,
        features: &[ArrayRef],
        label: &ArrayRef,
        weight: Option<&ArrayRef>,
    ) -> Result<()> {
        for ((edges, column), out) in bins.features.iter().zip(features).zip(&mut self.bins) {
            bin_column(edges, as_float64_array(column)?, out);
        }
        extend_values(as_float64_array(label)?, &mut self.label);
        if let (Some(column), Some(out)) = (weight, &mut self.weight) {
            extend_values(as_float64_array(column)?, out);
        }
        self.rows += label.len();
        Ok(())
    }
}

/// Appends `values` to `out`, a null as NaN.
fn extend_values(values: &Float64Array, out: &mut Vec<f64>) {
    match values.nulls() {
        None => out.extend_from_slice(values.values()),
        Some(nulls) => out.extend(
            values
                .values()
                .iter()
                .zip(nulls.iter())
                .map(|(&value, valid)| if valid { value } else { f64::NAN }),
        ),
    }
}

/// `column` of `data` as itself under the name `alias`, after checking that it exists and is
/// numeric.
pub(crate) fn numeric_ident(data: &DataFrame, column: &str, alias: String) -> Result<Expr> {
    numeric_column(data, column)?;
    Ok(ident(column).alias(alias))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::{rows_frame, two_partition_frame};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::lit;

    fn names(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|column| column.to_string()).collect()
    }

    /// Each partition of `data` binned by `bins` (features named as in `bins`), in order.
    async fn binned(
        data: &DataFrame,
        bins: &FeatureBins,
        label: &str,
        weight: Option<&str>,
    ) -> Vec<BinnedBatch> {
        let columns: Vec<Expr> = bins
            .features()
            .iter()
            .map(|edges| edges.column.as_str())
            .chain([label])
            .chain(weight)
            .enumerate()
            .map(|(i, column)| numeric_ident(data, column, format!("c{i}")).unwrap())
            .collect();
        let partitions = data
            .clone()
            .select(columns)
            .unwrap()
            .collect_partitioned()
            .await
            .unwrap();
        let features = bins.features().len();
        partitions
            .iter()
            .map(|batches| {
                let mut binned = BinnedBatch::empty(features, weight.is_some());
                for batch in batches {
                    let arrays: Vec<ArrayRef> = batch
                        .columns()
                        .iter()
                        .map(|column| cast(column, &DataType::Float64).unwrap())
                        .collect();
                    let weight = weight.map(|_| &arrays[features + 1]);
                    binned
                        .append_arrays(bins, &arrays[..features], &arrays[features], weight)
                        .unwrap();
                }
                binned
            })
            .collect()
    }

    /// A one-column frame of `values` in `partitions` partitions.
    fn values_frame(values: impl IntoIterator<Item = f64>, partitions: usize) -> DataFrame {
        let rows: Vec<Vec<Option<f64>>> = values.into_iter().map(|v| vec![Some(v)]).collect();
        rows_frame(&["v"], &rows, partitions)
    }

    async fn fit_values(values: impl IntoIterator<Item = f64>, max_bins: usize) -> BinEdges {
        let data = values_frame(values, 3);
        let bins = FeatureBins::fit(&data, &names(&["v"]), max_bins)
            .await
            .unwrap();
        bins.features()[0].clone()
    }

    /// How many of `values` fall in each bin of `edges`.
    fn bin_counts(edges: &BinEdges, values: &[f64]) -> Vec<usize> {
        let mut counts = vec![0; edges.bins()];
        for &value in values {
            counts[usize::from(edges.bin(value))] += 1;
        }
        counts
    }

    #[tokio::test]
    async fn quantile_edges_give_equal_count_bins() {
        let values: Vec<f64> = (0..1000u32).map(|i| f64::from(i * 7_919 % 1000)).collect();
        let edges = fit_values(values.clone(), 4).await;
        assert_eq!(edges.upper(), [249.0, 499.0, 749.0, f64::INFINITY]);
        assert_eq!(bin_counts(&edges, &values), [0, 250, 250, 250, 250]);
    }

    #[tokio::test]
    async fn many_values_bin_within_the_sketch_bound() {
        let n = 20_000u32;
        let values: Vec<f64> = (0..n).map(|i| f64::from(i * 7_919 % n)).collect();
        let edges = fit_values(values.clone(), 16).await;
        assert_eq!(edges.bins(), 17);
        let bound = QuantileSketch::worst_case_rank_error(u64::from(n), BINNING_K);
        assert!(bound > 0.0);
        for count in &bin_counts(&edges, &values)[1..] {
            assert!((*count as f64 - 1250.0).abs() <= 2.0 * bound, "{count}");
        }
    }

    #[tokio::test]
    async fn few_distinct_values_get_one_bin_each() {
        let edges = fit_values((0..1000).map(|i| f64::from(i % 10)), 255).await;
        let mut expected: Vec<f64> = (0..9).map(f64::from).collect();
        expected.push(f64::INFINITY);
        assert_eq!(edges.upper(), expected);
        for value in 0..10 {
            assert_eq!(edges.bin(f64::from(value)), value as u8 + 1);
        }
        // Rare values keep their own bins: the sketch holds every value.
        let skewed = (0..990).map(|_| 0.0).chain((1..=10).map(f64::from));
        let edges = fit_values(skewed, 11).await;
        assert_eq!(edges.bins(), 12);
        assert_eq!(edges.bin(10.0), 11);
        // More distinct values than bins: quantiles, ties merged.
        let edges = fit_values((0..1000).map(|i| f64::from(i % 10)), 4).await;
        assert_eq!(edges.upper(), [2.0, 4.0, 7.0, f64::INFINITY]);
    }

    #[tokio::test]
    async fn a_constant_feature_has_one_value_bin() {
        let edges = fit_values((0..50).map(|_| 5.0), 255).await;
        assert_eq!((edges.bins(), edges.upper()), (2, &[f64::INFINITY][..]));
        assert_eq!([edges.bin(5.0), edges.bin(-1.0), edges.bin(1e9)], [1, 1, 1]);
        assert_eq!(edges.threshold_value(1), f64::INFINITY);
    }

    #[tokio::test]
    async fn values_outside_the_training_range_get_the_outer_bins() {
        let edges = fit_values((0..100).map(f64::from), 10).await;
        let last = (edges.bins() - 1) as u8;
        assert_eq!(last, 10);
        assert_eq!([edges.bin(1e9), edges.bin(f64::INFINITY)], [last, last]);
        assert_eq!([edges.bin(-1e9), edges.bin(f64::NEG_INFINITY)], [1, 1]);
        assert_eq!(edges.bin(f64::NAN), MISSING_BIN);
        // Bin 1 holds 0..=9: a split at threshold 1 goes left at values up to 9.
        assert_eq!((edges.bin(9.0), edges.bin(9.5)), (1, 2));
        assert_eq!(edges.threshold_value(1), 9.0);
    }

    #[tokio::test]
    async fn missing_values_get_bin_zero() {
        // x: 1, 2, null | NaN, 3, 6; n (Int32): all 1.
        let data = two_partition_frame();
        let bins = FeatureBins::fit(&data, &names(&["x", "n"]), 255)
            .await
            .unwrap();
        assert_eq!(bins.features()[0].upper(), [1.0, 2.0, 3.0, f64::INFINITY]);
        let partitions = binned(&data, &bins, "n", None).await;
        let x: Vec<Vec<u8>> = partitions.iter().map(|p| p.bins[0].clone()).collect();
        assert_eq!(x, [vec![1, 2, 0], vec![0, 3, 4]]);
        assert!(partitions.iter().all(|p| p.bins[1] == [1, 1, 1]));
    }

    #[tokio::test]
    async fn bad_parameters_and_columns_are_named() {
        let data = two_partition_frame();
        for max_bins in [0, 1, 256] {
            let error = FeatureBins::fit(&data, &names(&["x"]), max_bins)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    error,
                    MlError::InvalidParam {
                        param: "max_bins",
                        ..
                    }
                ),
                "{error}"
            );
        }
        for features in [names(&[]), names(&["x", "x"])] {
            let error = FeatureBins::fit(&data, &features, 255).await.unwrap_err();
            assert!(
                matches!(
                    error,
                    MlError::InvalidParam {
                        param: "features",
                        ..
                    }
                ),
                "{error}"
            );
        }
        let error = FeatureBins::fit(&data, &names(&["x", "s"]), 255)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "column 's' has type Utf8; a numeric column is required"
        );
    }

    #[tokio::test]
    async fn features_without_valid_values_or_rows_are_errors() {
        // a: missing everywhere; b: missing in the first partition only.
        let rows = vec![
            vec![None, None],
            vec![Some(f64::NAN), Some(f64::NAN)],
            vec![None, Some(2.0)],
            vec![None, Some(3.0)],
        ];
        let data = rows_frame(&["a", "b"], &rows, 2);
        let error = FeatureBins::fit(&data, &names(&["b", "a"]), 255)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, MlError::NoValidValues { column, rows: 4 } if column == "a"),
            "{error}"
        );
        let bins = FeatureBins::fit(&data, &names(&["b"]), 255).await.unwrap();
        assert_eq!(bins.features()[0].upper(), [2.0, f64::INFINITY]);
        let empty = data.filter(lit(false)).unwrap();
        let error = FeatureBins::fit(&empty, &names(&["b"]), 255)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot fit FeatureBins: the input has no rows"
        );
    }

    #[tokio::test]
    async fn encode_and_decode_round_trip() {
        let data = rows_frame(
            &["a", "b"],
            &(0..20)
                .map(|i| vec![Some(f64::from(i)), Some(f64::from(i % 3))])
                .collect::<Vec<_>>(),
            2,
        );
        let columns = names(&["a", "b"]);
        let bins = FeatureBins::fit(&data, &columns, 4).await.unwrap();
        let encoded = bins.encode();
        assert_eq!(encoded[..5], [4.0, 4.0, 9.0, 14.0, f64::INFINITY]);
        assert_eq!(encoded[5..], [3.0, 0.0, 1.0, f64::INFINITY]);
        assert_eq!(FeatureBins::decode(&columns, &encoded), Some(bins.clone()));
        assert_eq!(bins.columns(), columns);
        let corrupt = [
            encoded[..encoded.len() - 1].to_vec(),
            [encoded.as_slice(), &[1.0]].concat(),
            vec![1.0, 5.0, 1.0, f64::INFINITY],
            vec![2.0, 1.0, 1.0, 1.0, f64::INFINITY],
            vec![0.0, 1.0, f64::INFINITY],
            vec![1.5, f64::INFINITY, 1.0, f64::INFINITY],
            vec![2.0, f64::NAN, f64::INFINITY, 1.0, f64::INFINITY],
        ];
        for encoded in corrupt {
            assert_eq!(FeatureBins::decode(&columns, &encoded), None, "{encoded:?}");
        }
        assert_eq!(FeatureBins::decode(&names(&["a"]), &[]), None);
    }

    #[tokio::test]
    async fn binning_keeps_row_order_label_and_weight() {
        let rows: Vec<Vec<Option<f64>>> = (0..30)
            .map(|i| {
                let label = (i != 7).then_some(f64::from(2 * i));
                vec![Some(f64::from(29 - i)), label, Some(f64::from(i % 3))]
            })
            .collect();
        let data = rows_frame(&["a", "label", "w"], &rows, 3);
        let bins = FeatureBins::fit(&data, &names(&["a"]), 255).await.unwrap();
        let partitions = binned(&data, &bins, "label", Some("w")).await;
        assert_eq!(partitions.len(), 3);
        for (p, partition) in partitions.iter().enumerate() {
            let range = 10 * p as u32..10 * (p as u32 + 1);
            assert_eq!(partition.rows, 10);
            let bins: Vec<u8> = range.clone().map(|i| (30 - i) as u8).collect();
            assert_eq!(partition.bins, [bins]);
            let weight: Vec<f64> = range.clone().map(|i| f64::from(i % 3)).collect();
            assert_eq!(partition.weight.as_ref(), Some(&weight));
            for (i, label) in range.zip(&partition.label) {
                assert!(if i == 7 {
                    label.is_nan()
                } else {
                    *label == f64::from(2 * i)
                });
            }
        }
        let unweighted = binned(&data, &bins, "label", None).await;
        assert!(unweighted.iter().all(|p| p.weight.is_none()));
    }

    #[tokio::test]
    async fn one_large_partition_stays_one_in_order() {
        let n = 20_000u32;
        let values: Vec<f64> = (0..n).map(|i| f64::from(i * 7_919 % n)).collect();
        let data = values_frame(values.clone(), 1);
        let bins = FeatureBins::fit(&data, &names(&["v"]), 255).await.unwrap();
        let partitions = binned(&data, &bins, "v", None).await;
        assert_eq!(partitions.len(), 1);
        assert_eq!(partitions[0].label, values);
        let edges = &bins.features()[0];
        let expected: Vec<u8> = values.iter().map(|&v| edges.bin(v)).collect();
        assert_eq!(partitions[0].bins, [expected]);
    }

    #[test]
    fn bin_column_maps_nulls_and_nan_to_the_missing_bin() {
        let edges = BinEdges::new("v", vec![0.0, 10.0, f64::INFINITY]).unwrap();
        let values = Float64Array::from(vec![
            Some(-1.0),
            None,
            Some(f64::NAN),
            Some(0.0),
            Some(3.0),
            Some(11.0),
        ]);
        let mut out = vec![9];
        bin_column(&edges, &values, &mut out);
        assert_eq!(out, [9, 1, 0, 0, 1, 2, 3]);
        bin_column(&edges, &values.slice(3, 2), &mut out);
        assert_eq!(out[7..], [1, 2]);
        assert_eq!(BinEdges::new("v", vec![1.0]), None);
        assert_eq!(BinEdges::new("v", vec![]), None);
    }
}
