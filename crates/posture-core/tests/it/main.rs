//! Integration tests for posture-core: the behaviour of its public types that servers,
//! providers and their tests rely on. One binary; the modules below hold the cases, one
//! concern each.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

mod decision;
mod errors;
mod kinds;
mod policy;
mod request;
mod version;

use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};

/// A provider that allows every device and keeps the default of every optional method.
#[derive(Debug)]
pub(crate) struct Fixed(pub(crate) &'static str);

impl PostureProvider for Fixed {
    fn name(&self) -> &str {
        self.0
    }

    async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
        Ok(Decision::allow())
    }
}
