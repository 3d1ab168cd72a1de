//! Reaching a cluster's scheduler before Ballista does: a TCP connection within the connect
//! timeout, then one gRPC call over this process's transport (plain or mutual TLS). Clients and
//! executors both check this first, because Ballista's own errors say neither what was wrong nor
//! what to fix.

use std::error::Error as _;
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::GetJobStatusParams;
use tonic::transport::Endpoint;

use crate::master::Master;
use crate::tls::Tls;

/// Why a cluster's scheduler could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The scheduler did not accept a TCP connection in time.
    #[error("cannot reach the scheduler at {master} within {timeout:?}: {cause}")]
    Unreachable {
        /// The master.
        master: Master,
        /// `ember.cluster.connect.timeout`.
        timeout: Duration,
        /// Why the connection failed.
        cause: std::io::Error,
    },
    /// The scheduler accepted a TCP connection but not this process's transport.
    #[error("the scheduler at {master} refused this client: {advice} ({cause})")]
    Refused {
        /// The master.
        master: Master,
        /// What to check.
        advice: &'static str,
        /// The transport error.
        cause: String,
    },
}

/// Fails unless the scheduler at `host:port` answers a gRPC call over this process's transport
/// (mutual TLS with `tls`, else plain), with an error that says what to fix when the two sides
/// disagree about TLS or the scheduler refuses this process's certificate. Clients and
/// executors check this before Ballista connects, whose errors say neither.
///
/// Runs on a thread of its own with its own runtime, so it works whether or not the caller is
/// inside one.
pub fn check_handshake(
    host: &str,
    port: u16,
    tls: Option<&Tls>,
    timeout: Duration,
) -> Result<(), ConnectError> {
    let master = Master::Cluster {
        host: host.to_string(),
        port,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{host}:{port}");
    let client_tls = tls.map(Tls::client_config);
    let outcome = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(async {
                    let mut endpoint = Endpoint::from_shared(url.clone())
                        .map_err(|e| e.to_string())?
                        .connect_timeout(timeout)
                        .timeout(timeout);
                    if let Some(client_tls) = client_tls {
                        endpoint = endpoint.tls_config(client_tls).map_err(|e| e.to_string())?;
                    }
                    let channel = endpoint.connect().await.map_err(|e| causes(&e))?;
                    let probe = GetJobStatusParams {
                        job_id: "ember-connection-check".to_string(),
                    };
                    match SchedulerGrpcClient::new(channel)
                        .get_job_status(probe)
                        .await
                    {
                        // Any answer from the scheduler itself means the transport works.
                        Ok(_) => Ok(()),
                        Err(status) if status.source().is_none() => Ok(()),
                        Err(status) => Err(causes(&status)),
                    }
                })
            })
            .join()
            .unwrap_or_else(|_| Err("the connection check panicked".to_string()))
    });
    outcome.map_err(|cause| {
        let advice = if tls.is_some() {
            "the TLS handshake failed: the scheduler must use TLS, and each side's certificate \
             must be signed by the CA the other trusts (ember.tls.cert, ember.tls.ca), or both \
             must share the same ember.cluster.secret"
        } else {
            "it did not accept a plain connection: if the cluster uses mutual TLS, set \
             ember.tls.cert, ember.tls.key and ember.tls.ca, or its ember.cluster.secret"
        };
        ConnectError::Refused {
            master,
            advice,
            cause,
        }
    })
}

/// Fails unless a TCP connection to `host:port` opens within `timeout` (trying each address the
/// host resolves to); returns this machine's address on that connection.
pub fn check_reachable(host: &str, port: u16, timeout: Duration) -> Result<IpAddr, ConnectError> {
    let unreachable = |cause: std::io::Error| ConnectError::Unreachable {
        master: Master::Cluster {
            host: host.to_string(),
            port,
        },
        timeout,
        cause,
    };
    let addresses = (host, port).to_socket_addrs().map_err(unreachable)?;
    let mut last_error = std::io::Error::new(std::io::ErrorKind::NotFound, "host has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => {
                return stream
                    .local_addr()
                    .map(|local| local.ip())
                    .map_err(unreachable)
            }
            Err(error) => last_error = error,
        }
    }
    Err(unreachable(last_error))
}

/// `error` and its sources, `: `-separated (reqwest's and tonic's own messages omit the cause).
pub fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}
