//! The step-posture-connector server: a step-ca webhook that allows device certificates
//! only for devices a provider (an inventory file, an MDM) knows and deems compliant.
//!
//! The bundled binary is [`cli::main`] with the built-in providers; everything else lives
//! here, for builds that add providers of their own and for servers that embed the handler.
//!
//! # The public API
//!
//! - [`cli::main`]: the whole command line (`serve`, `demo`, `simulate`, `check-config`,
//!   `lookup`, `doctor`, `healthcheck`, `challenge issue`) for a [`providers::Providers`]
//!   list. A build with a provider of its own is
//!   `cli::main(Providers::builtin().with(&MY_KIND))`.
//! - [`config`]: the environment and `.env` read into a validated [`config::Config`];
//!   [`config::known_variables`] lists every variable a server reads.
//! - [`commands`]: the subcommands as functions ([`commands::serve`],
//!   [`commands::check_config`], [`commands::lookup`]) and [`commands::Server`], a server
//!   bound to its ports and run until a future of yours completes, optionally with a
//!   provider of yours ([`commands::Server::bind_with_provider`]); its
//!   [`reload::Reloader`] reloads on demand.
//! - [`handler`]: [`handler::App`] and [`handler::handle`], a plain async function from a
//!   request to a response; [`server::serve`] is the HTTPS loop around it, with the TLS
//!   state of [`tls`] (swappable while serving).
//! - [`client`] and [`pki`]: the HTTPS client `simulate` uses, and throwaway certificates.
//! - [`ServerError`]: the error of every fallible entry point above, by kind
//!   (configuration, provider, TLS, network), with its chain of causes.
//!
//! Metrics, the SCEP gate, logging, throttling and `doctor` are internal: they are reached
//! through the configuration and the command line, not called.
//!
//! Built with `--cfg fuzzing`, as `cargo fuzz` builds it, the crate has a `fuzzing` module:
//! the handler of a configuration without TLS or a socket (and a file-provider configuration
//! to build it from), and the signed-challenge issuer and verifier, for the fuzz targets in
//! the repository's `fuzz/`.
//!
//! # Example
//!
//! Validating a configuration as `check-config` does, with the built-in providers:
//!
//! ```
//! use std::collections::HashMap;
//! use step_posture_connector::commands::check_config;
//! use step_posture_connector::providers::Providers;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let dir = tempfile::tempdir()?;
//! let pki = step_posture_connector::pki::generate_demo_pki()?;
//! std::fs::write(dir.path().join("cert.pem"), &pki.cert_pem)?;
//! std::fs::write(dir.path().join("key.pem"), &pki.key_pem)?;
//! std::fs::write(dir.path().join("devices.csv"), "Identifier\nC02XL0GJJG5J\n")?;
//! let path = |name: &str| dir.path().join(name).display().to_string();
//! let secret = smallstep_webhook::WebhookSecret::generate()?.to_base64();
//! let vars: HashMap<String, String> = [
//!     ("PROVIDER", "file".to_owned()),
//!     ("FILE_PATH", path("devices.csv")),
//!     ("FILE_TYPE", "csv".to_owned()),
//!     ("TLS_CERT_PATH", path("cert.pem")),
//!     ("TLS_KEY_PATH", path("key.pem")),
//!     ("WEBHOOK_IDS", "d09736a5-780b-476e-abdb-e2e4c0439cf9".to_owned()),
//!     ("WEBHOOK_SECRETS", secret),
//! ]
//! .into_iter()
//! .map(|(name, value)| (name.to_owned(), value))
//! .collect();
//!
//! let summary = check_config(&vars, &Providers::builtin()).await?;
//! assert!(summary.starts_with("configuration OK\nprovider: file (ready)"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

mod activity;
mod admission;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
mod connection;
mod doctor;
mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
pub mod handler;
mod health;
mod jamf_events;
mod linger;
// Public but hidden: the load harness (bins/step-posture-load) sets its servers' log filter
// with `logging::filter_for_level`; nothing else in it is public.
#[doc(hidden)]
pub mod logging;
mod metrics;
pub mod pki;
pub mod providers;
pub mod reload;
mod scep;
pub mod server;
mod throttle;
pub mod tls;

pub use error::{Cause, ServerError};
