//! Integration tests for the device-file provider, against the fixtures in `tests/data/`.

mod csv_files;
mod json_files;
mod props;
mod provider;
mod streaming;

use std::path::PathBuf;

use posture_file::{DeviceList, FileFormat, LoadError};

/// The path of a fixture.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Loads a fixture, naming it by its file name so messages are stable.
fn load(name: &str, format: FileFormat) -> Result<DeviceList, LoadError> {
    let bytes = std::fs::read(fixture(name)).expect("fixture exists");
    DeviceList::parse(&bytes, format, name)
}

/// The message of a fixture that must fail to load.
fn load_error(name: &str, format: FileFormat) -> LoadError {
    match load(name, format) {
        Ok(list) => panic!("{name} loaded {} devices but should fail", list.len()),
        Err(err) => err,
    }
}
