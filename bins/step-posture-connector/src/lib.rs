//! The step-posture-connector server: a step-ca webhook that allows device certificates
//! only for devices a provider (an inventory file, Jamf Pro) knows and deems compliant.
//!
//! The binary is a thin shell over this library, so every part can be tested without a
//! socket: [`config`] parses the environment, [`handler`] answers requests, [`server`]
//! runs the HTTPS loop, [`commands`] implements the subcommands.

mod activity;
mod admission;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
mod connection;
pub mod doctor;
pub mod handler;
pub mod health;
mod linger;
pub mod logging;
pub mod metrics;
pub mod pki;
pub mod providers;
pub mod reload;
pub mod scep;
pub mod server;
pub mod throttle;
pub mod tls;
