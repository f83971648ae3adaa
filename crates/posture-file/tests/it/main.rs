//! Integration tests for the device-file provider, against the fixtures in `tests/data/`.

mod csv_files;
mod json_files;
mod props;
mod provider;
mod refused;
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

/// The error of `bytes` that must fail to parse, naming them `t.csv` or `t.json`.
fn parse_error(bytes: &[u8], format: FileFormat) -> LoadError {
    let name = format!("t.{format}");
    match DeviceList::parse(bytes, format, &name) {
        Ok(list) => panic!("{name} parsed to {} devices but should fail", list.len()),
        Err(err) => err,
    }
}

/// Asserts that a fixture fails to load with `message`, and returns the error for any further
/// checks.
#[track_caller]
fn refused_with(name: &str, format: FileFormat, message: &str) -> LoadError {
    let err = load_error(name, format);
    assert_eq!(err.to_string(), message);
    err
}
