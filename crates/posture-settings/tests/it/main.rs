//! Integration tests for posture-settings: what providers, the server and their tests rely on.
//! One binary; the modules below hold the cases, one concern each.

mod bounds;
mod conformance;
mod docs;
mod fixtures;
mod kinds;
mod problems;
mod secrets;
mod words;

use posture_settings::Reader;

/// Runs `read` on a reader over exactly the variables `pairs` (every other one unset), and
/// returns what it returned with the problems it kept, displayed.
pub(crate) fn read<T>(
    pairs: &[(&str, &str)],
    read: impl FnOnce(&mut Reader<'_>) -> T,
) -> (T, Vec<String>) {
    let get = posture_settings::vars(pairs);
    let mut reader = Reader::new(&get);
    let value = read(&mut reader);
    let problems = reader
        .take_problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    (value, problems)
}

/// Like [`read`], for a read that must keep no problem: returns what `read` returned.
#[track_caller]
pub(crate) fn read_ok<T>(pairs: &[(&str, &str)], read: impl FnOnce(&mut Reader<'_>) -> T) -> T {
    let (value, problems) = crate::read(pairs, read);
    assert!(problems.is_empty(), "{problems:?}");
    value
}

/// Like [`read`], for a read that must be refused: returns the problems it kept, displayed.
#[track_caller]
pub(crate) fn read_refused<T: std::fmt::Debug>(
    pairs: &[(&str, &str)],
    read: impl FnOnce(&mut Reader<'_>) -> Option<T>,
) -> Vec<String> {
    let (value, problems) = crate::read(pairs, read);
    assert!(value.is_none(), "{value:?}");
    problems
}
