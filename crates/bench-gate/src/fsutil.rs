//! Atomic file writes shared by every tool that writes a file (graph exports, reports,
//! baselines): a reader sees either the old file or the complete new one, never a torn
//! write. It owns nothing else; parsing and formats live with their owners.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an atomic write failed; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The temporary file beside the target could not be created, written or synced.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file that was to be written.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The finished temporary file could not be renamed over the target.
    #[error("cannot move the new contents into {path}: {source}")]
    Persist {
        /// The file that was to be written.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory is
/// written, flushed to disk and renamed over `path`. Missing parent directories are created.
///
/// A `path` that exists and is not a regular file (`/dev/null`, `/dev/stdout`, a FIFO) is
/// written into directly: renaming a file over a device node would replace the device
/// itself (a `--json /dev/null` once turned the machine's `/dev/null` into a plain file,
/// and every later reader of it saw the text written there).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let write_err = |source| WriteError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
        && !meta.is_dir()
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(write_err)?;
        return file.write_all(contents).map_err(write_err);
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(write_err)?;
    let mut temp = tempfile::NamedTempFile::new_in(&dir).map_err(write_err)?;
    temp.write_all(contents).map_err(write_err)?;
    temp.as_file().sync_all().map_err(write_err)?;
    temp.persist(path).map_err(|e| WriteError::Persist {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/out.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        // Only the target remains: no temporary files are left behind.
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn a_device_is_written_into_not_replaced() {
        // Through a link in a scratch directory: were the device replaced, only the link
        // would be (the machine's /dev/null stays safe even if this test fails).
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        write_atomic(&link, b"discarded").unwrap();
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "the device was replaced by a file"
        );
        assert_eq!(std::fs::read(&link).unwrap(), b"");
    }

    #[test]
    fn error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be replaced by a file: the rename fails.
        let target = dir.path().join("occupied");
        std::fs::create_dir(target.join("x")).ok();
        std::fs::create_dir_all(target.join("x")).unwrap();
        let err = write_atomic(&target, b"data").unwrap_err();
        assert!(err.to_string().contains("occupied"), "{err}");
    }
}
