//! Estimators built from SQL `OPTIONS (...)`: option values, typed reading with errors that name
//! the option, and [`fit_from_options`], which fits any model type of [`crate::registry`].

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;

use datafusion::dataframe::DataFrame;

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::model::{AnyModel, FittedModel};
use crate::params::HandleInvalid;
use crate::pipeline::{PipelineModel, Stage};
use crate::registry::{BuildPredictor, Fit, ModelType, TransformerColumns, MODEL_TYPES};
use crate::{Imputer, OneHotEncoder, StandardScaler, StringIndexer};

/// A value in `OPTIONS (...)`.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// A number.
    Number(f64),
    /// A string.
    Text(String),
    /// `true` or `false`.
    Bool(bool),
    /// `[a, b, ...]`.
    List(Vec<OptionValue>),
}

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Number(n) => write!(f, "{n}"),
            OptionValue::Text(t) => write!(f, "'{t}'"),
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::List(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

/// Fits the model `model_type` on `data` with estimator parameters from `options` (snake_case
/// names as the Rust builders spell them). `features` defaults to every numeric column but the
/// label (for `string_indexer`, every column). Unknown options and values of the wrong kind fail,
/// naming the option.
///
/// Clustering, classification and regression types also take preprocessing options, fitted
/// with the model and applied at prediction (the result is then a pipeline):
/// `one_hot = ['col', ...]` indexes those columns' values (as strings, unseen ones to an extra
/// category) and one-hot encodes them as features; `standardize = true` centres and scales the
/// numeric features; `impute = 'mean' | 'median' | 'most_frequent'` fills their missing values.
pub async fn fit_from_options(
    model_type: &str,
    options: &BTreeMap<String, OptionValue>,
    data: &DataFrame,
) -> Result<FittedModel> {
    let Some(entry) = ModelType::named(model_type) else {
        return Err(MlError::InvalidOption {
            option: "model_type".to_string(),
            reason: format!("'{model_type}' is not one of {}", MODEL_TYPES.join(", ")),
        });
    };
    let mut reader = OptionReader::new(model_type, options);
    match entry.fit {
        Fit::Predictor { labelled, build } => fit_predictor(reader, labelled, build, data).await,
        Fit::Transformer { all_columns, build } => {
            let columns = TransformerColumns {
                features: reader.features(data, None, all_columns)?,
                outputs: reader.names("output_columns")?,
                handle_invalid: reader.handle_invalid()?.unwrap_or_default(),
            };
            let stage = build(&mut reader, columns)?;
            reader.finish()?;
            Ok(FittedModel::from_arc(stage.fit_stage(data).await?))
        }
    }
}

/// Fits a clustering, classification or regression model, after the preprocessing its options
/// ask for (see [`fit_from_options`]).
async fn fit_predictor(
    mut reader: OptionReader<'_>,
    labelled: bool,
    build: BuildPredictor,
    data: &DataFrame,
) -> Result<FittedModel> {
    let label = match labelled {
        false => None,
        true => Some(reader.text("label")?.unwrap_or_else(|| "label".to_string())),
    };
    let one_hot = reader.names("one_hot")?.unwrap_or_default();
    let mut features = reader.features(data, label.as_deref(), false)?;
    features.retain(|feature| !one_hot.contains(feature));
    let standardize = reader.bool("standardize")?.unwrap_or(false);
    let impute = reader.text("impute")?;
    let mut stages: Vec<Box<dyn Stage>> = Vec::new();
    if let Some(strategy) = impute {
        let imputed: Vec<String> = features.iter().map(|f| format!("{f}_imputed")).collect();
        stages.push(Box::new(
            Imputer::new(features.clone())
                .strategy(strategy.parse()?)
                .output_columns(imputed.clone()),
        ));
        features = imputed;
    }
    if standardize {
        let scaled: Vec<String> = features.iter().map(|f| format!("{f}_scaled")).collect();
        stages.push(Box::new(
            StandardScaler::new(features.clone()).with_mean(true),
        ));
        features = scaled;
    }
    let mut prepared = data.clone();
    let mut models = Vec::new();
    for stage in stages {
        let model = stage.fit_stage(&prepared).await?;
        prepared = model.transform(prepared)?;
        models.push(model);
    }
    if !one_hot.is_empty() {
        let indices: Vec<String> = one_hot.iter().map(|c| format!("{c}_index")).collect();
        let indexer = StringIndexer::new(one_hot.clone())
            .handle_invalid(HandleInvalid::Keep)
            .fit(&prepared)
            .await?;
        prepared = indexer.transform(prepared)?;
        let encoder = OneHotEncoder::new(indices)
            .output_columns(one_hot.clone())
            .handle_invalid(HandleInvalid::Keep)
            .fit(&prepared)
            .await?;
        prepared = encoder.transform(prepared)?;
        features.extend(encoder.output_columns());
        models.push(Arc::new(indexer));
        models.push(Arc::new(encoder));
    }
    let predictor = build(&mut reader, features, label.unwrap_or_default())?;
    reader.finish()?;
    let model = predictor.fit_stage(&prepared).await?;
    if models.is_empty() {
        return Ok(FittedModel::from_arc(model));
    }
    models.push(model);
    Ok(FittedModel::new(PipelineModel::new(models)?))
}

/// Reads typed options, remembering which were used so that the rest can be reported.
pub(crate) struct OptionReader<'a> {
    model_type: &'a str,
    options: &'a BTreeMap<String, OptionValue>,
    used: BTreeSet<&'a str>,
}

impl<'a> OptionReader<'a> {
    fn new(model_type: &'a str, options: &'a BTreeMap<String, OptionValue>) -> Self {
        Self {
            model_type,
            options,
            used: BTreeSet::new(),
        }
    }

    /// The option `name`, if given, marking it read.
    pub(crate) fn get(&mut self, name: &'static str) -> Option<&'a OptionValue> {
        self.used.insert(name);
        self.options.get(name)
    }

    /// The error for the option `name`, whose value is not `expected`.
    pub(crate) fn bad(&self, name: &str, expected: &str) -> MlError {
        let given = self
            .options
            .get(name)
            .map_or_else(String::new, ToString::to_string);
        MlError::InvalidOption {
            option: name.to_string(),
            reason: format!("{given} is not {expected}"),
        }
    }

    /// The option `name`, a number.
    pub(crate) fn number(&mut self, name: &'static str) -> Result<Option<f64>> {
        match self.get(name) {
            None => Ok(None),
            Some(OptionValue::Number(n)) => Ok(Some(*n)),
            Some(_) => Err(self.bad(name, "a number")),
        }
    }

    /// The option `name`, a whole number >= 0.
    pub(crate) fn count(&mut self, name: &'static str) -> Result<Option<usize>> {
        match self.number(name)? {
            None => Ok(None),
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n < 1e15 => Ok(Some(n as usize)),
            Some(_) => Err(self.bad(name, "a whole number >= 0")),
        }
    }

    /// The option `name`, `true` or `false`.
    pub(crate) fn bool(&mut self, name: &'static str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(OptionValue::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.bad(name, "true or false")),
        }
    }

    /// The option `name`, a string.
    pub(crate) fn text(&mut self, name: &'static str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(OptionValue::Text(t)) => Ok(Some(t.clone())),
            Some(_) => Err(self.bad(name, "a string")),
        }
    }

    /// The option `name`, a string parsed as a `T` (whose parse error names the parameter).
    pub(crate) fn parsed<T: FromStr<Err = MlError>>(
        &mut self,
        name: &'static str,
    ) -> Result<Option<T>> {
        self.text(name)?.map(|value| value.parse()).transpose()
    }

    /// `handle_invalid`.
    pub(crate) fn handle_invalid(&mut self) -> Result<Option<HandleInvalid>> {
        self.parsed("handle_invalid")
    }

    /// `features` as given (a list of column names), else every numeric column (every column
    /// when `all_columns`) but `label`.
    fn features(
        &mut self,
        data: &DataFrame,
        label: Option<&str>,
        all_columns: bool,
    ) -> Result<Vec<String>> {
        if let Some(features) = self.names("features")? {
            return Ok(features);
        }
        Ok(data
            .schema()
            .fields()
            .iter()
            .filter(|field| {
                (all_columns || field.data_type().is_numeric())
                    && Some(field.name().as_str()) != label
            })
            .map(|field| field.name().clone())
            .collect())
    }

    /// A list of column names, e.g. `['a', 'b']`.
    pub(crate) fn names(&mut self, name: &'static str) -> Result<Option<Vec<String>>> {
        let expected = "a list of column names, e.g. ['a', 'b']";
        match self.get(name) {
            None => Ok(None),
            Some(OptionValue::List(items)) => items
                .iter()
                .map(|item| match item {
                    OptionValue::Text(name) => Ok(name.clone()),
                    _ => Err(self.bad(name, expected)),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(self.bad(name, expected)),
        }
    }

    /// `splits`: a list of numbers (one column), or one such list per column. `'-inf'` and
    /// `'inf'` stand for the infinities.
    pub(crate) fn splits(&mut self, columns: usize) -> Result<Vec<Vec<f64>>> {
        let expected = "a list of split points, e.g. ['-inf', 0, 10, 'inf'], or one per column";
        let number = |value: &OptionValue| match value {
            OptionValue::Number(n) => Some(*n),
            OptionValue::Text(t) => match t.to_ascii_lowercase().as_str() {
                "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
                _ => None,
            },
            _ => None,
        };
        let list = |value: &OptionValue| match value {
            OptionValue::List(items) => items.iter().map(number).collect::<Option<Vec<f64>>>(),
            _ => None,
        };
        let parsed = match self.get("splits") {
            None => return Err(self.bad("splits", expected)),
            Some(OptionValue::List(items))
                if columns == 1 && items.iter().all(|i| number(i).is_some()) =>
            {
                list(&OptionValue::List(items.clone())).map(|splits| vec![splits])
            }
            Some(OptionValue::List(items)) => items.iter().map(list).collect(),
            Some(_) => None,
        };
        parsed.ok_or_else(|| self.bad("splits", expected))
    }

    /// Fails on the first option no reader asked for.
    fn finish(self) -> Result<()> {
        match self
            .options
            .keys()
            .find(|name| !self.used.contains(name.as_str()))
        {
            Some(unknown) => Err(MlError::InvalidOption {
                option: unknown.clone(),
                reason: format!(
                    "not an option of {}; its options are {}",
                    self.model_type,
                    self.used.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            }),
            None => Ok(()),
        }
    }
}
