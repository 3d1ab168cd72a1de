//! Evaluation metrics, each computed by one distributed aggregate over label and prediction
//! columns (or, for clustering, over the features with the model's centers).
//!
//! Metric names are stable snake_case (they are `ml_evaluate`'s columns): regression `rmse`,
//! `mse`, `mae`, `r2`; binary `roc_auc`, `pr_auc`, `log_loss`, `accuracy`, `f1`, `precision`,
//! `recall`; multiclass `accuracy`, `f1` (macro average), `log_loss`; clustering `inertia`,
//! `silhouette`.
//!
//! ROC and PR areas come from score histograms of [`SCORE_BINS`] bins over [0, 1], so that the
//! aggregate's state is fixed-size: scores within one bin count as ties (the trapezoid rule),
//! which bounds the error of each area by the share of (positive, negative) pairs whose scores
//! fall in the same 1/65,536-wide bin.

use datafusion::common::exec_err;
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DataFusionResult;

use crate::aggregate::{run, PartialAggregate};
use crate::codec::count_within;
use crate::error::{MlError, Result};
use crate::params::MAX_CLASSES;
use crate::summary::numeric_column;

/// Histogram bins of binary scores.
pub const SCORE_BINS: usize = 1 << 16;

/// Named metric values, in a fixed order.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics(pub Vec<(&'static str, f64)>);

impl Metrics {
    /// The metric `name`, if computed.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0
            .iter()
            .find(|(metric, _)| *metric == name)
            .map(|(_, value)| *value)
    }
}

/// `rmse`, `mse`, `mae` and `r2` of the `prediction` column against `label`.
pub async fn regression_metrics(
    data: &DataFrame,
    label: &str,
    prediction: &str,
) -> Result<Metrics> {
    let columns = vec![
        numeric_column(data, label)?,
        numeric_column(data, prediction)?,
    ];
    let pass = run(data, &RegressionMetricsStep, columns).await?;
    let rows = pass.valid_rows() as f64;
    no_rows_check(rows, "regression")?;
    let [squared, absolute, sum, squares] = pass.value[..] else {
        unreachable!("regression metrics state has four values")
    };
    let total = squares - sum * sum / rows;
    Ok(Metrics(vec![
        ("rmse", (squared / rows).sqrt()),
        ("mse", squared / rows),
        ("mae", absolute / rows),
        ("r2", 1.0 - squared / total),
    ]))
}

/// `roc_auc`, `pr_auc`, `log_loss`, `accuracy`, `f1`, `precision` and `recall` of a binary
/// classifier: `probability` is P(label = 1), `prediction` the predicted class (0 or 1).
pub async fn binary_metrics(
    data: &DataFrame,
    label: &str,
    probability: &str,
    prediction: &str,
) -> Result<Metrics> {
    let columns = vec![
        numeric_column(data, label)?,
        numeric_column(data, probability)?,
        numeric_column(data, prediction)?,
    ];
    let pass = run(data, &BinaryMetricsStep, columns).await?;
    let rows = pass.valid_rows() as f64;
    no_rows_check(rows, "binary classification")?;
    let state = &pass.value;
    let [log_loss, tp, fp, tn, false_negatives, bad] = state[..6] else {
        unreachable!("binary metrics state starts with six values")
    };
    if bad > 0.0 {
        return Err(MlError::InvalidLabel {
            column: label.to_string(),
            reason: format!(
                "{bad} rows have a label or prediction other than 0 or 1, or a probability \
                 outside [0, 1]"
            ),
        });
    }
    let (positives, negatives) = state[6..].split_at(SCORE_BINS);
    let (roc_auc, pr_auc) = areas(positives, negatives);
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + false_negatives);
    Ok(Metrics(vec![
        ("roc_auc", roc_auc),
        ("pr_auc", pr_auc),
        ("log_loss", log_loss / rows),
        ("accuracy", (tp + tn) / rows),
        ("f1", f1(precision, recall)),
        ("precision", precision),
        ("recall", recall),
    ]))
}

/// `accuracy` and macro-averaged `f1` of a classifier over `classes` classes (labels and
/// predictions `0..classes`).
pub async fn multiclass_metrics(
    data: &DataFrame,
    label: &str,
    prediction: &str,
    classes: usize,
) -> Result<Metrics> {
    let columns = vec![
        numeric_column(data, label)?,
        numeric_column(data, prediction)?,
    ];
    let step = ConfusionStep { classes };
    let pass = run(data, &step, columns).await?;
    let rows = pass.valid_rows() as f64;
    no_rows_check(rows, "multiclass classification")?;
    let (counts, bad) = pass.value.split_at(classes * classes);
    if bad[0] > 0.0 {
        return Err(MlError::InvalidLabel {
            column: label.to_string(),
            reason: format!(
                "{} rows have a label or prediction that is not a class index 0..{}",
                bad[0],
                classes - 1
            ),
        });
    }
    let correct: f64 = (0..classes).map(|c| counts[c * classes + c]).sum();
    let macro_f1 = (0..classes)
        .map(|class| {
            let tp = counts[class * classes + class];
            let actual: f64 = counts[class * classes..(class + 1) * classes].iter().sum();
            let predicted: f64 = (0..classes).map(|l| counts[l * classes + class]).sum();
            f1(ratio(tp, predicted), ratio(tp, actual))
        })
        .sum::<f64>()
        / classes as f64;
    Ok(Metrics(vec![
        ("accuracy", correct / rows),
        ("f1", macro_f1),
    ]))
}

fn no_rows_check(rows: f64, what: &str) -> Result<()> {
    if rows == 0.0 {
        return Err(MlError::NotEnoughRows {
            estimator: "an evaluator",
            reason: format!("no rows with valid values to compute {what} metrics on"),
        });
    }
    Ok(())
}

/// `numerator / denominator`, 0 when the denominator is.
fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

fn f1(precision: f64, recall: f64) -> f64 {
    ratio(2.0 * precision * recall, precision + recall)
}

/// ROC and PR areas from per-bin positive and negative counts, thresholds from the highest bin
/// down; scores in one bin are ties (trapezoids). PR starts at recall 0 with the first point's
/// precision, as Spark's `areaUnderPR`. NaN when a class is absent.
fn areas(positives: &[f64], negatives: &[f64]) -> (f64, f64) {
    let total_positives: f64 = positives.iter().sum();
    let total_negatives: f64 = negatives.iter().sum();
    if total_positives == 0.0 || total_negatives == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut roc = 0.0;
    let mut pr = 0.0;
    let mut last: Option<(f64, f64)> = None; // (recall, precision)
    for (p, n) in positives.iter().zip(negatives).rev() {
        if p + n == 0.0 {
            continue;
        }
        roc += n * (tp + p / 2.0);
        tp += p;
        fp += n;
        let point = (tp / total_positives, tp / (tp + fp));
        let previous = last.unwrap_or((0.0, point.1));
        pr += (point.0 - previous.0) * (point.1 + previous.1) / 2.0;
        last = Some(point);
    }
    (roc / (total_positives * total_negatives), pr)
}

/// Sums of squared and absolute errors, of labels and of squared labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionMetricsStep;

impl PartialAggregate for RegressionMetricsStep {
    const NAME: &'static str = "ml_regression_metrics";

    fn decode(_params: &[f64]) -> DataFusionResult<Self> {
        Ok(Self)
    }

    fn encode(&self) -> Vec<f64> {
        Vec::new()
    }

    fn features(&self) -> usize {
        2
    }

    fn empty(&self) -> Vec<f64> {
        vec![0.0; 4]
    }

    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
        for (label, prediction) in features[0].iter().zip(features[1]) {
            let error = prediction - label;
            partial[0] += error * error;
            partial[1] += error.abs();
            partial[2] += label;
            partial[3] += label * label;
        }
    }
}

/// Log loss, confusion counts, bad rows and score histograms of a binary classifier:
/// `[log_loss, tp, fp, tn, fn, bad, positives (SCORE_BINS), negatives (SCORE_BINS)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryMetricsStep;

impl PartialAggregate for BinaryMetricsStep {
    const NAME: &'static str = "ml_binary_metrics";

    fn decode(_params: &[f64]) -> DataFusionResult<Self> {
        Ok(Self)
    }

    fn encode(&self) -> Vec<f64> {
        Vec::new()
    }

    fn features(&self) -> usize {
        3
    }

    fn empty(&self) -> Vec<f64> {
        vec![0.0; 6 + 2 * SCORE_BINS]
    }

    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
        let rows = features[0].iter().zip(features[1]).zip(features[2]);
        for ((label, probability), prediction) in rows {
            let valid = (*label == 0.0 || *label == 1.0)
                && (*prediction == 0.0 || *prediction == 1.0)
                && (0.0..=1.0).contains(probability);
            if !valid {
                partial[5] += 1.0;
                continue;
            }
            let clipped = probability.clamp(1e-15, 1.0 - 1e-15);
            partial[0] -= if *label == 1.0 {
                clipped.ln()
            } else {
                (1.0 - clipped).ln()
            };
            let confusion = match (*label == 1.0, *prediction == 1.0) {
                (true, true) => 1,
                (false, true) => 2,
                (false, false) => 3,
                (true, false) => 4,
            };
            partial[confusion] += 1.0;
            let bin = ((probability * SCORE_BINS as f64) as usize).min(SCORE_BINS - 1);
            let histogram = if *label == 1.0 { 6 } else { 6 + SCORE_BINS };
            partial[histogram + bin] += 1.0;
        }
    }
}

/// A confusion matrix (`classes x classes`, row = label) and a count of rows whose label or
/// prediction is not a class index.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfusionStep {
    /// The number of classes.
    pub classes: usize,
}

impl PartialAggregate for ConfusionStep {
    const NAME: &'static str = "ml_confusion";

    fn decode(params: &[f64]) -> DataFusionResult<Self> {
        match params {
            [classes] => match count_within(*classes, MAX_CLASSES) {
                Some(classes) if classes >= 2 => Ok(Self { classes }),
                _ => exec_err!("{}: {classes} classes, not 2 to {MAX_CLASSES}", Self::NAME),
            },
            _ => exec_err!("{}: corrupt parameters", Self::NAME),
        }
    }

    fn encode(&self) -> Vec<f64> {
        vec![self.classes as f64]
    }

    fn features(&self) -> usize {
        2
    }

    fn empty(&self) -> Vec<f64> {
        vec![0.0; self.classes * self.classes + 1]
    }

    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
        let class = |value: f64| {
            (value >= 0.0 && value.fract() == 0.0 && value < self.classes as f64)
                .then_some(value as usize)
        };
        for (label, prediction) in features[0].iter().zip(features[1]) {
            match (class(*label), class(*prediction)) {
                (Some(l), Some(p)) => partial[l * self.classes + p] += 1.0,
                _ => partial[self.classes * self.classes] += 1.0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::rows_frame;

    fn frame(rows: &[[f64; 3]]) -> DataFrame {
        let rows: Vec<Vec<Option<f64>>> = rows.iter().map(|r| r.map(Some).to_vec()).collect();
        rows_frame(&["label", "probability", "prediction"], &rows, 2)
    }

    #[tokio::test]
    async fn binary_metrics_from_confusion_counts_and_score_order() {
        // By hand: 13 of the 16 (positive, negative) pairs are ordered right.
        let data = frame(&[
            [1.0, 0.9, 1.0],
            [0.0, 0.2, 0.0],
            [1.0, 0.4, 0.0],
            [0.0, 0.6, 1.0],
            [1.0, 0.8, 1.0],
            [0.0, 0.1, 0.0],
            [1.0, 0.7, 1.0],
            [0.0, 0.75, 1.0],
        ]);
        let metrics = binary_metrics(&data, "label", "probability", "prediction")
            .await
            .unwrap();
        assert_eq!(metrics.get("roc_auc"), Some(0.8125));
        // tp 3, tn 2, fp 2, fn 1.
        assert_eq!(metrics.get("accuracy"), Some(0.625));
        assert_eq!(metrics.get("precision"), Some(0.6));
        assert_eq!(metrics.get("recall"), Some(0.75));
        assert!((metrics.get("f1").unwrap() - 2.0 / 3.0).abs() < 1e-12);
        let expected_log_loss = -([0.9f64, 0.8, 0.4, 0.7].iter().map(|p| p.ln()).sum::<f64>()
            + [0.8f64, 0.4, 0.9, 0.25].iter().map(|p| p.ln()).sum::<f64>())
            / 8.0;
        assert!((metrics.get("log_loss").unwrap() - expected_log_loss).abs() < 1e-12);
    }

    #[tokio::test]
    async fn regression_and_multiclass_metrics() {
        let data = frame(&[
            [1.0, 0.0, 2.0],
            [2.0, 0.0, 2.0],
            [3.0, 0.0, 1.0],
            [0.0, 0.0, 0.0],
        ]);
        let regression = regression_metrics(&data, "label", "prediction")
            .await
            .unwrap();
        // errors 1, 0, -2, 0: mse 5/4; label mean 1.5, total 5.
        assert_eq!(regression.get("mse"), Some(1.25));
        assert_eq!(regression.get("mae"), Some(0.75));
        assert_eq!(regression.get("r2"), Some(0.0));
        let multiclass = multiclass_metrics(&data, "label", "prediction", 4)
            .await
            .unwrap();
        assert_eq!(multiclass.get("accuracy"), Some(0.5));
        // Per class F1: 0 -> 1, 1 -> 0, 2 -> 2/3, 3 -> 0.
        assert!((multiclass.get("f1").unwrap() - (1.0 + 2.0 / 3.0) / 4.0).abs() < 1e-12);
        let error = multiclass_metrics(&data, "label", "prediction", 3)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid label column 'label': 1 rows have a label or prediction that is not a class \
             index 0..2"
        );
    }
}
