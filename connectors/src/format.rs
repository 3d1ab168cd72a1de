//! File formats Ember reads, and how a format is recognised from a path.

use std::fmt;
use std::str::FromStr;

use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::options::{
    ArrowReadOptions, CsvReadOptions, JsonReadOptions, ParquetReadOptions,
};
use datafusion::datasource::listing::ListingOptions;
use datafusion::execution::context::SessionState;
use datafusion::execution::options::ReadOptions;

/// A file format a dataset can be stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormatKind {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
    /// Newline-delimited JSON (one object per line).
    Json,
    /// Arrow IPC files.
    Arrow,
}

impl FileFormatKind {
    /// Every format, in the order error messages list them.
    pub const ALL: [FileFormatKind; 4] = [Self::Parquet, Self::Csv, Self::Json, Self::Arrow];

    /// The canonical name, as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Arrow => "arrow",
        }
    }

    /// Recognises a format from a file extension (without the dot), e.g. `parquet`, `csv`,
    /// `ndjson`. Case-insensitive.
    pub fn from_extension(extension: &str) -> Option<Self> {
        match extension.to_ascii_lowercase().as_str() {
            "parquet" | "parq" => Some(Self::Parquet),
            "csv" | "tsv" => Some(Self::Csv),
            "json" | "ndjson" | "jsonl" => Some(Self::Json),
            "arrow" | "ipc" | "feather" => Some(Self::Arrow),
            _ => None,
        }
    }

    /// DataFusion listing options for this format, honouring the session's table options.
    /// `compression` applies to the text formats (CSV, JSON).
    pub(crate) fn listing_options(
        self,
        state: &SessionState,
        compression: FileCompressionType,
    ) -> ListingOptions {
        let config = state.config();
        let table_options = state.default_table_options();
        match self {
            Self::Parquet => {
                ParquetReadOptions::default().to_listing_options(config, table_options)
            }
            Self::Csv => CsvReadOptions::new()
                .file_compression_type(compression)
                .to_listing_options(config, table_options),
            Self::Json => JsonReadOptions::default()
                .file_compression_type(compression)
                .to_listing_options(config, table_options),
            Self::Arrow => ArrowReadOptions::default().to_listing_options(config, table_options),
        }
    }
}

impl fmt::Display for FileFormatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for a format name that is not one of [`FileFormatKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown file format '{0}' (expected parquet, csv, json or arrow)")]
pub struct UnknownFormat(pub String);

impl FromStr for FileFormatKind {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_extension(name).ok_or_else(|| UnknownFormat(name.to_string()))
    }
}

/// A file name's format and compression, from its extensions: `part-0.csv.gz` is CSV, gzip.
/// Returns `None` when the name has no recognised format extension.
pub fn format_of_file_name(name: &str) -> Option<(FileFormatKind, FileCompressionType)> {
    let mut extensions = name.rsplit('.');
    let last = extensions.next()?;
    let compression = FileCompressionType::from_str(last)
        .ok()
        .filter(|c| c.is_compressed());
    let format_extension = match compression {
        Some(_) => extensions.next()?,
        None => last,
    };
    if !name.contains('.') {
        return None;
    }
    FileFormatKind::from_extension(format_extension).map(|format| {
        (
            format,
            compression.unwrap_or(FileCompressionType::UNCOMPRESSED),
        )
    })
}

/// The format (and compression) suffix of a data file name, dot included: `.parquet` for
/// `part-00000-c000.snappy.parquet`, `.csv.gz` for `2024.01.csv.gz`. `None` when the name has no
/// recognised format extension.
pub fn data_file_suffix(name: &str) -> Option<&str> {
    let (_, compression) = format_of_file_name(name)?;
    let segments = if compression.is_compressed() { 2 } else { 1 };
    let (start, _) = name.rmatch_indices('.').nth(segments - 1)?;
    Some(&name[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_file_names() {
        assert_eq!(
            format_of_file_name("lineitem.parquet"),
            Some((FileFormatKind::Parquet, FileCompressionType::UNCOMPRESSED))
        );
        assert_eq!(
            format_of_file_name("part-0.csv.gz"),
            Some((FileFormatKind::Csv, FileCompressionType::GZIP))
        );
        assert_eq!(
            format_of_file_name("events.ndjson.zst"),
            Some((FileFormatKind::Json, FileCompressionType::ZSTD))
        );
        assert_eq!(format_of_file_name("README"), None);
        assert_eq!(format_of_file_name("notes.txt"), None);
        assert_eq!(format_of_file_name("gz"), None);
    }

    #[test]
    fn suffixes_keep_only_format_and_compression() {
        assert_eq!(
            data_file_suffix("part-00000-c000.snappy.parquet"),
            Some(".parquet")
        );
        assert_eq!(data_file_suffix("2024.01.csv.gz"), Some(".csv.gz"));
        assert_eq!(data_file_suffix("notes.txt"), None);
    }

    #[test]
    fn format_names() {
        assert_eq!(
            "PARQUET".parse::<FileFormatKind>(),
            Ok(FileFormatKind::Parquet)
        );
        assert_eq!(
            "xlsx".parse::<FileFormatKind>().unwrap_err().to_string(),
            "unknown file format 'xlsx' (expected parquet, csv, json or arrow)"
        );
    }
}
