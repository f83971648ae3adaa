//! Integration tests of the Jamf provider against the fake Jamf Pro on loopback.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

mod cache;
mod conformance;
mod decisions;
mod endpoints;
mod failures;
mod ready;
mod support;
mod sync;
mod tokens;
