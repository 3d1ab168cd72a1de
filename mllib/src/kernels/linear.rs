//! Linear-model kernels over a chunk of rows (one slice per feature): margins, the logistic
//! losses with their gradients, and the Gram matrix of least squares.
//!
//! Loops run feature by feature over contiguous rows, so the compiler vectorizes them; buffers
//! are per chunk, never per row.

/// `margins[o][r] = intercepts[o] + Σ_j coefficients[o * dim + j] * columns[j][r]` for each
/// output `o` (row-major `outputs x dim` coefficients).
pub fn margins(columns: &[&[f64]], coefficients: &[f64], intercepts: &[f64]) -> Vec<Vec<f64>> {
    let rows = columns.first().map_or(0, |column| column.len());
    let dim = columns.len();
    intercepts
        .iter()
        .enumerate()
        .map(|(output, intercept)| {
            let mut margin = vec![*intercept; rows];
            for (column, weight) in columns.iter().zip(&coefficients[output * dim..]) {
                for (m, x) in margin.iter_mut().zip(*column) {
                    *m += weight * x;
                }
            }
            margin
        })
        .collect()
}

/// `log(1 + e^m)` without overflow.
pub fn softplus(m: f64) -> f64 {
    if m > 0.0 {
        m + (-m).exp().ln_1p()
    } else {
        m.exp().ln_1p()
    }
}

/// `1 / (1 + e^-m)`.
pub fn sigmoid(m: f64) -> f64 {
    if m >= 0.0 {
        1.0 / (1.0 + (-m).exp())
    } else {
        let e = m.exp();
        e / (1.0 + e)
    }
}

/// What a logistic loss pass adds up over its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct LossGradient {
    /// Sum of the rows' log losses.
    pub loss: f64,
    /// `Σ_r residual[o][r] * x_j[r]`, row-major `outputs x dim`.
    pub coefficients: Vec<f64>,
    /// `Σ_r residual[o][r]` per output.
    pub intercepts: Vec<f64>,
    /// Rows whose label is not a class index (0, 1, ..., classes - 1).
    pub bad_labels: f64,
}

/// The class index a label value stands for, if it is one of `0..classes`.
fn class_of(label: f64, classes: usize) -> Option<usize> {
    (label >= 0.0 && label.fract() == 0.0 && label < classes as f64).then_some(label as usize)
}

/// Binary logistic loss and gradient: one output, labels 0 or 1.
pub fn binary_logistic(
    columns: &[&[f64]],
    labels: &[f64],
    coefficients: &[f64],
    intercept: f64,
) -> LossGradient {
    let mut margin = margins(columns, coefficients, &[intercept]).remove(0);
    let mut loss = 0.0;
    let mut bad_labels = 0.0;
    // Turn each margin into its residual `p - y` in place.
    for (m, label) in margin.iter_mut().zip(labels) {
        let y = match class_of(*label, 2) {
            Some(class) => class as f64,
            None => {
                bad_labels += 1.0;
                *m = 0.0;
                continue;
            }
        };
        loss += softplus(*m) - y * *m;
        *m = sigmoid(*m) - y;
    }
    let residual = margin;
    LossGradient {
        loss,
        coefficients: columns
            .iter()
            .map(|column| dot(column, &residual))
            .collect(),
        intercepts: vec![residual.iter().sum()],
        bad_labels,
    }
}

/// Multinomial (softmax) loss and gradient: one output per class, labels `0..classes`.
pub fn multinomial_logistic(
    columns: &[&[f64]],
    labels: &[f64],
    coefficients: &[f64],
    intercepts: &[f64],
) -> LossGradient {
    let classes = intercepts.len();
    let mut margin = margins(columns, coefficients, intercepts);
    let mut loss = 0.0;
    let mut bad_labels = 0.0;
    for (row, label) in labels.iter().enumerate() {
        let Some(class) = class_of(*label, classes) else {
            bad_labels += 1.0;
            margin.iter_mut().for_each(|m| m[row] = 0.0);
            continue;
        };
        let top = margin.iter().fold(f64::NEG_INFINITY, |t, m| t.max(m[row]));
        let total: f64 = margin.iter().map(|m| (m[row] - top).exp()).sum();
        loss += top + total.ln() - margin[class][row];
        for (output, m) in margin.iter_mut().enumerate() {
            let probability = (m[row] - top).exp() / total;
            m[row] = probability - f64::from(u8::from(output == class));
        }
    }
    LossGradient {
        loss,
        coefficients: margin
            .iter()
            .flat_map(|residual| columns.iter().map(|column| dot(column, residual)))
            .collect(),
        intercepts: margin
            .iter()
            .map(|residual| residual.iter().sum())
            .collect(),
        bad_labels,
    }
}

/// Adds the rows' sufficient statistics of least squares to `gram`, laid out as
/// `[Σx_j (dim), Σy, Σx_j·x_k (upper triangle, row by row), Σx_j·y (dim), Σy²]`.
pub fn add_gram(columns: &[&[f64]], labels: &[f64], gram: &mut [f64]) {
    let dim = columns.len();
    let (sums, rest) = gram.split_at_mut(dim);
    for (sum, column) in sums.iter_mut().zip(columns) {
        *sum += column.iter().sum::<f64>();
    }
    rest[0] += labels.iter().sum::<f64>();
    let (products, rest) = rest[1..].split_at_mut(dim * (dim + 1) / 2);
    let mut next = 0;
    for j in 0..dim {
        for k in j..dim {
            products[next] += dot(columns[j], columns[k]);
            next += 1;
        }
    }
    let (with_label, rest) = rest.split_at_mut(dim);
    for (sum, column) in with_label.iter_mut().zip(columns) {
        *sum += dot(column, labels);
    }
    rest[0] += dot(labels, labels);
}

/// Values [`add_gram`] keeps for `dim` features.
pub fn gram_len(dim: usize) -> usize {
    dim + 1 + dim * (dim + 1) / 2 + dim + 1
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of `loss(w)`, to check analytic gradients.
    fn numeric_gradient(loss: impl Fn(&[f64]) -> f64, at: &[f64]) -> Vec<f64> {
        (0..at.len())
            .map(|i| {
                let (mut up, mut down) = (at.to_vec(), at.to_vec());
                up[i] += 1e-6;
                down[i] -= 1e-6;
                (loss(&up) - loss(&down)) / 2e-6
            })
            .collect()
    }

    const X0: [f64; 4] = [0.5, -1.0, 2.0, 0.0];
    const X1: [f64; 4] = [1.0, 0.3, -0.7, 1.5];

    #[test]
    fn binary_gradient_matches_finite_differences() {
        let labels = [1.0, 0.0, 1.0, 0.0];
        let loss = |w: &[f64]| binary_logistic(&[&X0, &X1], &labels, &w[..2], w[2]).loss;
        let at = [0.4, -0.8, 0.1];
        let exact = binary_logistic(&[&X0, &X1], &labels, &at[..2], at[2]);
        let numeric = numeric_gradient(loss, &at);
        let analytic = [exact.coefficients, exact.intercepts].concat();
        for (a, n) in analytic.iter().zip(&numeric) {
            assert!((a - n).abs() < 1e-6, "{analytic:?} vs {numeric:?}");
        }
        assert_eq!(exact.bad_labels, 0.0);
    }

    #[test]
    fn multinomial_gradient_matches_finite_differences_and_counts_bad_labels() {
        let labels = [2.0, 0.0, 1.0, 2.0];
        let loss = |w: &[f64]| multinomial_logistic(&[&X0, &X1], &labels, &w[..6], &w[6..]).loss;
        let at = [0.4, -0.8, 0.1, 0.2, -0.3, 0.9, 0.05, -0.1, 0.2];
        let exact = multinomial_logistic(&[&X0, &X1], &labels, &at[..6], &at[6..]);
        let numeric = numeric_gradient(loss, &at);
        let analytic = [exact.coefficients, exact.intercepts].concat();
        for (a, n) in analytic.iter().zip(&numeric) {
            assert!((a - n).abs() < 1e-6, "{analytic:?} vs {numeric:?}");
        }
        let bad = multinomial_logistic(&[&X0], &[0.5, 3.0, -1.0, 1.0], &[0.0; 3], &[0.0; 3]);
        assert_eq!(bad.bad_labels, 3.0);
    }

    #[test]
    fn softplus_and_sigmoid_are_stable_at_extremes() {
        assert_eq!(softplus(-800.0), 0.0);
        assert_eq!(softplus(800.0), 800.0);
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_eq!(sigmoid(800.0), 1.0);
    }

    #[test]
    fn gram_holds_sums_and_products() {
        let mut gram = vec![0.0; gram_len(2)];
        add_gram(&[&[1.0, 2.0], &[3.0, 4.0]], &[5.0, 6.0], &mut gram);
        // Σx, Σy, x0x0 x0x1 x1x1, x0y x1y, yy
        assert_eq!(
            gram,
            vec![3.0, 7.0, 11.0, 5.0, 11.0, 25.0, 17.0, 39.0, 61.0]
        );
    }
}
