//! The functions every Ember process registers, so that plans using ML steps and models run
//! anywhere: plans name functions, and a scheduler or executor resolves the names against its
//! registry.

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

use crate::aggregate::PartialAggregateUdaf;
use crate::kmeans::steps::{LloydStep, PrioritySample};
use crate::kmeans::NearestCenter;
use crate::predict::ModelUdf;

/// The aggregate functions of distributed fitting steps.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(PartialAggregateUdaf::<LloydStep>::new().into()),
        Arc::new(PartialAggregateUdaf::<PrioritySample>::new().into()),
    ]
}

/// The scalar functions that apply fitted models.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ModelUdf::<NearestCenter>::new().into())]
}
