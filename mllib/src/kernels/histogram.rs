//! Gradient histograms over binned features, the core of histogram tree growing.
//!
//! # Binned data
//!
//! Each feature is a `&[u8]` column of bin indices, one per row. Bin 0 is *missing* (null or
//! NaN); bins `1..` hold values in increasing order (bin `b` covers the values up to edge `b`).
//! Feature `f` has [`HistogramLayout::bins`]`(f)` bins in all, the missing bin included, at
//! most 256.
//!
//! # Histogram layout
//!
//! A histogram is one flat `f64` slice of [`histogram_len`] values: feature after feature (the
//! bins of feature `f` are [`HistogramLayout::range`]`(f)`), and for each bin
//! [`STATS_PER_BIN`] interleaved sums `[gradient, hessian, count]`. Being one flat vector, it
//! is the partial state of a distributed aggregate as it stands: merging two partials is
//! element-wise addition ([`add_histogram`]). The histogram of one child of a split is the
//! parent's less the other child's ([`subtract_histogram`]), so only the smaller child needs a
//! pass over rows.
//!
//! # Parallelism
//!
//! Above [`PARALLEL_MIN_WORK`] row-features, features are built in parallel (rayon), each into
//! its own disjoint slice of the output, with no locks. Every feature adds its rows in the same
//! order on either path, so the parallel result equals the sequential one bit for bit. Rows are
//! not split into blocks: that would change the order of the sums, and the distributed
//! aggregate already spreads rows over partitions.

use std::ops::Range;

use rayon::prelude::*;

/// Sums kept per bin: gradient, hessian, count.
pub const STATS_PER_BIN: usize = 3;

/// Rows × features below which a histogram is built on the calling thread.
pub const PARALLEL_MIN_WORK: usize = 32 * 1024;

/// Most bins a feature may have, the missing bin included (bin indices are `u8`).
pub const MAX_BINS: usize = 256;

/// Where each feature's bins lie in a flat histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramLayout {
    /// Feature `f`'s bins are `offsets[f]..offsets[f + 1]`.
    offsets: Vec<usize>,
}

impl HistogramLayout {
    /// The layout of features with `bins[f]` bins each (the missing bin included).
    ///
    /// # Panics
    /// If a feature has no bins or more than [`MAX_BINS`].
    pub fn new(bins: &[usize]) -> Self {
        let mut offsets = Vec::with_capacity(bins.len() + 1);
        offsets.push(0);
        for (feature, &count) in bins.iter().enumerate() {
            assert!(
                (1..=MAX_BINS).contains(&count),
                "feature {feature} has {count} bins, not 1 to {MAX_BINS}"
            );
            offsets.push(offsets[feature] + count);
        }
        Self { offsets }
    }

    /// The number of features.
    pub fn features(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Bins over all features.
    pub fn total_bins(&self) -> usize {
        self.offsets[self.features()]
    }

    /// Bins of feature `feature`, the missing bin included.
    pub fn bins(&self, feature: usize) -> usize {
        self.offsets[feature + 1] - self.offsets[feature]
    }

    /// The bins of feature `feature`, as positions among all bins (multiply by
    /// [`STATS_PER_BIN`] for positions in a histogram).
    pub fn range(&self, feature: usize) -> Range<usize> {
        self.offsets[feature]..self.offsets[feature + 1]
    }

    /// Feature `feature`'s part of `histogram`: [`STATS_PER_BIN`] sums for each of its bins.
    pub fn feature_histogram<'a>(&self, histogram: &'a [f64], feature: usize) -> &'a [f64] {
        let range = self.range(feature);
        &histogram[STATS_PER_BIN * range.start..STATS_PER_BIN * range.end]
    }
}

/// Values in a histogram of `layout`: [`STATS_PER_BIN`] per bin.
pub fn histogram_len(layout: &HistogramLayout) -> usize {
    STATS_PER_BIN * layout.total_bins()
}

/// One row's gradient and hessian. They are `f32`, as LightGBM's and XGBoost's per-row values
/// are: a histogram build reads them for every row it adds (after gathering a node's rows), so
/// half the bytes is most of the speed, while the sums in the histogram stay `f64`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GradientPair {
    /// The gradient (already multiplied by the row's weight).
    pub gradient: f32,
    /// The hessian (already multiplied by the row's weight).
    pub hessian: f32,
}

impl GradientPair {
    /// The pair of `gradient` and `hessian`, rounded to `f32`.
    pub fn new(gradient: f64, hessian: f64) -> Self {
        Self {
            gradient: gradient as f32,
            hessian: hessian as f32,
        }
    }
}

/// Per-row inputs of a histogram build, indexed by row like the bin columns.
#[derive(Debug, Clone, Copy)]
pub struct RowSums<'a> {
    /// Gradients and hessians.
    pub derivatives: &'a [GradientPair],
    /// The rows' weights, their counts; each row counts 1 when `None`.
    pub weights: Option<&'a [f64]>,
}

/// Adds the rows listed in `rows` (a node's rows, as indices into the columns) to `out`, a
/// histogram of `layout` ([`histogram_len`] values).
///
/// `bins` holds one column of bin indices per feature; `derivatives` one gradient pair per
/// row. Without `weights` each row counts 1. With `weights` (one per row) a row counts its
/// weight, and its gradient and hessian must already be multiplied by it: they are added as
/// given. The listed rows' pairs and weights are first gathered into contiguous buffers (once
/// per call, not per feature or row), so each feature's pass gathers only bins.
///
/// # Panics
/// If the columns, gradients, hessians, weights or `out` disagree with `layout` or with each
/// other in length, if a row index is out of range, or if a bin index is not below its
/// feature's bin count.
pub fn build_histogram(
    layout: &HistogramLayout,
    bins: &[&[u8]],
    rows: &[u32],
    sums: RowSums<'_>,
    out: &mut [f64],
) {
    let RowSums {
        derivatives,
        weights,
    } = sums;
    check_inputs(layout, bins, derivatives, weights, out);
    let derivatives = gather(derivatives, rows);
    let weights = weights.map(|weights| gather(weights, rows));
    let input = RowInput {
        rows: Some(rows),
        derivatives: &derivatives,
        weights: weights.as_deref(),
    };
    build(layout, bins, &input, out);
}

/// `values` at `rows`, in their order (in parallel for many rows).
fn gather<T: Copy + Send + Sync>(values: &[T], rows: &[u32]) -> Vec<T> {
    if rows.len() >= PARALLEL_MIN_WORK {
        (rows.par_iter().with_min_len(PARALLEL_MIN_WORK))
            .map(|&row| values[row as usize])
            .collect()
    } else {
        rows.iter().map(|&row| values[row as usize]).collect()
    }
}

/// [`build_histogram`] over every row of the columns (the root node), without an index list.
///
/// # Panics
/// As [`build_histogram`].
pub fn build_histogram_all(
    layout: &HistogramLayout,
    bins: &[&[u8]],
    sums: RowSums<'_>,
    out: &mut [f64],
) {
    let RowSums {
        derivatives,
        weights,
    } = sums;
    check_inputs(layout, bins, derivatives, weights, out);
    let input = RowInput {
        rows: None,
        derivatives,
        weights,
    };
    build(layout, bins, &input, out);
}

/// `sibling_out = parent - child`, element-wise: the histogram of a node's other child.
///
/// Exact where the sums are exact (integer-valued gradients, hessians and weights); otherwise
/// it differs from a direct build by rounding, so an empty bin may hold tiny residues.
///
/// # Panics
/// If the lengths differ.
pub fn subtract_histogram(parent: &[f64], child: &[f64], sibling_out: &mut [f64]) {
    assert_eq!(parent.len(), child.len(), "histogram lengths");
    assert_eq!(parent.len(), sibling_out.len(), "histogram lengths");
    for ((sibling, parent), child) in sibling_out.iter_mut().zip(parent).zip(child) {
        *sibling = parent - child;
    }
}

/// `into += other`, element-wise: merges two partial histograms of disjoint rows.
///
/// # Panics
/// If the lengths differ.
pub fn add_histogram(into: &mut [f64], other: &[f64]) {
    assert_eq!(into.len(), other.len(), "histogram lengths");
    for (sum, value) in into.iter_mut().zip(other) {
        *sum += value;
    }
}

/// Per-row inputs of one build. With `rows`, the other slices are already gathered in the
/// order of `rows`; without, they are indexed by row like the bin columns.
struct RowInput<'a> {
    rows: Option<&'a [u32]>,
    derivatives: &'a [GradientPair],
    weights: Option<&'a [f64]>,
}

fn check_inputs(
    layout: &HistogramLayout,
    bins: &[&[u8]],
    derivatives: &[GradientPair],
    weights: Option<&[f64]>,
    out: &[f64],
) {
    assert_eq!(bins.len(), layout.features(), "one bin column per feature");
    let rows = derivatives.len();
    assert!(
        bins.iter().all(|column| column.len() == rows),
        "bin columns of {rows} rows"
    );
    assert!(
        weights.is_none_or(|weights| weights.len() == rows),
        "one weight per row"
    );
    assert_eq!(out.len(), histogram_len(layout), "histogram length");
}

/// Whether `rows` rows over `features` features are worth building in parallel.
fn parallel(rows: usize, features: usize) -> bool {
    features > 1 && rows.saturating_mul(features) >= PARALLEL_MIN_WORK
}

/// Builds every feature into its own slice of `out`, in parallel when there is enough work.
fn build(layout: &HistogramLayout, bins: &[&[u8]], input: &RowInput, out: &mut [f64]) {
    let rows = input.rows.map_or(input.derivatives.len(), <[u32]>::len);
    let cells = split_by_feature(layout, out);
    if parallel(rows, cells.len()) {
        cells
            .into_par_iter()
            .zip(bins.par_iter())
            .for_each(|(cells, column)| build_feature(column, input, cells));
    } else {
        for (cells, column) in cells.into_iter().zip(bins) {
            build_feature(column, input, cells);
        }
    }
}

/// `out` cut into each feature's disjoint slice.
fn split_by_feature<'a>(layout: &HistogramLayout, mut out: &'a mut [f64]) -> Vec<&'a mut [f64]> {
    (0..layout.features())
        .map(|feature| {
            let (cells, rest) =
                std::mem::take(&mut out).split_at_mut(STATS_PER_BIN * layout.bins(feature));
            out = rest;
            cells
        })
        .collect()
}

/// Adds the rows of `input` to one feature's slice `cells`, `column` being its bins.
fn build_feature(column: &[u8], input: &RowInput, cells: &mut [f64]) {
    match input.rows {
        Some(rows) => accumulate_rows(cells, rows.iter().map(|&row| column[row as usize]), input),
        None => accumulate_rows(cells, column.iter().copied(), input),
    }
}

/// Adds each row, given by its bin in `bins` and its sums in `input`, to `cells`.
#[inline(always)]
fn accumulate_rows(cells: &mut [f64], bins: impl Iterator<Item = u8>, input: &RowInput) {
    let sums = bins.zip(input.derivatives);
    match input.weights {
        Some(weights) => accumulate(cells, sums.zip(weights).map(|((bin, d), w)| (bin, *d, *w))),
        None => accumulate(cells, sums.map(|(bin, d)| (bin, *d, 1.0))),
    }
}

/// The inner loop: `(bin, gradient pair, count)` per row, added to the bin's cell.
#[inline(always)]
fn accumulate(cells: &mut [f64], rows: impl Iterator<Item = (u8, GradientPair, f64)>) {
    for (bin, pair, count) in rows {
        let start = STATS_PER_BIN * bin as usize;
        let cell = &mut cells[start..start + STATS_PER_BIN];
        cell[0] += f64::from(pair.gradient);
        cell[1] += f64::from(pair.hessian);
        cell[2] += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random values in `[0, 1)`.
    fn uniform(count: usize, seed: u64) -> Vec<f64> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    /// Binned columns: feature `f` has `bins[f]` bins, every bin used, bin 0 now and then.
    fn columns(bins: &[usize], rows: usize) -> Vec<Vec<u8>> {
        bins.iter()
            .enumerate()
            .map(|(feature, &count)| {
                uniform(rows, feature as u64 + 1)
                    .iter()
                    .map(|u| (u * count as f64) as u8)
                    .collect()
            })
            .collect()
    }

    fn slices(columns: &[Vec<u8>]) -> Vec<&[u8]> {
        columns.iter().map(Vec::as_slice).collect()
    }

    /// Each row's gradient and hessian as one pair.
    fn pairs(gradients: &[f64], hessians: &[f64]) -> Vec<GradientPair> {
        gradients
            .iter()
            .zip(hessians)
            .map(|(&gradient, &hessian)| GradientPair::new(gradient, hessian))
            .collect()
    }

    /// The histogram by direct per-row computation.
    fn naive(
        layout: &HistogramLayout,
        columns: &[Vec<u8>],
        rows: &[u32],
        gradients: &[f64],
        hessians: &[f64],
        weights: Option<&[f64]>,
    ) -> Vec<f64> {
        let mut out = vec![0.0; histogram_len(layout)];
        for &row in rows {
            let row = row as usize;
            for (feature, column) in columns.iter().enumerate() {
                let cell = STATS_PER_BIN * (layout.range(feature).start + column[row] as usize);
                // The build adds each row's values rounded to `f32`.
                out[cell] += f64::from(gradients[row] as f32);
                out[cell + 1] += f64::from(hessians[row] as f32);
                out[cell + 2] += weights.map_or(1.0, |weights| weights[row]);
            }
        }
        out
    }

    /// Integer-valued gradients in `-5..5` and hessians in `1..4`, so all sums are exact.
    fn integer_sums(rows: usize) -> (Vec<f64>, Vec<f64>) {
        let gradients = uniform(rows, 77)
            .into_iter()
            .map(|u| (u * 10.0).floor() - 5.0);
        let hessians = uniform(rows, 78)
            .into_iter()
            .map(|u| (u * 3.0).floor() + 1.0);
        (gradients.collect(), hessians.collect())
    }

    #[test]
    fn layout_places_features_one_after_another() {
        let layout = HistogramLayout::new(&[3, 256, 1]);
        assert_eq!(layout.features(), 3);
        assert_eq!(layout.total_bins(), 260);
        assert_eq!(
            (layout.bins(0), layout.bins(1), layout.bins(2)),
            (3, 256, 1)
        );
        assert_eq!(layout.range(1), 3..259);
        assert_eq!(layout.range(2), 259..260);
        assert_eq!(histogram_len(&layout), 780);
        let histogram: Vec<f64> = (0..780).map(f64::from).collect();
        assert_eq!(
            layout.feature_histogram(&histogram, 2),
            &[777.0, 778.0, 779.0]
        );
    }

    #[test]
    #[should_panic(expected = "not 1 to 256")]
    fn layout_rejects_more_than_256_bins() {
        HistogramLayout::new(&[4, 257]);
    }

    #[test]
    fn build_matches_naive_per_row_sums() {
        let bins = [5, 17, 2, 256];
        let layout = HistogramLayout::new(&bins);
        // Small enough for the sequential path, then large enough for the parallel one.
        for rows in [50, 20_000] {
            let columns = columns(&bins, rows);
            let gradients: Vec<f64> = uniform(rows, 10).iter().map(|u| u - 0.5).collect();
            let hessians = uniform(rows, 11);
            let subset: Vec<u32> = (0..rows as u32).filter(|row| row % 3 != 1).collect();
            let mut out = vec![0.0; histogram_len(&layout)];
            build_histogram(
                &layout,
                &slices(&columns),
                &subset,
                RowSums {
                    derivatives: &pairs(&gradients, &hessians),
                    weights: None,
                },
                &mut out,
            );
            let expected = naive(&layout, &columns, &subset, &gradients, &hessians, None);
            assert_eq!(out, expected, "{rows} rows");
        }
    }

    #[test]
    fn build_all_equals_build_over_every_row() {
        let bins = [9, 3];
        let layout = HistogramLayout::new(&bins);
        let rows = 1_000;
        let columns = columns(&bins, rows);
        let (gradients, hessians) = (uniform(rows, 5), uniform(rows, 6));
        let every: Vec<u32> = (0..rows as u32).collect();
        let (mut all, mut listed) = (vec![0.0; 36], vec![0.0; 36]);
        build_histogram_all(
            &layout,
            &slices(&columns),
            RowSums {
                derivatives: &pairs(&gradients, &hessians),
                weights: None,
            },
            &mut all,
        );
        build_histogram(
            &layout,
            &slices(&columns),
            &every,
            RowSums {
                derivatives: &pairs(&gradients, &hessians),
                weights: None,
            },
            &mut listed,
        );
        assert_eq!(all, listed);
        assert_eq!(
            all,
            naive(&layout, &columns, &every, &gradients, &hessians, None)
        );
    }

    #[test]
    fn weights_are_counted_and_sums_added_as_given() {
        let layout = HistogramLayout::new(&[3]);
        let column: &[u8] = &[1, 2, 2, 0];
        let gradients = [1.0, 2.0, 3.0, 4.0];
        let hessians = [0.5, 0.25, 0.125, 1.0];
        let weights = [2.0, 0.5, 1.5, 3.0];
        let mut out = vec![0.0; 9];
        build_histogram(
            &layout,
            &[column],
            &[0, 1, 2, 3],
            RowSums {
                derivatives: &pairs(&gradients, &hessians),
                weights: Some(&weights),
            },
            &mut out,
        );
        assert_eq!(out, [4.0, 1.0, 3.0, 1.0, 0.5, 2.0, 5.0, 0.375, 2.0]);
        let mut all = vec![0.0; 9];
        build_histogram_all(
            &layout,
            &[column],
            RowSums {
                derivatives: &pairs(&gradients, &hessians),
                weights: Some(&weights),
            },
            &mut all,
        );
        assert_eq!(all, out);
    }

    #[test]
    fn parallel_build_equals_sequential_bit_for_bit() {
        let bins = [256, 7, 64, 2, 31, 256];
        let layout = HistogramLayout::new(&bins);
        let rows = 30_000;
        let columns = columns(&bins, rows);
        let gradients: Vec<f64> = uniform(rows, 21).iter().map(|u| (u - 0.5) * 1e3).collect();
        let hessians: Vec<f64> = uniform(rows, 22).iter().map(|u| u * 1e-3).collect();
        let weights = uniform(rows, 23);
        let subset: Vec<u32> = (0..rows as u32).rev().filter(|row| row % 5 < 3).collect();
        let bits = |values: &[f64]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let on = |threads, rows: Option<&[u32]>| {
            let mut out = vec![0.0; histogram_len(&layout)];
            let build = || match rows {
                Some(rows) => build_histogram(
                    &layout,
                    &slices(&columns),
                    rows,
                    RowSums {
                        derivatives: &pairs(&gradients, &hessians),
                        weights: Some(&weights),
                    },
                    &mut out,
                ),
                None => build_histogram_all(
                    &layout,
                    &slices(&columns),
                    RowSums {
                        derivatives: &pairs(&gradients, &hessians),
                        weights: Some(&weights),
                    },
                    &mut out,
                ),
            };
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(build);
            out
        };
        for rows in [None, Some(subset.as_slice())] {
            assert_eq!(bits(&on(1, rows)), bits(&on(4, rows)));
        }
    }

    #[test]
    fn root_is_left_plus_right_and_subtraction_gives_the_sibling() {
        let bins = [12, 4, 100];
        let layout = HistogramLayout::new(&bins);
        let rows = 5_000;
        let columns = columns(&bins, rows);
        let (gradients, hessians) = integer_sums(rows);
        let build_rows = |rows: &[u32]| {
            let mut out = vec![0.0; histogram_len(&layout)];
            build_histogram(
                &layout,
                &slices(&columns),
                rows,
                RowSums {
                    derivatives: &pairs(&gradients, &hessians),
                    weights: None,
                },
                &mut out,
            );
            out
        };
        let mut root = vec![0.0; histogram_len(&layout)];
        build_histogram_all(
            &layout,
            &slices(&columns),
            RowSums {
                derivatives: &pairs(&gradients, &hessians),
                weights: None,
            },
            &mut root,
        );
        // Split on feature 1: bins 0 and 1 go left.
        let (left, right): (Vec<u32>, Vec<u32>) =
            (0..rows as u32).partition(|&row| columns[1][row as usize] <= 1);
        let (left, right) = (build_rows(&left), build_rows(&right));
        let mut merged = left.clone();
        add_histogram(&mut merged, &right);
        assert_eq!(merged, root);
        let mut sibling = vec![f64::NAN; histogram_len(&layout)];
        subtract_histogram(&root, &left, &mut sibling);
        assert_eq!(sibling, right);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn a_bin_beyond_its_features_count_panics() {
        let layout = HistogramLayout::new(&[3, 3]);
        let mut out = vec![0.0; histogram_len(&layout)];
        build_histogram_all(
            &layout,
            &[&[1, 2], &[0, 3]],
            RowSums {
                derivatives: &[GradientPair::new(1.0, 1.0); 2],
                weights: None,
            },
            &mut out,
        );
    }
}
