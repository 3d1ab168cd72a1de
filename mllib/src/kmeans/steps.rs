//! The distributed steps of k-means, each one aggregate over the data.
//!
//! - [`LloydStep`]: assigns every row to its nearest center and sums rows, counts and squared
//!   distances per center — one Lloyd iteration, and also the weights of k-means|| candidates.
//! - [`PrioritySample`]: a weighted sample of fixed size, each row weighted by its squared
//!   distance to the current centers (or uniformly when there are none) — a k-means|| round.

use crate::aggregate::{add_in_chunks, PartialAggregate};
use crate::codec::count_within;
use crate::kernels::nearest::{assign, nearest, Centers, NearestBuffers};
use crate::random::hash_unit;
use crate::udf::MAX_FEATURE_COLUMNS;
use datafusion::common::exec_err;
use datafusion::error::Result;

/// One Lloyd iteration. Partial state: per-center sums (`k * dim`, row-major), per-center counts
/// (`k`), then the total squared distance (1).
#[derive(Debug, Clone, PartialEq)]
pub struct LloydStep {
    /// The centers rows are assigned to.
    pub centers: Centers,
}

impl LloydStep {
    /// Splits a merged state into sums, counts and cost.
    pub fn split<'a>(&self, state: &'a [f64]) -> (&'a [f64], &'a [f64], f64) {
        let sums_len = self.centers.len() * self.centers.dim();
        let (sums, rest) = state.split_at(sums_len);
        let (counts, cost) = rest.split_at(self.centers.len());
        (sums, counts, cost[0])
    }
}

impl PartialAggregate for LloydStep {
    const NAME: &'static str = "ml_kmeans_step";
    // A NaN feature makes the row's distances, or products, NaN, and they are summed.
    const NAN_SHOWS_IN_PARTIAL: bool = true;

    fn decode(params: &[f64]) -> Result<Self> {
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

    fn empty(&self) -> Vec<f64> {
        vec![0.0; self.centers.len() * (self.centers.dim() + 1) + 1]
    }

    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
        add_in_chunks(features, partial, |columns| self.chunk_partial(columns));
    }
}

impl LloydStep {
    /// The partial state of one chunk of rows.
    fn chunk_partial(&self, columns: &[&[f64]]) -> Vec<f64> {
        let dim = self.centers.dim();
        let (assigned, distances) = assign(&self.centers, columns);
        let mut partial = self.empty();
        let (sums, rest) = partial.split_at_mut(self.centers.len() * dim);
        for (feature, column) in columns.iter().enumerate() {
            for (value, center) in column.iter().zip(&assigned) {
                sums[*center as usize * dim + feature] += value;
            }
        }
        let (counts, cost) = rest.split_at_mut(self.centers.len());
        for center in &assigned {
            counts[*center as usize] += 1.0;
        }
        cost[0] = distances.iter().sum();
        partial
    }
}

/// A k-means|| sampling round: the `size` rows with the smallest keys `-ln(u) / w`, where `u` is
/// a uniform hash of (`seed`, `round`, the row) and `w` the row's squared distance to the nearest
/// of `centers` (1 when there are none). That is weighted sampling without replacement
/// (Efraimidis and Spirakis' exponential keys); keeping the smallest keys merges exactly, so the
/// sample depends only on the data and the seed. Rows on a center (`w = 0`) are never drawn.
///
/// Partial state: up to `size` entries of `[key, value_1, ..., value_dim]`, by ascending key.
#[derive(Debug, Clone, PartialEq)]
pub struct PrioritySample {
    /// Decides, with `round`, every row's key.
    pub seed: u64,
    /// The round, so that rounds draw independently.
    pub round: u64,
    /// How many rows to draw.
    pub size: usize,
    /// Values per row.
    pub dim: usize,
    /// The centers chosen so far, `None` for the first, uniform draw.
    pub centers: Option<Centers>,
}

impl PrioritySample {
    /// The drawn rows, row-major, in key order.
    pub fn points(&self, state: &[f64]) -> Vec<f64> {
        state
            .chunks_exact(self.dim + 1)
            .flat_map(|entry| entry[1..].iter().copied())
            .collect()
    }

    /// Keeps the `size` entries with the smallest keys of two key-sorted lists.
    fn merge_sorted(&self, a: &[f64], b: &[f64]) -> Vec<f64> {
        let width = self.dim + 1;
        let (mut left, mut right) = (
            a.chunks_exact(width).peekable(),
            b.chunks_exact(width).peekable(),
        );
        let mut merged = Vec::with_capacity((a.len() + b.len()).min(self.size * width));
        while merged.len() < self.size * width {
            let next = match (left.peek(), right.peek()) {
                (Some(l), Some(r)) if compare_entries(l, r).is_le() => left.next(),
                (Some(_), Some(_)) => right.next(),
                (Some(_), None) => left.next(),
                (None, _) => right.next(),
            };
            match next {
                Some(entry) => merged.extend_from_slice(entry),
                None => break,
            }
        }
        merged
    }
}

/// Orders sample entries by key, then by values, so that equal keys merge the same way anywhere.
fn compare_entries(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|order| order.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

impl PartialAggregate for PrioritySample {
    const NAME: &'static str = "ml_kmeans_sample";

    fn decode(params: &[f64]) -> Result<Self> {
        let [seed, round, size, dim, rest @ ..] = params else {
            return exec_err!("{}: truncated parameters", Self::NAME);
        };
        let centers = if rest.is_empty() {
            None
        } else {
            Some(decode_centers(Self::NAME, rest)?)
        };
        // The sample holds `size` entries (at least one) of `dim + 1` values; beyond what a
        // buffer can hold, the sizes are corrupt (and their product would overflow).
        let shape = count_within(*size, usize::MAX)
            .zip(count_within(*dim, MAX_FEATURE_COLUMNS))
            .filter(|&(size, dim)| {
                size > 0
                    && size
                        .checked_mul(dim + 1)
                        .is_some_and(|values| values <= isize::MAX as usize / 8)
            });
        let Some((size, dim)) = shape else {
            return exec_err!(
                "{}: corrupt sample size {size} of {dim} features",
                Self::NAME
            );
        };
        if centers.as_ref().is_some_and(|centers| centers.dim() != dim) {
            return exec_err!("{}: centers of another dimension than {dim}", Self::NAME);
        }
        Ok(Self {
            seed: f64_to_seed(*seed),
            round: *round as u64,
            size,
            dim,
            centers,
        })
    }

    fn encode(&self) -> Vec<f64> {
        let mut params = vec![
            seed_to_f64(self.seed),
            self.round as f64,
            self.size as f64,
            self.dim as f64,
        ];
        params.extend(self.centers.iter().flat_map(encode_centers));
        params
    }

    fn features(&self) -> usize {
        self.dim
    }

    fn empty(&self) -> Vec<f64> {
        Vec::new()
    }

    fn update(&self, features: &[&[f64]], partial: &mut Vec<f64>) {
        let rows = features.first().map_or(0, |column| column.len());
        let mut weights = vec![1.0; rows];
        if let Some(centers) = &self.centers {
            let mut assigned = vec![0u32; rows];
            nearest(
                centers,
                features,
                &mut NearestBuffers::default(),
                &mut assigned,
                &mut weights,
            );
        }
        let width = self.dim + 1;
        let threshold = if partial.len() == self.size * width {
            partial[partial.len() - width]
        } else {
            f64::INFINITY
        };
        let mut drawn = Vec::new();
        for (row, weight) in weights.iter().enumerate() {
            if *weight <= 0.0 {
                continue;
            }
            let values = features.iter().map(|column| column[row]);
            let key = -hash_unit(self.seed, self.round, values.clone()).ln() / weight;
            if key <= threshold {
                drawn.push(key);
                drawn.extend(values);
            }
        }
        let mut entries: Vec<&[f64]> = drawn.chunks_exact(width).collect();
        entries.sort_by(|a, b| compare_entries(a, b));
        let sorted: Vec<f64> = entries.into_iter().flatten().copied().collect();
        *partial = self.merge_sorted(partial, &sorted);
    }

    fn merge(&self, into: &mut Vec<f64>, other: &[f64]) {
        *into = self.merge_sorted(into, other);
    }
}

/// `[dim, values...]` of `centers`.
pub(crate) fn encode_centers(centers: &Centers) -> Vec<f64> {
    let mut params = vec![centers.dim() as f64];
    params.extend_from_slice(centers.values());
    params
}

/// The centers [`encode_centers`] wrote.
pub(crate) fn decode_centers(name: &str, params: &[f64]) -> Result<Centers> {
    match params.split_first() {
        Some((&dim, values))
            if dim >= 1.0 && !values.is_empty() && values.len().is_multiple_of(dim as usize) =>
        {
            Ok(Centers::new(dim as usize, values.to_vec()))
        }
        _ => exec_err!("{name}: corrupt centers in the parameters"),
    }
}

/// A seed as an `f64` parameter, bit for bit.
fn seed_to_f64(seed: u64) -> f64 {
    f64::from_bits(seed)
}

/// The seed [`seed_to_f64`] stored.
fn f64_to_seed(value: f64) -> u64 {
    value.to_bits()
}
