//! The schema of Arrow IPC files on object stores, read from each file's footer.
//!
//! Why: DataFusion 55 infers an Arrow IPC file's schema from the start of a remote object's byte
//! stream and assumes 2 padding bytes after the `ARROW1` magic; the files arrow-rs 59 writes (its
//! own `COPY ... STORED AS ARROW` among them) have more, so inference fails ("Unable to read IPC
//! message schema") although scanning them works. The footer, at the end of every IPC file, holds
//! the same schema at a known place: two small range reads per file.

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::ipc::convert::fb_to_schema;
use datafusion::arrow::ipc::reader::read_footer_length;
use datafusion::arrow::ipc::root_as_footer;
use datafusion::error::{DataFusionError, Result};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

/// Bytes at the end of an IPC file: the footer length (4) and the magic `ARROW1` (6).
const TRAILER_LEN: u64 = 10;

/// The schema in the footer of the Arrow IPC file `file`.
pub async fn footer_schema(store: &dyn ObjectStore, file: &ObjectMeta) -> Result<Schema> {
    let not_ipc =
        |why: String| DataFusionError::Execution(format!("not an Arrow IPC file ({why})"));
    if file.size < TRAILER_LEN {
        return Err(not_ipc(format!("{} bytes", file.size)));
    }
    let trailer = store
        .get_range(&file.location, file.size - TRAILER_LEN..file.size)
        .await?;
    let trailer: [u8; TRAILER_LEN as usize] = trailer
        .as_ref()
        .try_into()
        .map_err(|_| not_ipc("short read".into()))?;
    let footer_len = read_footer_length(trailer)? as u64;
    let footer_start = (file.size - TRAILER_LEN)
        .checked_sub(footer_len)
        .ok_or_else(|| not_ipc(format!("footer of {footer_len} bytes")))?;
    let footer = store
        .get_range(&file.location, footer_start..file.size - TRAILER_LEN)
        .await?;
    let footer = root_as_footer(&footer).map_err(|e| not_ipc(e.to_string()))?;
    let schema = footer
        .schema()
        .ok_or_else(|| not_ipc("its footer has no schema".into()))?;
    Ok(fb_to_schema(schema))
}
