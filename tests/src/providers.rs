//! Providers that misbehave on purpose, to test how the server copes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};

/// What a [`Scripted`] provider does with every lookup.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Never answers.
    Hang,
    /// Waits, then allows.
    Slow(Duration),
    /// Fails with a transient error (the MDM is unreachable, rate-limited…).
    Transient,
    /// Fails with a permanent error (credentials refused…).
    Permanent,
}

/// A provider that answers every lookup as its [`Behaviour`] says, and counts lookups.
#[derive(Debug)]
pub struct Scripted {
    behaviour: Behaviour,
    lookups: AtomicU64,
}

impl Scripted {
    /// A provider that behaves as `behaviour`.
    pub fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            lookups: AtomicU64::new(0),
        }
    }

    /// Lookups asked so far.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }
}

impl PostureProvider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn lookup(&self, _request: &LookupRequest) -> Result<Decision, ProviderError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        match &self.behaviour {
            Behaviour::Hang => std::future::pending().await,
            Behaviour::Slow(delay) => {
                tokio::time::sleep(*delay).await;
                Ok(Decision::allow())
            }
            Behaviour::Transient => Err(ProviderError::transient("the MDM did not answer")),
            Behaviour::Permanent => {
                Err(ProviderError::permanent("the MDM refused our credentials"))
            }
        }
    }
}
