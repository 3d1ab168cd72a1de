//! The cluster's task slots, all and free, served at `GET /api/ember/slots`: a tree fit asks
//! before it plans its training tasks, which must all run at once
//! ([`ember_mllib::trees::placement`]).
//!
//! Why an Ember route: Ballista's REST API lists each executor's cores but not how many are
//! busy. The free ones are counted from the scheduler's source of truth, as [`crate::vcores`]
//! counts them: each registered executor's cores less those its running tasks hold according to
//! the running jobs' execution graphs.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use ember_mllib::trees::placement::{TaskSlots, TASK_SLOTS_PATH};

use crate::vcores::cores_held_by_running_tasks;

type Scheduler = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// The route serving `scheduler`'s [`TaskSlots`].
pub(crate) fn task_slots_route(scheduler: Scheduler) -> Router {
    Router::new()
        .route(&format!("/api/{TASK_SLOTS_PATH}"), get(task_slots))
        .with_state(Arc::new(scheduler))
}

async fn task_slots(
    State(scheduler): State<Arc<Scheduler>>,
) -> Result<Json<TaskSlots>, (StatusCode, String)> {
    let state = &scheduler.state;
    let executors = (state.executor_manager.get_executors_state().await)
        .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    let held = cores_held_by_running_tasks(&state.task_manager.get_running_job_cache()).await;
    let mut slots = TaskSlots { total: 0, free: 0 };
    for (executor, _, _) in executors {
        let cores = executor.specification.vcores;
        let busy = held.get(&executor.id).copied().unwrap_or(0);
        slots.total += cores as usize;
        slots.free += cores.saturating_sub(busy) as usize;
    }
    Ok(Json(slots))
}
