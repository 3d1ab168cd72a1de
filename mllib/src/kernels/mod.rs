//! Kernels: plain functions over feature slices, shared by every path that computes (the
//! distributed aggregates on executors, local refinement in the driver, prediction UDFs). They
//! know nothing of DataFrames or plans, so a GPU version can replace one without touching the
//! estimators.
//!
//! - [`histogram`]: per-(feature, bin) sums of gradient, hessian and count over a node's binned
//!   rows, as one flat mergeable vector; the subtraction that gives a split's other child.
//! - [`linear`]: margins, logistic losses with gradients, least-squares Gram matrices.
//! - [`nearest`]: the nearest of a set of centers for each row, by blocked distance computation.
//! - [`quantile`]: a mergeable quantile sketch that reports a worst-case rank error bound.
//! - [`split`]: the best split of a node from its histogram, by second-order gain.

pub mod histogram;
pub mod linear;
pub mod nearest;
pub mod quantile;
pub mod split;
