//! What a cluster is doing, from its scheduler's REST API (served on the scheduler's port):
//! the scheduler, its executors and its jobs.

use std::time::Duration;

use serde::Deserialize;

use crate::master::Master;
use crate::session::{EmberError, Result};

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
    let get = |path: &'static str| {
        let request = client.get(format!("{api}/{path}"));
        async move {
            let response = request
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| status_error(master, format!("GET /api/{path}: {}", causes(&e))))?;
            Ok::<_, EmberError>(response)
        }
    };
    let scheduler = get("state").await?.json().await;
    let executors = get("executors").await?.json().await;
    let jobs: std::result::Result<Vec<JobInfo>, _> = get("jobs").await?.json().await;
    let decode =
        |e: reqwest::Error| status_error(master, format!("unexpected reply: {}", causes(&e)));
    let mut jobs = jobs.map_err(decode)?;
    jobs.sort_by_key(|job| std::cmp::Reverse(job.job_id.clone()));
    Ok(ClusterStatus {
        scheduler: scheduler.map_err(decode)?,
        executors: executors.map_err(decode)?,
        jobs,
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

/// `error` and its sources, `: `-separated (reqwest's and tonic's own messages omit the cause).
pub(crate) fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

fn status_error(master: &Master, cause: impl std::fmt::Display) -> EmberError {
    EmberError::ClusterStatus {
        master: master.clone(),
        cause: cause.to_string(),
    }
}
