//! Ports for the daemons: port 0 means "any free port", and the address actually bound is what
//! a daemon reports on stdout (`listening on HOST:PORT`) for scripts and tests to read.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use crate::DaemonError;

/// Resolves `host:port` to one socket address.
pub fn socket_address(host: &str, port: u16) -> Result<SocketAddr, DaemonError> {
    let address = format!("{host}:{port}");
    let resolved = address
        .to_socket_addrs()
        .map_err(|cause| DaemonError::Bind {
            address: address.clone(),
            cause,
        })?;
    resolved
        .into_iter()
        .next()
        .ok_or_else(|| DaemonError::Bind {
            address,
            cause: std::io::Error::new(std::io::ErrorKind::NotFound, "host has no address"),
        })
}

/// `port` itself when non-zero; otherwise a port that was free on `host` a moment ago.
///
/// Why not hand Ballista a bound listener: its executor binds its Flight and gRPC ports itself
/// and advertises the configured numbers to the scheduler, so it must be given real numbers.
/// Another process could take the port between this check and the executor's bind; the
/// executor then fails to start with "address in use" naming the port — it never runs
/// half-started.
pub fn free_port(host: &str, port: u16) -> Result<u16, DaemonError> {
    if port != 0 {
        return Ok(port);
    }
    let address = socket_address(host, 0)?;
    let listener = TcpListener::bind(address).map_err(|cause| DaemonError::Bind {
        address: address.to_string(),
        cause,
    })?;
    let port = listener
        .local_addr()
        .map_err(|cause| DaemonError::Bind {
            address: address.to_string(),
            cause,
        })?
        .port();
    Ok(port)
}

/// Warns on stderr when `address` is reachable from other machines: Ballista has no
/// authentication, so anyone who can connect can run jobs (and read what executors can read).
pub fn warn_if_exposed(daemon: &str, address: SocketAddr) {
    if !address.ip().is_loopback() {
        tracing::warn!(
            "{daemon} listens on {address}, reachable from other machines, without TLS: anyone who \
             can connect can run jobs. Set ember.cluster.secret (or ember.tls.cert, ember.tls.key \
             and ember.tls.ca), or bind 127.0.0.1 unless the network is trusted."
        );
    }
}
