//! # ember-connectors: where data comes from
//!
//! Turns a location — a local path, a `scheme://` URL, a directory or a glob — into a DataFusion
//! table: [`open_dataset`] recognises the [`FileFormatKind`] from file names (or takes it from the
//! caller), turns Hive-style `key=value/` directories into partition columns, and infers the
//! schema. Every failure is a [`ConnectorError`] that names the location.
//!
//! Locations on object stores (`s3://`, `gs://`, `az://`, `http(s)://`) resolve through
//! [`StoreRegistry`], which builds each bucket's store on first use from the session's
//! [`StoreOptions`] (which `ember-core` carries in the session's `ember` config extension, so the
//! same settings reach a cluster's scheduler and executors with every job).
//!
//! Scanning itself (projection and predicate pushdown, row-group pruning) is DataFusion's
//! `ListingTable`; this crate only decides how a location maps onto one. It knows nothing of
//! sessions, SQL or the CLI.

mod arrow_footer;
mod aws_profile;
pub mod commit;
pub mod dataset;
pub mod format;
pub mod local_dirs;
pub mod partitions;
pub mod store_options;
pub mod stores;
pub mod url_tables;

pub use commit::{StagedWrite, WriteMode};

/// The message a caught panic carried (`panic!` with a string or a format), or `no message`.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    (panic.downcast_ref::<String>().map(String::as_str))
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message")
}
pub use dataset::{open_dataset, ConnectorError};
pub use format::{data_file_suffix, format_of_file_name, FileFormatKind, UnknownFormat};
pub use store_options::{parse_duration, StoreOptions};
pub use stores::StoreRegistry;
pub use url_tables::with_dataset_urls;
