//! The fitting process's side of a tree fit: it holds no rows, only [`Workers`] — one per
//! partition of the training data, in this process or in tasks on the executors
//! ([`crate::trees::tasks`]) — and merges their replies in rank order.
//!
//! Ranks order workers by a hash of their rows ([`Request::Describe`]), never by which task
//! started first, so histograms are added in the same order on every run and in every place:
//! the same data and partitioning grow the same trees in one process and on a cluster.

use std::sync::Arc;

use datafusion::common::human_readable_size;
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use rayon::prelude::*;

use crate::error::{MlError, Result};
use crate::kernels::histogram::{add_histogram, HistogramLayout};
use crate::trees::binning::FeatureBins;
use crate::trees::grow::{bins_bytes, grow, histogram_bytes, FeatureChoice, GrowParams};
use crate::trees::protocol::{LabelStats, Reply, Request, MAX_CLASSES};
use crate::trees::tree::Tree;
use crate::trees::worker::PartitionWorker;

/// A fit's workers, in rank order once [`arrange`]d.
pub(crate) trait Workers: Send {
    /// Sends `requests[i]` to worker `i` and returns their replies in the same order; fails
    /// with the first worker's error.
    fn call_each(&mut self, requests: Vec<Request>) -> Result<Vec<Reply>>;

    /// Reorders the workers: worker `i` becomes the one at `order[i]`.
    fn reorder(&mut self, order: &[usize]);

    /// How many there are.
    fn len(&self) -> usize;
}

/// Workers in this process, each over one collected partition, with the memory reserved for
/// their rows and fit state (released when they are dropped).
pub(crate) struct LocalWorkers {
    workers: Vec<PartitionWorker>,
    memory: FitMemory,
}

impl LocalWorkers {
    /// `workers`, their rows and the state they start a fit with reserved from `pool`; a clear
    /// error naming the budget when it cannot hold them. Each request reserves the state it
    /// needs before the workers answer it ([`PartitionWorker::fit_state_bytes`]).
    pub fn reserve(workers: Vec<PartitionWorker>, pool: &Arc<dyn MemoryPool>) -> Result<Self> {
        let mut memory = FitMemory::new(pool, "TreeWorkers", "binned rows and their fit state");
        memory.hold(held_bytes(
            workers.iter().zip(std::iter::repeat(&Request::Describe)),
        ))?;
        Ok(Self { workers, memory })
    }
}

/// The bytes the workers hold while each answers its request: their rows and fit state.
fn held_bytes<'a>(asked: impl Iterator<Item = (&'a PartitionWorker, &'a Request)>) -> usize {
    asked
        .map(|(worker, request)| worker.rows_bytes() + worker.fit_state_bytes(request))
        .sum()
}

/// The fitting process's reservation for the histograms of the tree it grows: those its grower
/// holds (nodes still to split, parents kept for subtraction) and the workers' replies to the
/// request in flight, one per worker until they are merged. In one process the workers build
/// their replies in it too; on a cluster each task reserves its own.
pub(crate) struct HistogramMemory(FitMemory);

impl HistogramMemory {
    /// An empty reservation from `pool`.
    pub fn new(pool: &Arc<dyn MemoryPool>) -> Self {
        Self(FitMemory::new(pool, "TreeHistograms", "histograms"))
    }

    /// Holds `bytes` (more or fewer than before); a clear error naming the budget when the
    /// pool cannot give them.
    pub fn hold(&mut self, bytes: usize) -> Result<()> {
        self.0.hold(bytes)
    }
}

/// A tree fit's reservation of one kind of memory (its `what`) from a memory pool.
pub(crate) struct FitMemory {
    reservation: MemoryReservation,
    pool: Arc<dyn MemoryPool>,
    what: &'static str,
}

impl FitMemory {
    /// An empty reservation from `pool` by a consumer named `consumer`, for the fit's `what`.
    pub fn new(pool: &Arc<dyn MemoryPool>, consumer: &str, what: &'static str) -> Self {
        Self {
            reservation: MemoryConsumer::new(consumer).register(pool),
            pool: Arc::clone(pool),
            what,
        }
    }

    /// Holds `bytes` (more or fewer than before); when the pool cannot give them, an
    /// [`MlError::OutOfMemory`] saying what needs them and what the budget has.
    pub fn hold(&mut self, bytes: usize) -> Result<()> {
        if self.reservation.try_resize(bytes).is_ok() {
            return Ok(());
        }
        Err(out_of_memory(self.what, bytes, self.pool.as_ref()))
    }
}

/// The error for a tree fit's `what` that need `bytes` more than `pool` has.
fn out_of_memory(what: &str, bytes: usize, pool: &dyn MemoryPool) -> MlError {
    let budget = match pool.memory_limit() {
        MemoryLimit::Finite(limit) => format!(
            "has {} of its {} free",
            human_readable_size(limit.saturating_sub(pool.reserved())),
            human_readable_size(limit)
        ),
        MemoryLimit::Infinite | MemoryLimit::Unknown => "cannot hold them".to_string(),
    };
    MlError::OutOfMemory {
        reason: format!(
            "the tree fit's {what} need {}, but the memory budget (ember.memory.limit) \
             {budget}: raise ember.memory.limit, or fit on fewer rows or features",
            human_readable_size(bytes)
        ),
    }
}

impl Workers for LocalWorkers {
    fn call_each(&mut self, requests: Vec<Request>) -> Result<Vec<Reply>> {
        self.memory
            .hold(held_bytes(self.workers.iter().zip(&requests)))?;
        self.workers
            .par_iter_mut()
            .zip(requests)
            .map(|(worker, request)| worker.handle(&request))
            .collect()
    }

    fn reorder(&mut self, order: &[usize]) {
        let mut workers: Vec<Option<PartitionWorker>> = self.workers.drain(..).map(Some).collect();
        self.workers = order
            .iter()
            .map(|&i| workers[i].take().expect("an order is a permutation"))
            .collect();
    }

    fn len(&self) -> usize {
        self.workers.len()
    }
}

/// Sends `request` to every worker.
pub(crate) fn broadcast(workers: &mut dyn Workers, request: &Request) -> Result<Vec<Reply>> {
    workers.call_each(vec![request.clone(); workers.len()])
}

/// Rows of the training and held-out data, over all workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowCounts {
    pub train: usize,
    pub held_out: usize,
    /// The most training rows of one worker.
    pub largest: usize,
}

/// Ranks the workers by their rows' hash (then their row counts) and starts their scores at
/// `base_score` later with [`start`]; returns the row counts.
pub(crate) fn arrange(workers: &mut dyn Workers) -> Result<RowCounts> {
    let mut described = Vec::with_capacity(workers.len());
    for (index, reply) in broadcast(workers, &Request::Describe)?
        .into_iter()
        .enumerate()
    {
        let Reply::Described {
            rows,
            held_out_rows,
            fingerprint,
        } = reply
        else {
            return Err(unexpected("Describe", &reply));
        };
        described.push((fingerprint, rows, held_out_rows, index));
    }
    described.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let rows: Vec<String> = described.iter().map(|d| d.1.to_string()).collect();
    tracing::info!(
        "tree fit: {} workers hold {} training rows",
        described.len(),
        rows.join(", ")
    );
    let order: Vec<usize> = described.iter().map(|d| d.3).collect();
    workers.reorder(&order);
    Ok(RowCounts {
        train: described.iter().map(|d| d.1).sum(),
        held_out: described.iter().map(|d| d.2).sum(),
        largest: described.iter().map(|d| d.1).max().unwrap_or(0),
    })
}

/// Each worker's rank and the starting scores (one per output).
pub(crate) fn start(workers: &mut dyn Workers, base_scores: &[f64]) -> Result<()> {
    let requests = (0..workers.len())
        .map(|rank| Request::Start {
            rank,
            base_scores: base_scores.to_vec(),
        })
        .collect();
    for reply in workers.call_each(requests)? {
        if reply != Reply::Done {
            return Err(unexpected("Start", &reply));
        }
    }
    Ok(())
}

/// The label statistics of the training and the held-out rows, merged in rank order.
pub(crate) fn labels(workers: &mut dyn Workers, request: &Request) -> Result<[LabelStats; 2]> {
    let none = LabelStats {
        bad_class: f64::NAN,
        ..LabelStats::default()
    };
    let mut merged = [none.clone(), none];
    for reply in broadcast(workers, request)? {
        let Reply::Labels(stats) = reply else {
            return Err(unexpected("Labels", &reply));
        };
        for (merged, stats) in merged.iter_mut().zip(stats) {
            *merged = std::mem::take(merged).merge(stats);
        }
    }
    Ok(merged)
}

/// The weighted label mean of rows of label column `label` with statistics `stats`; fails on
/// a missing label or weight, a label that is not a class index, no weighted rows (naming
/// `estimator`), or, when `one_class_fails`, labels of one class only (of a classifier's
/// statistics).
pub(crate) fn check_labels(
    stats: &LabelStats,
    label: &str,
    estimator: &'static str,
    one_class_fails: bool,
) -> Result<f64> {
    let label_error = |reason: String| MlError::InvalidLabel {
        column: label.to_string(),
        reason,
    };
    if stats.invalid > 0.0 {
        return Err(label_error(format!(
            "{} rows have a null or NaN label, or a null, negative or non-finite weight",
            stats.invalid
        )));
    }
    if !stats.bad_class.is_nan() {
        return Err(label_error(format!(
            "{} is not a class; labels must be class indices 0, 1, 2, ... below {MAX_CLASSES}",
            stats.bad_class
        )));
    }
    if stats.weight <= 0.0 {
        return Err(MlError::NotEnoughRows {
            estimator,
            reason: "no rows with a positive weight".to_string(),
        });
    }
    let mut present = (stats.class_weights.iter().enumerate()).filter(|(_, weight)| **weight > 0.0);
    if let (true, Some((class, _)), None) = (one_class_fails, present.next(), present.next()) {
        return Err(label_error(format!("every row is of class {class}")));
    }
    Ok(stats.weighted_label / stats.weight)
}

/// The histograms `request` asks for, each the sum over the workers in rank order.
pub(crate) fn histograms(workers: &mut dyn Workers, request: &Request) -> Result<Vec<Vec<f64>>> {
    let mut merged: Option<Vec<Vec<f64>>> = None;
    for reply in broadcast(workers, request)? {
        let Reply::Histograms(histograms) = reply else {
            return Err(unexpected("a histogram request", &reply));
        };
        match &mut merged {
            None => merged = Some(histograms),
            Some(merged) => (merged.par_iter_mut().zip(&histograms))
                .for_each(|(merged, histogram)| add_histogram(merged, histogram)),
        }
    }
    merged.ok_or_else(|| MlError::Training {
        reason: "the fit has no workers".to_string(),
    })
}

/// Grows trees together on `workers` (rows binned by `bins`, histograms of `layout`), tree `i`
/// choosing its features by `features[i]`: `begin` starts them and answers with their roots'
/// histograms, and [`grow`] sends the splits, the histograms in flight held in `memory`.
/// Returns each tree with each histogram channel's leaf values (one tree for one channel).
pub(crate) fn grow_trees(
    workers: &mut dyn Workers,
    memory: &mut HistogramMemory,
    begin: &Request,
    layout: &HistogramLayout,
    bins: &FeatureBins,
    features: &[FeatureChoice],
    params: &GrowParams,
) -> Result<Vec<Vec<Tree>>> {
    let root_bytes = bins_bytes(layout.total_bins(), params);
    memory.hold(root_bytes * features.len() * workers.len())?;
    let roots = histograms(workers, begin)?;
    if roots.len() != features.len() {
        return Err(MlError::Training {
            reason: format!(
                "the workers returned {} root histograms for {} trees",
                roots.len(),
                features.len()
            ),
        });
    }
    let trees = grow(
        layout,
        bins,
        roots,
        &mut |orders, held| {
            let asked: usize = (orders.iter())
                .map(|order| histogram_bytes(layout, order, params))
                .sum();
            // Each worker's reply is held until the replies are merged.
            memory.hold(held + asked * workers.len())?;
            histograms(workers, &Request::Split(orders.to_vec()))
        },
        features,
        params,
    );
    memory.hold(0)?;
    trees
}

/// The held-out rows' summed weighted loss and weight after `request` (an end of tree), merged
/// in rank order.
pub(crate) fn held_out_loss(workers: &mut dyn Workers, request: &Request) -> Result<(f64, f64)> {
    let (mut loss, mut weight) = (0.0, 0.0);
    for reply in broadcast(workers, request)? {
        let Reply::HeldOutLoss {
            loss: worker_loss,
            weight: worker_weight,
        } = reply
        else {
            return Err(unexpected("EndTree", &reply));
        };
        loss += worker_loss;
        weight += worker_weight;
    }
    Ok((loss, weight))
}

/// The error for a reply that does not answer its request.
fn unexpected(request: &str, reply: &Reply) -> MlError {
    MlError::Training {
        reason: format!("a worker answered {request} with {}", reply.kind()),
    }
}
