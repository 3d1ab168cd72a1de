//! What a cluster is doing, from its scheduler's REST API (served on the scheduler's port):
//! the scheduler, its executors and its jobs.

use std::time::Duration;

use ballista_api_types::dto::{QueryStagesResponse, TaskStatus};
use serde::Deserialize;

use crate::error::{EmberError, Result};
use ember_core::connect::causes;
use ember_core::master::Master;

/// A snapshot of a cluster.
#[derive(Debug, Clone)]
pub struct ClusterStatus {
    /// The scheduler.
    pub scheduler: SchedulerInfo,
    /// The executors the scheduler counts as alive.
    pub executors: Vec<ExecutorInfo>,
    /// The jobs the scheduler remembers (running, queued and recently finished), newest first.
    pub jobs: Vec<JobInfo>,
}

/// The scheduler (`/api/state`).
#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerInfo {
    /// Ballista version.
    pub version: String,
    /// How tasks reach executors (`push-staged` or `pull-staged`).
    pub scheduling_policy: String,
}

/// One executor (`/api/executors`).
#[derive(Debug, Clone, Deserialize)]
pub struct ExecutorInfo {
    /// Executor id.
    pub id: String,
    /// Host it serves shuffle data from.
    pub host: String,
    /// Port of its shuffle (Flight) service.
    pub port: u16,
    /// Last heartbeat, milliseconds since the Unix epoch.
    pub last_seen: u64,
    /// Its resources.
    pub specification: ExecutorSpecification,
}

/// An executor's resources.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecutorSpecification {
    /// Cores (task slots).
    pub vcores: u32,
}

/// One job (`/api/jobs`).
#[derive(Debug, Clone, Deserialize)]
pub struct JobInfo {
    /// Job id.
    pub job_id: String,
    /// Job name (may be empty).
    pub job_name: String,
    /// `Queued`, `Running`, `Completed` or `Failed`.
    pub status: String,
    /// Stages in its plan.
    pub num_stages: u32,
    /// Stages finished.
    pub completed_stages: u32,
    /// Start, milliseconds since the Unix epoch (0 while queued).
    pub start_time: u64,
    /// End, milliseconds since the Unix epoch (0 while running).
    pub end_time: u64,
}

/// Reads the status of the cluster whose scheduler is `master`, each request bounded by
/// `timeout`.
pub async fn cluster_status(master: &Master, timeout: Duration) -> Result<ClusterStatus> {
    let (client, api) = rest_client(master, timeout)?;
    let scheduler = get_json(master, &client, &api, "state").await?;
    let executors = get_json(master, &client, &api, "executors").await?;
    Ok(ClusterStatus {
        scheduler,
        executors,
        jobs: newest_first(get_json(master, &client, &api, "jobs").await?),
    })
}

/// The jobs the scheduler `master` remembers, newest first (one request of
/// [`cluster_status`]), bounded by `timeout`.
pub async fn list_jobs(master: &Master, timeout: Duration) -> Result<Vec<JobInfo>> {
    let (client, api) = rest_client(master, timeout)?;
    Ok(newest_first(get_json(master, &client, &api, "jobs").await?))
}

/// `jobs` sorted newest first (Ballista's job ids grow with time).
fn newest_first(mut jobs: Vec<JobInfo>) -> Vec<JobInfo> {
    jobs.sort_by_key(|job| std::cmp::Reverse(job.job_id.clone()));
    jobs
}

/// How far one job has got, from its stages (`/api/job/{id}/stages`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobProgress {
    /// Stages in the job's plan.
    pub stages: usize,
    /// Stages finished.
    pub stages_done: usize,
    /// Tasks running now.
    pub tasks_running: usize,
    /// Tasks finished (retried tasks count once per attempt that succeeded).
    pub tasks_done: usize,
    /// Rows the finished tasks read, over all stages (a shuffled row counts once per stage
    /// that reads it).
    pub rows_in: usize,
}

/// Reads how far job `job_id` on the cluster `master` has got, bounded by `timeout`.
///
/// # Errors
/// No such job, or an unreachable scheduler.
pub async fn job_progress(master: &Master, job_id: &str, timeout: Duration) -> Result<JobProgress> {
    let (client, api) = rest_client(master, timeout)?;
    let reply: QueryStagesResponse =
        get_json(master, &client, &api, &format!("job/{job_id}/stages")).await?;
    let mut progress = JobProgress {
        stages: reply.stages.len(),
        ..JobProgress::default()
    };
    for stage in &reply.stages {
        progress.stages_done += usize::from(stage.stage_status == "Successful");
        progress.rows_in += stage.input_rows;
        for task in stage.tasks.iter().flatten() {
            match task.status {
                TaskStatus::Running => progress.tasks_running += 1,
                TaskStatus::Successful => progress.tasks_done += 1,
                TaskStatus::Failed { .. } => {}
            }
        }
    }
    Ok(progress)
}

/// `GET {api}/{path}` from the scheduler `master`, decoded from JSON.
async fn get_json<T: serde::de::DeserializeOwned>(
    master: &Master,
    client: &reqwest::Client,
    api: &str,
    path: &str,
) -> Result<T> {
    let response = client
        .get(format!("{api}/{path}"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| status_error(master, format!("GET /api/{path}: {}", causes(&e))))?;
    response.json().await.map_err(|e| {
        status_error(
            master,
            format!("GET /api/{path}: unexpected reply: {}", causes(&e)),
        )
    })
}

/// Asks the scheduler at `master` to cancel job `job_id` (Ballista's `PATCH /api/job/{id}`):
/// its running tasks stop and the job ends as failed. Bounded by `timeout`.
///
/// # Errors
/// No such job, a job already ended (the scheduler's reason), or an unreachable scheduler.
pub async fn cancel_job(master: &Master, job_id: &str, timeout: Duration) -> Result<()> {
    let (client, api) = rest_client(master, timeout)?;
    let response = client
        .patch(format!("{api}/job/{job_id}"))
        .send()
        .await
        .map_err(|e| status_error(master, format!("PATCH /api/job/{job_id}: {}", causes(&e))))?;
    match response.status() {
        reqwest::StatusCode::OK => Ok(()),
        reqwest::StatusCode::NOT_FOUND => Err(status_error(master, format!("no job {job_id}"))),
        status => {
            #[derive(Deserialize)]
            struct Refusal {
                reason: Option<String>,
            }
            let reason = response
                .json::<Refusal>()
                .await
                .ok()
                .and_then(|refusal| refusal.reason)
                .unwrap_or_else(|| status.to_string());
            Err(status_error(
                master,
                format!("job {job_id} cannot be cancelled: {reason}"),
            ))
        }
    }
}

/// A client for the REST API of the scheduler `master`, each request bounded by `timeout`,
/// and the API's base URL.
fn rest_client(master: &Master, timeout: Duration) -> Result<(reqwest::Client, String)> {
    let Master::Cluster { host, port } = master else {
        return Err(status_error(
            master,
            "not a cluster master (ember://HOST:PORT)",
        ));
    };
    let client = reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(|e| status_error(master, e))?;
    Ok((client, format!("http://{host}:{port}/api")))
}

fn status_error(master: &Master, cause: impl std::fmt::Display) -> EmberError {
    EmberError::ClusterStatus {
        master: master.clone(),
        cause: cause.to_string(),
    }
}
