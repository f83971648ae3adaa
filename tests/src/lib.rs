//! Support for the end-to-end tests: certificates made with rcgen for every mTLS case, and a
//! real server started in-process on 127.0.0.1 with a step-ca-like client.

pub mod deployment;
pub mod flood;
pub mod pki;
pub mod providers;
pub mod raw;
pub mod server;

/// Compiles the workspace README's Rust example (the server crate's README, which lives
/// outside that crate's package).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
