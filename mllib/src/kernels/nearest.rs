//! The nearest center of each row, by blocked distance computation.
//!
//! Squared distances expand to `||x||² - 2 x·c + ||c||²`: for a tile of rows, the dot products
//! with every center are one small matrix product (`matrixmultiply`'s `dgemm`, which picks AVX/FMA
//! kernels at run time), and the rest is a pass over the tile. Rows arrive as one slice per
//! feature (Arrow's columnar layout); each tile is packed row-major into a reused buffer, so
//! nothing is allocated per row.

/// Rows per tile: the tile and its dot products stay in cache.
const TILE: usize = 256;

/// A set of centers (row-major, `dim` values each) with their squared norms.
#[derive(Debug, Clone, PartialEq)]
pub struct Centers {
    dim: usize,
    values: Vec<f64>,
    norms: Vec<f64>,
}

impl Centers {
    /// Centers from row-major `values`, `dim` per center.
    ///
    /// # Panics
    /// If `dim` is 0 or does not divide `values.len()`.
    pub fn new(dim: usize, values: Vec<f64>) -> Self {
        assert!(
            dim > 0 && values.len().is_multiple_of(dim),
            "centers of dimension {dim}"
        );
        let norms = values
            .chunks_exact(dim)
            .map(|center| center.iter().map(|v| v * v).sum())
            .collect();
        Self { dim, values, norms }
    }

    /// The number of centers.
    pub fn len(&self) -> usize {
        self.norms.len()
    }

    /// Whether there are no centers.
    pub fn is_empty(&self) -> bool {
        self.norms.is_empty()
    }

    /// Values per center.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Center `index`.
    pub fn center(&self, index: usize) -> &[f64] {
        &self.values[index * self.dim..(index + 1) * self.dim]
    }

    /// All centers, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

/// Buffers [`nearest`] reuses between calls.
#[derive(Debug, Default)]
pub struct NearestBuffers {
    tile: Vec<f64>,
    dots: Vec<f64>,
    best: Vec<f64>,
    best_index: Vec<f64>,
}

/// For each row of `columns` (one slice per feature, `centers.dim()` of them, equal lengths),
/// writes the index of its nearest center to `nearest` and the squared distance to `distances`.
/// Ties go to the lower index. The choice uses the expansion; distances where the expansion
/// cancels are computed directly.
///
/// # Panics
/// If there are no centers, or the slices' lengths or count disagree.
pub fn nearest(
    centers: &Centers,
    columns: &[&[f64]],
    buffers: &mut NearestBuffers,
    nearest: &mut [u32],
    distances: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { nearest_avx2(centers, columns, buffers, nearest, distances) };
        return;
    }
    nearest_portable(centers, columns, buffers, nearest, distances);
}

/// [`nearest`] compiled for AVX2 and FMA: the default x86-64 target has SSE2 only, and the
/// row loops below are worth four lanes and blends.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn nearest_avx2(
    centers: &Centers,
    columns: &[&[f64]],
    buffers: &mut NearestBuffers,
    nearest: &mut [u32],
    distances: &mut [f64],
) {
    nearest_portable(centers, columns, buffers, nearest, distances);
}

#[inline(always)]
fn nearest_portable(
    centers: &Centers,
    columns: &[&[f64]],
    buffers: &mut NearestBuffers,
    nearest: &mut [u32],
    distances: &mut [f64],
) {
    assert!(!centers.is_empty(), "no centers");
    assert_eq!(columns.len(), centers.dim, "one column per dimension");
    let rows = nearest.len();
    assert_eq!(distances.len(), rows);
    let (dim, count) = (centers.dim, centers.len());
    buffers.tile.resize(TILE * dim, 0.0);
    buffers.dots.resize(TILE * count, 0.0);
    buffers.best.resize(TILE, 0.0);
    buffers.best_index.resize(TILE, 0.0);
    for start in (0..rows).step_by(TILE) {
        let tile_rows = TILE.min(rows - start);
        // Column-major tile: each feature's rows are one copy.
        for (feature, column) in columns.iter().enumerate() {
            buffers.tile[feature * TILE..feature * TILE + tile_rows]
                .copy_from_slice(&column[start..start + tile_rows]);
        }
        // SAFETY: `tile` holds `tile_rows` x `dim` values column-major (strides 1, TILE); the
        // centers are `count` x `dim` row-major, read as the `dim` x `count` matrix (strides 1,
        // dim); `dots` has room for `tile_rows` x `count` values column-major (strides 1, TILE).
        // All three are distinct allocations that outlive the call.
        unsafe {
            matrixmultiply::dgemm(
                tile_rows,
                dim,
                count,
                1.0,
                buffers.tile.as_ptr(),
                1,
                TILE as isize,
                centers.values.as_ptr(),
                1,
                dim as isize,
                0.0,
                buffers.dots.as_mut_ptr(),
                1,
                TILE as isize,
            );
        }
        // Center by center over all rows of the tile, so the loop runs over contiguous rows;
        // branch-free, with the index kept as f64 beside the distance, so it vectorizes.
        let best = &mut buffers.best[..tile_rows];
        let best_index = &mut buffers.best_index[..tile_rows];
        best.fill(f64::INFINITY);
        best_index.fill(0.0);
        for (center, center_norm) in centers.norms.iter().enumerate() {
            let dots = &buffers.dots[center * TILE..center * TILE + tile_rows];
            let index = center as f64;
            for ((best, best_index), dot) in best.iter_mut().zip(best_index.iter_mut()).zip(dots) {
                let partial = center_norm - 2.0 * dot;
                let better = partial < *best;
                *best = if better { partial } else { *best };
                *best_index = if better { index } else { *best_index };
            }
        }
        let chosen = &mut nearest[start..start + tile_rows];
        for (chosen, index) in chosen.iter_mut().zip(best_index.iter()) {
            *chosen = *index as u32;
        }
        // Distances from the expansion, `||x||² + (||c||² - 2 x·c)`, except where it cancels
        // badly (a distance tiny next to the norms, e.g. points far from the origin): those are
        // computed directly, so every distance is accurate to ~1e-12 relative.
        let exact = &mut distances[start..start + tile_rows];
        exact.fill(0.0);
        for feature in 0..dim {
            let values = &buffers.tile[feature * TILE..feature * TILE + tile_rows];
            for (norm, value) in exact.iter_mut().zip(values) {
                *norm += value * value;
            }
        }
        for row in 0..tile_rows {
            let norm = exact[row];
            let center = chosen[row] as usize;
            let expanded = norm + best[row];
            exact[row] = if expanded > CANCELLATION * (norm + centers.norms[center]) {
                expanded
            } else {
                (0..dim)
                    .map(|feature| {
                        let difference = buffers.tile[feature * TILE + row]
                            - centers.values[center * dim + feature];
                        difference * difference
                    })
                    .sum()
            };
        }
    }
}

/// Below this share of `||x||² + ||c||²`, an expanded distance is recomputed directly (its
/// rounding error is about 1e-16 of that sum).
const CANCELLATION: f64 = 1e-4;

/// Each row's nearest center and squared distance to it, as new vectors ([`nearest`] with
/// fresh buffers).
pub fn assign(centers: &Centers, columns: &[&[f64]]) -> (Vec<u32>, Vec<f64>) {
    let rows = columns.first().map_or(0, |column| column.len());
    let (mut assigned, mut distances) = (vec![0u32; rows], vec![0.0; rows]);
    let buffers = &mut NearestBuffers::default();
    nearest(centers, columns, buffers, &mut assigned, &mut distances);
    (assigned, distances)
}

/// The squared Euclidean distance between `a` and `b`.
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nearest center by direct computation, for comparison.
    fn brute_force(centers: &Centers, point: &[f64]) -> (u32, f64) {
        (0..centers.len())
            .map(|index| (index as u32, squared_distance(centers.center(index), point)))
            .fold((0, f64::INFINITY), |best, candidate| {
                if candidate.1 < best.1 {
                    candidate
                } else {
                    best
                }
            })
    }

    #[test]
    fn matches_brute_force_across_tiles() {
        let dim = 3;
        let rows = 700; // more than two tiles, the last one partial
        let columns: Vec<Vec<f64>> = (0..dim)
            .map(|f| {
                (0..rows)
                    .map(|r| ((r * 7 + f * 13) % 29) as f64 * 0.5 - 3.0)
                    .collect()
            })
            .collect();
        let centers = Centers::new(
            dim,
            vec![0.0, 0.0, 0.0, 5.0, 5.0, 5.0, -4.0, 1.0, 2.5, 9.0, -3.0, 0.0],
        );
        let slices: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let mut index = vec![0; rows];
        let mut distance = vec![0.0; rows];
        nearest(
            &centers,
            &slices,
            &mut NearestBuffers::default(),
            &mut index,
            &mut distance,
        );
        for row in 0..rows {
            let point: Vec<f64> = columns.iter().map(|column| column[row]).collect();
            let (expected_index, expected_distance) = brute_force(&centers, &point);
            assert_eq!(index[row], expected_index, "row {row}");
            assert!(
                (distance[row] - expected_distance).abs() < 1e-9,
                "row {row}"
            );
        }
    }

    #[test]
    fn a_point_on_a_center_is_at_distance_zero() {
        let centers = Centers::new(2, vec![1e8, 1e8 + 1.0, 0.0, 0.0]);
        let mut index = [9];
        let mut distance = [f64::NAN];
        let (x, y) = ([1e8], [1e8 + 1.0]);
        nearest(
            &centers,
            &[&x, &y],
            &mut NearestBuffers::default(),
            &mut index,
            &mut distance,
        );
        assert_eq!((index[0], distance[0]), (0, 0.0));
    }
}
