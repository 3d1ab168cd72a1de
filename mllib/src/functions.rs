//! The functions every Ember process registers, so that plans using ML steps and models run
//! anywhere: plans name functions, and a scheduler or executor resolves the names against its
//! registry.

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

use crate::aggregate::PartialAggregateUdaf;
use crate::evaluation::{BinaryMetricsStep, ConfusionStep, RegressionMetricsStep};
use crate::kmeans::silhouette::{ClusterStatsStep, SilhouetteStep};
use crate::kmeans::steps::{LloydStep, PrioritySample};
use crate::kmeans::NearestCenter;
use crate::linear::steps::{GramStep, LogisticLossStep};
use crate::linear::{LinearPrediction, LogisticPrediction, LogisticProbability};
use crate::predict::ModelUdf;
use crate::preprocessing::bucketizer::Buckets;
use crate::preprocessing::one_hot_encoder::Category;
use crate::preprocessing::string_indexer::StringIndexUdf;
use crate::quantiles::QuantileSketchStep;
use crate::trees::ensemble::TreesOutput;
use crate::trees::tasks::TreesWorkerUdaf;
use crate::tuning::RowUnitUdf;

/// The aggregate functions of distributed fitting steps, and the tasks of tree fits.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(PartialAggregateUdaf::<LloydStep>::new().into()),
        Arc::new(PartialAggregateUdaf::<PrioritySample>::new().into()),
        Arc::new(PartialAggregateUdaf::<LogisticLossStep>::new().into()),
        Arc::new(PartialAggregateUdaf::<GramStep>::new().into()),
        Arc::new(PartialAggregateUdaf::<ClusterStatsStep>::new().into()),
        Arc::new(PartialAggregateUdaf::<SilhouetteStep>::new().into()),
        Arc::new(PartialAggregateUdaf::<RegressionMetricsStep>::new().into()),
        Arc::new(PartialAggregateUdaf::<BinaryMetricsStep>::new().into()),
        Arc::new(PartialAggregateUdaf::<ConfusionStep>::new().into()),
        Arc::new(PartialAggregateUdaf::<QuantileSketchStep>::new().into()),
        Arc::new(TreesWorkerUdaf::new().into()),
    ]
}

/// The scalar functions that apply fitted models, and the per-row random value of splits.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ModelUdf::<NearestCenter>::new().into()),
        Arc::new(ModelUdf::<LogisticPrediction>::new().into()),
        Arc::new(ModelUdf::<LogisticProbability>::new().into()),
        Arc::new(ModelUdf::<LinearPrediction>::new().into()),
        Arc::new(ModelUdf::<Buckets>::new().into()),
        Arc::new(ModelUdf::<TreesOutput>::new().into()),
        Arc::new(ModelUdf::<Category>::new().into()),
        Arc::new(StringIndexUdf::new().into()),
        Arc::new(RowUnitUdf::new().into()),
    ]
}
