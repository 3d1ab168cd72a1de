//! `ember::ml` over real Parquet files: a fit aggregates across files and partitions, and the
//! fitted model transforms new data lazily.

use ember::datafusion::arrow::array::{AsArray, Float64Array};
use ember::datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type};
use ember::datafusion::common::cast::as_float64_array;
use ember::datafusion::dataframe::DataFrame;
use ember::datafusion::prelude::{cast, col, lit};
use ember::ml::{
    Estimator, GradientBoostedTrees, GradientBoostedTreesModel, Impurity, ImputeStrategy, Imputer,
    KMeans, KMeansModel, LinearRegression, LinearRegressionModel, LogisticRegression,
    LogisticRegressionModel, Model, QuantileDiscretizer, RandomForest, RandomForestModel,
    StandardScaler, StringIndexer,
};
use ember::Session;

use ember::datafusion::functions_aggregate::expr_fn::{count, sum};
use ember::ml::persist::load_model;
use ember::ml::tuning::{param_grid, random_split, CrossValidator};

use crate::cluster::{Cluster, NO_CONF};
use crate::common::{run_sql, stderr, stdout};

/// Writes `v` = 1..=1000 (and `w` = 2v) as three Parquet files under `dir`.
async fn write_dataset(session: &Session, dir: &std::path::Path) {
    for (part, (low, high)) in [(1, 300), (301, 700), (701, 1000)].into_iter().enumerate() {
        let path = dir.join(format!("part-{part}.parquet"));
        let copy = format!(
            "COPY (SELECT v, 2 * v AS w FROM generate_series({low}, {high}) AS t(v)) \
             TO '{}' STORED AS PARQUET",
            path.display()
        );
        session.sql(&copy).await.unwrap().collect().await.unwrap();
    }
}

#[tokio::test]
async fn standard_scaler_fits_across_parquet_files_and_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::builder().master("local[2]").build().unwrap();
    write_dataset(&session, dir.path()).await;
    let data = session
        .read_parquet(dir.path().to_str().unwrap())
        .await
        .unwrap();

    let model = StandardScaler::new(["v", "w"])
        .with_mean(true)
        .fit(&data)
        .await
        .unwrap();
    let [v, w] = model.summaries() else {
        panic!("two summaries expected")
    };
    // 1..=n: mean (n + 1) / 2, sample variance n (n + 1) / 12.
    assert_eq!((v.count, v.mean, v.min, v.max), (1000, 500.5, 1.0, 1000.0));
    assert!((v.variance - 1000.0 * 1001.0 / 12.0).abs() < 1e-6);
    assert!((w.variance - 4.0 * v.variance).abs() < 1e-6);

    let scaled = model
        .transform(data.filter(col("v").eq(lit(1000))).unwrap())
        .unwrap()
        .select_columns(&["v_scaled", "w_scaled"])
        .unwrap()
        .collect()
        .await
        .unwrap();
    let value = |column: usize| -> f64 {
        let array: &Float64Array = as_float64_array(scaled[0].column(column)).unwrap();
        array.value(0)
    };
    let expected = 499.5 / v.std_dev();
    assert!((value(0) - expected).abs() < 1e-12);
    assert!(
        (value(1) - expected).abs() < 1e-12,
        "w = 2v scales the same"
    );
}

/// The functions estimators put in plans take a model or a step as bytes they decode; user SQL
/// cannot call them (before, `SELECT ml_trees_predict(X'...', 1.0)` aborted the process on a
/// 24 PB allocation), on its own process or through the `ember` binary.
#[tokio::test]
async fn sql_cannot_call_the_functions_estimators_put_in_plans() {
    let session = Session::builder().master("local[1]").build().unwrap();
    let scalar = ember::ml::functions::scalar_functions();
    let aggregate = ember::ml::functions::aggregate_functions();
    let names: Vec<String> = scalar
        .iter()
        .map(|f| f.name().to_string())
        .chain(aggregate.iter().map(|f| f.name().to_string()))
        .collect();
    assert!(names.len() > 15, "{names:?}");
    for name in &names {
        let error = match session.sql(&format!("SELECT {name}(X'00', 1.0)")).await {
            Ok(frame) => frame.collect().await.map(|_| ()).unwrap_err().to_string(),
            Err(error) => error.to_string(),
        };
        assert!(
            error.contains(&format!("Invalid function '{name}'")),
            "{name}: {error}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let output = run_sql(
        dir.path(),
        "SELECT ml_trees_predict(X'000000000000F03F0000000000000000', 1.0)",
        &[],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("Invalid function 'ml_trees_predict'"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn fitting_on_a_text_column_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::builder().master("local[2]").build().unwrap();
    let path = dir.path().join("names.parquet");
    let copy = format!(
        "COPY (SELECT 'a' AS name, 1 AS v) TO '{}' STORED AS PARQUET",
        path.display()
    );
    session.sql(&copy).await.unwrap().collect().await.unwrap();
    let data = session.read_parquet(path.to_str().unwrap()).await.unwrap();
    let error = StandardScaler::new(["name"]).fit(&data).await.unwrap_err();
    assert!(
        error.to_string().starts_with("column 'name' has type Utf8"),
        "{error}"
    );
}

/// Writes 3,000 points in three groups (columns `id`, `x`, `y`, a 0/1 label `middle` that is 1
/// in the second group, and a continuous `target`) as three Parquet files.
async fn write_points(session: &Session, dir: &std::path::Path) {
    for part in 0..3 {
        let path = dir.join(format!("part-{part}.parquet"));
        let copy = format!(
            "COPY (SELECT v AS id, \
                      CASE v % 3 WHEN 0 THEN 0.0 WHEN 1 THEN 6.0 ELSE 2.0 END \
                        + ((v * 37) % 101) / 101.0 * 3.0 AS x, \
                      CASE v % 3 WHEN 0 THEN 0.0 WHEN 1 THEN 1.0 ELSE 7.0 END \
                        + ((v * 53) % 97) / 97.0 * 3.0 AS y, \
                      CASE v % 3 WHEN 1 THEN 1.0 ELSE 0.0 END AS middle, \
                      (v % 7) * 0.5 + ((v * 53) % 97) / 97.0 AS target \
                   FROM generate_series({}, {}) AS t(v)) TO '{}' STORED AS PARQUET",
            part * 1000,
            part * 1000 + 999,
            path.display()
        );
        session.sql(&copy).await.unwrap().collect().await.unwrap();
    }
}

/// A `local[2]` session whose model catalog is `models` in a new temporary directory, and the
/// points of [`write_points`] written under its `points/`.
async fn session_with_points(models: &str) -> (tempfile::TempDir, Session, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let points = dir.path().join("points");
    std::fs::create_dir(&points).unwrap();
    let session = Session::builder()
        .master("local[2]")
        .config(
            "ember.ml.model.dir",
            &dir.path().join(models).display().to_string(),
        )
        .build()
        .unwrap();
    write_points(&session, &points).await;
    (dir, session, points)
}

/// What fitting each estimator on the points under a directory gave.
#[derive(Debug, PartialEq)]
struct Fits {
    k_means: KMeansModel,
    clusters_by_id: Vec<(i64, i32)>,
    logistic: LogisticRegressionModel,
    linear: LinearRegressionModel,
    /// Preprocessing: quartile splits of x and y (sketch), medians (sketch), labels by frequency.
    quartiles: Vec<Vec<f64>>,
    medians: Vec<f64>,
    labels: Vec<Vec<String>>,
    /// Tuning: each random split's row count and id sum; cross-validated metrics per candidate.
    splits: Vec<(usize, i64)>,
    cross_validated: Vec<f64>,
    /// Trees: a classifier on sampled rows and features stopping early on held-out rows, and
    /// a weighted regressor.
    gbt_classifier: GradientBoostedTreesModel,
    gbt_regressor: GradientBoostedTreesModel,
    /// A 3-class classifier (softmax), stopping early on held-out rows.
    gbt_multiclass: GradientBoostedTreesModel,
    /// A weighted random forest classifier (bootstrap rows, features per node).
    forest_classifier: RandomForestModel,
    /// A 3-class forest (entropy).
    forest_multiclass: RandomForestModel,
}

/// Fits k-means, logistic and linear regression on the points under `dir` through `session`.
async fn fit_all(session: &Session, dir: &std::path::Path) -> Fits {
    let data = session.read_parquet(dir.to_str().unwrap()).await.unwrap();
    let (k_means, clusters_by_id) = fit_k_means(&data).await;
    let logistic = LogisticRegression::new(["x", "y"])
        .label("middle")
        .reg_param(0.1)
        .fit(&data)
        .await
        .unwrap();
    let linear = LinearRegression::new(["x", "y"])
        .label("target")
        .fit(&data)
        .await
        .unwrap();
    let quartiles = QuantileDiscretizer::new(["x", "y"])
        .num_buckets(4)
        .fit(&data)
        .await
        .unwrap()
        .splits()
        .to_vec();
    let medians = Imputer::new(["x", "y"])
        .strategy(ImputeStrategy::Median)
        .fit(&data)
        .await
        .unwrap()
        .surrogates()
        .to_vec();
    let labels = StringIndexer::new(["middle"])
        .fit(&data)
        .await
        .unwrap()
        .labels()
        .to_vec();
    let mut splits = Vec::new();
    for split in random_split(&data, &[0.7, 0.2, 0.1], 3).unwrap() {
        let batches = split
            .aggregate(vec![], vec![count(lit(1)), sum(col("id"))])
            .unwrap()
            .collect()
            .await
            .unwrap();
        let rows = batches[0].column(0).as_primitive::<Int64Type>().value(0);
        let ids = batches[0].column(1).as_primitive::<Int64Type>().value(0);
        splits.push((rows as usize, ids));
    }
    let base = LinearRegression::new(["x", "y"]).label("target");
    let candidates = param_grid([base], &[0.0, 1.0], LinearRegression::reg_param);
    let cross_validated = CrossValidator::new(candidates, "rmse")
        .parallelism(2)
        .fit(&data)
        .await
        .unwrap()
        .average_metrics()
        .to_vec();
    let gbt_classifier = GradientBoostedTrees::classifier(["x", "y", "target"])
        .label("middle")
        .num_trees(30)
        .subsample(0.8)
        .colsample_bytree(0.7)
        .validation_fraction(0.2)
        .early_stopping_rounds(3)
        .fit(&data)
        .await
        .unwrap();
    let gbt_regressor = GradientBoostedTrees::regressor(["x", "y"])
        .label("target")
        .weight_column("x")
        .num_trees(10)
        .max_depth(3)
        .max_leaves(8)
        .fit(&data)
        .await
        .unwrap();
    let with_group = data
        .clone()
        .with_column("group", cast(col("id") % lit(3), DataType::Float64))
        .unwrap();
    let gbt_multiclass = GradientBoostedTrees::classifier(["x", "y"])
        .label("group")
        .num_trees(10)
        .max_depth(3)
        .validation_fraction(0.2)
        .early_stopping_rounds(2)
        .fit(&with_group)
        .await
        .unwrap();
    let forest_classifier = RandomForest::classifier(["x", "y", "target"])
        .label("middle")
        .weight_column("x")
        .num_trees(10)
        .max_depth(4)
        .fit(&data)
        .await
        .unwrap();
    let forest_multiclass = RandomForest::classifier(["x", "y"])
        .label("group")
        .impurity(Impurity::Entropy)
        .num_trees(5)
        .max_depth(3)
        .fit(&with_group)
        .await
        .unwrap();
    Fits {
        forest_classifier,
        forest_multiclass,
        gbt_classifier,
        gbt_regressor,
        gbt_multiclass,
        k_means,
        clusters_by_id,
        logistic,
        linear,
        quartiles,
        medians,
        labels,
        splits,
        cross_validated,
    }
}

/// Fits k-means on `data` and returns the model and each point's cluster, by id.
async fn fit_k_means(data: &DataFrame) -> (KMeansModel, Vec<(i64, i32)>) {
    let model = KMeans::new(["x", "y"])
        .k(3)
        .seed(11)
        .fit(data)
        .await
        .unwrap();
    let labelled = model
        .transform(data.clone())
        .unwrap()
        .sort(vec![col("id").sort(true, false)])
        .unwrap()
        .select_columns(&["id", "prediction"])
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut labels = Vec::new();
    for batch in &labelled {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let clusters = batch.column(1).as_primitive::<Int32Type>();
        labels.extend(
            ids.values()
                .iter()
                .copied()
                .zip(clusters.values().iter().copied()),
        );
    }
    (model, labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_fitted_on_a_cluster_equal_local_mode_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("points");
    std::fs::create_dir(&data_dir).unwrap();
    let local = Session::builder().master("local[2]").build().unwrap();
    write_points(&local, &data_dir).await;
    let local_fits = fit_all(&local, &data_dir).await;
    assert_eq!(local_fits.k_means.cluster_sizes(), &[1000, 1000, 1000]);
    assert_eq!(local_fits.clusters_by_id.len(), 3000);
    assert!(local_fits.linear.training_r2() > 0.0);
    assert_eq!(local_fits.labels, [vec!["0.0", "1.0"]]);
    assert!(local_fits.gbt_classifier.trees().len() >= 2);
    assert_eq!(local_fits.gbt_regressor.trees().len(), 10);
    assert_eq!(local_fits.forest_classifier.trees().len(), 10);
    assert_eq!(local_fits.forest_multiclass.trees().len(), 15);
    let multiclass_trees = local_fits.gbt_multiclass.trees().len();
    assert!(
        multiclass_trees >= 3 && multiclass_trees % 3 == 0,
        "{multiclass_trees} trees"
    );
    let split_rows: usize = local_fits.splits.iter().map(|(rows, _)| rows).sum();
    assert_eq!(split_rows, 3000);

    let cluster = Cluster::start(dir.path(), 2, NO_CONF);
    let remote = Session::builder()
        .master(&cluster.master())
        .build()
        .unwrap();
    assert_eq!(fit_all(&remote, &data_dir).await, local_fits);
}

/// Runs `ember sql` on `query` in `dir` (models in `dir/ember-models`, the default), expecting
/// success, and returns the CSV rows after the header.
fn sql_rows(dir: &std::path::Path, query: &str) -> Vec<Vec<String>> {
    let output = run_sql(dir, query, &[]);
    assert!(output.status.success(), "{query}: {}", stderr(&output));
    let text = stdout(&output);
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|record| record.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_models_are_created_used_and_dropped_across_processes() {
    let (dir, session, points) = session_with_points("ember-models").await;
    let table = format!("'{}'", points.display());

    // Train in one process...
    let created = sql_rows(
        dir.path(),
        &format!(
            "CREATE MODEL clusters OPTIONS (model_type = 'kmeans', k = 3, seed = 5, \
             features = ['x', 'y']) AS SELECT x, y FROM {table}"
        ),
    );
    assert!(created.contains(&vec!["model_type".to_string(), "kmeans".to_string()]));
    sql_rows(
        dir.path(),
        &format!(
            "CREATE MODEL middle OPTIONS (model_type = 'logistic_regression', label = 'middle', \
             reg_param = 0.1, features = ['x', 'y']) AS SELECT x, y, middle FROM {table}"
        ),
    );
    // An entry whose metadata is corrupt is skipped with a warning naming it, not a failure.
    let broken = dir.path().join("ember-models/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("metadata.json"), "{").unwrap();
    let shown = run_sql(dir.path(), "SHOW MODELS", &[]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(
        stderr(&shown).contains("SHOW MODELS skips 'broken'"),
        "{}",
        stderr(&shown)
    );
    assert_eq!(
        stdout(&shown).lines().skip(1).count(),
        2,
        "the good entries beside it: {}",
        stdout(&shown)
    );
    std::fs::remove_dir_all(&broken).unwrap();
    // A replacement killed once its new model is written, before it takes the old one's place,
    // leaves the old model (the old one was deleted before the new one was written).
    let old_metadata = std::fs::read(dir.path().join("ember-models/middle/metadata.json")).unwrap();
    let replace = format!(
        "CREATE OR REPLACE MODEL middle OPTIONS (model_type = 'logistic_regression', \
         label = 'middle', reg_param = 1.0, features = ['x', 'y']) AS SELECT x, y, middle FROM {table}"
    );
    let killed = std::process::Command::new(crate::common::ember_binary())
        .current_dir(dir.path())
        .args(["sql", "--quiet", "-e", &replace])
        .env("FAILPOINTS", "model.save.written")
        .output()
        .unwrap();
    assert!(
        !killed.status.success() && stderr(&killed).contains("failpoint model.save.written"),
        "{}",
        stderr(&killed)
    );
    let metadata = std::fs::read(dir.path().join("ember-models/middle/metadata.json")).unwrap();
    assert!(metadata == old_metadata, "the old model was replaced");
    let models = sql_rows(dir.path(), "SHOW MODELS");
    assert_eq!(
        models,
        vec![
            vec![
                "clusters".to_string(),
                "kmeans".to_string(),
                "x, y".to_string()
            ],
            vec![
                "middle".to_string(),
                "logistic_regression".to_string(),
                "x, y".to_string()
            ],
        ]
    );

    // ...score in another: the same probabilities, bit for bit, as this process computes.
    let input = format!("SELECT id, x, y FROM {}", table.replace('\'', "''"));
    let scored = sql_rows(
        dir.path(),
        &format!("SELECT id, probability FROM ml_predict('middle', '{input}') ORDER BY id"),
    );
    let loaded: LogisticRegressionModel = load_model(
        session.context(),
        &dir.path().join("ember-models/middle").display().to_string(),
    )
    .await
    .unwrap();
    let data = session
        .read_parquet(points.to_str().unwrap())
        .await
        .unwrap();
    let here = loaded
        .transform(data.clone())
        .unwrap()
        .sort(vec![col("id").sort(true, false)])
        .unwrap()
        .select_columns(&["probability"])
        .unwrap()
        .collect()
        .await
        .unwrap();
    let here: Vec<f64> = here
        .iter()
        .flat_map(|batch| as_float64_array(batch.column(0)).unwrap().values().to_vec())
        .collect();
    let there: Vec<f64> = scored.iter().map(|row| row[1].parse().unwrap()).collect();
    assert_eq!(there.len(), 3000);
    assert_eq!(
        there.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        here.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );

    // The scalar form inside an ordinary query agrees with ml_predict.
    let clusters = sql_rows(
        dir.path(),
        &format!("SELECT id, prediction FROM ml_predict('clusters', '{input}') ORDER BY id"),
    );
    let inline = sql_rows(
        dir.path(),
        &format!("SELECT id, ml_predict_value('clusters', x, y) + 0 AS c FROM {table} ORDER BY id"),
    );
    assert_eq!(inline, clusters);

    let metrics = run_sql(
        dir.path(),
        &format!(
            "SELECT * FROM ml_evaluate('middle', 'SELECT * FROM {}')",
            table.replace('\'', "''")
        ),
        &[],
    );
    let header = stdout(&metrics)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        header,
        "roc_auc,pr_auc,log_loss,accuracy,f1,precision,recall"
    );
    let described = sql_rows(dir.path(), "DESCRIBE MODEL clusters");
    assert!(described.contains(&vec!["k".to_string(), "3".to_string()]));

    // Errors name what is wrong.
    let again = run_sql(
        dir.path(),
        &format!(
            "CREATE MODEL clusters OPTIONS (model_type = 'kmeans') AS SELECT x, y FROM {table}"
        ),
        &[],
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("model 'clusters' already exists"),
        "{}",
        stderr(&again)
    );
    let unknown = run_sql(
        dir.path(),
        &format!(
            "CREATE MODEL m OPTIONS (model_type = 'kmeans', kk = 3) AS SELECT x, y FROM {table}"
        ),
        &[],
    );
    assert!(
        stderr(&unknown).contains("invalid option kk: not an option of kmeans"),
        "{}",
        stderr(&unknown)
    );
    sql_rows(dir.path(), "DROP MODEL clusters");
    let missing = run_sql(
        dir.path(),
        &format!("SELECT * FROM ml_predict('clusters', '{input}')"),
        &[],
    );
    assert!(
        stderr(&missing).contains("model 'clusters' does not exist in ember-models"),
        "{}",
        stderr(&missing)
    );
    sql_rows(dir.path(), "DROP MODEL IF EXISTS clusters");
}

/// The rows of `query` run in `session`, each value as its display string.
async fn session_rows(session: &Session, query: &str) -> Vec<Vec<String>> {
    let batches = session
        .sql(query)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let mut rows = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|column| {
                        ember::datafusion::arrow::util::display::array_value_to_string(column, row)
                            .unwrap()
                    })
                    .collect(),
            );
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_models_carry_their_preprocessing_and_transformers_stand_alone() {
    let (_dir, session, points) = session_with_points("models").await;
    let rows = format!(
        "SELECT id, x, y, middle, CASE id % 3 WHEN 0 THEN 'a' WHEN 1 THEN 'b' ELSE 'c' END \
         AS kind FROM '{}'",
        points.display()
    );
    session
        .sql(&format!("CREATE VIEW pts AS {rows}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();

    // A classifier over a one-hot encoded string column and standardized numbers: the
    // preprocessing is fitted with it, saved with it, and applied when it predicts.
    session_rows(
        &session,
        "CREATE MODEL kinds OPTIONS (model_type = 'logistic_regression', label = 'middle', \
         features = ['x', 'y', 'kind'], one_hot = ['kind'], standardize = true, impute = 'mean', \
         reg_param = 0.01) AS SELECT * FROM pts",
    )
    .await;
    let described = session_rows(&session, "DESCRIBE MODEL kinds").await;
    assert!(
        described.contains(&vec!["model_type".to_string(), "pipeline".to_string()]),
        "{described:?}"
    );
    let predicted = session
        .sql("SELECT * FROM ml_predict('kinds', 'SELECT id, x, y, kind FROM pts')")
        .await
        .unwrap();
    let names: Vec<String> = predicted
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "x", "y", "kind", "prediction", "probability"]);
    let metrics = session_rows(&session, "SELECT accuracy FROM ml_evaluate('kinds', 'pts')").await;
    assert_eq!(metrics, [["1.0"]], "'kind' alone tells the label");
    // The scalar form composes the preprocessing into one expression, equal to ml_predict's.
    let disagreements = session_rows(
        &session,
        "SELECT count(*) FROM ml_predict('kinds', 'pts') \
         WHERE prediction <> ml_predict_value('kinds', x, y, kind)",
    )
    .await;
    assert_eq!(disagreements, [["0"]]);
    // An unseen category goes to the extra category instead of failing.
    let unseen = session_rows(
        &session,
        "SELECT count(*) FROM ml_predict('kinds', \
         'SELECT x, y, ''zzz'' AS kind FROM pts') WHERE prediction IS NOT NULL",
    )
    .await;
    assert_eq!(unseen, [["3000"]]);

    // Preprocessing stages on their own.
    session_rows(
        &session,
        "CREATE MODEL quartiles OPTIONS (model_type = 'quantile_discretizer', \
         features = ['x'], num_buckets = 4) AS SELECT x FROM pts",
    )
    .await;
    let counts = session_rows(
        &session,
        "SELECT x_bucket, count(*) FROM ml_predict('quartiles', 'pts') \
         GROUP BY x_bucket ORDER BY x_bucket",
    )
    .await;
    assert_eq!(counts.len(), 4, "{counts:?}");
    for row in &counts {
        let count: f64 = row[1].parse().unwrap();
        assert!((count - 750.0).abs() <= 15.0, "{counts:?}");
    }
    session_rows(
        &session,
        "CREATE MODEL halves OPTIONS (model_type = 'bucketizer', features = ['y'], \
         splits = ['-inf', 4, 'inf']) AS SELECT y FROM pts",
    )
    .await;
    let halves = session_rows(
        &session,
        "SELECT count(*) FROM ml_predict('halves', 'pts') WHERE (y < 4) <> (y_bucket = 0)",
    )
    .await;
    assert_eq!(halves, [["0"]]);
    let error = session
        .sql(
            "CREATE MODEL bad OPTIONS (model_type = 'imputer', strategy = 'avg') \
             AS SELECT x FROM pts",
        )
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains(
            "invalid parameter strategy: 'avg' is not one of mean, median, most_frequent"
        ),
        "{error}"
    );
    // A one-column transformer's value works as the scalar form too.
    let disagreements = session_rows(
        &session,
        "SELECT count(*) FROM ml_predict('quartiles', 'pts') \
         WHERE x_bucket <> ml_predict_value('quartiles', x)",
    )
    .await;
    assert_eq!(disagreements, [["0"]]);
    let error = session
        .sql("SELECT ml_predict_value('kinds_index', x) FROM pts")
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("model 'kinds_index' does not exist"),
        "{error}"
    );
}

/// [`session_rows`] on a runtime of this thread's own.
fn rows_on_own_runtime(session: &Session, query: &str) -> Vec<Vec<String>> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(session_rows(session, query))
}

/// Two statements planned at once on one session, each calling a different model, each
/// get their own model's answer: the models a statement loads are its own, not the session's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_statements_on_one_session_use_their_own_models() {
    let (_dir, session, points) = session_with_points("models").await;
    let view = format!("CREATE VIEW pts AS SELECT y FROM '{}'", points.display());
    session_rows(&session, &view).await;
    for (name, split) in [("low", 2), ("high", 6)] {
        session_rows(
            &session,
            &format!(
                "CREATE MODEL {name} OPTIONS (model_type = 'bucketizer', features = ['y'], \
                 splits = ['-inf', {split}, 'inf']) AS SELECT y FROM pts"
            ),
        )
        .await;
    }
    let query = |name: &str| {
        format!(
            "SELECT sum(y_bucket), sum(ml_predict_value('{name}', y)) \
             FROM ml_predict('{name}', 'pts')"
        )
    };
    let expected_low = session_rows(&session, &query("low")).await;
    let expected_high = session_rows(&session, &query("high")).await;
    assert_ne!(expected_low, expected_high, "the two models must disagree");
    let (low_query, high_query) = (query("low"), query("high"));
    for _ in 0..20 {
        // Each statement on a thread of its own, so one is planned while the other loads models.
        let (low, high) = std::thread::scope(|scope| {
            let low = scope.spawn(|| rows_on_own_runtime(&session, &low_query));
            let high = scope.spawn(|| rows_on_own_runtime(&session, &high_query));
            (low.join().unwrap(), high.join().unwrap())
        });
        assert_eq!(low, expected_low);
        assert_eq!(high, expected_high);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_models_from_sql() {
    let (_dir, session, points) = session_with_points("models").await;
    let table = format!("'{}'", points.display());
    session_rows(
        &session,
        &format!(
            "CREATE MODEL middle OPTIONS (model_type = 'gbt_classifier', label = 'middle', \
             features = ['x', 'y'], num_trees = 20, max_depth = 3, learning_rate = 0.3) \
             AS SELECT x, y, middle FROM {table}"
        ),
    )
    .await;
    let shown = session_rows(&session, "SHOW MODELS").await;
    assert_eq!(
        shown[0][..2],
        ["middle".to_string(), "gbt_classifier".to_string()]
    );
    let metrics = session_rows(
        &session,
        &format!(
            "SELECT accuracy FROM ml_evaluate('middle', 'SELECT * FROM {}')",
            table.replace('\'', "''")
        ),
    )
    .await;
    assert_eq!(metrics, [["1.0"]], "the groups are separable");
    let disagreements = session_rows(
        &session,
        &format!(
            "SELECT count(*) FROM ml_predict('middle', 'SELECT * FROM {}') \
             WHERE prediction <> ml_predict_value('middle', x, y)",
            table.replace('\'', "''")
        ),
    )
    .await;
    assert_eq!(disagreements, [["0"]]);
    session_rows(
        &session,
        &format!(
            "CREATE MODEL forest OPTIONS (model_type = 'random_forest_classifier', \
             label = 'middle', features = ['x', 'y'], num_trees = 10, max_depth = 4, \
             impurity = 'entropy', feature_subset_strategy = 'all', seed = 3) \
             AS SELECT x, y, middle FROM {table}"
        ),
    )
    .await;
    let forest = session_rows(
        &session,
        &format!(
            "SELECT accuracy FROM ml_evaluate('forest', 'SELECT * FROM {}')",
            table.replace('\'', "''")
        ),
    )
    .await;
    assert_eq!(forest, [["1.0"]], "the groups are separable");
    let error = session
        .sql(&format!(
            "CREATE MODEL bad OPTIONS (model_type = 'random_forest_regressor', \
             label = 'target', impurity = 'gini') AS SELECT x, y, target FROM {table}"
        ))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("impurity"), "{error}");
    let error = session
        .sql(&format!(
            "CREATE MODEL bad OPTIONS (model_type = 'gbt_regressor', label = 'target', \
             max_iter = 3) AS SELECT x, y, target FROM {table}"
        ))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("invalid option max_iter: not an option of gbt_regressor"),
        "{error}"
    );
}

/// 400K rows of three features and a label `y` (13 MB as Float64).
const BUDGET_ROWS: &str = "SELECT CAST(v % 997 AS DOUBLE) AS a, CAST(v % 13 AS DOUBLE) AS b, \
                           CAST(v % 7 AS DOUBLE) AS c, 3.0 * (v % 997) - 2.0 * (v % 13) + (v % 7) \
                           AS y FROM generate_series(1, 400000) AS t(v)";

/// A `local[2]` session with `ember.memory.limit` = `limit`, spilling and saving models under
/// the returned directory.
fn session_with_budget(limit: &str) -> (tempfile::TempDir, Session) {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::builder()
        .master("local[2]")
        .config("ember.memory.limit", limit)
        .config(
            "ember.local.dir",
            &dir.path().join("spill").display().to_string(),
        )
        .config(
            "ember.ml.model.dir",
            &dir.path().join("models").display().to_string(),
        )
        .build()
        .unwrap();
    (dir, session)
}

/// What `CREATE MODEL` fits on [`BUDGET_ROWS`] under `ember.memory.limit` = `limit`: a linear
/// regression's predictions summed over 1000 rows.
async fn fit_under_budget(limit: &str) -> Vec<Vec<String>> {
    let (_dir, session) = session_with_budget(limit);
    session_rows(
        &session,
        &format!(
            "CREATE MODEL line OPTIONS (model_type = 'linear_regression', label = 'y', \
             features = ['a', 'b', 'c']) AS {BUDGET_ROWS}"
        ),
    )
    .await;
    let sample = format!("{BUDGET_ROWS} LIMIT 1000").replace('\'', "''");
    session_rows(
        &session,
        &format!("SELECT round(sum(prediction), 3) FROM ml_predict('line', '{sample}')"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fit_whose_rows_exceed_the_budget_spills_them_and_fits_the_same_model() {
    let unlimited = fit_under_budget("unlimited").await;
    assert_eq!(fit_under_budget("8m").await, unlimited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_workers_whose_rows_exceed_the_budget_fail_naming_it() {
    let (_dir, session) = session_with_budget("16m");
    let error = session
        .sql(&format!(
            "CREATE MODEL trees OPTIONS (model_type = 'gbt_regressor', label = 'y', \
             features = ['a', 'b', 'c'], num_trees = 2) AS {BUDGET_ROWS}"
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("binned rows and their fit state need")
            && error.contains("ember.memory.limit"),
        "{error}"
    );
}
