//! End-to-end tests: the real server on 127.0.0.1 over TLS, a real rustls client, rcgen
//! certificates.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod admission;
mod auth;
mod decisions;
mod faults;
mod fleet_http;
mod http2;
mod jamf;
mod jamf_events;
mod limits;
mod mosyle_addigy;
mod mtls;
mod ops;
mod providers;
mod readiness;
mod refusals;
mod reload_integrity;
mod rotation;
mod scep;
mod sync;
mod tls_tools;

use step_posture_tests::deployment::Deployment;

/// A file-provider [`Deployment`] with `extra` variables; panics if it does not start.
pub(crate) async fn start(extra: &[(&str, &str)]) -> Deployment {
    Deployment::start(extra).await.unwrap()
}

/// A [`Deployment`] configured by a fake MDM's `provider_vars`, then `extra`; panics if it
/// does not start.
pub(crate) async fn against(
    provider_vars: &[(String, String)],
    extra: &[(&str, &str)],
) -> Deployment {
    Deployment::against(provider_vars, extra).await.unwrap()
}

/// Fails naming the first of `needles` that `text` (a summary, an error) lacks.
#[track_caller]
pub(crate) fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

/// Fails naming the first of `secrets` that `text` (a summary, an error) shows.
#[track_caller]
pub(crate) fn assert_contains_none(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} shown in:\n{text}");
    }
}
