//! Integration tests of the Intune provider against the fake Graph on loopback.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

mod backoff;
mod certificates;
mod conformance;
mod decisions;
mod failures;
mod groups;
mod scep;
mod support;
mod sync;
mod tokens;
