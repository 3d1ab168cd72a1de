//! Atomic dataset writes: a write lands under a hidden staging location beside its target and
//! becomes visible only when [`StagedWrite::commit`] moves it into place, so a failed or killed
//! job leaves the previous dataset readable and unchanged.
//!
//! - Local files: the staging directory is renamed onto the target (one atomic rename for a new
//!   dataset; for `overwrite`, staging and target are exchanged in one step where the file
//!   system can and the old data removed after, see [`crate::local_dirs::replace`]; a replace
//!   interrupted where it cannot is undone before the next write or read). The `_SUCCESS` marker is
//!   written into the staging directory, so it appears with the data. An `append` writes a
//!   journal into its target (`_ember_append.` followed by the staging directory's name: the
//!   commit point), moves its files in one by one, then removes the journal; whoever next
//!   writes or opens the dataset ([`finish_appends`]) first finishes an append it finds a
//!   journal of, so one killed while it moves its files is completed, never left half visible
//!   to Ember (other readers, such as Spark, see the files moved so far until then).
//! - `overwrite` deletes everything under its target, so it refuses a directory holding anything
//!   but a dataset's files, naming the first other entry.
//! - Object stores, which cannot rename a prefix: every staged object is copied to its final key
//!   (server-side), then `_SUCCESS` is written, then (for `overwrite`) the previous objects are
//!   deleted. A job killed while it writes leaves nothing under the target; the commit itself is
//!   short but not atomic: a reader listing the target during it can see part of the new objects
//!   (and, for `overwrite`, the old ones), as with Spark's committers on S3.
//!
//! Staging locations are named `.NAME.ember-staging-ID` next to the target; a killed job leaves
//! one behind (hidden by its leading dot from Spark and Hive; Ember never reads it).

use std::fmt;
use std::path::{Path as LocalPath, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::dataset::ConnectorError;
use crate::format::format_of_file_name;
use crate::local_dirs::{
    failpoint, ignore_missing, remove_tree, replace, restore_replaced, unique_id,
};

/// What a write does when its target already holds data (Spark's save modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Fail, leaving the target unchanged (the default, as in Spark).
    #[default]
    ErrorIfExists,
    /// Replace the target's data.
    Overwrite,
    /// Add files beside the target's data (directory targets only).
    Append,
}

impl FromStr for WriteMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" | "errorifexists" => Ok(Self::ErrorIfExists),
            "overwrite" => Ok(Self::Overwrite),
            "append" => Ok(Self::Append),
            other => Err(format!(
                "unknown write mode '{other}' (expected error, overwrite or append)"
            )),
        }
    }
}

impl fmt::Display for WriteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ErrorIfExists => "error",
            Self::Overwrite => "overwrite",
            Self::Append => "append",
        })
    }
}

/// The marker a committed directory dataset holds (Spark's convention).
pub const SUCCESS_MARKER: &str = "_SUCCESS";

/// How an append's journal is named inside its target: this, then the name of the staging
/// directory its files come from (a sibling of the target). Hidden from readers by its `_`.
const APPEND_JOURNAL_PREFIX: &str = "_ember_append.";

/// Finishes every append whose journal the local directory `target` holds (see the module
/// documentation): moves the rest of its staged files in and removes its staging directory and
/// journal. Nothing to do for a target that is not a directory. Safe to run while another
/// process finishes the same append.
pub fn finish_appends(target: &LocalPath) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(target) {
        Ok(entries) => entries,
        Err(error) if target.is_file() || error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(())
        }
        Err(error) => return Err(error),
    };
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return Ok(());
    };
    let own_staging = format!(".{}.ember-staging-", name.to_string_lossy());
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        // Only a staging directory of this target: the journal names nothing else.
        let Some(staging) = file_name
            .strip_prefix(APPEND_JOURNAL_PREFIX)
            .filter(|staging| staging.starts_with(&own_staging))
        else {
            continue;
        };
        finish_append(target, &parent.join(staging), &entry.path())?;
    }
    Ok(())
}

/// Moves what is left under `staging` into `target`, then removes `staging` and `journal`;
/// what another process already moved or removed is skipped.
fn finish_append(
    target: &LocalPath,
    staging: &LocalPath,
    journal: &LocalPath,
) -> std::io::Result<()> {
    move_tree(staging, target)?;
    remove_tree(staging)?;
    ignore_missing(std::fs::remove_file(journal))
}

/// A write in progress: where to write ([`StagedWrite::staging_url`]) and how to publish it.
#[derive(Debug)]
pub struct StagedWrite {
    /// The target as the user gave it (for messages).
    target: String,
    mode: WriteMode,
    single_file: bool,
    store: Arc<dyn ObjectStore>,
    /// The target's key (a directory's prefix, without trailing `/`).
    target_path: Path,
    /// The staging directory's key.
    staging_path: Path,
    /// The staging location as a URL, in the shape DataFusion writes for the target.
    staging_url: String,
    /// Target and staging directory on the local filesystem, for file targets.
    local: Option<(PathBuf, PathBuf)>,
}

impl StagedWrite {
    /// Prepares a write of `target` (a file when `single_file`, else a directory) in `mode`,
    /// failing now — before any work — when `mode` is [`WriteMode::ErrorIfExists`] and the target
    /// holds data, or when appending to a single file.
    pub async fn begin(
        state: &SessionState,
        target: &str,
        mode: WriteMode,
        single_file: bool,
    ) -> Result<Self, ConnectorError> {
        let failed = |cause: DataFusionError| ConnectorError::Write {
            target: target.to_string(),
            cause: cause.to_string(),
        };
        if single_file && mode == WriteMode::Append {
            return Err(failed(DataFusionError::Plan(
                "mode 'append' needs a directory target (end it with '/' or drop its extension)"
                    .into(),
            )));
        }
        let url = ListingTableUrl::parse(target).map_err(failed)?;
        let store = state.runtime_env().object_store(&url).map_err(failed)?;
        let trimmed = url.as_str().trim_end_matches('/');
        let (parent, name) = trimmed.rsplit_once('/').ok_or_else(|| {
            failed(DataFusionError::Plan(
                "the target has no parent directory".into(),
            ))
        })?;
        let staging_dir = format!("{parent}/.{name}.ember-staging-{}", unique_id());
        let staging_url = if single_file {
            format!("{staging_dir}/{name}")
        } else {
            format!("{staging_dir}/")
        };
        let staging_path = ListingTableUrl::parse(&staging_dir)
            .map_err(failed)?
            .prefix()
            .clone();
        let local = match url.as_str().starts_with("file://") {
            true => Some((
                local_path(trimmed).map_err(failed)?,
                local_path(&staging_dir).map_err(failed)?,
            )),
            false => None,
        };
        if let Some((target, _)) = &local {
            restore_replaced(target).map_err(|cause| failed(cause.into()))?;
            finish_appends(target).map_err(|cause| failed(cause.into()))?;
        }
        let write = Self {
            target: target.to_string(),
            mode,
            single_file,
            store,
            target_path: url.prefix().clone(),
            staging_path,
            staging_url,
            local,
        };
        if mode == WriteMode::ErrorIfExists && write.target_has_data().await.map_err(failed)? {
            return Err(ConnectorError::Write {
                target: target.to_string(),
                cause: "it already exists; add OPTIONS (mode 'overwrite') to replace it or \
                        (mode 'append') to add to it"
                    .into(),
            });
        }
        if mode == WriteMode::Overwrite && !single_file {
            if let Some(entry) = write.first_foreign_entry().await.map_err(failed)? {
                return Err(ConnectorError::Write {
                    target: target.to_string(),
                    cause: format!(
                        "mode 'overwrite' replaces a dataset, and it holds '{entry}', which is \
                         no dataset's file; remove it or write elsewhere"
                    ),
                });
            }
        }
        Ok(write)
    }

    /// Where the job writes: a hidden sibling of the target, in the same store.
    pub fn staging_url(&self) -> &str {
        &self.staging_url
    }

    /// Publishes the staged data at the target (see the module documentation).
    pub async fn commit(self) -> Result<(), ConnectorError> {
        failpoint("commit.begin");
        let result = match &self.local {
            Some((target, staging)) => self.commit_local(target, staging).map_err(Into::into),
            None => self.commit_objects().await,
        };
        result.map_err(|cause| ConnectorError::Write {
            target: self.target.clone(),
            cause: format!("commit failed: {cause}"),
        })
    }

    /// Removes what the job staged, after it failed (best effort: the error that ended the
    /// job matters more than one from cleaning up).
    pub async fn abort(self) {
        match &self.local {
            Some((_, staging)) => {
                let _ = std::fs::remove_dir_all(staging);
            }
            None => {
                if let Ok(staged) = self.listing(&self.staging_path).await {
                    let _ = self.delete_all(staged).await;
                }
            }
        }
    }

    /// The first entry under a directory target (its path relative to the target) that no
    /// dataset holds: one that is not a data file, a `_SUCCESS` marker, a hidden (`.` or `_`)
    /// file or directory, or inside `key=value` partition directories. Overwrite deletes
    /// everything under its target, so it refuses a directory with anything else.
    async fn first_foreign_entry(&self) -> Result<Option<String>, DataFusionError> {
        let relative: Vec<String> = match &self.local {
            Some((target, _)) if target.is_dir() => local_files(target, target)?,
            Some(_) => Vec::new(),
            None => (self.listing(&self.target_path).await?.iter())
                .filter_map(|key| key.prefix_match(&self.target_path))
                .map(|parts| {
                    parts
                        .map(|part| part.as_ref().to_string())
                        .collect::<Vec<_>>()
                })
                .map(|parts| parts.join("/"))
                .collect(),
        };
        Ok(relative
            .into_iter()
            .find(|path| !belongs_to_a_dataset(path)))
    }

    async fn target_has_data(&self) -> Result<bool, DataFusionError> {
        if let Some((target, _)) = &self.local {
            return Ok(match std::fs::read_dir(target) {
                Ok(mut entries) => entries.next().is_some(),
                Err(_) => target.is_file(),
            });
        }
        if self.single_file {
            return match self.store.head(&self.target_path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(error) => Err(error.into()),
            };
        }
        let mut objects = self.store.list(Some(&self.target_path));
        Ok(objects.try_next().await?.is_some())
    }

    fn commit_local(&self, target: &LocalPath, staging: &LocalPath) -> std::io::Result<()> {
        if self.single_file {
            let staged = staging.join(target.file_name().unwrap_or_default());
            std::fs::rename(staged, target)?;
            return std::fs::remove_dir_all(staging);
        }
        // A job that wrote no rows may have created no directory.
        std::fs::create_dir_all(staging)?;
        std::fs::write(staging.join(SUCCESS_MARKER), b"")?;
        let target_exists = target.exists();
        match self.mode {
            WriteMode::Append if target_exists => {
                let staging_name = staging.file_name().unwrap_or_default().to_string_lossy();
                let journal = target.join(format!("{APPEND_JOURNAL_PREFIX}{staging_name}"));
                // The commit point: from here on the append is finished, by this process or,
                // if it dies, by the next one to write or open the dataset.
                std::fs::write(&journal, b"")?;
                finish_append(target, staging, &journal)
            }
            WriteMode::Overwrite if target_exists => {
                // The new dataset in place of the old one (a directory, or a file the directory
                // replaces) in one step where the file system can.
                replace(staging, target)
            }
            _ => {
                // An empty directory is no dataset: `begin` let the write through.
                if target_exists {
                    std::fs::remove_dir(target)?;
                }
                std::fs::rename(staging, target)
            }
        }
    }

    async fn commit_objects(&self) -> Result<(), DataFusionError> {
        let previous = match (self.mode, self.single_file) {
            (WriteMode::Overwrite, false) => self.listing(&self.target_path).await?,
            _ => Vec::new(),
        };
        let staged = self.listing(&self.staging_path).await?;
        let destinations: Vec<(Path, Path)> = staged
            .iter()
            .map(|from| {
                let relative = from
                    .prefix_match(&self.staging_path)
                    .map(|parts| parts.collect::<Vec<_>>())
                    .unwrap_or_default();
                let to = match self.single_file {
                    true => self.target_path.clone(),
                    false => relative
                        .into_iter()
                        .fold(self.target_path.clone(), |path, part| path.join(part)),
                };
                (from.clone(), to)
            })
            .collect();
        futures::stream::iter(destinations.iter())
            .map(|(from, to)| self.store.copy(from, to))
            .buffer_unordered(COPY_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        if !self.single_file {
            let marker = self.target_path.clone().join(SUCCESS_MARKER);
            self.store.put(&marker, PutPayload::default()).await?;
        }
        let written: std::collections::HashSet<&Path> =
            destinations.iter().map(|(_, to)| to).collect();
        let replaced = previous
            .into_iter()
            .filter(|old| !written.contains(old) && old.filename() != Some(SUCCESS_MARKER));
        self.delete_all(replaced.collect()).await?;
        self.delete_all(staged).await
    }

    /// Every key under `prefix`.
    async fn listing(&self, prefix: &Path) -> Result<Vec<Path>, DataFusionError> {
        Ok(self
            .store
            .list(Some(prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?)
    }

    async fn delete_all(&self, keys: Vec<Path>) -> Result<(), DataFusionError> {
        futures::stream::iter(keys.iter())
            .map(|key| self.store.delete(key))
            .buffer_unordered(COPY_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }
}

/// Object copies and deletes in flight at once during a commit.
const COPY_CONCURRENCY: usize = 16;

fn local_path(url: &str) -> Result<PathBuf, DataFusionError> {
    url::Url::parse(url)
        .ok()
        .and_then(|url| url.to_file_path().ok())
        .ok_or_else(|| DataFusionError::Plan(format!("{url} is not a local path")))
}

/// Whether the file at `path` (relative to a dataset's directory, `/`-separated) can be part of
/// a dataset (see [`StagedWrite::first_foreign_entry`]).
fn belongs_to_a_dataset(path: &str) -> bool {
    let hidden = |part: &str| part.starts_with('.') || part.starts_with('_');
    let parts: Vec<&str> = path.split('/').collect();
    let Some((file, directories)) = parts.split_last() else {
        return true;
    };
    if directories.iter().any(|part| hidden(part)) {
        return true;
    }
    directories.iter().all(|part| part.contains('='))
        && (hidden(file) || format_of_file_name(file).is_some())
}

/// The files under the local directory `dir`, as paths relative to `root` (`/`-separated);
/// links are listed as files, never followed.
fn local_files(root: &LocalPath, dir: &LocalPath) -> std::io::Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            files.extend(local_files(root, &entry.path())?);
        } else {
            let relative = entry.path();
            let relative = relative.strip_prefix(root).unwrap_or(&relative);
            let parts: Vec<String> = (relative.components())
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
    Ok(files)
}

/// Moves every file under `from` to the same relative path under `to`, creating directories;
/// files that vanish meanwhile (another process finishing the same append moved them) are
/// skipped.
fn move_tree(from: &LocalPath, to: &LocalPath) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(from) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        entries => entries?,
    };
    std::fs::create_dir_all(to)?;
    for entry in entries {
        let entry = entry?;
        let destination = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            move_tree(&entry.path(), &destination)?;
        } else {
            ignore_missing(std::fs::rename(entry.path(), destination))?;
            failpoint("commit.append.moved_a_file");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_spark() {
        assert_eq!("ERROR".parse(), Ok(WriteMode::ErrorIfExists));
        assert_eq!("errorifexists".parse(), Ok(WriteMode::ErrorIfExists));
        assert_eq!("overwrite".parse(), Ok(WriteMode::Overwrite));
        assert_eq!("append".parse(), Ok(WriteMode::Append));
        assert!("ignore"
            .parse::<WriteMode>()
            .unwrap_err()
            .contains("'ignore'"));
    }

    #[test]
    fn move_tree_merges_partition_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::create_dir_all(from.join("k=1")).unwrap();
        std::fs::create_dir_all(to.join("k=1")).unwrap();
        std::fs::write(from.join("k=1/new.parquet"), b"n").unwrap();
        std::fs::write(to.join("k=1/old.parquet"), b"o").unwrap();
        move_tree(&from, &to).unwrap();
        assert!(to.join("k=1/new.parquet").is_file());
        assert!(to.join("k=1/old.parquet").is_file());
    }

    #[test]
    fn a_journaled_append_is_finished_and_a_journal_naming_anything_else_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let staging = dir.path().join(".out.ember-staging-1");
        let elsewhere = dir.path().join("elsewhere");
        for (path, file) in [(&target, "old"), (&staging, "new"), (&elsewhere, "kept")] {
            std::fs::create_dir_all(path.join("k=1")).unwrap();
            std::fs::write(path.join(format!("k=1/{file}.parquet")), file).unwrap();
        }
        let journal = target.join(format!("{APPEND_JOURNAL_PREFIX}.out.ember-staging-1"));
        std::fs::write(&journal, b"").unwrap();
        let foreign = target.join(format!("{APPEND_JOURNAL_PREFIX}elsewhere"));
        std::fs::write(&foreign, b"").unwrap();
        finish_appends(&target).unwrap();
        assert!(target.join("k=1/old.parquet").is_file());
        assert!(target.join("k=1/new.parquet").is_file());
        assert!(!staging.exists() && !journal.exists());
        assert!(elsewhere.join("k=1/kept.parquet").is_file() && foreign.exists());
        // Finished twice (another process got there first): nothing left to do, no error.
        finish_appends(&target).unwrap();
        finish_appends(&dir.path().join("missing")).unwrap();
    }

    #[test]
    fn a_dataset_holds_data_files_markers_hidden_entries_and_partitions() {
        for path in [
            "part-0.parquet",
            "k=1/j=2/part-0.csv.gz",
            "_SUCCESS",
            ".part-0.parquet.crc",
            "_temporary/0/anything.txt",
            ".staging/notes.txt",
        ] {
            assert!(belongs_to_a_dataset(path), "{path}");
        }
        for path in [
            "notes.txt",
            "src/main.rs",
            "k=1/readme.md",
            "photos/cat.jpg",
        ] {
            assert!(!belongs_to_a_dataset(path), "{path}");
        }
    }
}
