//! The decision cache: hits, coalescing, TTLs, and errors never cached.

use std::sync::Arc;
use std::time::Duration;

use posture_conformance::support::transient;
use posture_core::DeviceMode;
use posture_fakes::Fault;
use posture_fakes::jamf::FakeDevice;

use crate::support::{APIS, allowed, code, decide, fake, lookup, provider};

const MAC: &str = "C02XL0GJJG5J";

#[tokio::test]
async fn a_second_lookup_is_served_from_the_cache() {
    for api in APIS {
        let jamf = fake().await;
        jamf.add_computer(FakeDevice::new(MAC));
        let jamf_provider = provider(&jamf, api, |c| c);
        assert!(allowed(&jamf_provider, MAC, DeviceMode::Computer).await);
        assert!(allowed(&jamf_provider, MAC, DeviceMode::Computer).await);
        assert_eq!(jamf.stats().lookup_requests, 1, "{api}");
        let stats = jamf_provider.stats().decisions;
        assert_eq!((stats.hits, stats.misses), (1, 1), "{api}");
        // Not-found answers are cached too (for the shorter TTL).
        decide(&jamf_provider, "C02MISSING01", DeviceMode::Computer).await;
        decide(&jamf_provider, "C02MISSING01", DeviceMode::Computer).await;
        assert_eq!(jamf.stats().lookup_requests, 2, "{api}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_of_one_serial_are_coalesced() {
    for api in APIS {
        let jamf = fake().await;
        jamf.add_computer(FakeDevice::new(MAC));
        jamf.set_latency(Duration::from_millis(100));
        // Even with caching off, lookups in flight together share one call.
        for ttl in [Duration::from_secs(60), Duration::ZERO] {
            let before = jamf.stats().lookup_requests;
            let jamf_provider = Arc::new(provider(&jamf, api, |c| c.with_cache_ttl(ttl)));
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..50 {
                let jamf_provider = jamf_provider.clone();
                tasks
                    .spawn(async move { decide(&*jamf_provider, MAC, DeviceMode::Computer).await });
            }
            while let Some(decision) = tasks.join_next().await {
                assert!(decision.unwrap().is_allowed());
            }
            assert_eq!(
                jamf.stats().lookup_requests - before,
                1,
                "{api}, ttl {ttl:?}"
            );
            assert_eq!(
                jamf_provider.stats().decisions.coalesced + jamf_provider.stats().decisions.hits,
                49
            );
        }
    }
}

#[tokio::test]
async fn errors_are_not_cached() {
    for api in APIS {
        let jamf = fake().await;
        jamf.add_computer(FakeDevice::new(MAC));
        jamf.fail_next(Fault::Status(503), 1);
        let jamf_provider = provider(&jamf, api, |c| c);
        transient(lookup(&jamf_provider, MAC, DeviceMode::Computer).await);
        assert!(
            decide(&jamf_provider, MAC, DeviceMode::Computer)
                .await
                .is_allowed(),
            "{api}"
        );
        assert_eq!(jamf.stats().lookup_requests, 2, "{api}");
        assert_eq!(jamf_provider.stats().decisions.errors, 1, "{api}");
    }
}

#[tokio::test]
async fn zero_ttls_disable_the_cache() {
    let jamf = fake().await;
    jamf.add_computer(FakeDevice::new(MAC));
    let jamf_provider = provider(&jamf, posture_jamf::JamfApi::Classic, |c| {
        c.with_cache_ttl(Duration::ZERO)
            .with_negative_cache_ttl(Duration::ZERO)
    });
    for _ in 0..3 {
        decide(&jamf_provider, MAC, DeviceMode::Computer).await;
        decide(&jamf_provider, "C02MISSING01", DeviceMode::Computer).await;
    }
    assert_eq!(jamf.stats().lookup_requests, 6);
}

#[tokio::test]
async fn positive_and_negative_ttls_are_separate() {
    let jamf = fake().await;
    jamf.add_computer(FakeDevice::new(MAC));
    let jamf_provider = provider(&jamf, posture_jamf::JamfApi::Classic, |c| {
        c.with_cache_ttl(Duration::from_secs(60))
            .with_negative_cache_ttl(Duration::from_millis(500))
    });
    assert_eq!(
        code(&decide(&jamf_provider, "C02NEWDEVICE", DeviceMode::Computer).await),
        Some("deviceNotFound")
    );
    decide(&jamf_provider, MAC, DeviceMode::Computer).await;
    assert_eq!(jamf.stats().lookup_requests, 2);

    // The device gets enrolled: seen once the negative entry expires.
    jamf.add_computer(FakeDevice::new("C02NEWDEVICE"));
    assert_eq!(
        code(&decide(&jamf_provider, "C02NEWDEVICE", DeviceMode::Computer).await),
        Some("deviceNotFound")
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(allowed(&jamf_provider, "C02NEWDEVICE", DeviceMode::Computer).await);
    decide(&jamf_provider, MAC, DeviceMode::Computer).await;
    assert_eq!(
        jamf.stats().lookup_requests,
        3,
        "the allowed MAC stayed cached"
    );

    jamf_provider.clear_cache();
    decide(&jamf_provider, MAC, DeviceMode::Computer).await;
    assert_eq!(jamf.stats().lookup_requests, 4);
}
