//! How many training tasks a cluster fit runs: one per task slot the cluster has free when the
//! fit starts, since a fit's tasks must all run at once.
//!
//! The fitting process asks the scheduler (`GET /api/ember/slots`, [`TaskSlots`]) through the
//! session's [`SlotsProbe`] and plans its data into at most that many partitions. Spark's
//! barrier stages check the cluster's total slots instead; counting the free ones means a fit
//! on a shared cluster takes what the other jobs leave it rather than waiting for slots they
//! hold (and failing after `ember.ml.tasks.start.timeout` when they hold them longer).
//!
//! - A cluster without executors fails the fit at once, naming the numbers.
//! - A cluster whose slots are all busy makes the fit wait for one, as a job waits in the
//!   scheduler's queue; it says so once in the log, naming the numbers.
//! - One session's fits claim slots one at a time ([`Placement::claim`]): a claim is held until
//!   the fit's tasks have all connected, when the scheduler counts them as running, so two fits
//!   started together (a cross-validation with `parallelism`) never both count the same free
//!   slots.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::{MlError, Result};

/// Where a cluster's scheduler serves its [`TaskSlots`], under its REST API's root (`/api/`).
pub const TASK_SLOTS_PATH: &str = "ember/slots";

/// How often a fit that found every slot busy asks again.
const BUSY_RETRY: Duration = Duration::from_millis(250);

/// A cluster's task slots as its scheduler counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSlots {
    /// The cores of the executors the scheduler has registered.
    pub total: usize,
    /// Those no running task holds.
    pub free: usize,
}

/// Asks the cluster for its [`TaskSlots`]; `None` when it cannot tell (the fit then plans as
/// many tasks as the session's partitions and waits for them).
pub type SlotsProbe = Arc<dyn Fn() -> BoxFuture<'static, Option<TaskSlots>> + Send + Sync>;

/// A session's placement of its cluster fits: its probe, and the lock one fit holds from asking
/// for slots until its tasks run.
pub(crate) struct Placement {
    probe: Option<SlotsProbe>,
    claiming: Arc<Mutex<()>>,
}

/// Slots a fit counted on: at most `tasks` training tasks (`None`: the cluster could not tell).
/// Holding it keeps the session's other fits from counting the same slots; drop it once the
/// fit's tasks are running.
pub(crate) struct SlotsClaim {
    /// How many tasks the fit may run.
    pub tasks: Option<usize>,
    _claiming: OwnedMutexGuard<()>,
}

impl Placement {
    /// Placement asking `probe`, if any.
    pub(crate) fn new(probe: Option<SlotsProbe>) -> Self {
        Self {
            probe,
            claiming: Arc::default(),
        }
    }

    /// Whether the cluster can be asked.
    pub(crate) fn has_probe(&self) -> bool {
        self.probe.is_some()
    }

    /// Waits for this session's earlier claim to be dropped, then for a free slot, and claims
    /// the free slots.
    ///
    /// # Errors
    /// The cluster has no executors.
    pub(crate) async fn claim(&self) -> Result<SlotsClaim> {
        let claiming = self.claiming.clone().lock_owned().await;
        let Some(probe) = &self.probe else {
            return Ok(SlotsClaim {
                tasks: None,
                _claiming: claiming,
            });
        };
        let mut said_busy = false;
        let tasks = loop {
            match probe().await {
                None => break None,
                Some(TaskSlots { total: 0, .. }) => {
                    return Err(MlError::Training {
                        reason: "the cluster has no executors: a distributed tree fit needs at \
                                 least one task slot; start an executor"
                            .to_string(),
                    })
                }
                Some(TaskSlots { free: 0, total }) => {
                    if !said_busy {
                        tracing::warn!(
                            "tree fit: all {total} task slots of the cluster are busy with other \
                             jobs; waiting for one"
                        );
                        said_busy = true;
                    }
                    tokio::time::sleep(BUSY_RETRY).await;
                }
                Some(TaskSlots { free, total }) => {
                    tracing::info!(
                        "tree fit: {free} of the cluster's {total} task slots are free; \
                         training on at most {free} tasks"
                    );
                    break Some(free);
                }
            }
        };
        Ok(SlotsClaim {
            tasks,
            _claiming: claiming,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A probe answering `answers` in turn, then the last one again.
    fn probe(answers: Vec<Option<TaskSlots>>) -> (SlotsProbe, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let probe: SlotsProbe = Arc::new(move || {
            let turn = counter.fetch_add(1, Ordering::SeqCst);
            let answer = answers[turn.min(answers.len() - 1)];
            Box::pin(async move { answer })
        });
        (probe, asked)
    }

    fn slots(total: usize, free: usize) -> Option<TaskSlots> {
        Some(TaskSlots { total, free })
    }

    #[tokio::test]
    async fn a_fit_takes_the_free_slots_and_waits_while_there_are_none() {
        let (busy_then_free, asked) = probe(vec![slots(4, 0), slots(4, 0), slots(4, 3)]);
        let claim = Placement::new(Some(busy_then_free)).claim().await.unwrap();
        assert_eq!(claim.tasks, Some(3));
        assert_eq!(asked.load(Ordering::SeqCst), 3);

        let (unknown, _) = probe(vec![None]);
        let claim = Placement::new(Some(unknown)).claim().await.unwrap();
        assert_eq!(claim.tasks, None);
        assert_eq!(Placement::new(None).claim().await.unwrap().tasks, None);
    }

    #[tokio::test]
    async fn a_cluster_without_executors_fails_the_fit_at_once() {
        let (empty, asked) = probe(vec![slots(0, 0)]);
        let error = Placement::new(Some(empty)).claim().await.err().unwrap();
        assert!(error.to_string().contains("no executors"), "{error}");
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_sessions_fits_claim_one_at_a_time() {
        let (free, asked) = probe(vec![slots(2, 2)]);
        let placement = Arc::new(Placement::new(Some(free)));
        let first = placement.claim().await.unwrap();
        let waiting = tokio::spawn({
            let placement = placement.clone();
            async move { placement.claim().await.map(|claim| claim.tasks) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "a second claim went ahead of the first"
        );
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        drop(first);
        assert_eq!(waiting.await.unwrap().unwrap(), Some(2));
    }
}
