//! Opening a dataset — one file, a directory (optionally Hive-partitioned) or a glob — as a
//! DataFusion `ListingTable`.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use futures::{FutureExt, TryStreamExt};
use object_store::ObjectStoreExt;

use crate::arrow_footer::footer_schema;
use crate::commit::finish_appends;
use crate::format::{data_file_suffix, format_of_file_name, FileFormatKind};
use crate::local_dirs::restore_replaced;
use crate::partitions::typed_partition_columns;

/// A dataset that cannot be opened. Every variant names the location.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The path does not exist.
    #[error("no such file or directory: {location}")]
    NotFound {
        /// The location as given.
        location: String,
    },
    /// A directory or glob that holds no data files.
    #[error("no data files found at {location}")]
    NoFiles {
        /// The location as given.
        location: String,
    },
    /// No format was given and the file names do not tell it.
    #[error(
        "cannot tell the file format of {location} from '{file}'; name it explicitly \
         (parquet, csv, json or arrow)"
    )]
    UnknownFormat {
        /// The location as given.
        location: String,
        /// The first data file found there.
        file: String,
    },
    /// A file of the dataset cannot be read (e.g. a corrupt or truncated Parquet footer).
    #[error("cannot read {file} (in {location}): {cause}")]
    UnreadableFile {
        /// The location as given.
        location: String,
        /// The file at fault.
        file: String,
        /// The reader's error.
        cause: DataFusionError,
    },
    /// A write to `target` cannot start or be committed; `target` is left as it was.
    #[error("cannot write {target}: {cause}")]
    Write {
        /// The target as given.
        target: String,
        /// Why.
        cause: String,
    },
    /// Listing, schema inference or partition inference failed.
    #[error("cannot open {location}: {cause}")]
    Open {
        /// The location as given.
        location: String,
        /// What went wrong, from DataFusion or the object store.
        cause: DataFusionError,
    },
}

impl ConnectorError {
    fn open(location: &str) -> impl FnOnce(DataFusionError) -> ConnectorError + '_ {
        move |cause| ConnectorError::Open {
            location: location.to_string(),
            cause,
        }
    }
}

/// Opens the dataset at `location` — a local path, a `scheme://` URL, a directory or a glob — as
/// a table. The format is `format` when given, else recognised from the file extensions (with
/// `.gz`, `.zst`, `.bz2`, `.xz` compression suffixes). Hive-style `key=value/` directories become
/// partition columns. The schema is inferred from the files.
pub async fn open_dataset(
    state: &SessionState,
    location: &str,
    format: Option<FileFormatKind>,
) -> Result<Arc<ListingTable>, ConnectorError> {
    let url = table_url(state, location).await?;
    let first_file = first_data_file(state, &url, location).await?;
    let detected = format_of_file_name(&first_file);
    let (format, compression) = match (format, detected) {
        (Some(given), Some((found, compression))) if given == found => (given, compression),
        (Some(given), _) => (given, FileCompressionType::UNCOMPRESSED),
        (None, Some(found)) => found,
        (None, None) => {
            return Err(ConnectorError::UnknownFormat {
                location: location.to_string(),
                file: first_file,
            })
        }
    };
    // Only files with the same suffix as the first data file belong to the dataset, so that
    // markers such as `_SUCCESS` or checksum files are skipped. A format given for files without
    // a recognised suffix reads every file.
    let suffix = data_file_suffix(&first_file)
        .unwrap_or_default()
        .to_string();
    let options = format
        .listing_options(state, compression)
        .with_file_extension(suffix);
    let config = ListingTableConfig::new(url.clone())
        .with_listing_options(options.clone())
        .infer_partitions_from_path(state)
        .await
        .map_err(ConnectorError::open(location))?;
    let config = with_typed_partitions(state, config, &url)
        .await
        .map_err(ConnectorError::open(location))?;
    let config = match format {
        FileFormatKind::Arrow if !url.as_str().starts_with("file://") => {
            match arrow_files_schema(state, &url, &options).await {
                Ok(schema) => Ok(config.with_schema(Arc::new(schema))),
                Err((file, cause)) => {
                    return Err(ConnectorError::UnreadableFile {
                        location: location.to_string(),
                        file,
                        cause,
                    })
                }
            }
        }
        _ => contained(config.infer_schema(state)).await,
    };
    let config = match config {
        Ok(config) => config,
        Err(cause) => {
            return Err(name_unreadable_file(state, &url, &options, location, cause).await)
        }
    };
    let table = ListingTable::try_new(config).map_err(ConnectorError::open(location))?;
    Ok(Arc::new(table))
}

/// `config` with integer Hive partition columns typed `Int64` ([`typed_partition_columns`]),
/// from one listing of the dataset's files.
async fn with_typed_partitions(
    state: &SessionState,
    mut config: ListingTableConfig,
    url: &ListingTableUrl,
) -> Result<ListingTableConfig, DataFusionError> {
    let Some(options) = config.options.as_mut() else {
        return Ok(config);
    };
    if options.table_partition_cols.is_empty() {
        return Ok(config);
    }
    let store = state.runtime_env().object_store(url)?;
    let files: Vec<_> = url
        .list_all_files(state, store.as_ref(), &options.file_extension)
        .await?
        .try_collect()
        .await?;
    let root = url.prefix().as_ref();
    let relative = files.iter().map(|file| {
        let path = file.location.as_ref();
        path.strip_prefix(root)
            .unwrap_or(path)
            .trim_start_matches('/')
    });
    options.table_partition_cols = typed_partition_columns(&options.table_partition_cols, relative);
    Ok(config)
}

/// The merged schema of the Arrow IPC files of a dataset on an object store, from their footers
/// (see [`crate::arrow_footer`]); the error names the file that cannot be read or merged.
async fn arrow_files_schema(
    state: &SessionState,
    url: &ListingTableUrl,
    options: &ListingOptions,
) -> Result<Schema, (String, DataFusionError)> {
    let listing_failed = |cause: DataFusionError| (url.to_string(), cause);
    let store = state
        .runtime_env()
        .object_store(url)
        .map_err(listing_failed)?;
    let files: Vec<_> = url
        .list_all_files(state, store.as_ref(), &options.file_extension)
        .await
        .map_err(listing_failed)?
        .try_collect()
        .await
        .map_err(listing_failed)?;
    let mut merged = Schema::empty();
    for file in &files {
        let named = |cause: DataFusionError| (file.location.to_string(), cause);
        let schema = footer_schema(store.as_ref(), file).await.map_err(named)?;
        merged = Schema::try_merge([merged, schema]).map_err(|e| named(e.into()))?;
    }
    Ok(merged)
}

/// Schema inference reads every file's metadata but its error does not say which file failed:
/// find it by reading them one at a time (only on this error path), so the error names it — a
/// file that cannot be read, or the first whose schema cannot merge with those before it.
async fn name_unreadable_file(
    state: &SessionState,
    url: &ListingTableUrl,
    options: &ListingOptions,
    location: &str,
    cause: DataFusionError,
) -> ConnectorError {
    let culprit = async {
        let store = state.runtime_env().object_store(url).ok()?;
        let files: Vec<_> = url
            .list_all_files(state, store.as_ref(), &options.file_extension)
            .await
            .ok()?
            .try_collect()
            .await
            .ok()?;
        let mut merged: Option<Schema> = None;
        for file in files {
            let single = std::slice::from_ref(&file);
            let schema = match contained(options.format.infer_schema(state, &store, single)).await {
                Ok(schema) => schema,
                Err(error) => return Some((file.location.to_string(), error)),
            };
            let next = match merged.take() {
                None => Ok(schema.as_ref().clone()),
                Some(so_far) => Schema::try_merge([so_far, schema.as_ref().clone()]),
            };
            match next {
                Ok(schema) => merged = Some(schema),
                Err(error) => return Some((file.location.to_string(), error.into())),
            }
        }
        None
    };
    match culprit.await {
        Some((file, cause)) => ConnectorError::UnreadableFile {
            location: location.to_string(),
            file,
            cause,
        },
        None => ConnectorError::open(location)(cause),
    }
}

/// `reading`'s outcome, with a panic turned into an error. Why: readers of file formats can
/// panic on a corrupt file (arrow-rs 59's Parquet footer decoder subtracts a length read from
/// the file from the file's size unchecked: an overflow panic in a debug build), and a panic
/// here would end the statement, or a caller without a guard, instead of naming the file.
async fn contained<T>(
    reading: impl std::future::Future<Output = Result<T, DataFusionError>>,
) -> Result<T, DataFusionError> {
    match std::panic::AssertUnwindSafe(reading).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(DataFusionError::External(
            format!(
                "corrupt file (its reader panicked: {})",
                crate::panic_message(panic.as_ref())
            )
            .into(),
        )),
    }
}

/// Parses `location` into a listing URL. A plain local path (not a glob) must exist. On an
/// object store, where directories are only key prefixes, a location without a trailing `/` is
/// a directory if objects have it as prefix, else the object with that key, which must exist.
/// An `http(s)://` location names one file (HTTP has no listing).
async fn table_url(
    state: &SessionState,
    location: &str,
) -> Result<ListingTableUrl, ConnectorError> {
    let is_glob = location.contains(['*', '?', '[']);
    let local_path = location
        .strip_prefix("file://")
        .or_else(|| (!location.contains("://")).then_some(location));
    let not_found = || ConnectorError::NotFound {
        location: location.to_string(),
    };
    if let Some(path) = local_path {
        if !is_glob && !Path::new(path).exists() {
            // An overwrite killed midway without an atomic exchange left the old dataset aside.
            restore_replaced(Path::new(path))
                .map_err(|cause| ConnectorError::open(location)(cause.into()))?;
        }
        if !is_glob && !Path::new(path).exists() {
            return Err(not_found());
        }
        if !is_glob {
            // An append killed while it moved its files in is finished before any is read.
            finish_appends(Path::new(path))
                .map_err(|cause| ConnectorError::open(location)(cause.into()))?;
        }
        return ListingTableUrl::parse(location).map_err(ConnectorError::open(location));
    }
    let url = ListingTableUrl::parse(location).map_err(ConnectorError::open(location))?;
    // Plain HTTP servers cannot list, so an http(s) location is always one file.
    let is_http = ["http://", "https://"]
        .iter()
        .any(|s| location.starts_with(s));
    if is_glob || is_http || url.is_collection() {
        return Ok(url);
    }
    let store = state
        .runtime_env()
        .object_store(&url)
        .map_err(ConnectorError::open(location))?;
    let directory =
        ListingTableUrl::parse(format!("{location}/")).map_err(ConnectorError::open(location))?;
    // The prefix first: some S3-compatible servers answer a HEAD of a "directory" key with an
    // error rather than "not found".
    let mut objects = store.list(Some(directory.prefix()));
    match objects.try_next().await {
        Ok(Some(_)) => return Ok(directory),
        Ok(None) => {}
        Err(cause) => return Err(ConnectorError::open(location)(cause.into())),
    }
    match store.head(url.prefix()).await {
        Ok(_) => Ok(url),
        Err(object_store::Error::NotFound { .. }) => Err(not_found()),
        Err(cause) => Err(ConnectorError::open(location)(cause.into())),
    }
}

/// The file name (last path segment) of the first non-hidden file of the dataset.
async fn first_data_file(
    state: &SessionState,
    url: &ListingTableUrl,
    location: &str,
) -> Result<String, ConnectorError> {
    let store = state
        .runtime_env()
        .object_store(url)
        .map_err(ConnectorError::open(location))?;
    let mut files = url
        .list_all_files(state, store.as_ref(), "")
        .await
        .map_err(ConnectorError::open(location))?;
    while let Some(meta) = files
        .try_next()
        .await
        .map_err(ConnectorError::open(location))?
    {
        let name = meta.location.filename().unwrap_or_default();
        if !name.is_empty() && !name.starts_with(['_', '.']) {
            return Ok(name.to_string());
        }
    }
    Err(ConnectorError::NoFiles {
        location: location.to_string(),
    })
}
