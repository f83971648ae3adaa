//! Integration tests of the Fleet provider against the fake Fleet on loopback.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

mod conformance;
mod decisions;
mod failures;
mod support;
mod sync;
