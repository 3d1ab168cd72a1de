//! What a worker that replaces a lost one must be told to stand where the lost one stood.
//!
//! A cluster fit's workers live in executor tasks. When an executor dies, Ballista runs the
//! lost task again elsewhere; the new task bins the same partition and connects to the fitting
//! process, which must bring it to the state the lost worker had before the request that
//! failed, and then ask that request again. The journal keeps what that takes, and no more:
//!
//! - each worker's description (which partition it is: rows and their hash) and its
//!   [`Request::Start`];
//! - the trees of the finished boosting rounds, replayed as one [`Request::CatchUp`], which
//!   adds them to the scores by traversal (the same sums in the same order as the lost
//!   worker's);
//! - the requests of the round in progress, from its first [`Request::BeginTree`] (or a
//!   forest pass's [`Request::BeginForestTrees`]), replayed as they were: a round's later
//!   trees start from gradients taken at the round's start, so the round is replayed whole.
//!
//! The replacement then holds the same rows, scores, gradients and node rows, and answers as the
//! lost one would have: the fit goes on with the identical model. Every request but
//! [`Request::Start`] goes to all workers alike (the learner broadcasts them), so the journal
//! keeps one copy.

use crate::trees::protocol::{Reply, Request};
use crate::trees::tree::Tree;

/// The requests a replacement needs, for a fit's workers in their current order.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    /// Each worker's [`Reply::Described`], once described.
    described: Vec<Option<Reply>>,
    /// Each worker's [`Request::Start`], once started.
    starts: Vec<Option<Request>>,
    /// `(output, tree)` of every finished round, in boosting order.
    finished: Vec<(usize, Tree)>,
    /// The round in progress.
    round: Vec<Request>,
}

impl Journal {
    /// An empty journal for `workers` workers.
    pub fn new(workers: usize) -> Self {
        Self {
            described: vec![None; workers],
            starts: vec![None; workers],
            ..Self::default()
        }
    }

    /// Notes `requests` (one per worker) and their `replies`, all answered.
    pub fn record(&mut self, requests: &[Request], replies: &[Reply]) {
        let Some(first) = requests.first() else {
            return;
        };
        match first {
            Request::Describe => {
                for (described, reply) in self.described.iter_mut().zip(replies) {
                    *described = Some(reply.clone());
                }
            }
            Request::Start { .. } => {
                for (start, request) in self.starts.iter_mut().zip(requests) {
                    *start = Some(request.clone());
                }
                self.finished.clear();
                self.round.clear();
            }
            Request::BeginTree { output: 0, .. } | Request::BeginForestTrees { .. } => {
                self.finish_round();
                self.round.push(first.clone());
            }
            Request::BeginTree { .. } | Request::Split(_) | Request::EndTree { .. } => {
                self.round.push(first.clone());
            }
            Request::Labels { .. } | Request::CatchUp(_) | Request::Finish => {}
        }
    }

    /// Moves the trees the round in progress ended into the finished ones.
    fn finish_round(&mut self) {
        for request in self.round.drain(..) {
            if let Request::EndTree { output, tree, .. } = request {
                self.finished.push((output, tree));
            }
        }
    }

    /// Reorders as the workers: worker `i` becomes the one at `order[i]`.
    pub fn reorder(&mut self, order: &[usize]) {
        self.described = order.iter().map(|&i| self.described[i].clone()).collect();
        self.starts = order.iter().map(|&i| self.starts[i].clone()).collect();
    }

    /// Whether a worker that describes itself as `described` can replace worker `worker`: it
    /// holds the same rows (any worker may, if `worker` was lost before it was described).
    pub fn replaces(&self, worker: usize, described: &Reply) -> bool {
        self.described[worker]
            .as_ref()
            .is_none_or(|known| known == described)
    }

    /// What a replacement of worker `worker` must be asked, in order, after
    /// [`Request::Describe`], to reach the state the lost one had.
    pub fn replay(&self, worker: usize) -> Vec<Request> {
        let mut requests: Vec<Request> = self.starts[worker].iter().cloned().collect();
        if !self.finished.is_empty() {
            requests.push(Request::CatchUp(self.finished.clone()));
        }
        requests.extend(self.round.iter().cloned());
        requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trees::objective::Objective;
    use crate::trees::protocol::{ChildHistograms, ForestRoot, SplitOrder};
    use crate::trees::tree::Node;

    fn leaf(value: f64) -> Tree {
        Tree::new(vec![Node::Leaf { value }])
    }

    fn begin(round: usize, output: usize) -> Request {
        Request::BeginTree {
            objective: Objective::Softmax { classes: 3 },
            round,
            output,
            subsample: 1.0,
            seed: 1,
        }
    }

    fn end(output: usize, value: f64) -> Request {
        Request::EndTree {
            objective: Objective::Softmax { classes: 3 },
            output,
            tree: leaf(value),
        }
    }

    fn split() -> Request {
        Request::Split(vec![SplitOrder::of_root(ChildHistograms::Smaller {
            left: true,
        })])
    }

    fn described(fingerprint: f64) -> Reply {
        Reply::Described {
            rows: 10,
            held_out_rows: 0,
            fingerprint,
        }
    }

    fn start(rank: usize) -> Request {
        Request::Start {
            rank,
            base_scores: vec![0.5; 3],
        }
    }

    /// Records `request` as broadcast to two workers.
    fn broadcast(journal: &mut Journal, request: Request) {
        journal.record(&[request.clone(), request], &[Reply::Done, Reply::Done]);
    }

    #[test]
    fn a_replacement_catches_up_on_finished_rounds_and_replays_the_round_in_progress() {
        let mut journal = Journal::new(2);
        assert!(journal.replaces(1, &described(7.0)));
        journal.record(
            &[Request::Describe, Request::Describe],
            &[described(2.0), described(1.0)],
        );
        // Ranked by fingerprint: the second worker first.
        journal.reorder(&[1, 0]);
        assert!(journal.replaces(0, &described(1.0)));
        assert!(!journal.replaces(0, &described(2.0)));
        assert_eq!(journal.replay(0), []);
        journal.record(&[start(0), start(1)], &[Reply::Done, Reply::Done]);
        broadcast(&mut journal, Request::Labels { classifier: true });
        assert_eq!(journal.replay(1), [start(1)]);
        // Round 0: three outputs; round 1 in progress at its second output.
        for output in 0..3 {
            broadcast(&mut journal, begin(0, output));
            broadcast(&mut journal, split());
            broadcast(&mut journal, end(output, output as f64));
        }
        broadcast(&mut journal, begin(1, 0));
        broadcast(&mut journal, split());
        broadcast(&mut journal, end(0, 10.0));
        broadcast(&mut journal, begin(1, 1));
        let finished = Request::CatchUp(vec![(0, leaf(0.0)), (1, leaf(1.0)), (2, leaf(2.0))]);
        assert_eq!(
            journal.replay(1),
            [
                start(1),
                finished,
                begin(1, 0),
                split(),
                end(0, 10.0),
                begin(1, 1)
            ]
        );
        // A new start (a new fit on the same workers) forgets the trees.
        journal.record(&[start(0), start(1)], &[Reply::Done, Reply::Done]);
        assert_eq!(journal.replay(0), [start(0)]);
    }

    #[test]
    fn a_forest_replays_only_the_pass_it_grows() {
        let mut journal = Journal::new(1);
        journal.record(&[start(0)], &[Reply::Done]);
        let tree = |tree| Request::BeginForestTrees {
            trees: vec![ForestRoot {
                tree,
                features: None,
            }],
            seed: 3,
            bootstrap: true,
            subsample: 1.0,
            channels: 1,
        };
        journal.record(&[tree(0)], &[Reply::Histograms(vec![])]);
        journal.record(&[split()], &[Reply::Histograms(vec![])]);
        journal.record(&[tree(1)], &[Reply::Histograms(vec![])]);
        assert_eq!(journal.replay(0), [start(0), tree(1)]);
    }
}
