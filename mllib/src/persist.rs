//! Saving and loading fitted models, to local paths or object stores (any URL the session's
//! object-store registry resolves: `s3://`, `gs://`, `file://`, ...).
//!
//! A saved model is a directory:
//!
//! - `data.arrow`: the model's arrays (centers, coefficients...) as an Arrow IPC file with one row
//!   per array, columns `name` (Utf8) and `values` (List<Float64>), so every value round-trips
//!   bit for bit and a loaded model predicts exactly what the saved one did ([`arrays`]);
//! - `metadata.json`, written last (its presence marks a complete save), with the SHA-256 of
//!   `data.arrow`:
//!
//! ```json
//! {"format": "ember-model", "format_version": 1, "model_type": "kmeans",
//!  "ember_version": "0.1.0", "features": ["x", "y"], "params": {"k": 3, ...},
//!  "data_sha256": "9f86d0..."}
//! ```
//!
//! Loading checks the format, its version, the sizes of both files (at most
//! [`MAX_METADATA_BYTES`] and [`MAX_DATA_BYTES`]), the checksum (a model saved before checksums
//! has none, and loads unchecked) and the model type, naming the location on failure. The
//! checksum finds a file that changed or rotted since it was saved; it authenticates nothing,
//! since whoever can write the file can write its checksum. Every model type's loader checks the
//! counts and sizes it reads against the arrays it has, so a patched file is an error, never an
//! abort.

pub(crate) mod arrays;
mod local;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::context::SessionContext;
use ember_connectors::local_dirs::{failpoint, remove_tree};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{MlError, Result};
use crate::model::AnyModel;

/// The `format` field of every saved model.
pub const FORMAT: &str = "ember-model";
/// The current format version; loading accepts this version only.
pub const FORMAT_VERSION: u32 = 1;

const METADATA: &str = "metadata.json";
const DATA: &str = "data.arrow";

/// The largest `metadata.json` a load reads: a model's parameters and scalar results take
/// kilobytes (a string indexer's labels can take megabytes).
pub const MAX_METADATA_BYTES: u64 = 64 << 20;
/// The largest `data.arrow` a load reads: eight times the arrays of a forest of 1000 trees of
/// depth 10 (2047 nodes of 8 values each).
pub const MAX_DATA_BYTES: u64 = 1 << 30;

/// The contents of `metadata.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// What kind of model: `kmeans`, `logistic_regression`, ...
    pub model_type: String,
    /// The Ember version that saved it.
    pub ember_version: String,
    /// The feature columns the model reads, in order.
    pub features: Vec<String>,
    /// The model's parameters and scalar results, by name.
    pub params: Value,
    /// The SHA-256 of `data.arrow`, in lowercase hex; absent in models saved before Ember wrote
    /// it, which load unchecked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sha256: Option<String>,
}

/// A saved model read back: metadata and named arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedModel {
    /// Where it was read from.
    pub location: String,
    /// `metadata.json`.
    pub metadata: ModelMetadata,
    /// `data.arrow`, by array name.
    pub arrays: BTreeMap<String, Vec<f64>>,
}

impl SavedModel {
    /// The array `name`.
    pub fn array(&self, name: &str) -> Result<&[f64]> {
        self.arrays
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| self.corrupt(format!("it has no array '{name}'")))
    }

    /// The array `name`, which must hold `len` values (one per feature, say).
    pub fn array_of_len(&self, name: &str, len: usize) -> Result<Vec<f64>> {
        let array = self.array(name)?;
        if array.len() == len {
            Ok(array.to_vec())
        } else {
            Err(self.corrupt(format!(
                "array '{name}' has {} values, {len} expected",
                array.len()
            )))
        }
    }

    /// The parameter `name`, deserialized.
    pub fn param<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let value = self
            .metadata
            .params
            .get(name)
            .ok_or_else(|| self.corrupt(format!("its metadata has no parameter '{name}'")))?;
        serde_json::from_value(value.clone())
            .map_err(|error| self.corrupt(format!("parameter '{name}': {error}")))
    }

    /// An error saying what is wrong with this saved model.
    pub fn corrupt(&self, reason: String) -> MlError {
        MlError::Persist {
            location: self.location.clone(),
            reason,
        }
    }
}

/// What a model saves: the metadata's `features` and `params`, and the named arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelParts {
    /// The feature columns, in order.
    pub features: Vec<String>,
    /// Parameters and scalar results, a JSON object.
    pub params: Value,
    /// Arrays by name, for `data.arrow`.
    pub arrays: Vec<(&'static str, Vec<f64>)>,
}

/// A model that can be saved and loaded.
pub trait PersistentModel: Sized {
    /// The `model_type` in its metadata.
    const MODEL_TYPE: &'static str;

    /// This model's `model_type` when saved: [`PersistentModel::MODEL_TYPE`] unless one Rust
    /// type saves as several model types (a classifier and a regressor, say).
    fn saved_type(&self) -> &'static str {
        Self::MODEL_TYPE
    }

    /// Whether a saved `model_type` is one this type loads.
    fn loads(model_type: &str) -> bool {
        model_type == Self::MODEL_TYPE
    }

    /// What to save.
    fn to_saved(&self) -> ModelParts;

    /// The model from what [`PersistentModel::to_saved`] produced.
    fn from_saved(saved: &SavedModel) -> Result<Self>;
}

/// The failpoint ([`failpoint`]) of a save whose new model is written whole beside its place
/// and not yet published.
const MODEL_WRITTEN: &str = "model.save.written";

/// Writes `model` to the directory `location`, its stages (if any) to `stage-0`, `stage-1`, ...
/// inside it. Fails when a model is already there unless `overwrite`, which replaces it.
///
/// The model is written whole beside its place first, so a save that fails or is killed leaves
/// the old model untouched. On a local file system it is then published by one rename
/// ([`local::publish`]). An object store cannot rename a directory: the new files are copied into
/// place server-side, `metadata.json` files last ([`publish_in_store`]); a reader during the
/// copies that meets the old `metadata.json` with a new `data.arrow` fails on its checksum.
pub async fn save_model(
    context: &SessionContext,
    model: &dyn AnyModel,
    location: &str,
    overwrite: bool,
) -> Result<()> {
    let error = |reason: String| MlError::Persist {
        location: location.to_string(),
        reason,
    };
    if !overwrite && model_exists(context, location).await? {
        return Err(error("a model is already saved there".to_string()));
    }
    let Some(target) = local::local_directory(location) else {
        let staging = hidden_sibling(location).ok_or_else(|| error("no directory name".into()))?;
        let published = match write_model(context, model, &staging).await {
            Ok(()) => {
                failpoint(MODEL_WRITTEN);
                publish_in_store(context, &staging, location).await
            }
            Err(failed) => Err(failed),
        };
        if published.is_err() {
            let _ = delete_model(context, &staging).await;
        }
        return published;
    };
    let staging = local::staging_beside(&target).map_err(|e| error(e.to_string()))?;
    let written = write_model(context, model, &staging.display().to_string()).await;
    let published = written.and_then(|()| {
        failpoint(MODEL_WRITTEN);
        local::publish(&staging, &target).map_err(error)
    });
    if published.is_err() {
        let _ = remove_tree(&staging);
    }
    published
}

/// The hidden location beside `location` a new model is written to first
/// (`.NAME.saving-ID`), `None` when `location` has no directory name.
fn hidden_sibling(location: &str) -> Option<String> {
    let (parent, name) = location.trim_end_matches('/').rsplit_once('/')?;
    (!name.is_empty()).then(|| {
        format!(
            "{parent}/.{name}.saving-{}",
            ember_connectors::local_dirs::unique_id()
        )
    })
}

/// Moves the model written at `staging` to `location` in one object store: every file copied
/// into place, `metadata.json` files last and the top one very last (until then the old one, if
/// any, stays the model's), then the old model's files the new one did not replace, and the
/// staged ones, deleted.
async fn publish_in_store(context: &SessionContext, staging: &str, location: &str) -> Result<()> {
    let (store, target) = resolve(context, location, false)?;
    let (_, staged_dir) = resolve(context, staging, false)?;
    let error = |e: object_store::Error| MlError::Persist {
        location: location.to_string(),
        reason: e.to_string(),
    };
    let list = |dir: &Path| {
        store
            .list(Some(dir))
            .map_ok(|meta| meta.location)
            .try_collect::<Vec<Path>>()
    };
    let old = list(&target).await.map_err(error)?;
    let mut staged = list(&staged_dir).await.map_err(error)?;
    // Data before metadata, deeper metadata (stages) before the model's own.
    staged.sort_by_key(|path| {
        let parts = path.parts().count();
        (path.filename() == Some(METADATA), std::cmp::Reverse(parts))
    });
    let mut written = std::collections::HashSet::new();
    for from in &staged {
        let relative = from.prefix_match(&staged_dir).into_iter().flatten();
        let to = relative.fold(target.clone(), |path, part| path.join(part));
        store.copy(from, &to).await.map_err(error)?;
        written.insert(to);
    }
    for path in old
        .iter()
        .filter(|path| !written.contains(*path))
        .chain(&staged)
    {
        store.delete(path).await.map_err(error)?;
    }
    Ok(())
}

/// Writes `model` and its stages into the directory `location`, whatever is there.
async fn write_model(context: &SessionContext, model: &dyn AnyModel, location: &str) -> Result<()> {
    let (store, dir) = resolve(context, location, true)?;
    let error = |reason: String| MlError::Persist {
        location: location.to_string(),
        reason,
    };
    let metadata_path = dir.clone().join(METADATA);
    for (index, stage) in model.stages().into_iter().enumerate() {
        let stage_location = stage_location(location, index);
        Box::pin(write_model(context, stage, &stage_location)).await?;
    }
    let ModelParts {
        features,
        params,
        arrays,
    } = model.parts();
    let data = arrays::encode(&arrays).map_err(|e| error(e.to_string()))?;
    let data_sha256 = Some(sha256_hex(&data));
    store
        .put(&dir.clone().join(DATA), PutPayload::from(data))
        .await
        .map_err(|e| error(e.to_string()))?;
    let metadata = ModelMetadata {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        model_type: model.model_type().to_string(),
        ember_version: env!("CARGO_PKG_VERSION").to_string(),
        features,
        params,
        data_sha256,
    };
    let json = serde_json::to_vec_pretty(&metadata).map_err(|e| error(e.to_string()))?;
    store
        .put(&metadata_path, PutPayload::from(json))
        .await
        .map_err(|e| error(e.to_string()))?;
    Ok(())
}

/// Where the stage `index` of the model saved at `location` is saved.
pub(crate) fn stage_location(location: &str, index: usize) -> String {
    format!("{}/stage-{index}", location.trim_end_matches('/'))
}

/// The `metadata.json` of the model saved at `location`, once its format and version are checked.
pub async fn read_metadata(context: &SessionContext, location: &str) -> Result<ModelMetadata> {
    let (store, dir) = resolve(context, location, false)?;
    let error = |reason: String| MlError::Persist {
        location: location.to_string(),
        reason,
    };
    local::restore_interrupted(location).map_err(|e| error(e.to_string()))?;
    let metadata = read_object(&store, &dir.clone().join(METADATA), MAX_METADATA_BYTES)
        .await
        .map_err(|e| error(format!("cannot read {METADATA}: {e}")))?;
    let metadata: ModelMetadata = serde_json::from_slice(&metadata)
        .map_err(|e| error(format!("{METADATA} is not ember model metadata: {e}")))?;
    if metadata.format != FORMAT || metadata.format_version != FORMAT_VERSION {
        return Err(error(format!(
            "format {} version {}; this Ember reads {FORMAT} version {FORMAT_VERSION}",
            metadata.format, metadata.format_version
        )));
    }
    Ok(metadata)
}

/// Reads the saved model at `location`, whatever its type.
pub async fn read_saved(context: &SessionContext, location: &str) -> Result<SavedModel> {
    let metadata = read_metadata(context, location).await?;
    let (store, dir) = resolve(context, location, false)?;
    let error = |reason: String| MlError::Persist {
        location: location.to_string(),
        reason,
    };
    let data = read_object(&store, &dir.clone().join(DATA), MAX_DATA_BYTES)
        .await
        .map_err(|e| error(format!("cannot read {DATA}: {e}")))?;
    if let Some(expected) = &metadata.data_sha256 {
        if sha256_hex(&data) != *expected {
            return Err(error(format!(
                "{DATA} does not match the checksum in {METADATA}: it changed or is corrupt"
            )));
        }
    }
    let arrays = arrays::decode(data).map_err(|e| error(format!("corrupt {DATA}: {e}")))?;
    Ok(SavedModel {
        location: location.to_string(),
        metadata,
        arrays,
    })
}

/// Reads the saved model at `location` as an `M`, failing when it is another type.
pub async fn load_model<M: PersistentModel>(context: &SessionContext, location: &str) -> Result<M> {
    let saved = read_saved(context, location).await?;
    if !M::loads(&saved.metadata.model_type) {
        return Err(saved.corrupt(format!(
            "it is a {} model, not {}",
            saved.metadata.model_type,
            M::MODEL_TYPE
        )));
    }
    M::from_saved(&saved)
}

/// Whether a complete model (its `metadata.json`) is saved at `location`.
pub async fn model_exists(context: &SessionContext, location: &str) -> Result<bool> {
    let (store, dir) = resolve(context, location, false)?;
    local::restore_interrupted(location).map_err(|e| MlError::Persist {
        location: location.to_string(),
        reason: e.to_string(),
    })?;
    match store.head(&dir.clone().join(METADATA)).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(error) => Err(MlError::Persist {
            location: location.to_string(),
            reason: error.to_string(),
        }),
    }
}

/// The names of the models saved directly under the directory `location`, sorted (an absent
/// directory has none).
pub async fn list_models(context: &SessionContext, location: &str) -> Result<Vec<String>> {
    let (store, dir) = resolve(context, location, false)?;
    let listing = match store.list_with_delimiter(Some(&dir)).await {
        Ok(listing) => listing,
        Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(error) => {
            return Err(MlError::Persist {
                location: location.to_string(),
                reason: error.to_string(),
            })
        }
    };
    let mut names = Vec::new();
    for prefix in listing.common_prefixes {
        // Hidden directories are saves in progress (or left by a crash), never models.
        let Some(name) = prefix.filename().filter(|name| !name.starts_with('.')) else {
            continue;
        };
        if store.head(&prefix.clone().join(METADATA)).await.is_ok() {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Removes the saved model at `location`: every file under its directory (stages included). A
/// local directory is removed without following links ([`local::remove`]).
pub async fn delete_model(context: &SessionContext, location: &str) -> Result<()> {
    if let Some(directory) = local::local_directory(location) {
        return remove_tree(&directory).map_err(|e| MlError::Persist {
            location: location.to_string(),
            reason: e.to_string(),
        });
    }
    let (store, dir) = resolve(context, location, false)?;
    let error = |e: object_store::Error| MlError::Persist {
        location: location.to_string(),
        reason: e.to_string(),
    };
    let files: Vec<Path> = store
        .list(Some(&dir))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .map_err(error)?;
    for file in files {
        store.delete(&file).await.map_err(error)?;
    }
    Ok(())
}

/// The object store and directory of `location`; a local directory is created when `create`
/// (object stores have no directories to create).
fn resolve(
    context: &SessionContext,
    location: &str,
    create: bool,
) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let error = |reason: String| MlError::Persist {
        location: location.to_string(),
        reason,
    };
    if let Some(local) = local::local_directory(location).filter(|_| create) {
        std::fs::create_dir_all(local).map_err(|e| error(e.to_string()))?;
    }
    let directory = if location.ends_with('/') {
        location.to_string()
    } else {
        format!("{location}/")
    };
    let url = ListingTableUrl::parse(&directory).map_err(|e| error(e.to_string()))?;
    let store = context
        .runtime_env()
        .object_store(url.object_store())
        .map_err(|e| error(e.to_string()))?;
    Ok((store, url.prefix().clone()))
}

/// The bytes of the object at `path`, when it holds at most `limit` (its size is read first).
async fn read_object(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    limit: u64,
) -> std::result::Result<Vec<u8>, String> {
    let object = store.get(path).await.map_err(|e| e.to_string())?;
    let size = object.meta.size;
    if size > limit {
        return Err(format!(
            "it holds {size} bytes, more than the {limit} a saved model's file may"
        ));
    }
    let bytes = object.bytes().await.map_err(|e| e.to_string())?;
    Ok(bytes.to_vec())
}

/// The SHA-256 of `bytes` in lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimator::Estimator;
    use crate::test_frames::rows_frame;
    use crate::StandardScalerModel;
    use crate::{KMeans, KMeansModel, LinearRegression, LinearRegressionModel, StandardScaler};

    #[tokio::test]
    async fn models_round_trip_and_mismatches_are_named() {
        let rows: Vec<Vec<Option<f64>>> = (0..50)
            .map(|i| {
                vec![
                    Some(i as f64),
                    Some((i % 7) as f64),
                    Some(2.0 * i as f64 + 1.0),
                ]
            })
            .collect();
        let data = rows_frame(&["a", "b", "y"], &rows, 2);
        let context = SessionContext::new();
        let dir = std::env::temp_dir().join(format!("ember-persist-{}", std::process::id()));
        let location = |name: &str| dir.join(name).display().to_string();

        let k_means = KMeans::new(["a", "b"]).k(3).fit(&data).await.unwrap();
        save_model(&context, &k_means, &location("k"), false)
            .await
            .unwrap();
        let loaded: KMeansModel = load_model(&context, &location("k")).await.unwrap();
        assert_eq!(loaded, k_means);

        let linear = LinearRegression::new(["a", "b"])
            .label("y")
            .fit(&data)
            .await
            .unwrap();
        save_model(&context, &linear, &location("l"), false)
            .await
            .unwrap();
        let loaded: LinearRegressionModel = load_model(&context, &location("l")).await.unwrap();
        assert_eq!(loaded, linear);

        let scaler = StandardScaler::new(["a"]).fit(&data).await.unwrap();
        save_model(&context, &scaler, &location("s"), false)
            .await
            .unwrap();
        let loaded: StandardScalerModel = load_model(&context, &location("s")).await.unwrap();
        assert_eq!(loaded, scaler);

        let again = save_model(&context, &k_means, &location("k"), false)
            .await
            .unwrap_err();
        assert_eq!(
            again.to_string(),
            format!("model at {}: a model is already saved there", location("k"))
        );
        save_model(&context, &k_means, &location("k"), true)
            .await
            .unwrap();
        let wrong = load_model::<LinearRegressionModel>(&context, &location("k"))
            .await
            .unwrap_err();
        assert_eq!(
            wrong.to_string(),
            format!(
                "model at {}: it is a kmeans model, not linear_regression",
                location("k")
            )
        );
        let missing = read_saved(&context, &location("none")).await.unwrap_err();
        assert!(
            missing.to_string().starts_with(&format!(
                "model at {}: cannot read metadata.json",
                location("none")
            )),
            "{missing}"
        );
        delete_model(&context, &location("k")).await.unwrap();
        assert!(read_saved(&context, &location("k")).await.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A small scaler, fitted and saved at `location`.
    async fn saved_scaler(context: &SessionContext, location: &str) -> StandardScalerModel {
        let rows: Vec<Vec<Option<f64>>> = (0..20).map(|i| vec![Some(f64::from(i))]).collect();
        let scaler = StandardScaler::new(["a"])
            .fit(&rows_frame(&["a"], &rows, 2))
            .await
            .unwrap();
        save_model(context, &scaler, location, false).await.unwrap();
        scaler
    }

    /// A saved model whose `data.arrow` changed after the save, or whose files are larger than
    /// a saved model's may be, is refused with an error naming the location and the file, before
    /// an oversized file is read.
    #[tokio::test]
    async fn a_changed_or_oversized_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let context = SessionContext::new();
        let model = dir.path().join("model");
        let location = model.display().to_string();
        saved_scaler(&context, &location).await;
        let refusal = || async {
            read_saved(&context, &location)
                .await
                .unwrap_err()
                .to_string()
        };

        let data = model.join(DATA);
        let mut bytes = std::fs::read(&data).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&data, &bytes).unwrap();
        assert_eq!(
            refusal().await,
            format!(
                "model at {location}: data.arrow does not match the checksum in metadata.json: \
                 it changed or is corrupt"
            )
        );
        // Sparse files: their size is what is checked, before anything is read.
        for (file, limit) in [(DATA, MAX_DATA_BYTES), (METADATA, MAX_METADATA_BYTES)] {
            let path = model.join(file);
            let original = std::fs::read(&path).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(limit + 1)
                .unwrap();
            assert_eq!(
                refusal().await,
                format!(
                    "model at {location}: cannot read {file}: it holds {} bytes, more than the \
                     {limit} a saved model's file may",
                    limit + 1
                )
            );
            std::fs::write(&path, original).unwrap();
        }
    }

    /// A replacement killed after the old model moved aside, on a file system without an
    /// atomic exchange, leaves no model in place: the next read brings the old one back.
    #[tokio::test]
    async fn a_model_set_aside_by_an_interrupted_replacement_is_restored_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let context = SessionContext::new();
        let model = dir.path().join("model");
        let location = model.display().to_string();
        let scaler = saved_scaler(&context, &location).await;
        std::fs::rename(&model, dir.path().join(".model.replaced-1")).unwrap();
        assert!(model_exists(&context, &location).await.unwrap());
        let loaded: StandardScalerModel = load_model(&context, &location).await.unwrap();
        assert_eq!(loaded, scaler);
    }

    /// `DROP MODEL` on a model directory holding a link to a directory elsewhere removed the
    /// files the link points to.
    #[cfg(unix)]
    #[tokio::test]
    async fn deleting_a_model_removes_links_not_what_they_point_to() {
        let dir = std::env::temp_dir().join(format!("ember-persist-links-{}", std::process::id()));
        let outside = dir.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), "keep").unwrap();
        let context = SessionContext::new();
        let model = dir.join("model");
        let location = model.display().to_string();
        let scaler = saved_scaler(&context, &location).await;
        // Replacing the model, then dropping it, each with a link in its directory.
        std::os::unix::fs::symlink(&outside, model.join("link")).unwrap();
        save_model(&context, &scaler, &location, true)
            .await
            .unwrap();
        assert!(
            outside.join("keep.txt").is_file(),
            "the replace followed the link"
        );
        std::os::unix::fs::symlink(&outside, model.join("link")).unwrap();
        delete_model(&context, &location).await.unwrap();
        assert!(
            outside.join("keep.txt").is_file(),
            "the drop followed the link"
        );
        assert!(!model.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
