//! [`EmberOptions`]: the `ember` extension of a session's DataFusion configuration. It is what
//! `SHOW ALL` and `SHOW ember.<key>` list (every declared key, from [`all_keys`]), what SQL `SET`
//! changes, and what travels with every job to a cluster's scheduler and executors.

use std::any::Any;
use std::collections::BTreeMap;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::{DataFusionError, Result};
use ember_connectors::store_options::is_secret;
use ember_connectors::StoreOptions;

use super::keys::{all_keys, declared_key, OWN_KEYS};

/// The `ember.*` settings of one session.
///
/// - Object-store settings: stores are built on first use from [`EmberOptions::stores`].
/// - Ember's own keys ([`OWN_KEYS`]), as text, for `SHOW`: most are read once, when the process
///   resolves its configuration (memory pool, master, TLS); the client session decides which a
///   SQL `SET` may change.
///
/// Every value is validated as its declared kind when set, so a value received with a job is
/// checked like one from the command line.
///
/// Secrets (the store keys of kind secret): what these options list (`SHOW ALL`) is what a job
/// carries to a cluster, since Ballista sends a session's configuration as its entries. A
/// client session that does not send its secrets ([`EmberOptions::new`]) lists each as
/// [`REDACTED`], which a receiving process ignores, resolving credentials from its own
/// environment instead. A scheduler's or executor's options (the default) pass on what they
/// received.
#[derive(Debug, Clone)]
pub struct EmberOptions {
    stores: StoreOptions,
    own: BTreeMap<&'static str, String>,
    send_secrets: bool,
}

/// What a secret's value is listed as where it is not sent.
pub const REDACTED: &str = "<redacted>";

impl Default for EmberOptions {
    /// The options of a process that receives jobs: empty until a job's settings are set, and
    /// passing on the secrets among them.
    fn default() -> Self {
        Self::new(BTreeMap::new(), StoreOptions::default(), true)
    }
}

impl EmberOptions {
    /// The settings of a session: `own` holds the text of each of Ember's own keys that was
    /// set (the others show their declared defaults), `stores` the object-store settings;
    /// `send_secrets` whether its secrets are listed, and so sent with its jobs, or
    /// [`REDACTED`].
    pub fn new(
        own: BTreeMap<&'static str, String>,
        stores: StoreOptions,
        send_secrets: bool,
    ) -> Self {
        Self {
            stores,
            own,
            send_secrets,
        }
    }

    /// The object-store settings.
    pub fn stores(&self) -> &StoreOptions {
        &self.stores
    }

    /// The value `SHOW` gives `name` (a declared key): set, else the declared default; a secret
    /// this session does not send is [`REDACTED`].
    fn value(&self, name: &str) -> Option<&str> {
        if let Some(own) = self.own.get(name) {
            return Some(own);
        }
        let value = self.stores.get(name)?;
        Some(if is_secret(name) && !self.send_secrets {
            REDACTED
        } else {
            value
        })
    }
}

impl ExtensionOptions for EmberOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    /// `key` comes without the `ember.` prefix (DataFusion strips the extension's prefix).
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let name = format!("{}.{key}", Self::PREFIX);
        let declared = declared_key(&name).ok_or_else(|| {
            DataFusionError::Configuration(format!("unknown configuration key '{name}'"))
        })?;
        let value = value.trim();
        declared.kind.check(value).map_err(|reason| {
            DataFusionError::Configuration(format!(
                "invalid value '{value}' for '{}': {reason}",
                declared.name
            ))
        })?;
        if OWN_KEYS.iter().any(|own| own.name == declared.name) {
            self.own.insert(declared.name, value.to_string());
            return Ok(());
        }
        if value == REDACTED && is_secret(declared.name) {
            // A secret the sender withheld: this process's own credentials apply.
            return Ok(());
        }
        self.stores
            .set(declared.name, value)
            .map_err(|unknown| DataFusionError::Configuration(unknown.to_string()))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        all_keys()
            .map(|key| ConfigEntry {
                key: key.name.to_string(),
                value: self.value(key.name).or(key.default).map(str::to_string),
                description: key.doc,
            })
            .collect()
    }
}

impl ConfigExtension for EmberOptions {
    const PREFIX: &'static str = "ember";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BATCH_SIZE, MEMORY_LIMIT};
    use ember_connectors::store_options::{S3_REGION, S3_SECRET_ACCESS_KEY, STORE_MAX_RETRIES};

    fn value<'a>(entries: &'a [ConfigEntry], key: &str) -> Option<&'a str> {
        let entry = entries.iter().find(|e| e.key == key).expect(key);
        entry.value.as_deref()
    }

    #[test]
    fn every_declared_key_is_listed_with_its_value_or_default() {
        let fixed = BTreeMap::from([(MEMORY_LIMIT, "2g".to_string())]);
        let mut options = EmberOptions::new(fixed, StoreOptions::default(), true);
        ExtensionOptions::set(&mut options, "s3.region", "eu-west-1").unwrap();
        let entries = options.entries();
        assert_eq!(entries.len(), all_keys().count());
        assert_eq!(value(&entries, MEMORY_LIMIT), Some("2g"));
        assert_eq!(value(&entries, BATCH_SIZE), Some("8192"));
        assert_eq!(value(&entries, S3_REGION), Some("eu-west-1"));
        assert_eq!(value(&entries, STORE_MAX_RETRIES), Some("5"));
        assert_eq!(value(&entries, S3_SECRET_ACCESS_KEY), None);
    }

    #[test]
    fn values_are_validated_and_travel_with_a_job() {
        let mut options = EmberOptions::default();
        let bad = ExtensionOptions::set(&mut options, "memory.limit", "lots").unwrap_err();
        assert!(bad.to_string().contains("'ember.memory.limit'"), "{bad}");
        let unknown = ExtensionOptions::set(&mut options, "s3.bucket", "x").unwrap_err();
        assert!(unknown.to_string().contains("ember.s3.bucket"), "{unknown}");
        ExtensionOptions::set(&mut options, "s3.secret.access.key", "hunter2").unwrap();
        ExtensionOptions::set(&mut options, "batch.size", "100").unwrap();
        // As a job's settings reach an executor (Ballista's `update_from_key_value_pair`).
        let mut received = EmberOptions::default();
        for entry in options.entries() {
            if let Some(value) = entry.value {
                let key = entry.key.strip_prefix("ember.").unwrap();
                ExtensionOptions::set(&mut received, key, &value).unwrap();
            }
        }
        assert_eq!(received.stores().get(S3_SECRET_ACCESS_KEY), Some("hunter2"));
        assert_eq!(value(&received.entries(), BATCH_SIZE), Some("100"));
    }

    #[test]
    fn a_session_that_does_not_send_its_secrets_lists_them_redacted_and_receivers_ignore_that() {
        let mut stores = StoreOptions::default();
        stores.set(S3_SECRET_ACCESS_KEY, "hunter2").unwrap();
        stores.set(S3_REGION, "eu-west-1").unwrap();
        let withheld = EmberOptions::new(BTreeMap::new(), stores.clone(), false);
        let entries = withheld.entries();
        assert_eq!(value(&entries, S3_SECRET_ACCESS_KEY), Some(REDACTED));
        assert_eq!(value(&entries, S3_REGION), Some("eu-west-1"));
        assert!(!format!("{entries:?}").contains("hunter2"));
        // The session itself still uses its secret.
        assert_eq!(withheld.stores().get(S3_SECRET_ACCESS_KEY), Some("hunter2"));
        let mut received = EmberOptions::default();
        for entry in entries {
            if let Some(value) = entry.value {
                let key = entry.key.strip_prefix("ember.").unwrap();
                ExtensionOptions::set(&mut received, key, &value).unwrap();
            }
        }
        assert_eq!(received.stores().get(S3_SECRET_ACCESS_KEY), None);
        assert_eq!(received.stores().get(S3_REGION), Some("eu-west-1"));
        let sent = EmberOptions::new(BTreeMap::new(), stores, true);
        assert_eq!(
            value(&sent.entries(), S3_SECRET_ACCESS_KEY),
            Some("hunter2")
        );
    }
}
