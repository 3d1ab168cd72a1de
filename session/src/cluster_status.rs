//! What a cluster is doing, from its scheduler's REST API (served on the scheduler's port, over
//! the cluster's mutual TLS when it has one): the scheduler, its executors and its jobs.

use std::net::ToSocketAddrs;
use std::time::Duration;

use ballista_api_types::dto::{QueryStagesResponse, TaskStatus};
use serde::Deserialize;

use crate::error::{EmberError, Result};
use ember_core::connect::causes;
use ember_core::master::Master;
use ember_core::{EmberConfig, Tls};
use ember_mllib::trees::placement::{TaskSlots, TASK_SLOTS_PATH};

/// A snapshot of a cluster.
#[derive(Debug, Clone)]
pub struct ClusterStatus {
    /// The scheduler.
    pub scheduler: SchedulerInfo,
    /// The executors the scheduler counts as alive.
    pub executors: Vec<ExecutorInfo>,
    /// Their cores, and those no running task holds.
    pub slots: TaskSlots,
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

/// The REST API of a cluster's scheduler, reached the way the cluster's other peers reach it:
/// plain HTTP, or HTTPS presenting this process's certificate under mutual TLS
/// (`ember.tls.*` or `ember.cluster.secret`).
#[derive(Debug, Clone)]
pub struct SchedulerApi {
    master: Master,
    client: reqwest::Client,
    base: String,
}

impl SchedulerApi {
    /// The API of the scheduler `master` (an `ember://` master), with the transport of
    /// `config` (`ember.tls.*` or `ember.cluster.secret`) and each request bounded by its
    /// `ember.cluster.connect.timeout`.
    pub fn from_config(master: &Master, config: &EmberConfig) -> Result<Self> {
        let tls = config
            .cluster_auth()?
            .map(|auth| Tls::load(&auth))
            .transpose()?;
        Self::new(master, tls.as_ref(), config.cluster_connect_timeout())
    }

    /// The API of the scheduler `master`, over mutual TLS with `tls` when given, each request
    /// bounded by `timeout`.
    pub fn new(master: &Master, tls: Option<&Tls>, timeout: Duration) -> Result<Self> {
        let Master::Cluster { host, port } = master else {
            return Err(status_error(
                master,
                "not a cluster master (ember://HOST:PORT)",
            ));
        };
        let builder = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout);
        let (builder, base) = match tls {
            None => (builder, format!("http://{host}:{port}/api")),
            Some(tls) => {
                with_tls(builder, tls, host, *port).map_err(|cause| status_error(master, cause))?
            }
        };
        let client = builder
            .build()
            .map_err(|e| status_error(master, causes(&e)))?;
        Ok(Self {
            master: master.clone(),
            client,
            base,
        })
    }

    /// The scheduler's master URL.
    pub fn master(&self) -> &Master {
        &self.master
    }

    /// The scheduler, its executors and its jobs.
    pub async fn status(&self) -> Result<ClusterStatus> {
        Ok(ClusterStatus {
            scheduler: self.get_json("state").await?,
            executors: self.get_json("executors").await?,
            slots: self.task_slots().await?,
            jobs: self.jobs().await?,
        })
    }

    /// The cluster's task slots: its executors' cores, and those no running task holds.
    pub async fn task_slots(&self) -> Result<TaskSlots> {
        self.get_json(TASK_SLOTS_PATH).await
    }

    /// The jobs the scheduler remembers (running, queued and recently finished), newest
    /// first.
    pub async fn jobs(&self) -> Result<Vec<JobInfo>> {
        let mut jobs: Vec<JobInfo> = self.get_json("jobs").await?;
        // Ballista's job ids grow with time.
        jobs.sort_by_key(|job| std::cmp::Reverse(job.job_id.clone()));
        Ok(jobs)
    }

    /// How far job `job_id` has got.
    ///
    /// # Errors
    /// No such job, or an unreachable scheduler.
    pub async fn progress(&self, job_id: &str) -> Result<JobProgress> {
        let reply: QueryStagesResponse = self.get_json(&format!("job/{job_id}/stages")).await?;
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

    /// Cancels job `job_id` (Ballista's `PATCH /api/job/{id}`): its running tasks stop and the
    /// job ends as failed.
    ///
    /// # Errors
    /// No such job, a job already ended (the scheduler's reason), or an unreachable scheduler.
    pub async fn cancel(&self, job_id: &str) -> Result<()> {
        let response = self
            .client
            .patch(format!("{}/job/{job_id}", self.base))
            .send()
            .await
            .map_err(|e| self.failed(&format!("PATCH /api/job/{job_id}"), &e))?;
        match response.status() {
            reqwest::StatusCode::OK => Ok(()),
            reqwest::StatusCode::NOT_FOUND => Err(self.error(format!("no job {job_id}"))),
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
                Err(self.error(format!("job {job_id} cannot be cancelled: {reason}")))
            }
        }
    }

    /// `GET /api/{path}`, decoded from JSON.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self
            .client
            .get(format!("{}/{path}", self.base))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| self.failed(&format!("GET /api/{path}"), &e))?;
        response
            .json()
            .await
            .map_err(|e| self.error(format!("GET /api/{path}: unexpected reply: {}", causes(&e))))
    }

    fn error(&self, cause: impl std::fmt::Display) -> EmberError {
        status_error(&self.master, cause)
    }

    /// The error of `request`, which failed with `error`; when no reply came, with what to
    /// check about the transport (a scheduler with mutual TLS answers a plain request with
    /// TLS bytes, and refuses a certificate its CA did not sign).
    fn failed(&self, request: &str, error: &reqwest::Error) -> EmberError {
        let advice = match (error.status(), self.base.starts_with("https:")) {
            (Some(_), _) => "",
            (None, false) => {
                " (if the cluster uses mutual TLS, set ember.tls.cert, ember.tls.key and \
                 ember.tls.ca, or its ember.cluster.secret)"
            }
            (None, true) => {
                " (the scheduler must use TLS, and each side's certificate must be signed by \
                 the CA the other trusts, or both must share the same ember.cluster.secret)"
            }
        };
        self.error(format!("{request}: {}{advice}", causes(error)))
    }
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

/// `builder` speaking mutual TLS with `tls` to the scheduler at `host:port`, and the API's
/// base URL. A certificate derived from a cluster secret names the cluster, not a host: the
/// URL then carries that name, resolved to `host`'s address.
fn with_tls(
    builder: reqwest::ClientBuilder,
    tls: &Tls,
    host: &str,
    port: u16,
) -> std::result::Result<(reqwest::ClientBuilder, String), String> {
    // One PEM buffer holding both; a file may lack its last line break.
    let identity =
        reqwest::Identity::from_pem(format!("{}\n{}", tls.cert_pem(), tls.key_pem()).as_bytes())
            .map_err(|e| format!("this process's certificate: {}", causes(&e)))?;
    let authority = reqwest::Certificate::from_pem(tls.ca_pem().as_bytes())
        .map_err(|e| format!("the certificate authority: {}", causes(&e)))?;
    let builder = builder
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(authority)
        .identity(identity);
    match tls.server_name() {
        None => Ok((builder, format!("https://{host}:{port}/api"))),
        Some(name) => {
            let addresses: Vec<_> = (host, port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect();
            Ok((
                builder.resolve_to_addrs(name, &addresses),
                format!("https://{name}:{port}/api"),
            ))
        }
    }
}

fn status_error(master: &Master, cause: impl std::fmt::Display) -> EmberError {
    EmberError::ClusterStatus {
        master: master.clone(),
        cause: cause.to_string(),
    }
}
