//! Limited-memory BFGS (Nocedal and Wright, *Numerical Optimization*, 2nd ed., algorithms 7.4,
//! 3.5 and 3.6), minimizing a smooth objective whose value and gradient come from an async
//! evaluation — a distributed aggregate in every estimator here.
//!
//! Why not `argmin`: its solvers call the objective synchronously, and ours is a query awaited on
//! the caller's runtime; blocking inside it would stall that runtime. The algorithm is short
//! enough to keep here, as Spark keeps Breeze's.

use std::future::Future;

use crate::error::Result;

/// When to stop, and how much curvature history to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsSettings {
    /// Most iterations (each one or a few evaluations).
    pub max_iter: usize,
    /// Stop when the objective's relative decrease over an iteration falls below this (Spark's
    /// `tol`), or the gradient's largest component falls below it.
    pub tol: f64,
    /// Correction pairs kept (Spark and scikit-learn use 10).
    pub memory: usize,
}

impl Default for LbfgsSettings {
    fn default() -> Self {
        Self {
            max_iter: 100,
            tol: 1e-6,
            memory: 10,
        }
    }
}

/// The minimizer found and how the search went.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// The point.
    pub x: Vec<f64>,
    /// The objective there.
    pub value: f64,
    /// Iterations run.
    pub iterations: usize,
    /// Objective evaluations (each one pass over the data).
    pub evaluations: usize,
    /// The objective after each iteration, starting with the initial point's.
    pub history: Vec<f64>,
}

/// Minimizes `objective` (which returns the value and gradient at a point) from `start`.
pub async fn minimize<F, Fut>(
    mut objective: F,
    start: Vec<f64>,
    settings: LbfgsSettings,
) -> Result<Minimum>
where
    F: FnMut(Vec<f64>) -> Fut,
    Fut: Future<Output = Result<(f64, Vec<f64>)>>,
{
    let mut x = start;
    let (mut value, mut gradient) = objective(x.clone()).await?;
    let mut evaluations = 1;
    let mut history = vec![value];
    let mut pairs: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new(); // (s, y, 1 / y·s)
    let mut iterations = 0;
    while iterations < settings.max_iter && max_abs(&gradient) > settings.tol {
        let mut direction = two_loop(&gradient, &pairs);
        if dot(&direction, &gradient) >= 0.0 {
            // Not a descent direction (curvature information went stale): restart.
            pairs.clear();
            direction = gradient.iter().map(|g| -g).collect();
        }
        let first_step = if pairs.is_empty() {
            (1.0 / norm(&gradient)).min(1.0)
        } else {
            1.0
        };
        let found =
            line_search(&mut objective, &x, value, &gradient, &direction, first_step).await?;
        evaluations += found.evaluations;
        iterations += 1;
        let Some((step, new_value, new_gradient)) = found.point else {
            break; // No decrease along the direction: as good as this search gets.
        };
        let s: Vec<f64> = direction.iter().map(|d| step * d).collect();
        let y: Vec<f64> = new_gradient
            .iter()
            .zip(&gradient)
            .map(|(a, b)| a - b)
            .collect();
        let curvature = dot(&y, &s);
        if curvature > 1e-10 * dot(&y, &y).sqrt() * dot(&s, &s).sqrt() {
            if pairs.len() == settings.memory {
                pairs.remove(0);
            }
            pairs.push((s.clone(), y, 1.0 / curvature));
        }
        for (xi, si) in x.iter_mut().zip(&s) {
            *xi += si;
        }
        let decrease = (value - new_value) / value.abs().max(new_value.abs()).max(1e-300);
        value = new_value;
        gradient = new_gradient;
        history.push(value);
        if decrease < settings.tol {
            break;
        }
    }
    Ok(Minimum {
        x,
        value,
        iterations,
        evaluations,
        history,
    })
}

/// The L-BFGS direction `-H g` from the stored correction pairs (algorithm 7.4).
fn two_loop(gradient: &[f64], pairs: &[(Vec<f64>, Vec<f64>, f64)]) -> Vec<f64> {
    let mut q = gradient.to_vec();
    let mut alphas = vec![0.0; pairs.len()];
    for (index, (s, y, rho)) in pairs.iter().enumerate().rev() {
        let alpha = rho * dot(s, &q);
        alphas[index] = alpha;
        axpy(-alpha, y, &mut q);
    }
    if let Some((s, y, _)) = pairs.last() {
        let gamma = dot(s, y) / dot(y, y);
        q.iter_mut().for_each(|v| *v *= gamma);
    }
    for ((s, y, rho), alpha) in pairs.iter().zip(&alphas) {
        let beta = rho * dot(y, &q);
        axpy(alpha - beta, s, &mut q);
    }
    q.iter_mut().for_each(|v| *v = -*v);
    q
}

/// What a line search found: the accepted step with the value and gradient there (or none when
/// no step decreased the objective), and the evaluations it took.
struct Found {
    point: Option<(f64, f64, Vec<f64>)>,
    evaluations: usize,
}

/// A line-search trial: step, objective value, slope along the direction.
type Trial = (f64, f64, f64);

/// Sufficient decrease (Armijo) constant.
const C1: f64 = 1e-4;
/// Curvature constant of the strong Wolfe conditions (0.9 suits quasi-Newton directions).
const C2: f64 = 0.9;
/// Most evaluations one line search may spend.
const MAX_EVALUATIONS: usize = 20;

/// A step along `direction` satisfying the strong Wolfe conditions (algorithms 3.5 and 3.6, with
/// cubic interpolation in the zoom phase, falling back to bisection).
async fn line_search<F, Fut>(
    objective: &mut F,
    x: &[f64],
    value: f64,
    gradient: &[f64],
    direction: &[f64],
    first_step: f64,
) -> Result<Found>
where
    F: FnMut(Vec<f64>) -> Fut,
    Fut: Future<Output = Result<(f64, Vec<f64>)>>,
{
    let slope0 = dot(gradient, direction);
    let mut evaluations = 0;
    let mut evaluate = |step: f64| {
        evaluations += 1;
        let point: Vec<f64> = x
            .iter()
            .zip(direction)
            .map(|(xi, di)| xi + step * di)
            .collect();
        objective(point)
    };
    // The previous trial; the best decreasing point seen.
    let mut previous: Trial = (0.0, value, slope0);
    let mut best: Option<(f64, f64, Vec<f64>)> = None;
    let mut step = first_step;
    let mut low_high: Option<(Trial, Trial)> = None;
    for trial in 0..MAX_EVALUATIONS {
        let (trial_value, trial_gradient) = evaluate(step).await?;
        let slope = dot(&trial_gradient, direction);
        if trial_value < best.as_ref().map_or(value, |b| b.1) {
            best = Some((step, trial_value, trial_gradient.clone()));
        }
        if let Some((low, high)) = low_high {
            // Zoom phase: `low` satisfies sufficient decrease; the minimum lies between them.
            if trial_value > value + C1 * step * slope0 || trial_value >= low.1 {
                low_high = Some((low, (step, trial_value, slope)));
            } else {
                if slope.abs() <= -C2 * slope0 {
                    return Ok(accept(step, trial_value, trial_gradient, trial + 1));
                }
                let new_high = if slope * (high.0 - low.0) >= 0.0 {
                    low
                } else {
                    high
                };
                low_high = Some(((step, trial_value, slope), new_high));
            }
        } else if trial_value > value + C1 * step * slope0
            || (trial > 0 && trial_value >= previous.1)
        {
            low_high = Some((previous, (step, trial_value, slope)));
        } else if slope.abs() <= -C2 * slope0 {
            return Ok(accept(step, trial_value, trial_gradient, trial + 1));
        } else if slope >= 0.0 {
            low_high = Some(((step, trial_value, slope), previous));
        } else {
            previous = (step, trial_value, slope);
            step *= 2.0;
            continue;
        }
        let (low, high) = low_high.expect("set above");
        step = interpolate(low, high);
    }
    Ok(Found {
        point: best,
        evaluations: MAX_EVALUATIONS,
    })
}

fn accept(step: f64, value: f64, gradient: Vec<f64>, evaluations: usize) -> Found {
    Found {
        point: Some((step, value, gradient)),
        evaluations,
    }
}

/// The minimizer of the cubic through two (step, value, slope) points, kept inside the middle
/// 80% of the interval (bisection when the cubic has no usable minimum).
fn interpolate(a: Trial, b: Trial) -> f64 {
    let (x0, f0, g0) = a;
    let (x1, f1, g1) = b;
    let d1 = g0 + g1 - 3.0 * (f0 - f1) / (x0 - x1);
    let radicand = d1 * d1 - g0 * g1;
    let (low, high) = (x0.min(x1), x0.max(x1));
    let margin = 0.1 * (high - low);
    if radicand >= 0.0 {
        let d2 = (x1 - x0).signum() * radicand.sqrt();
        let x = x1 - (x1 - x0) * (g1 + d2 - d1) / (g1 - g0 + 2.0 * d2);
        if x.is_finite() {
            return x.clamp(low + margin, high - margin);
        }
    }
    (low + high) / 2.0
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rosenbrock function, minimum 0 at (1, 1).
    fn rosenbrock(x: Vec<f64>) -> std::future::Ready<Result<(f64, Vec<f64>)>> {
        let (a, b) = (x[0], x[1]);
        let value = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
        let gradient = vec![
            -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
            200.0 * (b - a * a),
        ];
        std::future::ready(Ok((value, gradient)))
    }

    #[tokio::test]
    async fn minimizes_rosenbrock() {
        let settings = LbfgsSettings {
            max_iter: 200,
            tol: 1e-12,
            memory: 10,
        };
        let minimum = minimize(rosenbrock, vec![-1.2, 1.0], settings)
            .await
            .unwrap();
        assert!((minimum.x[0] - 1.0).abs() < 1e-5, "{minimum:?}");
        assert!((minimum.x[1] - 1.0).abs() < 1e-5, "{minimum:?}");
        assert!(minimum.history.windows(2).all(|w| w[1] <= w[0]), "monotone");
    }

    #[tokio::test]
    async fn a_quadratic_converges_in_few_iterations() {
        let quadratic = |x: Vec<f64>| {
            let scales = [1.0, 10.0, 100.0];
            let value = x
                .iter()
                .zip(scales)
                .map(|(v, s)| s * (v - 3.0).powi(2))
                .sum();
            let gradient = x
                .iter()
                .zip(scales)
                .map(|(v, s)| 2.0 * s * (v - 3.0))
                .collect();
            std::future::ready(Ok((value, gradient)))
        };
        let minimum = minimize(quadratic, vec![0.0; 3], LbfgsSettings::default())
            .await
            .unwrap();
        assert!(
            minimum.x.iter().all(|v| (v - 3.0).abs() < 1e-4),
            "{minimum:?}"
        );
        assert!(minimum.iterations < 20, "{minimum:?}");
    }
}
