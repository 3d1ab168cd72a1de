//! Saved models on a local file system: a model is written whole into a staging directory beside
//! its place and then published by one rename, so a reader (or a crash) sees the old model or
//! the new one, never a mix (and, once a replacement interrupted without an atomic exchange is
//! restored, never none); and a model is removed without following links.

use std::path::{Path, PathBuf};

use ember_connectors::local_dirs::{replace, restore_replaced, unique_id};

/// The local directory a model location names (`file://` or a plain path), `None` for an
/// object store.
pub(super) fn local_directory(location: &str) -> Option<PathBuf> {
    if location.starts_with("file://") || !location.contains("://") {
        let path = location.strip_prefix("file://").unwrap_or(location);
        Some(PathBuf::from(path.trim_end_matches('/')))
    } else {
        None
    }
}

/// Brings back the model at `location` when a replacement of it was killed midway on a file
/// system without an atomic exchange (see [`replace`]); nothing to do for a model in place or in
/// an object store.
pub(super) fn restore_interrupted(location: &str) -> std::io::Result<()> {
    match local_directory(location) {
        Some(directory) if !directory.exists() => restore_replaced(&directory),
        _ => Ok(()),
    }
}

/// A fresh hidden directory beside `target` to write its new model into. Hidden names are
/// never listed as models, so one left by a crash is only litter.
pub(super) fn staging_beside(target: &Path) -> std::io::Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| std::io::Error::other("a model location needs a directory name"))?;
    let staging = format!(".{}.saving-{}", name.to_string_lossy(), unique_id());
    Ok(target.with_file_name(staging))
}

/// Puts the complete model in `staging` at `target`. A model already at `target` is replaced in
/// one step where the file system can ([`replace`]). `target` must hold
/// a model, nothing, or not exist: a directory with other files is refused, untouched.
pub(super) fn publish(staging: &Path, target: &Path) -> Result<(), String> {
    let holds_model = target.join(super::METADATA).is_file();
    if !holds_model && target.exists() && !is_empty_directory(target) {
        return Err(format!(
            "{} holds files that are not a saved model; remove them or save elsewhere",
            target.display()
        ));
    }
    if !holds_model {
        return std::fs::rename(staging, target).map_err(|e| e.to_string());
    }
    replace(staging, target).map_err(|e| e.to_string())
}

fn is_empty_directory(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_replaces_a_model_in_one_step_and_nothing_else() {
        let dir = tempfile_dir("publish");
        let target = dir.join("m");
        let write = |path: &Path, text: &str| {
            std::fs::create_dir_all(path).unwrap();
            std::fs::write(path.join(super::super::METADATA), text).unwrap();
        };
        let staging = staging_beside(&target).unwrap();
        write(&staging, "first");
        publish(&staging, &target).unwrap();
        let second = staging_beside(&target).unwrap();
        write(&second, "second");
        publish(&second, &target).unwrap();
        let metadata = std::fs::read_to_string(target.join(super::super::METADATA)).unwrap();
        assert_eq!(metadata, "second");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["m"], "staging directories left behind");

        let foreign = dir.join("photos");
        std::fs::create_dir_all(&foreign).unwrap();
        std::fs::write(foreign.join("cat.jpg"), "meow").unwrap();
        let third = staging_beside(&foreign).unwrap();
        write(&third, "third");
        let refused = publish(&third, &foreign).unwrap_err();
        assert!(refused.contains("not a saved model"), "{refused}");
        assert_eq!(
            std::fs::read_to_string(foreign.join("cat.jpg")).unwrap(),
            "meow"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ember-local-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
