//! Which of a worker's rows each node of the tree being grown holds, as LightGBM's data
//! partition keeps them: one index buffer, each node a range of it. Dividing a node reorders
//! its range in place (its left child's rows first, then its right child's, each in increasing
//! row order, which keeps later gathers over the rows cache-friendly), so growing a tree
//! allocates nothing per node.

use std::ops::Range;

/// The rows of each node of one tree.
#[derive(Debug, Default)]
pub(crate) struct NodeRows {
    /// Row indices, grouped by node.
    rows: Vec<u32>,
    /// Each node's range of `rows`; empty once the node is divided (or when it has no rows).
    ranges: Vec<Range<usize>>,
    /// Holds a divided node's right rows while its left ones move forward.
    scratch: Vec<u32>,
}

impl NodeRows {
    /// Starts a tree whose root holds `root` (increasing row indices).
    pub fn start(&mut self, root: Vec<u32>) {
        self.ranges.clear();
        self.ranges.push(0..root.len());
        self.rows = root;
    }

    /// Forgets the tree.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.ranges.clear();
    }

    /// The rows of node `node`, if the tree has that node.
    pub fn of(&self, node: usize) -> Option<&[u32]> {
        self.ranges.get(node).map(|range| &self.rows[range.clone()])
    }

    /// Divides node `node` into nodes `left` (the rows where `goes_left(row)`) and `left + 1`
    /// (the others); the divided node keeps no rows. False if the tree lacks `node`.
    pub fn divide(&mut self, node: usize, left: usize, goes_left: impl Fn(u32) -> bool) -> bool {
        let Some(range) = self.ranges.get_mut(node).map(std::mem::take) else {
            return false;
        };
        self.scratch.clear();
        let mut end_of_left = range.start;
        for index in range.clone() {
            let row = self.rows[index];
            if goes_left(row) {
                self.rows[end_of_left] = row;
                end_of_left += 1;
            } else {
                self.scratch.push(row);
            }
        }
        self.rows[end_of_left..range.end].copy_from_slice(&self.scratch);
        if self.ranges.len() <= left + 1 {
            self.ranges.resize(left + 2, 0..0);
        }
        self.ranges[left] = range.start..end_of_left;
        self.ranges[left + 1] = end_of_left..range.end;
        true
    }

    /// Each node that holds rows (the leaves, once the tree is grown) with its rows.
    pub fn holding(&self) -> impl Iterator<Item = (usize, &[u32])> {
        self.ranges
            .iter()
            .enumerate()
            .filter(|(_, range)| !range.is_empty())
            .map(|(node, range)| (node, &self.rows[range.clone()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dividing_keeps_each_sides_rows_in_order() {
        let mut nodes = NodeRows::default();
        nodes.start(vec![0, 2, 3, 5, 8, 9]);
        assert!(nodes.divide(0, 1, |row| row % 2 == 0));
        assert_eq!(nodes.of(0), Some(&[][..]));
        assert_eq!(nodes.of(1), Some(&[0, 2, 8][..]));
        assert_eq!(nodes.of(2), Some(&[3, 5, 9][..]));
        assert!(nodes.divide(2, 3, |row| row > 100));
        assert_eq!(nodes.of(3), Some(&[][..]));
        assert_eq!(nodes.of(4), Some(&[3, 5, 9][..]));
        let holding: Vec<(usize, Vec<u32>)> = nodes
            .holding()
            .map(|(node, rows)| (node, rows.to_vec()))
            .collect();
        assert_eq!(holding, vec![(1, vec![0, 2, 8]), (4, vec![3, 5, 9])]);
        assert!(!nodes.divide(7, 8, |_| true), "no node 7");
        nodes.start(vec![4]);
        assert_eq!(nodes.of(1), None);
    }
}
