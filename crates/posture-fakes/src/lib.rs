//! Fake MDM servers on loopback, for the tests and benchmarks of step-posture-connector.
//!
//! Each fake listens on `127.0.0.1` over plain HTTP and speaks the documented shapes of the
//! endpoints its provider uses:
//!
//! - [`jamf::FakeJamf`]: Jamf Pro (OAuth tokens, Classic and Jamf Pro API inventory);
//! - [`intune::FakeIntune`]: the Microsoft identity platform, Microsoft Graph and Intune's
//!   SCEP validation service;
//! - [`kandji::FakeKandji`]: Kandji's device list behind its rate-limiting gateway;
//! - [`fleet::FakeFleet`]: Fleet's host lookup by identifier and host list;
//! - [`snipeit::FakeSnipeIt`]: Snipe-IT's asset lookup by serial, for the generic HTTP
//!   inventory provider.
//! - [`mosyle::FakeMosyle`]: Mosyle Manager and Mosyle Business (JWT login, device and
//!   group lists);
//! - [`addigy::FakeAddigy`]: Addigy's API v2 device search behind its rate limit.
//!
//! They share one skeleton ([`server`]), one shell ([`Fake`], in [`mdm`]: the fault
//! injection, counters, latency and conformance hooks every fake has, so that each vendor
//! module holds only its MDM's wire shapes and routes) and one vocabulary of injected
//! failures ([`Fault`], [`TokenFault`]); each is a [`posture_conformance::Upstream`] for the
//! conformance suite.
//!
//! This crate depends on none of the provider crates (they dev-depend on it), so a fake
//! hands out plain connection facts ([`jamf::JamfConnection`] and its kin) rather than a
//! provider configuration; a test builds the configuration from them.
//!
//! ```
//! use posture_fakes::jamf::{FakeDevice, FakeJamf};
//! use posture_fakes::Fault;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let jamf = FakeJamf::start().await?;
//! jamf.add_computer(FakeDevice::new("C02XL0GJJG5J").with_groups(["Compliant Macs"]));
//! jamf.fail_next(Fault::Status(503), 1);
//! let connection = jamf.connection();
//! assert!(connection.base_url.starts_with("http://127.0.0.1:"));
//! # Ok(())
//! # }
//! ```

pub mod addigy;
mod fault;
pub mod fleet;
pub mod intune;
pub mod jamf;
pub mod kandji;
pub mod mdm;
pub mod mosyle;
mod oauth;
pub mod server;
pub mod snipeit;

pub use fault::{Fault, TokenFault, Wording};
pub use mdm::Fake;
pub use server::at_once;
