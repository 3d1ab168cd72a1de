//! The cluster jobs of one submission: the jobs carrying its name that were not on the cluster
//! when it started. A REST listing at the start tells them apart from older jobs of the same
//! name, so no client or scheduler clock is trusted.

use std::collections::HashSet;

use ember::{JobInfo, SchedulerApi};

/// A submission on a cluster: its scheduler's REST API and the name its jobs carry.
pub struct ClusterSubmission {
    /// The cluster's scheduler.
    pub api: SchedulerApi,
    /// The name the submission's jobs carry (`ballista.job.name`).
    pub name: String,
}

/// The jobs a submission runs on a cluster, found through the scheduler's REST API.
pub struct OwnJobs {
    submission: ClusterSubmission,
    /// Jobs that were on the cluster before the submission started.
    before: HashSet<String>,
}

impl OwnJobs {
    /// The jobs of `submission` that its cluster starts from now on. A scheduler that cannot
    /// be listed now counts as having no jobs.
    pub async fn from_now(submission: ClusterSubmission) -> Self {
        let before = match submission.api.jobs().await {
            Ok(jobs) => jobs.into_iter().map(|job| job.job_id).collect(),
            Err(_) => HashSet::new(),
        };
        Self { submission, before }
    }

    /// The submission's queued or running jobs, newest first.
    async fn unfinished(&self) -> ember::Result<Vec<JobInfo>> {
        let submission = &self.submission;
        let jobs = submission.api.jobs().await?;
        Ok(jobs
            .into_iter()
            .filter(|job| {
                job.job_name == submission.name
                    && matches!(job.status.as_str(), "Queued" | "Running")
                    && !self.before.contains(&job.job_id)
            })
            .collect())
    }

    /// One line on how far the submission's unfinished jobs have got, e.g. `job Ab3x: stages
    /// 1/3, tasks 2 running, 5 done, 120000 rows in`.
    pub async fn describe(&self) -> String {
        let jobs = match self.unfinished().await {
            Ok(jobs) if jobs.is_empty() => return "no job of this submission running".into(),
            Ok(jobs) => jobs,
            Err(e) => return format!("no job status: {e}"),
        };
        let mut described = Vec::with_capacity(jobs.len());
        for job in jobs {
            described.push(format!(
                "job {}: {}",
                job.job_id,
                self.progress_of(&job).await
            ));
        }
        described.join("; ")
    }

    /// How far `job` has got: queued, or its stages, tasks and rows.
    async fn progress_of(&self, job: &JobInfo) -> String {
        if job.status == "Queued" {
            return "queued".into();
        }
        let submission = &self.submission;
        match submission.api.progress(&job.job_id).await {
            Ok(p) => format!(
                "stages {}/{}, tasks {} running, {} done, {} rows in",
                p.stages_done, p.stages, p.tasks_running, p.tasks_done, p.rows_in
            ),
            Err(e) => format!("no status: {e}"),
        }
    }

    /// Cancels the submission's unfinished jobs on the cluster (Ballista's client does not
    /// when its stream is dropped). Failures are only reported, as the submission ends anyway.
    pub async fn cancel(&self) {
        let jobs = match self.unfinished().await {
            Ok(jobs) => jobs,
            Err(e) => {
                eprintln!("warning: cannot list the jobs to cancel: {e}");
                return;
            }
        };
        let submission = &self.submission;
        for job in jobs {
            match submission.api.cancel(&job.job_id).await {
                Ok(()) => eprintln!(
                    "-- cancelled job {} on {}",
                    job.job_id,
                    submission.api.master()
                ),
                Err(e) => eprintln!("warning: {e}"),
            }
        }
    }
}
