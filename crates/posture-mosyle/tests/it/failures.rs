//! Errors: refused credentials, transient answers, malformed bodies.

use std::time::Duration;

use posture_conformance::backoff;
use posture_conformance::support::{assert_reported, permanent, refused_readiness, transient};
use posture_core::{DeviceMode, LookupRequest, PostureProvider};
use posture_fakes::Fault;
use posture_fakes::mosyle::{FakeMosyle, FakeMosyleDevice};
use posture_mosyle::{MosyleConfig, MosyleProvider};

use crate::support::{fake, lookup, provider};

#[tokio::test]
async fn refused_credentials_are_permanent_and_named() {
    let mosyle = fake().await;
    let c = mosyle.connection();
    let config =
        MosyleConfig::new(&c.manager_url, c.access_token, c.email, "wrong-password").unwrap();
    let p = MosyleProvider::new(config).unwrap();
    let message = refused_readiness(&p).await;
    assert!(
        message.contains("refused the login of MOSYLE_EMAIL"),
        "{message}"
    );
    assert!(!message.contains("wrong-password"), "{message}");
    permanent(lookup(&p, "C02XL0GJJG5J", DeviceMode::Computer).await);
}

#[tokio::test]
async fn ready_means_logged_in() {
    let mosyle = fake().await;
    let p = provider(&mosyle, |c| c);
    p.check_ready().await.unwrap();
    p.check_ready().await.unwrap();
    assert_eq!(mosyle.stats().logins, 1);
    assert_reported(&p, "/v2/listdevices (Mosyle Manager)");
}

/// A Mosyle listing one Mac, C02XL0GJJG5J, and a provider honouring a `Retry-After` for at
/// most `secs` (`MOSYLE_MAX_RETRY_AFTER`).
async fn capped_at(secs: u64) -> (FakeMosyle, MosyleProvider) {
    let mosyle = fake().await;
    mosyle.add_device(FakeMosyleDevice::new("C02XL0GJJG5J"));
    let p = provider(&mosyle, |c| {
        c.map_common(|s| s.with_max_retry_after(Duration::from_secs(secs)).unwrap())
    });
    (mosyle, p)
}

#[tokio::test]
async fn transient_answers_are_transient_and_retry_after_is_honoured() {
    let (mosyle, p) = capped_at(2).await;
    mosyle.fail_next(Fault::Status(502), 1);
    transient(lookup(&p, "C02XL0GJJG5J", DeviceMode::Computer).await);
    let request = LookupRequest::new("C02XL0GJJG5J").with_mode(DeviceMode::Computer);
    // MOSYLE_MAX_RETRY_AFTER honoured.
    backoff::an_hour_asked_for_is_capped(&p, &mosyle, &request, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_login_needed_by_the_probe_after_a_retry_after_goes_through() {
    let (mosyle, p) = capped_at(1).await;
    p.check_ready().await.unwrap();
    mosyle.fail_next(
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    transient(lookup(&p, "C02XL0GJJG5J", DeviceMode::Computer).await);
    // The JWT is refused once the wait is over: the probe request logs in again within its
    // own turn, and must not find itself in the way.
    mosyle.expire_tokens();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let decision = lookup(&p, "C02XL0GJJG5J", DeviceMode::Computer)
        .await
        .unwrap();
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(mosyle.stats().logins, 2);
}

#[tokio::test]
async fn malformed_answers_are_permanent() {
    let mosyle = fake().await;
    let p = provider(&mosyle, |c| c);
    for fault in [Fault::Garbage, Fault::WrongShape] {
        mosyle.fail_next(fault.clone(), 1);
        permanent(lookup(&p, "C02XL0GJJG5J", DeviceMode::Computer).await);
    }
}

#[tokio::test]
async fn a_wrong_url_is_named() {
    let mosyle = fake().await;
    let c = mosyle.connection();
    let url = c.manager_url.replace("/v2", "/v9");
    let config = MosyleConfig::new(&url, c.access_token, c.email, c.password).unwrap();
    let text = refused_readiness(&MosyleProvider::new(config).unwrap()).await;
    assert!(text.contains("does not look like Mosyle's API"), "{text}");
}

#[tokio::test]
async fn a_hanging_mosyle_times_out_transiently() {
    let mosyle = fake().await;
    let p = provider(&mosyle, |c| {
        c.map_common(|s| s.with_timeout(Duration::from_secs(1)).unwrap())
    });
    p.check_ready().await.unwrap();
    mosyle.set_fault(Some(Fault::Hang));
    transient(lookup(&p, "C02XL0GJJG5J", DeviceMode::Computer).await);
}
