//! The OAuth token: single-flight, renewal, and the 401 retry.

use std::sync::Arc;
use std::time::Duration;

use posture_conformance::support::permanent;
use posture_core::DeviceMode;
use posture_fakes::Fault;
use posture_fakes::jamf::FakeDevice;

use crate::support::{APIS, allowed, decide, fake, lookup, provider};

fn serial(i: usize) -> String {
    format!("C02TEST{i:05}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_lookups_without_a_token_make_one_token_request() {
    for api in APIS {
        let jamf = fake().await;
        for i in 0..100 {
            jamf.add_computer(FakeDevice::new(serial(i)));
        }
        jamf.set_latency(Duration::from_millis(20));
        let jamf_provider = Arc::new(provider(&jamf, api, |c| c));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..100 {
            let jamf_provider = jamf_provider.clone();
            tasks.spawn(
                async move { decide(&*jamf_provider, &serial(i), DeviceMode::Computer).await },
            );
        }
        while let Some(decision) = tasks.join_next().await {
            assert!(decision.unwrap().is_allowed(), "{api}");
        }
        let stats = jamf.stats();
        assert_eq!(stats.token_requests, 1, "{api}");
        assert_eq!(stats.lookup_requests, 100, "{api}");
        assert_eq!(jamf_provider.stats().token.fetches, 1, "{api}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed_once() {
    let jamf = fake().await;
    for i in 0..20 {
        jamf.add_computer(FakeDevice::new(serial(i)));
    }
    jamf.set_token_lifetime(Duration::from_secs(1));
    let jamf_provider = Arc::new(provider(&jamf, posture_jamf::JamfApi::Classic, |c| c));
    assert!(allowed(&*jamf_provider, &serial(0), DeviceMode::Computer).await);
    assert_eq!(jamf.stats().token_requests, 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 1..20 {
        let jamf_provider = jamf_provider.clone();
        tasks.spawn(async move { decide(&*jamf_provider, &serial(i), DeviceMode::Computer).await });
    }
    while let Some(decision) = tasks.join_next().await {
        assert!(decision.unwrap().is_allowed());
    }
    let stats = jamf.stats();
    assert_eq!(stats.token_requests, 2, "one renewal for all 19 lookups");
    assert_eq!(stats.unauthorized, 0, "renewed before use, not after a 401");
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let jamf = fake().await;
    jamf.add_computer(FakeDevice::new(serial(0)));
    jamf.add_computer(FakeDevice::new(serial(1)));
    jamf.set_token_lifetime(Duration::from_secs(2));
    // 2 s tokens are renewed at half-life, well before the fake would refuse them.
    let jamf_provider = provider(&jamf, posture_jamf::JamfApi::Pro, |c| {
        c.with_cache_ttl(Duration::ZERO)
    });
    decide(&jamf_provider, &serial(0), DeviceMode::Computer).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    decide(&jamf_provider, &serial(1), DeviceMode::Computer).await;
    let stats = jamf.stats();
    assert_eq!(stats.token_requests, 2);
    assert_eq!(stats.unauthorized, 0);
}

#[tokio::test]
async fn a_401_mid_flight_renews_once_and_retries_once() {
    for api in APIS {
        let jamf = fake().await;
        jamf.add_computer(FakeDevice::new(serial(0)));
        jamf.add_computer(FakeDevice::new(serial(1)));
        let jamf_provider = provider(&jamf, api, |c| c);
        assert!(allowed(&jamf_provider, &serial(0), DeviceMode::Computer).await);

        // Jamf forgets the token while we still think it is good.
        jamf.revoke_tokens();
        assert!(
            decide(&jamf_provider, &serial(1), DeviceMode::Computer)
                .await
                .is_allowed(),
            "{api}"
        );
        let stats = jamf.stats();
        assert_eq!(stats.unauthorized, 1, "{api}");
        assert_eq!(stats.token_requests, 2, "{api}: one renewal");
        assert_eq!(
            stats.lookup_requests, 3,
            "{api}: the refused lookup and one retry"
        );
        let provider_stats = jamf_provider.stats();
        assert_eq!(provider_stats.retries_after_401, 1, "{api}");
        assert_eq!(provider_stats.token.invalidations, 1, "{api}");
    }
}

#[tokio::test]
async fn a_second_401_is_an_error_not_a_loop() {
    for api in APIS {
        let jamf = fake().await;
        jamf.add_computer(FakeDevice::new(serial(0)));
        jamf.set_fault(Some(Fault::Status(401)));
        let jamf_provider = provider(&jamf, api, |c| c);
        let err = permanent(lookup(&jamf_provider, &serial(0), DeviceMode::Computer).await);
        assert!(
            err.to_string().contains("refused a freshly issued token"),
            "{api}: {err}"
        );
        let stats = jamf.stats();
        assert_eq!(stats.token_requests, 2, "{api}");
        assert_eq!(stats.lookup_requests, 2, "{api}");
    }
}
