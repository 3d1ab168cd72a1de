//! `ember cluster status`: a running cluster's scheduler, executors and jobs.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use ember::ml::trees::placement::TaskSlots;
use ember::{ClusterStatus, EmberConfig, JobInfo, Master, SchedulerApi};

use crate::exit::Failure;
use crate::runtime::load_config;
use crate::scheduler::daemon_runtime;

/// `ember cluster` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Show the scheduler, its executors and its recent jobs.
    Status(StatusArgs),
}

/// Flags of `ember cluster status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The cluster's scheduler, ember://HOST:PORT (default: ember.master from the configuration).
    #[arg(long)]
    master: Option<String>,
    /// Most recent jobs to list.
    #[arg(long, default_value_t = 20)]
    jobs: usize,
    /// Configuration KEY=VALUE (repeatable), e.g. ember.cluster.connect.timeout=2s.
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
}

/// Runs an `ember cluster` subcommand.
pub fn run(command: ClusterCommand) -> Result<(), Failure> {
    match command {
        ClusterCommand::Status(args) => status(args),
    }
}

fn status(args: StatusArgs) -> Result<(), Failure> {
    let (master, config) = cluster_master(&args.conf, args.master.as_deref(), "cluster status")?;
    let api = SchedulerApi::from_config(&master, &config)?;
    let status = daemon_runtime()?.block_on(api.status())?;
    print!("{}", render(&master, &status, args.jobs, now_millis()));
    Ok(())
}

/// The cluster master and configuration from `conf` and `master` flags; a usage error naming
/// `command` unless the master is a cluster, or when its transport settings are incomplete.
pub fn cluster_master(
    conf: &[String],
    master: Option<&str>,
    command: &str,
) -> Result<(Master, EmberConfig), Failure> {
    let config = load_config(conf, master)?;
    let master = config.master().clone();
    if !matches!(master, Master::Cluster { .. }) {
        return Err(Failure::Usage(format!(
            "--master {}: `ember {command}` needs a cluster master, ember://HOST:PORT",
            config.master()
        )));
    }
    config
        .cluster_auth()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    Ok((master, config))
}

/// The status as text: a line for the scheduler, a table of executors, job counts and a table of
/// the `max_jobs` most recent jobs.
fn render(master: &Master, status: &ClusterStatus, max_jobs: usize, now: u64) -> String {
    let scheduler = &status.scheduler;
    let mut text = format!(
        "scheduler {master}: Ballista {}, {} scheduling\n",
        scheduler.version, scheduler.scheduling_policy,
    );
    let TaskSlots { total, free } = status.slots;
    text += &format!(
        "executors: {} ({total} cores, {free} free)\n",
        status.executors.len()
    );
    if !status.executors.is_empty() {
        text += &format!(
            "  {:<36}  {:<21}  {:>5}  {}\n",
            "ID", "ADDRESS", "CORES", "LAST SEEN"
        );
        for executor in &status.executors {
            text += &format!(
                "  {:<36}  {:<21}  {:>5}  {} ago\n",
                executor.id,
                format!("{}:{}", executor.host, executor.port),
                executor.specification.vcores,
                elapsed(executor.last_seen, now)
            );
        }
    }
    let count = |state: &str| status.jobs.iter().filter(|j| j.status == state).count();
    text += &format!(
        "jobs: {} (running {}, queued {}, completed {}, failed {})\n",
        status.jobs.len(),
        count("Running"),
        count("Queued"),
        count("Completed"),
        count("Failed")
    );
    let shown = &status.jobs[..status.jobs.len().min(max_jobs)];
    text += &render_jobs(shown, now);
    text
}

/// A table of `jobs` (id, name, status, stages done of all, elapsed), indented; empty for no
/// jobs.
pub fn render_jobs(jobs: &[JobInfo], now: u64) -> String {
    if jobs.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "  {:<14}  {:<20}  {:<9}  {:>6}  {}\n",
        "ID", "NAME", "STATUS", "STAGES", "ELAPSED"
    );
    for job in jobs {
        let end = if job.end_time == 0 { now } else { job.end_time };
        let took = if job.start_time == 0 {
            "-".to_string()
        } else {
            elapsed(job.start_time, end)
        };
        text += &format!(
            "  {:<14}  {:<20}  {:<9}  {:>6}  {took}\n",
            job.job_id,
            job.job_name,
            job.status,
            format!("{}/{}", job.completed_stages, job.num_stages)
        );
    }
    text
}

/// `to - from` milliseconds, readable: `850ms`, `12.3s`, `4m05s`, `2h13m`.
fn elapsed(from: u64, to: u64) -> String {
    let millis = to.saturating_sub(from);
    let seconds = millis / 1000;
    match millis {
        0..1_000 => format!("{millis}ms"),
        1_000..60_000 => format!("{:.1}s", millis as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds / 60 % 60),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::elapsed;

    #[test]
    fn elapsed_times_read_naturally() {
        assert_eq!(elapsed(1_000, 1_850), "850ms");
        assert_eq!(elapsed(0, 12_340), "12.3s");
        assert_eq!(elapsed(0, 245_000), "4m05s");
        assert_eq!(elapsed(0, 7_980_000), "2h13m");
        assert_eq!(elapsed(5_000, 1_000), "0ms");
    }
}
