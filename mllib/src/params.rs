//! Parameter checks every estimator shares: column lists, output names, invalid-value handling.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use datafusion::dataframe::DataFrame;
use datafusion::functions::expr_fn::isnan;
use datafusion::logical_expr::{lit, Expr};

use crate::error::{MlError, Result};
use crate::summary::numeric_column;

/// The most classes a classifier takes (labels `0` to `MAX_CLASSES - 1`), and so the largest
/// confusion matrix a multiclass evaluation counts (tree learners take fewer, see
/// `trees::protocol::MAX_CLASSES`).
pub const MAX_CLASSES: usize = 10_000;

/// What a stage does with rows whose features are null or NaN (Spark ML's `handleInvalid`).
///
/// - `Error` (the default): fitting fails, naming how many rows are invalid; `transform` fails on
///   the first invalid row it meets.
/// - `Skip`: fitting ignores those rows; `transform` drops them from its output.
/// - `Keep`: fitting ignores those rows; `transform` keeps them, with a null output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum HandleInvalid {
    /// Fail on an invalid row.
    #[default]
    Error,
    /// Drop invalid rows.
    Skip,
    /// Keep invalid rows, with null outputs.
    Keep,
}

impl HandleInvalid {
    /// The setting's name: `error`, `skip` or `keep`.
    pub fn as_str(self) -> &'static str {
        match self {
            HandleInvalid::Error => "error",
            HandleInvalid::Skip => "skip",
            HandleInvalid::Keep => "keep",
        }
    }

    /// Checks a fit's count of rows with a null or NaN feature against this setting.
    pub(crate) fn check_fit(self, invalid_rows: u64, features: &[String]) -> Result<()> {
        if self == HandleInvalid::Error && invalid_rows > 0 {
            return Err(MlError::InvalidRows {
                rows: invalid_rows,
                columns: features.join(", "),
            });
        }
        Ok(())
    }
}

impl fmt::Display for HandleInvalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HandleInvalid {
    type Err = MlError;

    fn from_str(value: &str) -> Result<Self> {
        match value.to_ascii_lowercase().as_str() {
            "error" => Ok(HandleInvalid::Error),
            "skip" => Ok(HandleInvalid::Skip),
            "keep" => Ok(HandleInvalid::Keep),
            _ => Err(MlError::InvalidParam {
                param: "handle_invalid",
                reason: format!("'{value}' is not one of error, skip, keep"),
            }),
        }
    }
}

/// Checks that `columns` (the parameter `param`) names at least one column, none twice.
pub(crate) fn check_column_list(param: &'static str, columns: &[String]) -> Result<()> {
    if columns.is_empty() {
        return Err(MlError::InvalidParam {
            param,
            reason: "name at least one column".to_string(),
        });
    }
    if let Some(duplicate) = first_duplicate(columns) {
        return Err(MlError::InvalidParam {
            param,
            reason: format!("'{duplicate}' is named twice"),
        });
    }
    Ok(())
}

/// The feature columns of `data` as `Float64` expressions, after checking the list and that each
/// column exists and is numeric.
pub(crate) fn feature_exprs(data: &DataFrame, features: &[String]) -> Result<Vec<Expr>> {
    check_column_list("features", features)?;
    features
        .iter()
        .map(|column| numeric_column(data, column))
        .collect()
}

/// True where every one of `columns` is neither null nor NaN.
pub(crate) fn all_valid(columns: &[Expr]) -> Expr {
    columns
        .iter()
        .map(|column| {
            column
                .clone()
                .is_not_null()
                .and(Expr::Not(Box::new(isnan(column.clone()))))
        })
        .reduce(Expr::and)
        .unwrap_or(lit(true))
}

/// Fails when `data` already has one of `outputs` (the parameter `param`), which would otherwise
/// be silently replaced.
pub(crate) fn check_absent(
    data: &DataFrame,
    param: &'static str,
    outputs: &[String],
) -> Result<()> {
    match outputs.iter().find(|output| {
        data.schema()
            .fields()
            .iter()
            .any(|field| field.name() == *output)
    }) {
        Some(existing) => Err(MlError::InvalidParam {
            param,
            reason: format!("'{existing}' already exists in the input"),
        }),
        None => Ok(()),
    }
}

/// The first name that occurs twice in `names`.
pub(crate) fn first_duplicate(names: &[String]) -> Option<&str> {
    let mut seen = HashSet::new();
    names
        .iter()
        .find(|name| !seen.insert(name.as_str()))
        .map(String::as_str)
}

/// Fails unless `low <= value <= high`, naming `param`.
pub(crate) fn check_range<T: PartialOrd + fmt::Display>(
    param: &'static str,
    value: T,
    low: T,
    high: T,
) -> Result<()> {
    if value >= low && value <= high {
        Ok(())
    } else {
        Err(MlError::InvalidParam {
            param,
            reason: format!("{value} is outside [{low}, {high}]"),
        })
    }
}

/// Fails unless `value` is finite and at least `low`, naming `param`.
pub(crate) fn check_at_least(param: &'static str, value: f64, low: f64) -> Result<()> {
    if value.is_finite() && value >= low {
        Ok(())
    } else {
        Err(MlError::InvalidParam {
            param,
            reason: format!("{value} is not a finite number >= {low}"),
        })
    }
}

/// The input and output columns of a column-wise stage (a scaler, an encoder...): each input
/// column gets an output column, named by the caller or after the input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Columns {
    /// The columns read, in order.
    pub(crate) inputs: Vec<String>,
    /// The output names, when the caller gave them.
    pub(crate) outputs: Option<Vec<String>>,
}

impl Columns {
    /// `inputs`, outputs named after them.
    pub(crate) fn new(inputs: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            inputs: inputs.into_iter().map(Into::into).collect(),
            outputs: None,
        }
    }

    /// The output names (see [`output_names`]).
    pub(crate) fn output_names(&self, suffix: &str) -> Result<Vec<String>> {
        output_names(&self.inputs, self.outputs.as_deref(), suffix)
    }
}

/// Builder methods of an estimator `$type` that set one field each, to the value given (through
/// `Into`); `name.inner` sets the field `name` of the field `inner`.
macro_rules! setters {
    ($type:ty; $($(#[doc = $doc:literal])* $name:ident $(. $inner:ident)? : $value:ty;)*) => {
        impl $type {
            $(
                $(#[doc = $doc])*
                pub fn $name(mut self, value: $value) -> Self {
                    self $(.$inner)? .$name = value.into();
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

/// The builder method `output_columns` of a stage with a `columns: Columns` field.
macro_rules! output_columns_builder {
    () => {
        /// Names the output columns, one per input column in the same order.
        pub fn output_columns(
            mut self,
            output_columns: impl IntoIterator<Item = impl Into<String>>,
        ) -> Self {
            self.columns.outputs = Some(output_columns.into_iter().map(Into::into).collect());
            self
        }
    };
}
pub(crate) use output_columns_builder;

/// The output columns of a stage over `inputs` (the parameter `input_columns`): `outputs` when
/// given (one per input, none twice), else `<input>_<suffix>` for each input.
pub(crate) fn output_names(
    inputs: &[String],
    outputs: Option<&[String]>,
    suffix: &str,
) -> Result<Vec<String>> {
    check_column_list("input_columns", inputs)?;
    let outputs = match outputs {
        Some(outputs) if outputs.len() != inputs.len() => {
            return Err(MlError::InvalidParam {
                param: "output_columns",
                reason: format!(
                    "{} names given for {} input columns",
                    outputs.len(),
                    inputs.len()
                ),
            })
        }
        Some(outputs) => outputs.to_vec(),
        None => inputs
            .iter()
            .map(|input| format!("{input}_{suffix}"))
            .collect(),
    };
    if let Some(duplicate) = first_duplicate(&outputs) {
        return Err(MlError::InvalidParam {
            param: "output_columns",
            reason: format!("'{duplicate}' is named twice"),
        });
    }
    Ok(outputs)
}
