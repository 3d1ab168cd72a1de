//! `ember jobs`: a cluster's jobs — the list, one job's status, and cancelling one.

use clap::{Args, Subcommand};
use ember::{JobInfo, SchedulerApi};

use crate::cluster::{cluster_master, now_millis, render_jobs};
use crate::exit::Failure;
use crate::scheduler::daemon_runtime;

/// Flags of `ember jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The cluster's scheduler, ember://HOST:PORT (default: ember.master from the configuration).
    #[arg(long, global = true)]
    master: Option<String>,
    /// Configuration KEY=VALUE (repeatable), e.g. ember.cluster.connect.timeout=2s.
    #[arg(long = "conf", value_name = "KEY=VALUE", global = true)]
    conf: Vec<String>,
    /// What to do; without one, list the jobs (newest first).
    #[command(subcommand)]
    action: Option<JobsAction>,
}

/// `ember jobs` subcommands.
#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// Show one job: its name, status, stages and elapsed time.
    Status {
        /// The job's id, as `ember jobs` lists it.
        id: String,
    },
    /// Cancel a queued or running job: its tasks stop on the executors.
    Cancel {
        /// The job's id, as `ember jobs` lists it.
        id: String,
    },
}

/// Runs `ember jobs`.
pub fn run(args: JobsArgs) -> Result<(), Failure> {
    let (master, config) = cluster_master(&args.conf, args.master.as_deref(), "jobs")?;
    let api = SchedulerApi::from_config(&master, &config)?;
    let runtime = daemon_runtime()?;
    match args.action {
        None => {
            let jobs = runtime.block_on(api.jobs())?;
            print!("{}", render_jobs(&jobs, now_millis()));
        }
        Some(JobsAction::Status { id }) => {
            let jobs = runtime.block_on(api.jobs())?;
            let job: Vec<JobInfo> = jobs.into_iter().filter(|j| j.job_id == id).collect();
            if job.is_empty() {
                return Err(Failure::Job(format!("no job {id} on {master}")));
            }
            print!("{}", render_jobs(&job, now_millis()));
        }
        Some(JobsAction::Cancel { id }) => {
            runtime.block_on(api.cancel(&id))?;
            println!("cancelled {id}");
        }
    }
    Ok(())
}
