//! Requests and replies between the fitting process and workers running in executor tasks:
//! each a message of `f64` values on the worker's exchange ([`crate::trees::rpc`]).
//!
//! A worker connects and answers requests until [`Request::Finish`]. The fitting process sends a
//! request to every worker before reading any reply, so the workers compute at the same time.

use std::io;

use tokio::runtime::Handle;

use crate::error::{MlError, Result};
use crate::trees::learner::Workers;
use crate::trees::objective::Objective;
use crate::trees::protocol::{ChildHistograms, LabelStats, Reply, Request, SplitOrder};
use crate::trees::rpc::Exchange;
use crate::trees::tree::Tree;
use crate::trees::worker::PartitionWorker;

/// A fit id (or seed) as two exact `f64`s.
pub(crate) fn id_values(fit: u64) -> [f64; 2] {
    [(fit >> 32) as f64, (fit & 0xFFFF_FFFF) as f64]
}

/// The fit id (or seed) [`id_values`] wrote.
pub(crate) fn id_of(values: &[f64]) -> Option<u64> {
    match values {
        [high, low] => Some(((*high as u64) << 32) | (*low as u64)),
        _ => None,
    }
}

/// 0: binary logistic, 1: squared error, `K >= 3`: softmax over `K` classes.
fn objective_code(objective: Objective) -> f64 {
    match objective {
        Objective::BinaryLogistic => 0.0,
        Objective::SquaredError => 1.0,
        Objective::Softmax { classes } => classes as f64,
    }
}

fn objective_of(code: f64) -> io::Result<Objective> {
    match code as usize {
        0 => Ok(Objective::BinaryLogistic),
        1 => Ok(Objective::SquaredError),
        classes if classes >= 3 => Ok(Objective::Softmax { classes }),
        _ => Err(corrupt("an unknown objective")),
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt message: {what}"),
    )
}

fn encode_request(request: &Request) -> Vec<f64> {
    match request {
        Request::Describe => vec![0.0],
        Request::Labels { classifier } => vec![1.0, f64::from(u8::from(*classifier))],
        Request::Start { rank, base_scores } => {
            let mut values = vec![2.0, *rank as f64];
            values.extend(base_scores);
            values
        }
        Request::BeginTree {
            objective,
            round,
            output,
            subsample,
            seed,
        } => {
            let mut values = vec![
                3.0,
                objective_code(*objective),
                *round as f64,
                *output as f64,
                *subsample,
            ];
            values.extend(id_values(*seed));
            values
        }
        Request::Split(orders) => {
            let mut values = vec![4.0];
            for order in orders {
                encode_order(order, &mut values);
            }
            values
        }
        Request::EndTree {
            objective,
            output,
            tree,
        } => {
            let mut values = vec![5.0, objective_code(*objective), *output as f64];
            tree.encode(&mut values);
            values
        }
        Request::Finish => vec![6.0],
        Request::BeginForestTree {
            tree,
            seed,
            bootstrap,
            subsample,
            features,
            channels,
        } => {
            let mut values = vec![
                7.0,
                *tree as f64,
                f64::from(u8::from(*bootstrap)),
                *subsample,
                *channels as f64,
            ];
            values.extend(id_values(*seed));
            encode_features(features.as_deref(), &mut values);
            values
        }
    }
}

fn decode_request(values: &[f64], features: usize) -> io::Result<Request> {
    let Some((&tag, rest)) = values.split_first() else {
        return Err(corrupt("an empty request"));
    };
    Ok(match (tag as u8, rest) {
        (0, []) => Request::Describe,
        (1, [classifier]) => Request::Labels {
            classifier: *classifier != 0.0,
        },
        (2, [rank, base_scores @ ..]) => Request::Start {
            rank: *rank as usize,
            base_scores: base_scores.to_vec(),
        },
        (3, [objective, round, output, subsample, seed @ ..]) => Request::BeginTree {
            objective: objective_of(*objective)?,
            round: *round as usize,
            output: *output as usize,
            subsample: *subsample,
            seed: id_of(seed).ok_or_else(|| corrupt("a seed"))?,
        },
        (4, mut rest) => {
            let mut orders = Vec::new();
            while !rest.is_empty() {
                let (order, tail) = decode_order(rest)?;
                orders.push(order);
                rest = tail;
            }
            Request::Split(orders)
        }
        (5, [objective, output, tree @ ..]) => {
            let (tree, rest) =
                Tree::decode(tree, features).map_err(|error| corrupt(&error.to_string()))?;
            if !rest.is_empty() {
                return Err(corrupt("values after a tree"));
            }
            Request::EndTree {
                objective: objective_of(*objective)?,
                output: *output as usize,
                tree,
            }
        }
        (6, []) => Request::Finish,
        (7, [tree, bootstrap, subsample, channels, high, low, features @ ..]) => {
            let (features, rest) = decode_features(features)?;
            if !rest.is_empty() {
                return Err(corrupt("values after a tree's features"));
            }
            Request::BeginForestTree {
                tree: *tree as usize,
                seed: id_of(&[*high, *low]).ok_or_else(|| corrupt("a seed"))?,
                bootstrap: *bootstrap != 0.0,
                subsample: *subsample,
                features,
                channels: *channels as usize,
            }
        }
        _ => return Err(corrupt("an unknown request")),
    })
}

/// `order` as `[node, feature, threshold, missing_left, left, kind, ...]`: kind 0 or 1 builds
/// the smaller child (right or left); kind 2 is followed by each child's feature count (-1: not
/// built) and features.
fn encode_order(order: &SplitOrder, values: &mut Vec<f64>) {
    values.extend([
        order.node as f64,
        order.feature as f64,
        f64::from(order.threshold),
        f64::from(u8::from(order.missing_left)),
        order.left as f64,
    ]);
    match &order.build {
        ChildHistograms::Smaller { left } => values.push(f64::from(u8::from(*left))),
        ChildHistograms::Own { left, right } => {
            values.push(2.0);
            encode_features(left.as_deref(), values);
            encode_features(right.as_deref(), values);
        }
    }
}

/// The order [`encode_order`] wrote at the start of `values`, and the values after it.
fn decode_order(values: &[f64]) -> io::Result<(SplitOrder, &[f64])> {
    let [node, feature, threshold, missing_left, left, kind, rest @ ..] = values else {
        return Err(corrupt("a short split order"));
    };
    let (build, rest) = match *kind as u8 {
        0 | 1 => (ChildHistograms::Smaller { left: *kind == 1.0 }, rest),
        2 => {
            let (left, rest) = decode_features(rest)?;
            let (right, rest) = decode_features(rest)?;
            (ChildHistograms::Own { left, right }, rest)
        }
        _ => return Err(corrupt("an unknown child histogram kind")),
    };
    let order = SplitOrder {
        node: *node as usize,
        feature: *feature as usize,
        threshold: *threshold as u8,
        missing_left: *missing_left != 0.0,
        left: *left as usize,
        build,
    };
    Ok((order, rest))
}

/// `features` as their count and the features, `None` as -1.
fn encode_features(features: Option<&[usize]>, values: &mut Vec<f64>) {
    match features {
        None => values.push(-1.0),
        Some(features) => {
            values.push(features.len() as f64);
            values.extend(features.iter().map(|&feature| feature as f64));
        }
    }
}

/// A feature list of [`encode_features`] and the values after it.
fn decode_features(values: &[f64]) -> io::Result<(Option<Vec<usize>>, &[f64])> {
    let Some((&count, rest)) = values.split_first() else {
        return Err(corrupt("a missing feature count"));
    };
    if count < 0.0 {
        return Ok((None, rest));
    }
    let count = count as usize;
    if count > rest.len() {
        return Err(corrupt("a short feature list"));
    }
    let features = rest[..count]
        .iter()
        .map(|&feature| feature as usize)
        .collect();
    Ok((Some(features), &rest[count..]))
}

/// A worker's reply, or its error as text.
fn encode_reply(reply: &Result<Reply>) -> Vec<f64> {
    match reply {
        Ok(Reply::Described {
            rows,
            held_out_rows,
            fingerprint,
        }) => vec![0.0, *rows as f64, *held_out_rows as f64, *fingerprint],
        Ok(Reply::Labels(stats)) => {
            let mut values = vec![1.0];
            for s in stats {
                values.extend([s.weight, s.weighted_label, s.invalid, s.bad_class]);
                values.push(s.class_weights.len() as f64);
                values.extend(&s.class_weights);
            }
            values
        }
        Ok(Reply::Histograms(histograms)) => {
            let mut values = vec![2.0];
            for histogram in histograms {
                values.push(histogram.len() as f64);
                values.extend_from_slice(histogram);
            }
            values
        }
        Ok(Reply::HeldOutLoss { loss, weight }) => vec![3.0, *loss, *weight],
        Ok(Reply::Done) => vec![4.0],
        Err(error) => {
            let mut values = vec![5.0];
            values.extend(error.to_string().bytes().map(f64::from));
            values
        }
    }
}

/// One [`LabelStats`] of a [`Reply::Labels`], and the values after it.
fn decode_label_stats(values: &[f64]) -> io::Result<(LabelStats, &[f64])> {
    let [weight, weighted_label, invalid, bad_class, classes, rest @ ..] = values else {
        return Err(corrupt("short label statistics"));
    };
    let classes = *classes as usize;
    if classes > rest.len() {
        return Err(corrupt("short class weights"));
    }
    let stats = LabelStats {
        weight: *weight,
        weighted_label: *weighted_label,
        invalid: *invalid,
        bad_class: *bad_class,
        class_weights: rest[..classes].to_vec(),
    };
    Ok((stats, &rest[classes..]))
}

fn decode_reply(values: &[f64]) -> io::Result<Result<Reply>> {
    let Some((&tag, rest)) = values.split_first() else {
        return Err(corrupt("an empty reply"));
    };
    Ok(Ok(match (tag as u8, rest) {
        (0, [rows, held_out_rows, fingerprint]) => Reply::Described {
            rows: *rows as usize,
            held_out_rows: *held_out_rows as usize,
            fingerprint: *fingerprint,
        },
        (1, rest) => {
            let (train, rest) = decode_label_stats(rest)?;
            let (held_out, rest) = decode_label_stats(rest)?;
            if !rest.is_empty() {
                return Err(corrupt("values after label statistics"));
            }
            Reply::Labels([train, held_out])
        }
        (2, mut rest) => {
            let mut histograms = Vec::new();
            while let Some((&length, tail)) = rest.split_first() {
                let length = length as usize;
                if length > tail.len() {
                    return Err(corrupt("a short histogram"));
                }
                histograms.push(tail[..length].to_vec());
                rest = &tail[length..];
            }
            Reply::Histograms(histograms)
        }
        (3, [loss, weight]) => Reply::HeldOutLoss {
            loss: *loss,
            weight: *weight,
        },
        (4, []) => Reply::Done,
        (5, text) => {
            let bytes: Vec<u8> = text.iter().map(|&byte| byte as u8).collect();
            let text = String::from_utf8_lossy(&bytes);
            return Ok(Err(MlError::Training {
                reason: format!("a training task failed: {text}"),
            }));
        }
        _ => return Err(corrupt("an unknown reply")),
    }))
}

/// Workers in executor tasks, one exchange each. Called from the fit's blocking thread
/// ([`crate::trees::fit_thread`]), it drives the exchanges on the runtime that opened them.
pub(crate) struct RemoteWorkers {
    exchanges: Vec<Exchange>,
    runtime: Handle,
}

impl RemoteWorkers {
    /// Workers behind `exchanges`, driven on `runtime`.
    pub fn new(exchanges: Vec<Exchange>, runtime: Handle) -> Self {
        Self { exchanges, runtime }
    }
}

/// The error for an exchange that failed.
fn lost(peer: &str, error: &io::Error) -> MlError {
    MlError::Training {
        reason: format!("lost the training task at {peer}: {error}"),
    }
}

impl Workers for RemoteWorkers {
    fn call_each(&mut self, requests: Vec<Request>) -> Result<Vec<Reply>> {
        let exchanges = &mut self.exchanges;
        self.runtime.block_on(async move {
            for (exchange, request) in exchanges.iter().zip(&requests) {
                exchange
                    .send(&encode_request(request))
                    .await
                    .map_err(|error| lost(&exchange.peer, &error))?;
            }
            let replies = exchanges.iter_mut().map(|exchange| async move {
                let values = exchange
                    .receive()
                    .await
                    .map_err(|error| lost(&exchange.peer, &error))?;
                decode_reply(&values).map_err(|error| lost(&exchange.peer, &error))?
            });
            futures::future::try_join_all(replies).await
        })
    }

    fn reorder(&mut self, order: &[usize]) {
        let mut exchanges: Vec<Option<Exchange>> = self.exchanges.drain(..).map(Some).collect();
        self.exchanges = order
            .iter()
            .map(|&i| exchanges[i].take().expect("an order is a permutation"))
            .collect();
    }

    fn len(&self) -> usize {
        self.exchanges.len()
    }
}

/// Serves `worker` to the fitting process on `exchange` until it finishes the fit; fails when
/// the exchange fails.
pub(crate) async fn serve(
    worker: &mut PartitionWorker,
    mut exchange: Exchange,
    features: usize,
) -> io::Result<()> {
    loop {
        let request = decode_request(&exchange.receive().await?, features)?;
        let reply = worker.handle(&request);
        exchange.send(&encode_reply(&reply)).await?;
        if request == Request::Finish {
            exchange.close().await;
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trees::tree::Node;

    #[test]
    fn requests_and_replies_round_trip() {
        let tree = Tree::new(vec![
            Node::Split {
                feature: 1,
                threshold_bin: 3,
                threshold: 0.5,
                missing_left: true,
                left: 1,
                right: 2,
                gain: 2.0,
            },
            Node::Leaf { value: -0.25 },
            Node::Leaf { value: 0.75 },
        ]);
        let requests = [
            Request::Describe,
            Request::Labels { classifier: true },
            Request::Start {
                rank: 3,
                base_scores: vec![-0.5, 0.25],
            },
            Request::BeginTree {
                objective: Objective::Softmax { classes: 4 },
                round: 7,
                output: 3,
                subsample: 0.8,
                seed: u64::MAX - 5,
            },
            Request::BeginForestTree {
                tree: 12,
                seed: u64::MAX - 9,
                bootstrap: true,
                subsample: 0.7,
                features: Some(vec![1, 3]),
                channels: 4,
            },
            Request::BeginForestTree {
                tree: 0,
                seed: 42,
                bootstrap: false,
                subsample: 1.0,
                features: None,
                channels: 1,
            },
            Request::Split(vec![
                SplitOrder {
                    node: 4,
                    feature: 2,
                    threshold: 200,
                    missing_left: true,
                    left: 9,
                    build: ChildHistograms::Smaller { left: false },
                },
                SplitOrder {
                    node: 5,
                    feature: 0,
                    threshold: 3,
                    missing_left: false,
                    left: 11,
                    build: ChildHistograms::Own {
                        left: Some(vec![0, 2]),
                        right: None,
                    },
                },
            ]),
            Request::EndTree {
                objective: Objective::BinaryLogistic,
                output: 0,
                tree,
            },
            Request::Finish,
        ];
        for request in requests {
            assert_eq!(
                decode_request(&encode_request(&request), 3).unwrap(),
                request
            );
        }
        let replies = [
            Reply::Described {
                rows: 10,
                held_out_rows: 2,
                fingerprint: 0.25,
            },
            Reply::Labels([
                LabelStats {
                    weight: 1.0,
                    weighted_label: 2.0,
                    invalid: 0.0,
                    bad_class: f64::NAN,
                    class_weights: vec![0.5, 0.0, 0.5],
                },
                LabelStats::default(),
            ]),
            Reply::Histograms(vec![vec![1.0, 2.0], vec![], vec![3.0]]),
            Reply::HeldOutLoss {
                loss: 1.5,
                weight: 3.0,
            },
            Reply::Done,
        ];
        for reply in replies {
            let decoded = decode_reply(&encode_reply(&Ok(reply.clone())))
                .unwrap()
                .unwrap();
            assert_eq!(format!("{decoded:?}"), format!("{reply:?}"));
        }
        let failed = decode_reply(&encode_reply(&Err(MlError::Training {
            reason: "disk on fire".to_string(),
        })))
        .unwrap();
        assert!(failed.unwrap_err().to_string().contains("disk on fire"));
        assert!(decode_request(&[9.0], 3).is_err());
    }
}
