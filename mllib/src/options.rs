//! Estimators built from SQL `OPTIONS (...)`: option values, typed reading with errors that name
//! the option, and [`fit_from_options`], which fits any model type SQL can create.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::dataframe::DataFrame;

use std::sync::Arc;

use crate::error::{MlError, Result};
use crate::estimator::{Estimator, Model};
use crate::linear::Family;
use crate::model::{AnyModel, FittedModel, MODEL_TYPES};
use crate::params::HandleInvalid;
use crate::pipeline::{PipelineModel, Stage};
use crate::{
    Bucketizer, FeatureSubsetStrategy, GradientBoostedTrees, Imputer, KMeans, LinearRegression,
    LogisticRegression, MinMaxScaler, OneHotEncoder, QuantileDiscretizer, RandomForest,
    StandardScaler, StringIndexer,
};

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
/// `kmeans`, `logistic_regression` and `linear_regression` also take preprocessing options,
/// fitted with the model and applied at prediction (the result is then a pipeline):
/// `one_hot = ['col', ...]` indexes those columns' values (as strings, unseen ones to an extra
/// category) and one-hot encodes them as features; `standardize = true` centres and scales the
/// numeric features; `impute = 'mean' | 'median' | 'most_frequent'` fills their missing values.
pub async fn fit_from_options(
    model_type: &str,
    options: &BTreeMap<String, OptionValue>,
    data: &DataFrame,
) -> Result<FittedModel> {
    let mut reader = OptionReader::new(model_type, options);
    match model_type {
        "kmeans"
        | "logistic_regression"
        | "linear_regression"
        | "gbt_classifier"
        | "gbt_regressor"
        | "random_forest_classifier"
        | "random_forest_regressor" => fit_predictor(model_type, reader, data).await,
        _ => {
            let stage = transformer(model_type, &mut reader, data)?;
            reader.finish()?;
            Ok(FittedModel::from_arc(stage.fit_stage(data).await?))
        }
    }
}

/// A preprocessing estimator from its options.
fn transformer(
    model_type: &str,
    reader: &mut OptionReader<'_>,
    data: &DataFrame,
) -> Result<Box<dyn Stage>> {
    let all_columns = model_type == "string_indexer";
    let features = reader.features(data, None, all_columns)?;
    let outputs = reader.names("output_columns")?;
    let handle_invalid = reader.handle_invalid()?.unwrap_or_default();
    Ok(match model_type {
        "standard_scaler" => {
            let mut scaler = StandardScaler::new(features);
            if let Some(with_mean) = reader.bool("with_mean")? {
                scaler = scaler.with_mean(with_mean);
            }
            if let Some(with_std) = reader.bool("with_std")? {
                scaler = scaler.with_std(with_std);
            }
            if let Some(outputs) = outputs {
                scaler = scaler.output_columns(outputs);
            }
            Box::new(scaler)
        }
        "min_max_scaler" => {
            let mut scaler = MinMaxScaler::new(features);
            if let Some(min) = reader.number("min")? {
                scaler = scaler.min(min);
            }
            if let Some(max) = reader.number("max")? {
                scaler = scaler.max(max);
            }
            if let Some(outputs) = outputs {
                scaler = scaler.output_columns(outputs);
            }
            Box::new(scaler)
        }
        "imputer" => {
            let mut imputer = Imputer::new(features);
            if let Some(strategy) = reader.text("strategy")? {
                imputer = imputer.strategy(strategy.parse()?);
            }
            if let Some(missing) = reader.number("missing_value")? {
                imputer = imputer.missing_value(missing);
            }
            if let Some(outputs) = outputs {
                imputer = imputer.output_columns(outputs);
            }
            Box::new(imputer)
        }
        "string_indexer" => {
            let mut indexer = StringIndexer::new(features).handle_invalid(handle_invalid);
            if let Some(order) = reader.text("string_order")? {
                indexer = indexer.string_order(order.parse()?);
            }
            if let Some(outputs) = outputs {
                indexer = indexer.output_columns(outputs);
            }
            Box::new(indexer)
        }
        "one_hot_encoder" => {
            let mut encoder = OneHotEncoder::new(features).handle_invalid(handle_invalid);
            if let Some(drop_last) = reader.bool("drop_last")? {
                encoder = encoder.drop_last(drop_last);
            }
            if let Some(outputs) = outputs {
                encoder = encoder.output_columns(outputs);
            }
            Box::new(encoder)
        }
        "bucketizer" => {
            let splits = reader.splits(features.len())?;
            let mut bucketizer = Bucketizer::new(features, splits).handle_invalid(handle_invalid);
            if let Some(outputs) = outputs {
                bucketizer = bucketizer.output_columns(outputs);
            }
            Box::new(bucketizer)
        }
        "quantile_discretizer" => {
            let mut discretizer = QuantileDiscretizer::new(features).handle_invalid(handle_invalid);
            if let Some(buckets) = reader.count("num_buckets")? {
                discretizer = discretizer.num_buckets(buckets);
            }
            if let Some(outputs) = outputs {
                discretizer = discretizer.output_columns(outputs);
            }
            Box::new(discretizer)
        }
        other => {
            return Err(MlError::InvalidOption {
                option: "model_type".to_string(),
                reason: format!("'{other}' is not one of {}", MODEL_TYPES.join(", ")),
            })
        }
    })
}

/// Fits a clustering, classification or regression model, after the preprocessing its options
/// ask for (see [`fit_from_options`]).
async fn fit_predictor(
    model_type: &str,
    mut reader: OptionReader<'_>,
    data: &DataFrame,
) -> Result<FittedModel> {
    let label = match model_type {
        "kmeans" => None,
        _ => Some(reader.text("label")?.unwrap_or_else(|| "label".to_string())),
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
    let predictor = predictor(model_type, &mut reader, features, label)?;
    reader.finish()?;
    let model = predictor.fit_stage(&prepared).await?;
    if models.is_empty() {
        return Ok(FittedModel::from_arc(model));
    }
    models.push(model);
    Ok(FittedModel::new(PipelineModel::new(models)?))
}

/// The clustering, classification or regression estimator of `model_type` over `features`.
fn predictor(
    model_type: &str,
    reader: &mut OptionReader<'_>,
    features: Vec<String>,
    label: Option<String>,
) -> Result<Box<dyn Stage>> {
    let label = label.unwrap_or_default();
    if model_type.starts_with("gbt_") {
        return gbt_predictor(model_type, reader, features, &label);
    }
    if model_type.starts_with("random_forest_") {
        return forest_predictor(model_type, reader, features, &label);
    }
    let handle_invalid = reader.handle_invalid()?.unwrap_or_default();
    let max_iter = reader.count("max_iter")?;
    let tol = reader.number("tol")?;
    Ok(match model_type {
        "kmeans" => {
            let mut kmeans = KMeans::new(features).handle_invalid(handle_invalid);
            if let Some(k) = reader.count("k")? {
                kmeans = kmeans.k(k);
            }
            if let Some(seed) = reader.count("seed")? {
                kmeans = kmeans.seed(seed as u64);
            }
            if let Some(steps) = reader.count("init_steps")? {
                kmeans = kmeans.init_steps(steps);
            }
            if let Some(max_iter) = max_iter {
                kmeans = kmeans.max_iter(max_iter);
            }
            if let Some(tol) = tol {
                kmeans = kmeans.tol(tol);
            }
            Box::new(kmeans)
        }
        "logistic_regression" => {
            let mut logistic = LogisticRegression::new(features)
                .label(label)
                .handle_invalid(handle_invalid);
            if let Some(reg) = reader.number("reg_param")? {
                logistic = logistic.reg_param(reg);
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
            if let Some(max_iter) = max_iter {
                logistic = logistic.max_iter(max_iter);
            }
            if let Some(tol) = tol {
                logistic = logistic.tol(tol);
            }
            Box::new(logistic)
        }
        _ => {
            let mut linear = LinearRegression::new(features)
                .label(label)
                .handle_invalid(handle_invalid);
            if let Some(reg) = reader.number("reg_param")? {
                linear = linear.reg_param(reg);
            }
            if let Some(alpha) = reader.number("elastic_net_param")? {
                linear = linear.elastic_net_param(alpha);
            }
            if let Some(fit) = reader.bool("fit_intercept")? {
                linear = linear.fit_intercept(fit);
            }
            if let Some(max_iter) = max_iter {
                linear = linear.max_iter(max_iter);
            }
            if let Some(tol) = tol {
                linear = linear.tol(tol);
            }
            Box::new(linear)
        }
    })
}

/// The gradient-boosted trees estimator of `model_type` over `features`.
fn gbt_predictor(
    model_type: &str,
    reader: &mut OptionReader<'_>,
    features: Vec<String>,
    label: &str,
) -> Result<Box<dyn Stage>> {
    let mut gbt = if model_type == "gbt_classifier" {
        GradientBoostedTrees::classifier(features)
    } else {
        GradientBoostedTrees::regressor(features)
    }
    .label(label);
    for (option, set) in [
        (
            "num_trees",
            GradientBoostedTrees::num_trees as fn(_, _) -> _,
        ),
        ("max_depth", GradientBoostedTrees::max_depth),
        ("max_leaves", GradientBoostedTrees::max_leaves),
        ("max_bins", GradientBoostedTrees::max_bins),
    ] {
        if let Some(value) = reader.count(option)? {
            gbt = set(gbt, value);
        }
    }
    for (option, set) in [
        (
            "learning_rate",
            GradientBoostedTrees::learning_rate as fn(_, _) -> _,
        ),
        ("min_child_weight", GradientBoostedTrees::min_child_weight),
        ("min_samples_leaf", GradientBoostedTrees::min_samples_leaf),
        ("lambda_l2", GradientBoostedTrees::lambda_l2),
        ("min_split_gain", GradientBoostedTrees::min_split_gain),
        ("subsample", GradientBoostedTrees::subsample),
        ("colsample_bytree", GradientBoostedTrees::colsample_bytree),
        ("max_memory_mb", GradientBoostedTrees::max_memory_mb),
    ] {
        if let Some(value) = reader.number(option)? {
            gbt = set(gbt, value);
        }
    }
    if let Some(seed) = reader.count("seed")? {
        gbt = gbt.seed(seed as u64);
    }
    if let Some(weight) = reader.text("weight_column")? {
        gbt = gbt.weight_column(weight);
    }
    if let Some(column) = reader.text("validation_column")? {
        gbt = gbt.validation_column(column);
    }
    if let Some(fraction) = reader.number("validation_fraction")? {
        gbt = gbt.validation_fraction(fraction);
    }
    if let Some(rounds) = reader.count("early_stopping_rounds")? {
        gbt = gbt.early_stopping_rounds(rounds);
    }
    Ok(Box::new(gbt))
}

/// The random forest estimator of `model_type` over `features`.
fn forest_predictor(
    model_type: &str,
    reader: &mut OptionReader<'_>,
    features: Vec<String>,
    label: &str,
) -> Result<Box<dyn Stage>> {
    let mut forest = if model_type == "random_forest_classifier" {
        RandomForest::classifier(features)
    } else {
        RandomForest::regressor(features)
    }
    .label(label);
    for (option, set) in [
        ("num_trees", RandomForest::num_trees as fn(_, _) -> _),
        ("max_depth", RandomForest::max_depth),
        ("max_bins", RandomForest::max_bins),
    ] {
        if let Some(value) = reader.count(option)? {
            forest = set(forest, value);
        }
    }
    for (option, set) in [
        (
            "min_samples_leaf",
            RandomForest::min_samples_leaf as fn(_, _) -> _,
        ),
        ("min_split_gain", RandomForest::min_split_gain),
        ("subsample", RandomForest::subsample),
        ("max_memory_mb", RandomForest::max_memory_mb),
    ] {
        if let Some(value) = reader.number(option)? {
            forest = set(forest, value);
        }
    }
    if let Some(bootstrap) = reader.bool("bootstrap")? {
        forest = forest.bootstrap(bootstrap);
    }
    let strategy = match reader.get("feature_subset_strategy") {
        None => None,
        Some(OptionValue::Number(share)) => Some(FeatureSubsetStrategy::Fraction(*share)),
        Some(_) => reader
            .text("feature_subset_strategy")?
            .map(|strategy| strategy.parse())
            .transpose()?,
    };
    if let Some(strategy) = strategy {
        forest = forest.feature_subset_strategy(strategy);
    }
    if let Some(impurity) = reader.text("impurity")? {
        forest = forest.impurity(impurity.parse()?);
    }
    if let Some(seed) = reader.count("seed")? {
        forest = forest.seed(seed as u64);
    }
    if let Some(weight) = reader.text("weight_column")? {
        forest = forest.weight_column(weight);
    }
    Ok(Box::new(forest))
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
    fn names(&mut self, name: &'static str) -> Result<Option<Vec<String>>> {
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
    fn splits(&mut self, columns: usize) -> Result<Vec<Vec<f64>>> {
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
