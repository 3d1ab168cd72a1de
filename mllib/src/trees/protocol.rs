//! The messages between a tree fit's driver ([`crate::trees::learner`]) and its partition
//! workers ([`crate::trees::worker`]): what the driver asks, and what a worker answers. Both
//! sides, and the wire format that carries them to executor tasks ([`crate::trees::remote`]),
//! depend on these types alone, never on each other.

use crate::kernels::histogram::HistogramLayout;
use crate::trees::objective::Objective;
use crate::trees::tree::Tree;

/// What a worker is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// Reply with [`Reply::Described`].
    Describe,
    /// Reply with [`Reply::Labels`]; a `classifier`'s labels must be class indices (see
    /// [`MAX_CLASSES`]).
    Labels { classifier: bool },
    /// Take `rank` (the worker's place in the merge order) and start each row's scores at
    /// `base_scores` (one per output). Reply [`Reply::Done`].
    Start { rank: usize, base_scores: Vec<f64> },
    /// Start tree `output` of boosting round `round`: at the round's first tree, compute the
    /// gradients and hessians of every output at the current scores; choose the round's rows
    /// (`subsample` of them, by the seed, round and row) as the root, and reply with the root's
    /// [`Reply::Histograms`] of output `output`'s gradients.
    BeginTree {
        objective: Objective,
        round: usize,
        output: usize,
        subsample: f64,
        seed: u64,
    },
    /// Start random forest trees, grown together in one pass (each slot of the pass one tree,
    /// `trees[slot]`): for each, draw each row's count in the tree's sample (Poisson with mean
    /// `subsample` when `bootstrap`, else 1 with probability `subsample`, by the seed, tree and
    /// row), take the gradient `-w·y` and hessian `w` of each row, `w` its count times its
    /// weight, make the sampled rows the root, and reply with the roots' [`Reply::Histograms`]
    /// (one per tree, in order), whose count slots sum the rows' counts.
    BeginForestTrees {
        /// The trees of the pass.
        trees: Vec<ForestRoot>,
        /// The fit's seed.
        seed: u64,
        /// Whether rows are drawn with replacement.
        bootstrap: bool,
        /// The mean count (or probability) of a row in the sample.
        subsample: f64,
        /// Histogram channels: 1 (gradient `-w·y`), or one per class of a multiclass forest
        /// (channel `k`'s gradient `-w` for rows of class `k`, else 0); see
        /// [`crate::kernels::split`].
        channels: usize,
    },
    /// Divide each order's node and reply with the histograms each order asks for, in order
    /// ([`Reply::Histograms`]; see [`ChildHistograms`]). The orders of one tree come together.
    Split(Vec<SplitOrder>),
    /// Add the finished tree's leaf values to output `output`'s scores (the training rows and
    /// the held-out ones) and reply with the held-out rows' weighted loss
    /// ([`Reply::HeldOutLoss`]). The tree may divide nodes no [`Request::Split`] divided: the
    /// grower sends no split whose children cannot split (at `max_depth`, or with the leaf
    /// budget spent), so the rows of such a node go down the tree from it.
    EndTree {
        objective: Objective,
        output: usize,
        tree: Tree,
    },
    /// The fit is over (remote workers end their task). Reply [`Reply::Done`].
    Finish,
    /// Add each tree's leaf values to its output's scores, training and held-out rows alike
    /// (`(output, tree)` in boosting order): how a worker that replaces a lost one, once
    /// [`Request::Start`]ed, reaches the scores the lost one had at its round's start (see
    /// [`crate::trees::journal`]). Reply [`Reply::Done`].
    CatchUp(Vec<(usize, Tree)>),
}

/// One tree of a [`Request::BeginForestTrees`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForestRoot {
    /// The tree's index in the fit.
    pub tree: usize,
    /// The features the root's histogram covers (all when `None`): the root's sample.
    pub features: Option<Vec<usize>>,
}

/// One node divided by its split.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SplitOrder {
    /// The node's tree: its slot in the pass (0 for a boosted tree, which grows alone; a
    /// forest's pass grows several, see [`Request::BeginForestTrees`]).
    pub tree: usize,
    /// The node divided.
    pub node: usize,
    /// The split's feature.
    pub feature: usize,
    /// Bins `1..=threshold` go left.
    pub threshold: u8,
    /// Whether the missing bin goes left.
    pub missing_left: bool,
    /// The left child's node index (the right child's is the next).
    pub left: usize,
    /// Which children's histograms to build.
    pub build: ChildHistograms,
}

/// The histograms a divided node's children need.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ChildHistograms {
    /// The smaller child's over every feature (one histogram): the other's is the parent's
    /// less it.
    Smaller {
        /// Whether the smaller child is the left one.
        left: bool,
    },
    /// Each child's over its own features, compact: those features' bins only, in their order
    /// (two histograms, left then right). A random forest's nodes look at a sample of the
    /// features each, so a parent's histogram lacks most of what its children need.
    Own { left: Vec<usize>, right: Vec<usize> },
}

impl SplitOrder {
    /// An order dividing tree 0's root at bin 1 of feature 0, its left child node 1, that
    /// builds `build`: what protocol tests send.
    #[cfg(test)]
    pub(crate) fn of_root(build: ChildHistograms) -> Self {
        Self {
            tree: 0,
            node: 0,
            feature: 0,
            threshold: 1,
            missing_left: false,
            left: 1,
            build,
        }
    }

    /// The bins of each histogram the order asks for (of `layout`'s features), in order.
    pub(crate) fn histogram_bins(&self, layout: &HistogramLayout) -> Vec<usize> {
        match &self.build {
            ChildHistograms::Smaller { .. } => vec![histogram_bins(layout, None)],
            ChildHistograms::Own { left, right } => vec![
                histogram_bins(layout, Some(left)),
                histogram_bins(layout, Some(right)),
            ],
        }
    }

    /// Whether a row in `bin` of the order's feature goes to the left child.
    pub(crate) fn goes_left(&self, bin: u8) -> bool {
        if bin == 0 {
            self.missing_left
        } else {
            bin <= self.threshold
        }
    }
}

/// The bins of a histogram of `layout`'s features: of all, or of `features` (a compact one).
pub(crate) fn histogram_bins(layout: &HistogramLayout, features: Option<&[usize]>) -> usize {
    match features {
        None => layout.total_bins(),
        Some(features) => features.iter().map(|&feature| layout.bins(feature)).sum(),
    }
}

/// A worker's answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// The worker's rows and a hash of their content, which orders workers the same way in any
    /// process.
    Described {
        rows: usize,
        held_out_rows: usize,
        fingerprint: f64,
    },
    /// Label statistics of the training rows, then of the held-out rows.
    Labels([LabelStats; 2]),
    /// Histograms, one per node asked for.
    Histograms(Vec<Vec<f64>>),
    /// The held-out rows' summed weighted loss and weight.
    HeldOutLoss { loss: f64, weight: f64 },
    /// Nothing to report.
    Done,
}

impl Reply {
    /// The reply's kind, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Described { .. } => "a description",
            Reply::Labels(_) => "label statistics",
            Reply::Histograms(_) => "histograms",
            Reply::HeldOutLoss { .. } => "a held-out loss",
            Reply::Done => "done",
        }
    }
}

/// Labels of a classifier are class indices below this: `0, 1, ..., MAX_CLASSES - 1`.
pub(crate) const MAX_CLASSES: usize = 1024;

/// Sums over a worker's labels.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct LabelStats {
    /// Summed weight of the valid rows.
    pub weight: f64,
    /// Summed weight × label.
    pub weighted_label: f64,
    /// Rows with a null or NaN label, or a null, negative or non-finite weight.
    pub invalid: f64,
    /// A label that is not a class index for a classifier, NaN when none.
    pub bad_class: f64,
    /// A classifier's summed weight of each class `0..` (up to the largest class seen); empty
    /// for a regressor.
    pub class_weights: Vec<f64>,
}

impl LabelStats {
    /// `self` then `other`, merged (the first bad class wins).
    pub fn merge(self, other: LabelStats) -> LabelStats {
        let (mut class_weights, shorter) = if self.class_weights.len() >= other.class_weights.len()
        {
            (self.class_weights, other.class_weights)
        } else {
            (other.class_weights, self.class_weights)
        };
        for (sum, weight) in class_weights.iter_mut().zip(shorter) {
            *sum += weight;
        }
        LabelStats {
            weight: self.weight + other.weight,
            weighted_label: self.weighted_label + other.weighted_label,
            invalid: self.invalid + other.invalid,
            bad_class: if self.bad_class.is_nan() {
                other.bad_class
            } else {
                self.bad_class
            },
            class_weights,
        }
    }
}
