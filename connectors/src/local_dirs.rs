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

/// Swaps the directories `a` and `b` (both must exist). On Linux one `renameat2` call with
/// `RENAME_EXCHANGE` does it atomically; elsewhere `b` moves aside, `a` into its place and `b`
/// to where `a` was, leaving a moment when `b`'s path holds nothing.
#[cfg(target_os = "linux")]
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
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

/// Swaps the directories `a` and `b` (see the Linux version).
#[cfg(not(target_os = "linux"))]
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let aside = a.with_extension(format!("aside-{}", unique_id()));
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&aside, a)
}

/// Removes the directory `path` and everything in it, removing links as links (a link inside it
/// to a directory elsewhere loses the link, never the files it points to); a `path` that is
/// already gone counts as removed.
pub fn remove_tree(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
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

    #[test]
    fn exchanging_swaps_two_directories_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for (path, file) in [(&a, "from_a"), (&b, "from_b")] {
            std::fs::create_dir_all(path.join("sub")).unwrap();
            std::fs::write(path.join("sub").join(file), file).unwrap();
        }
        exchange(&a, &b).unwrap();
        assert!(a.join("sub/from_b").is_file() && b.join("sub/from_a").is_file());
        assert!(!a.join("sub/from_a").exists() && !b.join("sub/from_b").exists());
        assert!(exchange(&a, &dir.path().join("missing")).is_err());
    }
}
