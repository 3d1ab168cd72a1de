//! Any fitted model, its type chosen at run time — what SQL works with (`CREATE MODEL`,
//! `ml_predict`, `ml_evaluate`, `ml_predict_value`) — and estimators built from `OPTIONS`.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::Expr;

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::evaluation::Metrics;
use crate::linear::{Family, LogisticPrediction};
use crate::params::HandleInvalid;
use crate::persist::{load_model, read_saved, save_model, PersistentModel};
use crate::predict::model_call;
use crate::{
    KMeans, KMeansModel, LinearRegression, LinearRegressionModel, LogisticRegression,
    LogisticRegressionModel, StandardScaler, StandardScalerModel,
};

/// The model types SQL can create, by their `model_type` names.
pub const MODEL_TYPES: [&str; 4] = [
    "kmeans",
    "logistic_regression",
    "linear_regression",
    "standard_scaler",
];

/// A fitted model of any type.
#[derive(Debug, Clone, PartialEq)]
pub enum FittedModel {
    /// `kmeans`.
    KMeans(KMeansModel),
    /// `logistic_regression`.
    LogisticRegression(LogisticRegressionModel),
    /// `linear_regression`.
    LinearRegression(LinearRegressionModel),
    /// `standard_scaler`.
    StandardScaler(StandardScalerModel),
}

impl FittedModel {
    /// The `model_type` name.
    pub fn model_type(&self) -> &'static str {
        match self {
            FittedModel::KMeans(_) => KMeansModel::MODEL_TYPE,
            FittedModel::LogisticRegression(_) => LogisticRegressionModel::MODEL_TYPE,
            FittedModel::LinearRegression(_) => LinearRegressionModel::MODEL_TYPE,
            FittedModel::StandardScaler(_) => StandardScalerModel::MODEL_TYPE,
        }
    }

    /// `data` with the model's output columns appended.
    pub fn transform(&self, data: DataFrame) -> Result<DataFrame> {
        match self {
            FittedModel::KMeans(model) => model.transform(data),
            FittedModel::LogisticRegression(model) => model.transform(data),
            FittedModel::LinearRegression(model) => model.transform(data),
            FittedModel::StandardScaler(model) => model.transform(data),
        }
    }

    /// The model's metrics on `data` (see each model's `evaluate`).
    pub async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        match self {
            FittedModel::KMeans(model) => model.evaluate(data).await,
            FittedModel::LogisticRegression(model) => model.evaluate(data).await,
            FittedModel::LinearRegression(model) => model.evaluate(data).await,
            FittedModel::StandardScaler(_) => Err(MlError::InvalidParam {
                param: "model_type",
                reason: "a standard_scaler has no metrics to evaluate".to_string(),
            }),
        }
    }

    /// The model's prediction for `features` (one expression per model feature, in order) as
    /// one expression: the cluster, the class, or the value.
    pub fn prediction(&self, features: Vec<Expr>) -> Result<Expr> {
        let expected = self.features().len();
        if features.len() != expected {
            return Err(MlError::InvalidParam {
                param: "features",
                reason: format!(
                    "the {} model reads {expected} features ({}), {} given",
                    self.model_type(),
                    self.features().join(", "),
                    features.len()
                ),
            });
        }
        let features = features
            .into_iter()
            .map(|feature| {
                datafusion::logical_expr::cast(
                    feature,
                    datafusion::arrow::datatypes::DataType::Float64,
                )
            })
            .collect();
        // Invalid rows get a null prediction in a scalar expression.
        let keep = HandleInvalid::Keep;
        Ok(match self {
            FittedModel::KMeans(model) => model_call(&model.scorer(), keep, features),
            FittedModel::LogisticRegression(model) => model_call(
                &LogisticPrediction::from(model.scorer().clone()),
                keep,
                features,
            ),
            FittedModel::LinearRegression(model) => model_call(&model.scorer(), keep, features),
            FittedModel::StandardScaler(_) => {
                return Err(MlError::InvalidParam {
                    param: "model_type",
                    reason: "a standard_scaler has one output per column, not one prediction"
                        .to_string(),
                })
            }
        })
    }

    /// The feature columns the model reads.
    pub fn features(&self) -> &[String] {
        match self {
            FittedModel::KMeans(model) => model.features(),
            FittedModel::LogisticRegression(model) => model.features(),
            FittedModel::LinearRegression(model) => model.features(),
            FittedModel::StandardScaler(model) => model.input_columns(),
        }
    }

    /// Saves the model to the directory `location` (see [`crate::persist`]).
    pub async fn save(
        &self,
        context: &SessionContext,
        location: &str,
        overwrite: bool,
    ) -> Result<()> {
        match self {
            FittedModel::KMeans(model) => save_model(context, model, location, overwrite).await,
            FittedModel::LogisticRegression(model) => {
                save_model(context, model, location, overwrite).await
            }
            FittedModel::LinearRegression(model) => {
                save_model(context, model, location, overwrite).await
            }
            FittedModel::StandardScaler(model) => {
                save_model(context, model, location, overwrite).await
            }
        }
    }

    /// Loads the model saved at `location`, whatever its type.
    pub async fn load(context: &SessionContext, location: &str) -> Result<Self> {
        let saved = read_saved(context, location).await?;
        Ok(match saved.metadata.model_type.as_str() {
            "kmeans" => FittedModel::KMeans(load_model(context, location).await?),
            "logistic_regression" => {
                FittedModel::LogisticRegression(load_model(context, location).await?)
            }
            "linear_regression" => {
                FittedModel::LinearRegression(load_model(context, location).await?)
            }
            "standard_scaler" => FittedModel::StandardScaler(load_model(context, location).await?),
            other => return Err(saved.corrupt(format!("unknown model type '{other}'"))),
        })
    }
}

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
/// label. Unknown options and values of the wrong kind fail, naming the option.
pub async fn fit_from_options(
    model_type: &str,
    options: &BTreeMap<String, OptionValue>,
    data: &DataFrame,
) -> Result<FittedModel> {
    let mut reader = OptionReader::new(model_type, options);
    let model = match model_type {
        "kmeans" => {
            let features = reader.features(data, None)?;
            let mut kmeans = KMeans::new(features);
            if let Some(k) = reader.count("k")? {
                kmeans = kmeans.k(k);
            }
            if let Some(max_iter) = reader.count("max_iter")? {
                kmeans = kmeans.max_iter(max_iter);
            }
            if let Some(tol) = reader.number("tol")? {
                kmeans = kmeans.tol(tol);
            }
            if let Some(seed) = reader.count("seed")? {
                kmeans = kmeans.seed(seed as u64);
            }
            if let Some(steps) = reader.count("init_steps")? {
                kmeans = kmeans.init_steps(steps);
            }
            if let Some(handle) = reader.handle_invalid()? {
                kmeans = kmeans.handle_invalid(handle);
            }
            reader.finish()?;
            FittedModel::KMeans(kmeans.fit(data).await?)
        }
        "logistic_regression" => {
            let label = reader.text("label")?.unwrap_or_else(|| "label".to_string());
            let features = reader.features(data, Some(&label))?;
            let mut logistic = LogisticRegression::new(features).label(label);
            if let Some(reg) = reader.number("reg_param")? {
                logistic = logistic.reg_param(reg);
            }
            if let Some(max_iter) = reader.count("max_iter")? {
                logistic = logistic.max_iter(max_iter);
            }
            if let Some(tol) = reader.number("tol")? {
                logistic = logistic.tol(tol);
            }
            if let Some(fit) = reader.bool("fit_intercept")? {
                logistic = logistic.fit_intercept(fit);
            }
            if let Some(threshold) = reader.number("threshold")? {
                logistic = logistic.threshold(threshold);
            }
            if let Some(family) = reader.text("family")? {
                logistic = logistic.family(match family.to_ascii_lowercase().as_str() {
                    "auto" => Family::Auto,
                    "binomial" => Family::Binomial,
                    "multinomial" => Family::Multinomial,
                    _ => return Err(reader.bad("family", "auto, binomial or multinomial")),
                });
            }
            if let Some(handle) = reader.handle_invalid()? {
                logistic = logistic.handle_invalid(handle);
            }
            reader.finish()?;
            FittedModel::LogisticRegression(logistic.fit(data).await?)
        }
        "linear_regression" => {
            let label = reader.text("label")?.unwrap_or_else(|| "label".to_string());
            let features = reader.features(data, Some(&label))?;
            let mut linear = LinearRegression::new(features).label(label);
            if let Some(reg) = reader.number("reg_param")? {
                linear = linear.reg_param(reg);
            }
            if let Some(alpha) = reader.number("elastic_net_param")? {
                linear = linear.elastic_net_param(alpha);
            }
            if let Some(max_iter) = reader.count("max_iter")? {
                linear = linear.max_iter(max_iter);
            }
            if let Some(tol) = reader.number("tol")? {
                linear = linear.tol(tol);
            }
            if let Some(fit) = reader.bool("fit_intercept")? {
                linear = linear.fit_intercept(fit);
            }
            if let Some(handle) = reader.handle_invalid()? {
                linear = linear.handle_invalid(handle);
            }
            reader.finish()?;
            FittedModel::LinearRegression(linear.fit(data).await?)
        }
        "standard_scaler" => {
            let features = reader.features(data, None)?;
            let mut scaler = StandardScaler::new(features);
            if let Some(with_mean) = reader.bool("with_mean")? {
                scaler = scaler.with_mean(with_mean);
            }
            if let Some(with_std) = reader.bool("with_std")? {
                scaler = scaler.with_std(with_std);
            }
            reader.finish()?;
            FittedModel::StandardScaler(scaler.fit(data).await?)
        }
        other => {
            return Err(MlError::InvalidOption {
                option: "model_type".to_string(),
                reason: format!("'{other}' is not one of {}", MODEL_TYPES.join(", ")),
            })
        }
    };
    Ok(model)
}

/// Reads typed options, remembering which were used so that the rest can be reported.
struct OptionReader<'a> {
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

    fn get(&mut self, name: &'static str) -> Option<&'a OptionValue> {
        self.used.insert(name);
        self.options.get(name)
    }

    fn bad(&self, name: &str, expected: &str) -> MlError {
        let given = self
            .options
            .get(name)
            .map_or_else(String::new, ToString::to_string);
        MlError::InvalidOption {
            option: name.to_string(),
            reason: format!("{given} is not {expected}"),
        }
    }

    fn number(&mut self, name: &'static str) -> Result<Option<f64>> {
        match self.get(name) {
            None => Ok(None),
            Some(OptionValue::Number(n)) => Ok(Some(*n)),
            Some(_) => Err(self.bad(name, "a number")),
        }
    }

    fn count(&mut self, name: &'static str) -> Result<Option<usize>> {
        match self.number(name)? {
            None => Ok(None),
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n < 1e15 => Ok(Some(n as usize)),
            Some(_) => Err(self.bad(name, "a whole number >= 0")),
        }
    }

    fn bool(&mut self, name: &'static str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(OptionValue::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.bad(name, "true or false")),
        }
    }

    fn text(&mut self, name: &'static str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(OptionValue::Text(t)) => Ok(Some(t.clone())),
            Some(_) => Err(self.bad(name, "a string")),
        }
    }

    fn handle_invalid(&mut self) -> Result<Option<HandleInvalid>> {
        self.text("handle_invalid")?
            .map(|value| value.parse())
            .transpose()
    }

    /// `features` as given (a list of column names), else every numeric column but `label`.
    fn features(&mut self, data: &DataFrame, label: Option<&str>) -> Result<Vec<String>> {
        match self.get("features") {
            Some(OptionValue::List(items)) => items
                .iter()
                .map(|item| match item {
                    OptionValue::Text(name) => Ok(name.clone()),
                    _ => Err(self.bad("features", "a list of column names")),
                })
                .collect(),
            Some(_) => Err(self.bad("features", "a list of column names, e.g. ['a', 'b']")),
            None => Ok(data
                .schema()
                .fields()
                .iter()
                .filter(|field| {
                    field.data_type().is_numeric() && Some(field.name().as_str()) != label
                })
                .map(|field| field.name().clone())
                .collect()),
        }
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
