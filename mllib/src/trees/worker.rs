//! One partition's share of a tree fit: its binned rows, their scores, and the rows of each node
//! of the tree being grown. The learner ([`crate::trees::learner`]) drives a set of workers with
//! [`Request`]s and merges their [`Reply`]s ([`crate::trees::protocol`]) in rank order; the
//! workers live in the fitting process (one process) or in tasks on the executors (a cluster),
//! and the same requests reach them either way, so both places grow the same trees.
//!
//! A worker never sees other partitions' rows: it answers with histograms and sums over its own.

use rayon::prelude::*;

use crate::error::{MlError, Result};
use crate::kernels::histogram::{
    build_histogram, build_histogram_all, histogram_len, GradientPair, HistogramLayout, RowSums,
};
use crate::random::{bytes_unit, hash_unit};
use crate::trees::binning::BinnedBatch;
use crate::trees::node_rows::NodeRows;
use crate::trees::objective::Objective;
use crate::trees::protocol::{
    ChildHistograms, ForestRoot, LabelStats, Reply, Request, SplitOrder, MAX_CLASSES,
};
use crate::trees::tree::{Node, Tree};

/// One partition's rows and fit state.
#[derive(Debug)]
pub(crate) struct PartitionWorker {
    layout: HistogramLayout,
    train: BinnedBatch,
    held_out: BinnedBatch,
    rank: usize,
    /// Scores per row: row `r`'s output `o` is at `r * outputs + o`.
    scores: Vec<f64>,
    held_out_scores: Vec<f64>,
    /// Scores per row (one per class for a multiclass objective).
    outputs: usize,
    /// The gradient and hessian of every output of every row (laid out as `scores`), weighted,
    /// at the scores of the boosting round's start.
    round_derivatives: Vec<GradientPair>,
    /// The trees being grown, by slot ([`SplitOrder::tree`]): one boosted tree, or a forest's
    /// pass.
    growing: Vec<Growing>,
}

/// A worker's state of one tree being grown.
#[derive(Debug, Default)]
struct Growing {
    /// The tree's gradients and hessians, one set per histogram channel.
    channels: Vec<Vec<GradientPair>>,
    /// The rows of each node of the tree.
    node_rows: NodeRows,
    /// Whether the tree trains on every row.
    all_rows: bool,
    /// Each row's count in the sample of a forest tree (the histograms' count slots); `None`
    /// for boosted trees, where each row counts 1.
    counts: Option<Vec<f64>>,
}

/// The bytes a worker of `rows` rows holds for each tree it grows with `channels` histogram
/// channels: per row a gradient pair per channel, a sample count, and its place in the node
/// rows (and their scratch).
pub(crate) fn tree_state_bytes(rows: usize, channels: usize) -> usize {
    rows.saturating_mul(
        channels.saturating_mul(size_of::<GradientPair>())
            + size_of::<f64>()
            + 2 * size_of::<u32>(),
    )
}

impl PartitionWorker {
    /// A worker over one partition's training and held-out rows, binned with `bins` per feature
    /// (the bin counts of the fit's features).
    pub fn new(bins: &[usize], train: BinnedBatch, held_out: BinnedBatch) -> Self {
        Self {
            layout: HistogramLayout::new(bins),
            train,
            held_out,
            rank: 0,
            scores: Vec::new(),
            held_out_scores: Vec::new(),
            outputs: 1,
            round_derivatives: Vec::new(),
            growing: Vec::new(),
        }
    }

    /// The bytes of its rows: per row its bins (a byte per feature), label and weight.
    pub fn rows_bytes(&self) -> usize {
        let rows = self.train.rows + self.held_out.rows;
        rows.saturating_mul(self.train.bins.len() + 2 * size_of::<f64>())
    }

    /// The bytes it holds besides its rows, estimated from its row count, while it answers
    /// `request` and until a later request begins other trees: per row and output its score,
    /// gradient pair, histogram-channel pair and node index, and for each tree it grows at once
    /// beyond a first one of one channel, [`tree_state_bytes`].
    pub fn fit_state_bytes(&self, request: &Request) -> usize {
        let (outputs, trees, channels) = match request {
            Request::Start { base_scores, .. } => (base_scores.len(), 1, 1),
            Request::BeginTree { .. } => (self.outputs, 1, 1),
            Request::BeginForestTrees {
                trees, channels, ..
            } => (self.outputs, trees.len(), *channels),
            _ => (
                self.outputs,
                self.growing.len(),
                self.growing.first().map_or(1, |tree| tree.channels.len()),
            ),
        };
        let rows = self.train.rows + self.held_out.rows;
        let per_output = size_of::<f64>() + 2 * size_of::<GradientPair>() + size_of::<u32>();
        let first_tree = tree_state_bytes(self.train.rows, 1);
        let more_trees = (tree_state_bytes(self.train.rows, channels).saturating_mul(trees))
            .saturating_sub(first_tree);
        (rows.saturating_mul(outputs.saturating_mul(per_output))).saturating_add(more_trees)
    }

    /// The layout of its histograms.
    pub fn layout(&self) -> &HistogramLayout {
        &self.layout
    }

    /// Answers `request`.
    pub fn handle(&mut self, request: &Request) -> Result<Reply> {
        Ok(match request {
            Request::Describe => Reply::Described {
                rows: self.train.rows,
                held_out_rows: self.held_out.rows,
                fingerprint: fingerprint(&self.train, &self.held_out),
            },
            Request::Labels { classifier } => Reply::Labels([
                label_stats(&self.train, *classifier),
                label_stats(&self.held_out, *classifier),
            ]),
            Request::Start { rank, base_scores } => {
                self.rank = *rank;
                self.outputs = base_scores.len();
                self.scores = base_scores.repeat(self.train.rows);
                self.held_out_scores = base_scores.repeat(self.held_out.rows);
                Reply::Done
            }
            Request::BeginTree {
                objective,
                round,
                output,
                subsample,
                seed,
            } => Reply::Histograms(vec![
                self.begin_tree(*objective, *round, *output, *subsample, *seed)?
            ]),
            Request::BeginForestTrees {
                trees,
                seed,
                bootstrap,
                subsample,
                channels,
            } => Reply::Histograms(
                self.begin_forest_trees(trees, *seed, *bootstrap, *subsample, *channels)?,
            ),
            Request::Split(orders) => Reply::Histograms(self.split(orders)?),
            Request::EndTree {
                objective,
                output,
                tree,
            } => {
                let (loss, weight) = self.end_tree(*objective, *output, tree)?;
                Reply::HeldOutLoss { loss, weight }
            }
            Request::CatchUp(trees) => {
                for (output, tree) in trees {
                    self.catch_up(*output, tree)?;
                }
                Reply::Done
            }
            Request::Finish => Reply::Done,
        })
    }

    fn begin_tree(
        &mut self,
        objective: Objective,
        round: usize,
        output: usize,
        subsample: f64,
        seed: u64,
    ) -> Result<Vec<f64>> {
        let outputs = self.outputs;
        if objective.outputs() != outputs || output >= outputs {
            return Err(MlError::Training {
                reason: format!(
                    "asked for output {output} of {} with {outputs} scores per row",
                    objective.outputs()
                ),
            });
        }
        if output == 0 {
            let train = &self.train;
            self.round_derivatives
                .resize(self.scores.len(), GradientPair::default());
            (self.round_derivatives.par_chunks_mut(outputs))
                .zip(self.scores.par_chunks(outputs))
                .enumerate()
                .with_min_len(4096)
                .for_each_init(
                    || vec![(0.0, 0.0); outputs],
                    |derivatives, (row, (pairs, scores))| {
                        objective.derivatives(scores, train.label[row], derivatives);
                        let weight = row_weight(train, row);
                        for (pair, (g, h)) in pairs.iter_mut().zip(derivatives.iter()) {
                            *pair = GradientPair::new(g * weight, h * weight);
                        }
                    },
                );
        }
        let channels = vec![if outputs == 1 {
            // The round has one tree: its pairs are the round's, computed anew next round.
            std::mem::take(&mut self.round_derivatives)
        } else {
            (self.round_derivatives.iter().skip(output).step_by(outputs))
                .copied()
                .collect()
        }];
        let all_rows = subsample >= 1.0;
        let root: Vec<u32> = (0..self.train.rows as u32)
            .filter(|&row| all_rows || self.row_unit(seed, round, row) < subsample)
            .collect();
        let mut growing = Growing {
            channels,
            node_rows: NodeRows::default(),
            all_rows,
            counts: None,
        };
        let histogram = growing.start(&self.layout, &self.bins(), root, None);
        self.growing = vec![growing];
        Ok(histogram)
    }

    /// Starts the forest trees `trees` (in parallel) and returns their roots' histograms.
    fn begin_forest_trees(
        &mut self,
        trees: &[ForestRoot],
        seed: u64,
        bootstrap: bool,
        subsample: f64,
        channels: usize,
    ) -> Result<Vec<Vec<f64>>> {
        if !(1..=MAX_CLASSES).contains(&channels) {
            return Err(MlError::Training {
                reason: format!("asked for {channels} histogram channels, not 1 to {MAX_CLASSES}"),
            });
        }
        let bins = self.bins();
        let started: Vec<(Growing, Vec<f64>)> = trees
            .par_iter()
            .map(|root| {
                let mut growing = self.sample_forest_tree(root.tree, seed, bootstrap, subsample);
                growing.channels = self.forest_channels(&growing, channels);
                let rows = growing.counts.as_deref().unwrap_or_default();
                let sampled: Vec<u32> = (0..self.train.rows as u32)
                    .filter(|&row| rows[row as usize] > 0.0)
                    .collect();
                growing.all_rows = sampled.len() == self.train.rows;
                let histogram =
                    growing.start(&self.layout, &bins, sampled, root.features.as_deref());
                (growing, histogram)
            })
            .collect();
        let (growing, histograms) = started.into_iter().unzip();
        self.growing = growing;
        Ok(histograms)
    }

    /// Forest tree `tree` with each row's count in its sample drawn (see
    /// [`Request::BeginForestTrees`]), nothing else set.
    fn sample_forest_tree(
        &self,
        tree: usize,
        seed: u64,
        bootstrap: bool,
        subsample: f64,
    ) -> Growing {
        let counts = (0..self.train.rows as u32)
            .map(|row| {
                let unit = self.row_unit(seed, tree, row);
                if bootstrap {
                    poisson_quantile(subsample, unit)
                } else {
                    f64::from(u8::from(unit < subsample))
                }
            })
            .collect();
        Growing {
            counts: Some(counts),
            ..Growing::default()
        }
    }

    /// The gradient pairs of forest tree `growing` (its counts drawn), one set per channel.
    fn forest_channels(&self, growing: &Growing, channels: usize) -> Vec<Vec<GradientPair>> {
        let train = &self.train;
        let counts = growing.counts.as_deref().unwrap_or_default();
        let channel = |class: Option<f64>| {
            (0..train.rows)
                .map(|row| {
                    let weight = counts[row] * row_weight(train, row);
                    let label = train.label[row];
                    let target = class.map_or(label, |class| f64::from(u8::from(label == class)));
                    GradientPair::new(-weight * target, weight)
                })
                .collect()
        };
        if channels > 1 {
            (0..channels)
                .map(|class| channel(Some(class as f64)))
                .collect()
        } else {
            vec![channel(None)]
        }
    }

    /// The uniform value of `row` in tree `tree`'s row sampling.
    fn row_unit(&self, seed: u64, tree: usize, row: u32) -> f64 {
        hash_unit(seed, tree as u64, [self.rank as f64, f64::from(row)])
    }

    /// Divides the nodes `orders` name and returns the histograms they ask for, in order. Each
    /// tree's orders run on a thread of their own: they touch only that tree's state.
    fn split(&mut self, orders: &[SplitOrder]) -> Result<Vec<Vec<f64>>> {
        let bins: Vec<&[u8]> = self.train.bins.iter().map(Vec::as_slice).collect();
        let mut trees: Vec<Option<&mut Growing>> = self.growing.iter_mut().map(Some).collect();
        let mut runs = Vec::new();
        for run in orders.chunk_by(|a, b| a.tree == b.tree) {
            let tree = run[0].tree;
            let Some(growing) = trees.get_mut(tree).and_then(Option::take) else {
                return Err(MlError::Training {
                    reason: format!(
                        "asked to split nodes of tree {tree}, which this worker does not grow, \
                         or whose orders are not together"
                    ),
                });
            };
            runs.push((run, growing));
        }
        let layout = &self.layout;
        let built: Vec<Vec<Vec<f64>>> = (runs.into_par_iter())
            .map(|(run, growing)| {
                let mut histograms = Vec::with_capacity(2 * run.len());
                for order in run {
                    histograms.extend(growing.split(layout, &bins, order)?);
                }
                Ok(histograms)
            })
            .collect::<Result<_>>()?;
        Ok(built.into_iter().flatten().collect())
    }

    fn end_tree(&mut self, objective: Objective, output: usize, tree: &Tree) -> Result<(f64, f64)> {
        let outputs = self.outputs;
        // A boosted tree grows alone, in slot 0.
        let growing = std::mem::take(&mut self.growing).into_iter().next();
        match growing {
            Some(growing) if growing.all_rows => {
                let bins: Vec<&[u8]> = self.train.bins.iter().map(Vec::as_slice).collect();
                for (node, rows) in growing.node_rows.holding() {
                    if node >= tree.nodes().len() {
                        return Err(MlError::Training {
                            reason: format!(
                                "the finished tree has {} nodes, but this worker divided rows \
                                 into node {node}",
                                tree.nodes().len()
                            ),
                        });
                    }
                    // A node holding rows is a leaf, or a split the grower did not send (its
                    // children could not split): its rows go down from there.
                    for &row in rows {
                        let leaf = tree.leaf_below(node, &bins, row as usize);
                        if let Node::Leaf { value } = tree.nodes()[leaf] {
                            self.scores[row as usize * outputs + output] += value;
                        }
                    }
                }
                self.traverse_held_out(output, tree);
            }
            // Rows left out of this tree still get its output.
            _ => self.traverse(output, tree),
        }
        let (mut loss, mut weight) = (0.0, 0.0);
        for (row, scores) in self.held_out_scores.chunks_exact(outputs).enumerate() {
            let w = row_weight(&self.held_out, row);
            loss += w * objective.loss(scores, self.held_out.label[row]);
            weight += w;
        }
        Ok((loss, weight))
    }

    /// Adds `tree`'s leaf values to output `output`'s scores of every row, training and
    /// held-out, by traversal (the same leaves and values as [`Self::end_tree`]'s, so the same
    /// scores, bit for bit).
    fn catch_up(&mut self, output: usize, tree: &Tree) -> Result<()> {
        if output >= self.outputs {
            return Err(MlError::Training {
                reason: format!("asked to add a tree to output {output} of {}", self.outputs),
            });
        }
        self.traverse(output, tree);
        Ok(())
    }

    /// Adds `tree`'s leaf values to output `output`'s scores of every row by traversal.
    fn traverse(&mut self, output: usize, tree: &Tree) {
        add_tree(tree, &self.train, &mut self.scores, output, self.outputs);
        self.traverse_held_out(output, tree);
    }

    /// Adds `tree`'s leaf values to output `output`'s scores of the held-out rows by traversal.
    fn traverse_held_out(&mut self, output: usize, tree: &Tree) {
        let outputs = self.outputs;
        add_tree(
            tree,
            &self.held_out,
            &mut self.held_out_scores,
            output,
            outputs,
        );
    }

    fn bins(&self) -> Vec<&[u8]> {
        self.train.bins.iter().map(Vec::as_slice).collect()
    }
}

impl Growing {
    /// Makes `root` the rows of the tree's root and returns its histogram: of every feature, or
    /// a compact one of `features` (see [`Growing::histogram`]).
    fn start(
        &mut self,
        layout: &HistogramLayout,
        bins: &[&[u8]],
        root: Vec<u32>,
        features: Option<&[usize]>,
    ) -> Vec<f64> {
        let histogram = if self.all_rows && features.is_none() {
            let channel_len = histogram_len(layout);
            let mut histogram = vec![0.0; self.channels.len() * channel_len];
            for (derivatives, out) in self.channels.iter().zip(histogram.chunks_mut(channel_len)) {
                let sums = RowSums {
                    derivatives,
                    weights: self.counts.as_deref(),
                };
                build_histogram_all(layout, bins, sums, out);
            }
            histogram
        } else {
            self.histogram(layout, bins, &root, features)
        };
        self.node_rows.start(root);
        histogram
    }

    /// Divides `order`'s node and returns the histograms it asks for.
    fn split(
        &mut self,
        layout: &HistogramLayout,
        bins: &[&[u8]],
        order: &SplitOrder,
    ) -> Result<Vec<Vec<f64>>> {
        let column = bins.get(order.feature).ok_or_else(|| MlError::Training {
            reason: format!("asked to split on feature {}, which is not", order.feature),
        })?;
        let divided = (self.node_rows).divide(order.node, order.left, |row| {
            order.goes_left(column[row as usize])
        });
        if !divided {
            return Err(MlError::Training {
                reason: format!(
                    "asked to split node {}, which this worker lacks",
                    order.node
                ),
            });
        }
        let rows = |node: usize| self.node_rows.of(node).unwrap_or_default();
        let (left, right) = (rows(order.left), rows(order.left + 1));
        Ok(match &order.build {
            ChildHistograms::Smaller { left: true } => {
                vec![self.histogram(layout, bins, left, None)]
            }
            ChildHistograms::Smaller { left: false } => {
                vec![self.histogram(layout, bins, right, None)]
            }
            ChildHistograms::Own {
                left: left_features,
                right: right_features,
            } => [(left, left_features), (right, right_features)]
                .into_iter()
                .map(|(rows, features)| self.histogram(layout, bins, rows, Some(features)))
                .collect(),
        })
    }

    /// The histogram of the training rows `rows` at this tree's statistics (each channel's,
    /// one after another), over `layout`'s features binned as `all`: of every feature, or
    /// with `features` a compact one of those features' bins only, in their order (see
    /// [`crate::kernels::split::best_split_compact`]) — a random forest's node looks at a few
    /// features, and a full histogram would cost its zeroing and merging at every node.
    fn histogram(
        &self,
        layout: &HistogramLayout,
        all: &[&[u8]],
        rows: &[u32],
        features: Option<&[usize]>,
    ) -> Vec<f64> {
        let (layout, bins) = match features {
            None => (layout.clone(), all.to_vec()),
            Some(features) => (
                HistogramLayout::new(
                    &features
                        .iter()
                        .map(|&feature| layout.bins(feature))
                        .collect::<Vec<_>>(),
                ),
                features.iter().map(|&feature| all[feature]).collect(),
            ),
        };
        let channel_len = histogram_len(&layout);
        let mut histogram = vec![0.0; self.channels.len() * channel_len];
        for (derivatives, out) in self.channels.iter().zip(histogram.chunks_mut(channel_len)) {
            let sums = RowSums {
                derivatives,
                weights: self.counts.as_deref(),
            };
            build_histogram(&layout, &bins, rows, sums, out);
        }
        histogram
    }
}

/// Adds `tree`'s output for each row of `batch` to the row's score `output` in `scores`
/// (`outputs` per row), by binned traversal.
fn add_tree(tree: &Tree, batch: &BinnedBatch, scores: &mut [f64], output: usize, outputs: usize) {
    let bins: Vec<&[u8]> = batch.bins.iter().map(Vec::as_slice).collect();
    for (row, scores) in scores.chunks_exact_mut(outputs).enumerate() {
        if let Node::Leaf { value } = tree.nodes()[tree.leaf_of_binned(&bins, row)] {
            scores[output] += value;
        }
    }
}

/// The smallest `k` with P(K <= k) >= `unit` for K Poisson with mean `mean` (a Poisson draw
/// from a uniform one), at most 64.
fn poisson_quantile(mean: f64, unit: f64) -> f64 {
    let mut probability = (-mean).exp();
    let (mut k, mut cumulative) = (0.0, probability);
    while cumulative < unit && k < 64.0 {
        k += 1.0;
        probability *= mean / k;
        cumulative += probability;
    }
    k
}

/// The weight of `row`, 1 without a weight column.
pub(crate) fn row_weight(batch: &BinnedBatch, row: usize) -> f64 {
    batch.weight.as_ref().map_or(1.0, |weights| weights[row])
}

/// The label statistics of `batch`, whose labels are class indices for a `classifier`.
fn label_stats(batch: &BinnedBatch, classifier: bool) -> LabelStats {
    let mut stats = LabelStats {
        bad_class: f64::NAN,
        ..LabelStats::default()
    };
    for row in 0..batch.rows {
        let (label, weight) = (batch.label[row], row_weight(batch, row));
        if label.is_nan() || !weight.is_finite() || weight < 0.0 {
            stats.invalid += 1.0;
            continue;
        }
        if classifier {
            match class_index(label) {
                Some(class) => {
                    if stats.class_weights.len() <= class {
                        stats.class_weights.resize(class + 1, 0.0);
                    }
                    stats.class_weights[class] += weight;
                }
                None if stats.bad_class.is_nan() => stats.bad_class = label,
                None => {}
            }
        }
        stats.weight += weight;
        stats.weighted_label += weight * label;
    }
    stats
}

/// The class `label` stands for, if it is a class index below [`MAX_CLASSES`].
fn class_index(label: f64) -> Option<usize> {
    (label >= 0.0 && label.fract() == 0.0 && label < MAX_CLASSES as f64).then_some(label as usize)
}

/// A hash of the rows' bins, labels and weights, the same in every process. Each column is
/// hashed where it lies (a copy of the rows would be as large as the working set, outside the
/// memory budget), then the column hashes together.
fn fingerprint(train: &BinnedBatch, held_out: &BinnedBatch) -> f64 {
    const SEED: u64 = 0x5EED;
    let mut parts = Vec::new();
    for batch in [train, held_out] {
        parts.push(batch.rows as f64);
        parts.extend(batch.bins.iter().map(|column| bytes_unit(SEED, column)));
        parts.push(hash_unit(SEED, 1, batch.label.iter().copied()));
        parts.push(hash_unit(SEED, 2, batch.weight.iter().flatten().copied()));
    }
    hash_unit(SEED, 0, parts)
}

#[cfg(test)]
impl PartitionWorker {
    /// The training and the held-out rows.
    pub fn batches(&self) -> [&BinnedBatch; 2] {
        [&self.train, &self.held_out]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker over 40 rows of two features (bins 1..=8 and 1..=5), started at score 0.5.
    fn started_worker() -> PartitionWorker {
        let rows = 40;
        let batch = BinnedBatch {
            bins: vec![
                (0..rows).map(|row| 1 + (row * 7 % 8) as u8).collect(),
                (0..rows).map(|row| 1 + (row % 5) as u8).collect(),
            ],
            label: (0..rows)
                .map(|row| f64::from(u8::from(row % 3 == 0)))
                .collect(),
            weight: None,
            rows,
        };
        let mut worker = PartitionWorker::new(&[9, 6], batch, BinnedBatch::empty(2, false));
        let start = Request::Start {
            rank: 0,
            base_scores: vec![0.5],
        };
        assert_eq!(worker.handle(&start).unwrap(), Reply::Done);
        worker
    }

    #[test]
    fn a_split_the_grower_did_not_send_scores_its_rows_as_traversal_does() {
        let split = |feature, threshold_bin, left| Node::Split {
            feature,
            threshold_bin,
            threshold: f64::from(threshold_bin),
            missing_left: false,
            left,
            right: left + 1,
            gain: 1.0,
        };
        // The root's split was sent; node 1's (feature 1) was not.
        let tree = Tree::new(vec![
            split(0, 4, 1),
            split(1, 2, 3),
            Node::Leaf { value: -0.75 },
            Node::Leaf { value: 0.25 },
            Node::Leaf { value: 1.5 },
        ]);
        let objective = Objective::BinaryLogistic;
        let mut grown = started_worker();
        let begin = Request::BeginTree {
            objective,
            round: 0,
            output: 0,
            subsample: 1.0,
            seed: 1,
        };
        grown.handle(&begin).unwrap();
        let order = SplitOrder {
            tree: 0,
            node: 0,
            feature: 0,
            threshold: 4,
            missing_left: false,
            left: 1,
            build: ChildHistograms::Smaller { left: true },
        };
        grown.handle(&Request::Split(vec![order])).unwrap();
        let end = Request::EndTree {
            objective,
            output: 0,
            tree: tree.clone(),
        };
        grown.handle(&end).unwrap();
        let mut traversed = started_worker();
        traversed
            .handle(&Request::CatchUp(vec![(0, tree)]))
            .unwrap();
        assert_eq!(grown.scores, traversed.scores);
        assert!(grown.scores.contains(&(0.5 + 0.25)) && grown.scores.contains(&(0.5 + 1.5)));
    }

    #[test]
    fn poisson_draws_have_the_poisson_distribution() {
        let draws: Vec<f64> = (0..20_000)
            .map(|i| poisson_quantile(1.0, hash_unit(1, 2, [f64::from(i)])))
            .collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let zeros = draws.iter().filter(|&&k| k == 0.0).count() as f64 / draws.len() as f64;
        assert!((mean - 1.0).abs() < 0.03, "mean {mean}");
        assert!((zeros - (-1.0f64).exp()).abs() < 0.02, "P(0) {zeros}");
        assert_eq!(poisson_quantile(1.0, 0.3), 0.0);
        assert_eq!(poisson_quantile(1.0, 0.5), 1.0);
    }
}
