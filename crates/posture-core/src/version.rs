use std::io;
use std::path::Path;
use std::time::SystemTime;

/// What tells one version of a file on disk from another: its size, modification time and
/// identity (device and inode). Writing to a file changes its size or modification time;
/// renaming another file over it changes its identity.
///
/// A provider that serves a list read from a file (posture-file's `FileProvider`) compares the
/// versions before and after reading it, so a file that changes while it is read is not
/// loaded, and remembers the version it loaded ([`ReloadableList::version`](crate::ReloadableList::version)), so a server
/// can tell whether the file on disk is still the one being served.
///
/// ```
/// use posture_core::FileVersion;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("devices.csv");
/// std::fs::write(&path, "Identifier\nC02XL0GJJG5J\n")?;
/// let before = FileVersion::of(&path)?;
/// assert_eq!(before.size(), 24);
///
/// std::fs::write(path.with_extension("new"), "Identifier\nC02XL0GJJG5K\n")?;
/// std::fs::rename(path.with_extension("new"), &path)?;
/// assert_ne!(FileVersion::of(&path)?, before, "same size, but another file");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct FileVersion {
    size: u64,
    modified: Option<SystemTime>,
    device: u64,
    inode: u64,
}

impl FileVersion {
    /// The version of the file at `path` now, following symbolic links (so the swap of a
    /// Kubernetes volume's `..data` link is a new version).
    pub fn of(path: impl AsRef<Path>) -> io::Result<Self> {
        let metadata = std::fs::metadata(path)?;
        let (device, inode) = identity(&metadata);
        Ok(Self {
            size: metadata.len(),
            // Some file systems keep no modification time; size and identity still count.
            modified: metadata.modified().ok(),
            device,
            inode,
        })
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file's modification time, where the file system keeps one.
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }
}

#[cfg(unix)]
fn identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

/// Without inode numbers a replaced file is still told apart by its modification time.
#[cfg(not(unix))]
fn identity(_metadata: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}
