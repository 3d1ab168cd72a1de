//! Which of a worker's rows each node of the tree being grown holds, as LightGBM's data
//! partition keeps them: one index buffer, each node a range of it. Dividing a node reorders
//! its range in place (its left child's rows first, then its right child's, each in increasing
//! row order, which keeps later gathers over the rows cache-friendly). A large node divides in
//! parallel, chunk by chunk, into the same order.

use std::ops::Range;

use rayon::prelude::*;

/// Rows per chunk of a node divided in parallel; smaller nodes divide on the calling thread.
const PARALLEL_CHUNK_ROWS: usize = 64 * 1024;

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

    /// The rows of node `node`, if the tree has that node.
    pub fn of(&self, node: usize) -> Option<&[u32]> {
        self.ranges.get(node).map(|range| &self.rows[range.clone()])
    }

    /// Divides node `node` into nodes `left` (the rows where `goes_left(row)`) and `left + 1`
    /// (the others); the divided node keeps no rows. False if the tree lacks `node`.
    pub fn divide(
        &mut self,
        node: usize,
        left: usize,
        goes_left: impl Fn(u32) -> bool + Sync,
    ) -> bool {
        let Some(range) = self.ranges.get_mut(node).map(std::mem::take) else {
            return false;
        };
        let rows = &mut self.rows[range.clone()];
        let left_rows = if rows.len() > PARALLEL_CHUNK_ROWS {
            divide_in_parallel(rows, goes_left)
        } else {
            divide_in_place(rows, &mut self.scratch, goes_left)
        };
        let end_of_left = range.start + left_rows;
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

/// Reorders `rows` into those where `goes_left(row)`, then the others, each in their order,
/// with `scratch` holding the others meanwhile; returns how many go left.
fn divide_in_place(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    goes_left: impl Fn(u32) -> bool,
) -> usize {
    scratch.clear();
    let mut end_of_left = 0;
    for index in 0..rows.len() {
        let row = rows[index];
        if goes_left(row) {
            rows[end_of_left] = row;
            end_of_left += 1;
        } else {
            scratch.push(row);
        }
    }
    rows[end_of_left..].copy_from_slice(scratch);
    end_of_left
}

/// [`divide_in_place`] over chunks in parallel, then the chunks' left rows in chunk order and
/// their right rows after: the same order as dividing in one pass.
fn divide_in_parallel(rows: &mut [u32], goes_left: impl Fn(u32) -> bool + Sync) -> usize {
    let chunks: Vec<(Vec<u32>, Vec<u32>)> = rows
        .par_chunks(PARALLEL_CHUNK_ROWS)
        .map(|chunk| chunk.iter().partition(|&&row| goes_left(row)))
        .collect();
    let mut at = 0;
    for part in chunks
        .iter()
        .map(|(left, _)| left)
        .chain(chunks.iter().map(|(_, right)| right))
    {
        rows[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    chunks.iter().map(|(left, _)| left.len()).sum()
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

    #[test]
    fn a_large_node_divides_in_parallel_into_the_same_order() {
        let rows: Vec<u32> = (0..3 * PARALLEL_CHUNK_ROWS as u32 + 7)
            .map(|i| 2 * i)
            .collect();
        let goes_left = |row: u32| row.is_multiple_of(3) || row % 7 == 1;
        let mut expected = rows.clone();
        let left = divide_in_place(&mut expected, &mut Vec::new(), goes_left);
        let mut nodes = NodeRows::default();
        nodes.start(rows);
        assert!(nodes.divide(0, 1, goes_left));
        assert_eq!(nodes.of(1), Some(&expected[..left]));
        assert_eq!(nodes.of(2), Some(&expected[left..]));
        assert!(expected[..left].windows(2).all(|pair| pair[0] < pair[1]));
    }
}
