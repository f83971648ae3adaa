//! The subcommands: `serve` (the default), `demo`, `simulate`, `challenge issue`,
//! `check-config` and `lookup`.
//!
//! Public are those an embedder calls with variables of its own, [`serve`],
//! [`check_config`] and [`lookup`], and [`Server`], the server they start; the others are
//! reached through [`crate::cli::main`].
//!
//! One file per subcommand (`serve`, `check_config`, `lookup`, `simulate`, `challenge`,
//! `demo`); this file holds what several of them share: building the provider and the
//! verifier, waiting for the provider to be ready, random identifiers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use posture_core::DynPostureProvider;
use smallstep_webhook::Verifier;

use crate::config::{Config, ProviderChoice};
use crate::error::{OrFail as _, ServerError};
use crate::handler::App;
use crate::metrics::Metrics;
use crate::providers;
use crate::scep::ScepGate;
use crate::throttle::AuthThrottle;
use crate::tls::{TlsState, build_server_config};

mod challenge;
mod check_config;
mod demo;
mod lookup;
mod serve;
mod simulate;

pub(crate) use challenge::issue_challenge;
pub use check_config::check_config;
pub(crate) use demo::demo;
pub use lookup::lookup;
pub use serve::{Server, serve};
pub(crate) use simulate::{ScepSimulation, SimulateOptions, simulate};

/// Builds the configured provider. No network or file access happens before
/// [`DynPostureProvider::check_ready_boxed`], except that the file provider loads its file.
fn build_provider(choice: &ProviderChoice) -> anyhow::Result<Arc<dyn DynPostureProvider>> {
    Ok(providers::build(choice)?.provider)
}

/// The TLS state of the `SCEP_ISSUER_ADDR` listener: the server certificate, and no client
/// certificate asked for (an MDM in the cloud has none).
pub(crate) fn issuer_tls_state(
    settings: &crate::config::TlsSettings,
) -> Result<TlsState, crate::tls::TlsError> {
    let mut settings = settings.clone();
    settings.mtls = None;
    build_server_config(&settings)
}

/// The handler a server answers webhooks with for `config`, asking `provider` and counting
/// into `metrics`: the verifier of the configured webhooks, `TIMEOUT`, `MAX_BODY_BYTES`, the
/// SCEP gate (with `SCEP_CHALLENGE`) and the throttle of failed authentications. What needs
/// the listener (readiness of the certificate) or the provider's refreshers (Jamf events)
/// is added by [`Server::bind`].
pub(crate) fn app_for(
    config: &Config,
    provider: Arc<dyn DynPostureProvider>,
    metrics: Arc<Metrics>,
) -> Result<App, ServerError> {
    let verifier = build_verifier(config).or_fail(ServerError::Other)?;
    let mut app = App::new(verifier, provider)
        .with_timeout(config.timeout)
        .with_max_body_bytes(config.limits.max_body_bytes)
        .with_metrics(metrics);
    if let Some(scep) = &config.scep {
        let gate = ScepGate::new(scep)
            .context("the Intune SCEP validation client")
            .or_fail(ServerError::Other)?;
        app = app.with_scep(Arc::new(gate));
    }
    if let Some(throttle) = config.auth_throttle {
        app = app.with_auth_throttle(AuthThrottle::new(throttle.limit, throttle.window));
    }
    Ok(app)
}

/// Builds the HMAC verifier from the configured webhooks.
fn build_verifier(config: &Config) -> anyhow::Result<Verifier> {
    verifier_for(
        &config.webhooks,
        config.max_request_age,
        config.max_clock_skew,
    )
}

/// Builds the HMAC verifier for `webhooks`, accepting timestamps up to `max_age` old and
/// `max_future` ahead.
fn verifier_for(
    webhooks: &[crate::config::WebhookEntry],
    max_age: Duration,
    max_future: Duration,
) -> anyhow::Result<Verifier> {
    let mut builder = Verifier::builder().max_age(max_age).max_future(max_future);
    for entry in webhooks {
        builder = builder.webhook_secret(entry.id.clone(), entry.secret.clone());
        if let Some(authorization) = &entry.authorization {
            builder = builder.authorization(entry.id.clone(), authorization.clone());
        }
    }
    builder.build().context("webhook configuration")
}

/// Asks the provider whether it is ready, within the configured timeout, with an error
/// that names the provider.
async fn ensure_ready(provider: &dyn DynPostureProvider, timeout: Duration) -> anyhow::Result<()> {
    match tokio::time::timeout(timeout, provider.check_ready_boxed()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(anyhow::Error::new(err))
            .with_context(|| format!("provider {} is not ready", provider.name())),
        Err(_) => bail!(
            "provider {} did not become ready within TIMEOUT ({} s)",
            provider.name(),
            timeout.as_secs()
        ),
    }
}

/// Checks that `provider` is ready and loads the server's TLS configuration: the first
/// steps of both [`Server::bind`] and [`check_config`], with the same errors.
async fn ready_with_tls(
    provider: &dyn DynPostureProvider,
    config: &Config,
) -> Result<TlsState, ServerError> {
    ensure_ready(provider, config.timeout)
        .await
        .or_fail(ServerError::Provider)?;
    build_server_config(&config.tls)
        .context("TLS configuration")
        .or_fail(ServerError::Tls)
}

/// `N` bytes from the system's secure random generator.
fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    use ring::rand::SecureRandom;
    let mut bytes = [0_u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(bytes)
}

/// A random version-4 UUID, as step-ca generates for webhook IDs.
// Public but hidden: the load harness (bins/step-posture-load) makes its webhook IDs with it.
#[doc(hidden)]
pub fn random_uuid() -> Result<String, ServerError> {
    Ok(posture_http::guid_v4(
        random_bytes::<16>().or_fail(ServerError::Other)?,
    ))
}
