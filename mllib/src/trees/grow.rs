//! Growing one tree on the binned working set from per-row gradients and hessians, leaf by leaf
//! (LightGBM's best-first growth): the open node whose best split gains most splits next, until
//! `max_leaves` leaves or no split gains; `max_depth` bounds every path. Each node's best split
//! comes from its histogram; of two children only the smaller one's histogram is built, the
//! other is the parent's minus it (the subtraction trick).
//!
//! The working set is a list of partitions; each node keeps its rows per partition, and a
//! node's histogram is the sum of its partitions' histograms, added in partition order (so a
//! tree depends on the partitioning, never on timing). The learner that calls this keeps each
//! leaf's rows, so scores are updated without walking the tree.

use crate::kernels::histogram::{
    build_histogram, build_histogram_all, histogram_len, subtract_histogram, HistogramLayout,
};
use crate::kernels::split::{best_splits_parallel, NodeHistogram, NodeSums, Split, SplitParams};
use crate::trees::binning::FeatureBins;
use crate::trees::tree::{Node, Tree};

/// How a tree grows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GrowParams {
    /// Levels below the root, at most.
    pub max_depth: usize,
    /// Leaves, at most.
    pub max_leaves: usize,
    /// What a split must achieve.
    pub split: SplitParams,
    /// Each leaf's value is `learning_rate` times its Newton step `-G / (H + lambda)`.
    pub learning_rate: f64,
}

/// One partition of the working set with this tree's per-row statistics (already multiplied
/// by the row weights).
#[derive(Debug)]
pub(crate) struct PartitionStats<'a> {
    /// One bin column per feature.
    pub bins: Vec<&'a [u8]>,
    /// First derivatives of the loss at each row's current score.
    pub gradients: &'a [f64],
    /// Second derivatives.
    pub hessians: &'a [f64],
}

/// Row indices, one list per partition.
pub(crate) type Rows = Vec<Vec<u32>>;

/// A grown tree and, for each leaf, its node index and the rows that reached it.
pub(crate) struct Grown {
    pub tree: Tree,
    pub leaves: Vec<(usize, Rows)>,
}

/// A node still to split or close.
struct Open {
    node: usize,
    rows: Rows,
    histogram: Vec<f64>,
    total: NodeSums,
    depth: usize,
    /// Its best split, when it may split (above `max_depth`) and one gains.
    split: Option<Split>,
}

/// Grows one tree over `roots` (the rows this tree trains on, per partition), splitting only on
/// `features` when given (column sampling).
pub(crate) fn grow(
    layout: &HistogramLayout,
    edges: &FeatureBins,
    partitions: &[PartitionStats<'_>],
    roots: Rows,
    features: Option<&[usize]>,
    params: &GrowParams,
) -> Grown {
    let histogram = histogram_of(layout, partitions, &roots);
    let total = NodeSums::of_feature(layout, &histogram, 0);
    let mut nodes = vec![Node::Leaf { value: 0.0 }];
    let mut open = vec![Open {
        node: 0,
        rows: roots,
        histogram,
        total,
        depth: 0,
        split: None,
    }];
    find_splits(layout, &mut open, features, params);
    let mut leaf_count = 1;
    while leaf_count < params.max_leaves {
        let Some(next) = best_open(&open) else {
            break;
        };
        let parent = open.swap_remove(next);
        let split = parent.split.expect("best_open picks nodes with a split");
        let (left, right) = (nodes.len(), nodes.len() + 1);
        nodes.extend([Node::Leaf { value: 0.0 }; 2]);
        nodes[parent.node] = Node::Split {
            feature: split.feature,
            threshold_bin: split.threshold,
            threshold: edges.features()[split.feature].threshold_value(split.threshold),
            missing_left: split.missing_left,
            left,
            right,
            gain: split.gain,
        };
        let mut children = children(layout, partitions, parent, &split, left, right);
        find_splits(layout, &mut children, features, params);
        open.extend(children);
        leaf_count += 1;
    }
    let mut leaves = Vec::with_capacity(open.len());
    for node in open {
        let value = params.learning_rate * node.total.leaf_value(params.split.lambda_l2);
        nodes[node.node] = Node::Leaf { value };
        leaves.push((node.node, node.rows));
    }
    Grown {
        tree: Tree::new(nodes),
        leaves,
    }
}

/// Sets the best split of each of `nodes` that is above `max_depth` (in parallel).
fn find_splits(
    layout: &HistogramLayout,
    nodes: &mut [Open],
    features: Option<&[usize]>,
    params: &GrowParams,
) {
    let splittable: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].depth < params.max_depth)
        .collect();
    let histograms: Vec<NodeHistogram<'_>> = splittable
        .iter()
        .map(|&i| NodeHistogram {
            histogram: &nodes[i].histogram,
            total: nodes[i].total,
            features,
        })
        .collect();
    let splits = best_splits_parallel(layout, &histograms, &params.split);
    for (i, split) in splittable.into_iter().zip(splits) {
        nodes[i].split = split;
    }
}

/// The open node to split next: the largest gain; ties go to the earliest node, so growth does
/// not depend on the order of `open`.
fn best_open(open: &[Open]) -> Option<usize> {
    open.iter()
        .enumerate()
        .filter_map(|(i, node)| node.split.as_ref().map(|split| (i, split.gain, node.node)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.2.cmp(&a.2)))
        .map(|(i, _, _)| i)
}

/// The two children of `open` under `split`: rows divided by the split, the smaller child's
/// histogram built and the larger's derived from the parent's.
fn children(
    layout: &HistogramLayout,
    partitions: &[PartitionStats<'_>],
    open: Open,
    split: &Split,
    left: usize,
    right: usize,
) -> [Open; 2] {
    let (mut left_rows, mut right_rows) = (Vec::new(), Vec::new());
    for (partition, rows) in partitions.iter().zip(&open.rows) {
        let bins = partition.bins[split.feature];
        let (goes_left, goes_right): (Vec<u32>, Vec<u32>) = rows
            .iter()
            .partition(|&&row| split.goes_left(bins[row as usize]));
        left_rows.push(goes_left);
        right_rows.push(goes_right);
    }
    let left_smaller = split.left.count <= split.right.count;
    let small = histogram_of(
        layout,
        partitions,
        if left_smaller {
            &left_rows
        } else {
            &right_rows
        },
    );
    let mut large = vec![0.0; small.len()];
    subtract_histogram(&open.histogram, &small, &mut large);
    let (left_histogram, right_histogram) = if left_smaller {
        (small, large)
    } else {
        (large, small)
    };
    [
        Open {
            node: left,
            rows: left_rows,
            histogram: left_histogram,
            total: split.left,
            depth: open.depth + 1,
            split: None,
        },
        Open {
            node: right,
            rows: right_rows,
            histogram: right_histogram,
            total: split.right,
            depth: open.depth + 1,
            split: None,
        },
    ]
}

/// The histogram of `rows` (per partition), partitions added in order. A partition whose every
/// row is listed (row lists are increasing, so that is `0..n`) is read straight through,
/// without the row list: the root of every unsampled tree.
fn histogram_of(
    layout: &HistogramLayout,
    partitions: &[PartitionStats<'_>],
    rows: &Rows,
) -> Vec<f64> {
    let mut histogram = vec![0.0; histogram_len(layout)];
    for (partition, rows) in partitions.iter().zip(rows) {
        let (bins, gradients, hessians) =
            (&partition.bins, partition.gradients, partition.hessians);
        if rows.len() == gradients.len() {
            build_histogram_all(layout, bins, gradients, hessians, None, &mut histogram);
        } else {
            build_histogram(
                layout,
                bins,
                rows,
                gradients,
                hessians,
                None,
                &mut histogram,
            );
        }
    }
    histogram
}
