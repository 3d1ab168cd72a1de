//! Linear models against scikit-learn 1.9.1 reference numbers for the same data.
//!
//! The references come from fitting scikit-learn on the rows [`rows`] builds (same formula);
//! regularized fits map our objective onto scikit-learn's by standardizing X with the sample
//! standard deviation and setting `C = 1 / (reg_param * n)` (logistic) or `alpha = n * reg_param`
//! (ridge), then converting coefficients back to raw space.

use datafusion::arrow::array::Float64Array;
use datafusion::common::cast::as_float64_array;
use datafusion::dataframe::DataFrame;

use super::*;
use crate::estimator::{Estimator, Model};
use crate::test_frames::rows_frame;

/// 400 rows of `x0, x1, x2` with labels `binary`, `multi` (3 classes) and `y` (continuous).
fn rows() -> DataFrame {
    let rows: Vec<Vec<Option<f64>>> = (0..400usize)
        .map(|i| {
            let x0 = ((i * 37) % 101) as f64 / 101.0 * 4.0 - 2.0;
            let x1 = ((i * 53) % 97) as f64 / 97.0 * 2.0 - 1.0;
            let x2 = ((i * 71) % 89) as f64 / 89.0 * 10.0;
            let noise = ((i * 29) % 31) as f64 / 31.0 * 3.0 - 1.5;
            let z = 1.5 * x0 - 2.0 * x1 + 0.3 * x2 - 1.2 + noise;
            let binary = f64::from(u8::from(z > 0.0));
            let multi = if z < -1.0 {
                0.0
            } else if z < 1.5 {
                1.0
            } else {
                2.0
            };
            let y = 2.0 * x0 - x1 + 0.5 * x2 + 3.0 + noise;
            [x0, x1, x2, binary, multi, y].map(Some).to_vec()
        })
        .collect();
    rows_frame(&["x0", "x1", "x2", "binary", "multi", "y"], &rows, 3)
}

const FEATURES: [&str; 3] = ["x0", "x1", "x2"];

fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64) {
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() <= tolerance, "{actual:?} vs {expected:?}");
    }
}

async fn column(data: DataFrame, name: &str) -> Vec<Option<f64>> {
    let batches = data
        .select_columns(&[name])
        .unwrap()
        .collect()
        .await
        .unwrap();
    batches
        .iter()
        .flat_map(|batch| {
            let array: &Float64Array = as_float64_array(batch.column(0)).unwrap();
            array.iter().collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn binary_logistic_matches_scikit_learn() {
    let model = LogisticRegression::new(FEATURES)
        .label("binary")
        .tol(1e-12)
        .max_iter(500)
        .fit(&rows())
        .await
        .unwrap();
    // LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000); log loss 0.23097203641894418.
    assert_close(
        &model.coefficients()[0],
        &[3.233465575394782, -4.213400293239499, 0.6690597798068436],
        1e-5,
    );
    assert_close(model.intercepts(), &[-2.734678486747124], 1e-5);
    let history = model.objective_history();
    assert!((history[history.len() - 1] - 0.23097203641894418).abs() < 1e-9);

    let regularized = LogisticRegression::new(FEATURES)
        .label("binary")
        .reg_param(0.05)
        .tol(1e-12)
        .fit(&rows())
        .await
        .unwrap();
    assert_close(
        &regularized.coefficients()[0],
        &[1.2149970710572655, -1.4966044927067792, 0.23045928366107338],
        1e-6,
    );
    assert_close(regularized.intercepts(), &[-0.8909945520183226], 1e-6);

    let scored = model.transform(rows()).unwrap();
    let probability = column(scored.clone(), "probability").await;
    let prediction = column(scored, "prediction").await;
    for (p, class) in probability.iter().zip(&prediction) {
        assert_eq!(class.unwrap(), f64::from(u8::from(p.unwrap() > 0.5)));
    }
}

#[tokio::test]
async fn multinomial_logistic_matches_scikit_learn() {
    let model = LogisticRegression::new(FEATURES)
        .label("multi")
        .reg_param(0.05)
        .tol(1e-12)
        .max_iter(500)
        .fit(&rows())
        .await
        .unwrap();
    assert_eq!(model.classes(), 3);
    let expected = [
        [-0.987579880655196, 1.2743015064862802, -0.1877998061671968],
        [
            -0.015546383431047799,
            0.05531733655918208,
            -0.0024828474455416767,
        ],
        [1.0031262640862437, -1.3296188430454623, 0.19028265361273866],
    ];
    for (actual, expected) in model.coefficients().iter().zip(expected) {
        assert_close(actual, &expected, 1e-5);
    }
    // Intercepts are unpenalized, so only their differences are determined.
    let b = model.intercepts();
    assert_close(
        &[b[1] - b[0], b[2] - b[0]],
        &[-0.10402156368949456, -1.8453903199733936],
        1e-5,
    );
    let predictions = column(model.transform(rows()).unwrap(), "prediction").await;
    assert!(predictions
        .iter()
        .all(|p| [0.0, 1.0, 2.0].contains(&p.unwrap())));
}

#[tokio::test]
async fn linear_regression_matches_scikit_learn() {
    let ols = LinearRegression::new(FEATURES)
        .label("y")
        .fit(&rows())
        .await
        .unwrap();
    // LinearRegression().fit(X, y)
    assert_close(
        ols.coefficients(),
        &[1.9857790993080962, -1.0390148751674142, 0.5059212790255391],
        1e-9,
    );
    assert!((ols.intercept() - 2.9291331671799075).abs() < 1e-9);
    assert!(ols.training_r2() > 0.8 && ols.training_r2() < 1.0);

    let ridge = LinearRegression::new(FEATURES)
        .label("y")
        .reg_param(0.1)
        .fit(&rows())
        .await
        .unwrap();
    // Ridge(alpha=400 * 0.1).fit(standardized X, y), back in raw space.
    assert_close(
        ridge.coefficients(),
        &[1.8021259540371968, -0.9255479147078322, 0.45925589346768486],
        1e-9,
    );
    assert!((ridge.intercept() - 3.159455565908737).abs() < 1e-9);

    let lasso = LinearRegression::new(FEATURES)
        .label("y")
        .reg_param(5.0)
        .elastic_net_param(1.0)
        .fit(&rows())
        .await
        .unwrap();
    assert_eq!(
        lasso.coefficients(),
        &[0.0, 0.0, 0.0],
        "a strong L1 penalty zeroes everything"
    );

    let predictions = column(ols.transform(rows()).unwrap(), "prediction").await;
    // Row 0 is (x0, x1, x2) = (-2, -1, 0).
    let [w0, w1, _] = ols.coefficients() else {
        panic!("three coefficients")
    };
    let expected_first = ols.intercept() - 2.0 * w0 - w1;
    assert!((predictions[0].unwrap() - expected_first).abs() < 1e-12);
}

#[tokio::test]
async fn bad_labels_and_parameters_are_named() {
    let error =
        |fit: LogisticRegression| async move { fit.fit(&rows()).await.unwrap_err().to_string() };
    assert_eq!(
        error(LogisticRegression::new(FEATURES).label("y")).await,
        "invalid label column 'y': labels must be class indices 0, 1, 2, ...; found values from \
         -1.7405461902351698 to 12.521298395855586"
            .to_string()
    );
    assert_eq!(
        error(
            LogisticRegression::new(FEATURES)
                .label("multi")
                .family(Family::Binomial)
        )
        .await,
        "invalid parameter family: binomial, but the label has 3 classes"
    );
    assert_eq!(
        error(LogisticRegression::new(FEATURES).label("x0")).await,
        "invalid parameter label: 'x0' is also a feature"
    );
    assert_eq!(
        error(
            LogisticRegression::new(FEATURES)
                .label("binary")
                .reg_param(-1.0)
        )
        .await,
        "invalid parameter reg_param: -1 is not a finite number >= 0"
    );
    let one_class = rows()
        .filter(datafusion::prelude::col("binary").eq(datafusion::prelude::lit(0.0)))
        .unwrap();
    let error = LogisticRegression::new(FEATURES)
        .label("binary")
        .fit(&one_class)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid label column 'binary': every row has label 0; two classes or more are needed"
    );
    let empty = rows().limit(0, Some(0)).unwrap();
    let error = LinearRegression::new(FEATURES)
        .label("y")
        .fit(&empty)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot fit LinearRegression: no rows with valid features and label (0 rows in the input)"
    );
}
