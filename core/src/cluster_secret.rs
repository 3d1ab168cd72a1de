//! A cluster's mutual TLS from one shared secret (`ember.cluster.secret`), Spark's
//! `spark.authenticate` for clusters that have no certificates of their own.
//!
//! Every process that knows the secret derives the same certificate authority from it (an
//! Ed25519 key stretched from the secret with PBKDF2, and a certificate made only of fixed
//! fields), then issues itself a certificate signed by that authority. The cluster then talks
//! the same mutual TLS as with `ember.tls.*`: a peer without the secret cannot complete a
//! handshake, the secret itself never crosses the network, and traffic is encrypted.
//!
//! Why not a token in a request header: Ballista's clients offer no hook to add headers to the
//! calls they make (their only hook configures the connection), a token sent in the clear can
//! be read off the network and replayed, and the TLS path (push scheduling, the REST API,
//! shuffle fetches, tree fits' training channel) is already there.
//!
//! Anyone who can connect sees the derived authority's public key, so a guessable secret could
//! be found offline by trying candidates: secrets shorter than [`MIN_SECRET_BYTES`] are refused
//! and each try costs [`STRETCH_ROUNDS`] HMAC rounds.

use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber, PKCS_ED25519,
};

use crate::config::CLUSTER_SECRET;
use crate::tls::{Tls, TlsError};

/// The shortest secret accepted: 16 bytes, such as 32 hexadecimal digits (`openssl rand -hex 32`
/// makes a good one).
pub const MIN_SECRET_BYTES: usize = 16;

/// PBKDF2-HMAC-SHA256 rounds from the secret to the authority's key: OWASP's 2023 advice is
/// 600,000; this is fewer because every process (each `ember sql` among them) pays it once at
/// start, and the length floor above carries most of the weight.
pub const STRETCH_ROUNDS: u32 = 100_000;

/// The server name every derived certificate carries and every client of a secret-derived
/// cluster expects, whatever host it dials: the certificate proves knowledge of the secret,
/// not a host name.
pub const SERVER_NAME: &str = "ember-cluster";

/// The PKCS#8 v1 header of an Ed25519 private key (RFC 8410), followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Salt of the derivation: names the scheme and its version, so the same secret used elsewhere
/// does not yield the same key.
const SALT: &[u8] = b"ember.cluster.secret/v1/certificate-authority";

/// This process's mutual-TLS identity in the cluster whose members share `secret`.
///
/// # Errors
/// A secret shorter than [`MIN_SECRET_BYTES`], naming the key.
pub fn identity_from_secret(secret: &str) -> Result<Tls, TlsError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(TlsError::new(format!(
            "{CLUSTER_SECRET} is {} bytes; use at least {MIN_SECRET_BYTES} random bytes \
             (for example the output of `openssl rand -hex 32`)",
            secret.len()
        )));
    }
    let failed = |what: &str, error: rcgen::Error| {
        TlsError::new(format!("{CLUSTER_SECRET}: cannot {what}: {error}"))
    };
    let authority_key = authority_key(secret).map_err(|e| failed("derive the key", e))?;
    let authority_params = authority_params();
    let authority = authority_params
        .self_signed(&authority_key)
        .map_err(|e| failed("make the authority", e))?;
    let issuer = Issuer::new(authority_params, authority_key);
    let own_key = KeyPair::generate_for(&PKCS_ED25519).map_err(|e| failed("make a key", e))?;
    let own = own_params()
        .map_err(|e| failed("make a certificate", e))?
        .signed_by(&own_key, &issuer)
        .map_err(|e| failed("sign a certificate", e))?;
    Ok(Tls::from_pem(
        own.pem(),
        own_key.serialize_pem(),
        authority.pem(),
        Some(SERVER_NAME.to_string()),
    ))
}

/// The authority's key: an Ed25519 key whose seed is the stretched secret.
fn authority_key(secret: &str) -> Result<KeyPair, rcgen::Error> {
    let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
    pkcs8.extend_from_slice(&authority_seed(secret));
    KeyPair::try_from(pkcs8)
}

/// The stretched secret, derived once per process and secret: a process that reaches its
/// cluster twice (`ember submit`: its session, then the REST client that follows its jobs)
/// pays the stretching once. Kept by a digest of the secret, never the secret itself.
fn authority_seed(secret: &str) -> [u8; 32] {
    static DERIVED: Mutex<Option<(Vec<u8>, [u8; 32])>> = Mutex::new(None);
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut derived = DERIVED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((of, seed)) = derived.as_ref() {
        if of.as_slice() == digest.as_ref() {
            return *seed;
        }
    }
    let mut seed = [0u8; 32];
    let rounds = NonZeroU32::new(STRETCH_ROUNDS).expect("STRETCH_ROUNDS is not zero");
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        SALT,
        secret.as_bytes(),
        &mut seed,
    );
    *derived = Some((digest.as_ref().to_vec(), seed));
    seed
}

/// The authority's certificate fields: all fixed, so that every process makes the same
/// authority (validity is rcgen's fixed default, 1975 to 4096).
fn authority_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name =
        distinguished_name("Ember cluster authority (ember.cluster.secret)");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(SerialNumber::from(1u64));
    params
}

/// A member's certificate fields: a server and client certificate for [`SERVER_NAME`].
fn own_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(vec![SERVER_NAME.to_string()])?;
    params.distinguished_name = distinguished_name("Ember cluster member");
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    Ok(params)
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn every_process_derives_the_same_authority_and_its_own_certificate() {
        let first = identity_from_secret(SECRET).unwrap();
        let second = identity_from_secret(SECRET).unwrap();
        assert_eq!(first.ca_pem(), second.ca_pem());
        assert_ne!(first.cert_pem(), second.cert_pem());
        let other = identity_from_secret("another secret of enough length").unwrap();
        assert_ne!(first.ca_pem(), other.ca_pem());
    }

    #[test]
    fn a_short_secret_is_refused_naming_the_key() {
        let error = identity_from_secret("short").unwrap_err().to_string();
        assert!(error.contains("ember.cluster.secret is 5 bytes"), "{error}");
    }
}
