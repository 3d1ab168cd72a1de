//! Kernels: plain functions over feature slices, shared by every path that computes (the
//! distributed aggregates on executors, local refinement in the driver, prediction UDFs). They
//! know nothing of DataFrames or plans, so a GPU version can replace one without touching the
//! estimators.
//!
//! - [`linear`]: margins, logistic losses with gradients, least-squares Gram matrices.
//! - [`nearest`]: the nearest of a set of centers for each row, by blocked distance computation.
//! - [`quantile`]: a mergeable quantile sketch that reports a worst-case rank error bound.

pub mod linear;
pub mod nearest;
pub mod quantile;
