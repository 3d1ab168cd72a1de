//! The scheduler's count of free executor cores, kept honest.
//!
//! Under push scheduling Ballista 55 keeps a free-vcore budget per executor: binding a task
//! subtracts the task's vcores, its status update adds them back. The refund looks the task up in
//! its stage, and a stage that was rolled back after an executor loss no longer knows the task, so
//! the refund is zero: a survivor that reports a task of such a stage loses those cores for good.
//! With one core per executor the survivor then looks busy forever and every job hangs (TPC-H q18
//! with an executor SIGKILLed mid-query, then the next query too).
//!
//! [`VcoreLedger`] wraps Ballista's in-memory cluster state and, before each binding, returns to
//! an executor any cores that no running task holds according to the jobs' execution graphs, the
//! scheduler's source of truth. It adds back only what leaked: cores of tasks still running are
//! never handed out twice. Everything else is Ballista's own `InMemoryClusterState`.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use ballista_core::error::Result;
use ballista_core::serde::protobuf::{task_status, ExecutorHeartbeat, RunningTask};
use ballista_core::serde::scheduler::{ExecutorData, ExecutorMetadata};
use ballista_core::JobId;
use ballista_scheduler::cluster::memory::InMemoryClusterState;
use ballista_scheduler::cluster::{BoundTask, ClusterState, ClusterStateEventStream, ExecutorSlot};
use ballista_scheduler::config::TaskDistributionPolicy;
use ballista_scheduler::state::task_manager::JobInfoCache;

/// Ballista's in-memory cluster state with a free-vcore budget that cannot leak (see the module
/// documentation).
#[derive(Default)]
pub struct VcoreLedger {
    inner: InMemoryClusterState,
    /// Per executor: its cores and how many the inner state counts as free.
    books: Mutex<HashMap<String, Cores>>,
}

/// One executor's cores as the inner state counts them.
#[derive(Debug, Clone, Copy)]
struct Cores {
    total: u32,
    free: u32,
}

impl VcoreLedger {
    fn books(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cores>> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives each executor back the cores that the budget counts as taken but that no running
    /// task of `jobs` holds.
    async fn refund_leaked(&self, jobs: &HashMap<JobId, JobInfoCache>) -> Result<()> {
        let held = cores_held_by_running_tasks(jobs).await;
        let leaked: Vec<ExecutorSlot> = {
            let mut books = self.books();
            books
                .iter_mut()
                .filter_map(|(executor, cores)| {
                    let truly_free = cores
                        .total
                        .saturating_sub(held.get(executor).copied().unwrap_or(0));
                    (truly_free > cores.free).then(|| {
                        let leak = truly_free - cores.free;
                        cores.free = truly_free;
                        (executor.clone(), leak)
                    })
                })
                .collect()
        };
        if leaked.is_empty() {
            return Ok(());
        }
        tracing::warn!("returning leaked executor cores to the scheduler's budget: {leaked:?}");
        self.inner.unbind_tasks(leaked).await
    }
}

/// Cores taken by tasks in the running state, per executor, over all stages of `jobs`.
pub(crate) async fn cores_held_by_running_tasks(
    jobs: &HashMap<JobId, JobInfoCache>,
) -> HashMap<String, u32> {
    let mut held = HashMap::new();
    for job in jobs.values() {
        let graph = job.execution_graph.read().await;
        for stage in graph.stages().values() {
            for task in stage.task_infos().unwrap_or_default() {
                if let task_status::Status::Running(RunningTask { executor_id }) = &task.task_status
                {
                    *held.entry(executor_id.clone()).or_insert(0) += task.vcores_consumed;
                }
            }
        }
    }
    held
}

#[async_trait::async_trait]
impl ClusterState for VcoreLedger {
    async fn init(&self) -> Result<()> {
        self.inner.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: TaskDistributionPolicy,
        active_jobs: Arc<HashMap<JobId, JobInfoCache>>,
        executors: Option<HashSet<String>>,
    ) -> Result<Vec<BoundTask>> {
        self.refund_leaked(&active_jobs).await?;
        let bound = self
            .inner
            .bind_schedulable_tasks(distribution, active_jobs, executors)
            .await?;
        let mut books = self.books();
        for (executor, task) in &bound {
            if let Some(cores) = books.get_mut(executor) {
                cores.free = cores.free.saturating_sub(task.vcores_consumed);
            }
        }
        Ok(bound)
    }

    async fn unbind_tasks(&self, executor_slots: Vec<ExecutorSlot>) -> Result<()> {
        self.inner.unbind_tasks(executor_slots.clone()).await?;
        let mut books = self.books();
        for (executor, refunded) in executor_slots {
            if let Some(cores) = books.get_mut(&executor) {
                cores.free = cores.free.saturating_add(refunded);
            }
        }
        Ok(())
    }

    async fn register_executor(
        &self,
        metadata: ExecutorMetadata,
        spec: ExecutorData,
    ) -> Result<()> {
        // Booked before the inner state offers the cores, so no binding can miss them.
        let executor = metadata.id.clone();
        let cores = Cores {
            total: spec.total_vcores,
            free: spec.available_vcores,
        };
        let newly_booked = match self.books().entry(executor.clone()) {
            Entry::Vacant(entry) => {
                entry.insert(cores);
                true
            }
            Entry::Occupied(_) => false,
        };
        let registered = self.inner.register_executor(metadata, spec).await;
        if registered.is_err() && newly_booked {
            self.books().remove(&executor);
        }
        registered
    }

    async fn save_executor_metadata(&self, metadata: ExecutorMetadata) -> Result<()> {
        self.inner.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(&self, executor_id: &str) -> Result<ExecutorMetadata> {
        self.inner.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
        self.inner.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(&self, heartbeat: ExecutorHeartbeat) -> Result<()> {
        self.inner.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> Result<()> {
        self.inner.remove_executor(executor_id).await?;
        self.books().remove(executor_id);
        Ok(())
    }

    fn executor_heartbeats(&self) -> HashMap<String, ExecutorHeartbeat> {
        self.inner.executor_heartbeats()
    }

    fn get_executor_heartbeat(&self, executor_id: &str) -> Option<ExecutorHeartbeat> {
        self.inner.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
        self.inner.cluster_state_events().await
    }
}
