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
}

/// For each row of `columns` (one slice per feature, `centers.dim()` of them, equal lengths),
/// writes the index of its nearest center to `nearest` and the squared distance to `distances`.
/// Ties go to the lower index. The choice uses the expansion; the distance written is computed
/// directly, so it is exact even where the expansion loses precision.
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
    assert!(!centers.is_empty(), "no centers");
    assert_eq!(columns.len(), centers.dim, "one column per dimension");
    let rows = nearest.len();
    assert_eq!(distances.len(), rows);
    let (dim, count) = (centers.dim, centers.len());
    buffers.tile.resize(TILE * dim, 0.0);
    buffers.dots.resize(TILE * count, 0.0);
    for start in (0..rows).step_by(TILE) {
        let tile_rows = TILE.min(rows - start);
        for (feature, column) in columns.iter().enumerate() {
            let values = &column[start..start + tile_rows];
            for (row, value) in values.iter().enumerate() {
                buffers.tile[row * dim + feature] = *value;
            }
        }
        // SAFETY: `tile` holds `tile_rows` x `dim` values row-major (strides dim, 1); the centers
        // are `count` x `dim` row-major, read as the `dim` x `count` matrix (strides 1, dim);
        // `dots` has room for `tile_rows` x `count` values row-major (strides count, 1). All
        // three are distinct allocations that outlive the call.
        unsafe {
            matrixmultiply::dgemm(
                tile_rows,
                dim,
                count,
                1.0,
                buffers.tile.as_ptr(),
                dim as isize,
                1,
                centers.values.as_ptr(),
                1,
                dim as isize,
                0.0,
                buffers.dots.as_mut_ptr(),
                count as isize,
                1,
            );
        }
        for row in 0..tile_rows {
            let dots = &buffers.dots[row * count..(row + 1) * count];
            let (mut best, mut best_partial) = (0, f64::INFINITY);
            for (center, (dot, center_norm)) in dots.iter().zip(&centers.norms).enumerate() {
                let partial = center_norm - 2.0 * dot;
                if partial < best_partial {
                    (best, best_partial) = (center, partial);
                }
            }
            // The exact distance to the chosen center: the expansion cancels badly for points far
            // from the origin, and costs must be exact to compare fits.
            let point = &buffers.tile[row * dim..(row + 1) * dim];
            nearest[start + row] = best as u32;
            distances[start + row] = squared_distance(point, centers.center(best));
        }
    }
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
