//! Choosing initial centers: k-means|| (Bahmani et al., 2012), as Spark ML does it.
//!
//! Distributed part, one aggregate per round: a first row drawn uniformly, then `steps` rounds
//! that each draw `2k` rows weighted by their squared distance to the candidates so far, then one
//! pass counting the rows nearest each candidate. Driver part, on those few weighted candidates:
//! k-means++ seeding and up to 30 weighted Lloyd iterations, as Spark's `LocalKMeans`.
//!
//! Spark draws each row independently with probability `2k·d²/cost`, which needs the cost of the
//! current candidates first (an extra pass per round); [`PrioritySample`] draws exactly `2k` rows
//! with probabilities proportional to `d²` in the same pass, with the same expected sample.

use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::Expr;

use super::steps::{LloydStep, PrioritySample};
use crate::aggregate::{run, Aggregated};
use crate::error::Result;
use crate::kernels::nearest::{nearest, squared_distance, Centers, NearestBuffers};
use crate::random::SplitMix64;

/// Lloyd iterations of the driver-side refinement (Spark's `LocalKMeans` default).
const LOCAL_ITERATIONS: usize = 30;

/// k-means|| over `features` of `data`: `k` initial centers. `check` sees the first pass's row
/// counts before any further pass runs (to reject empty or invalid input early).
pub(super) async fn k_means_parallel(
    data: &DataFrame,
    features: &[Expr],
    k: usize,
    steps: usize,
    seed: u64,
    check: impl Fn(&Aggregated) -> Result<()>,
) -> Result<Centers> {
    let dim = features.len();
    let first_draw = PrioritySample {
        seed,
        round: 0,
        size: 1,
        dim,
        centers: None,
    };
    let first = run(data, &first_draw, features.to_vec()).await?;
    check(&first)?;
    let mut candidates = first_draw.points(&first.value);
    for round in 1..=steps {
        let draw = PrioritySample {
            seed,
            round: round as u64,
            size: 2 * k,
            dim,
            centers: Some(Centers::new(dim, candidates.clone())),
        };
        let drawn = run(data, &draw, features.to_vec()).await?;
        candidates.extend(draw.points(&drawn.value));
    }
    let candidates = Centers::new(dim, candidates);
    let weigh = LloydStep {
        centers: candidates.clone(),
    };
    let weighed = run(data, &weigh, features.to_vec()).await?;
    let (_, weights, _) = weigh.split(&weighed.value);
    Ok(local_k_means(&candidates, weights, k, seed))
}

/// `k` centers for weighted points: k-means++ seeding, then weighted Lloyd iterations until no
/// center moves or [`LOCAL_ITERATIONS`]; an emptied cluster takes a random point.
/// With fewer distinct points than `k`, some centers repeat.
pub(super) fn local_k_means(points: &Centers, weights: &[f64], k: usize, seed: u64) -> Centers {
    let mut random = SplitMix64::new(seed);
    let dim = points.dim();
    let mut centers = k_means_plus_plus(points, weights, k, &mut random);
    let columns: Vec<Vec<f64>> = (0..dim)
        .map(|feature| {
            (0..points.len())
                .map(|p| points.center(p)[feature])
                .collect()
        })
        .collect();
    let columns: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let mut assigned = vec![0u32; points.len()];
    let mut distances = vec![0.0; points.len()];
    let mut buffers = NearestBuffers::default();
    for _ in 0..LOCAL_ITERATIONS {
        let current = Centers::new(dim, centers.clone());
        nearest(
            &current,
            &columns,
            &mut buffers,
            &mut assigned,
            &mut distances,
        );
        let mut sums = vec![0.0; k * dim];
        let mut totals = vec![0.0; k];
        for (point, (center, weight)) in assigned.iter().zip(weights).enumerate() {
            let center = *center as usize;
            totals[center] += weight;
            for (sum, value) in sums[center * dim..].iter_mut().zip(points.center(point)) {
                *sum += weight * value;
            }
        }
        let mut moved = false;
        for center in 0..k {
            let updated: Vec<f64> = if totals[center] > 0.0 {
                sums[center * dim..(center + 1) * dim]
                    .iter()
                    .map(|sum| sum / totals[center])
                    .collect()
            } else {
                let index = (random.next_f64() * points.len() as f64) as usize;
                points.center(index.min(points.len() - 1)).to_vec()
            };
            let slot = &mut centers[center * dim..(center + 1) * dim];
            moved |= squared_distance(slot, &updated) > 0.0;
            slot.copy_from_slice(&updated);
        }
        if !moved {
            break;
        }
    }
    Centers::new(dim, centers)
}

/// k-means++ seeding over weighted points: the first center drawn by weight, each next one by
/// weight times squared distance to the nearest chosen center. Row-major result.
fn k_means_plus_plus(
    points: &Centers,
    weights: &[f64],
    k: usize,
    random: &mut SplitMix64,
) -> Vec<f64> {
    let draw = |scores: &[f64], random: &mut SplitMix64| {
        let total: f64 = scores.iter().sum();
        let target = random.next_f64() * total;
        let mut cumulative = 0.0;
        scores
            .iter()
            .position(|score| {
                cumulative += score;
                cumulative > target
            })
            .unwrap_or(scores.len() - 1)
    };
    let first = draw(weights, random);
    let mut centers = points.center(first).to_vec();
    let mut nearest_cost: Vec<f64> = (0..points.len())
        .map(|p| squared_distance(points.center(p), points.center(first)))
        .collect();
    for _ in 1..k {
        let scores: Vec<f64> = nearest_cost
            .iter()
            .zip(weights)
            .map(|(d, w)| d * w)
            .collect();
        let chosen = if scores.iter().sum::<f64>() > 0.0 {
            draw(&scores, random)
        } else {
            draw(weights, random)
        };
        let center = points.center(chosen);
        centers.extend_from_slice(center);
        for (p, cost) in nearest_cost.iter_mut().enumerate() {
            *cost = cost.min(squared_distance(points.center(p), center));
        }
    }
    centers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_k_means_finds_well_separated_groups() {
        // Three tight groups around (0, 0), (10, 0) and (0, 10).
        let mut values = Vec::new();
        for (x, y) in [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)] {
            for offset in [-0.1, 0.0, 0.1] {
                values.extend([x + offset, y - offset]);
            }
        }
        let points = Centers::new(2, values);
        let centers = local_k_means(&points, &[1.0; 9], 3, 7);
        let mut found: Vec<(i64, i64)> = (0..3)
            .map(|c| {
                let center = centers.center(c);
                (center[0].round() as i64, center[1].round() as i64)
            })
            .collect();
        found.sort();
        assert_eq!(found, vec![(0, 0), (0, 10), (10, 0)]);
    }

    #[test]
    fn fewer_distinct_points_than_k_repeat_centers() {
        let points = Centers::new(1, vec![1.0, 1.0, 2.0]);
        let centers = local_k_means(&points, &[1.0, 1.0, 1.0], 3, 1);
        assert_eq!(centers.len(), 3);
        let mut values = centers.values().to_vec();
        values.sort_by(f64::total_cmp);
        values.dedup();
        assert_eq!(values, vec![1.0, 2.0]);
    }
}
