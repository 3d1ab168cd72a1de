//! `ember scheduler`: the cluster's scheduler daemon.

use clap::Args;
use ember_cluster::{run_scheduler, SchedulerOptions};

use crate::exit::Failure;
use crate::runtime::load_config;

/// Flags of `ember scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Interface to listen on; 127.0.0.1 keeps the cluster on this machine.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Port for clients and executors; 0 picks a free port (printed on stdout).
    #[arg(long, default_value_t = 50050)]
    port: u16,
    /// Configuration KEY=VALUE (repeatable), e.g. ember.cluster.executor.timeout=30s.
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
}

/// Runs the scheduler until Ctrl-C or SIGTERM. Prints `listening on HOST:PORT` once it accepts
/// connections.
pub fn run(args: SchedulerArgs) -> Result<(), Failure> {
    let config = load_config(&args.conf, None)?;
    let options = SchedulerOptions::from_config(&config, args.bind, args.port)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    daemon_runtime()?
        .block_on(run_scheduler(&options, announce))
        .map_err(|error| Failure::Job(format!("scheduler: {error}")))
}

/// The one stdout line a daemon prints, for scripts and tests that started it with port 0.
pub fn announce(address: std::net::SocketAddr) {
    println!("listening on {address}");
}

/// The Tokio runtime a daemon runs on.
pub fn daemon_runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(crate::runtime::THREAD_STACK)
        .enable_all()
        .build()
        .map_err(|e| Failure::Job(format!("cannot start the runtime: {e}")))
}
