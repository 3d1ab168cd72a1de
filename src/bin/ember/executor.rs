//! `ember executor`: a worker daemon that runs tasks for a scheduler.

use std::path::PathBuf;

use clap::Args;
use ember::memory::{machine_memory, MemoryBudget, MemoryLimit};
use ember_cluster::{run_executor, ExecutorOptions};

use crate::exit::Failure;
use crate::runtime::load_config;
use crate::scheduler::{announce, daemon_runtime};

/// Flags of `ember executor`.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to register with, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    scheduler: String,
    /// Interface to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Port serving shuffle and result data; 0 picks a free port (printed on stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Tasks to run at once (default: one per core).
    #[arg(long, default_value_t = 0)]
    cores: usize,
    /// Memory for tasks: a size (4g, 512m), a share of the machine's memory (70%) or
    /// unlimited; beyond it tasks spill to the work directory (default: ember.memory.limit).
    #[arg(long, value_name = "SIZE")]
    memory: Option<MemoryLimit>,
    /// Directory for shuffle and spill files (default: ember.local.dir, else a temporary
    /// directory).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Configuration KEY=VALUE (repeatable), e.g. ember.cluster.heartbeat.interval=5s.
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
}

/// Runs the executor until Ctrl-C or SIGTERM. Once it has registered with the scheduler, prints
/// its memory budget on stderr and `listening on HOST:PORT` on stdout.
pub fn run(args: ExecutorArgs) -> Result<(), Failure> {
    let (host, port) = args
        .scheduler
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host.to_string(), port.parse::<u16>().ok()?)))
        .ok_or_else(|| {
            Failure::Usage(format!("--scheduler '{}' is not HOST:PORT", args.scheduler))
        })?;
    let config = load_config(&args.conf, None)?;
    let defaults = ExecutorOptions::from_config(&config, host, port)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let options = ExecutorOptions {
        bind_host: args.bind,
        port: args.port,
        cores: args.cores,
        memory: args.memory.map_or(defaults.memory, |limit| {
            MemoryBudget::resolve(limit, machine_memory())
        }),
        work_dir: args.work_dir.or(defaults.work_dir),
        ..defaults
    };
    let budget = options.memory;
    let registered = move |address| {
        eprintln!("memory budget {budget}");
        announce(address)
    };
    daemon_runtime()?
        .block_on(run_executor(&options, registered))
        .map_err(|error| Failure::Job(format!("executor: {error}")))
}
