//! ML on a cluster: every estimator's fit time from the same Parquet files on several masters,
//! as a ratio to the first master's, and whether each model agrees with the first master's.
//!
//!   ml_cluster --master 'local[2]=local[2]' --master '2 x 1 core=ember://127.0.0.1:50050'
//!
//! `benches/ml_cluster.sh` starts the clusters and runs it. The data and settings are the `ml`
//! benchmark's (see `ml.rs`); each master's session reads the files itself (nothing cached), so
//! a fit's time includes its reads, as a user meets it:
//!
//! - `kmeans`: `--k` clusters, `--iterations` Lloyd iterations from the same `k` rows;
//! - `logistic`: logistic regression, no regularization, at most 100 L-BFGS iterations;
//! - `linear`: linear regression (the exact solve) of the tree data's `target`;
//! - `gbt`, `gbt_regression`, `gbt_multiclass`: `--trees` trees, depth 6, 31 leaves, learning
//!   rate 0.1, of the tree data's `label`, `target` and `class` (3 classes);
//! - `rf`: a random forest classifier of `--trees` trees, depth 10;
//! - `cv`: a 3-fold `CrossValidator` by AUC over logistic regressions of the tree data's
//!   `label` with `reg_param` 0 and 0.01 (6 fits, then the best refitted on all rows).
//!
//! Agreement: tree models must be identical. K-means, linear models and cross-validation sum
//! partitions in another order on a cluster, so for them the largest relative difference of
//! their centers, coefficients or fold metrics is printed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use datafusion::dataframe::DataFrame;
use ember::ml::{
    CrossValidator, Estimator, GradientBoostedTrees, KMeans, LinearRegression, LogisticRegression,
    RandomForest,
};
use ember::Session;

mod ml_data;
use ml_data::{blobs, logistic_data, tree_data, Blobs, DataArgs};

/// Every estimator's fit time from the same Parquet files on several masters.
#[derive(Debug, Parser)]
struct Args {
    /// `NAME=MASTER`, once per master to fit on (`local[2]`, `ember://host:port`); the first is
    /// the baseline of the ratios and of the agreement.
    #[arg(long = "master", required = true)]
    masters: Vec<String>,
    #[command(flatten)]
    data: DataArgs,
    /// Which estimators to fit.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kmeans,logistic,linear,gbt,gbt_regression,gbt_multiclass,rf,cv"
    )]
    only: Vec<String>,
    /// Trees of the tree ensembles.
    #[arg(long, default_value_t = 100)]
    trees: usize,
    /// Directory for the generated data (default: a temporary one).
    #[arg(long)]
    work: Option<PathBuf>,
}

/// What two fits of one estimator are compared by.
#[derive(Debug, PartialEq)]
enum Fitted {
    /// The whole model, which must be the same everywhere (its `Debug` form, exact for floats).
    Exact(String),
    /// Numbers that may differ by rounding between masters.
    Close(Vec<f64>),
}

impl Fitted {
    /// How `self` agrees with the `baseline` fit.
    fn agreement(&self, baseline: &Fitted) -> String {
        match (self, baseline) {
            (Fitted::Exact(a), Fitted::Exact(b)) if a == b => "identical".to_string(),
            (Fitted::Close(a), Fitted::Close(b)) if a.len() == b.len() => {
                let most = a
                    .iter()
                    .zip(b)
                    .map(|(a, b)| (a - b).abs() / a.abs().max(b.abs()).max(f64::MIN_POSITIVE))
                    .fold(0.0, f64::max);
                format!("rel. diff {most:.1e}")
            }
            _ => "DIFFERENT".to_string(),
        }
    }
}

/// The generated files the estimators read.
struct Data {
    blobs: Option<Blobs>,
    logistic: Option<(Vec<String>, PathBuf)>,
    /// Feature names and training file of the tree data.
    trees: Option<(Vec<String>, PathBuf)>,
}

fn main() -> anyhow::Result<()> {
    // As the `ember` command does, so the figures are what its users get.
    ember::memory::limit_allocator_arenas();
    // Fits say where their time went at `RUST_LOG=ember_mllib=debug`.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let masters = args
        .masters
        .iter()
        .map(|named| {
            named
                .split_once('=')
                .with_context(|| format!("--master {named}: expected NAME=MASTER"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let temporary = tempfile::tempdir()?;
    let work = args.work.clone().unwrap_or(temporary.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let data = generate(&args, &work).await?;
        let sessions = masters
            .iter()
            .map(|(_, master)| Session::builder().master(master).build())
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<&str> = masters.iter().map(|(name, _)| *name).collect();
        println!(
            "ML fits from Parquet, {} rows ({} trees per ensemble); seconds, ratio to {} and \
             agreement with its model",
            args.data.rows, args.trees, names[0]
        );
        println!("| estimator | {} |", names.join(" | "));
        println!("| --- |{}", " --- |".repeat(names.len()));
        for task in &args.only {
            let mut cells = Vec::new();
            let mut baseline: Option<(f64, Fitted)> = None;
            for (session, name) in sessions.iter().zip(&names) {
                let started = Instant::now();
                let fitted = fit(&args, task, &data, session)
                    .await
                    .with_context(|| format!("{task} on {name}"))?;
                let seconds = started.elapsed().as_secs_f64();
                eprintln!("{task} on {name}: {seconds:.3} s");
                cells.push(match &baseline {
                    None => format!("{seconds:.2} s"),
                    Some((first, model)) => format!(
                        "{seconds:.2} s ({:.2}x, {})",
                        seconds / first,
                        fitted.agreement(model)
                    ),
                });
                baseline.get_or_insert((seconds, fitted));
            }
            println!("| {task} | {} |", cells.join(" | "));
        }
        Ok(())
    })
}

/// Writes the files `args.only` needs.
async fn generate(args: &Args, work: &Path) -> anyhow::Result<Data> {
    let needs = |tasks: &[&str]| args.only.iter().any(|task| tasks.contains(&task.as_str()));
    let blobs = match needs(&["kmeans"]) {
        true => Some(blobs(args.data.rows, args.data.kmeans_features, args.data.k, work).await?),
        false => None,
    };
    let logistic = match needs(&["logistic"]) {
        true => Some(logistic_data(args.data.rows, args.data.logistic_features, work).await?),
        false => None,
    };
    let tree_tasks = [
        "linear",
        "gbt",
        "gbt_regression",
        "gbt_multiclass",
        "rf",
        "cv",
    ];
    let trees = match needs(&tree_tasks) {
        true => {
            let (features, train, _test) =
                tree_data(args.data.rows, args.data.logistic_features, work).await?;
            Some((features, train))
        }
        false => None,
    };
    Ok(Data {
        blobs,
        logistic,
        trees,
    })
}

/// The Parquet file at `path` as `session` reads it.
async fn read(session: &Session, path: &Path) -> anyhow::Result<DataFrame> {
    Ok(session.read_parquet(&path.display().to_string()).await?)
}

/// Fits `task` on its data read by `session`.
async fn fit(args: &Args, task: &str, data: &Data, session: &Session) -> anyhow::Result<Fitted> {
    let trees = || data.trees.as_ref().context("no tree data");
    let boosted = |estimator: GradientBoostedTrees| {
        estimator
            .num_trees(args.trees)
            .max_depth(6)
            .max_leaves(31)
            .learning_rate(0.1)
    };
    Ok(match task {
        "kmeans" => {
            let blobs = data.blobs.as_ref().context("no k-means data")?;
            let model = KMeans::new(&blobs.features)
                .k(args.data.k)
                .max_iter(args.data.iterations)
                .tol(0.0)
                .initial_centers(blobs.init.clone())
                .fit(&read(session, &blobs.path).await?)
                .await?;
            Fitted::Close(model.centers().concat())
        }
        "logistic" => {
            let (features, path) = data.logistic.as_ref().context("no logistic data")?;
            let model = LogisticRegression::new(features)
                .max_iter(100)
                .fit(&read(session, path).await?)
                .await?;
            Fitted::Close(model.coefficients().concat())
        }
        "linear" => {
            let (features, path) = trees()?;
            let model = LinearRegression::new(features)
                .label("target")
                .fit(&read(session, path).await?)
                .await?;
            let mut numbers = model.coefficients().to_vec();
            numbers.push(model.intercept());
            Fitted::Close(numbers)
        }
        "gbt" | "gbt_regression" | "gbt_multiclass" => {
            let (features, path) = trees()?;
            let estimator = match task {
                "gbt" => GradientBoostedTrees::classifier(features),
                "gbt_regression" => GradientBoostedTrees::regressor(features).label("target"),
                _ => GradientBoostedTrees::classifier(features).label("class"),
            };
            let model = boosted(estimator).fit(&read(session, path).await?).await?;
            Fitted::Exact(format!("{model:?}"))
        }
        "rf" => {
            let (features, path) = trees()?;
            let model = RandomForest::classifier(features)
                .num_trees(args.trees)
                .max_depth(10)
                .fit(&read(session, path).await?)
                .await?;
            Fitted::Exact(format!("{model:?}"))
        }
        "cv" => {
            let (features, path) = trees()?;
            let candidates = [0.0, 0.01]
                .map(|reg_param| LogisticRegression::new(features).reg_param(reg_param))
                .to_vec();
            let model = CrossValidator::new(candidates, "roc_auc")
                .num_folds(3)
                .fit(&read(session, path).await?)
                .await?;
            Fitted::Close(model.average_metrics().to_vec())
        }
        other => bail!(
            "unknown estimator {other}; choose kmeans, logistic, linear, gbt, gbt_regression, \
             gbt_multiclass, rf, cv"
        ),
    })
}
