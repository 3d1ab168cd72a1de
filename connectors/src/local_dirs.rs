//! Local directories published in one step: a write or a saved model is staged in a hidden
//! directory beside its place and swapped in whole, so a reader or a crash sees the old contents
//! or the new, never a mix and (on Linux) never none.

use std::path::Path;

/// An id that no other write of this or another process picks at the same moment.
pub fn unique_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{nanos:x}-{:x}", std::process::id())
}

/// Puts the directory `new` at `target` (an existing directory or file) and removes what was
/// there. With an atomic exchange (Linux's `renameat2`, on file systems that have it) `target`
/// holds the old contents or the new at every moment. Without one (other systems; file systems
/// such as NFS) the old contents move aside to a hidden sibling, the new ones in, and the old are
/// removed: a crash between the first two steps leaves nothing at `target` until
/// [`restore_replaced`] moves the old contents back.
pub fn replace(new: &Path, target: &Path) -> std::io::Result<()> {
    match exchange(new, target) {
        Ok(()) => {
            failpoint("replace.exchanged");
            // `new` now holds the old contents.
            remove_entry(new)
        }
        Err(error) if exchange_unsupported(&error) => replace_by_renames(new, target),
        Err(error) => Err(error),
    }
}

/// [`replace`] without an atomic exchange.
fn replace_by_renames(new: &Path, target: &Path) -> std::io::Result<()> {
    let (parent, prefix) = replaced_prefix(target)
        .ok_or_else(|| std::io::Error::other(format!("{} has no name", target.display())))?;
    let aside = parent.join(format!("{prefix}{}", unique_id()));
    std::fs::rename(target, &aside)?;
    failpoint("replace.moved_aside");
    if let Err(error) = std::fs::rename(new, target) {
        // The replace fails as a whole: the old contents go back.
        let _ = std::fs::rename(&aside, target);
        return Err(error);
    }
    remove_entry(&aside)
}

/// Finishes a [`replace`] of `target` that was interrupted without an atomic exchange: old
/// contents set aside while `target` holds nothing go back (that replace never happened); old
/// contents left beside a new `target` are removed. Safe to run while another process does.
pub fn restore_replaced(target: &Path) -> std::io::Result<()> {
    for aside in set_aside(target)? {
        match std::fs::symlink_metadata(target) {
            Ok(_) => remove_entry(&aside)?,
            Err(_) => ignore_missing(std::fs::rename(&aside, target))?,
        }
    }
    Ok(())
}

/// Whether a [`replace`] of `target` was interrupted with its old contents aside: then
/// [`restore_replaced`] brings `target` back (a missing `target` is still a dataset).
pub fn was_set_aside(target: &Path) -> bool {
    set_aside(target).is_ok_and(|asides| !asides.is_empty())
}

/// The old contents of `target` that interrupted [`replace`]s left aside.
fn set_aside(target: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let Some((parent, prefix)) = replaced_prefix(target) else {
        return Ok(Vec::new());
    };
    let entries = match std::fs::read_dir(&parent) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        entries => entries?,
    };
    let mut asides = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            asides.push(entry.path());
        }
    }
    Ok(asides)
}

/// The directory holding `target` and the start of the hidden names its old contents take
/// during a [`replace`] without an atomic exchange (`.NAME.replaced-`, then an id).
fn replaced_prefix(target: &Path) -> Option<(std::path::PathBuf, String)> {
    let name = target.file_name()?.to_string_lossy();
    let parent = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    Some((parent, format!(".{name}.replaced-")))
}

/// Swaps the directories (or files) `a` and `b` in one step: one `renameat2` call with
/// `RENAME_EXCHANGE`.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let path = |path: &Path| {
        CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::other(format!("{} holds a NUL byte", path.display())))
    };
    let (a, b) = (path(a)?, path(b)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let exchanged = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if exchanged == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether `error` says the file system (or kernel) cannot exchange two paths.
#[cfg(target_os = "linux")]
fn exchange_unsupported(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
}

/// No atomic exchange here: [`replace`] renames.
#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(not(target_os = "linux"))]
fn exchange_unsupported(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::Unsupported
}

/// Removes `path`, a directory (as [`remove_tree`] does) or a file; absent counts as removed.
fn remove_entry(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => remove_tree(path),
        Ok(_) => ignore_missing(std::fs::remove_file(path)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// `result`, with "not found" counted as done.
pub fn ignore_missing(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Removes the directory `path` and everything in it, removing links as links (a link inside it
/// to a directory elsewhere loses the link, never the files it points to); a `path` that is
/// already gone counts as removed.
pub fn remove_tree(path: &Path) -> std::io::Result<()> {
    ignore_missing(std::fs::remove_dir_all(path))
}

/// Stops the process at the commit step `name` when the `FAILPOINTS` variable names it (the
/// variable of the `fail` crate; `EMBER_*` variables are configuration keys), so
/// a test can check that a write killed between its steps loses nothing. Debug builds only (the
/// ones tests run); in a release build it does nothing.
pub fn failpoint(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("FAILPOINTS").is_ok_and(|point| point == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A directory `path` holding the file `sub/NAME` whose text is its name.
    fn directory_with(path: &Path, name: &str) {
        std::fs::create_dir_all(path.join("sub")).unwrap();
        std::fs::write(path.join("sub").join(name), name).unwrap();
    }

    #[test]
    fn a_directory_replaces_a_directory_or_a_file_whole_with_or_without_an_exchange() {
        type Replace = fn(&Path, &Path) -> std::io::Result<()>;
        for replace in [replace as Replace, replace_by_renames] {
            let dir = tempfile::tempdir().unwrap();
            let (new, target) = (dir.path().join("new"), dir.path().join("target"));
            directory_with(&target, "old");
            directory_with(&new, "new");
            replace(&new, &target).unwrap();
            assert!(target.join("sub/new").is_file() && !target.join("sub/old").exists());
            assert_eq!(names(dir.path()), ["target"]);

            let file = dir.path().join("file");
            std::fs::write(&file, "old").unwrap();
            directory_with(&new, "new");
            replace(&new, &file).unwrap();
            assert!(file.join("sub/new").is_file());
            assert_eq!(names(dir.path()), ["file", "target"]);
            assert!(replace(&dir.path().join("missing"), &target).is_err());
            assert!(target.join("sub/new").is_file());
        }
    }

    #[test]
    fn an_interrupted_replace_is_undone_or_finished() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("data");
        let aside = dir.path().join(".data.replaced-1");
        let foreign = dir.path().join(".other.replaced-1");
        directory_with(&foreign, "other");
        // Killed once the old contents were aside: they go back.
        directory_with(&aside, "old");
        restore_replaced(&target).unwrap();
        assert!(target.join("sub/old").is_file());
        assert_eq!(names(dir.path()), [".other.replaced-1", "data"]);
        // Killed once the new contents were in: the old ones go.
        directory_with(&aside, "old");
        std::fs::remove_dir_all(&target).unwrap();
        directory_with(&target, "new");
        restore_replaced(&target).unwrap();
        assert!(target.join("sub/new").is_file());
        assert_eq!(names(dir.path()), [".other.replaced-1", "data"]);
        restore_replaced(&dir.path().join("missing")).unwrap();
        assert!(!was_set_aside(&target));
        directory_with(&aside, "old");
        assert!(was_set_aside(&target) && !was_set_aside(&dir.path().join("third")));
    }
}
