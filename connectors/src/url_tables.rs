//! Locations as table names in SQL — `SELECT * FROM 's3://bucket/events/'` — opened with
//! [`open_dataset`], so they get the same format detection, Hive partitions and errors that name
//! the object at fault as registered tables.
//!
//! DataFusion's `enable_url_table` does the same with its own factory, whose errors do not say
//! which file of a directory is corrupt or conflicts, and which cannot open a directory on an
//! object store given without a trailing `/`.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{DynamicFileCatalog, TableProvider, UrlTableFactory};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion_session::SessionStore;

use crate::dataset::open_dataset;
use crate::format::format_of_file_name;
use crate::local_dirs::was_set_aside;

/// `context` where a quoted location in a `FROM` clause names a dataset.
pub fn with_dataset_urls(context: SessionContext) -> SessionContext {
    let factory = Arc::new(DatasetUrlTables::default());
    let catalogs = Arc::new(DynamicFileCatalog::new(
        Arc::clone(context.state().catalog_list()),
        Arc::clone(&factory) as Arc<dyn UrlTableFactory>,
    ));
    let session_id = context.session_id();
    let context: SessionContext = context
        .into_state_builder()
        .with_session_id(session_id)
        .with_catalog_list(catalogs)
        .build()
        .into();
    factory.session.with_state(context.state_weak_ref());
    context
}

/// Opens table names that look like locations as datasets.
#[derive(Debug, Default)]
struct DatasetUrlTables {
    /// The session whose object stores and options the datasets are opened with.
    session: SessionStore,
}

#[async_trait]
impl UrlTableFactory for DatasetUrlTables {
    async fn try_new(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if !looks_like_location(name) {
            return Ok(None);
        }
        let state = self
            .session
            .get_session()
            .upgrade()
            .and_then(|session| {
                session
                    .read()
                    .as_any()
                    .downcast_ref::<SessionState>()
                    .cloned()
            })
            .ok_or_else(|| DataFusionError::Internal("the session has ended".into()))?;
        let table = open_dataset(&state, name, None)
            .await
            .map_err(|error| DataFusionError::External(Box::new(error)))?;
        Ok(Some(table))
    }
}

/// A URL, a path with a directory or a data-file extension, or an existing local path (or one
/// an interrupted overwrite set aside, which opening restores) — as opposed to the name of a
/// table that does not exist, which stays DataFusion's "not found".
fn looks_like_location(name: &str) -> bool {
    name.contains("://")
        || name.contains('/')
        || format_of_file_name(name).is_some()
        || Path::new(name).exists()
        || was_set_aside(Path::new(name))
}

#[cfg(test)]
mod tests {
    use super::looks_like_location;

    #[test]
    fn table_names_are_not_locations() {
        assert!(looks_like_location("s3://bucket/events"));
        assert!(looks_like_location("data/events"));
        assert!(looks_like_location("events.parquet"));
        assert!(!looks_like_location("events"));
        assert!(!looks_like_location("main.events"));
    }
}
