//! `/readyz` needs no authentication, so whoever reaches the port can call it as often as
//! they like: the real server must not turn that into MDM requests while the MDM fails.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use posture_fakes::TokenFault;
use posture_fakes::jamf::{FakeDevice, FakeJamf};
use tokio::task::JoinSet;

use crate::against;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_hammered_while_jamf_fails_makes_at_most_a_couple_of_jamf_calls() {
    let jamf = FakeJamf::start().await.unwrap();
    jamf.add_mobile_device(FakeDevice::new("DMPXK2ABCD12"));
    // Tokens that expire within a second, so that each probe must ask Jamf for one: the
    // readiness check's only part that isn't trusted for a minute after start-up.
    jamf.set_token_lifetime(Duration::from_secs(1));
    let d = against(&jamf.env_vars(), &[("PROVIDER", "jamf")]).await;

    jamf.set_token_fault(Some(TokenFault::Status(500)));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = jamf.stats();
    // 300 probes from 20 clients at once, each sending its next as soon as one is answered.
    let mut clients = JoinSet::new();
    for _ in 0..20 {
        let (client, url) = (d.client.clone(), d.server.url("/readyz"));
        clients.spawn(async move {
            for _ in 0..15 {
                let (status, _) = client
                    .send(Method::GET, &url, &HeaderMap::new(), "")
                    .await
                    .unwrap();
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            }
        });
    }
    clients.join_all().await;
    let after = jamf.stats();
    let calls = (after.token_requests - before.token_requests)
        + (after.lookup_requests - before.lookup_requests);
    assert!(
        (1..=2).contains(&calls),
        "{calls} Jamf requests for 300 probes"
    );
    d.server.stop().await;
}
