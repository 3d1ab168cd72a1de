//! Mutual TLS between clients, the scheduler and executors (`ember.tls.cert`, `ember.tls.key`,
//! `ember.tls.ca`, or an identity derived from `ember.cluster.secret`): every process presents
//! its certificate and accepts only peers whose certificate the CA signed. Ballista has no
//! authentication of its own; these are the settings for its hooks (endpoint overrides and TLS
//! server configs) built from Ember's configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ballista_core::extension::EndpointOverrideFn;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// How long a server waits for a connection's TLS handshake before dropping it (tonic runs
/// handshakes concurrently, so a slow one holds only its own connection).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The files of mutual TLS (`ember.tls.*`), all PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This process's certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The authority every peer's certificate must be signed by.
    pub ca: PathBuf,
}

/// How this process proves it belongs to its cluster: certificates from files
/// (`ember.tls.*`), or an identity derived from the cluster's shared secret
/// (`ember.cluster.secret`, see [`crate::cluster_secret`]).
#[derive(Clone, PartialEq, Eq)]
pub enum ClusterAuth {
    /// Mutual TLS with these files.
    Files(TlsFiles),
    /// Mutual TLS derived from this secret.
    Secret(String),
}

impl std::fmt::Debug for ClusterAuth {
    /// Names the files; never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterAuth::Files(files) => f.debug_tuple("Files").field(files).finish(),
            ClusterAuth::Secret(_) => f.write_str("Secret(<redacted>)"),
        }
    }
}

/// TLS settings (`ember.tls.*`, `ember.cluster.secret`) that cannot be used; the message names
/// the file or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(String);

impl TlsError {
    pub(crate) fn new(message: String) -> Self {
        TlsError(message)
    }
}

/// This process's TLS identity and the CA its peers must be signed by, as PEM text (the REST
/// client needs it as text, tonic as its own types).
#[derive(Clone)]
pub struct Tls {
    cert: String,
    key: String,
    ca: String,
    server_name: Option<String>,
}

impl std::fmt::Debug for Tls {
    /// Everything but the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("ca", &self.ca)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// The identity `auth` names: the files read, or the one derived from the secret.
    pub fn load(auth: &ClusterAuth) -> Result<Tls, TlsError> {
        match auth {
            ClusterAuth::Files(files) => Self::read(files),
            ClusterAuth::Secret(secret) => crate::cluster_secret::identity_from_secret(secret),
        }
    }

    /// Reads the PEM files; an unreadable file or one without a PEM block is an error naming it.
    pub fn read(files: &TlsFiles) -> Result<Tls, TlsError> {
        Ok(Self::from_pem(
            read_pem(&files.cert, "ember.tls.cert")?,
            read_pem(&files.key, "ember.tls.key")?,
            read_pem(&files.ca, "ember.tls.ca")?,
            None,
        ))
    }

    /// An identity from PEM text: `cert` and its `key`, the `ca` peers must be signed by, and
    /// the `server_name` to expect in servers' certificates instead of the host dialled.
    pub fn from_pem(cert: String, key: String, ca: String, server_name: Option<String>) -> Tls {
        Tls {
            cert,
            key,
            ca,
            server_name,
        }
    }

    /// This process's certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert
    }

    /// Its private key (PEM).
    pub fn key_pem(&self) -> &str {
        &self.key
    }

    /// The authority peers must be signed by (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca
    }

    /// The name servers' certificates are checked against instead of the host dialled, when
    /// set (the certificates derived from a cluster secret all carry one fixed name).
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert, &self.key)
    }

    fn authority(&self) -> Certificate {
        Certificate::from_pem(&self.ca)
    }

    /// For servers: present this identity, require clients signed by the CA.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity())
            .client_ca_root(self.authority())
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// For clients: present this identity, accept servers signed by the CA.
    pub fn client_config(&self) -> ClientTlsConfig {
        let config = ClientTlsConfig::new()
            .ca_certificate(self.authority())
            .identity(self.identity());
        match &self.server_name {
            Some(name) => config.domain_name(name),
            None => config,
        }
    }

    /// Ballista's hook for every gRPC connection it opens: TLS with this identity. An `http://`
    /// endpoint (Ballista's executors build their scheduler's address that way whatever the
    /// settings) is rebuilt as `https://` with `connect_timeout`, since tonic encrypts only
    /// `https` URIs.
    pub fn endpoint_override(&self, connect_timeout: Duration) -> EndpointOverrideFn {
        let client = self.client_config();
        Arc::new(move |endpoint: Endpoint| {
            let uri = endpoint.uri().to_string();
            let endpoint = match uri.strip_prefix("http://") {
                Some(rest) => Endpoint::from_shared(format!("https://{rest}"))?
                    .connect_timeout(connect_timeout)
                    .tcp_nodelay(true),
                None => endpoint,
            };
            Ok(endpoint.tls_config(client.clone())?)
        })
    }
}

fn read_pem(path: &Path, key: &str) -> Result<String, TlsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|cause| TlsError(format!("cannot read {} ({key}): {cause}", path.display())))?;
    if !text.contains("-----BEGIN ") {
        return Err(TlsError(format!(
            "{} ({key}) is not PEM: no '-----BEGIN' line",
            path.display()
        )));
    }
    Ok(text)
}
