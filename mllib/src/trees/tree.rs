//! A fitted decision tree: nodes in one vector (the root first), grown by the learners on binned
//! data and applied to raw feature values, or to binned rows while training.

use datafusion::common::exec_err;
use datafusion::error::Result as DataFusionResult;

use crate::codec::count_within;

/// One node of a [`Tree`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    /// Rows whose `feature` is at most `threshold` go to `left`, the others to `right`; a missing
    /// value (null or NaN) goes left when `missing_left`.
    Split {
        /// The feature's position in the model's feature list.
        feature: usize,
        /// The split in bins: bins `1..=threshold_bin` go left (bin 0 is missing).
        threshold_bin: u8,
        /// The split in values: the upper edge of `threshold_bin`.
        threshold: f64,
        /// Where missing values go.
        missing_left: bool,
        /// The left child's index.
        left: usize,
        /// The right child's index.
        right: usize,
        /// The loss reduction the split bought in training (for feature importance).
        gain: f64,
    },
    /// The tree's output for the rows that reach it.
    Leaf {
        /// The output.
        value: f64,
    },
}

/// A binary decision tree; node 0 is the root.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    nodes: Vec<Node>,
}

/// Values per node in [`Tree::encode`].
const NODE_WIDTH: usize = 8;

impl Tree {
    /// The tree of `nodes` (node 0 the root; children after their parents).
    pub fn new(nodes: Vec<Node>) -> Self {
        Self { nodes }
    }

    /// The nodes, root first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The leaf a binned row reaches: `bins` holds one bin column per feature.
    pub fn leaf_of_binned(&self, bins: &[&[u8]], row: usize) -> usize {
        self.leaf_below(0, bins, row)
    }

    /// The leaf a binned row reaches from node `node` down.
    pub fn leaf_below(&self, mut node: usize, bins: &[&[u8]], row: usize) -> usize {
        while let Node::Split {
            feature,
            threshold_bin,
            missing_left,
            left,
            right,
            ..
        } = self.nodes[node]
        {
            let bin = bins[feature][row];
            let goes_left = if bin == 0 {
                missing_left
            } else {
                bin <= threshold_bin
            };
            node = if goes_left { left } else { right };
        }
        node
    }

    /// The output for one row of raw values (`value(feature)` gives the row's feature value,
    /// NaN when missing).
    pub fn predict_row(&self, value: impl Fn(usize) -> f64) -> f64 {
        let mut node = 0;
        loop {
            match self.nodes[node] {
                Node::Leaf { value } => return value,
                Node::Split {
                    feature,
                    threshold,
                    missing_left,
                    left,
                    right,
                    ..
                } => {
                    let x = value(feature);
                    let goes_left = if x.is_nan() {
                        missing_left
                    } else {
                        x <= threshold
                    };
                    node = if goes_left { left } else { right };
                }
            }
        }
    }

    /// The tree as `f64`s, [`NODE_WIDTH`] per node: `[0, value, 0...]` for a leaf,
    /// `[1, feature, threshold_bin, threshold, missing_left, left, right, gain]` for a split.
    pub fn encode(&self, out: &mut Vec<f64>) {
        out.push(self.nodes.len() as f64);
        for node in &self.nodes {
            match *node {
                Node::Leaf { value } => out.extend([0.0, value, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
                Node::Split {
                    feature,
                    threshold_bin,
                    threshold,
                    missing_left,
                    left,
                    right,
                    gain,
                } => out.extend([
                    1.0,
                    feature as f64,
                    f64::from(threshold_bin),
                    threshold,
                    f64::from(u8::from(missing_left)),
                    left as f64,
                    right as f64,
                    gain,
                ]),
            }
        }
    }

    /// The tree [`Tree::encode`] wrote at the start of `values`, and the values after it; an
    /// error when they do not form a tree over `features` features.
    pub fn decode(values: &[f64], features: usize) -> DataFusionResult<(Self, &[f64])> {
        let Some((&count, rest)) = values.split_first() else {
            return exec_err!("corrupt tree: no node count");
        };
        let Some(count) = count_within(count, rest.len() / NODE_WIDTH).filter(|&count| count > 0)
        else {
            return exec_err!("corrupt tree: {count} nodes do not fit");
        };
        let (encoded, rest) = rest.split_at(count * NODE_WIDTH);
        let mut nodes = Vec::with_capacity(count);
        for (index, node) in encoded.chunks_exact(NODE_WIDTH).enumerate() {
            nodes.push(if node[0] == 0.0 {
                Node::Leaf { value: node[1] }
            } else {
                let (feature, left, right) = (node[1] as usize, node[5] as usize, node[6] as usize);
                // Children come after their parent, so every walk ends at a leaf.
                if feature >= features
                    || left <= index
                    || right <= index
                    || left.max(right) >= count
                {
                    return exec_err!("corrupt tree: node {index} points outside the tree");
                }
                Node::Split {
                    feature,
                    threshold_bin: node[2] as u8,
                    threshold: node[3],
                    missing_left: node[4] != 0.0,
                    left,
                    right,
                    gain: node[7],
                }
            });
        }
        Ok((Self { nodes }, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x0 <= 2 (missing left) ? (x1 <= 5 ? 1 : 2) : 3
    fn small_tree() -> Tree {
        let split = |feature, threshold_bin, threshold, left, right| Node::Split {
            feature,
            threshold_bin,
            threshold,
            missing_left: true,
            left,
            right,
            gain: 1.0,
        };
        Tree::new(vec![
            split(0, 2, 2.0, 1, 2),
            split(1, 3, 5.0, 3, 4),
            Node::Leaf { value: 3.0 },
            Node::Leaf { value: 1.0 },
            Node::Leaf { value: 2.0 },
        ])
    }

    #[test]
    fn raw_and_binned_rows_reach_the_same_leaves() {
        let tree = small_tree();
        let row = |x0: f64, x1: f64| tree.predict_row(|f| [x0, x1][f]);
        assert_eq!(row(1.0, 5.0), 1.0);
        assert_eq!(row(2.0, 6.0), 2.0);
        assert_eq!(row(2.5, 0.0), 3.0);
        assert_eq!(row(f64::NAN, 0.0), 1.0);
        let bins: [&[u8]; 2] = [&[1, 2, 3, 0], &[3, 4, 1, 1]];
        let leaves: Vec<usize> = (0..4).map(|row| tree.leaf_of_binned(&bins, row)).collect();
        assert_eq!(leaves, [3, 4, 2, 3]);
    }

    #[test]
    fn encoding_round_trips_and_rejects_corrupt_trees() {
        let tree = small_tree();
        let mut encoded = Vec::new();
        tree.encode(&mut encoded);
        encoded.push(42.0);
        let (decoded, rest) = Tree::decode(&encoded, 2).unwrap();
        assert_eq!(decoded, tree);
        assert_eq!(rest, [42.0]);
        assert!(Tree::decode(&encoded, 1).is_err(), "feature out of range");
        let mut cyclic = encoded.clone();
        cyclic[1 + 5] = 0.0; // the root's left child is the root
        assert!(Tree::decode(&cyclic, 2).is_err());
        assert!(Tree::decode(&encoded[..10], 2).is_err());
    }
}
