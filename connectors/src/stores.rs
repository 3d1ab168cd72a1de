//! `StoreRegistry`: DataFusion's object-store registry for Ember, which creates the store of a
//! URL (`s3://bucket`, `gs://bucket`, `az://container`, `https://host`, `file://`) the first
//! time a query touches it, from the session's [`StoreOptions`].
//!
//! DataFusion's default registry knows only stores registered in advance; a registry that builds
//! them on first use means any `s3://...` location works in SQL without a registration step, and
//! only the buckets a query touches get clients.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use url::Url;

use crate::store_options::*;

/// Object stores by `scheme://authority`, created on first use from [`StoreOptions`].
#[derive(Debug)]
pub struct StoreRegistry {
    options: StoreOptions,
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl StoreRegistry {
    /// A registry that builds stores from `options` (local files need none).
    pub fn new(options: StoreOptions) -> Self {
        Self {
            options,
            stores: RwLock::new(HashMap::new()),
        }
    }
}

/// The registry key of `url`: scheme and authority (bucket, container or host), without
/// credentials, as DataFusion's default registry does.
fn store_key(url: &Url) -> String {
    format!(
        "{}://{}",
        url.scheme(),
        &url[url::Position::BeforeHost..url::Position::AfterPort]
    )
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        stores.insert(store_key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        stores.remove(&store_key(url)).ok_or_else(|| {
            DataFusionError::Execution(format!("no object store is registered for {url}"))
        })
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(store) = self
            .stores
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(store));
        }
        let built = build_store(url, &self.options)?;
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        Ok(Arc::clone(stores.entry(key).or_insert(built)))
    }
}

/// The store serving `url`, configured from `options`. Cloud stores start from the process's
/// own environment (`AWS_*`, `GOOGLE_*`, `AZURE_*` variables, instance credentials), which the
/// configured keys override.
fn build_store(url: &Url, options: &StoreOptions) -> Result<Arc<dyn ObjectStore>> {
    let bucket = url.host_str().unwrap_or_default();
    let store_error = |cause: object_store::Error| {
        DataFusionError::Configuration(format!("cannot use object store {url}: {cause}"))
    };
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "file" => Arc::new(LocalFileSystem::new()),
        "s3" | "s3a" => {
            // Credentials resolve here, from this process's environment, when the options
            // (configured, or received with a job) have none: never before a store is needed.
            let options = &options
                .clone()
                .with_aws_environment(&|name| std::env::var(name).ok());
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_client_options(client_options(options)?)
                .with_retry(retry_config(options)?);
            if let Some(endpoint) = options.get(S3_ENDPOINT) {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            if let Some(path_style) = options.flag(S3_PATH_STYLE)? {
                builder = builder.with_virtual_hosted_style_request(!path_style);
            }
            for (key, set) in [
                (S3_REGION, AmazonS3Builder::with_region as fn(_, _) -> _),
                (S3_ACCESS_KEY_ID, AmazonS3Builder::with_access_key_id),
                (
                    S3_SECRET_ACCESS_KEY,
                    AmazonS3Builder::with_secret_access_key,
                ),
                (S3_SESSION_TOKEN, AmazonS3Builder::with_token),
            ] {
                if let Some(value) = options.get(key) {
                    builder = set(builder, value.to_string());
                }
            }
            Arc::new(builder.build().map_err(store_error)?)
        }
        "gs" | "gcs" => {
            let mut builder = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_client_options(client_options(options)?)
                .with_retry(retry_config(options)?);
            if let Some(path) = options.get(GCS_SERVICE_ACCOUNT_PATH) {
                builder = builder.with_service_account_path(path);
            }
            if let Some(key) = options.get(GCS_SERVICE_ACCOUNT_KEY) {
                builder = builder.with_service_account_key(key);
            }
            Arc::new(builder.build().map_err(store_error)?)
        }
        "az" | "azure" | "abfs" | "abfss" | "adl" => {
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .with_client_options(client_options(options)?)
                .with_retry(retry_config(options)?);
            if let Some(account) = options.get(AZURE_ACCOUNT_NAME) {
                builder = builder.with_account(account);
            }
            if let Some(key) = options.get(AZURE_ACCOUNT_KEY) {
                builder = builder.with_access_key(key);
            }
            if let Some(endpoint) = options.get(AZURE_ENDPOINT) {
                builder = builder
                    .with_endpoint(endpoint.to_string())
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            Arc::new(builder.build().map_err(store_error)?)
        }
        "http" | "https" => {
            let base = &url[..url::Position::AfterPort];
            let builder = HttpBuilder::new()
                .with_url(base)
                .with_client_options(client_options(options)?.with_allow_http(true))
                .with_retry(retry_config(options)?);
            Arc::new(builder.build().map_err(store_error)?)
        }
        other => {
            return Err(DataFusionError::Configuration(format!(
                "no object store for '{other}://' in {url} (Ember reads file://, s3://, gs://, \
                 az://, abfss://, http:// and https:// locations)"
            )))
        }
    };
    Ok(store)
}

/// Connection and request timeouts (`ember.store.connect.timeout`, `ember.store.request.timeout`).
fn client_options(options: &StoreOptions) -> Result<ClientOptions> {
    let mut client = ClientOptions::new();
    if let Some(timeout) = options.duration(STORE_CONNECT_TIMEOUT)? {
        client = client.with_connect_timeout(timeout);
    }
    if let Some(timeout) = options.duration(STORE_REQUEST_TIMEOUT)? {
        client = client.with_timeout(timeout);
    }
    Ok(client)
}

/// Retries of failed requests (`ember.store.max.retries`, `ember.store.retry.timeout`), with
/// `object_store`'s exponential backoff.
fn retry_config(options: &StoreOptions) -> Result<RetryConfig> {
    let mut retry = RetryConfig::default();
    if let Some(retries) = options.count(STORE_MAX_RETRIES)? {
        retry.max_retries = retries;
    }
    if let Some(timeout) = options.duration(STORE_RETRY_TIMEOUT)? {
        retry.retry_timeout = timeout;
    }
    Ok(retry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(pairs: &[(&str, &str)]) -> StoreRegistry {
        let mut options = StoreOptions::default();
        for (key, value) in pairs {
            options.set(key, value).unwrap();
        }
        StoreRegistry::new(options)
    }

    #[test]
    fn stores_are_built_once_per_bucket() {
        let registry = registry(&[
            (S3_ENDPOINT, "http://127.0.0.1:1"),
            (S3_REGION, "us-east-1"),
            (S3_ACCESS_KEY_ID, "k"),
            (S3_SECRET_ACCESS_KEY, "s"),
        ]);
        let url = |text: &str| Url::parse(text).unwrap();
        let first = registry.get_store(&url("s3://one/a/b.parquet")).unwrap();
        let again = registry.get_store(&url("s3://one/c")).unwrap();
        let other = registry.get_store(&url("s3://two/")).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(!Arc::ptr_eq(&first, &other));
        assert!(registry.get_store(&url("file:///tmp")).is_ok());
    }

    #[test]
    fn unknown_schemes_and_bad_settings_are_named() {
        let registry = registry(&[(STORE_MAX_RETRIES, "many")]);
        let error = registry
            .get_store(&Url::parse("ftp://host/data").unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("'ftp://'"), "{error}");
        let error = registry
            .get_store(&Url::parse("s3://bucket/").unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains(STORE_MAX_RETRIES), "{error}");
    }
}
