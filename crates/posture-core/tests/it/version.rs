//! File versions, on real files: what a server compares to decide whether to reload.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

use posture_core::FileVersion;

/// A fixed modification time, so two files can share one.
fn noon() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Writes `text` to `path` and sets its modification time to `at`.
fn write_at(path: &Path, text: &str, at: SystemTime) {
    std::fs::write(path, text).unwrap();
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(at)
        .unwrap();
}

#[test]
fn a_version_holds_the_files_size_and_modification_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.csv");
    write_at(&path, "Identifier\nC02XL0GJJG5J\n", noon());
    let version = FileVersion::of(&path).unwrap();
    assert_eq!(version.size(), 24);
    assert_eq!(version.modified(), Some(noon()));
    assert_eq!(FileVersion::of(&path).unwrap(), version, "nothing changed");
}

/// A file renamed over the served one (as a Kubernetes volume update does) with the same
/// size and modification time is told apart by its identity alone.
#[cfg(unix)]
#[test]
fn a_file_replaced_with_the_same_size_and_time_is_another_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devices.csv");
    let next = dir.path().join("devices.new");
    write_at(&path, "Identifier\nC02XL0GJJG5J\n", noon());
    write_at(&next, "Identifier\nC02XL0GJJG5K\n", noon());
    let before = FileVersion::of(&path).unwrap();
    std::fs::rename(&next, &path).unwrap();
    let after = FileVersion::of(&path).unwrap();
    assert_eq!(
        (after.size(), after.modified()),
        (before.size(), before.modified())
    );
    assert_ne!(after, before);
}
