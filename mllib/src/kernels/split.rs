//! The best split of a node from its gradient histogram, by second-order gain.
//!
//! # Gain
//!
//! A node with gradient sum `G` and hessian sum `H` takes the leaf value `-G / (H + λ)`, which
//! lowers the second-order approximation of the loss by `½ G² / (H + λ)`; call `G² / (H + λ)`
//! its *score*. A split into `L` and `R` is worth
//!
//! ```text
//! gain = ½ (score(L) + score(R) - score(parent))
//! ```
//!
//! the decrease of the approximate loss when the node becomes two leaves (the formula of
//! XGBoost and LightGBM; some implementations report it without the ½).
//!
//! # Candidates
//!
//! For each candidate feature, thresholds `t` run over its value bins from left to right: rows
//! with bins `1..=t` go left, the other value bins right, and the missing bin (bin 0) goes to
//! whichever side gains more (XGBoost's learned default direction). On equal gains missing goes
//! right, so where the missing bin is empty it goes right. The last threshold with missing
//! right separates present from missing values; with missing left it would send every row left,
//! so it is not a candidate. Both children must hold at least
//! [`SplitParams::min_child_weight`] of hessian and [`SplitParams::min_samples_leaf`] of count
//! (and a positive count), and the gain must exceed [`SplitParams::min_split_gain`]. The best
//! gain wins; equal gains go to the lower feature, then the lower threshold.
//!
//! # Random forests
//!
//! Regression by variance reduction is this gain with gradient `-y` and hessian `1` per row (or
//! `-w·y` and `w` with row weights) and `λ = 0`: then `score = G² / H = (Σy)² / n`, and a
//! node's sum of squared errors is `Σy² - (Σy)² / n`, so the split's reduction of the summed
//! squared error is `score(L) + score(R) - score(parent)` (the `Σy²` terms cancel), twice the
//! gain; the leaf value `-G / H` is the mean of `y`. With labels 0 and 1 the same sums give
//! each node's weighted share of class 1, `p = -G / H`, and the gain is a quarter of the
//! weighted Gini decrease (`H · 2p(1 - p)` before less after). [`Criterion::Entropy`] scores a
//! node by its weighted entropy instead, from the same sums: its gain is the weighted entropy
//! decrease `H · e(p) - H_L · e(p_L) - H_R · e(p_R)`, in bits.
//!
//! # Channels: multiclass forests
//!
//! A histogram may hold several *channels*: that many histograms of the same layout one after
//! another, the same rows in each with their own gradients (a node's sums are then one
//! [`NodeSums`] per channel; hessians and counts agree across channels). A node scores the sum
//! of its channels' scores. A multiclass forest gives channel `k` the gradient `-w` for rows
//! of class `k` (0 for the others) and hessian `w`: then `Σ_k G_k² / H = H Σ_k p_k²`, and the
//! gain is half the weighted Gini decrease (`H (1 - Σ_k p_k²)` before less after); with
//! [`Criterion::Entropy`] a node scores `2 H Σ_k p_k log2 p_k` over its channels together, and
//! the gain is the weighted entropy decrease.

use std::ops::{Add, Range, Sub};

use rayon::prelude::*;

use super::histogram::{histogram_len, HistogramLayout, STATS_PER_BIN};

/// How a node's sums score (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Criterion {
    /// `G² / (H + λ)`: the second-order loss decrease of gradient boosting, the variance
    /// reduction of a regression forest and the Gini decrease of a classification forest.
    #[default]
    SecondOrder,
    /// `-2 H · e(p)` with `p = -G / H` the node's share of class 1 and `e` the binary entropy in
    /// bits: half the score difference is the weighted entropy decrease.
    Entropy,
}

impl Criterion {
    /// The score of a node with sums `sums`, one per channel (`lambda` only counts for
    /// [`Criterion::SecondOrder`]).
    pub fn score(self, sums: &[NodeSums], lambda: f64) -> f64 {
        match self {
            Criterion::SecondOrder => sums.iter().map(|sums| sums.score(lambda)).sum(),
            Criterion::Entropy => {
                let hessian = sums[0].hessian;
                if hessian <= 0.0 {
                    return 0.0;
                }
                let plogp = |q: f64| if q > 0.0 { q * q.log2() } else { 0.0 };
                let share = |sums: &NodeSums| (-sums.gradient / hessian).clamp(0.0, 1.0);
                let entropy_terms = match sums {
                    // One channel holds class 1; class 0 has the rest.
                    [sums] => plogp(share(sums)) + plogp(1.0 - share(sums)),
                    classes => classes.iter().map(|sums| plogp(share(sums))).sum(),
                };
                2.0 * hessian * entropy_terms
            }
        }
    }
}

/// What a split must satisfy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitParams {
    /// L2 regularization `λ` of leaf values, added to every hessian sum. Default 0.
    pub lambda_l2: f64,
    /// The least hessian sum of each child. Default `1e-3` (LightGBM's).
    pub min_child_weight: f64,
    /// The least count of each child. The count is weighted: the sum of the rows' weights (the
    /// number of rows without weights). Default 20 (LightGBM's).
    pub min_samples_leaf: f64,
    /// A split's gain must exceed this. Default 0.
    pub min_split_gain: f64,
    /// How gains are scored. Default [`Criterion::SecondOrder`].
    pub criterion: Criterion,
}

impl Default for SplitParams {
    fn default() -> Self {
        Self {
            lambda_l2: 0.0,
            min_child_weight: 1e-3,
            min_samples_leaf: 20.0,
            min_split_gain: 0.0,
            criterion: Criterion::SecondOrder,
        }
    }
}

/// The sums over a node's rows (or a bin's, or a child's).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NodeSums {
    /// Sum of the gradients.
    pub gradient: f64,
    /// Sum of the hessians.
    pub hessian: f64,
    /// Sum of the row weights (the number of rows without weights).
    pub count: f64,
}

impl NodeSums {
    /// The sums of the bin at position `bin` (among all bins) of `histogram`.
    fn of_bin(histogram: &[f64], bin: usize) -> Self {
        let cell = &histogram[STATS_PER_BIN * bin..STATS_PER_BIN * (bin + 1)];
        Self {
            gradient: cell[0],
            hessian: cell[1],
            count: cell[2],
        }
    }

    /// The sums over all bins of feature `feature` in `histogram`: the node's sums, as every
    /// row falls in one bin of each feature (up to the order of the additions).
    pub fn of_feature(layout: &HistogramLayout, histogram: &[f64], feature: usize) -> Self {
        layout
            .range(feature)
            .map(|bin| Self::of_bin(histogram, bin))
            .fold(Self::default(), Add::add)
    }

    /// [`NodeSums::of_feature`] of each of the `histogram`'s channels (see the module docs).
    pub fn of_channels(layout: &HistogramLayout, histogram: &[f64], feature: usize) -> Vec<Self> {
        let channel_len = histogram_len(layout);
        (histogram.chunks_exact(channel_len))
            .map(|channel| Self::of_feature(layout, channel, feature))
            .collect()
    }

    /// The leaf value minimizing the second-order loss, `-G / (H + λ)`; 0 where `H + λ <= 0`.
    pub fn leaf_value(&self, lambda: f64) -> f64 {
        let denominator = self.hessian + lambda;
        if denominator > 0.0 {
            -self.gradient / denominator
        } else {
            0.0
        }
    }

    /// `G² / (H + λ)`, twice the loss decrease of the leaf value; 0 where `H + λ <= 0`.
    pub fn score(&self, lambda: f64) -> f64 {
        let denominator = self.hessian + lambda;
        if denominator > 0.0 {
            self.gradient * self.gradient / denominator
        } else {
            0.0
        }
    }

    /// Whether a child with these sums is allowed by `params`.
    fn admissible(&self, params: &SplitParams) -> bool {
        self.count > 0.0
            && self.count >= params.min_samples_leaf
            && self.hessian >= params.min_child_weight
    }
}

impl Add for NodeSums {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            gradient: self.gradient + other.gradient,
            hessian: self.hessian + other.hessian,
            count: self.count + other.count,
        }
    }
}

impl Sub for NodeSums {
    type Output = Self;

    fn sub(self, other: Self) -> Self {
        Self {
            gradient: self.gradient - other.gradient,
            hessian: self.hessian - other.hessian,
            count: self.count - other.count,
        }
    }
}

/// A node's split on one feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The feature split on.
    pub feature: usize,
    /// Rows with bins `1..=threshold` go left, higher bins right.
    pub threshold: u8,
    /// Whether rows in the missing bin (0) go left.
    pub missing_left: bool,
    /// `½ (score(left) + score(right) - score(parent))`.
    pub gain: f64,
    /// Sums of the left child, one per channel.
    pub left: Vec<NodeSums>,
    /// Sums of the right child (the parent's less the left child's), one per channel.
    pub right: Vec<NodeSums>,
}

impl Split {
    /// Whether a row in bin `bin` of the split's feature goes left.
    pub fn goes_left(&self, bin: u8) -> bool {
        if bin == 0 {
            self.missing_left
        } else {
            bin <= self.threshold
        }
    }

    /// Whether `self` is preferred to `other`: a higher gain, or an equal one with a lower
    /// feature, then a lower threshold, then missing right.
    fn beats(&self, other: &Split) -> bool {
        let key = |split: &Split| (split.feature, split.threshold, split.missing_left);
        self.gain > other.gain || (self.gain == other.gain && key(self) < key(other))
    }
}

/// The better of `best` and `candidate` by [`Split::beats`].
fn better(best: Option<Split>, candidate: Option<Split>) -> Option<Split> {
    match (best, candidate) {
        (Some(best), Some(candidate)) if !candidate.beats(&best) => Some(best),
        (best, None) => best,
        (_, candidate) => candidate,
    }
}

/// The best split of a node with histogram `histogram` (of `layout`) and sums `total` (one
/// per channel: see the module docs), over the features in `features` (all of them when
/// `None`; a subset for per-node feature sampling in random forests, or per-tree column
/// sampling), or `None` if no split satisfies `params`.
///
/// `total` is the parent's sums for every feature: each candidate's right child is `total`
/// less its left child. See the module documentation for the candidates and the gain.
///
/// # Panics
/// If `histogram` is not [`histogram_len`] long per channel or a feature is out of range.
pub fn best_split(
    layout: &HistogramLayout,
    histogram: &[f64],
    total: &[NodeSums],
    params: &SplitParams,
    features: Option<&[usize]>,
) -> Option<Split> {
    let channel_len = histogram_len(layout);
    assert_eq!(
        histogram.len(),
        total.len() * channel_len,
        "histogram length"
    );
    let place = |feature: usize| {
        let range = layout.range(feature);
        let cells = STATS_PER_BIN * range.start..STATS_PER_BIN * range.end;
        (feature, cells)
    };
    let scan = Scan {
        histogram,
        channel_len,
        total,
        parent_score: params.criterion.score(total, params.lambda_l2),
        params,
    };
    match features {
        Some(features) => scan.best_over(features.iter().map(|&f| place(f))),
        None => scan.best_over((0..layout.features()).map(place)),
    }
}

/// [`best_split`] of a *compact* histogram: the bins of `features` only, one feature after
/// another in the list's order (what a random forest's node builds for its feature sample),
/// in each channel.
///
/// # Panics
/// If `histogram`'s length is not that of the listed features' bins per channel.
pub fn best_split_compact(
    layout: &HistogramLayout,
    histogram: &[f64],
    total: &[NodeSums],
    params: &SplitParams,
    features: &[usize],
) -> Option<Split> {
    let channel_len: usize = features
        .iter()
        .map(|&f| STATS_PER_BIN * layout.bins(f))
        .sum();
    assert_eq!(
        histogram.len(),
        total.len() * channel_len,
        "compact histogram length"
    );
    let mut start = 0;
    let places = features.iter().map(|&feature| {
        let cells = start..start + STATS_PER_BIN * layout.bins(feature);
        start = cells.end;
        (feature, cells)
    });
    Scan {
        histogram,
        channel_len,
        total,
        parent_score: params.criterion.score(total, params.lambda_l2),
        params,
    }
    .best_over(places)
}

/// One open node of a frontier, for [`best_splits_parallel`].
#[derive(Debug, Clone, Copy)]
pub struct NodeHistogram<'a> {
    /// The node's histogram ([`histogram_len`] values per channel).
    pub histogram: &'a [f64],
    /// The node's sums, one per channel.
    pub total: &'a [NodeSums],
    /// The node's candidate features (all when `None`).
    pub features: Option<&'a [usize]>,
    /// Whether `histogram` is compact: the bins of `features` only ([`best_split_compact`]).
    pub compact: bool,
}

/// [`best_split`] of every node of a frontier, in parallel (rayon), in the nodes' order.
///
/// # Panics
/// As [`best_split`].
pub fn best_splits_parallel(
    layout: &HistogramLayout,
    nodes: &[NodeHistogram],
    params: &SplitParams,
) -> Vec<Option<Split>> {
    nodes
        .par_iter()
        .map(|node| match (node.compact, node.features) {
            (true, Some(features)) => {
                best_split_compact(layout, node.histogram, node.total, params, features)
            }
            _ => best_split(layout, node.histogram, node.total, params, node.features),
        })
        .collect()
}

/// What scanning a node's features needs.
struct Scan<'a> {
    /// The node's histogram, all channels.
    histogram: &'a [f64],
    /// Values per channel in `histogram`.
    channel_len: usize,
    /// The node's sums, one per channel.
    total: &'a [NodeSums],
    parent_score: f64,
    params: &'a SplitParams,
}

impl Scan<'_> {
    /// The best split over `(feature, cells)` pairs, `cells` the positions of the feature's
    /// bins in each channel.
    fn best_over(&self, features: impl Iterator<Item = (usize, Range<usize>)>) -> Option<Split> {
        features
            .map(|(feature, cells)| self.best_on(feature, cells))
            .fold(None, better)
    }

    /// The sums of bin `bin` of the feature at `cells` in each channel, into `out`.
    fn bin_sums(&self, cells: &Range<usize>, bin: usize, out: &mut [NodeSums]) {
        for (channel, sums) in out.iter_mut().enumerate() {
            let start = channel * self.channel_len + cells.start;
            *sums = NodeSums::of_bin(&self.histogram[start..start + cells.len()], bin);
        }
    }

    /// The best split on `feature` (its bins at `cells`), scanning thresholds left to right.
    fn best_on(&self, feature: usize, cells: Range<usize>) -> Option<Split> {
        let bins = cells.len() / STATS_PER_BIN;
        let channels = self.total.len();
        let mut missing = vec![NodeSums::default(); channels];
        self.bin_sums(&cells, 0, &mut missing);
        let mut bin = vec![NodeSums::default(); channels];
        let mut values_left = vec![NodeSums::default(); channels];
        let mut left = vec![NodeSums::default(); channels];
        let mut right = vec![NodeSums::default(); channels];
        // The best gain, its threshold and missing direction, and its left child's sums.
        let mut best: Option<(f64, u8, bool)> = None;
        let mut best_left = vec![NodeSums::default(); channels];
        for threshold in 1..bins {
            self.bin_sums(&cells, threshold, &mut bin);
            for (sums, bin) in values_left.iter_mut().zip(&bin) {
                *sums = *sums + *bin;
            }
            // Threshold `bins - 1` with missing left would send every row left.
            let directions: &[bool] = if threshold + 1 < bins {
                &[false, true]
            } else {
                &[false]
            };
            for &missing_left in directions {
                for channel in 0..channels {
                    left[channel] = if missing_left {
                        values_left[channel] + missing[channel]
                    } else {
                        values_left[channel]
                    };
                    right[channel] = self.total[channel] - left[channel];
                }
                let Some(gain) = self.gain(&left, &right) else {
                    continue;
                };
                // Thresholds rise and missing right comes first: only a higher gain wins.
                if best.is_none_or(|(best_gain, _, _)| gain > best_gain) {
                    best = Some((gain, threshold as u8, missing_left));
                    best_left.copy_from_slice(&left);
                }
            }
        }
        best.map(|(gain, threshold, missing_left)| Split {
            feature,
            threshold,
            missing_left,
            gain,
            right: (self.total.iter().zip(&best_left))
                .map(|(total, left)| *total - *left)
                .collect(),
            left: best_left,
        })
    }

    /// The gain of dividing the node into children with sums `left` and `right`, if `params`
    /// allow it.
    fn gain(&self, left: &[NodeSums], right: &[NodeSums]) -> Option<f64> {
        let params = self.params;
        if !(left[0].admissible(params) && right[0].admissible(params)) {
            return None;
        }
        let score = |sums: &[NodeSums]| params.criterion.score(sums, params.lambda_l2);
        let gain = 0.5 * (score(left) + score(right) - self.parent_score);
        (gain > params.min_split_gain).then_some(gain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::histogram::{build_histogram_all, GradientPair, RowSums};

    /// Lets every split with a positive gain through.
    const PERMISSIVE: SplitParams = SplitParams {
        lambda_l2: 0.0,
        min_child_weight: 0.0,
        min_samples_leaf: 1.0,
        min_split_gain: 0.0,
        criterion: Criterion::SecondOrder,
    };

    /// A node's histogram over every row, with its sums.
    fn node(
        bins: &[usize],
        columns: &[&[u8]],
        gradients: &[f64],
        hessians: &[f64],
    ) -> (HistogramLayout, Vec<f64>, NodeSums) {
        let layout = HistogramLayout::new(bins);
        let mut histogram = vec![0.0; histogram_len(&layout)];
        let pairs: Vec<GradientPair> = (gradients.iter().zip(hessians))
            .map(|(&gradient, &hessian)| GradientPair::new(gradient, hessian))
            .collect();
        build_histogram_all(
            &layout,
            columns,
            RowSums {
                derivatives: &pairs,
                weights: None,
            },
            &mut histogram,
        );
        let total = NodeSums {
            gradient: pairs.iter().map(|pair| f64::from(pair.gradient)).sum(),
            hessian: pairs.iter().map(|pair| f64::from(pair.hessian)).sum(),
            count: gradients.len() as f64,
        };
        (layout, histogram, total)
    }

    /// Feature 1 separates negative gradients (bins 1, 2) from positive ones (bins 3, 4);
    /// feature 0 carries no information.
    fn obvious() -> (HistogramLayout, Vec<f64>, NodeSums) {
        node(
            &[3, 5],
            &[&[1, 1, 2, 2, 1, 1, 2, 2], &[1, 2, 1, 2, 3, 4, 3, 4]],
            &[-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0],
            &[1.0; 8],
        )
    }

    /// One value feature: two rows at -1 in bin 1, two at +1 in bin 2, one missing row.
    fn with_missing(missing_gradient: f64) -> (HistogramLayout, Vec<f64>, NodeSums) {
        node(
            &[3],
            &[&[1, 1, 2, 2, 0]],
            &[-1.0, -1.0, 1.0, 1.0, missing_gradient],
            &[1.0; 5],
        )
    }

    fn sums(gradient: f64, hessian: f64, count: f64) -> NodeSums {
        NodeSums {
            gradient,
            hessian,
            count,
        }
    }

    #[test]
    fn finds_the_obvious_split_with_its_gain_and_child_sums() {
        let (layout, histogram, total) = obvious();
        let split = best_split(&layout, &histogram, &[total], &PERMISSIVE, None).unwrap();
        assert_eq!(
            split,
            Split {
                feature: 1,
                threshold: 2,
                missing_left: false,
                gain: 0.5 * (16.0 / 4.0 + 16.0 / 4.0),
                left: vec![sums(-4.0, 4.0, 4.0)],
                right: vec![sums(4.0, 4.0, 4.0)],
            }
        );
        let params = SplitParams {
            lambda_l2: 1.0,
            ..PERMISSIVE
        };
        let split = best_split(&layout, &histogram, &[total], &params, None).unwrap();
        assert_eq!((split.feature, split.threshold), (1, 2));
        assert!((split.gain - 0.5 * (16.0 / 5.0 + 16.0 / 5.0)).abs() < 1e-12);
        assert_eq!(split.left[0].leaf_value(1.0), 0.8);
    }

    #[test]
    fn missing_values_go_to_the_side_that_gains_more() {
        // Missing with a large positive gradient joins the positive side (right)...
        let (layout, histogram, total) = with_missing(3.0);
        let split = best_split(&layout, &histogram, &[total], &PERMISSIVE, None).unwrap();
        assert_eq!((split.threshold, split.missing_left), (1, false));
        assert_eq!(
            (split.left[0], split.right[0]),
            (sums(-2.0, 2.0, 2.0), sums(5.0, 3.0, 3.0))
        );
        let gain = 0.5 * (4.0 / 2.0 + 25.0 / 3.0 - 9.0 / 5.0);
        assert!((split.gain - gain).abs() < 1e-12);
        // ... and with a large negative one, the negative side (left).
        let (layout, histogram, total) = with_missing(-3.0);
        let split = best_split(&layout, &histogram, &[total], &PERMISSIVE, None).unwrap();
        assert_eq!((split.threshold, split.missing_left), (1, true));
        assert_eq!(
            (split.left[0], split.right[0]),
            (sums(-5.0, 3.0, 3.0), sums(2.0, 2.0, 2.0))
        );
        assert!(split.goes_left(0) && split.goes_left(1) && !split.goes_left(2));
    }

    #[test]
    fn present_against_missing_is_a_candidate() {
        // Values carry nothing; only missing differs.
        let (layout, histogram, total) = node(
            &[3],
            &[&[1, 2, 1, 2, 0, 0]],
            &[0.0, 0.0, 0.0, 0.0, 2.0, 2.0],
            &[1.0; 6],
        );
        let split = best_split(&layout, &histogram, &[total], &PERMISSIVE, None).unwrap();
        assert_eq!((split.threshold, split.missing_left), (2, false));
        assert_eq!(split.right, [sums(4.0, 2.0, 2.0)]);
    }

    #[test]
    fn an_empty_missing_bin_goes_right() {
        let (layout, histogram, total) = obvious();
        assert_eq!(
            NodeSums::of_bin(layout.feature_histogram(&histogram, 1), 0),
            sums(0.0, 0.0, 0.0)
        );
        let split = best_split(&layout, &histogram, &[total], &PERMISSIVE, None).unwrap();
        assert!(!split.missing_left);
    }

    #[test]
    fn limits_reject_splits() {
        let (layout, histogram, total) = obvious();
        let with = |params: SplitParams| best_split(&layout, &histogram, &[total], &params, None);
        // Each child of the best split has 4 rows, a hessian of 4 and the gain is 4.
        for (samples, weight, gain) in [(5.0, 0.0, 0.0), (1.0, 4.5, 0.0), (1.0, 0.0, 4.0)] {
            let params = SplitParams {
                min_samples_leaf: samples,
                min_child_weight: weight,
                min_split_gain: gain,
                ..PERMISSIVE
            };
            assert_eq!(with(params), None, "{params:?}");
        }
        let (samples, weight, gain) = (4.0, 4.0, 3.99);
        let params = SplitParams {
            min_samples_leaf: samples,
            min_child_weight: weight,
            min_split_gain: gain,
            ..PERMISSIVE
        };
        assert_eq!(with(params).map(|split| split.threshold), Some(2));
    }

    #[test]
    fn only_candidate_features_are_split_on() {
        let (layout, histogram, total) = obvious();
        let on = |features: &[usize]| {
            best_split(&layout, &histogram, &[total], &PERMISSIVE, Some(features))
        };
        assert_eq!(on(&[0]), None);
        assert_eq!(on(&[]), None);
        assert_eq!(on(&[1]).map(|split| split.feature), Some(1));
    }

    #[test]
    fn ties_go_to_the_lower_feature_then_the_lower_threshold() {
        // Features 0 and 1 are the same column; bin 2 is empty, so thresholds 1 and 2 give the
        // same partition.
        let column: &[u8] = &[1, 1, 3, 3];
        let (layout, histogram, total) = node(
            &[4, 4],
            &[column, column],
            &[-1.0, -1.0, 1.0, 1.0],
            &[1.0; 4],
        );
        for features in [None, Some(&[1, 0][..])] {
            let split = best_split(&layout, &histogram, &[total], &PERMISSIVE, features).unwrap();
            assert_eq!(
                (split.feature, split.threshold, split.missing_left),
                (0, 1, false)
            );
        }
    }

    #[test]
    fn a_constant_feature_gives_no_split() {
        let (layout, histogram, total) =
            node(&[4], &[&[2, 2, 2, 2]], &[-1.0, 3.0, 0.5, 2.0], &[1.0; 4]);
        assert_eq!(
            best_split(&layout, &histogram, &[total], &PERMISSIVE, None),
            None
        );
    }

    #[test]
    fn a_frontier_in_parallel_equals_node_by_node() {
        let (layout, first, first_total) = obvious();
        // Same columns, gradients that feature 0 separates (bin 1 against bin 2).
        let (_, second, second_total) = node(
            &[3, 5],
            &[&[1, 1, 2, 2, 1, 1, 2, 2], &[1, 2, 1, 2, 3, 4, 3, 4]],
            &[-1.0, -1.0, 2.0, 2.0, -1.0, -1.0, 2.0, 2.0],
            &[1.0; 8],
        );
        let only_feature_0 = [0];
        let frontier = [
            NodeHistogram {
                histogram: &first,
                total: std::slice::from_ref(&first_total),
                features: None,
                compact: false,
            },
            NodeHistogram {
                histogram: &second,
                total: std::slice::from_ref(&second_total),
                features: None,
                compact: false,
            },
            NodeHistogram {
                histogram: &first,
                total: std::slice::from_ref(&first_total),
                features: Some(&only_feature_0),
                compact: false,
            },
        ];
        // A compact histogram of feature 1 alone splits as the full one restricted to it.
        let only_feature_1 = [1];
        let compact = layout.feature_histogram(&second, 1).to_vec();
        let compact_node = NodeHistogram {
            histogram: &compact,
            total: std::slice::from_ref(&second_total),
            features: Some(&only_feature_1),
            compact: true,
        };
        assert_eq!(
            best_splits_parallel(&layout, &[compact_node], &PERMISSIVE),
            [best_split(
                &layout,
                &second,
                &[second_total],
                &PERMISSIVE,
                Some(&only_feature_1)
            )]
        );
        let splits = best_splits_parallel(&layout, &frontier, &PERMISSIVE);
        let expected: Vec<Option<Split>> = frontier
            .iter()
            .map(|node| {
                best_split(
                    &layout,
                    node.histogram,
                    node.total,
                    &PERMISSIVE,
                    node.features,
                )
            })
            .collect();
        assert_eq!(splits, expected);
        let chosen: Vec<_> = splits
            .iter()
            .map(|split| split.as_ref().map(|split| (split.feature, split.threshold)))
            .collect();
        assert_eq!(chosen, [Some((1, 2)), Some((0, 1)), None]);
    }

    #[test]
    fn leaf_value_and_score_are_zero_without_positive_denominator() {
        let node = sums(3.0, 0.0, 2.0);
        assert_eq!((node.leaf_value(0.0), node.score(0.0)), (0.0, 0.0));
        assert_eq!((node.leaf_value(-1.0), node.score(-1.0)), (0.0, 0.0));
        assert_eq!((node.leaf_value(2.0), node.score(2.0)), (-1.5, 4.5));
    }

    #[test]
    fn variance_reduction_is_twice_the_gain_with_unit_hessians() {
        let y = [1.0, 2.5, 0.5, 7.0, 8.0, 6.5];
        let gradients: Vec<f64> = y.iter().map(|y| -y).collect();
        let (layout, histogram, total) = node(&[4], &[&[1, 1, 1, 3, 3, 2]], &gradients, &[1.0; 6]);
        let split = best_split(&layout, &histogram, &[total], &PERMISSIVE, None).unwrap();
        let squared_error = |ys: &[f64]| {
            let mean = ys.iter().sum::<f64>() / ys.len() as f64;
            ys.iter().map(|y| (y - mean) * (y - mean)).sum::<f64>()
        };
        assert_eq!(split.threshold, 1);
        let reduction = squared_error(&y) - squared_error(&y[..3]) - squared_error(&y[3..]);
        assert!((reduction - 2.0 * split.gain).abs() < 1e-9);
        assert!((split.left[0].leaf_value(0.0) - 4.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn gini_and_entropy_gains_come_from_class_shares() {
        // Labels 0/1 as gradients -y with unit hessians; feature 0 puts 3 of class 1 and 1 of
        // class 0 left, 1 of class 1 and 3 of class 0 right.
        let y = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let gradients: Vec<f64> = y.iter().map(|y| -y).collect();
        let column: &[u8] = &[1, 1, 1, 1, 2, 2, 2, 2];
        let (layout, histogram, total) = node(&[3], &[column], &gradients, &[1.0; 8]);
        let gini = |p: f64| 2.0 * p * (1.0 - p);
        let split = best_split(&layout, &histogram, &[total], &PERMISSIVE, None).unwrap();
        let decrease = 8.0 * gini(0.5) - 4.0 * gini(0.75) - 4.0 * gini(0.25);
        assert!((4.0 * split.gain - decrease).abs() < 1e-12);
        assert_eq!(split.left[0].leaf_value(0.0), 0.75);
        let entropy = |p: f64| -p * p.log2() - (1.0 - p) * (1.0 - p).log2();
        let params = SplitParams {
            criterion: Criterion::Entropy,
            ..PERMISSIVE
        };
        let split = best_split(&layout, &histogram, &[total], &params, None).unwrap();
        let decrease = 8.0 * entropy(0.5) - 8.0 * entropy(0.75);
        assert_eq!(split.threshold, 1);
        assert!((split.gain - decrease).abs() < 1e-12, "{split:?}");
        assert_eq!(Criterion::Entropy.score(&[sums(-2.0, 2.0, 2.0)], 0.0), 0.0);
    }

    #[test]
    fn feature_sums_equal_the_node_sums() {
        let (layout, histogram, total) = with_missing(3.0);
        assert_eq!(NodeSums::of_feature(&layout, &histogram, 0), total);
    }
}
