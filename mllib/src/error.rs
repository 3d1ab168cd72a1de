//! The errors of fitting and applying models.

use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;

/// Result with an [`MlError`].
pub type Result<T, E = MlError> = std::result::Result<T, E>;

/// Why a fit or transform failed. Each variant names the parameter or column at fault.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// A parameter outside its allowed values, found when `fit` validates the parameters.
    #[error("invalid parameter {param}: {reason}")]
    InvalidParam {
        /// The parameter's name, as its builder method spells it.
        param: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A feature column the input does not have.
    #[error("column '{column}' not found; available columns: {available}")]
    UnknownColumn {
        /// The missing column.
        column: String,
        /// The input's columns, comma-separated.
        available: String,
    },
    /// A feature column that is not numeric.
    #[error("column '{column}' has type {data_type}; a numeric column is required")]
    NotNumeric {
        /// The column.
        column: String,
        /// Its type.
        data_type: DataType,
    },
    /// A feature column without a single non-null, non-NaN value to fit on.
    #[error("column '{column}' has no valid values (all {rows} rows are null or NaN)")]
    NoValidValues {
        /// The column.
        column: String,
        /// Rows in the input.
        rows: u64,
    },
    /// Rows whose features are null or NaN, met by a stage whose `handle_invalid` is `error`.
    #[error(
        "{rows} rows have a null or NaN value in the features ({columns}); \
         filter them out or set handle_invalid to 'skip' or 'keep'"
    )]
    InvalidRows {
        /// How many rows.
        rows: u64,
        /// The feature columns, comma-separated.
        columns: String,
    },
    /// Null or NaN values in a column, met by a stage whose `handle_invalid` is `error`.
    #[error(
        "column '{column}' has {values} null or NaN values; filter them out or set \
         handle_invalid to 'skip' or 'keep'"
    )]
    InvalidValues {
        /// The column.
        column: String,
        /// How many values.
        values: u64,
    },
    /// Values a stage cannot learn from in a (non-label) column.
    #[error("invalid values in column '{column}': {reason}")]
    InvalidColumn {
        /// The column.
        column: String,
        /// What is wrong with its values.
        reason: String,
    },
    /// Label values the estimator cannot learn from.
    #[error("invalid label column '{column}': {reason}")]
    InvalidLabel {
        /// The label column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// Too few rows with valid features to fit on.
    #[error("cannot fit {estimator}: {reason}")]
    NotEnoughRows {
        /// The estimator, as its type is named.
        estimator: &'static str,
        /// How many rows there were and how many are needed.
        reason: String,
    },
    /// An option of `CREATE MODEL ... OPTIONS (...)` that is unknown or of the wrong kind.
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option's name.
        option: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A model could not be saved or loaded.
    #[error("model at {location}: {reason}")]
    Persist {
        /// Where the model was to be saved or loaded.
        location: String,
        /// What went wrong.
        reason: String,
    },
    /// The tasks that hold a distributed fit's rows failed, or could not all run at once.
    #[error("distributed training failed: {reason}")]
    Training {
        /// What went wrong, naming the task or setting at fault.
        reason: String,
    },
    /// The memory budget cannot hold what a tree fit needs: its rows, its histograms, or the
    /// trees it would grow together.
    #[error("tree fit out of memory: {reason}")]
    OutOfMemory {
        /// What needed how much, and what the budget has.
        reason: String,
    },
    /// The query engine failed while fitting or transforming.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}
