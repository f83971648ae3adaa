//! The bearer tokens of the fakes whose MDM has an OAuth token endpoint (Jamf Pro's, the
//! Microsoft identity platform's).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::TokenFault;

/// The bearer tokens a token endpoint hands out, each valid for the lifetime set when it was
/// issued, and the failure injected into the endpoint.
#[derive(Debug)]
pub(crate) struct Tokens {
    expiries: HashMap<String, Instant>,
    issued: u64,
    lifetime: Duration,
    fault: Option<TokenFault>,
}

impl Tokens {
    /// No tokens yet; those issued will live `lifetime`.
    pub(crate) fn new(lifetime: Duration) -> Self {
        Self {
            expiries: HashMap::new(),
            issued: 0,
            lifetime,
            fault: None,
        }
    }

    /// Sets the lifetime of tokens issued from now on.
    pub(crate) fn set_lifetime(&mut self, lifetime: Duration) {
        self.lifetime = lifetime;
    }

    /// Injects `fault` into every token request, or stops with `None`.
    pub(crate) fn set_fault(&mut self, fault: Option<TokenFault>) {
        self.fault = fault;
    }

    /// The failure injected into token requests, if any.
    pub(crate) fn fault(&self) -> Option<TokenFault> {
        self.fault.clone()
    }

    /// Makes every token issued so far invalid.
    pub(crate) fn revoke_all(&mut self) {
        self.expiries.clear();
    }

    /// Issues the next token, `<prefix><n>`, and returns it with its lifetime.
    pub(crate) fn issue(&mut self, prefix: &str) -> (String, Duration) {
        self.issued += 1;
        let token = format!("{prefix}{}", self.issued);
        self.expiries
            .insert(token.clone(), Instant::now() + self.lifetime);
        (token, self.lifetime)
    }

    /// Whether `token` was issued, is not revoked and has not expired.
    pub(crate) fn is_valid(&self, token: &str) -> bool {
        self.expiries
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
    }
}
