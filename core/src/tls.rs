//! Mutual TLS between clients, the scheduler and executors (`ember.tls.cert`, `ember.tls.key`,
//! `ember.tls.ca`): every process presents its certificate and accepts only peers whose
//! certificate the CA signed. Ballista has no authentication of its own; these are the settings
//! for its hooks (endpoint overrides and TLS server configs) built from Ember's configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ballista_core::extension::EndpointOverrideFn;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

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

/// TLS files (`ember.tls.*`) that cannot be used; the message names the file and its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(String);

/// This process's TLS identity and the CA its peers must be signed by.
#[derive(Debug, Clone)]
pub struct Tls {
    identity: Identity,
    ca: Certificate,
}

impl Tls {
    /// Reads the PEM files; an unreadable file or one without a PEM block is an error naming it.
    pub fn load(files: &TlsFiles) -> Result<Tls, TlsError> {
        let cert = read_pem(&files.cert, "ember.tls.cert")?;
        let key = read_pem(&files.key, "ember.tls.key")?;
        let ca = read_pem(&files.ca, "ember.tls.ca")?;
        Ok(Tls {
            identity: Identity::from_pem(cert, key),
            ca: Certificate::from_pem(ca),
        })
    }

    /// For servers: present this identity, require clients signed by the CA.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
    }

    /// For clients: present this identity, accept servers signed by the CA.
    pub fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity.clone())
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
