//! `ember executor`: a Ballista executor that resolves every Ember function.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};

use crate::functions::ember_function_registry;
use crate::ports::{free_port, socket_address, warn_if_exposed};
use crate::scheduler::CLUSTER_SCHEDULING;
use crate::whole_seconds;
use crate::DaemonError;

/// How to run an executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// Interface to bind (default `127.0.0.1`).
    pub bind_host: String,
    /// Port that serves shuffle and result data (Arrow Flight); 0 picks a free one. The port the
    /// scheduler pushes tasks to is always picked free.
    pub port: u16,
    /// Tasks run at once; 0 means one per core of this machine.
    pub cores: usize,
    /// Memory for running tasks, in bytes, shared by the tasks (spilling beyond it); `None`
    /// lets Ballista size it from the machine's (or container's) memory.
    pub memory: Option<u64>,
    /// Where shuffle files go; a fresh temporary directory when `None`.
    pub work_dir: Option<PathBuf>,
    /// How long to keep trying to reach the scheduler at startup before failing.
    pub connect_timeout: Duration,
    /// How often to report to the scheduler; it declares the executor lost after missing
    /// heartbeats for its `ember.cluster.executor.timeout`.
    pub heartbeat_interval: Duration,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            scheduler_host: "127.0.0.1".to_string(),
            scheduler_port: 50050,
            bind_host: "127.0.0.1".to_string(),
            port: 0,
            cores: 0,
            memory: None,
            work_dir: None,
            connect_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(5),
        }
    }
}

/// Runs the executor until Ctrl-C or SIGTERM (Ballista then tells the scheduler it is leaving),
/// calling `on_listening` with its data address once it has registered with the scheduler.
pub async fn run_executor(
    options: &ExecutorOptions,
    on_listening: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<(), DaemonError> {
    let port = free_port(&options.bind_host, options.port)?;
    let grpc_port = loop {
        let candidate = free_port(&options.bind_host, 0)?;
        if candidate != port {
            break candidate;
        }
    };
    let address = socket_address(&options.bind_host, port)?;
    if let Some(dir) = &options.work_dir {
        std::fs::create_dir_all(dir).map_err(|cause| DaemonError::Bind {
            address: dir.display().to_string(),
            cause,
        })?;
    }
    let config = ExecutorProcessConfig {
        bind_host: options.bind_host.clone(),
        external_host: Some(options.bind_host.clone()),
        port,
        grpc_port,
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        // One attempt: we waited for the scheduler above. Ballista 55's own retry loop measures
        // `Instant::now().elapsed()` (always ~0), so with a timeout it retries forever.
        scheduler_connect_timeout_seconds: 0,
        vcores: options.cores,
        task_scheduling_policy: CLUSTER_SCHEDULING,
        work_dir: options
            .work_dir
            .as_ref()
            .map(|dir| dir.display().to_string()),
        memory_pool_size: options.memory,
        executor_heartbeat_interval_seconds: whole_seconds(options.heartbeat_interval),
        override_function_registry: Some(Arc::new(ember_function_registry())),
        ..ExecutorProcessConfig::default()
    };
    warn_if_exposed("the executor", address);
    wait_for_scheduler(options).await?;
    let health = config.health.clone();
    let announce = tokio::spawn(async move {
        while !health.is_ready() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        on_listening(address);
    });
    let result = start_executor_process(Arc::new(config)).await;
    announce.abort();
    Ok(result?)
}

/// Waits until the scheduler accepts TCP connections, retrying every 200 ms for up to
/// `options.connect_timeout`; the error names the scheduler.
async fn wait_for_scheduler(options: &ExecutorOptions) -> Result<(), DaemonError> {
    let scheduler = socket_address(&options.scheduler_host, options.scheduler_port)?;
    let deadline = tokio::time::Instant::now() + options.connect_timeout;
    loop {
        match tokio::net::TcpStream::connect(scheduler).await {
            Ok(_) => return Ok(()),
            Err(cause) if tokio::time::Instant::now() >= deadline => {
                return Err(DaemonError::SchedulerUnreachable {
                    scheduler: scheduler.to_string(),
                    timeout: options.connect_timeout,
                    cause,
                })
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
