//! Requests and replies between the fitting process and workers running in executor tasks:
//! each a message of `f64` values on the worker's exchange ([`crate::trees::rpc`]), in the
//! compact encoding of [`crate::trees::compact`] (histograms are mostly small whole numbers).
//!
//! A worker connects and answers requests until [`Request::Finish`]. The fitting process sends a
//! request to every worker before reading any reply, so the workers compute at the same time.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::execution::memory_pool::MemoryPool;
use rayon::prelude::*;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::error::{MlError, Result};
use crate::kernels::histogram::{HistogramLayout, STATS_PER_BIN};
use crate::trees::compact;
use crate::trees::journal::Journal;
use crate::trees::learner::{FitMemory, Workers};
use crate::trees::objective::Objective;
use crate::trees::protocol::{
    histogram_bins, ChildHistograms, ForestRoot, LabelStats, Reply, Request, SplitOrder,
};
use crate::trees::rpc::{Arrivals, Exchange};
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

/// `request` as a message: its values ([`request_values`]) in the compact encoding.
fn encode_request(request: &Request) -> Vec<u8> {
    let mut bytes = Vec::new();
    compact::encode(&request_values(request), &mut bytes);
    bytes
}

/// The request in a message [`encode_request`] wrote, for a fit of `features` features.
fn decode_request(bytes: &[u8], features: usize) -> io::Result<Request> {
    request_of(&compact::Reader::new(bytes).rest()?, features)
}

/// `request` as values.
fn request_values(request: &Request) -> Vec<f64> {
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
        Request::CatchUp(trees) => {
            let mut values = vec![8.0];
            for (output, tree) in trees {
                values.push(*output as f64);
                tree.encode(&mut values);
            }
            values
        }
        Request::BeginForestTrees {
            trees,
            seed,
            bootstrap,
            subsample,
            channels,
        } => {
            let mut values = vec![
                7.0,
                f64::from(u8::from(*bootstrap)),
                *subsample,
                *channels as f64,
            ];
            values.extend(id_values(*seed));
            for root in trees {
                values.push(root.tree as f64);
                encode_features(root.features.as_deref(), &mut values);
            }
            values
        }
    }
}

/// The request [`request_values`] gave `values`.
fn request_of(values: &[f64], features: usize) -> io::Result<Request> {
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
                let (order, tail) = decode_order(rest, features)?;
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
        (8, mut rest) => {
            let mut trees = Vec::new();
            while let Some((&output, tail)) = rest.split_first() {
                let (tree, tail) =
                    Tree::decode(tail, features).map_err(|error| corrupt(&error.to_string()))?;
                trees.push((output as usize, tree));
                rest = tail;
            }
            Request::CatchUp(trees)
        }
        (7, [bootstrap, subsample, channels, high, low, rest @ ..]) => {
            let mut trees = Vec::new();
            let mut rest = rest;
            while let Some((&tree, tail)) = rest.split_first() {
                let (features, tail) = decode_features(tail, features)?;
                trees.push(ForestRoot {
                    tree: tree as usize,
                    features,
                });
                rest = tail;
            }
            Request::BeginForestTrees {
                trees,
                seed: id_of(&[*high, *low]).ok_or_else(|| corrupt("a seed"))?,
                bootstrap: *bootstrap != 0.0,
                subsample: *subsample,
                channels: *channels as usize,
            }
        }
        _ => return Err(corrupt("an unknown request")),
    })
}

/// `order` as `[tree, node, feature, threshold, missing_left, left, kind, ...]`: kind 0 or 1
/// builds the smaller child (right or left); kind 2 is followed by each child's feature count
/// and features.
fn encode_order(order: &SplitOrder, values: &mut Vec<f64>) {
    values.extend([
        order.tree as f64,
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
            encode_features(Some(left), values);
            encode_features(Some(right), values);
        }
    }
}

/// The order [`encode_order`] wrote at the start of `values`, and the values after it, for a
/// fit of `features` features.
fn decode_order(values: &[f64], features: usize) -> io::Result<(SplitOrder, &[f64])> {
    let [tree, node, feature, threshold, missing_left, left, kind, rest @ ..] = values else {
        return Err(corrupt("a short split order"));
    };
    let feature = *feature as usize;
    if feature >= features {
        return Err(corrupt("a split on a feature the fit lacks"));
    }
    let (build, rest) = match *kind as u8 {
        0 | 1 => (ChildHistograms::Smaller { left: *kind == 1.0 }, rest),
        2 => {
            let (Some(left), rest) = decode_features(rest, features)? else {
                return Err(corrupt("a child histogram without its features"));
            };
            let (Some(right), rest) = decode_features(rest, features)? else {
                return Err(corrupt("a child histogram without its features"));
            };
            (ChildHistograms::Own { left, right }, rest)
        }
        _ => return Err(corrupt("an unknown child histogram kind")),
    };
    let order = SplitOrder {
        tree: *tree as usize,
        node: *node as usize,
        feature,
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

/// A feature list of [`encode_features`] and the values after it, each feature one of the
/// fit's `features`.
fn decode_features(values: &[f64], features: usize) -> io::Result<(Option<Vec<usize>>, &[f64])> {
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
    let list: Vec<usize> = rest[..count]
        .iter()
        .map(|&feature| feature as usize)
        .collect();
    if list.iter().any(|&feature| feature >= features) {
        return Err(corrupt("a feature the fit lacks"));
    }
    Ok((Some(list), &rest[count..]))
}

/// A worker's reply, or its error as text, as a message: its values in the compact encoding
/// ([`compact`]), a histogram's written straight from it.
fn encode_reply(reply: &Result<Reply>) -> Vec<u8> {
    let values = match reply {
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
            let mut bytes = vec![HISTOGRAMS_TAG];
            for histogram in histograms {
                compact::push_varint(histogram.len() as u64, &mut bytes);
                encode_histogram(histogram, &mut bytes);
            }
            return bytes;
        }
        Ok(Reply::HeldOutLoss { loss, weight }) => vec![3.0, *loss, *weight],
        Ok(Reply::Done) => vec![4.0],
        Err(error) => {
            // Out of memory has its own tag: a forest then grows fewer trees per pass.
            let (tag, text) = match error {
                MlError::OutOfMemory { reason } => (OUT_OF_MEMORY_TAG, reason.clone()),
                error => (ERROR_TAG, error.to_string()),
            };
            let mut values = vec![tag];
            values.extend(text.bytes().map(f64::from));
            values
        }
    };
    let mut bytes = Vec::new();
    compact::encode(&values, &mut bytes);
    bytes
}

/// The tag of a worker's error.
const ERROR_TAG: f64 = 5.0;

/// The tag of a worker's [`MlError::OutOfMemory`].
const OUT_OF_MEMORY_TAG: f64 = 6.0;

/// The first byte of a [`Reply::Histograms`] message: the value `2` (its tag) in the compact
/// encoding. Each histogram follows as its length (a varint), the byte [`ALL_SUMS`] or
/// [`COUNTS_ARE_HESSIANS`], and its values.
const HISTOGRAMS_TAG: u8 = 8;

/// A histogram sent whole.
const ALL_SUMS: u8 = 0;

/// A histogram whose every bin's count equals its hessian, sent without its counts: those of
/// an unweighted forest (the hessian sums the rows' sample counts) or squared-error boosting
/// (each row's hessian is 1). A third fewer values to encode and decode.
const COUNTS_ARE_HESSIANS: u8 = 1;

/// Appends `histogram` (its kind, then its values) to `bytes`.
fn encode_histogram(histogram: &[f64], bytes: &mut Vec<u8>) {
    let mut bins = histogram.chunks_exact(STATS_PER_BIN);
    let repeated = bins.remainder().is_empty()
        && (bins.by_ref()).all(|bin| bin[2].to_bits() == bin[1].to_bits());
    if repeated {
        bytes.push(COUNTS_ARE_HESSIANS);
        let sums: Vec<f64> = (histogram.chunks_exact(STATS_PER_BIN))
            .flat_map(|bin| [bin[0], bin[1]])
            .collect();
        compact::encode_histogram(&sums, bytes);
    } else {
        bytes.push(ALL_SUMS);
        compact::encode_histogram(histogram, bytes);
    }
}

/// The `length` values of a histogram [`encode_histogram`] wrote, from `reader`.
fn decode_histogram(reader: &mut compact::Reader, length: usize) -> io::Result<Vec<f64>> {
    let mut histogram = Vec::new();
    match reader.varint()? {
        kind if kind == u64::from(ALL_SUMS) => reader.values(length, &mut histogram)?,
        kind if kind == u64::from(COUNTS_ARE_HESSIANS) && length.is_multiple_of(STATS_PER_BIN) => {
            // Read the pairs into the front, then spread them out from the back (a bin's
            // place is never before its pair's), holding no more than the histogram.
            let bins = length / STATS_PER_BIN;
            histogram.reserve_exact(length);
            reader.values(2 * bins, &mut histogram)?;
            histogram.resize(length, 0.0);
            for bin in (0..bins).rev() {
                let (gradient, hessian) = (histogram[2 * bin], histogram[2 * bin + 1]);
                histogram[STATS_PER_BIN * bin..STATS_PER_BIN * (bin + 1)]
                    .copy_from_slice(&[gradient, hessian, hessian]);
            }
        }
        _ => return Err(corrupt("a histogram of an unknown kind")),
    }
    Ok(histogram)
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

/// The reply in a message [`encode_reply`] wrote, to a request whose histograms must have
/// the lengths `expected` (see [`ReplyShapes`]); histograms are corrupt where none were asked.
fn decode_reply(bytes: &[u8], expected: Option<&[usize]>) -> io::Result<Result<Reply>> {
    if let Some((&HISTOGRAMS_TAG, rest)) = bytes.split_first() {
        let expected = expected.ok_or_else(|| corrupt("histograms no one asked for"))?;
        return decode_histograms(rest, expected)
            .map(|histograms| Ok(Reply::Histograms(histograms)));
    }
    let values = compact::Reader::new(bytes).rest()?;
    let Some((&tag, rest)) = values.split_first() else {
        return Err(corrupt("an empty reply"));
    };
    let text = |values: &[f64]| {
        let bytes: Vec<u8> = values.iter().map(|&byte| byte as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    if tag == ERROR_TAG {
        return Ok(Err(MlError::Training {
            reason: format!("a training task failed: {}", text(rest)),
        }));
    }
    if tag == OUT_OF_MEMORY_TAG {
        return Ok(Err(MlError::OutOfMemory { reason: text(rest) }));
    }
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
        (3, [loss, weight]) => Reply::HeldOutLoss {
            loss: *loss,
            weight: *weight,
        },
        (4, []) => Reply::Done,
        _ => return Err(corrupt("an unknown reply")),
    }))
}

/// The histograms of a [`Reply::Histograms`] message after its tag, which must have the
/// lengths `expected`: each length is checked before its values are read, so the reply takes
/// no more memory than the fitting process reserved for it.
fn decode_histograms(bytes: &[u8], expected: &[usize]) -> io::Result<Vec<Vec<f64>>> {
    let mut reader = compact::Reader::new(bytes);
    let mut histograms = Vec::with_capacity(expected.len());
    for &length in expected {
        if reader.is_empty() {
            return Err(corrupt("fewer histograms than asked"));
        }
        if usize::try_from(reader.varint()?).ok() != Some(length) {
            return Err(corrupt("a histogram of another length than asked"));
        }
        histograms.push(decode_histogram(&mut reader, length)?);
    }
    if !reader.is_empty() {
        return Err(corrupt("more histograms than asked"));
    }
    Ok(histograms)
}

/// The lengths of the histograms a fit's requests ask for, which their replies must have.
pub(crate) struct ReplyShapes {
    layout: HistogramLayout,
    /// Histogram channels of the trees being grown (set by the request that began them).
    channels: usize,
}

impl ReplyShapes {
    /// Shapes of histograms of `layout`'s features.
    pub fn new(layout: HistogramLayout) -> Self {
        Self {
            layout,
            channels: 1,
        }
    }

    /// Notes the channels of the trees `request` begins, if it begins any.
    fn observe(&mut self, request: &Request) {
        match request {
            Request::BeginTree { .. } => self.channels = 1,
            Request::BeginForestTrees { channels, .. } => self.channels = *channels,
            _ => {}
        }
    }

    /// The lengths of the histograms `request` asks for, in order; `None` when it asks for
    /// none. Split orders' lengths are at the channels of the trees begun last.
    fn expected(&self, request: &Request) -> Option<Vec<usize>> {
        let length = |bins: usize, channels: usize| bins * STATS_PER_BIN * channels;
        match request {
            Request::BeginTree { .. } => Some(vec![length(self.layout.total_bins(), 1)]),
            Request::BeginForestTrees {
                trees, channels, ..
            } => Some(
                (trees.iter())
                    .map(|root| {
                        let bins = histogram_bins(&self.layout, root.features.as_deref());
                        length(bins, *channels)
                    })
                    .collect(),
            ),
            Request::Split(orders) => Some(
                (orders.iter())
                    .flat_map(|order| order.histogram_bins(&self.layout))
                    .map(|bins| length(bins, self.channels))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The bytes of the histograms `request` asks for.
    fn bytes(&self, request: &Request) -> usize {
        let values: usize = self.expected(request).unwrap_or_default().iter().sum();
        values.saturating_mul(size_of::<f64>())
    }
}

/// Workers in executor tasks, one exchange each. Called from the fit's blocking thread
/// ([`crate::trees::fit_thread`]), it drives the exchanges on the runtime that opened them.
///
/// A worker whose exchange fails (its executor died, or the connection broke) is replaced: the
/// task that Ballista runs again for its partition connects, proves it holds the same rows,
/// and is brought up to where the lost worker stood ([`Journal`]); then it is asked what the
/// lost one was asked. The fit goes on with the identical model.
pub(crate) struct RemoteWorkers {
    exchanges: Vec<Exchange>,
    runtime: Handle,
    journal: Journal,
    replacements: Replacements,
    /// Tasks that connected and described themselves but replace no worker lost so far.
    spares: Vec<(Reply, Exchange)>,
    /// Where the calls' time went, for the debug log at the end of the fit.
    round_trips: RoundTrips,
    /// What the replies' histograms must be.
    shapes: ReplyShapes,
}

/// Where replacements for lost workers come from.
pub(crate) struct Replacements {
    /// The fit's tasks as they connect (the endpoint admits them while this lives).
    pub arrivals: Arrivals,
    /// Why the tasks' query ended, once it has (closed when it was aborted): no replacement
    /// will come then.
    pub query_ended: watch::Receiver<Option<String>>,
    /// How long a lost worker's replacement may take (`ember.ml.tasks.start.timeout`).
    pub timeout: Duration,
}

impl RemoteWorkers {
    /// Workers behind `exchanges`, driven on `runtime`, lost ones replaced from `replacements`,
    /// their replies' histograms of `shapes`.
    pub fn new(
        exchanges: Vec<Exchange>,
        runtime: Handle,
        replacements: Replacements,
        shapes: ReplyShapes,
    ) -> Self {
        Self {
            journal: Journal::new(exchanges.len()),
            exchanges,
            runtime,
            replacements,
            spares: Vec::new(),
            round_trips: RoundTrips::default(),
            shapes,
        }
    }

    /// Sends `requests[i]` to worker `i`, then reads every reply; replaces lost workers.
    async fn ask_each(&mut self, requests: &[Request]) -> Result<Vec<Reply>> {
        if let Some(request) = requests.first() {
            self.shapes.observe(request);
        }
        let expected: Vec<Option<Vec<usize>>> = requests
            .iter()
            .map(|request| self.shapes.expected(request))
            .collect();
        let mut sent = Vec::with_capacity(requests.len());
        for (exchange, request) in self.exchanges.iter().zip(requests) {
            sent.push(exchange.send(encode_request(request)).await);
        }
        let asked = Instant::now();
        let answers = (self.exchanges.iter_mut().zip(sent)).map(|(exchange, sent)| async move {
            let answer = match sent {
                Ok(()) => exchange.receive().await,
                Err(error) => Err(error),
            };
            (answer, Instant::now())
        });
        let answers = futures::future::join_all(answers).await;
        let arrivals = answers.iter().map(|(_, arrived)| *arrived);
        let (first, last) = (arrivals.clone().min(), arrivals.max());
        let decoding = Instant::now();
        // Large replies (a forest level's histograms) decode on all cores at once.
        let answers: Vec<io::Result<Result<Reply>>> = (answers.into_par_iter())
            .zip(&expected)
            .map(|((answer, _), expected)| decode_reply(&answer?, expected.as_deref()))
            .collect();
        self.round_trips.add(asked, first, last, decoding);
        let mut replies = Vec::with_capacity(requests.len());
        for (worker, answer) in answers.into_iter().enumerate() {
            let reply = match answer {
                Ok(reply) => reply?,
                Err(error) => {
                    let exchange = &mut self.exchanges[worker];
                    exchange.hang_up();
                    let cause = lost(&exchange.peer, &error);
                    self.replace(worker, &requests[worker], cause).await?
                }
            };
            replies.push(reply);
        }
        Ok(replies)
    }

    /// Replaces lost worker `worker` (lost for `cause`) and returns its reply to `request`.
    async fn replace(&mut self, worker: usize, request: &Request, cause: String) -> Result<Reply> {
        let lost_at = tokio::time::Instant::now();
        let mut cause = cause;
        loop {
            let mut exchange = self.next_replacement(worker, &cause).await?;
            match self.catch_up(worker, &mut exchange, request).await {
                Ok(reply) => {
                    tracing::warn!(
                        "tree fit: {cause}; the task at {} took its place after {:.1} s",
                        exchange.peer,
                        lost_at.elapsed().as_secs_f64()
                    );
                    self.exchanges[worker] = exchange;
                    return reply;
                }
                // The replacement was lost too: wait for the next.
                Err(error) => {
                    exchange.hang_up();
                    cause = lost(&exchange.peer, &error);
                }
            }
        }
    }

    /// Brings `exchange`'s worker to where worker `worker` stood, then asks it `request`.
    async fn catch_up(
        &self,
        worker: usize,
        exchange: &mut Exchange,
        request: &Request,
    ) -> io::Result<Result<Reply>> {
        // A replacement told to finish needs no state.
        let replay = match request {
            Request::Finish => Vec::new(),
            _ => self.journal.replay(worker),
        };
        for replayed in replay {
            if let Err(error) = ask(exchange, &replayed, &self.shapes).await? {
                return Ok(Err(error));
            }
        }
        ask(exchange, request, &self.shapes).await
    }

    /// The next task that holds worker `worker`'s rows; fails when none comes in time or the
    /// tasks' query ended, saying why the worker was lost (`cause`).
    async fn next_replacement(&mut self, worker: usize, cause: &str) -> Result<Exchange> {
        let Replacements {
            arrivals,
            query_ended,
            timeout,
        } = &mut self.replacements;
        let deadline = tokio::time::Instant::now() + *timeout;
        loop {
            let journal = &self.journal;
            if let Some(spare) =
                (self.spares.iter()).position(|(described, _)| journal.replaces(worker, described))
            {
                return Ok(self.spares.swap_remove(spare).1);
            }
            tokio::select! {
                arrived = arrivals.next() => {
                    let Some(mut exchange) = arrived else {
                        return Err(MlError::Training {
                            reason: format!("{cause}; the training endpoint stopped"),
                        });
                    };
                    // One lost before it described itself is no use.
                    if let Ok(Ok(described)) =
                        ask(&mut exchange, &Request::Describe, &self.shapes).await
                    {
                        self.spares.push((described, exchange));
                    }
                }
                ended = query_ended.wait_for(Option::is_some) => {
                    let why = match ended {
                        Ok(why) => why.clone().unwrap_or_default(),
                        Err(_) => "it stopped".to_string(),
                    };
                    return Err(MlError::Training {
                        reason: format!(
                            "{cause}; it cannot be replaced: the training tasks' query ended: \
                             {why}"
                        ),
                    });
                }
                () = tokio::time::sleep_until(deadline) => {
                    let strangers = match self.spares.len() {
                        0 => String::new(),
                        n => format!(" ({n} restarted tasks came with other rows: did the data change?)"),
                    };
                    return Err(MlError::Training {
                        reason: format!(
                            "{cause}; no task took its place within {} s \
                             (ember.ml.tasks.start.timeout){strangers}: a lost executor's \
                             tasks run again once the scheduler declares it lost \
                             (ember.cluster.executor.timeout) and a task slot is free",
                            timeout.as_secs()
                        ),
                    });
                }
            }
        }
    }
}

/// Sends `request` on `exchange` and reads the worker's reply (or its error), its histograms
/// of `shapes`.
async fn ask(
    exchange: &mut Exchange,
    request: &Request,
    shapes: &ReplyShapes,
) -> io::Result<Result<Reply>> {
    exchange.send(encode_request(request)).await?;
    decode_reply(
        &exchange.receive().await?,
        shapes.expected(request).as_deref(),
    )
}

/// Why a worker was lost.
fn lost(peer: &str, error: &io::Error) -> String {
    format!("lost the training task at {peer}: {error}")
}

impl Workers for RemoteWorkers {
    fn call_each(&mut self, requests: Vec<Request>) -> Result<Vec<Reply>> {
        let runtime = self.runtime.clone();
        let replies = runtime.block_on(self.ask_each(&requests))?;
        if requests.first() == Some(&Request::Finish) {
            tracing::debug!("tree fit: {}", self.round_trips);
        }
        self.journal.record(&requests, &replies);
        Ok(replies)
    }

    fn reorder(&mut self, order: &[usize]) {
        let mut exchanges: Vec<Option<Exchange>> = self.exchanges.drain(..).map(Some).collect();
        self.exchanges = order
            .iter()
            .map(|&i| exchanges[i].take().expect("an order is a permutation"))
            .collect();
        self.journal.reorder(order);
    }

    fn len(&self) -> usize {
        self.exchanges.len()
    }
}

/// Serves `worker` to the fitting process on `exchange` until it finishes the fit; fails when
/// the exchange fails.
///
/// With the executor's memory `pool`, the worker's fit state and the histograms of each reply
/// are reserved from it before the request is answered (its rows were reserved by the
/// aggregation that collected them); a request they do not fit in is answered with an
/// [`MlError::OutOfMemory`].
pub(crate) async fn serve(
    worker: &mut PartitionWorker,
    mut exchange: Exchange,
    features: usize,
    pool: Option<&Arc<dyn MemoryPool>>,
) -> io::Result<()> {
    let mut traffic = Traffic::default();
    let mut shapes = ReplyShapes::new(worker.layout().clone());
    let mut memory = pool.map(|pool| {
        FitMemory::new(
            pool,
            "TreeTrainingTask",
            "fit state and histograms in a training task on an executor",
        )
    });
    loop {
        let waited = Instant::now();
        let request = decode_request(&exchange.receive().await?, features)?;
        let handled = Instant::now();
        shapes.observe(&request);
        let reserved = match &mut memory {
            Some(memory) => memory.hold(worker.fit_state_bytes(&request) + shapes.bytes(&request)),
            None => Ok(()),
        };
        let answered = reserved.is_ok();
        let reply = reserved.and_then(|()| worker.handle(&request));
        let encoded = Instant::now();
        let reply = encode_reply(&reply);
        let bytes = reply.len();
        exchange.send(reply).await?;
        if let (Some(memory), true) = (&mut memory, answered) {
            // The reply's histograms are gone: a smaller reservation, which cannot fail.
            memory
                .hold(worker.fit_state_bytes(&request))
                .map_err(io::Error::other)?;
        }
        traffic.add(waited, handled, encoded, bytes);
        if request == Request::Finish {
            tracing::debug!("tree training task: {traffic}");
            exchange.close().await;
            return Ok(());
        }
    }
}

/// Where the time of a fit's round trips to its tasks went, for the debug log at its end.
#[derive(Debug, Default)]
struct RoundTrips {
    count: usize,
    /// Until the first reply arrived.
    first_reply: Duration,
    /// From the first reply to the last.
    last_reply: Duration,
    decoding: Duration,
}

impl RoundTrips {
    /// One round trip: asked at `asked`, the first and last replies in at `first` and `last`,
    /// decoded from `decoding` until now.
    fn add(
        &mut self,
        asked: Instant,
        first: Option<Instant>,
        last: Option<Instant>,
        decoding: Instant,
    ) {
        self.count += 1;
        let (first, last) = (first.unwrap_or(asked), last.unwrap_or(asked));
        self.first_reply += first - asked;
        self.last_reply += last - first;
        self.decoding += decoding.elapsed();
    }
}

impl std::fmt::Display for RoundTrips {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} round trips to the training tasks: {:.2} s until the first reply, {:.2} s more \
             until the last, {:.2} s decoding",
            self.count,
            self.first_reply.as_secs_f64(),
            self.last_reply.as_secs_f64(),
            self.decoding.as_secs_f64()
        )
    }
}

/// Where a training task's time went, for the debug log at the end of its fit.
#[derive(Debug, Default)]
struct Traffic {
    requests: usize,
    waiting: Duration,
    working: Duration,
    sending: Duration,
    bytes_sent: usize,
}

impl Traffic {
    /// One request: awaited from `waited`, handled from `handled`, its reply of `bytes` bytes
    /// encoded and sent from `encoded` until now.
    fn add(&mut self, waited: Instant, handled: Instant, encoded: Instant, bytes: usize) {
        self.requests += 1;
        self.waiting += handled - waited;
        self.working += encoded - handled;
        self.sending += encoded.elapsed();
        self.bytes_sent += bytes;
    }
}

impl std::fmt::Display for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests; {:.2} s waiting for them, {:.2} s working, {:.2} s sending {} MiB",
            self.requests,
            self.waiting.as_secs_f64(),
            self.working.as_secs_f64(),
            self.sending.as_secs_f64(),
            self.bytes_sent >> 20
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::Mutator;
    use crate::test_frames::rows_frame;
    use crate::trees::binning::FeatureBins;
    use crate::trees::forest::RandomForest;
    use crate::trees::gbt::GradientBoostedTrees;
    use crate::trees::learner::{broadcast, HistogramMemory, LocalWorkers};
    use crate::trees::rpc::{connect, Credentials, TrainingEndpoint};
    use crate::trees::tasks::{in_process_workers, WorkerColumns};
    use crate::trees::tree::Node;
    use crate::trees::worker::tree_state_bytes;
    use datafusion::dataframe::DataFrame;
    use datafusion::execution::memory_pool::{GreedyMemoryPool, UnboundedMemoryPool};

    /// A fit on a fit's workers, as the estimators grow them.
    type Fit<T> = Arc<dyn Fn(&mut dyn Workers, &FeatureBins) -> Result<T> + Send + Sync>;

    /// 900 rows of two features and a four-class label, in three partitions.
    fn four_class_frame() -> DataFrame {
        let rows: Vec<Vec<Option<f64>>> = (0..900)
            .map(|i| {
                let (x0, x1) = (f64::from(i % 37), f64::from((i * 7) % 41));
                let class = f64::from(u8::from(x0 > 18.0) * 2 + u8::from(x1 > 20.0));
                vec![(i % 13 != 0).then_some(x0), Some(x1), Some(class)]
            })
            .collect();
        rows_frame(&["x0", "x1", "label"], &rows, 3)
    }

    /// The workers of `data`'s partitions, in this process, ordered by their description.
    async fn described_workers(data: &DataFrame, bins: &FeatureBins) -> Vec<PartitionWorker> {
        let columns = WorkerColumns {
            label: "label",
            weight: None,
            held_out: None,
        };
        let workers = in_process_workers(data, bins, &columns).await.unwrap();
        let mut described: Vec<(String, PartitionWorker)> = (workers.into_iter())
            .map(|mut worker| {
                let reply = worker.handle(&Request::Describe).unwrap();
                (format!("{reply:?}"), worker)
            })
            .collect();
        described.sort_by(|a, b| a.0.cmp(&b.0));
        described.into_iter().map(|(_, worker)| worker).collect()
    }

    /// `fit` over `data` with workers in this process.
    async fn fit_locally<T: Send + 'static>(
        data: &DataFrame,
        bins: &FeatureBins,
        fit: Fit<T>,
    ) -> T {
        let workers = described_workers(data, bins).await;
        let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
        let mut workers = LocalWorkers::reserve(workers, &pool).unwrap();
        let bins = bins.clone();
        tokio::task::spawn_blocking(move || fit(&mut workers, &bins))
            .await
            .unwrap()
            .unwrap()
    }

    /// `fit` over `data` with workers behind exchanges, the first of which serves
    /// `lose_after` requests and is lost; a task with the same rows then connects, as the task
    /// Ballista runs again would (`None`: none does, within `timeout`).
    async fn fit_losing_a_worker<T: Send + 'static>(
        data: &DataFrame,
        bins: &FeatureBins,
        fit: Fit<T>,
        lose_after: usize,
        replaced: bool,
        timeout: Duration,
    ) -> Result<T> {
        let features = bins.features().len();
        let mut workers = described_workers(data, bins).await;
        let mut replacement = described_workers(data, bins).await.swap_remove(0);
        let mut doomed = workers.remove(0);
        let endpoint = TrainingEndpoint::new("127.0.0.1", 0, None, timeout);
        let credentials = Credentials::generate(1).unwrap();
        let arrivals = endpoint.expect(credentials).await.unwrap();
        let address = arrivals.address.clone();
        for mut worker in workers {
            let address = address.clone();
            tokio::spawn(async move {
                let exchange = connect(&address, None, credentials).await?;
                serve(&mut worker, exchange, features, None).await
            });
        }
        tokio::spawn(async move {
            let mut exchange = connect(&address, None, credentials).await?;
            for _ in 0..lose_after {
                let request = decode_request(&exchange.receive().await?, features)?;
                let reply = doomed.handle(&request);
                exchange.send(encode_reply(&reply)).await?;
            }
            drop(exchange);
            if replaced {
                let exchange = connect(&address, None, credentials).await?;
                serve(&mut replacement, exchange, features, None).await?;
            }
            io::Result::Ok(())
        });
        fit_on_arrivals(arrivals, 3, bins, fit, timeout).await
    }

    /// `fit` on the first `count` workers that connect to `arrivals` (replacements within
    /// `timeout`), then finishes them.
    async fn fit_on_arrivals<T: Send + 'static>(
        mut arrivals: Arrivals,
        count: usize,
        bins: &FeatureBins,
        fit: Fit<T>,
        timeout: Duration,
    ) -> Result<T> {
        let mut exchanges = Vec::new();
        for _ in 0..count {
            exchanges.push(arrivals.next().await.unwrap());
        }
        let (_running, query_ended) = watch::channel(None);
        let replacements = Replacements {
            arrivals,
            query_ended,
            timeout,
        };
        let shapes = ReplyShapes::new(bins.layout());
        let mut workers = RemoteWorkers::new(exchanges, Handle::current(), replacements, shapes);
        let bins = bins.clone();
        tokio::task::spawn_blocking(move || {
            let fitted = fit(&mut workers, &bins)?;
            broadcast(&mut workers, &Request::Finish)?;
            Ok(fitted)
        })
        .await
        .unwrap()
    }

    /// `fit` over `data` with workers behind exchanges, each reserving its fit state from a
    /// memory pool of its own of `task_budget` bytes, as a training task does from its
    /// executor's.
    async fn fit_in_tasks<T: Send + 'static>(
        data: &DataFrame,
        bins: &FeatureBins,
        fit: Fit<T>,
        task_budget: usize,
    ) -> Result<T> {
        let features = bins.features().len();
        let workers = described_workers(data, bins).await;
        let count = workers.len();
        let timeout = Duration::from_secs(20);
        let endpoint = TrainingEndpoint::new("127.0.0.1", 0, None, timeout);
        let credentials = Credentials::generate(1).unwrap();
        let arrivals = endpoint.expect(credentials).await.unwrap();
        for mut worker in workers {
            let address = arrivals.address.clone();
            tokio::spawn(async move {
                let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(task_budget));
                let exchange = connect(&address, None, credentials).await?;
                serve(&mut worker, exchange, features, Some(&pool)).await
            });
        }
        fit_on_arrivals(arrivals, count, bins, fit, timeout).await
    }

    /// Checks that `fit` grows what it grows in one process when a worker is lost after each of
    /// `points` requests and replaced.
    async fn same_fit_whenever_a_worker_is_lost<T>(fit: Fit<T>, points: &[usize])
    where
        T: Send + PartialEq + std::fmt::Debug + 'static,
    {
        let data = four_class_frame();
        let bins = FeatureBins::fit(&data, &["x0".to_string(), "x1".to_string()], 32)
            .await
            .unwrap();
        let expected = fit_locally(&data, &bins, Arc::clone(&fit)).await;
        for &lose_after in points {
            let timeout = Duration::from_secs(20);
            let fitted =
                fit_losing_a_worker(&data, &bins, Arc::clone(&fit), lose_after, true, timeout)
                    .await
                    .unwrap();
            assert_eq!(fitted, expected, "lost after {lose_after} requests");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_boosting_worker_is_replaced_and_the_fit_grows_the_same_trees() {
        // Four classes: four trees a round, from gradients taken at the round's start.
        let classifier = GradientBoostedTrees::classifier(["x0", "x1"])
            .num_trees(6)
            .max_depth(3);
        let fit: Fit<_> = Arc::new(move |workers, bins| {
            let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
            let mut memory = HistogramMemory::new(&pool);
            classifier.boost(workers, &mut memory, bins, false)
        });
        // Lost at its description, its start, the first round's first split, the middle of
        // the third round, and the finish.
        same_fit_whenever_a_worker_is_lost(fit, &[0, 3, 5, 57, 10_000]).await;
        // Trees on a sample of rows add their output to the others by traversal.
        let regressor = GradientBoostedTrees::regressor(["x0", "x1"])
            .num_trees(5)
            .subsample(0.7);
        let fit: Fit<_> = Arc::new(move |workers, bins| {
            let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
            regressor.boost(workers, &mut HistogramMemory::new(&pool), bins, false)
        });
        same_fit_whenever_a_worker_is_lost(fit, &[19]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_forest_worker_is_replaced_and_the_forest_is_the_same() {
        let forest = RandomForest::classifier(["x0", "x1"]).num_trees(4);
        let fit: Fit<_> = Arc::new(move |workers, bins| {
            let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
            forest.grow_forest(workers, &mut HistogramMemory::new(&pool), bins)
        });
        same_fit_whenever_a_worker_is_lost(fit, &[11]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn training_tasks_hold_their_fit_state_within_their_executors_budget() {
        let data = four_class_frame();
        let bins = FeatureBins::fit(&data, &["x0".to_string(), "x1".to_string()], 32)
            .await
            .unwrap();
        let forest = RandomForest::classifier(["x0", "x1"])
            .num_trees(16)
            .max_depth(3);
        let fit: Fit<_> = Arc::new(move |workers, bins| {
            let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
            forest.grow_forest(workers, &mut HistogramMemory::new(&pool), bins)
        });
        let unlimited = fit_locally(&data, &bins, Arc::clone(&fit)).await;
        // Each task holds 300 rows of 4 classes: the state of 16 trees grown at once is over
        // its budget, so the tasks answer out of memory and the pass halves until it fits.
        let budget = 128 << 10;
        assert!(16 * tree_state_bytes(300, 4) > budget);
        let within = fit_in_tasks(&data, &bins, Arc::clone(&fit), budget)
            .await
            .unwrap();
        assert_eq!(within, unlimited);
        // Not even one tree fits: the fit fails naming the tasks' budget.
        let error = fit_in_tasks(&data, &bins, fit, 4 << 10).await.unwrap_err();
        assert!(matches!(error, MlError::OutOfMemory { .. }), "{error}");
        let error = error.to_string();
        assert!(
            error.contains("a training task on an executor need")
                && error.contains("ember.memory.limit"),
            "{error}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_worker_that_no_task_replaces_fails_the_fit_naming_the_timeout() {
        let data = four_class_frame();
        let bins = FeatureBins::fit(&data, &["x0".to_string()], 32)
            .await
            .unwrap();
        let regressor = GradientBoostedTrees::regressor(["x0"]).num_trees(3);
        let fit: Fit<_> = Arc::new(move |workers, bins| {
            let pool: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
            regressor.boost(workers, &mut HistogramMemory::new(&pool), bins, false)
        });
        let timeout = Duration::from_secs(1);
        let error = fit_losing_a_worker(&data, &bins, fit, 4, false, timeout)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("lost the training task at")
                && error.contains("no task took its place within 1 s")
                && error.contains("ember.ml.tasks.start.timeout"),
            "{error}"
        );
    }

    #[test]
    fn replies_must_hold_the_histograms_asked_for_before_they_allocate() {
        let mut shapes = ReplyShapes::new(HistogramLayout::new(&[9, 6]));
        let begin = Request::BeginTree {
            objective: Objective::BinaryLogistic,
            round: 0,
            output: 0,
            subsample: 1.0,
            seed: 1,
        };
        assert_eq!(shapes.expected(&begin), Some(vec![45]));
        let forest = Request::BeginForestTrees {
            trees: [Some(vec![1]), None]
                .into_iter()
                .enumerate()
                .map(|(tree, features)| ForestRoot { tree, features })
                .collect(),
            seed: 1,
            bootstrap: true,
            subsample: 1.0,
            channels: 2,
        };
        shapes.observe(&forest);
        assert_eq!(shapes.expected(&forest), Some(vec![36, 90]));
        let split = Request::Split(vec![
            SplitOrder::of_root(ChildHistograms::Smaller { left: true }),
            SplitOrder::of_root(ChildHistograms::Own {
                left: vec![0],
                right: vec![1],
            }),
        ]);
        assert_eq!(shapes.expected(&split), Some(vec![90, 54, 36]));
        assert_eq!(shapes.expected(&Request::Describe), None);

        let reply = |histograms: Vec<Vec<f64>>| encode_reply(&Ok(Reply::Histograms(histograms)));
        let asked = [2, 1];
        let fits = reply(vec![vec![1.0, 2.0], vec![3.0]]);
        assert!(decode_reply(&fits, Some(&asked)).unwrap().is_ok());
        for (bytes, why) in [
            (reply(vec![vec![1.0, 2.0]]), "fewer"),
            (reply(vec![vec![1.0, 2.0], vec![3.0], vec![]]), "more"),
            (reply(vec![vec![1.0], vec![3.0, 4.0]]), "other length"),
        ] {
            let error = decode_reply(&bytes, Some(&asked)).unwrap_err().to_string();
            assert!(error.contains(why), "{why}: {error}");
        }
        // Counts equal to hessians are not sent; a histogram of an unknown kind, or without
        // whole bins when counts are left out, is corrupt.
        let repeated = vec![-3.0, 4.0, 4.0, 0.0, 0.0, 0.0, 0.5, 2.0, 2.0];
        let differing = vec![-3.0, 4.0, 4.0, 0.0, 0.5, 1.0];
        let (asked, both) = ([9, 6], reply(vec![repeated.clone(), differing.clone()]));
        let decoded = decode_reply(&both, Some(&asked)).unwrap().unwrap();
        assert_eq!(
            decoded,
            Reply::Histograms(vec![repeated.clone(), differing])
        );
        let mut whole = vec![HISTOGRAMS_TAG, 9, ALL_SUMS];
        compact::encode_histogram(&repeated, &mut whole);
        assert!(
            reply(vec![repeated.clone()]).len() < whole.len(),
            "the counts were sent"
        );
        for bad in [
            [HISTOGRAMS_TAG, 2, COUNTS_ARE_HESSIANS, 0, 0],
            [HISTOGRAMS_TAG, 2, 7, 0, 0],
        ] {
            assert!(decode_reply(&bad, Some(&[2])).is_err(), "{bad:?}");
        }
        // A length far beyond what was asked is refused before anything is reserved for it.
        let mut huge = vec![HISTOGRAMS_TAG];
        compact::push_varint(1 << 40, &mut huge);
        assert!(decode_reply(&huge, Some(&asked)).is_err());
        assert!(
            decode_reply(&fits, None).is_err(),
            "histograms no one asked for"
        );
    }

    /// One request of every kind, for a fit of 3 features.
    fn sample_requests() -> Vec<Request> {
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
        vec![
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
            Request::BeginForestTrees {
                trees: vec![
                    ForestRoot {
                        tree: 12,
                        features: Some(vec![1, 2]),
                    },
                    ForestRoot {
                        tree: 13,
                        features: None,
                    },
                ],
                seed: u64::MAX - 9,
                bootstrap: true,
                subsample: 0.7,
                channels: 4,
            },
            Request::BeginForestTrees {
                trees: Vec::new(),
                seed: 42,
                bootstrap: false,
                subsample: 1.0,
                channels: 1,
            },
            Request::Split(vec![
                SplitOrder {
                    tree: 0,
                    node: 4,
                    feature: 2,
                    threshold: 200,
                    missing_left: true,
                    left: 9,
                    build: ChildHistograms::Smaller { left: false },
                },
                SplitOrder {
                    tree: 1,
                    node: 5,
                    feature: 0,
                    threshold: 3,
                    missing_left: false,
                    left: 11,
                    build: ChildHistograms::Own {
                        left: vec![0, 2],
                        right: vec![1],
                    },
                },
            ]),
            Request::EndTree {
                objective: Objective::BinaryLogistic,
                output: 0,
                tree: tree.clone(),
            },
            Request::CatchUp(vec![(0, tree.clone()), (2, tree)]),
            Request::CatchUp(Vec::new()),
            Request::Finish,
        ]
    }

    /// One reply of every kind.
    fn sample_replies() -> Vec<Reply> {
        vec![
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
            Reply::Histograms(vec![vec![1.0, 2.0], vec![], vec![3.0, -0.5, 1e300]]),
            Reply::Histograms(Vec::new()),
            Reply::HeldOutLoss {
                loss: 1.5,
                weight: 3.0,
            },
            Reply::Done,
        ]
    }

    /// The histogram lengths `reply` answers, when it holds histograms.
    fn reply_shapes(reply: &Reply) -> Option<Vec<usize>> {
        match reply {
            Reply::Histograms(histograms) => Some(histograms.iter().map(Vec::len).collect()),
            _ => None,
        }
    }

    #[test]
    fn requests_and_replies_round_trip() {
        let requests = sample_requests();
        for request in requests {
            assert_eq!(
                decode_request(&encode_request(&request), 3).unwrap(),
                request
            );
        }
        for reply in sample_replies() {
            let expected = reply_shapes(&reply);
            let decoded = decode_reply(&encode_reply(&Ok(reply.clone())), expected.as_deref())
                .unwrap()
                .unwrap();
            assert_eq!(format!("{decoded:?}"), format!("{reply:?}"));
        }
        let failed = decode_reply(
            &encode_reply(&Err(MlError::Training {
                reason: "disk on fire".to_string(),
            })),
            None,
        )
        .unwrap();
        assert!(failed.unwrap_err().to_string().contains("disk on fire"));
        assert!(request_of(&[9.0], 3).is_err());
        // Features the fit lacks are refused, not left for a worker to index with.
        let mut beyond = Vec::new();
        encode_order(
            &SplitOrder {
                tree: 0,
                node: 0,
                feature: 3,
                threshold: 1,
                missing_left: false,
                left: 1,
                build: ChildHistograms::Smaller { left: true },
            },
            &mut beyond,
        );
        assert!(request_of(&[[4.0].as_slice(), &beyond].concat(), 3).is_err());
        assert!(request_of(&[7.0, 1.0, 1.0, 1.0, 0.0, 42.0, 0.0, 1.0, 3.0], 3).is_err());
        assert!(request_of(&[7.0, 1.0, 1.0, 1.0, 0.0, 42.0, 0.0, 1.0, 2.0], 3).is_ok());
        let mut histograms_tag = Vec::new();
        compact::encode(&[2.0], &mut histograms_tag);
        assert_eq!(histograms_tag, [HISTOGRAMS_TAG]);
        assert!(decode_reply(&[HISTOGRAMS_TAG, 0x80], Some(&[0])).is_err());
        assert!(
            decode_reply(&[HISTOGRAMS_TAG, 5, 0], Some(&[5])).is_err(),
            "a short histogram"
        );
        assert!(decode_request(&[], 3).is_err());
    }

    /// Messages of every kind with their values or bytes mutated: each decodes or fails with an
    /// error, never panics or allocates from a count it read.
    #[test]
    fn mutated_messages_decode_or_fail_cleanly() {
        let mut mutator = Mutator::new(17);
        let mut failed = 0;
        let mut mutate = |message: &[u8]| {
            if mutator.below(2) == 0 {
                return mutator.bytes(message);
            }
            let values = compact::Reader::new(message).rest().unwrap();
            let mut bytes = Vec::new();
            compact::encode(&mutator.values(&values), &mut bytes);
            bytes
        };
        for request in sample_requests() {
            let message = encode_request(&request);
            for _ in 0..300 {
                failed += usize::from(decode_request(&mutate(&message), 3).is_err());
            }
        }
        for reply in sample_replies() {
            let (message, shapes) = (encode_reply(&Ok(reply.clone())), reply_shapes(&reply));
            for _ in 0..300 {
                let decoded = decode_reply(&mutate(&message), shapes.as_deref());
                failed += usize::from(!matches!(decoded, Ok(Ok(_))));
            }
        }
        assert!(failed > 1000, "only {failed} mutated messages failed");
    }
}
