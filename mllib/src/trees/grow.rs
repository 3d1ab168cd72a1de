//! Growing one tree on the binned working set from per-row gradients and hessians, leaf by leaf
//! (LightGBM's best-first growth): the open node whose best split gains most splits next, until
//! `max_leaves` leaves or no split gains; `max_depth` bounds every path. Each node's best split
//! comes from its histogram; of two children only the smaller one's histogram is built, the
//! other is the parent's minus it (the subtraction trick) — except under per-node feature
//! samples, where each child's is built over its own sample only, as a compact histogram of
//! those features' bins (see [`ChildHistograms`]).
//!
//! The rows live with the fit's workers ([`crate::trees::worker`]): growing asks them for
//! histograms through `split_nodes` — each call divides some nodes and returns the merged
//! histogram of each one's smaller child — and never touches a row. A split whose children
//! cannot split (at `max_depth`, or the split that spends the leaf budget) is not sent at all:
//! the workers learn of it with the finished tree.
//!
//! A call divides every open node that best-first growth is sure to divide, not only the best
//! one, and grows the same tree in fewer round trips ([`sure_splits`]). One-at-a-time growth
//! divides the open node of largest gain; before it reaches an open node, it can divide only
//! nodes under the open nodes of larger gain, at most `2^(max_depth - depth) - 1` under a node
//! at `depth`; when those leave a split in the leaf budget, the node is sure to divide. Such a
//! node divides at once, but which node comes next is still decided by replaying one-at-a-time
//! growth over the tree so far, in which a node divided early only offers its children once
//! one-at-a-time growth would have divided it — so the tree is the one that growth builds.
//! When every split still possible fits in the budget left — always without a leaf budget that
//! binds (`2^max_depth` leaves or more) — every open node with a split is sure, whatever the
//! replay has reached: one round trip per level. Otherwise it is the best node at first and
//! more as the tree deepens. A call's histograms may exceed [`GrowParams::max_histogram_bytes`]
//! (Spark's `maxMemoryInMB`); its nodes then divide in a few calls: that bounds what each worker
//! builds and sends per call, and what the fitting process holds, since a node's histogram that
//! no subtraction needs is dropped once its split is found.
//!
//! Several trees may grow together (a random forest's pass, see
//! [`crate::trees::protocol::Request::BeginForestTrees`]): each call then carries the next
//! nodes of every one of them, so they share round trips, and each grows as it would alone.
//!
//! Each node splits on the features a [`FeatureChoice`] gives it: all, the tree's sample
//! (boosting's column sampling) or a sample of its own (a random forest's), drawn from the seed,
//! the tree and the node's index, so the choice does not depend on where the rows are.

use std::collections::{BinaryHeap, VecDeque};

use crate::error::{MlError, Result};
use crate::kernels::histogram::{
    histogram_len, subtract_histogram, HistogramLayout, STATS_PER_BIN,
};
use crate::kernels::split::{best_splits_parallel, NodeHistogram, NodeSums, Split, SplitParams};
use crate::random::{hash_unit, SplitMix64};
use crate::trees::binning::FeatureBins;
use crate::trees::protocol::{ChildHistograms, SplitOrder};
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
    /// The most bytes of histograms one call of `split_nodes` may ask for (Spark's
    /// `maxMemoryInMB`): a level with more is divided in batches (one node at least each).
    pub max_histogram_bytes: usize,
    /// Channels per histogram (see [`crate::kernels::split`]): 1, or a multiclass forest's
    /// classes. The tree grown has one set of leaf values per channel.
    pub channels: usize,
}

/// Spark's default `maxMemoryInMB`.
pub(crate) const DEFAULT_MAX_MEMORY_MB: f64 = 256.0;

/// `megabytes` (MiB) in bytes, for [`GrowParams::max_histogram_bytes`].
pub(crate) fn mebibytes(megabytes: f64) -> usize {
    (megabytes * 1024.0 * 1024.0) as usize
}

impl GrowParams {
    /// The most splits possible in the subtree of a node at `depth`, itself included.
    fn possible_splits(&self, depth: usize) -> usize {
        let levels = self.max_depth.saturating_sub(depth);
        u32::try_from(levels)
            .ok()
            .and_then(|levels| 1usize.checked_shl(levels))
            .map_or(usize::MAX, |leaves| leaves - 1)
    }
}

/// The features a node may split on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FeatureChoice {
    /// Every feature.
    All,
    /// These features at every node of the tree (gradient boosting's `colsample_bytree`).
    PerTree(Vec<usize>),
    /// `count` of the `features`, drawn anew at each node from the seed, the tree and the node
    /// (a random forest's `feature_subset_strategy`).
    PerNode {
        /// Features per node.
        count: usize,
        /// Features in all.
        features: usize,
        /// The fit's seed.
        seed: u64,
        /// The tree's index in the fit.
        tree: usize,
    },
}

impl FeatureChoice {
    /// The candidate features of node `node`: `None` for all of them.
    fn of_node(&self, node: usize) -> Option<Vec<usize>> {
        match self {
            FeatureChoice::All => None,
            FeatureChoice::PerTree(features) => Some(features.clone()),
            FeatureChoice::PerNode {
                count,
                features,
                seed,
                tree,
            } => (count < features).then(|| node_sample(*seed, *tree, node, *features, *count)),
        }
    }
}

impl FeatureChoice {
    /// The features the root's histogram must cover: its own sample under per-node samples
    /// (the rest are never looked at), else all (`None`).
    pub(crate) fn root_features(&self) -> Option<Vec<usize>> {
        match self {
            FeatureChoice::PerNode { .. } => self.of_node(0),
            _ => None,
        }
    }

    /// The histograms the children `left` and `left + 1` of a node divided by `split` need
    /// (children that may split). With per-node samples each child's are built over its own
    /// sample only — a parent's histogram holds just its own sample, so subtraction cannot give
    /// a child's, and building a sample costs a fraction of every feature; otherwise the
    /// smaller child's over every feature.
    fn child_histograms(&self, split: &Split, left: usize) -> ChildHistograms {
        match self {
            FeatureChoice::PerNode {
                count,
                features,
                seed,
                tree,
            } if count < features => ChildHistograms::Own {
                left: node_sample(*seed, *tree, left, *features, *count),
                right: node_sample(*seed, *tree, left + 1, *features, *count),
            },
            _ => ChildHistograms::Smaller {
                left: split.left[0].count <= split.right[0].count,
            },
        }
    }
}

/// The `count` of the `features` that node `node` of tree `tree` may split on (see
/// [`FeatureChoice::PerNode`]).
fn node_sample(seed: u64, tree: usize, node: usize, features: usize, count: usize) -> Vec<usize> {
    let stream = hash_unit(seed, tree as u64, [node as f64]).to_bits();
    sample_features(features, count, &mut SplitMix64::new(stream))
}

/// `take` of the features `0..count`, drawn without replacement by `random` (a partial
/// Fisher-Yates shuffle), in increasing order.
pub(crate) fn sample_features(count: usize, take: usize, random: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    for i in 0..take {
        let j = i + (random.next_u64() % (count - i) as u64) as usize;
        order.swap(i, j);
    }
    let mut chosen = order[..take].to_vec();
    chosen.sort_unstable();
    chosen
}

/// Divides nodes where the rows are and returns the histograms each order asks for; the second
/// argument is the bytes of histograms the grower holds meanwhile (for the fit's memory
/// reservation, see [`crate::trees::learner::HistogramMemory`]).
pub(crate) type SplitNodes<'a> = dyn FnMut(&[SplitOrder], usize) -> Result<Vec<Vec<f64>>> + 'a;

/// A node still to split or close.
struct Open {
    node: usize,
    histogram: Vec<f64>,
    /// The node's sums, one per channel.
    total: Vec<NodeSums>,
    depth: usize,
    /// Its best split, when it may split (above `max_depth`) and one gains.
    split: Option<Split>,
    /// Whether `histogram` holds only the node's feature sample's bins (see
    /// [`crate::kernels::split::best_split_compact`]).
    compact: bool,
}

/// Grows trees together from the histograms of their roots, each tree's nodes splitting on the
/// features its [`FeatureChoice`] gives them (`features[i]` for tree `i`, the order's slot in
/// [`SplitOrder::tree`]); `split_nodes` divides nodes where the rows are (see the module docs).
/// Each call asks for the next nodes of every tree at once, so trees grown together share round
/// trips; each tree grows as it would alone. Returns each tree with each channel's leaf values:
/// one tree per channel, all of the same splits.
pub(crate) fn grow(
    layout: &HistogramLayout,
    edges: &FeatureBins,
    roots: Vec<Vec<f64>>,
    split_nodes: &mut SplitNodes<'_>,
    features: &[FeatureChoice],
    params: &GrowParams,
) -> Result<Vec<Vec<Tree>>> {
    let mut growers: Vec<TreeGrower<'_>> = (roots.into_iter().zip(features).enumerate())
        .map(|(slot, (root, features))| {
            TreeGrower::new(slot, layout, edges, root, features, params)
        })
        .collect();
    loop {
        let orders: Vec<SplitOrder> = growers.iter_mut().flat_map(TreeGrower::step).collect();
        if orders.is_empty() {
            break;
        }
        for batch in batches(
            &orders,
            |order| histogram_bytes(layout, order, params),
            params,
        ) {
            let held = growers.iter().map(TreeGrower::held_bytes).sum();
            let mut built = split_nodes(batch, held)?.into_iter();
            for tree_orders in batch.chunk_by(|a, b| a.tree == b.tree) {
                growers[tree_orders[0].tree].receive(tree_orders.len(), &mut built)?;
            }
        }
    }
    Ok(growers.into_iter().map(TreeGrower::finish).collect())
}

/// One tree growing: its nodes so far, the nodes still open, and the parents whose children's
/// histograms it waits for.
struct TreeGrower<'a> {
    /// The tree's slot in the pass ([`SplitOrder::tree`]).
    slot: usize,
    layout: &'a HistogramLayout,
    edges: &'a FeatureBins,
    features: &'a FeatureChoice,
    params: &'a GrowParams,
    nodes: Vec<Node>,
    open: Vec<Open>,
    /// Parents divided by orders sent, whose children's histograms have not come yet.
    waiting: VecDeque<(Open, SplitOrder)>,
    leaf_count: usize,
}

impl<'a> TreeGrower<'a> {
    /// A tree of one leaf, the root of histogram `root`, its best split found.
    fn new(
        slot: usize,
        layout: &'a HistogramLayout,
        edges: &'a FeatureBins,
        root: Vec<f64>,
        features: &'a FeatureChoice,
        params: &'a GrowParams,
    ) -> Self {
        let compact = features.root_features().is_some();
        let channel_len = root.len() / params.channels.max(1);
        let total: Vec<NodeSums> = match features.root_features() {
            // A compact histogram starts with its first feature's bins.
            Some(sample) => {
                let first = HistogramLayout::new(&[layout.bins(sample[0])]);
                (root.chunks_exact(channel_len))
                    .map(|channel| {
                        NodeSums::of_feature(&first, &channel[..histogram_len(&first)], 0)
                    })
                    .collect()
            }
            None => NodeSums::of_channels(layout, &root, 0),
        };
        let mut open = vec![Open {
            node: 0,
            histogram: root,
            total,
            depth: 0,
            split: None,
            compact,
        }];
        find_splits(layout, &mut open, features, params);
        Self {
            slot,
            layout,
            edges,
            features,
            params,
            nodes: vec![Node::Leaf { value: 0.0 }],
            open,
            waiting: VecDeque::new(),
            leaf_count: 1,
        }
    }

    /// Divides the next nodes to split (those best-first growth is sure to divide, see the
    /// module docs) and returns the orders that ask for their children's histograms; none
    /// when the tree is done. A split whose children cannot split is only recorded (see the
    /// module docs), so a step may divide several times before it has orders to send.
    fn step(&mut self) -> Vec<SplitOrder> {
        let mut orders = Vec::new();
        while orders.is_empty() && self.leaf_count < self.params.max_leaves {
            let (known, open_index) = self.known();
            let mut chosen: Vec<usize> = sure_splits(&known, self.params)
                .into_iter()
                .filter_map(|node| open_index[node])
                .collect();
            if chosen.is_empty() {
                break;
            }
            chosen.sort_unstable();
            // Whether the leaf budget leaves room for the chosen nodes' children to split.
            let budget_left = self.leaf_count + chosen.len() < self.params.max_leaves;
            let mut parents = Vec::with_capacity(chosen.len());
            for &index in chosen.iter().rev() {
                parents.push(self.open.swap_remove(index));
            }
            parents.reverse();
            self.leaf_count += parents.len();
            for parent in parents {
                let split = parent.split.as_ref().expect("chosen nodes have a split");
                let left = self.nodes.len();
                self.nodes.extend([Node::Leaf { value: 0.0 }; 2]);
                self.nodes[parent.node] = Node::Split {
                    feature: split.feature,
                    threshold_bin: split.threshold,
                    threshold: self.edges.features()[split.feature]
                        .threshold_value(split.threshold),
                    missing_left: split.missing_left,
                    left,
                    right: left + 1,
                    gain: split.gain,
                };
                if parent.depth + 1 >= self.params.max_depth || !budget_left {
                    // Its children stay leaves: the workers learn of this split with the
                    // finished tree (see `Request::EndTree`), and no round trip builds
                    // histograms no one reads.
                    self.open.extend(final_children(parent, left));
                    continue;
                }
                let order = SplitOrder {
                    tree: self.slot,
                    node: parent.node,
                    feature: split.feature,
                    threshold: split.threshold,
                    missing_left: split.missing_left,
                    left,
                    build: self.features.child_histograms(split, left),
                };
                orders.push(order.clone());
                self.waiting.push_back((parent, order));
            }
        }
        orders
    }

    /// Its nodes as [`sure_splits`] sees them, and each open node's index in `open` by node.
    fn known(&self) -> (Vec<Known>, Vec<Option<usize>>) {
        let mut known: Vec<Known> = (self.nodes.iter())
            .map(|node| match node {
                Node::Split {
                    left, right, gain, ..
                } => Known {
                    gain: Some(*gain),
                    children: Some([*left, *right]),
                },
                Node::Leaf { .. } => Known {
                    gain: None,
                    children: None,
                },
            })
            .collect();
        let mut open_index = vec![None; self.nodes.len()];
        for (index, open) in self.open.iter().enumerate() {
            known[open.node].gain = open.split.as_ref().map(|split| split.gain);
            open_index[open.node] = Some(index);
        }
        (known, open_index)
    }

    /// The bytes of histograms the tree holds: its open nodes' and its waiting parents'.
    fn held_bytes(&self) -> usize {
        let parents = self
            .waiting
            .iter()
            .map(|(parent, _)| parent.histogram.len());
        let values = self
            .open
            .iter()
            .map(|node| node.histogram.len())
            .chain(parents);
        values.sum::<usize>() * std::mem::size_of::<f64>()
    }

    /// Takes the children of the next `orders` waiting parents, their histograms the next of
    /// `built`, and finds their best splits.
    fn receive(&mut self, orders: usize, built: &mut impl Iterator<Item = Vec<f64>>) -> Result<()> {
        let mut children = Vec::with_capacity(2 * orders);
        for _ in 0..orders {
            let (parent, order) = self.waiting.pop_front().ok_or_else(|| MlError::Training {
                reason: "histograms came for a split no one asked for".to_string(),
            })?;
            children.extend(self::children(parent, &order, built)?);
        }
        find_splits(self.layout, &mut children, self.features, self.params);
        for child in &mut children {
            if child.compact {
                // Without subtraction a node's histogram is spent once its split is found.
                child.histogram = Vec::new();
            }
        }
        self.open.extend(children);
        Ok(())
    }

    /// The tree with each channel's leaf values.
    fn finish(self) -> Vec<Tree> {
        let mut trees = vec![self.nodes; self.params.channels];
        for node in self.open {
            for (nodes, total) in trees.iter_mut().zip(&node.total) {
                let value =
                    self.params.learning_rate * total.leaf_value(self.params.split.lambda_l2);
                nodes[node.node] = Node::Leaf { value };
            }
        }
        trees.into_iter().map(Tree::new).collect()
    }
}

/// `orders` cut into consecutive batches whose histograms (`bytes` per order) fit in
/// `params.max_histogram_bytes`, one order at least per batch.
fn batches<'a, T>(
    orders: &'a [T],
    bytes: impl Fn(&T) -> usize,
    params: &GrowParams,
) -> Vec<&'a [T]> {
    let mut batches = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (index, order) in orders.iter().enumerate() {
        let size = bytes(order);
        if index > start && used + size > params.max_histogram_bytes {
            batches.push(&orders[start..index]);
            (start, used) = (index, 0);
        }
        used += size;
    }
    if start < orders.len() {
        batches.push(&orders[start..]);
    }
    batches
}

/// The bytes of the histograms `order` asks for (over `layout`'s features, each of
/// `params.channels`).
pub(crate) fn histogram_bytes(
    layout: &HistogramLayout,
    order: &SplitOrder,
    params: &GrowParams,
) -> usize {
    bins_bytes(order.histogram_bins(layout).iter().sum(), params)
}

/// The bytes of histograms over `bins` bins in all, each of `params.channels`.
pub(crate) fn bins_bytes(bins: usize, params: &GrowParams) -> usize {
    bins * STATS_PER_BIN * params.channels.max(1) * std::mem::size_of::<f64>()
}

/// Sets the best split of each of `nodes` that is above `max_depth` (in parallel).
fn find_splits(
    layout: &HistogramLayout,
    nodes: &mut [Open],
    features: &FeatureChoice,
    params: &GrowParams,
) {
    let splittable: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].depth < params.max_depth)
        .collect();
    let candidates: Vec<Option<Vec<usize>>> = splittable
        .iter()
        .map(|&i| features.of_node(nodes[i].node))
        .collect();
    let histograms: Vec<NodeHistogram<'_>> = splittable
        .iter()
        .zip(&candidates)
        .map(|(&i, candidates)| NodeHistogram {
            histogram: &nodes[i].histogram,
            total: &nodes[i].total,
            features: candidates.as_deref(),
            compact: nodes[i].compact,
        })
        .collect();
    let splits = best_splits_parallel(layout, &histograms, &params.split);
    for (i, split) in splittable.into_iter().zip(splits) {
        nodes[i].split = split;
    }
}

/// What [`sure_splits`] knows of a node of a tree growing.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Known {
    /// The gain of its split (made or best): `None` for a node that cannot split.
    gain: Option<f64>,
    /// Its children, once it is divided.
    children: Option<[usize; 2]>,
}

/// An open node of one-at-a-time growth, ordered as it divides them: the largest gain first,
/// ties to the earliest node.
#[derive(Debug, PartialEq)]
struct Ranked {
    gain: f64,
    node: usize,
    depth: usize,
}

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.gain.total_cmp(&other.gain)).then(other.node.cmp(&self.node))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The undivided nodes of the tree `nodes` (node 0 its root) that best-first growth under
/// `params` is sure to divide (see the module docs): it replays one-at-a-time growth over the
/// nodes divided so far (each divides when it has the largest gain among the open nodes, and
/// only then do its children open), up to the first node not yet divided, which is the first
/// returned; then each open node in falling order of gain whose predecessors' possible splits
/// leave a split in the budget — or every undivided node with a split, when all the splits
/// still possible fit in the budget. Empty when growth is over.
fn sure_splits(nodes: &[Known], params: &GrowParams) -> Vec<usize> {
    let open_node =
        |node: usize, depth: usize| nodes[node].gain.map(|gain| Ranked { gain, node, depth });
    let mut open: BinaryHeap<Ranked> = open_node(0, 0).into_iter().collect();
    let mut splits = 0usize;
    while let Some(Ranked { node, depth, .. }) = open.peek() {
        let Some(children) = nodes[*node].children else {
            break;
        };
        let depth = *depth;
        open.pop();
        splits += 1;
        open.extend(
            children
                .iter()
                .filter_map(|&child| open_node(child, depth + 1)),
        );
    }
    let Some(splits_left) = params.max_leaves.checked_sub(splits + 1) else {
        return Vec::new();
    };
    let possible = (open.iter()).fold(0usize, |sum, node| {
        sum.saturating_add(params.possible_splits(node.depth))
    });
    if possible <= splits_left {
        // The budget cannot bind any more (or ever, without one): every open node with a split
        // divides, whatever the order, so none waits for its parent's turn.
        let mut undivided = Vec::new();
        let mut reached = vec![0];
        while let Some(node) = reached.pop() {
            match nodes[node].children {
                Some(children) => reached.extend(children),
                None if nodes[node].gain.is_some() => undivided.push(node),
                None => {}
            }
        }
        return undivided;
    }
    let mut sure = Vec::new();
    // The splits possible under the open nodes ahead of the one at hand.
    let mut ahead = 0usize;
    for Ranked { node, depth, .. } in open.into_sorted_vec().into_iter().rev() {
        if ahead >= splits_left {
            break;
        }
        if nodes[node].children.is_none() {
            sure.push(node);
        }
        ahead = ahead.saturating_add(params.possible_splits(depth));
    }
    sure
}

/// The two children `left` and `left + 1` of `parent` divided by its split, leaves for good.
fn final_children(parent: Open, left: usize) -> [Open; 2] {
    let split = parent.split.expect("a divided node has a split");
    [(left, split.left), (left + 1, split.right)].map(|(node, total)| Open {
        node,
        histogram: Vec::new(),
        total,
        depth: parent.depth + 1,
        split: None,
        compact: parent.compact,
    })
}

/// The two children of `parent` divided by `order`, their histograms the next of `built`: the
/// smaller child's (the other's is the parent's less it) or each child's own.
fn children(
    parent: Open,
    order: &SplitOrder,
    built: &mut impl Iterator<Item = Vec<f64>>,
) -> Result<[Open; 2]> {
    let split = parent.split.expect("a divided node has a split");
    let mut next = || {
        built.next().ok_or_else(|| MlError::Training {
            reason: "the workers returned fewer histograms than asked".to_string(),
        })
    };
    let compact = matches!(order.build, ChildHistograms::Own { .. });
    let (left_histogram, right_histogram) = match order.build {
        ChildHistograms::Smaller { left } => {
            let small = next()?;
            let mut large = vec![0.0; small.len()];
            subtract_histogram(&parent.histogram, &small, &mut large);
            if left {
                (small, large)
            } else {
                (large, small)
            }
        }
        ChildHistograms::Own { .. } => (next()?, next()?),
    };
    Ok([
        (order.left, left_histogram, split.left),
        (order.left + 1, right_histogram, split.right),
    ]
    .map(|(node, histogram, total)| Open {
        node,
        histogram,
        total,
        depth: parent.depth + 1,
        split: None,
        compact,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_fit_the_memory_cap_with_one_order_at_least() {
        let params = |bytes| GrowParams {
            max_depth: 3,
            max_leaves: 8,
            split: SplitParams::default(),
            learning_rate: 1.0,
            max_histogram_bytes: bytes,
            channels: 1,
        };
        let sizes = [4, 3, 5, 1, 1, 9];
        let cut = |cap| -> Vec<Vec<usize>> {
            batches(&sizes, |&size| size, &params(cap))
                .into_iter()
                .map(<[usize]>::to_vec)
                .collect()
        };
        assert_eq!(cut(100), vec![sizes.to_vec()]);
        assert_eq!(
            cut(7),
            vec![vec![4, 3], vec![5, 1, 1], vec![9]],
            "an order over the cap goes alone"
        );
        assert_eq!(cut(0).len(), sizes.len());
        assert!(batches(&[] as &[usize], |&size| size, &params(1)).is_empty());
    }

    /// The nodes (heap indices: node `i`'s children are `2i + 1` and `2i + 2`) that growth
    /// under `params` divides, given each node's split gain (`None`: it cannot split), dividing
    /// what `pick` chooses from the tree so far each time (heap indices; unreached nodes are
    /// undivided).
    fn divided(
        gains: &[Option<f64>],
        params: &GrowParams,
        mut pick: impl FnMut(&[Known]) -> Vec<usize>,
    ) -> Vec<usize> {
        let depth = |heap: usize| (usize::BITS - (heap + 1).leading_zeros() - 1) as usize;
        let mut known: Vec<Known> = (0..gains.len())
            .map(|heap| Known {
                gain: gains[heap].filter(|_| depth(heap) < params.max_depth),
                children: None,
            })
            .collect();
        let mut leaves = 1;
        while leaves < params.max_leaves {
            let chosen = pick(&known);
            if chosen.is_empty() {
                break;
            }
            for heap in chosen {
                assert!(known[heap].children.is_none() && known[heap].gain.is_some());
                known[heap].children = Some([2 * heap + 1, 2 * heap + 2]);
                leaves += 1;
            }
        }
        assert!(leaves <= params.max_leaves);
        (0..known.len())
            .filter(|&heap| known[heap].children.is_some())
            .collect()
    }

    #[test]
    fn dividing_every_sure_split_at_once_divides_what_one_at_a_time_does() {
        let mut random = SplitMix64::new(7);
        let mut batched_calls = 0;
        for _ in 0..3000 {
            let max_depth = 1 + (random.next_u64() % 7) as usize;
            let params = GrowParams {
                max_depth,
                max_leaves: 2 + (random.next_u64() % 70) as usize,
                split: SplitParams::default(),
                learning_rate: 1.0,
                max_histogram_bytes: usize::MAX,
                channels: 1,
            };
            // A child's gain often above its parent's; a fifth of nodes cannot split; one run
            // in four of three distinct gains, for ties.
            let levels = if random.next_u64().is_multiple_of(4) {
                3
            } else {
                u64::MAX
            };
            let gains: Vec<Option<f64>> = (0..(2usize << max_depth))
                .map(|_| {
                    let draw = random.next_u64();
                    (!draw.is_multiple_of(5)).then(|| ((draw >> 8) % levels) as f64)
                })
                .collect();
            // The open node of largest gain (ties to the earliest) each time.
            let one_at_a_time = divided(&gains, &params, |known| {
                let mut open = vec![0];
                let mut best: Option<usize> = None;
                while let Some(heap) = open.pop() {
                    match known[heap].children {
                        Some(children) => open.extend(children),
                        None => {
                            let gain = known[heap].gain;
                            let better = |best: usize| {
                                let best_gain = known[best].gain.unwrap();
                                gain.unwrap() > best_gain
                                    || (gain.unwrap() == best_gain && heap < best)
                            };
                            if gain.is_some() && best.is_none_or(better) {
                                best = Some(heap);
                            }
                        }
                    }
                }
                best.into_iter().collect()
            });
            let together = divided(&gains, &params, |known| {
                let chosen = sure_splits(known, &params);
                batched_calls += usize::from(chosen.len() > 1);
                chosen
            });
            assert_eq!(together, one_at_a_time, "{params:?} {gains:?}");
        }
        assert!(batched_calls > 1000, "{batched_calls}");
    }

    #[test]
    fn without_a_binding_budget_every_open_node_divides_in_one_call() {
        let params = |max_leaves| GrowParams {
            max_depth: 3,
            max_leaves,
            split: SplitParams::default(),
            learning_rate: 1.0,
            max_histogram_bytes: usize::MAX,
            channels: 1,
        };
        let divided = |gain, children| Known {
            gain: Some(gain),
            children: Some(children),
        };
        let open = |gain| Known {
            gain: Some(gain),
            children: None,
        };
        // A level divided at once. One at a time, node 3 (gain 4.5) would divide before node 2
        // (gain 3), so node 2's children are not open yet in the replay: without a binding
        // budget they divide now all the same.
        let tree = [
            divided(9.0, [1, 2]),
            divided(5.0, [3, 4]),
            divided(3.0, [5, 6]),
            open(4.5),
            open(0.5),
            open(4.0),
            open(2.0),
        ];
        let sure = |max_leaves| {
            let mut sure = sure_splits(&tree, &params(max_leaves));
            sure.sort_unstable();
            sure
        };
        assert_eq!(sure(usize::MAX), vec![3, 4, 5, 6]);
        // Five splits possible (node 2's subtree holds three) and five left.
        assert_eq!(sure(8), vec![3, 4, 5, 6]);
        // Four left: node 3, then node 2's subtree could take the rest before node 4.
        assert_eq!(sure(7), vec![3]);
    }

    #[test]
    fn per_node_features_vary_by_node_and_tree_and_repeat_for_a_seed() {
        let choice = |tree| FeatureChoice::PerNode {
            count: 3,
            features: 10,
            seed: 42,
            tree,
        };
        let subsets: Vec<Vec<usize>> = (0..20)
            .map(|node| choice(0).of_node(node).unwrap())
            .collect();
        assert!(subsets
            .iter()
            .all(|s| s.len() == 3 && s.windows(2).all(|w| w[0] < w[1])));
        assert!(subsets.iter().any(|s| s != &subsets[0]), "{subsets:?}");
        assert_eq!(choice(0).of_node(5), Some(subsets[5].clone()));
        assert!((0..20).any(|node| choice(1).of_node(node).as_ref() != Some(&subsets[node])));
        let all = FeatureChoice::PerNode {
            count: 10,
            features: 10,
            seed: 42,
            tree: 0,
        };
        assert_eq!(all.of_node(3), None);
        assert_eq!(FeatureChoice::All.of_node(3), None);
    }
}
