//! The functions a Ballista executor can resolve in the plans it receives.

use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::AggregateUDF;
use ember_core::state::{with_ember_features, with_plan_functions};
use ember_core::{Placement, Tls};
use ember_mllib::trees::tasks::{TreesWorkerUdaf, WORKER_NAME};

/// Every scalar, aggregate, window and higher-order function an Ember session plans with, keyed by
/// name, as Ballista's executors look them up. Plans carry functions by name only, so an executor
/// without this registry fails any task that uses a Spark-compatible (or later, ML) function.
/// With the executor's `tls`, tree fits' training tasks reach their fitting process over it;
/// with its memory `pool`, they reserve their fit state from it.
pub fn ember_function_registry(
    tls: Option<&Tls>,
    pool: Option<Arc<dyn MemoryPool>>,
) -> BallistaFunctionRegistry {
    let state = with_plan_functions(with_ember_features(
        SessionStateBuilder::new(),
        Placement::Cluster,
    ))
    .build();
    let mut aggregate_functions = state.aggregate_functions().clone();
    let worker = TreesWorkerUdaf::on_executor(tls.map(Tls::client_config), pool);
    aggregate_functions.insert(
        WORKER_NAME.to_string(),
        Arc::new(AggregateUDF::from(worker)),
    );
    BallistaFunctionRegistry {
        scalar_functions: state.scalar_functions().clone(),
        aggregate_functions,
        window_functions: state.window_functions().clone(),
        higher_order_functions: state.higher_order_functions().clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_datafusion_spark_and_plan_functions() {
        let registry = ember_function_registry(None, None);
        for name in ["abs", "sha2", "expm1", "ember_decimal_multiply"] {
            assert!(registry.scalar_functions.contains_key(name), "{name}");
        }
        assert!(registry.aggregate_functions.contains_key("sum"));
        assert!(registry.aggregate_functions.contains_key("ml_kmeans_step"));
        assert!(registry.scalar_functions.contains_key("ml_kmeans_predict"));
        assert!(registry.window_functions.contains_key("row_number"));
    }
}
