//! The conformance suite every provider runs.

use posture_conformance::assert_conforms_enrolled;

use crate::support::{fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intune_provider_conforms() {
    let intune = fake().await;
    let intune_provider = provider(&intune, |c| c);
    assert_conforms_enrolled(intune_provider, intune, &["C02XL0GJJG5J", "DMPXK2ABCD12"]).await;
}
