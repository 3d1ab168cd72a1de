//! `KMeans`: k-means clustering, fitted by distributed Lloyd iterations.
//!
//! Initial centers come from k-means|| ([`init`]) or are given. Each Lloyd iteration is ONE
//! aggregate over the data ([`steps::LloydStep`]): the current centers ride in the plan as a
//! literal; partitions assign their rows to the nearest center and sum rows, counts and squared
//! distances per center; the driver divides. Only `k * (dim + 1) + 1` numbers per partition
//! travel.

mod init;
pub mod silhouette;
pub mod steps;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;
use serde_json::json;

use crate::aggregate::{run, Aggregated};
use crate::error::{MlError, Result};
use crate::estimator::Estimator;
use crate::evaluation::Metrics;
use crate::kernels::nearest::{assign, squared_distance, Centers};
use crate::params::{check_at_least, check_range, feature_exprs, setters, HandleInvalid};
use crate::persist::{ModelParts, PersistentModel, SavedModel};
use crate::predict::{scored_model, RowModel};
use silhouette::{ClusterStatsStep, SilhouetteStep};
use steps::{decode_centers, encode_centers, LloydStep};

/// k-means clustering of rows by their numeric `features`, as Spark ML's `KMeans`.
///
/// Parameters and defaults: `k = 2`, `max_iter = 20`, `tol = 1e-4` (the fit stops when no center
/// moves farther than `tol`), `seed = 42`, `init_steps = 2` (k-means|| rounds),
/// `initial_centers` (instead of k-means||), `prediction_column = "prediction"` (the 0-based
/// cluster index as `Int32`), `handle_invalid = error` (see [`HandleInvalid`]).
///
/// An iteration that leaves a cluster empty keeps its center where it was (as Spark does). The
/// fit is deterministic for a seed and a partitioning of the data.
///
/// k-means reads the data once per iteration: cache the input first (`Session::cache`) when it
/// is expensive to compute.
///
/// ```no_run
/// # async fn demo(points: datafusion::dataframe::DataFrame) -> ember_mllib::Result<()> {
/// use ember_mllib::{Estimator, KMeans, Model};
///
/// let model = KMeans::new(["x", "y"]).k(8).max_iter(30).fit(&points).await?;
/// println!("cost {}", model.training_cost());
/// let labelled = model.transform(points)?; // adds `prediction`
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    features: Vec<String>,
    k: usize,
    max_iter: usize,
    tol: f64,
    seed: u64,
    init_steps: usize,
    initial_centers: Option<Vec<Vec<f64>>>,
    prediction_column: String,
    handle_invalid: HandleInvalid,
}

impl KMeans {
    /// k-means over `features`, with the defaults above.
    pub fn new<I, S>(features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            features: features.into_iter().map(Into::into).collect(),
            k: 2,
            max_iter: 20,
            tol: 1e-4,
            seed: 42,
            init_steps: 2,
            initial_centers: None,
            prediction_column: "prediction".to_string(),
            handle_invalid: HandleInvalid::Error,
        }
    }

    /// Starts from these `k` centers (one value per feature each) instead of k-means||.
    pub fn initial_centers(mut self, centers: Vec<Vec<f64>>) -> Self {
        self.initial_centers = Some(centers);
        self
    }

    /// Checks the parameters against each other; returns the given initial centers, if any.
    fn validate(&self) -> Result<Option<Centers>> {
        check_range("k", self.k, 2, 1 << 20)?;
        check_at_least("tol", self.tol, 0.0)?;
        check_range("init_steps", self.init_steps, 1, 100)?;
        let Some(given) = &self.initial_centers else {
            return Ok(None);
        };
        let dim = self.features.len();
        if given.len() != self.k {
            return Err(MlError::InvalidParam {
                param: "initial_centers",
                reason: format!("{} centers given for k = {}", given.len(), self.k),
            });
        }
        if let Some(bad) = given
            .iter()
            .position(|center| center.len() != dim || center.iter().any(|v| !v.is_finite()))
        {
            return Err(MlError::InvalidParam {
                param: "initial_centers",
                reason: format!("center {bad} must have {dim} finite values, one per feature"),
            });
        }
        Ok(Some(Centers::new(dim, given.concat())))
    }

    /// Fails unless a pass saw enough valid rows for `k` clusters and the invalid-row policy
    /// allows what it saw.
    fn check_rows(&self, pass: &Aggregated) -> Result<()> {
        self.handle_invalid
            .check_fit(pass.invalid_rows, &self.features)?;
        if pass.valid_rows() < self.k as u64 {
            return Err(MlError::NotEnoughRows {
                estimator: "KMeans",
                reason: format!(
                    "k = {} needs at least {} rows with valid features, the input has {} \
                     ({} rows, {} with a null or NaN feature)",
                    self.k,
                    self.k,
                    pass.valid_rows(),
                    pass.rows,
                    pass.invalid_rows
                ),
            });
        }
        Ok(())
    }
}

setters! {
    KMeans;
    /// The number of clusters (at least 2; default 2).
    k: usize;
    /// The most Lloyd iterations (default 20; 0 keeps the initial centers).
    max_iter: usize;
    /// Convergence tolerance: the fit stops once no center moves farther (default 1e-4).
    tol: f64;
    /// The seed of k-means|| (default 42).
    seed: u64;
    /// Rounds of k-means|| sampling (at least 1; default 2).
    init_steps: usize;
    /// The column `transform` appends (default `prediction`).
    prediction_column: impl Into<String>;
    /// What fitting and `transform` do with rows whose features are null or NaN.
    handle_invalid: HandleInvalid;
}

#[async_trait]
impl Estimator for KMeans {
    type Model = KMeansModel;

    async fn fit(&self, data: &DataFrame) -> Result<KMeansModel> {
        let given = self.validate()?;
        let features = feature_exprs(data, &self.features)?;
        let check = |pass: &Aggregated| self.check_rows(pass);
        let mut centers = match given {
            Some(centers) => centers,
            None => {
                init::k_means_parallel(data, &features, self.k, self.init_steps, self.seed, check)
                    .await?
            }
        };
        let dim = self.features.len();
        let mut iterations = 0;
        while iterations < self.max_iter {
            let step = LloydStep { centers };
            let pass = run(data, &step, features.clone()).await?;
            if iterations == 0 {
                self.check_rows(&pass)?;
            }
            iterations += 1;
            let (sums, counts, _) = step.split(&pass.value);
            let mut moved_far = false;
            let mut updated = Vec::with_capacity(self.k * dim);
            for (center, count) in counts.iter().enumerate() {
                let old = step.centers.center(center);
                if *count == 0.0 {
                    updated.extend_from_slice(old);
                    continue;
                }
                let new: Vec<f64> = sums[center * dim..(center + 1) * dim]
                    .iter()
                    .map(|sum| sum / count)
                    .collect();
                moved_far |= squared_distance(old, &new) > self.tol * self.tol;
                updated.extend(new);
            }
            centers = Centers::new(dim, updated);
            if !moved_far {
                break;
            }
        }
        let final_step = LloydStep { centers };
        let last = run(data, &final_step, features).await?;
        if iterations == 0 {
            self.check_rows(&last)?;
        }
        let (_, counts, cost) = final_step.split(&last.value);
        Ok(KMeansModel {
            features: self.features.clone(),
            cluster_sizes: counts.iter().map(|count| *count as u64).collect(),
            centers: final_step.centers,
            training_cost: cost,
            iterations,
            prediction_column: self.prediction_column.clone(),
            handle_invalid: self.handle_invalid,
        })
    }
}

/// A fitted [`KMeans`]: the centers, and what the fit measured.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansModel {
    features: Vec<String>,
    centers: Centers,
    training_cost: f64,
    iterations: usize,
    cluster_sizes: Vec<u64>,
    prediction_column: String,
    handle_invalid: HandleInvalid,
}

impl KMeansModel {
    /// The cluster centers, one value per feature each, by cluster index.
    pub fn centers(&self) -> Vec<Vec<f64>> {
        (0..self.centers.len())
            .map(|center| self.centers.center(center).to_vec())
            .collect()
    }

    /// The feature columns, in the order of the centers' values.
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// The sum of squared distances of the training rows to their nearest final center
    /// (scikit-learn's `inertia_`).
    pub fn training_cost(&self) -> f64 {
        self.training_cost
    }

    /// Lloyd iterations run.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// Training rows nearest each final center.
    pub fn cluster_sizes(&self) -> &[u64] {
        &self.cluster_sizes
    }

    /// `inertia` (the sum of squared distances to the nearest center) and `silhouette` (mean,
    /// squared Euclidean; see [`silhouette`]) of `data`'s rows, in two aggregates. Rows with a
    /// null or NaN feature follow the model's `handle_invalid` (skipped unless it is `error`).
    pub async fn evaluate(&self, data: &DataFrame) -> Result<Metrics> {
        let features = feature_exprs(data, &self.features)?;
        let stats_step = ClusterStatsStep {
            centers: self.centers.clone(),
        };
        let stats = run(data, &stats_step, features.clone()).await?;
        self.handle_invalid
            .check_fit(stats.invalid_rows, &self.features)?;
        if stats.valid_rows() == 0 {
            return Err(MlError::NotEnoughRows {
                estimator: "an evaluator",
                reason: "no rows with valid features to compute clustering metrics on".to_string(),
            });
        }
        let silhouette_step = SilhouetteStep::from_stats(self.centers.clone(), &stats.value);
        let silhouettes = run(data, &silhouette_step, features).await?;
        let inertia = self.compute_cost(data).await?;
        Ok(Metrics(vec![
            ("inertia", inertia),
            (
                "silhouette",
                silhouettes.value[0] / stats.valid_rows() as f64,
            ),
        ]))
    }

    /// The sum of squared distances of `data`'s rows to their nearest center, as one aggregate.
    /// Rows with a null or NaN feature follow the model's `handle_invalid` (skipped unless it is
    /// `error`).
    pub async fn compute_cost(&self, data: &DataFrame) -> Result<f64> {
        let features = feature_exprs(data, &self.features)?;
        let step = LloydStep {
            centers: self.centers.clone(),
        };
        let pass = run(data, &step, features).await?;
        self.handle_invalid
            .check_fit(pass.invalid_rows, &self.features)?;
        Ok(step.split(&pass.value).2)
    }
}

impl KMeansModel {
    /// The prediction function's model.
    pub(crate) fn scorer(&self) -> NearestCenter {
        NearestCenter {
            centers: self.centers.clone(),
        }
    }
}

scored_model!(KMeansModel, DataType::Int32);

impl PersistentModel for KMeansModel {
    const MODEL_TYPE: &'static str = "kmeans";

    fn to_saved(&self) -> ModelParts {
        let params = json!({
            "k": self.centers.len(),
            "prediction_column": self.prediction_column,
            "handle_invalid": self.handle_invalid.as_str(),
            "training_cost": self.training_cost,
            "iterations": self.iterations,
            "cluster_sizes": self.cluster_sizes,
        });
        let arrays = vec![("centers", self.centers.values().to_vec())];
        ModelParts {
            features: self.features.clone(),
            params,
            arrays,
        }
    }

    fn from_saved(saved: &SavedModel) -> Result<Self> {
        let features = saved.metadata.features.clone();
        let k: usize = saved.param("k")?;
        let centers = saved.array("centers")?;
        if features.is_empty() || k.checked_mul(features.len()) != Some(centers.len()) || k == 0 {
            return Err(saved.corrupt(format!(
                "{} center values for k = {k} and {} features",
                centers.len(),
                features.len()
            )));
        }
        Ok(Self {
            centers: Centers::new(features.len(), centers.to_vec()),
            features,
            training_cost: saved.param("training_cost")?,
            iterations: saved.param("iterations")?,
            cluster_sizes: saved.param("cluster_sizes")?,
            prediction_column: saved.param("prediction_column")?,
            handle_invalid: saved.param::<String>("handle_invalid")?.parse()?,
        })
    }
}

/// Prediction: the index of each row's nearest center.
#[derive(Debug, Clone, PartialEq)]
pub struct NearestCenter {
    /// The model's centers.
    pub centers: Centers,
}

impl RowModel for NearestCenter {
    const NAME: &'static str = "ml_kmeans_predict";
    const OUTPUT: DataType = DataType::Int32;

    fn decode(params: &[f64]) -> DataFusionResult<Self> {
        Ok(Self {
            centers: decode_centers(Self::NAME, params)?,
        })
    }

    fn encode(&self) -> Vec<f64> {
        encode_centers(&self.centers)
    }

    fn features(&self) -> usize {
        self.centers.dim()
    }

    fn predict(&self, features: &[&[f64]]) -> DataFusionResult<ArrayRef> {
        let (assigned, _) = assign(&self.centers, features);
        Ok(std::sync::Arc::new(Int32Array::from_iter_values(
            assigned.into_iter().map(|center| center as i32),
        )))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int32Array;
    use datafusion::common::cast::as_int32_array;

    use super::*;
    use crate::estimator::Model;
    use crate::test_frames::rows_frame;

    /// 300 points in three groups around (0, 0), (6, 1) and (2, 7); scikit-learn's reference
    /// numbers below come from the same formula.
    fn three_groups(partitions: usize) -> DataFrame {
        let base = [(0.0, 0.0), (6.0, 1.0), (2.0, 7.0)];
        let rows: Vec<Vec<Option<f64>>> = (0..300usize)
            .map(|i| {
                let (x, y) = base[i % 3];
                let dx = ((i * 37 % 101) as f64 / 101.0 - 0.5) * 3.0;
                let dy = ((i * 53 % 97) as f64 / 97.0 - 0.5) * 3.0;
                vec![Some(x + dx), Some(y + dy)]
            })
            .collect();
        rows_frame(&["x", "y"], &rows, partitions)
    }

    async fn predictions(model: &KMeansModel, data: DataFrame) -> Vec<Option<i32>> {
        let batches = model
            .transform(data)
            .unwrap()
            .select_columns(&["prediction"])
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches
            .iter()
            .flat_map(|batch| {
                let array: &Int32Array = as_int32_array(batch.column(0)).unwrap();
                array.iter().collect::<Vec<_>>()
            })
            .collect()
    }

    #[tokio::test]
    async fn lloyd_from_fixed_centers_matches_scikit_learn() {
        // sklearn 1.9.1: KMeans(n_clusters=3, init=<these centers>, n_init=1, max_iter=300,
        // tol=0, algorithm='lloyd').fit(X) -> inertia_ 450.0497290039345, n_iter_ 3.
        let model = KMeans::new(["x", "y"])
            .k(3)
            .max_iter(300)
            .tol(0.0)
            .initial_centers(vec![vec![1.0, 1.0], vec![5.0, 5.0], vec![0.0, 6.0]])
            .fit(&three_groups(3))
            .await
            .unwrap();
        assert!((model.training_cost() - 450.0497290039345).abs() < 1e-9);
        let expected = [
            [-0.02702970297029683, -0.03247422680412759],
            [5.991980198019801, 0.9867010309278339],
            [1.980990099009901, 6.975876288659791],
        ];
        for (center, expected) in model.centers().iter().zip(expected) {
            assert!((center[0] - expected[0]).abs() < 1e-12);
            assert!((center[1] - expected[1]).abs() < 1e-12);
        }
        assert_eq!(model.cluster_sizes(), &[100, 100, 100]);
        let metrics = model.evaluate(&three_groups(2)).await.unwrap();
        // silhouette_score(X, labels_, metric='sqeuclidean') = 0.9234692919925048
        assert!((metrics.get("silhouette").unwrap() - 0.9234692919925048).abs() < 1e-12);
        assert!((metrics.get("inertia").unwrap() - 450.0497290039345).abs() < 1e-9);
    }

    #[tokio::test]
    async fn k_means_parallel_finds_the_groups_deterministically() {
        let fit = || async {
            KMeans::new(["x", "y"])
                .k(3)
                .seed(7)
                .fit(&three_groups(4))
                .await
                .unwrap()
        };
        let model = fit().await;
        assert!((model.training_cost() - 450.0497290039345).abs() < 1e-6);
        assert_eq!(model, fit().await, "same seed and partitioning, same model");
        let labels = predictions(&model, three_groups(2)).await;
        for group in 0..3 {
            let label = labels[group];
            assert!(labels.iter().skip(group).step_by(3).all(|l| *l == label));
        }
        let cost = model.compute_cost(&three_groups(2)).await.unwrap();
        assert!((cost - model.training_cost()).abs() < 1e-6);
    }

    #[tokio::test]
    async fn invalid_rows_follow_handle_invalid() {
        let rows = vec![
            vec![Some(0.0), Some(0.0)],
            vec![Some(0.1), None],
            vec![Some(10.0), Some(10.0)],
            vec![Some(f64::NAN), Some(1.0)],
            vec![Some(10.2), Some(10.0)],
            vec![Some(0.2), Some(0.0)],
        ];
        let data = rows_frame(&["x", "y"], &rows, 2);
        let error = KMeans::new(["x", "y"]).fit(&data).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "2 rows have a null or NaN value in the features (x, y); filter them out or set \
             handle_invalid to 'skip' or 'keep'"
        );
        let keep = KMeans::new(["x", "y"])
            .handle_invalid(HandleInvalid::Keep)
            .fit(&data)
            .await
            .unwrap();
        assert_eq!(keep.cluster_sizes().iter().sum::<u64>(), 4);
        let labels = predictions(&keep, data.clone()).await;
        assert_eq!((labels.len(), labels[1], labels[3]), (6, None, None));
        assert_ne!(labels[0], labels[2]);
        let skip = KMeans::new(["x", "y"])
            .handle_invalid(HandleInvalid::Skip)
            .fit(&data)
            .await
            .unwrap();
        assert_eq!(predictions(&skip, data.clone()).await.len(), 4);
        let strict = KMeansModel {
            handle_invalid: HandleInvalid::Error,
            ..skip
        };
        let error = strict.transform(data).unwrap().collect().await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("1 rows have a null or NaN feature"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn bad_parameters_and_input_are_named() {
        let data = three_groups(2);
        let error = |kmeans: KMeans, data: DataFrame| async move {
            kmeans.fit(&data).await.unwrap_err().to_string()
        };
        assert_eq!(
            error(KMeans::new(["x", "y"]).k(1), data.clone()).await,
            "invalid parameter k: 1 is outside [2, 1048576]"
        );
        assert_eq!(
            error(KMeans::new(["x", "y"]).tol(f64::NAN), data.clone()).await,
            "invalid parameter tol: NaN is not a finite number >= 0"
        );
        assert_eq!(
            error(
                KMeans::new(["x", "y"]).initial_centers(vec![vec![0.0, 0.0]]),
                data.clone()
            )
            .await,
            "invalid parameter initial_centers: 1 centers given for k = 2"
        );
        assert_eq!(
            error(KMeans::new(["x", "z"]), data.clone()).await,
            "column 'z' not found; available columns: x, y"
        );
        assert_eq!(
            error(KMeans::new(Vec::<String>::new()), data.clone()).await,
            "invalid parameter features: name at least one column"
        );
        let empty = data.clone().limit(0, Some(0)).unwrap();
        assert_eq!(
            error(KMeans::new(["x", "y"]).k(3), empty).await,
            "cannot fit KMeans: k = 3 needs at least 3 rows with valid features, the input has \
             0 (0 rows, 0 with a null or NaN feature)"
        );
    }
}
