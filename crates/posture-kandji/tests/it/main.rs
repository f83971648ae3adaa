//! Integration tests of the Kandji provider against the fake Kandji on loopback.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

mod backoff;
mod conformance;
mod decisions;
mod failures;
mod hosts;
mod rate_limits;
mod support;
mod sync;
