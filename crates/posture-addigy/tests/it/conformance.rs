//! The conformance suite every provider runs.

use posture_conformance::assert_conforms_enrolled;
use posture_fakes::addigy::AcceptedAuth;

use crate::support::{fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_addigy_provider_conforms() {
    let addigy = fake().await;
    let addigy_provider = provider(&addigy, |c| c);
    assert_conforms_enrolled(addigy_provider, addigy, &["C02XL0GJJG5J", "DMPXK2ABCD12"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_addigy_provider_conforms_with_x_api_key_too() {
    let addigy = fake().await;
    addigy.set_auth(AcceptedAuth::ApiKey);
    let addigy_provider = provider(&addigy, |c| c);
    assert_conforms_enrolled(addigy_provider, addigy, &["C02XL0GJJG5J"]).await;
}
