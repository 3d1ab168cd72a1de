//! How a scheduler sends its executors plans with Ember's own nodes in them: Ballista's codec of
//! physical plans, plus [`ContainedScanExec`] (so a corrupt file read by an executor fails its
//! task with an error naming the file, as in one process). Every other node is Ballista's to
//! encode and decode.

use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::optimizer::ContainedScanExec;

/// The encoding of a [`ContainedScanExec`], whose only part, its scan, travels as its input. A
/// NUL byte first: no protobuf message of Ballista's starts with one (field number 0).
const CONTAINED_SCAN: &[u8] = b"\0ember.ContainedScanExec";

/// Ballista's physical codec with Ember's nodes added; the scheduler and every executor use it.
#[derive(Debug, Default)]
pub struct EmberPhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for EmberPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if buf != CONTAINED_SCAN {
            return self.ballista.try_decode(buf, inputs, ctx, proto_converter);
        }
        match inputs {
            [scan] => Ok(Arc::new(ContainedScanExec::new(Arc::clone(scan)))),
            _ => Err(DataFusionError::Internal(format!(
                "a ContainedScanExec arrived with {} inputs instead of one",
                inputs.len()
            ))),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if node.downcast_ref::<ContainedScanExec>().is_some() {
            buf.extend_from_slice(CONTAINED_SCAN);
            return Ok(());
        }
        self.ballista.try_encode(node, buf, proto_converter)
    }
}
