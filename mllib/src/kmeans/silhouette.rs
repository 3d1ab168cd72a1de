//! The silhouette of a clustering, with squared Euclidean distances, in two aggregates (Spark's
//! `ClusteringEvaluator` method): first each cluster's count, sum and sum of squared norms, then
//! every row's silhouette from those — the mean squared distance from a row to all rows of a
//! cluster `C` is `||x - μ_C||² + Ψ_C / n_C - ||μ_C||²`, so no pairwise distances are needed.
//!
//! A row's silhouette is `(b - a) / max(a, b)`, with `a` its mean squared distance to the other
//! rows of its cluster and `b` the smallest mean squared distance to another cluster's rows; 0
//! for a row alone in its cluster. Rows belong to the cluster of their nearest center.

use datafusion::common::exec_err;
use datafusion::error::Result;

use crate::aggregate::{add_in_chunks, PartialAggregate};
use crate::codec::count_within;
use crate::kernels::nearest::{assign, squared_distance, Centers};

/// Per-cluster `[counts (k), sums (k x dim), squared norms (k)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterStatsStep {
    /// The model's centers, which assign rows to clusters.
    pub centers: Centers,
}

impl PartialAggregate for ClusterStatsStep {
    const NAME: &'static str = "ml_cluster_stats";

    fn decode(params: &[f64]) -> Result<Self> {
        Ok(Self {
            centers: super::steps::decode_centers(Self::NAME, params)?,
        })
    }

    fn encode(&self) -> Vec<f64> {
        super::steps::encode_centers(&self.centers)
    }

    fn features(&self) -> usize {
        self.centers.dim()
    }

    fn empty(&self) -> Vec<f64> {
        vec![0.0; self.centers.len() * (self.centers.dim() + 2)]
    }

    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
        let (k, dim) = (self.centers.len(), self.centers.dim());
        add_in_chunks(features, partial, |columns| {
            let (assigned, _) = assign(&self.centers, columns);
            let mut stats = self.empty();
            for (row, cluster) in assigned.iter().enumerate() {
                let cluster = *cluster as usize;
                stats[cluster] += 1.0;
                for (feature, column) in columns.iter().enumerate() {
                    let value = column[row];
                    stats[k + cluster * dim + feature] += value;
                    stats[k + k * dim + cluster] += value * value;
                }
            }
            stats
        });
    }
}

/// The sum of the rows' silhouettes, given the cluster statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct SilhouetteStep {
    /// The model's centers, which assign rows to clusters.
    pub centers: Centers,
    /// Rows per cluster.
    pub counts: Vec<f64>,
    /// Cluster means, row-major.
    pub means: Centers,
    /// `Ψ_C / n_C - ||μ_C||²` per cluster: the spread term of mean squared distances.
    pub spreads: Vec<f64>,
}

impl SilhouetteStep {
    /// The step from [`ClusterStatsStep`]'s merged state.
    pub fn from_stats(centers: Centers, stats: &[f64]) -> Self {
        let (k, dim) = (centers.len(), centers.dim());
        let counts = stats[..k].to_vec();
        let mut means = Vec::with_capacity(k * dim);
        let mut spreads = Vec::with_capacity(k);
        for cluster in 0..k {
            let count = counts[cluster].max(1.0);
            let mean: Vec<f64> = stats[k + cluster * dim..k + (cluster + 1) * dim]
                .iter()
                .map(|sum| sum / count)
                .collect();
            let norm: f64 = mean.iter().map(|v| v * v).sum();
            spreads.push(stats[k + k * dim + cluster] / count - norm);
            means.extend(mean);
        }
        Self {
            centers,
            counts,
            means: Centers::new(dim, means),
            spreads,
        }
    }
}

impl PartialAggregate for SilhouetteStep {
    const NAME: &'static str = "ml_silhouette";

    fn decode(params: &[f64]) -> Result<Self> {
        let Some((&k, rest)) = params.split_first() else {
            return exec_err!("{}: empty parameters", Self::NAME);
        };
        let Some(k) = count_within(k, rest.len() / 2).filter(|&k| k > 0) else {
            return exec_err!("{}: corrupt parameters", Self::NAME);
        };
        let (counts, rest) = rest.split_at(k);
        let (spreads, rest) = rest.split_at(k);
        let centers = super::steps::decode_centers(Self::NAME, rest)?;
        let dim = centers.dim();
        if centers.len() != 2 * k {
            return exec_err!("{}: corrupt parameters", Self::NAME);
        }
        let (model, means) = centers.values().split_at(k * dim);
        Ok(Self {
            centers: Centers::new(dim, model.to_vec()),
            counts: counts.to_vec(),
            means: Centers::new(dim, means.to_vec()),
            spreads: spreads.to_vec(),
        })
    }

    fn encode(&self) -> Vec<f64> {
        let mut params = vec![self.counts.len() as f64];
        params.extend(&self.counts);
        params.extend(&self.spreads);
        let both = [self.centers.values(), self.means.values()].concat();
        params.extend(super::steps::encode_centers(&Centers::new(
            self.centers.dim(),
            both,
        )));
        params
    }

    fn features(&self) -> usize {
        self.centers.dim()
    }

    fn empty(&self) -> Vec<f64> {
        vec![0.0]
    }

    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
        add_in_chunks(features, partial, |columns| {
            let (assigned, _) = assign(&self.centers, columns);
            let mut point = vec![0.0; columns.len()];
            let mut total = 0.0;
            for (row, own) in assigned.iter().enumerate() {
                let own = *own as usize;
                if self.counts[own] <= 1.0 {
                    continue;
                }
                for (value, column) in point.iter_mut().zip(columns.iter()) {
                    *value = column[row];
                }
                let mean_distance = |cluster: usize| {
                    squared_distance(&point, self.means.center(cluster)) + self.spreads[cluster]
                };
                let n = self.counts[own];
                let a = mean_distance(own) * n / (n - 1.0);
                let b = (0..self.counts.len())
                    .filter(|c| *c != own && self.counts[*c] > 0.0)
                    .map(mean_distance)
                    .fold(f64::INFINITY, f64::min);
                if b.is_finite() && a.max(b) > 0.0 {
                    total += (b - a) / a.max(b);
                }
            }
            vec![total]
        });
    }
}
