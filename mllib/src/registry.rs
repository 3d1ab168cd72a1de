//! Every model type SQL can create, in one table: its name, its `OPTIONS`, how its estimator is
//! built from them, and how a saved model of the type is loaded. Adding a model type means one
//! [`ModelType`] entry here and the type's own module.

use std::sync::Arc;

use crate::error::Result;
use crate::linear::Family;
use crate::model::AnyModel;
use crate::options::{OptionReader, OptionValue};
use crate::params::HandleInvalid;
use crate::persist::{PersistentModel, SavedModel};
use crate::pipeline::Stage;
use crate::{
    Bucketizer, BucketizerModel, FeatureSubsetStrategy, GradientBoostedTrees,
    GradientBoostedTreesModel, Imputer, ImputerModel, KMeans, KMeansModel, LinearRegression,
    LinearRegressionModel, LogisticRegression, LogisticRegressionModel, MinMaxScaler,
    MinMaxScalerModel, OneHotEncoder, OneHotEncoderModel, QuantileDiscretizer, RandomForest,
    RandomForestModel, StandardScaler, StandardScalerModel, StringIndexer, StringIndexerModel,
};

/// One option a model type takes in `OPTIONS (...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelOption {
    /// The option's name, as the Rust builder spells it.
    pub name: &'static str,
    /// What it sets.
    pub doc: &'static str,
    /// The values it accepts.
    pub allowed: &'static str,
}

/// A model type SQL can create (`CREATE MODEL ... OPTIONS (model_type = '<name>', ...)`).
#[derive(Clone, Copy)]
pub struct ModelType {
    /// The `model_type` name.
    pub name: &'static str,
    /// The options of this type alone; [`ModelType::options`] adds those of its kind.
    own_options: &'static [ModelOption],
    /// How the estimator is built from the options.
    pub(crate) fit: Fit,
    /// How a saved model of this type is loaded; `None` when the fit saves as another type (a
    /// quantile discretizer fits a bucketizer).
    pub(crate) load: Option<Load>,
}

/// How a model type's estimator is built from its options.
#[derive(Clone, Copy)]
pub(crate) enum Fit {
    /// A preprocessing transformer, over `features` (default: every numeric column, or every
    /// column when `all_columns`), with [`TRANSFORMER_OPTIONS`].
    Transformer {
        all_columns: bool,
        build: BuildTransformer,
    },
    /// A clustering, classification or regression estimator over `features` (default: every
    /// numeric column but the label), fitted after the preprocessing [`PREDICTOR_OPTIONS`] ask
    /// for; a `labelled` one reads its label column from `label`.
    Predictor {
        labelled: bool,
        build: BuildPredictor,
    },
}

/// Builds a transformer from its options, given those every transformer reads.
pub(crate) type BuildTransformer =
    fn(&mut OptionReader<'_>, TransformerColumns) -> Result<Box<dyn Stage>>;

/// Builds a predictor over its features (after preprocessing) and label column (empty for an
/// unlabelled one) from its options.
pub(crate) type BuildPredictor =
    fn(&mut OptionReader<'_>, Vec<String>, String) -> Result<Box<dyn Stage>>;

/// Loads a saved model of one type.
pub(crate) type Load = fn(&SavedModel) -> Result<Arc<dyn AnyModel>>;

/// The options every transformer reads before its own.
pub(crate) struct TransformerColumns {
    /// `features`: the columns transformed.
    pub features: Vec<String>,
    /// `output_columns`, when given.
    pub outputs: Option<Vec<String>>,
    /// `handle_invalid` (default `error`).
    pub handle_invalid: HandleInvalid,
}

/// Shorthand for a [`ModelOption`].
const fn option(name: &'static str, doc: &'static str, allowed: &'static str) -> ModelOption {
    ModelOption { name, doc, allowed }
}

/// A list of column names.
const COLUMNS: &str = "a list of column names, e.g. ['a', 'b']";

/// The options every transformer takes.
const TRANSFORMER_OPTIONS: &[ModelOption] = &[
    option(
        "features",
        "the input columns (default: every numeric column)",
        COLUMNS,
    ),
    option(
        "output_columns",
        "one output name per input column",
        COLUMNS,
    ),
    option(
        "handle_invalid",
        "what to do with null, NaN or unseen values",
        "'error' (default), 'skip' or 'keep'",
    ),
];

/// The options every predictor takes: its columns and the preprocessing fitted with it.
const PREDICTOR_OPTIONS: &[ModelOption] = &[
    option(
        "label",
        "the label column (default `label`)",
        "a column name",
    ),
    option(
        "features",
        "the feature columns (default: every numeric column but the label)",
        COLUMNS,
    ),
    option(
        "one_hot",
        "columns whose values are indexed and one-hot encoded as features",
        COLUMNS,
    ),
    option(
        "standardize",
        "centre and scale the numeric features",
        "true or false (default)",
    ),
    option(
        "impute",
        "fill missing numeric feature values",
        "'mean', 'median' or 'most_frequent'",
    ),
];

/// The options of the iterative linear-family fits (k-means, logistic and linear regression).
const ITERATIVE_OPTIONS: [ModelOption; 3] = [
    option(
        "handle_invalid",
        "what to do with rows whose features are null or NaN",
        "'error' (default), 'skip' or 'keep'",
    ),
    option("max_iter", "the most iterations", "a whole number >= 0"),
    option("tol", "the convergence tolerance", "a number >= 0"),
];

/// The options shared by gradient-boosted trees and random forests, beyond their own.
const TREE_COMMON: [ModelOption; 7] = [
    option(
        "num_trees",
        "trees (boosting rounds)",
        "a whole number in 1..=100000",
    ),
    option("max_bins", "bins per feature", "a whole number in 2..=255"),
    option(
        "min_samples_leaf",
        "the least weighted rows per leaf",
        "a number >= 0",
    ),
    option(
        "min_split_gain",
        "the least gain a split must have",
        "a number >= 0",
    ),
    option(
        "max_memory_mb",
        "the histogram memory budget per worker",
        "a number > 0",
    ),
    option(
        "seed",
        "seed of row and feature sampling",
        "a whole number >= 0",
    ),
    option(
        "weight_column",
        "a column of per-row weights (default: 1 each)",
        "a column name",
    ),
];

/// Every model type SQL can create, in the order errors list them.
pub const REGISTRY: [ModelType; 14] = [
    ModelType {
        name: KMeansModel::MODEL_TYPE,
        own_options: &[
            ITERATIVE_OPTIONS[0],
            ITERATIVE_OPTIONS[1],
            ITERATIVE_OPTIONS[2],
            option(
                "k",
                "the number of clusters",
                "a whole number in 2..=1048576",
            ),
            option(
                "seed",
                "seed of the k-means|| initialization",
                "a whole number >= 0",
            ),
            option(
                "init_steps",
                "rounds of the k-means|| initialization",
                "a whole number in 1..=100",
            ),
        ],
        fit: Fit::Predictor {
            labelled: false,
            build: kmeans,
        },
        load: Some(load::<KMeansModel>),
    },
    ModelType {
        name: LogisticRegressionModel::MODEL_TYPE,
        own_options: &[
            ITERATIVE_OPTIONS[0],
            ITERATIVE_OPTIONS[1],
            ITERATIVE_OPTIONS[2],
            option(
                "reg_param",
                "the L2 regularization strength",
                "a number >= 0",
            ),
            option(
                "fit_intercept",
                "whether to fit an intercept",
                "true (default) or false",
            ),
            option(
                "threshold",
                "the probability above which a binary prediction is 1",
                "a number in [0, 1]",
            ),
            option(
                "family",
                "binary or multiclass loss",
                "'auto' (default), 'binomial' or 'multinomial'",
            ),
        ],
        fit: Fit::Predictor {
            labelled: true,
            build: logistic_regression,
        },
        load: Some(load::<LogisticRegressionModel>),
    },
    ModelType {
        name: LinearRegressionModel::MODEL_TYPE,
        own_options: &[
            ITERATIVE_OPTIONS[0],
            ITERATIVE_OPTIONS[1],
            ITERATIVE_OPTIONS[2],
            option("reg_param", "the regularization strength", "a number >= 0"),
            option(
                "elastic_net_param",
                "the L1 share of the regularization",
                "a number in [0, 1]",
            ),
            option(
                "fit_intercept",
                "whether to fit an intercept",
                "true (default) or false",
            ),
        ],
        fit: Fit::Predictor {
            labelled: true,
            build: linear_regression,
        },
        load: Some(load::<LinearRegressionModel>),
    },
    ModelType {
        name: GradientBoostedTreesModel::CLASSIFIER,
        own_options: GBT_OPTIONS,
        fit: Fit::Predictor {
            labelled: true,
            build: gbt_classifier,
        },
        load: Some(load::<GradientBoostedTreesModel>),
    },
    ModelType {
        name: GradientBoostedTreesModel::REGRESSOR,
        own_options: GBT_OPTIONS,
        fit: Fit::Predictor {
            labelled: true,
            build: gbt_regressor,
        },
        load: Some(load::<GradientBoostedTreesModel>),
    },
    ModelType {
        name: RandomForestModel::CLASSIFIER,
        own_options: FOREST_OPTIONS,
        fit: Fit::Predictor {
            labelled: true,
            build: forest_classifier,
        },
        load: Some(load::<RandomForestModel>),
    },
    ModelType {
        name: RandomForestModel::REGRESSOR,
        own_options: FOREST_OPTIONS,
        fit: Fit::Predictor {
            labelled: true,
            build: forest_regressor,
        },
        load: Some(load::<RandomForestModel>),
    },
    ModelType {
        name: StandardScalerModel::MODEL_TYPE,
        own_options: &[
            option(
                "with_mean",
                "centre each column on its mean",
                "true or false (default)",
            ),
            option(
                "with_std",
                "scale each column to unit standard deviation",
                "true (default) or false",
            ),
        ],
        fit: Fit::Transformer {
            all_columns: false,
            build: standard_scaler,
        },
        load: Some(load::<StandardScalerModel>),
    },
    ModelType {
        name: MinMaxScalerModel::MODEL_TYPE,
        own_options: &[
            option(
                "min",
                "the lower end of the output range",
                "a number (default 0)",
            ),
            option(
                "max",
                "the upper end of the output range",
                "a number (default 1)",
            ),
        ],
        fit: Fit::Transformer {
            all_columns: false,
            build: min_max_scaler,
        },
        load: Some(load::<MinMaxScalerModel>),
    },
    ModelType {
        name: ImputerModel::MODEL_TYPE,
        own_options: &[
            option(
                "strategy",
                "what replaces a missing value",
                "'mean' (default), 'median' or 'most_frequent'",
            ),
            option(
                "missing_value",
                "the value that counts as missing, beside null and NaN",
                "a number",
            ),
        ],
        fit: Fit::Transformer {
            all_columns: false,
            build: imputer,
        },
        load: Some(load::<ImputerModel>),
    },
    ModelType {
        name: StringIndexerModel::MODEL_TYPE,
        own_options: &[option(
            "string_order",
            "how values are ordered into indices",
            "'frequency_desc' (default), 'frequency_asc', 'alphabet_asc' or 'alphabet_desc'",
        )],
        fit: Fit::Transformer {
            all_columns: true,
            build: string_indexer,
        },
        load: Some(load::<StringIndexerModel>),
    },
    ModelType {
        name: OneHotEncoderModel::MODEL_TYPE,
        own_options: &[option(
            "drop_last",
            "leave out the last category's column",
            "true (default) or false",
        )],
        fit: Fit::Transformer {
            all_columns: false,
            build: one_hot_encoder,
        },
        load: Some(load::<OneHotEncoderModel>),
    },
    ModelType {
        name: BucketizerModel::MODEL_TYPE,
        own_options: &[option(
            "splits",
            "the bucket boundaries ('-inf' and 'inf' for the infinities)",
            "a list of increasing numbers, or one such list per column",
        )],
        fit: Fit::Transformer {
            all_columns: false,
            build: bucketizer,
        },
        load: Some(load::<BucketizerModel>),
    },
    ModelType {
        name: "quantile_discretizer",
        own_options: &[option(
            "num_buckets",
            "buckets per column",
            "a whole number >= 2 (default 2)",
        )],
        fit: Fit::Transformer {
            all_columns: false,
            build: quantile_discretizer,
        },
        // It fits a bucketizer, which saves and loads as one.
        load: None,
    },
];

/// The `model_type` names SQL can create, in [`REGISTRY`] order.
pub const MODEL_TYPES: [&str; REGISTRY.len()] = {
    let mut names = [""; REGISTRY.len()];
    let mut index = 0;
    while index < names.len() {
        names[index] = REGISTRY[index].name;
        index += 1;
    }
    names
};

impl ModelType {
    /// The entry named `name`.
    pub fn named(name: &str) -> Option<&'static ModelType> {
        REGISTRY.iter().find(|model_type| model_type.name == name)
    }

    /// Every option the type takes: those of its kind (transformer or predictor), then its own.
    pub fn options(&self) -> impl Iterator<Item = &'static ModelOption> {
        let common: &'static [ModelOption] = match self.fit {
            Fit::Transformer { .. } => TRANSFORMER_OPTIONS,
            Fit::Predictor { labelled: true, .. } => PREDICTOR_OPTIONS,
            // Only the label is left out of an unlabelled predictor's options.
            Fit::Predictor {
                labelled: false, ..
            } => &PREDICTOR_OPTIONS[1..],
        };
        common.iter().chain(self.own_options)
    }
}

/// Loads a saved `M`.
fn load<M: AnyModel + PersistentModel + 'static>(saved: &SavedModel) -> Result<Arc<dyn AnyModel>> {
    Ok(Arc::new(M::from_saved(saved)?))
}

/// The option `seed`, a whole number >= 0.
fn seed(reader: &mut OptionReader<'_>) -> Result<Option<u64>> {
    Ok(reader.count("seed")?.map(|seed| seed as u64))
}

/// `estimator` with `set` applied to the option's `value`, when the option was given.
fn set<E, T>(estimator: E, value: Option<T>, set: impl FnOnce(E, T) -> E) -> E {
    match value {
        Some(value) => set(estimator, value),
        None => estimator,
    }
}

fn kmeans(
    reader: &mut OptionReader<'_>,
    features: Vec<String>,
    _label: String,
) -> Result<Box<dyn Stage>> {
    let kmeans = KMeans::new(features).handle_invalid(reader.handle_invalid()?.unwrap_or_default());
    let max_iter = reader.count("max_iter")?;
    let tol = reader.number("tol")?;
    let kmeans = set(kmeans, reader.count("k")?, KMeans::k);
    let kmeans = set(kmeans, seed(reader)?, KMeans::seed);
    let kmeans = set(kmeans, reader.count("init_steps")?, KMeans::init_steps);
    let kmeans = set(kmeans, max_iter, KMeans::max_iter);
    Ok(Box::new(set(kmeans, tol, KMeans::tol)))
}

fn logistic_regression(
    reader: &mut OptionReader<'_>,
    features: Vec<String>,
    label: String,
) -> Result<Box<dyn Stage>> {
    let logistic = LogisticRegression::new(features)
        .label(label)
        .handle_invalid(reader.handle_invalid()?.unwrap_or_default());
    let max_iter = reader.count("max_iter")?;
    let tol = reader.number("tol")?;
    let logistic = set(
        logistic,
        reader.number("reg_param")?,
        LogisticRegression::reg_param,
    );
    let logistic = set(
        logistic,
        reader.bool("fit_intercept")?,
        LogisticRegression::fit_intercept,
    );
    let logistic = set(
        logistic,
        reader.number("threshold")?,
        LogisticRegression::threshold,
    );
    let family = match reader.text("family")? {
        None => None,
        Some(family) => Some(match family.to_ascii_lowercase().as_str() {
            "auto" => Family::Auto,
            "binomial" => Family::Binomial,
            "multinomial" => Family::Multinomial,
            _ => return Err(reader.bad("family", "auto, binomial or multinomial")),
        }),
    };
    let logistic = set(logistic, family, LogisticRegression::family);
    let logistic = set(logistic, max_iter, LogisticRegression::max_iter);
    Ok(Box::new(set(logistic, tol, LogisticRegression::tol)))
}

fn linear_regression(
    reader: &mut OptionReader<'_>,
    features: Vec<String>,
    label: String,
) -> Result<Box<dyn Stage>> {
    let linear = LinearRegression::new(features)
        .label(label)
        .handle_invalid(reader.handle_invalid()?.unwrap_or_default());
    let max_iter = reader.count("max_iter")?;
    let tol = reader.number("tol")?;
    let linear = set(
        linear,
        reader.number("reg_param")?,
        LinearRegression::reg_param,
    );
    let linear = set(
        linear,
        reader.number("elastic_net_param")?,
        LinearRegression::elastic_net_param,
    );
    let linear = set(
        linear,
        reader.bool("fit_intercept")?,
        LinearRegression::fit_intercept,
    );
    let linear = set(linear, max_iter, LinearRegression::max_iter);
    Ok(Box::new(set(linear, tol, LinearRegression::tol)))
}

/// The options of gradient-boosted trees.
const GBT_OPTIONS: &[ModelOption] = &[
    TREE_COMMON[0],
    option(
        "max_depth",
        "the deepest a tree grows",
        "a whole number in 1..=64",
    ),
    option(
        "max_leaves",
        "the most leaves per tree",
        "a whole number in 2..=1048576",
    ),
    TREE_COMMON[1],
    option("learning_rate", "each tree's shrinkage", "a number > 0"),
    option(
        "min_child_weight",
        "the least hessian sum per leaf",
        "a number >= 0",
    ),
    TREE_COMMON[2],
    option(
        "lambda_l2",
        "the L2 regularization of leaf values",
        "a number >= 0",
    ),
    TREE_COMMON[3],
    option(
        "subsample",
        "the share of rows per round",
        "a number in (0, 1]",
    ),
    option(
        "colsample_bytree",
        "the share of features per tree",
        "a number in (0, 1]",
    ),
    TREE_COMMON[4],
    TREE_COMMON[5],
    TREE_COMMON[6],
    option(
        "validation_column",
        "a boolean column, true on the rows held out for early stopping",
        "a column name",
    ),
    option(
        "validation_fraction",
        "the share of rows held out for early stopping",
        "a number in (0, 1)",
    ),
    option(
        "early_stopping_rounds",
        "rounds without improvement on the held-out rows before the fit stops",
        "a whole number in 1..=100000",
    ),
];

fn gbt_classifier(
    reader: &mut OptionReader<'_>,
    features: Vec<String>,
    label: String,
) -> Result<Box<dyn Stage>> {
    gbt(
        reader,
        GradientBoostedTrees::classifier(features).label(&label),
    )
}

fn gbt_regressor(
    reader: &mut OptionReader<'_>,
    features: Vec<String>,
    label: String,
) -> Result<Box<dyn Stage>> {
    gbt(
        reader,
        GradientBoostedTrees::regressor(features).label(&label),
    )
}

/// `gbt` with the options of [`GBT_OPTIONS`] set.
fn gbt(reader: &mut OptionReader<'_>, gbt: GradientBoostedTrees) -> Result<Box<dyn Stage>> {
    type Trees = GradientBoostedTrees;
    let gbt = set(gbt, reader.count("num_trees")?, Trees::num_trees);
    let gbt = set(gbt, reader.count("max_depth")?, Trees::max_depth);
    let gbt = set(gbt, reader.count("max_leaves")?, Trees::max_leaves);
    let gbt = set(gbt, reader.count("max_bins")?, Trees::max_bins);
    let gbt = set(gbt, reader.number("learning_rate")?, Trees::learning_rate);
    let gbt = set(
        gbt,
        reader.number("min_child_weight")?,
        Trees::min_child_weight,
    );
    let gbt = set(
        gbt,
        reader.number("min_samples_leaf")?,
        Trees::min_samples_leaf,
    );
    let gbt = set(gbt, reader.number("lambda_l2")?, Trees::lambda_l2);
    let gbt = set(gbt, reader.number("min_split_gain")?, Trees::min_split_gain);
    let gbt = set(gbt, reader.number("subsample")?, Trees::subsample);
    let gbt = set(
        gbt,
        reader.number("colsample_bytree")?,
        Trees::colsample_bytree,
    );
    let gbt = set(gbt, reader.number("max_memory_mb")?, Trees::max_memory_mb);
    let gbt = set(gbt, seed(reader)?, Trees::seed);
    let gbt = set(gbt, reader.text("weight_column")?, Trees::weight_column);
    let gbt = set(
        gbt,
        reader.text("validation_column")?,
        Trees::validation_column,
    );
    let gbt = set(
        gbt,
        reader.number("validation_fraction")?,
        Trees::validation_fraction,
    );
    let gbt = set(
        gbt,
        reader.count("early_stopping_rounds")?,
        Trees::early_stopping_rounds,
    );
    Ok(Box::new(gbt))
}

/// The options of random forests.
const FOREST_OPTIONS: &[ModelOption] = &[
    TREE_COMMON[0],
    option(
        "max_depth",
        "the deepest a tree grows",
        "a whole number in 1..=30",
    ),
    TREE_COMMON[1],
    TREE_COMMON[2],
    TREE_COMMON[3],
    option(
        "subsample",
        "the mean count (or share) of each row in a tree's sample",
        "a number in (0, 1]",
    ),
    TREE_COMMON[4],
    option(
        "bootstrap",
        "draw each tree's rows with replacement",
        "true (default) or false",
    ),
    option(
        "feature_subset_strategy",
        "the features each node may split on",
        "'auto' (default), 'all', 'sqrt', 'log2', 'onethird', or a share in (0, 1]",
    ),
    option(
        "impurity",
        "the split criterion",
        "'gini' (default for classifiers), 'entropy' or 'variance' (regressors)",
    ),
    TREE_COMMON[5],
    TREE_COMMON[6],
];

fn forest_classifier(
    reader: &mut OptionReader<'_>,
    features: Vec<String>,
    label: String,
) -> Result<Box<dyn Stage>> {
    forest(reader, RandomForest::classifier(features).label(&label))
}

fn forest_regressor(
    reader: &mut OptionReader<'_>,
    features: Vec<String>,
    label: String,
) -> Result<Box<dyn Stage>> {
    forest(reader, RandomForest::regressor(features).label(&label))
}

/// `forest` with the options of [`FOREST_OPTIONS`] set.
fn forest(reader: &mut OptionReader<'_>, forest: RandomForest) -> Result<Box<dyn Stage>> {
    type Forest = RandomForest;
    let forest = set(forest, reader.count("num_trees")?, Forest::num_trees);
    let forest = set(forest, reader.count("max_depth")?, Forest::max_depth);
    let forest = set(forest, reader.count("max_bins")?, Forest::max_bins);
    let forest = set(
        forest,
        reader.number("min_samples_leaf")?,
        Forest::min_samples_leaf,
    );
    let forest = set(
        forest,
        reader.number("min_split_gain")?,
        Forest::min_split_gain,
    );
    let forest = set(forest, reader.number("subsample")?, Forest::subsample);
    let forest = set(
        forest,
        reader.number("max_memory_mb")?,
        Forest::max_memory_mb,
    );
    let forest = set(forest, reader.bool("bootstrap")?, Forest::bootstrap);
    // A number is a share of the features; a string names a strategy.
    let strategy = match reader.get("feature_subset_strategy") {
        None => None,
        Some(OptionValue::Number(share)) => Some(FeatureSubsetStrategy::Fraction(*share)),
        Some(_) => reader.parsed("feature_subset_strategy")?,
    };
    let forest = set(forest, strategy, Forest::feature_subset_strategy);
    let forest = set(forest, reader.parsed("impurity")?, Forest::impurity);
    let forest = set(forest, seed(reader)?, Forest::seed);
    Ok(Box::new(set(
        forest,
        reader.text("weight_column")?,
        Forest::weight_column,
    )))
}

fn standard_scaler(
    reader: &mut OptionReader<'_>,
    columns: TransformerColumns,
) -> Result<Box<dyn Stage>> {
    let scaler = StandardScaler::new(columns.features);
    let scaler = set(scaler, reader.bool("with_mean")?, StandardScaler::with_mean);
    let scaler = set(scaler, reader.bool("with_std")?, StandardScaler::with_std);
    Ok(Box::new(set(scaler, columns.outputs, |scaler, outputs| {
        scaler.output_columns(outputs)
    })))
}

fn min_max_scaler(
    reader: &mut OptionReader<'_>,
    columns: TransformerColumns,
) -> Result<Box<dyn Stage>> {
    let scaler = MinMaxScaler::new(columns.features);
    let scaler = set(scaler, reader.number("min")?, MinMaxScaler::min);
    let scaler = set(scaler, reader.number("max")?, MinMaxScaler::max);
    Ok(Box::new(set(scaler, columns.outputs, |scaler, outputs| {
        scaler.output_columns(outputs)
    })))
}

fn imputer(reader: &mut OptionReader<'_>, columns: TransformerColumns) -> Result<Box<dyn Stage>> {
    let imputer = Imputer::new(columns.features);
    let imputer = set(imputer, reader.parsed("strategy")?, Imputer::strategy);
    let imputer = set(
        imputer,
        reader.number("missing_value")?,
        Imputer::missing_value,
    );
    Ok(Box::new(set(
        imputer,
        columns.outputs,
        |imputer, outputs| imputer.output_columns(outputs),
    )))
}

fn string_indexer(
    reader: &mut OptionReader<'_>,
    columns: TransformerColumns,
) -> Result<Box<dyn Stage>> {
    let indexer = StringIndexer::new(columns.features).handle_invalid(columns.handle_invalid);
    let indexer = set(
        indexer,
        reader.parsed("string_order")?,
        StringIndexer::string_order,
    );
    Ok(Box::new(set(
        indexer,
        columns.outputs,
        |indexer, outputs| indexer.output_columns(outputs),
    )))
}

fn one_hot_encoder(
    reader: &mut OptionReader<'_>,
    columns: TransformerColumns,
) -> Result<Box<dyn Stage>> {
    let encoder = OneHotEncoder::new(columns.features).handle_invalid(columns.handle_invalid);
    let encoder = set(encoder, reader.bool("drop_last")?, OneHotEncoder::drop_last);
    Ok(Box::new(set(
        encoder,
        columns.outputs,
        |encoder, outputs| encoder.output_columns(outputs),
    )))
}

fn bucketizer(
    reader: &mut OptionReader<'_>,
    columns: TransformerColumns,
) -> Result<Box<dyn Stage>> {
    let splits = reader.splits(columns.features.len())?;
    let bucketizer =
        Bucketizer::new(columns.features, splits).handle_invalid(columns.handle_invalid);
    Ok(Box::new(set(
        bucketizer,
        columns.outputs,
        |bucketizer, outputs| bucketizer.output_columns(outputs),
    )))
}

fn quantile_discretizer(
    reader: &mut OptionReader<'_>,
    columns: TransformerColumns,
) -> Result<Box<dyn Stage>> {
    let discretizer =
        QuantileDiscretizer::new(columns.features).handle_invalid(columns.handle_invalid);
    let discretizer = set(
        discretizer,
        reader.count("num_buckets")?,
        QuantileDiscretizer::num_buckets,
    );
    Ok(Box::new(set(
        discretizer,
        columns.outputs,
        |discretizer, outputs| discretizer.output_columns(outputs),
    )))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::error::MlError;
    use crate::options::fit_from_options;
    use crate::test_frames::two_partition_frame;

    /// Each entry's declared options are exactly those its fit reads: an unknown option's error
    /// lists what was read.
    #[tokio::test]
    async fn every_model_type_declares_the_options_it_reads() {
        let data = two_partition_frame();
        for model_type in &REGISTRY {
            let mut options = BTreeMap::from([
                ("zz".to_string(), OptionValue::Number(1.0)),
                (
                    "features".to_string(),
                    OptionValue::List(vec![OptionValue::Text("x".to_string())]),
                ),
            ]);
            if model_type.name == "bucketizer" {
                let splits = [0.0, 1.0].map(OptionValue::Number).to_vec();
                options.insert("splits".to_string(), OptionValue::List(splits));
            }
            let error = fit_from_options(model_type.name, &options, &data)
                .await
                .unwrap_err();
            let MlError::InvalidOption { option, reason } = error else {
                panic!("{}: {error}", model_type.name);
            };
            assert_eq!(option, "zz");
            let read = reason.split("its options are ").nth(1).unwrap();
            let declared: BTreeSet<&str> = model_type.options().map(|option| option.name).collect();
            let declared: Vec<&str> = declared.into_iter().collect();
            assert_eq!(read, declared.join(", "), "{}", model_type.name);
            assert_eq!(
                model_type.options().count(),
                declared.len(),
                "{} declares an option twice",
                model_type.name
            );
        }
    }
}
