//! The client side of cluster mode: a session whose queries run on an `ember scheduler`.

use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::{
    BallistaConfig, BALLISTA_ADAPTIVE_PLANNER_ENABLED, BALLISTA_CLIENT_GRPC_CONNECT_TIMEOUT_SECONDS,
};
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use ember_core::config::option_error;
use ember_core::state::{runtime_env, session_config, with_ember_features};
use ember_core::{available_cores, check_handshake, check_reachable, EmberConfig, Placement, Tls};
use ember_mllib::trees::placement::SlotsProbe;
use ember_mllib::trees::rpc::TrainingEndpoint;

use crate::cluster_status::SchedulerApi;
use crate::error::Result;
use ember_core::master::Master;

/// A `SessionState` that plans queries here and submits them to the scheduler at `host:port`
/// (Ballista's client), built from the same configuration as a local session. The configuration
/// travels with every job, so the scheduler and executors run it with the same settings.
///
/// Fails with [`ember_core::ConnectError::Unreachable`] unless the scheduler accepts a connection within
/// `ember.cluster.connect.timeout`; later connections (one per query) are bounded by the same.
pub fn cluster_client_state(config: &EmberConfig, host: &str, port: u16) -> Result<SessionState> {
    let timeout = config.cluster_connect_timeout();
    let local_address = check_reachable(host, port, timeout)?;
    let tls = config
        .cluster_auth()?
        .map(|auth| Tls::load(&auth))
        .transpose()?;
    check_handshake(host, port, tls.as_ref(), timeout)?;
    let ballista_defaults = SessionConfig::new().upgrade_for_ballista();
    let session_config = session_config(
        ballista_defaults,
        config,
        available_cores(),
        Placement::Cluster,
    )?
    .set_usize(
        BALLISTA_CLIENT_GRPC_CONNECT_TIMEOUT_SECONDS,
        timeout.as_secs_f64().ceil() as usize,
    )
    // Ballista's adaptive planner left a job hanging after an executor was lost mid-query
    // (its stage rollback never re-ran the reset tasks; TPC-H q18 at SF 0.1); the static
    // planner recomputes them and the job completes.
    .set_bool(BALLISTA_ADAPTIVE_PLANNER_ENABLED, false);
    // Tree fits run their workers in executor tasks that call back to this process: at
    // `ember.driver.host`, else the address this machine reached the scheduler from.
    let driver_host = match config.driver_host() {
        Some(host) => host.to_string(),
        None => local_address.to_string(),
    };
    let training = TrainingEndpoint::new(
        driver_host,
        config.driver_port(),
        tls.as_ref().map(Tls::server_config),
        config.ml_tasks_start_timeout(),
    )
    .with_slots_probe(task_slots_probe(host, port, tls.as_ref(), timeout));
    let session_config = session_config.with_extension(Arc::new(training));
    let session_config = with_tls(session_config, tls.as_ref(), timeout);
    let session_config = with_ballista_options(session_config, config)?;
    let runtime = runtime_env(config, &session_config)?;
    let builder = SessionStateBuilder::new()
        .with_config(session_config)
        .with_runtime_env(runtime);
    let ember = with_ember_features(builder, Placement::Cluster).build();
    let scalar = ember.scalar_functions().values().cloned().collect();
    let aggregate = ember.aggregate_functions().values().cloned().collect();
    let window = ember.window_functions().values().cloned().collect();
    let client = ember.upgrade_for_ballista(format!("http://{host}:{port}"))?;
    // `upgrade_for_ballista` replaces the function maps with Ballista's defaults; put Ember's back
    // so the Spark-compatible functions plan on the client too.
    Ok(SessionStateBuilder::new_from_existing(client)
        .with_scalar_functions(scalar)
        .with_aggregate_functions(aggregate)
        .with_window_functions(window)
        .build())
}

/// Reads the task slots of the cluster at `host:port` (all, and those free) from its
/// scheduler's REST API, over mutual TLS with `tls` when given; `None` when the API cannot be
/// read, so a tree fit falls back to waiting for its tasks.
fn task_slots_probe(host: &str, port: u16, tls: Option<&Tls>, timeout: Duration) -> SlotsProbe {
    let master = Master::Cluster {
        host: host.to_string(),
        port,
    };
    let api = SchedulerApi::new(&master, tls, timeout).ok();
    Arc::new(move || {
        let api = api.clone();
        Box::pin(async move { api?.task_slots().await.ok() })
    })
}

/// `session_config` speaking mutual TLS to the scheduler and executors when `ember.tls.*` are set.
fn with_tls(
    session_config: SessionConfig,
    tls: Option<&Tls>,
    connect_timeout: Duration,
) -> SessionConfig {
    let Some(tls) = tls else {
        return session_config;
    };
    session_config
        .with_ballista_use_tls(true)
        .with_ballista_override_create_grpc_client_endpoint(tls.endpoint_override(connect_timeout))
}

/// `session_config` with the `ballista.*` entries of `config` applied (they win over Ember's
/// choices above); an unknown key or bad value is an error naming where it came from.
fn with_ballista_options(
    mut session_config: SessionConfig,
    config: &EmberConfig,
) -> Result<SessionConfig> {
    let entries = BallistaConfig::valid_entries();
    for (key, (value, origin)) in config.ballista_options() {
        // Ballista checks keys when set but values only when it reads them (on the scheduler,
        // mid-job), so the value's type is checked here.
        let checked = match entries.get(key) {
            Some(entry) => BallistaConfig::parse_value(value, entry.data_type().clone())
                .map_err(|reason| {
                    DataFusionError::Configuration(format!(
                        "expected {}: {reason}",
                        entry.data_type()
                    ))
                })
                .and_then(|()| session_config.options_mut().set(key, value)),
            None => Err(DataFusionError::Configuration(format!("unknown key {key}"))),
        };
        if let Err(error) = checked {
            let known = entries.keys().cloned();
            return Err(option_error(key, value, origin.clone(), known, &error).into());
        }
    }
    Ok(session_config)
}
