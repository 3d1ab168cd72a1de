//! `ember executor`: a Ballista executor that resolves every Ember function.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::error::BallistaError;
use ballista_core::extension::SessionConfigExt;
use ballista_core::utils::{create_grpc_server, GrpcServerConfig};
use ballista_core::RuntimeProducer;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::shutdown::Shutdown;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::prelude::SessionConfig;
use ember_core::check_handshake;
use ember_core::plan_codec::EmberPhysicalCodec;
use ember_core::state::{memory_pool, runtime_builder};
use ember_core::tls::Tls;
use ember_core::ClusterAuth;
use ember_core::{ConfigError, EmberConfig, MemoryBudget};

use crate::functions::ember_function_registry;
use crate::ports::{free_port, socket_address, warn_if_exposed};
use crate::DaemonError;
use crate::{job_session_config, whole_seconds, TASK_SCHEDULING};

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
    /// Memory for running tasks: one pool that they share, as a local session's queries do
    /// (sorts and aggregations spill beyond their fair share of it; a tree fit's training task
    /// holds its rows' fit state in it).
    pub memory: MemoryBudget,
    /// Where shuffle files go; a fresh temporary directory when `None`.
    pub work_dir: Option<PathBuf>,
    /// How long to keep trying to reach the scheduler at startup before failing.
    pub connect_timeout: Duration,
    /// How often to report to the scheduler; it declares the executor lost after missing
    /// heartbeats for its `ember.cluster.executor.timeout`.
    pub heartbeat_interval: Duration,
    /// Mutual TLS (`ember.tls.*` or `ember.cluster.secret`) for its connections, its task
    /// endpoint and its shuffle service.
    pub tls: Option<ClusterAuth>,
}

impl ExecutorOptions {
    /// An executor of the scheduler at `scheduler_host:scheduler_port`, bound to 127.0.0.1 on a
    /// free port with one task per core, with the settings of `config`: `ember.memory.limit`,
    /// `ember.local.dir` as the work directory, `ember.cluster.*` and `ember.tls.*` (an error
    /// when only some of those are set).
    pub fn from_config(
        config: &EmberConfig,
        scheduler_host: String,
        scheduler_port: u16,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            scheduler_host,
            scheduler_port,
            bind_host: "127.0.0.1".to_string(),
            port: 0,
            cores: 0,
            memory: config.memory_budget(),
            work_dir: config.local_dir().map(PathBuf::from),
            connect_timeout: config.cluster_connect_timeout(),
            heartbeat_interval: config.cluster_heartbeat_interval(),
            tls: config.cluster_auth()?,
        })
    }
}

/// Runs the executor until Ctrl-C or SIGTERM (Ballista then tells the scheduler it is leaving),
/// calling `on_listening` with its data address once it has registered with the scheduler.
pub async fn run_executor(
    options: &ExecutorOptions,
    on_listening: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<(), DaemonError> {
    if options.cores > 0 {
        // ML kernels inside tasks (histograms, distances) run on rayon's global pool: size it
        // to the executor's cores, not the machine's. It fails only if the pool already exists
        // (an executor started in a process that used rayon), which then keeps its size.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(options.cores)
            .build_global();
    }
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
    let tls = options.tls.as_ref().map(Tls::load).transpose()?;
    let pool = options.memory.bytes.map(memory_pool);
    let mut config = ExecutorProcessConfig {
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
        task_scheduling_policy: TASK_SCHEDULING,
        work_dir: options
            .work_dir
            .as_ref()
            .map(|dir| dir.display().to_string()),
        // Ballista reads 0 as no pool of its own (it would give each task a pool of
        // `budget / cores`): the runtime producer gives every task the executor's one pool,
        // which a training task's fit state is reserved from too (see `runtime_producer`).
        memory_pool_size: Some(0),
        executor_heartbeat_interval_seconds: whole_seconds(options.heartbeat_interval),
        override_function_registry: Some(Arc::new(ember_function_registry(
            tls.as_ref(),
            pool.clone(),
        ))),
        override_config_producer: Some(Arc::new(job_session_config)),
        override_physical_codec: Some(Arc::new(EmberPhysicalCodec::default())),
        override_runtime_producer: Some(runtime_producer(
            options.work_dir.clone(),
            pool,
            options
                .memory
                .bytes
                .map(|bytes| bytes / task_slots(options.cores)),
        )),
        ..ExecutorProcessConfig::default()
    };
    match &tls {
        None => warn_if_exposed("the executor", address),
        Some(tls) => with_tls(&mut config, tls, options.connect_timeout),
    }
    wait_for_scheduler(options).await?;
    check_handshake(
        &options.scheduler_host,
        options.scheduler_port,
        tls.as_ref(),
        options.connect_timeout,
    )?;
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

/// Mutual TLS for everything the executor serves or opens: its connection to the scheduler,
/// the endpoint the scheduler pushes tasks to, its shuffle service (Arrow Flight), and its
/// fetches from other executors.
fn with_tls(config: &mut ExecutorProcessConfig, tls: &Tls, connect_timeout: Duration) {
    let endpoint = tls.endpoint_override(connect_timeout);
    config.override_create_grpc_client_endpoint = Some(endpoint.clone());
    config.executor_grpc_server_tls = Some(tls.server_config());
    // Tasks run with this configuration plus the job's settings (which carry `use_tls`); the
    // endpoint hook cannot travel with the job, so every task gets it from here.
    config.override_config_producer = Some(Arc::new(move || {
        job_session_config()
            .with_ballista_use_tls(true)
            .with_ballista_override_create_grpc_client_endpoint(endpoint.clone())
    }));
    let (max_encoding, max_decoding) = (
        config.grpc_max_encoding_message_size as usize,
        config.grpc_max_decoding_message_size as usize,
    );
    let server_tls = tls.server_config();
    config.override_arrow_flight_service = Some(Arc::new(
        move |work_dir, address, mut shutdown: Shutdown, grpc: GrpcServerConfig| {
            let service = FlightServiceServer::new(BallistaFlightService::new(work_dir))
                .max_encoding_message_size(max_encoding)
                .max_decoding_message_size(max_decoding);
            let server_tls = server_tls.clone();
            tokio::spawn(async move {
                create_grpc_server(&grpc)
                    .tls_config(server_tls)
                    .map_err(BallistaError::TonicError)?
                    .add_service(service)
                    .serve_with_shutdown(address, async move { shutdown.recv().await })
                    .await
                    .map_err(BallistaError::TonicError)
            })
        },
    ));
}

/// How many tasks an executor started with `cores` (0: all of the machine's) runs at once.
fn task_slots(cores: usize) -> u64 {
    let cores = match cores {
        0 => ember_core::available_cores(),
        cores => cores,
    };
    cores as u64
}

/// Builds each job's runtime (Ballista caches one per session): the executor's memory `pool`
/// when it has a budget, spill files in `work_dir` when given, the object stores of the job's
/// settings, and spill merges sized for a task's share of the budget (`task_budget`).
///
/// Why one pool for all tasks rather than Ballista's pool of `budget / cores` per task: a
/// tree fit's training task is an aggregate function's accumulator, which DataFusion gives no
/// access to its task's pool, so its fit state (scores, gradients, the trees it grows) could
/// not be reserved; one pool is also Spark's model (an executor's tasks share its execution
/// memory) and a local session's, where a task alone may use what its siblings leave.
fn runtime_producer(
    work_dir: Option<PathBuf>,
    pool: Option<Arc<dyn MemoryPool>>,
    task_budget: Option<u64>,
) -> RuntimeProducer {
    Arc::new(move |config: &SessionConfig| {
        let mut runtime = runtime_builder(config, task_budget);
        if let Some(pool) = &pool {
            runtime = runtime.with_memory_pool(Arc::clone(pool));
        }
        if let Some(dir) = &work_dir {
            runtime = runtime.with_temp_file_path(dir);
        }
        Ok(Arc::new(runtime.build()?))
    })
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
