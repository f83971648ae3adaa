//! `challenge issue`: a signed SCEP challenge from the configured key.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::error::{OrFail as _, ServerError};
use crate::providers::Providers;
use crate::scep::ScepGate;

/// `challenge issue`: a signed SCEP challenge from the configured `SCEP_CHALLENGE_KEY`,
/// bound to `identifier` when given, valid for `ttl` (at most `SCEP_CHALLENGE_TTL`).
pub(crate) fn issue_challenge(
    vars: &HashMap<String, String>,
    providers: &Providers,
    identifier: Option<&str>,
    ttl: Option<Duration>,
) -> Result<String, ServerError> {
    let config = Config::from_vars_with(vars, providers)?;
    challenge_from(&config, identifier, ttl).or_fail(ServerError::Other)
}

fn challenge_from(
    config: &Config,
    identifier: Option<&str>,
    ttl: Option<Duration>,
) -> anyhow::Result<String> {
    let gate = config
        .scep
        .as_ref()
        .map(ScepGate::new)
        .context("SCEP_CHALLENGE is not set: configure the SCEP gate with signed challenges")?
        .context("the Intune SCEP validation client")?;
    let signed = gate
        .signed()
        .context("SCEP_CHALLENGE does not list signed, so there is no SCEP_CHALLENGE_KEY")?;
    let challenge = match ttl {
        Some(ttl) => signed.issue_for(identifier, ttl),
        None => signed.issue(identifier),
    };
    challenge.context("issuing the challenge")
}
