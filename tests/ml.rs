//! `ember::ml` over real Parquet files: a fit aggregates across files and partitions, and the
//! fitted model transforms new data lazily.

use ember::datafusion::arrow::array::{AsArray, Float64Array};
use ember::datafusion::arrow::datatypes::{Int32Type, Int64Type};
use ember::datafusion::common::cast::as_float64_array;
use ember::datafusion::dataframe::DataFrame;
use ember::datafusion::prelude::{col, lit};
use ember::ml::{
    Estimator, KMeans, KMeansModel, LinearRegression, LinearRegressionModel, LogisticRegression,
    LogisticRegressionModel, Model, StandardScaler,
};
use ember::Session;

use crate::cluster::{Cluster, NO_CONF};

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

/// What fitting each estimator on the points under a directory gave.
#[derive(Debug, PartialEq)]
struct Fits {
    k_means: KMeansModel,
    clusters_by_id: Vec<(i64, i32)>,
    logistic: LogisticRegressionModel,
    linear: LinearRegressionModel,
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
    Fits {
        k_means,
        clusters_by_id,
        logistic,
        linear,
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

    let cluster = Cluster::start(dir.path(), 2, NO_CONF);
    let remote = Session::builder()
        .master(&cluster.master())
        .build()
        .unwrap();
    assert_eq!(fit_all(&remote, &data_dir).await, local_fits);
}
