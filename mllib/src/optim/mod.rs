//! Optimizers that drive distributed fits: each evaluation of the objective is one aggregate
//! query, so they are async and count evaluations, the expensive part.
//!
//! - [`lbfgs`]: limited-memory BFGS with a strong-Wolfe line search.

pub mod lbfgs;
