"""Peers of the ML benchmark (benches/ml.sh): the same fits with scikit-learn and, when pyspark is
installed, Spark MLlib, on the Parquet file the runner wrote. Prints one JSON object per peer
(fit_seconds and quality), or a {"peer", "skipped"} object saying why a peer did not run.

    python peers.py TASK '{"data": ..., "features": [...], "threads": 2, ...}'

TASK kmeans: "init" (centers), "max_iter"; reports inertia.
TASK logistic: "label", "max_iter"; no regularization; reports the training log loss.
TASK gbt: "test" (held-out Parquet file), "label", "trees"; LightGBM and XGBoost (hist) with
Ember's settings (depth 6, 31 leaves, learning rate 0.1, 255 bins, no L2, min 20 rows and 1e-3
hessian per leaf) and Spark's GBTClassifier (depth 6, step 0.1, 255 bins); reports the test AUC.
TASK gbt_regression, gbt_multiclass: the gbt settings on the "target" (test RMSE) or the
3-class "class" label (multiclass objectives; test accuracy), LightGBM and XGBoost.
"""

import json
import sys
import time


def load(path, columns):
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=columns)
    return np.column_stack([table[name].to_numpy() for name in columns])


def kmeans_sklearn(args):
    import numpy as np
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    x = load(args["data"], args["features"])
    centers = np.array(args["init"])
    with threadpool_limits(limits=args["threads"]):
        started = time.perf_counter()
        model = KMeans(n_clusters=len(centers), init=centers, n_init=1, max_iter=args["max_iter"],
                       tol=0.0, algorithm="lloyd").fit(x)
        seconds = time.perf_counter() - started
    return {"peer": "scikit-learn", "fit_seconds": seconds, "quality": float(model.inertia_),
            "iterations": int(model.n_iter_)}


def logistic_sklearn(args):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from threadpoolctl import threadpool_limits

    x = load(args["data"], args["features"])
    y = load(args["data"], [args["label"]])[:, 0]
    with threadpool_limits(limits=args["threads"]):
        started = time.perf_counter()
        model = LogisticRegression(C=float("inf"), max_iter=args["max_iter"]).fit(x, y)
        seconds = time.perf_counter() - started
    return {"peer": "scikit-learn", "fit_seconds": seconds,
            "quality": float(log_loss(y, model.predict_proba(x))),
            "iterations": int(model.n_iter_[0])}


def spark_frame(args, columns):
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(f"local[{args['threads']}]")
             .config("spark.driver.memory", "8g").getOrCreate())
    frame = VectorAssembler(inputCols=args["features"], outputCol="features").transform(
        spark.read.parquet(args["data"])).select(*columns).cache()
    frame.count()
    return spark, frame


def kmeans_spark(args):
    """Spark ML cannot start from given centers, so it starts from its own k-means|| (its
    default): its time includes that initialisation, and its inertia comes from another start."""
    from pyspark.ml.clustering import KMeans

    spark, frame = spark_frame(args, ["features"])
    started = time.perf_counter()
    model = KMeans(k=len(args["init"]), maxIter=args["max_iter"], tol=0.0, seed=1).fit(frame)
    seconds = time.perf_counter() - started
    result = {"peer": "spark-mllib (own k-means|| init)", "fit_seconds": seconds,
              "quality": float(model.summary.trainingCost),
              "iterations": int(model.summary.numIter)}
    spark.stop()
    return result


def logistic_spark(args):
    from pyspark.ml.classification import LogisticRegression

    spark, frame = spark_frame(args, ["features", args["label"]])
    started = time.perf_counter()
    model = LogisticRegression(labelCol=args["label"], maxIter=args["max_iter"], regParam=0.0).fit(
        frame)
    seconds = time.perf_counter() - started
    result = {"peer": "spark-mllib", "fit_seconds": seconds,
              "quality": float(model.summary.objectiveHistory[-1]),
              "iterations": int(model.summary.totalIterations)}
    spark.stop()
    return result


def tree_data(args):
    x = load(args["data"], args["features"])
    y = load(args["data"], [args["label"]])[:, 0]
    x_test = load(args["test"], args["features"])
    y_test = load(args["test"], [args["label"]])[:, 0]
    return x, y, x_test, y_test


def fitted_trees(args, peer, estimator, quality):
    """Fits `estimator` (a scikit-learn-style tree ensemble) on the tree data and scores
    `quality(y_test, model, x_test)` on the test rows."""
    x, y, x_test, y_test = tree_data(args)
    started = time.perf_counter()
    model = estimator.fit(x, y)
    seconds = time.perf_counter() - started
    # A multiclass model grows a tree per class and round.
    classes = len(getattr(model, "classes_", []))
    trees_per_round = classes if classes > 2 else 1
    return {"peer": peer, "fit_seconds": seconds, "quality": float(quality(y_test, model, x_test)),
            "iterations": args["trees"] * trees_per_round}


def lightgbm_trees(args, kind, **extra):
    """LightGBM's `kind` ("LGBMClassifier" or "LGBMRegressor") with Ember's GBT settings."""
    import lightgbm

    return getattr(lightgbm, kind)(
        n_estimators=args["trees"], learning_rate=0.1, max_depth=6, num_leaves=31, max_bin=255,
        min_child_samples=20, min_child_weight=1e-3, reg_lambda=0.0, subsample=1.0,
        colsample_bytree=1.0, n_jobs=args["threads"], verbose=-1, **extra)


def xgboost_trees(args, kind, **extra):
    """XGBoost's `kind` ("XGBClassifier" or "XGBRegressor"), `hist`, with Ember's GBT settings."""
    import xgboost

    return getattr(xgboost, kind)(
        n_estimators=args["trees"], learning_rate=0.1, max_depth=6, max_leaves=31, max_bin=256,
        tree_method="hist", grow_policy="depthwise", reg_lambda=0.0, min_child_weight=1e-3,
        n_jobs=args["threads"], **extra)


def test_auc(y_test, model, x_test):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])


def test_rmse(y_test, model, x_test):
    from sklearn.metrics import root_mean_squared_error
    return root_mean_squared_error(y_test, model.predict(x_test))


def test_accuracy(y_test, model, x_test):
    from sklearn.metrics import accuracy_score
    return accuracy_score(y_test, model.predict(x_test))


def gbt_lightgbm(args):
    return fitted_trees(args, "lightgbm", lightgbm_trees(args, "LGBMClassifier"), test_auc)


def gbt_xgboost(args):
    return fitted_trees(args, "xgboost", xgboost_trees(args, "XGBClassifier"), test_auc)


def gbt_regression_lightgbm(args):
    return fitted_trees(args, "lightgbm", lightgbm_trees(args, "LGBMRegressor"), test_rmse)


def gbt_regression_xgboost(args):
    return fitted_trees(args, "xgboost", xgboost_trees(args, "XGBRegressor"), test_rmse)


def gbt_multiclass_lightgbm(args):
    model = lightgbm_trees(args, "LGBMClassifier", objective="multiclass")
    return fitted_trees(args, "lightgbm", model, test_accuracy)


def gbt_multiclass_xgboost(args):
    model = xgboost_trees(args, "XGBClassifier", objective="multi:softprob")
    return fitted_trees(args, "xgboost", model, test_accuracy)


def spark_trees(args, estimator):
    """Fits the Spark ML estimator `estimator()` (made once the session is up, as Spark
    requires) on the tree data and reports its test AUC."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import VectorAssembler

    spark, frame = spark_frame(args, ["features", args["label"]])
    started = time.perf_counter()
    model = estimator().fit(frame)
    seconds = time.perf_counter() - started
    test = VectorAssembler(inputCols=args["features"], outputCol="features").transform(
        spark.read.parquet(args["test"]))
    auc = BinaryClassificationEvaluator(labelCol=args["label"]).evaluate(model.transform(test))
    spark.stop()
    return {"peer": "spark-mllib", "fit_seconds": seconds, "quality": float(auc),
            "iterations": args["trees"]}


def gbt_spark(args):
    """Spark's GBTClassifier: first order, depth-wise; the same trees, depth, step and bins."""
    from pyspark.ml.classification import GBTClassifier

    return spark_trees(args, lambda: GBTClassifier(
        labelCol=args["label"], maxIter=args["trees"], maxDepth=6, stepSize=0.1, maxBins=255,
        seed=1))


def rf_sklearn(args):
    """scikit-learn's RandomForestClassifier: exact splits, the same trees, depth and features."""
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=args["trees"], max_depth=10, max_features="sqrt",
                                   n_jobs=args["threads"], random_state=1)
    return fitted_trees(args, "scikit-learn", model, test_auc)


def rf_spark(args):
    """Spark's RandomForestClassifier: the same trees, depth, bins and features per split."""
    from pyspark.ml.classification import RandomForestClassifier

    return spark_trees(args, lambda: RandomForestClassifier(
        labelCol=args["label"], numTrees=args["trees"], maxDepth=10, maxBins=255,
        featureSubsetStrategy="sqrt", seed=1))


PEERS = {
    "gbt": [("lightgbm", gbt_lightgbm), ("xgboost", gbt_xgboost), ("spark-mllib", gbt_spark)],
    "kmeans": [("scikit-learn", kmeans_sklearn), ("spark-mllib", kmeans_spark)],
    "logistic": [("scikit-learn", logistic_sklearn), ("spark-mllib", logistic_spark)],
    "gbt_regression": [("lightgbm", gbt_regression_lightgbm),
                       ("xgboost", gbt_regression_xgboost)],
    "gbt_multiclass": [("lightgbm", gbt_multiclass_lightgbm),
                       ("xgboost", gbt_multiclass_xgboost)],
    "rf": [("scikit-learn", rf_sklearn), ("spark-mllib", rf_spark)],
}


def main():
    task, args = sys.argv[1], json.loads(sys.argv[2])
    for name, run in PEERS[task]:
        try:
            print(json.dumps(run(args)), flush=True)
        except ImportError as missing:
            print(json.dumps({"peer": name, "skipped": f"not installed ({missing})"}), flush=True)


if __name__ == "__main__":
    main()
