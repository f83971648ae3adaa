//! Integration tests of the generic HTTP inventory provider against the fake Snipe-IT on
//! loopback.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

mod conformance;
mod snipeit;
mod support;
