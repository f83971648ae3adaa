//! `lookup`: one identifier asked of the configured provider.

use std::collections::HashMap;

use posture_core::{Decision, DeviceMode, LookupRequest};

use super::{build_provider, ensure_ready};
use crate::config::Config;
use crate::error::{OrFail as _, ServerError};
use crate::providers::Providers;

/// `lookup`: asks the configured provider about one identifier, exactly as a webhook
/// request would, and returns the decision. A provider that fails or does not answer
/// within `TIMEOUT` is a [`ServerError::Provider`].
pub async fn lookup(
    vars: &HashMap<String, String>,
    providers: &Providers,
    identifier: &str,
    mode: DeviceMode,
) -> Result<Decision, ServerError> {
    let config = Config::from_vars_with(vars, providers)?;
    let provider = build_provider(&config.provider).or_fail(ServerError::Provider)?;
    ensure_ready(provider.as_ref(), config.timeout)
        .await
        .or_fail(ServerError::Provider)?;
    let request = LookupRequest::new(identifier).with_mode(mode);
    let decision = tokio::time::timeout(config.timeout, provider.lookup_boxed(&request))
        .await
        .map_err(|_| anyhow::anyhow!("no answer within TIMEOUT ({} s)", config.timeout.as_secs()))
        .and_then(|answer| {
            answer.map_err(|err| {
                anyhow::Error::new(err).context(format!("provider {} failed", provider.name()))
            })
        })
        .or_fail(ServerError::Provider)?;
    Ok(decision)
}
