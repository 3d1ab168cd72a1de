//! Trees: binning of numeric features for histogram tree learners (gradient-boosted trees and
//! random forests in the style of LightGBM and XGBoost's `hist`).
//!
//! - [`binning`]: per-feature bin edges fitted from one distributed pass of mergeable quantile
//!   sketches, and the binned working set (one `u8` bin per feature and row, with the label and
//!   weight) that a learner builds once per fit and reuses for every tree.
//! - [`gbt`]: gradient-boosted trees (binary and multiclass classifier, regressor), second
//!   order, grown leaf by leaf on histograms with the subtraction trick.
//! - [`forest`]: random forests (binary classifier, regressor) on the same histograms and
//!   workers, with bootstrap rows per tree and random features per node.
//! - `ensemble`: what fitted ensembles share — prediction in queries, metrics, importances,
//!   saving.
//! - [`objective`]: what boosted trees minimize (gradients, hessians, losses), shared by the
//!   driver, the workers and fitted ensembles.
//! - `protocol`: the requests a fit's driver sends its partition workers and their replies;
//!   `learner` (the driver), `worker` and `remote` (their encoding) each depend on it alone.
//! - [`tasks`]: where a fit's rows live — one worker per partition, in the fitting process or
//!   in executor tasks that exchange histograms and splits with it over [`rpc`] (Arrow Flight,
//!   with the cluster's mutual TLS and a per-fit secret), as many as the cluster has free task
//!   slots ([`placement`]).
//! - [`tree`]: a fitted tree, applied to binned rows while training and to raw values after.

pub mod binning;
mod compact;
pub(crate) mod ensemble;
mod fit_thread;
pub mod forest;
pub mod gbt;
mod grow;
mod journal;
mod learner;
mod node_rows;
pub mod objective;
pub mod placement;
mod protocol;
mod remote;
pub mod rpc;
pub mod tasks;
pub mod tree;
mod worker;
