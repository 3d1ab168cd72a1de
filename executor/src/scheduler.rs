//! `ember scheduler`: Ballista's scheduler, planning with Ember's features.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::optimizer::ballista_default_optimizer_rules;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::error::Result as DataFusionResult;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use ember_sql::state::with_ember_features;
use ember_sql::Placement;

use crate::ports::{socket_address, warn_if_exposed};
use crate::vcores::VcoreLedger;
use crate::whole_seconds;
use crate::DaemonError;

/// How tasks reach executors: the scheduler launches them (Ballista's `PushStaged`).
///
/// Why push: executors that pull learn of new work only by polling, every 50 ms when idle, and
/// report finished tasks at their next poll, so every stage of every job waited ~50 ms twice.
/// Measured on TPC-H SF 1 (release, one 2-core executor): 16.0 s pulling, 5.8 s pushed.
/// Ballista 55's push mode leaks executor cores after an executor loss, which hung every later
/// job; [`VcoreLedger`] repairs that.
pub const CLUSTER_SCHEDULING: TaskSchedulingPolicy = TaskSchedulingPolicy::PushStaged;

/// How to run the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerOptions {
    /// Interface to bind (default `127.0.0.1`: reachable from this machine only).
    pub bind_host: String,
    /// Port for clients and executors (gRPC and the REST API share it); 0 picks a free one.
    pub port: u16,
    /// Silence after which an executor is declared lost: its running tasks are rescheduled and
    /// the stages whose shuffle outputs it held are recomputed.
    pub executor_timeout: Duration,
    /// Attempts of a failing task before its job fails.
    pub task_max_failures: usize,
    /// Attempts of a stage whose inputs were lost before its job fails.
    pub stage_max_failures: usize,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            bind_host: "127.0.0.1".to_string(),
            port: 50050,
            executor_timeout: Duration::from_secs(30),
            task_max_failures: 4,
            stage_max_failures: 4,
        }
    }
}

/// Runs the scheduler until Ctrl-C or SIGTERM, calling `on_listening` with the bound address
/// once it accepts connections.
///
/// The scheduler pushes tasks to executors ([`CLUSTER_SCHEDULING`]).
pub async fn run_scheduler(
    options: &SchedulerOptions,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), DaemonError> {
    let requested = socket_address(&options.bind_host, options.port)?;
    let bind_error = |cause| DaemonError::Bind {
        address: requested.to_string(),
        cause,
    };
    let listener = listen_without_delay(requested).map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    let timeout_seconds = whole_seconds(options.executor_timeout);
    let config = SchedulerConfig {
        bind_host: options.bind_host.clone(),
        external_host: options.bind_host.clone(),
        bind_port: bound.port(),
        scheduling_policy: CLUSTER_SCHEDULING,
        executor_timeout_seconds: timeout_seconds,
        // Check for lost executors a few times per timeout, so one is noticed soon after it.
        expire_dead_executor_interval_seconds: (timeout_seconds / 4).max(1),
        no_executors_grace_period_seconds: timeout_seconds,
        task_max_failures: options.task_max_failures,
        stage_max_failures: options.stage_max_failures,
        override_session_builder: Some(Arc::new(cluster_session_state)),
        ..SchedulerConfig::default()
    };
    config.validate()?;
    let jobs = BallistaCluster::new_from_config(&config).await?.job_state();
    let cluster = BallistaCluster::new(Arc::new(VcoreLedger::default()), jobs);
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config)).await?;
    warn_if_exposed("the scheduler", bound);
    on_listening(bound);
    tokio::select! {
        served = start_grpc_service_with_listener(listener, scheduler) => Ok(served?),
        () = shutdown_requested() => Ok(()),
    }
}

/// A listener on `address` whose connections send small writes at once (`TCP_NODELAY`, which
/// accepted sockets inherit from the listening one on Linux and the BSDs).
///
/// Why: Ballista serves a listener it is given without setting `TCP_NODELAY` on connections, so
/// the last status frame of every job waited for the client's delayed ACK: measured here, a
/// trivial query took 44-48 ms, 36 ms of it between the scheduler sending "job finished" and
/// the client receiving it.
fn listen_without_delay(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}

/// The state the scheduler plans a job with, from the job's configuration (the client's
/// `SessionConfig`, sent with the job): Ballista's logical rules, then Ember's functions and
/// physical rules for a cluster.
fn cluster_session_state(config: SessionConfig) -> DataFusionResult<SessionState> {
    let builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(Arc::new(RuntimeEnvBuilder::new().build()?))
        .with_optimizer_rules(ballista_default_optimizer_rules());
    Ok(with_ember_features(builder, Placement::Cluster).build())
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_requested() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
