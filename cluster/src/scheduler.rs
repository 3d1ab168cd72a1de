//! `ember scheduler`: Ballista's scheduler, planning with Ember's features.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::ConnectInfo;
use ballista_core::error::BallistaError;
use ballista_core::optimizer::ballista_default_optimizer_rules;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, scheduler_router};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::error::Result as DataFusionResult;
use datafusion::execution::cache::cache_manager::{
    FileMetadataCache, DEFAULT_METADATA_CACHE_LIMIT,
};
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use ember_core::plan_codec::EmberPhysicalCodec;
use ember_core::state::{runtime_builder, with_ember_features, with_plan_functions};
use ember_core::tls::Tls;
use ember_core::ClusterAuth;
use ember_core::Placement;
use ember_core::{ConfigError, EmberConfig};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::Server;

use crate::ports::{socket_address, warn_if_exposed};
use crate::slots::task_slots_route;
use crate::vcores::VcoreLedger;
use crate::DaemonError;
use crate::{job_session_config, whole_seconds, TASK_SCHEDULING};

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
    /// Mutual TLS (`ember.tls.*` or `ember.cluster.secret`): clients, executors and REST
    /// callers must present a certificate the CA signed.
    pub tls: Option<ClusterAuth>,
    /// How long the scheduler's own connections (to executors) may take to open.
    pub connect_timeout: Duration,
}

impl SchedulerOptions {
    /// A scheduler on `bind_host:port` with the settings of `config` (`ember.cluster.*`,
    /// `ember.tls.*`); fails when only some of the TLS keys are set.
    pub fn from_config(
        config: &EmberConfig,
        bind_host: String,
        port: u16,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            bind_host,
            port,
            executor_timeout: config.cluster_executor_timeout(),
            task_max_failures: config.cluster_task_max_failures(),
            stage_max_failures: config.cluster_stage_max_failures(),
            tls: config.cluster_auth()?,
            connect_timeout: config.cluster_connect_timeout(),
        })
    }
}

/// Runs the scheduler until Ctrl-C or SIGTERM, calling `on_listening` with the bound address
/// once it accepts connections.
///
/// The scheduler pushes tasks to executors ([`TASK_SCHEDULING`]).
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
    let tls = options.tls.as_ref().map(Tls::load).transpose()?;
    let config = SchedulerConfig {
        bind_host: options.bind_host.clone(),
        external_host: options.bind_host.clone(),
        bind_port: bound.port(),
        scheduling_policy: TASK_SCHEDULING,
        use_tls: tls.is_some(),
        override_create_grpc_client_endpoint: tls
            .as_ref()
            .map(|tls| tls.endpoint_override(options.connect_timeout)),
        executor_timeout_seconds: timeout_seconds,
        // Check for lost executors a few times per timeout, so one is noticed soon after it.
        expire_dead_executor_interval_seconds: (timeout_seconds / 4).max(1),
        no_executors_grace_period_seconds: timeout_seconds,
        task_max_failures: options.task_max_failures,
        stage_max_failures: options.stage_max_failures,
        override_config_producer: Some(Arc::new(job_session_config)),
        override_session_builder: Some(Arc::new(cluster_session_state)),
        override_physical_codec: Some(Arc::new(EmberPhysicalCodec::default())),
        ..SchedulerConfig::default()
    };
    config.validate()?;
    let jobs = BallistaCluster::new_from_config(&config).await?.job_state();
    let cluster = BallistaCluster::new(Arc::new(VcoreLedger::default()), jobs);
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config)).await?;
    if tls.is_none() {
        warn_if_exposed("the scheduler", bound);
    }
    on_listening(bound);
    match tls {
        None => {
            let routes = routes(scheduler).into_make_service_with_connect_info::<SocketAddr>();
            tokio::select! {
                served = axum::serve(listener, routes).into_future() => {
                    Ok(served.map_err(BallistaError::from)?)
                }
                () = shutdown_requested() => Ok(()),
            }
        }
        Some(tls) => serve_tls(listener, scheduler, &tls).await,
    }
}

/// Serves everything the scheduler serves without TLS (gRPC, the REST API, health) over mutual
/// TLS until Ctrl-C or SIGTERM: REST callers (`ember jobs`, `ember cluster status`, a client's
/// progress and cancel) present a certificate like every other peer.
///
/// Ballista serves its routes with axum, which has no TLS; tonic's server does TLS (handshakes
/// run concurrently, bounded by the config's timeout) and serves axum routes, HTTP/1.1 ones
/// too with `accept_http1`.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    scheduler: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    tls: &Tls,
) -> Result<(), DaemonError> {
    let routes = routes(scheduler).layer(axum::middleware::map_request(with_peer_address));
    Server::builder()
        .tls_config(tls.server_config())?
        .accept_http1(true)
        .add_routes(Routes::from(routes))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown_requested())
        .await?;
    Ok(())
}

/// Everything the scheduler serves: Ballista's gRPC services, REST API and health, and Ember's
/// task-slot count ([`crate::slots`]).
fn routes(scheduler: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>) -> axum::Router {
    scheduler_router(scheduler.clone()).merge(task_slots_route(scheduler))
}

/// Gives a request the caller's address where Ballista's handlers look for it (axum's
/// `ConnectInfo`, which axum's own server sets and tonic's does not): an executor that
/// registers without a host is known by that address.
async fn with_peer_address<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    let peer = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(|info| info.get_ref().remote_addr());
    if let Some(peer) = peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    request
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
/// physical rules for a cluster, and the job's object stores (it lists files and reads Parquet
/// footers while planning, into [`PLANNED_FOOTERS`]).
fn cluster_session_state(config: SessionConfig) -> DataFusionResult<SessionState> {
    let mut runtime = runtime_builder(&config, None);
    runtime.cache_manager = runtime
        .cache_manager
        .with_file_metadata_cache(Some(Arc::clone(&PLANNED_FOOTERS)));
    let runtime = runtime.build()?;
    let builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(Arc::new(runtime))
        .with_optimizer_rules(ballista_default_optimizer_rules());
    Ok(with_plan_functions(with_ember_features(builder, Placement::Cluster)).build())
}

/// The Parquet footers read while planning, shared by every job's session as Ballista shares
/// file statistics between them (`share_file_statistics_cache`): a job whose statistics come
/// from that cache reads no footer, and `RowGroupBalancedScans` needs the footers to cut its
/// scans at row-group boundaries (without them it leaves DataFusion's byte ranges). Entries are
/// checked against each job's listed size and modification time; DataFusion's default limit
/// (50 MiB) bounds them.
static PLANNED_FOOTERS: LazyLock<Arc<FileMetadataCache>> = LazyLock::new(|| {
    Arc::new(DefaultCache::new(DEFAULT_METADATA_CACHE_LIMIT).with_name("PlannedFooters"))
});

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
