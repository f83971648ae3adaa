//! Our crates next to a crate that uses reqwest itself: its client still builds and works,
//! ours still answers, and no rustls provider is installed for the process.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use posture_core::{Decision, DeviceMode, LookupRequest, PostureProvider};
use posture_fakes::jamf::{FakeDevice, FakeJamf};
use posture_jamf::{JamfConfig, JamfProvider};
use step_posture_connector::providers::Providers;

#[tokio::test]
async fn our_crates_leave_reqwest_and_rustls_as_the_neighbour_set_them() {
    // First thing, before any of our code runs: with reqwest's `rustls-no-provider` unified
    // in and no process provider, this is where it used to panic.
    let neighbour = step_posture_neighbour::own_client();

    let jamf = FakeJamf::start().await.unwrap();
    jamf.add_computer(FakeDevice::new("C02XL0GJJG5J"));
    let vars = jamf.env_vars();
    let config = JamfConfig::from_env(|name| {
        vars.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    })
    .unwrap();
    let provider = JamfProvider::new(config).unwrap();
    let request = LookupRequest::new("C02XL0GJJG5J").with_mode(DeviceMode::Computer);
    let decision = provider.lookup(&request).await.unwrap();
    assert!(matches!(decision, Decision::Allow { .. }), "{decision:?}");

    // Every built-in provider kind is linked in; building the registry installs nothing.
    let providers = Providers::builtin();
    assert!(providers.names().len() >= 8, "{:?}", providers.names());

    // The neighbour's own reqwest still works, on its own terms.
    let connection = jamf.connection();
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        connection.client_id, connection.client_secret
    );
    let url = format!("{}/api/oauth/token", connection.base_url);
    let request = neighbour
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded");
    let response = request.body(form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let token: serde_json::Value = response.json().await.unwrap();
    assert_eq!(token["token_type"], "Bearer");

    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "our crates must not install a process-wide rustls provider"
    );
    // rustls still picks its provider from the build's features, as the neighbour expects.
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    drop(config);
}
