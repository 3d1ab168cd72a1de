//! # ember-connectors: where data comes from
//!
//! Turns a location — a local path, a `scheme://` URL, a directory or a glob — into a DataFusion
//! table: [`open_dataset`] recognises the [`FileFormatKind`] from file names (or takes it from the
//! caller), turns Hive-style `key=value/` directories into partition columns, and infers the
//! schema. Every failure is a [`ConnectorError`] that names the location.
//!
//! Scanning itself (projection and predicate pushdown, row-group pruning) is DataFusion's
//! `ListingTable`; this crate only decides how a location maps onto one. It knows nothing of
//! sessions, SQL or the CLI.

pub mod dataset;
pub mod format;

pub use dataset::{open_dataset, ConnectorError};
pub use format::{data_file_suffix, format_of_file_name, FileFormatKind, UnknownFormat};
