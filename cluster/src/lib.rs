//! # ember-cluster: Ember's cluster daemons, built from Ballista
//!
//! Depends on `ember-core` (configuration, TLS, session state) and never on the client crate
//! `ember-session`: a daemon serves every client and holds no session of its own.
//!
//! `ember scheduler` and `ember executor` are Ballista's scheduler and executor, started as
//! libraries with Ember's extension points filled in, so that a plan an Ember client submits
//! resolves every function it names and is optimized the way Ember optimizes:
//!
//! - [`functions`]: the function registry executors resolve plan functions from (DataFusion's,
//!   the Spark-compatible ones, and later Ember's ML functions) — built from the same
//!   `ember-core` state a local session uses, so both always agree;
//! - [`scheduler`]: [`run_scheduler`] — Ballista's scheduler with push-based task scheduling
//!   ([`TASK_SCHEDULING`]), its REST API served beside gRPC (over the cluster's mutual TLS when
//!   it has one), and a session builder that plans with Ember's features for
//!   [`ember_core::Placement::Cluster`];
//! - [`executor`]: [`run_executor`] — a Ballista executor with that registry;
//! - both open object stores with the settings each job carries (see [`job_session_config`]);
//! - [`ports`]: binding to port 0 and reporting the address actually bound;
//! - [`vcores`]: the scheduler's count of free executor cores, kept honest after executor loss;
//! - `slots`: the cluster's task slots, all and free, for tree fits to plan by.
//!
//! Where Ballista needs something else, the override hooks of its `SchedulerConfig` and
//! `ExecutorProcessConfig` are used (functions, TLS, the shuffle service under TLS, a cluster
//! state whose core count cannot leak); what has no hook lives in the vendored scheduler and
//! executor (`vendor/README.md`).

pub mod executor;
pub mod functions;
pub mod ports;
pub mod scheduler;
mod slots;
pub mod vcores;

pub use executor::{run_executor, ExecutorOptions};
pub use functions::ember_function_registry;
pub use scheduler::{run_scheduler, SchedulerOptions};

/// How tasks reach executors: the scheduler pushes them (Ballista's `PushStaged`), under
/// mutual TLS too (the vendored executor serves its task endpoint over TLS, `vendor/README.md`).
///
/// Why push: executors that pull learn of new work only by polling, every 50 ms when idle, and
/// report finished tasks at their next poll, so every stage of every job waited ~50 ms twice.
/// Measured on TPC-H SF 1 (release, one 2-core executor): 16.0 s pulling, 5.8 s pushed.
/// Ballista 55's push mode leaks executor cores after an executor loss, which hung every later
/// job; [`vcores::VcoreLedger`] repairs that.
pub const TASK_SCHEDULING: ballista_core::config::TaskSchedulingPolicy =
    ballista_core::config::TaskSchedulingPolicy::PushStaged;

/// The configuration a job's settings are applied to, in the scheduler and in executors:
/// Ballista's, with Ember's settings registered so that the object-store settings the client
/// sends with the job ([`ember_core::config::EmberOptions`]) are kept rather than dropped as
/// unknown.
pub(crate) fn job_session_config() -> datafusion::prelude::SessionConfig {
    use ballista_core::extension::SessionConfigExt;
    datafusion::prelude::SessionConfig::new_with_ballista()
        .with_option_extension(ember_core::config::EmberOptions::default())
}

/// `duration` in whole seconds, rounded up and at least 1: Ballista's timers count seconds.
pub(crate) fn whole_seconds(duration: std::time::Duration) -> u64 {
    duration.as_secs_f64().ceil().max(1.0) as u64
}

/// Why a daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// An address or port could not be bound or resolved.
    #[error("cannot listen on {address}: {cause}")]
    Bind {
        /// The `host:port` asked for.
        address: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The scheduler an executor should register with did not accept connections in time.
    #[error("cannot reach the scheduler at {scheduler} within {timeout:?}: {cause}")]
    SchedulerUnreachable {
        /// The scheduler's address.
        scheduler: String,
        /// How long the executor tried.
        timeout: std::time::Duration,
        /// The last connection error.
        cause: std::io::Error,
    },
    /// The TLS files (`ember.tls.*`) cannot be used.
    #[error(transparent)]
    Tls(#[from] ember_core::TlsError),
    /// The scheduler refused this executor's transport (TLS on one side only, or a certificate
    /// the other side's CA did not sign).
    #[error(transparent)]
    Connect(#[from] ember_core::ConnectError),
    /// Serving over TLS failed.
    #[error("TLS server: {0}")]
    TlsServer(#[from] tonic::transport::Error),
    /// Ballista failed while starting or serving.
    #[error("{0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
}
