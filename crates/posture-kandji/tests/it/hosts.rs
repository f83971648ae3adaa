//! Kandji is now Iru: both host families, a host that has moved, and what check-config hears.

use posture_conformance::support::permanent;
use posture_core::PostureProvider;
use posture_fakes::kandji::{API_TOKEN, FakeKandjiDevice};
use posture_kandji::{KandjiConfig, KandjiProvider};

use crate::support::{decide, fake, lookup, provider};

const MAC: &str = "FVHHFKF7Q6L4";

#[tokio::test]
async fn a_host_that_moved_is_named_and_the_token_never_follows() {
    let old = fake().await;
    let new = fake().await;
    new.add_device(FakeKandjiDevice::new(MAC));
    old.set_moved(Some(new.url()));
    let moved = provider(&old, |c| c);

    let expected = format!(
        "KANDJI_API_URL ({}) redirects to {}; set KANDJI_API_URL to it (Kandji answered 301 \
         Moved Permanently to ",
        old.url(),
        new.url()
    );
    let err = permanent(moved.check_ready().await);
    assert!(err.message().starts_with(&expected), "{err}");
    let err = permanent(lookup(&moved, MAC).await);
    assert!(err.message().starts_with(&expected), "{err}");
    assert!(
        err.message().ends_with(
            "redirects are not followed, so that the API token never goes to a host it \
             wasn't configured for)"
        ),
        "{err}"
    );
    assert!(!err.message().contains(API_TOKEN), "{err}");
    assert_eq!(old.stats().requests, 2);
    // The new host never saw the token, or anything else.
    assert_eq!(new.stats().requests, 0);

    // Configured as the error says, the same lookup works.
    let config = KandjiConfig::new(&new.url(), API_TOKEN).unwrap();
    let moved_on = KandjiProvider::new(config).unwrap();
    assert!(decide(&moved_on, MAC).await.is_allowed());
}

#[tokio::test]
async fn a_redirect_on_the_same_host_points_at_the_path() {
    let kandji = fake().await;
    kandji.set_moved(Some(format!("{}/v2", kandji.url())));
    let err = permanent(lookup(&provider(&kandji, |c| c), MAC).await);
    assert_eq!(
        err.message(),
        format!(
            "KANDJI_API_URL ({}) answered 301 Moved Permanently to GET /api/v1/devices \
             (serial {MAC}), redirecting to another path on the same host; redirects are not \
             followed: KANDJI_API_URL is the tenant's API URL without a path, such as \
             https://example.api.iru.com",
            kandji.url()
        )
    );
    assert_eq!(kandji.stats().requests, 1);
}

#[test]
fn the_report_names_the_endpoint_the_rate_and_the_host_family() {
    let report = |url: &str| {
        let config = KandjiConfig::new(url, "t")
            .unwrap()
            .with_max_requests_per_second(20)
            .unwrap();
        KandjiProvider::new(config).unwrap().report()
    };
    assert_eq!(
        report("https://acme.api.iru.com"),
        [
            "devices: GET https://acme.api.iru.com/api/v1/devices (Kandji/Iru API v1), at most \
             20 requests a second",
            "host: acme.api.iru.com is an Iru host (iru.com)",
        ]
    );
    assert_eq!(
        report("https://acme.api.eu.kandji.io")[1],
        "host: acme.api.eu.kandji.io is a kandji.io host, which Iru will stop supporting: set \
         KANDJI_API_URL=https://acme.api.eu.iru.com, the same tenant's Iru host"
    );
    assert!(
        report("https://acme.clients.kandji.io")[1]
            .contains("set KANDJI_API_URL to the API URL Iru shows under Settings > Access")
    );
    assert_eq!(
        report("https://kandji-proxy.example.com")[1],
        "host: kandji-proxy.example.com is neither an Iru (iru.com) nor a Kandji (kandji.io) \
         host: a proxy or a test server"
    );
}

#[tokio::test]
async fn the_report_tells_the_hourly_quota_once_kandji_has() {
    let kandji = fake().await;
    let kandji_provider = provider(&kandji, |c| c);
    assert_eq!(kandji_provider.report().len(), 2, "nothing heard yet");
    assert_eq!(kandji_provider.stats().hourly_quota_left, None);
    kandji_provider.check_ready().await.unwrap();
    assert_eq!(
        kandji_provider.report()[2],
        "hourly quota: 9999 of 10000 requests left (X-RateLimit-Remaining-Hour)"
    );
    assert_eq!(kandji_provider.stats().hourly_quota_left, Some(9999));
}
