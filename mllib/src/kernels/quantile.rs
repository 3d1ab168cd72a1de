//! A mergeable quantile sketch with a worst-case rank error it knows: a deterministic
//! KLL-style hierarchy of compactors.
//!
//! # How it works
//!
//! Level `h` holds items of weight `2^h` (an item at level `h` stands for `2^h` input values);
//! every level holds at most `k` items. Values enter level 0. When a level holds more than `k`
//! items it is *compacted*: sorted, and of its largest even number of items every other one
//! (starting at the first or the second, alternating with each compaction of that level) moves
//! up to level `h + 1` with twice the weight; the odd item left over, if any, stays. Nothing is
//! random, so the same values inserted in the same order, and sketches merged in the same order,
//! give the same sketch, whatever the batch boundaries. The count, the minimum and the maximum
//! are kept exactly.
//!
//! # Error bound
//!
//! The *rank* of `x` is the number of values `<= x` (or `< x`); the sketch estimates it as the
//! total weight of its items `<= x` (`< x`). Compacting a sorted run of items of weight `w`
//! changes the estimate of any rank by at most `w`: of the `r` items `<= x`, `⌈r/2⌉` or `⌊r/2⌋`
//! survive with weight `2w`, so `r·w` becomes `r·w ± w` at most. So each compaction at level `h`
//! moves any rank by at most `2^h`, and the sketch adds `2^h` to
//! [`QuantileSketch::rank_error_bound`] with each one: that sum is a worst-case bound, in rows,
//! on the rank error of every estimate, including after merges (the errors of the merged
//! sketches add, since they summarise disjoint rows).
//!
//! How large can it get? A compaction at level `h` consumes at least `k` items, and at most
//! `n / 2^h` items ever reach level `h` (`n` values in all, over all the sketches merged), so
//! there are at most `⌊n / (k·2^h)⌋` compactions at level `h`, moving ranks by at most `n / k`
//! in all, and only the levels `h < log2(n / k)` are ever compacted. Hence
//!
//! ```text
//! rank_error_bound() <= Σ_h 2^h·⌊n / (k·2^h)⌋ <= ⌈log2(n / k)⌉ · n / k      (0 while n <= k)
//! ```
//!
//! ([`QuantileSketch::worst_case_rank_error`] computes the middle term), a relative rank error
//! of at most `⌈log2(n / k)⌉ / k`: with [`DEFAULT_K`], 0.2% of the rows at a million rows and
//! 0.44% at a billion. The reported bound is the one actually accumulated, usually somewhat
//! lower; the actual error is typically far lower still, as alternating compactions cancel out.
//! Memory: at most `k` items per level and `⌈log2(n / k)⌉ + 1` levels.
//!
//! # Quantiles
//!
//! [`QuantileSketch::quantiles`] uses the *lower* definition: the `q` quantile is the smallest
//! value whose (estimated) rank is at least `q·n`; `q = 0` gives the exact minimum and `q = 1` the
//! exact maximum. This is the value Spark's `approxQuantile` aims at, and every answer is one of
//! the input values. An answer `v` satisfies `rank(< v) - ε < q·n <= rank(<= v) + ε` with
//! `ε = rank_error_bound()`; exactly when `n <= k`.

/// Items per level by default: a rank error of at most 0.2% of the rows at a million rows.
pub const DEFAULT_K: usize = 4096;

/// The smallest number of items per level; smaller `k` are raised to it.
pub const MIN_K: usize = 8;

/// The largest number of items per level; larger `k` are lowered to it.
pub const MAX_K: usize = 1 << 24;

/// A mergeable summary of a multiset of `f64` values (never NaN) answering quantiles within a
/// rank error it reports. See the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileSketch {
    /// Capacity of each level: even, in `MIN_K..=MAX_K`.
    k: usize,
    /// Values summarised (the items' total weight).
    count: u64,
    /// The sum of `2^h` over every compaction at level `h` behind this sketch.
    error_bound: u64,
    /// Smallest value; `+∞` when empty.
    min: f64,
    /// Largest value; `-∞` when empty.
    max: f64,
    /// Level `h` holds items of weight `2^h`.
    levels: Vec<Level>,
}

/// One level of the hierarchy.
#[derive(Debug, Clone, PartialEq, Default)]
struct Level {
    /// Compactions of this level so far; its parity picks the items that move up.
    compactions: u64,
    /// The items, unsorted.
    items: Vec<f64>,
}

impl QuantileSketch {
    /// An empty sketch of `k` items per level. `k` is clamped into `MIN_K..=MAX_K` and an odd `k`
    /// is raised by one (compactions pair items); callers that take `k` from a user validate it.
    pub fn new(k: usize) -> Self {
        Self {
            k: clamp_k(k),
            count: 0,
            error_bound: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            levels: Vec::new(),
        }
    }

    /// The worst-case [`QuantileSketch::rank_error_bound`] of a sketch of `n` values made with
    /// `k` (clamped as in [`QuantileSketch::new`]), however they were inserted and merged:
    /// `Σ_h 2^h·⌊n / (k·2^h)⌋` over the levels `h` that can be compacted.
    pub fn worst_case_rank_error(n: u64, k: usize) -> f64 {
        let k = clamp_k(k) as u64;
        let mut bound = 0;
        let mut h = 0;
        while h < u64::BITS && (n >> h) > k {
            bound += ((n >> h) / k) << h;
            h += 1;
        }
        bound as f64
    }

    /// Items per level.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Values summarised.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The exact smallest value, `None` when empty.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// The exact largest value, `None` when empty.
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// A worst-case bound, in rows, on the error of the rank of any value as the sketch
    /// estimates it, and so of the rank of any quantile it answers (see the module docs). 0 while
    /// no compaction happened, so while at most `k` values were inserted.
    pub fn rank_error_bound(&self) -> f64 {
        self.error_bound as f64
    }

    /// Items held, over all levels: the sketch's memory, in values.
    pub fn retained(&self) -> usize {
        self.levels.iter().map(|level| level.items.len()).sum()
    }

    /// Adds `values`, which must not contain NaN (callers filter it out: a NaN would break the
    /// order that quantiles rely on). Compacts as levels fill, without allocating per value; the
    /// result does not depend on how values are split between calls.
    pub fn insert_all(&mut self, values: &[f64]) {
        if values.is_empty() {
            return;
        }
        for &value in values {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += values.len() as u64;
        if self.levels.is_empty() {
            self.levels.push(Level::default());
        }
        let mut rest = values;
        while !rest.is_empty() {
            // Fill level 0 up to one item over capacity, the point where it compacts.
            let room = self.k + 1 - self.levels[0].items.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.levels[0].items.extend_from_slice(now);
            rest = later;
            self.compact();
        }
    }

    /// Adds the values `other` summarises: level by level, then compacts what is over capacity
    /// (to this sketch's `k`). The error bounds add up. Deterministic: the same merges in the
    /// same order give the same sketch.
    pub fn merge(&mut self, other: &QuantileSketch) {
        self.count += other.count;
        self.error_bound += other.error_bound;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if self.levels.len() < other.levels.len() {
            self.levels.resize_with(other.levels.len(), Level::default);
        }
        for (mine, theirs) in self.levels.iter_mut().zip(&other.levels) {
            mine.compactions += theirs.compactions;
            mine.items.extend_from_slice(&theirs.items);
        }
        self.compact();
    }

    /// The `q` quantile (lower definition, see the module docs), `None` when empty. `q` is
    /// clamped into `[0, 1]` (NaN counts as 0). Sorts the items: for several quantiles, use
    /// [`QuantileSketch::quantiles`].
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles(&[q]).map(|values| values[0])
    }

    /// The quantiles `qs` (each as in [`QuantileSketch::quantile`]), in the order given, sorting
    /// the items once; `None` when empty.
    pub fn quantiles(&self, qs: &[f64]) -> Option<Vec<f64>> {
        if self.count == 0 {
            return None;
        }
        let mut items: Vec<(f64, u64)> = self
            .levels
            .iter()
            .enumerate()
            .flat_map(|(h, level)| level.items.iter().map(move |&value| (value, 1 << h)))
            .collect();
        items.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let ranks: Vec<u64> = items
            .iter()
            .scan(0, |rank, &(_, weight)| {
                *rank += weight;
                Some(*rank)
            })
            .collect();
        let quantile = |q: f64| {
            let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
            if q == 0.0 {
                return self.min;
            }
            if q == 1.0 {
                return self.max;
            }
            let target = q * self.count as f64;
            let index = ranks.partition_point(|&rank| (rank as f64) < target);
            items[index.min(items.len() - 1)].0
        };
        Some(qs.iter().map(|&q| quantile(q)).collect())
    }

    /// The sketch as a flat vector: `[k, count, error_bound, min, max, levels]`, then for each
    /// level from 0 up `[compactions, length, items...]`.
    pub fn encode(&self) -> Vec<f64> {
        let mut encoded = Vec::with_capacity(6 + 2 * self.levels.len() + self.retained());
        encoded.extend([
            self.k as f64,
            self.count as f64,
            self.error_bound as f64,
            self.min,
            self.max,
            self.levels.len() as f64,
        ]);
        for level in &self.levels {
            encoded.extend([level.compactions as f64, level.items.len() as f64]);
            encoded.extend_from_slice(&level.items);
        }
        encoded
    }

    /// The sketch [`QuantileSketch::encode`] wrote, exactly; `None` when `encoded` is not one
    /// (truncated, trailing values, a level over capacity, weights that do not add up to the
    /// count, NaN items...).
    pub fn decode(encoded: &[f64]) -> Option<Self> {
        let ([k, count, error_bound, min, max, levels], mut rest) =
            encoded.split_first_chunk::<6>()?;
        let k = whole(*k)? as usize;
        let levels = whole(*levels)?;
        if k != clamp_k(k) || levels > u64::from(u64::BITS) || min.is_nan() || max.is_nan() {
            return None;
        }
        let mut sketch = Self {
            k,
            count: whole(*count)?,
            error_bound: whole(*error_bound)?,
            min: *min,
            max: *max,
            levels: Vec::with_capacity(levels as usize),
        };
        let mut weight: u64 = 0;
        for h in 0..levels {
            let ([compactions, length], tail) = rest.split_first_chunk::<2>()?;
            let length = whole(*length)?;
            if length > k as u64 || length > tail.len() as u64 {
                return None;
            }
            let (items, tail) = tail.split_at(length as usize);
            if items.iter().any(|item| item.is_nan()) {
                return None;
            }
            weight = weight.checked_add(length.checked_mul(1 << h)?)?;
            sketch.levels.push(Level {
                compactions: whole(*compactions)?,
                items: items.to_vec(),
            });
            rest = tail;
        }
        let extremes_fit = if sketch.count == 0 {
            *min == f64::INFINITY && *max == f64::NEG_INFINITY
        } else {
            min <= max
        };
        (rest.is_empty() && weight == sketch.count && extremes_fit).then_some(sketch)
    }

    /// Compacts every level over capacity, from level 0 up (a compaction only feeds the level
    /// above, so one pass leaves every level within capacity).
    fn compact(&mut self) {
        let mut h = 0;
        while h < self.levels.len() {
            if self.levels[h].items.len() > self.k {
                self.compact_level(h);
            }
            h += 1;
        }
    }

    /// Moves every other item of level `h`'s largest even number of sorted items up a level.
    fn compact_level(&mut self, h: usize) {
        if h + 1 == self.levels.len() {
            self.levels.push(Level::default());
        }
        let (below, above) = self.levels.split_at_mut(h + 1);
        let (level, above) = (&mut below[h], &mut above[0]);
        level.items.sort_unstable_by(f64::total_cmp);
        let paired = level.items.len() / 2 * 2;
        let offset = (level.compactions % 2) as usize;
        above
            .items
            .extend(level.items[offset..paired].iter().step_by(2));
        level.items.drain(..paired);
        level.compactions += 1;
        self.error_bound += 1 << h;
    }
}

/// `k` as [`QuantileSketch::new`] takes it: in `MIN_K..=MAX_K` and even.
fn clamp_k(k: usize) -> usize {
    let k = k.clamp(MIN_K, MAX_K);
    k + k % 2
}

/// `value` as a count: a whole number in `0..=2^53`, where `f64` counts exactly.
fn whole(value: f64) -> Option<u64> {
    let exact = 0.0..=(1u64 << f64::MANTISSA_DIGITS) as f64;
    (exact.contains(&value) && value.fract() == 0.0).then_some(value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `0..n` in a scrambled order: `i·a mod n` for an `a` coprime to `n`.
    fn permutation(n: u64) -> Vec<f64> {
        const A: u64 = 999_983;
        assert_eq!(gcd(A, n), 1);
        (0..n).map(|i| ((i * A) % n) as f64).collect()
    }

    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }

    /// The exact lower `q` quantile of `0..n`: the smallest `v` with `v + 1 >= q·n`.
    fn exact_quantile_of_range(n: u64, q: f64) -> f64 {
        if q == 0.0 {
            0.0
        } else {
            ((q * n as f64).ceil() - 1.0).max(0.0)
        }
    }

    /// Checks every 1% quantile of a sketch of `0..n` against the exact ones, within the
    /// sketch's own bound, and returns that bound.
    fn assert_percentiles_within_bound(sketch: &QuantileSketch, n: u64) -> f64 {
        let qs: Vec<f64> = (0..=100).map(|p| p as f64 / 100.0).collect();
        let bound = sketch.rank_error_bound();
        for (&q, value) in qs.iter().zip(sketch.quantiles(&qs).unwrap()) {
            let exact = exact_quantile_of_range(n, q);
            assert!(
                (value - exact).abs() <= bound,
                "q = {q}: {value} vs exact {exact}, bound {bound}"
            );
        }
        bound
    }

    #[test]
    fn quantiles_are_exact_while_count_is_at_most_k() {
        let values: Vec<f64> = permutation(64).iter().map(|v| v * 0.5 - 3.0).collect();
        let mut sketch = QuantileSketch::new(64);
        sketch.insert_all(&values[..40]);
        sketch.insert_all(&values[40..]);
        assert_eq!(sketch.rank_error_bound(), 0.0);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for p in 0..=200 {
            let q = p as f64 / 200.0;
            let rank = (q * 64.0).ceil().max(1.0) as usize;
            assert_eq!(sketch.quantile(q), Some(sorted[rank - 1]), "q = {q}");
        }
        // Lower definition on a tiny set: [1, 2, 3, 6].
        let mut small = QuantileSketch::new(8);
        small.insert_all(&[6.0, 1.0, 3.0, 2.0]);
        assert_eq!(
            small.quantiles(&[0.0, 0.25, 0.5, 0.51, 0.75, 1.0]),
            Some(vec![1.0, 1.0, 2.0, 3.0, 3.0, 6.0])
        );
        let mut same = QuantileSketch::new(8);
        same.insert_all(&[4.0; 100]);
        assert_eq!(same.quantiles(&[0.0, 0.3, 1.0]), Some(vec![4.0; 3]));
    }

    #[test]
    fn every_percentile_of_a_million_values_is_within_the_reported_bound() {
        let n = 1_000_000;
        let values = permutation(n);
        let mut sketch = QuantileSketch::new(DEFAULT_K);
        for batch in values.chunks(8192) {
            sketch.insert_all(batch);
        }
        assert_eq!(sketch.count(), n);
        let bound = assert_percentiles_within_bound(&sketch, n);
        assert!(bound > 0.0);
        assert!(bound <= QuantileSketch::worst_case_rank_error(n, DEFAULT_K));
        assert!(bound < n as f64 * 0.0025, "bound {bound}");
        // ⌈log2(n / k)⌉ + 1 levels of at most k items.
        let levels = (n as f64 / DEFAULT_K as f64).log2().ceil() as usize + 1;
        assert!(sketch.retained() <= DEFAULT_K * levels);
        // Batch boundaries do not matter.
        let mut at_once = QuantileSketch::new(DEFAULT_K);
        at_once.insert_all(&values);
        assert_eq!(at_once, sketch);
    }

    #[test]
    fn merging_four_shards_stays_within_the_merged_bound() {
        let n = 1_000_000;
        let values = permutation(n);
        let shards: Vec<QuantileSketch> = values
            .chunks(values.len() / 4)
            .map(|shard| {
                let mut sketch = QuantileSketch::new(DEFAULT_K);
                sketch.insert_all(shard);
                sketch
            })
            .collect();
        let mut merged = QuantileSketch::new(DEFAULT_K);
        for shard in &shards {
            merged.merge(shard);
        }
        assert_eq!(merged.count(), n);
        let shard_bounds: f64 = shards.iter().map(QuantileSketch::rank_error_bound).sum();
        let bound = assert_percentiles_within_bound(&merged, n);
        assert!(bound >= shard_bounds);
        assert!(bound <= QuantileSketch::worst_case_rank_error(n, DEFAULT_K));
        assert_eq!(
            (merged.min(), merged.max()),
            (Some(0.0), Some(n as f64 - 1.0))
        );
        // The same merges in the same order give the same sketch; merging into an empty sketch
        // copies.
        let mut again = shards[0].clone();
        for shard in &shards[1..] {
            again.merge(shard);
        }
        assert_eq!(again, merged);
    }

    #[test]
    fn small_k_many_levels_stays_within_the_bound() {
        let n = 100_000;
        let values = permutation(n);
        let k = 32;
        let mut merged = QuantileSketch::new(k);
        for shard in values.chunks(7_777) {
            let mut sketch = QuantileSketch::new(k);
            sketch.insert_all(shard);
            merged.merge(&sketch);
        }
        let bound = assert_percentiles_within_bound(&merged, n);
        assert!(bound <= QuantileSketch::worst_case_rank_error(n, k));
        assert!(merged.retained() <= k * merged.levels.len());
    }

    #[test]
    fn min_and_max_are_exact() {
        let mut sketch = QuantileSketch::new(8);
        let values: Vec<f64> = permutation(1000).iter().map(|v| v - 500.25).collect();
        sketch.insert_all(&values);
        assert!(sketch.rank_error_bound() > 0.0);
        assert_eq!((sketch.min(), sketch.max()), (Some(-500.25), Some(498.75)));
        assert_eq!(sketch.quantiles(&[0.0, 1.0]), Some(vec![-500.25, 498.75]));
        assert_eq!(sketch.quantiles(&[-1.0, 2.0]), Some(vec![-500.25, 498.75]));
    }

    #[test]
    fn an_empty_sketch_has_no_quantiles() {
        let empty = QuantileSketch::new(DEFAULT_K);
        assert_eq!(empty.count(), 0);
        assert_eq!((empty.min(), empty.max()), (None, None));
        assert_eq!(empty.quantile(0.5), None);
        assert_eq!(empty.quantiles(&[0.5]), None);
        let mut sketch = QuantileSketch::new(DEFAULT_K);
        sketch.insert_all(&[]);
        assert_eq!(sketch, empty);
        sketch.insert_all(&[2.0, 1.0]);
        let before = sketch.clone();
        sketch.merge(&empty);
        assert_eq!(sketch, before);
        assert_eq!(sketch.quantile(0.5), Some(1.0));
    }

    #[test]
    fn encode_decode_round_trips_exactly() {
        let mut sketch = QuantileSketch::new(16);
        sketch.insert_all(&permutation(10_000));
        sketch.insert_all(&[-0.0, 1e-300, f64::MAX]);
        assert!(sketch.levels.len() > 3);
        let encoded = sketch.encode();
        let decoded = QuantileSketch::decode(&encoded).unwrap();
        assert_eq!(decoded, sketch);
        let bits = |values: &[f64]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&decoded.encode()), bits(&encoded));
        let empty = QuantileSketch::new(10);
        assert_eq!(QuantileSketch::decode(&empty.encode()), Some(empty));
    }

    #[test]
    fn corrupt_encodings_are_rejected() {
        let mut sketch = QuantileSketch::new(8);
        sketch.insert_all(&permutation(100));
        let encoded = sketch.encode();
        let decode = QuantileSketch::decode;
        assert!(decode(&encoded[..encoded.len() - 1]).is_none());
        assert!(decode(&[encoded.as_slice(), &[1.0]].concat()).is_none());
        let mut wrong_count = encoded.clone();
        wrong_count[1] += 1.0;
        assert!(decode(&wrong_count).is_none());
        let mut odd_k = encoded.clone();
        odd_k[0] = 9.0;
        assert!(decode(&odd_k).is_none());
        let mut nan_item = encoded.clone();
        *nan_item.last_mut().unwrap() = f64::NAN;
        assert!(decode(&nan_item).is_none());
        assert!(decode(&[]).is_none());
    }

    #[test]
    fn k_is_clamped_to_an_even_number_of_at_least_min_k() {
        assert_eq!(QuantileSketch::new(0).k(), MIN_K);
        assert_eq!(QuantileSketch::new(3).k(), MIN_K);
        assert_eq!(QuantileSketch::new(9).k(), 10);
        assert_eq!(QuantileSketch::new(DEFAULT_K).k(), DEFAULT_K);
        assert_eq!(QuantileSketch::new(usize::MAX).k(), MAX_K);
    }

    #[test]
    fn the_worst_case_bound_is_log_levels_of_n_over_k() {
        assert_eq!(QuantileSketch::worst_case_rank_error(4096, 4096), 0.0);
        assert_eq!(QuantileSketch::worst_case_rank_error(4097, 4096), 1.0);
        let n = 1_000_000_000;
        let bound = QuantileSketch::worst_case_rank_error(n, DEFAULT_K);
        let levels = (n as f64 / DEFAULT_K as f64).log2().ceil();
        assert!(bound <= levels * n as f64 / DEFAULT_K as f64);
        assert!(bound < 0.0045 * n as f64);
    }
}
