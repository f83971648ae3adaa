//! End-to-end tests: the real server on 127.0.0.1 over TLS, a real rustls client, rcgen
//! certificates.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod decisions;
mod jamf;
mod mtls;
mod providers;
mod refusals;
