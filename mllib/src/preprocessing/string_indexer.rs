//! `StringIndexer`: maps a column's distinct values (as strings) to indices by frequency.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_int64_array, as_string_array};
use datafusion::common::{exec_err, plan_err, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{
    cast as cast_expr, lit, ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use serde_json::json;

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::model::{append_columns, AnyModel};
use crate::params::{
    check_absent, check_column_list, output_columns_builder, setters, Columns, HandleInvalid,
};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::summary::column_of;

/// The order of a [`StringIndexer`]'s labels (Spark's `stringOrderType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StringOrder {
    /// Most frequent first (index 0); ties alphabetically. The default.
    #[default]
    FrequencyDesc,
    /// Least frequent first; ties alphabetically.
    FrequencyAsc,
    /// Alphabetically (by UTF-8 bytes).
    AlphabetAsc,
    /// Reverse alphabetically.
    AlphabetDesc,
}

impl std::str::FromStr for StringOrder {
    type Err = MlError;

    fn from_str(value: &str) -> Result<Self> {
        match value.to_ascii_lowercase().as_str() {
            "frequency_desc" | "frequencydesc" => Ok(StringOrder::FrequencyDesc),
            "frequency_asc" | "frequencyasc" => Ok(StringOrder::FrequencyAsc),
            "alphabet_asc" | "alphabetasc" => Ok(StringOrder::AlphabetAsc),
            "alphabet_desc" | "alphabetdesc" => Ok(StringOrder::AlphabetDesc),
            _ => Err(MlError::InvalidParam {
                param: "string_order",
                reason: format!(
                    "'{value}' is not one of frequency_desc, frequency_asc, alphabet_asc, \
                     alphabet_desc"
                ),
            }),
        }
    }
}

/// Indexes the values of each input column (of any type, compared as strings), as Spark ML's
/// `StringIndexer`: the fit counts each distinct value with one distributed `GROUP BY` per column
/// and orders them by [`StringOrder`] (most frequent first by default), and `transform` appends
/// each value's index as `Float64` (outputs default to `<input>_index`).
///
/// Nulls are not labels: the fit ignores them. At `transform`, a null or a value not seen in
/// fitting follows `handle_invalid`: `error` (default) fails, `skip` drops the row, `keep`
/// gives it the index `labels.len()`.
#[derive(Debug, Clone, PartialEq)]
pub struct StringIndexer {
    columns: Columns,
    order: StringOrder,
    handle_invalid: HandleInvalid,
}

impl StringIndexer {
    /// An indexer of `input_columns`, most frequent value first.
    pub fn new(input_columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            columns: Columns::new(input_columns),
            order: StringOrder::default(),
            handle_invalid: HandleInvalid::Error,
        }
    }

    output_columns_builder!();

    /// The order of the labels (default most frequent first).
    pub fn string_order(mut self, order: StringOrder) -> Self {
        self.order = order;
        self
    }
}

setters! {
    StringIndexer;
    /// What to do with nulls and unseen values at `transform` (default `error`).
    handle_invalid: HandleInvalid;
}

#[async_trait]
impl Estimator for StringIndexer {
    type Model = StringIndexerModel;

    async fn fit(&self, data: &DataFrame) -> Result<StringIndexerModel> {
        check_column_list("input_columns", &self.columns.inputs)?;
        let outputs = self.columns.output_names("index")?;
        check_absent(data, "output_columns", &outputs)?;
        let mut labels = Vec::with_capacity(self.columns.inputs.len());
        for column in &self.columns.inputs {
            let value = column_of(data, column)?;
            labels.push(self.labels(data, column, value).await?);
        }
        Ok(StringIndexerModel {
            inputs: self.columns.inputs.clone(),
            output_columns: outputs,
            labels,
            handle_invalid: self.handle_invalid,
        })
    }
}

impl StringIndexer {
    /// The distinct non-null values of `column` (`value` over `data`), in this indexer's order.
    async fn labels(&self, data: &DataFrame, column: &str, value: Expr) -> Result<Vec<String>> {
        let text = cast_expr(value, DataType::Utf8);
        let counts = data
            .clone()
            .filter(text.clone().is_not_null())?
            .aggregate(
                vec![text.alias("label")],
                vec![count(lit(1)).alias("count")],
            )?
            .collect()
            .await?;
        let mut counted: Vec<(String, i64)> = Vec::new();
        for batch in &counts {
            let labels = as_string_array(batch.column(0))?;
            let numbers = as_int64_array(batch.column(1))?;
            counted.extend(
                (0..batch.num_rows())
                    .map(|row| (labels.value(row).to_string(), numbers.value(row))),
            );
        }
        if counted.is_empty() {
            return Err(MlError::NoValidValues {
                column: column.to_string(),
                rows: data.clone().count().await? as u64,
            });
        }
        counted.sort_by(|(a, a_count), (b, b_count)| match self.order {
            StringOrder::FrequencyDesc => b_count.cmp(a_count).then(a.cmp(b)),
            StringOrder::FrequencyAsc => a_count.cmp(b_count).then(a.cmp(b)),
            StringOrder::AlphabetAsc => a.cmp(b),
            StringOrder::AlphabetDesc => b.cmp(a),
        });
        Ok(counted.into_iter().map(|(label, _)| label).collect())
    }
}

/// A fitted [`StringIndexer`]: each input column's labels, index 0 first.
#[derive(Debug, Clone, PartialEq)]
pub struct StringIndexerModel {
    inputs: Vec<String>,
    output_columns: Vec<String>,
    labels: Vec<Vec<String>>,
    handle_invalid: HandleInvalid,
}

impl StringIndexerModel {
    /// The labels of each input column, in index order.
    pub fn labels(&self) -> &[Vec<String>] {
        &self.labels
    }

    /// The index expressions over `inputs`, with unseen values handled as `mode` says.
    fn index_exprs(&self, inputs: Vec<Expr>, mode: UnseenLabel) -> Vec<Expr> {
        inputs
            .into_iter()
            .zip(&self.labels)
            .map(|(input, labels)| {
                let params = encode_labels(mode, labels);
                ScalarUDF::from(StringIndexUdf::new()).call(vec![
                    lit(ScalarValue::Binary(Some(params))),
                    cast_expr(input, DataType::Utf8),
                ])
            })
            .collect()
    }
}

impl Model for StringIndexerModel {
    fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        let inputs = self
            .inputs
            .iter()
            .map(|column| column_of(&data, column))
            .collect::<Result<Vec<_>>>()?;
        let data = match self.handle_invalid {
            HandleInvalid::Skip => {
                let known = self
                    .index_exprs(inputs.clone(), UnseenLabel::Null)
                    .into_iter()
                    .map(Expr::is_not_null)
                    .reduce(Expr::and)
                    .unwrap_or(lit(true));
                data.filter(known)?
            }
            HandleInvalid::Error | HandleInvalid::Keep => data,
        };
        append_columns(data, self, inputs)
    }
}

#[async_trait]
impl AnyModel for StringIndexerModel {
    fn input_columns(&self) -> &[String] {
        &self.inputs
    }

    fn output_columns(&self) -> Vec<String> {
        self.output_columns.clone()
    }

    /// The indices; in one expression, `skip` cannot drop a row, so it gives a null index.
    fn column_exprs(&self, inputs: Vec<Expr>) -> Result<Vec<Expr>> {
        let mode = match self.handle_invalid {
            HandleInvalid::Error => UnseenLabel::Error,
            HandleInvalid::Skip => UnseenLabel::Null,
            HandleInvalid::Keep => UnseenLabel::Extra,
        };
        Ok(self.index_exprs(inputs, mode))
    }
}

impl PersistentModel for StringIndexerModel {
    const MODEL_TYPE: &'static str = "string_indexer";

    fn to_saved(&self) -> ModelParts {
        ModelParts {
            features: self.inputs.clone(),
            params: json!({
                "output_columns": self.output_columns,
                "handle_invalid": self.handle_invalid.as_str(),
                "labels": self.labels,
            }),
            arrays: Vec::new(),
        }
    }

    fn from_saved(saved: &SavedModel) -> Result<Self> {
        let labels: Vec<Vec<String>> = saved.param("labels")?;
        if labels.len() != saved.metadata.features.len() {
            return Err(saved.corrupt("'labels' does not have one list per column".into()));
        }
        let handle_invalid: String = saved.param("handle_invalid")?;
        Ok(Self {
            inputs: saved.metadata.features.clone(),
            output_columns: saved.param("output_columns")?,
            labels,
            handle_invalid: handle_invalid.parse()?,
        })
    }
}

/// What [`StringIndexUdf`] does with a null or a value that is not a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnseenLabel {
    /// Fail the query.
    Error,
    /// Index `labels.len()`.
    Extra,
    /// A null index.
    Null,
}

/// The parameters of [`StringIndexUdf`]: the mode byte, then each label as a little-endian `u32`
/// length and its UTF-8 bytes.
fn encode_labels(mode: UnseenLabel, labels: &[String]) -> Vec<u8> {
    let mut bytes = vec![mode as u8];
    for label in labels {
        bytes.extend((label.len() as u32).to_le_bytes());
        bytes.extend(label.as_bytes());
    }
    bytes
}

/// The labels and mode [`encode_labels`] wrote.
fn decode_labels(bytes: &[u8]) -> DataFusionResult<(UnseenLabel, Vec<&str>)> {
    let Some((&mode, mut rest)) = bytes.split_first() else {
        return exec_err!("{INDEX_FUNCTION}: empty parameters");
    };
    let mode = match mode {
        0 => UnseenLabel::Error,
        1 => UnseenLabel::Extra,
        2 => UnseenLabel::Null,
        other => return exec_err!("{INDEX_FUNCTION}: unknown mode {other}"),
    };
    let mut labels = Vec::new();
    while !rest.is_empty() {
        let corrupt = || exec_err!("{INDEX_FUNCTION}: corrupt labels");
        let Some((length, tail)) = rest.split_first_chunk::<4>() else {
            return corrupt();
        };
        let length = u32::from_le_bytes(*length) as usize;
        if length > tail.len() {
            return corrupt();
        }
        let Ok(label) = std::str::from_utf8(&tail[..length]) else {
            return corrupt();
        };
        labels.push(label);
        rest = &tail[length..];
    }
    Ok((mode, labels))
}

const INDEX_FUNCTION: &str = "ml_string_index";

/// `ml_string_index(params, value)`: the index of each value (`Utf8`) among the labels in
/// `params`, a `Binary` literal (see [`encode_labels`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct StringIndexUdf {
    signature: Signature,
}

impl StringIndexUdf {
    /// The function.
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Binary, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for StringIndexUdf {
    fn name(&self) -> &str {
        INDEX_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let [ColumnarValue::Scalar(ScalarValue::Binary(Some(params))), values] = &args.args[..]
        else {
            return plan_err!(
                "{INDEX_FUNCTION} takes a binary literal (the labels) and the values to index"
            );
        };
        let (mode, labels) = decode_labels(params)?;
        let indices: HashMap<&str, f64> = labels
            .iter()
            .enumerate()
            .map(|(index, label)| (*label, index as f64))
            .collect();
        let values = values.to_array(args.number_rows)?;
        let values = cast(&values, &DataType::Utf8)?;
        let values = as_string_array(&values)?;
        let extra = labels.len() as f64;
        let mut output = Vec::with_capacity(values.len());
        for value in values.iter() {
            let index = value.and_then(|value| indices.get(value).copied());
            output.push(match (index, mode) {
                (Some(index), _) => Some(index),
                (None, UnseenLabel::Extra) => Some(extra),
                (None, UnseenLabel::Null) => None,
                (None, UnseenLabel::Error) => {
                    return exec_err!(
                        "{INDEX_FUNCTION}: {} was not seen when the indexer was fitted; set \
                         handle_invalid to 'skip' or 'keep' to index such values",
                        value.map_or("null".to_string(), |value| format!("value '{value}'"))
                    )
                }
            });
        }
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(output))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::column_values;
    use datafusion::arrow::array::{RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    /// A frame with one Utf8 column `c` of `values`, in two partitions.
    fn strings(values: &[Option<&str>]) -> DataFrame {
        let schema = Arc::new(Schema::new(vec![Field::new("c", DataType::Utf8, true)]));
        let half = values.len() / 2;
        let batch = |part: &[Option<&str>]| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(StringArray::from(part.to_vec()))],
            )
            .unwrap()
        };
        let table = MemTable::try_new(
            schema.clone(),
            vec![vec![batch(&values[..half])], vec![batch(&values[half..])]],
        )
        .unwrap();
        SessionContext::new().read_table(Arc::new(table)).unwrap()
    }

    #[tokio::test]
    async fn most_frequent_first_ties_alphabetical_nulls_ignored() {
        let data = strings(&[Some("b"), Some("a"), None, Some("c"), Some("a"), Some("b")]);
        let model = StringIndexer::new(["c"]).fit(&data).await.unwrap();
        assert_eq!(model.labels(), [vec!["a", "b", "c"]]);
        let alphabet_desc = StringIndexer::new(["c"])
            .string_order(StringOrder::AlphabetDesc)
            .fit(&data)
            .await
            .unwrap();
        assert_eq!(alphabet_desc.labels(), [vec!["c", "b", "a"]]);

        let error = model
            .transform(data.clone())
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("null was not seen"), "{error}");
        let kept = StringIndexer::new(["c"])
            .handle_invalid(HandleInvalid::Keep)
            .fit(&data)
            .await
            .unwrap()
            .transform(strings(&[Some("c"), Some("z"), None, Some("a")]))
            .unwrap();
        assert_eq!(
            column_values(&kept, "c_index").await,
            vec![Some(2.0), Some(3.0), Some(3.0), Some(0.0)]
        );
        let skipped = StringIndexer::new(["c"])
            .handle_invalid(HandleInvalid::Skip)
            .fit(&data)
            .await
            .unwrap()
            .transform(strings(&[Some("c"), Some("z"), None, Some("b")]))
            .unwrap();
        assert_eq!(
            column_values(&skipped, "c_index").await,
            vec![Some(2.0), Some(1.0)]
        );
    }

    #[tokio::test]
    async fn numbers_index_as_strings_and_unseen_values_are_named() {
        let data = crate::test_frames::two_partition_frame();
        let model = StringIndexer::new(["n"]).fit(&data).await.unwrap();
        assert_eq!(model.labels(), [vec!["1"]]);
        let error = StringIndexer::new(["c"])
            .fit(&strings(&[Some("a"), Some("b")]))
            .await
            .unwrap()
            .transform(strings(&[Some("a"), Some("new")]))
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("value 'new' was not seen"),
            "{error}"
        );
        let error = StringIndexer::new(["c"])
            .fit(&strings(&[None, None]))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "column 'c' has no valid values (all 2 rows are null or NaN)"
        );
    }

    #[test]
    fn labels_round_trip_through_the_parameters() {
        let labels = vec!["".to_string(), "é".to_string(), "a,b".to_string()];
        let bytes = encode_labels(UnseenLabel::Extra, &labels);
        let (mode, decoded) = decode_labels(&bytes).unwrap();
        assert_eq!(mode, UnseenLabel::Extra);
        assert_eq!(decoded, ["", "é", "a,b"]);
        assert!(decode_labels(&bytes[..bytes.len() - 1]).is_err());
    }
}
