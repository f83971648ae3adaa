//! Errors, the token's two headers, and the rate limit.

use std::sync::Arc;
use std::time::Duration;

use posture_addigy::AuthStyle;
use posture_core::LookupRequest;
use posture_fakes::Fault;
use posture_fakes::addigy::{AcceptedAuth, FakeAddigyDevice};

use crate::support::{assert_never_blocked, decide, fake, lookup, paced, provider, scaled_down};
use posture_conformance::backoff;
use posture_conformance::support::{assert_reported, permanent, refused_readiness, transient};

#[tokio::test]
async fn a_401_to_the_bearer_form_falls_back_to_x_api_key_once_and_remembers() {
    let addigy = fake().await;
    addigy.set_auth(AcceptedAuth::ApiKey);
    addigy.add_device(FakeAddigyDevice::new("C02XL0GJJG5J"));
    let p = provider(&addigy, |c| c);
    assert_eq!(p.auth_style(), AuthStyle::Bearer);
    assert!(decide(&p, "C02XL0GJJG5J").await.is_allowed());
    assert_eq!(p.auth_style(), AuthStyle::ApiKey);
    assert_eq!(addigy.stats().unauthorized, 1);
    assert!(decide(&p, "C02OTHER0001").await.deny_code().is_some());
    assert_eq!(addigy.stats().unauthorized, 1, "the working style is kept");
    assert_eq!(p.stats().auth_fallbacks, 1);
    assert_reported(&p, "token sent as x-api-key");
    // And back, if the key's style changes again.
    addigy.set_auth(AcceptedAuth::Bearer);
    assert!(lookup(&p, "C02THIRD0001").await.is_ok());
    assert_eq!(p.auth_style(), AuthStyle::Bearer);
}

#[tokio::test]
async fn a_token_refused_both_ways_is_permanent_and_named() {
    let addigy = fake().await;
    let c = addigy.connection();
    let config = posture_addigy::AddigyConfig::new(&c.api_url, "wrong-token").unwrap();
    let p = posture_addigy::AddigyProvider::new(config).unwrap();
    let message = refused_readiness(&p).await;
    assert!(message.contains("refused ADDIGY_API_TOKEN"), "{message}");
    assert!(
        message.contains("as Authorization: Bearer and as x-api-key"),
        "{message}"
    );
    assert!(!message.contains("wrong-token"), "{message}");
    assert_eq!(addigy.stats().unauthorized, 2, "one fallback, not more");
}

#[tokio::test]
async fn transient_answers_and_malformed_ones() {
    let addigy = fake().await;
    let p = provider(&addigy, |c| {
        c.map_common(|s| s.with_max_retry_after(Duration::from_secs(2)).unwrap())
    });
    addigy.fail_next(Fault::Status(500), 1);
    assert!(lookup(&p, "C02XL0GJJG5J").await.unwrap_err().is_transient());
    for fault in [Fault::Garbage, Fault::WrongShape] {
        addigy.fail_next(fault.clone(), 1);
        permanent(lookup(&p, "C02XL0GJJG5J").await);
    }
    let request = LookupRequest::new("C02XL0GJJG5J");
    // ADDIGY_MAX_RETRY_AFTER honoured.
    let err =
        backoff::an_hour_asked_for_is_capped(&p, &addigy, &request, Duration::from_secs(2)).await;
    assert!(err.to_string().contains("blocks a key"), "{err}");
}

#[tokio::test]
async fn a_wrong_url_is_named() {
    let addigy = fake().await;
    let c = addigy.connection();
    let url = format!("{}/elsewhere/api/v3", c.api_url);
    let config = posture_addigy::AddigyConfig::new(&url, c.api_token).unwrap();
    let text = refused_readiness(&posture_addigy::AddigyProvider::new(config).unwrap()).await;
    assert!(text.contains("does not look like Addigy's API"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_stay_within_the_client_side_limit_and_never_get_the_key_blocked() {
    // The provider sends at most 2 a second (about 20 per 10 s).
    let addigy = scaled_down((0..10).map(|i| format!("C02BURST{i:04}"))).await;
    let p = Arc::new(provider(&addigy, |c| paced(c, 2, Duration::from_secs(10))));
    let started = tokio::time::Instant::now();
    let results = posture_fakes::at_once(10, |i| {
        let p = p.clone();
        async move { lookup(&*p, &format!("C02BURST{i:04}")).await }
    })
    .await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|d| d.is_allowed())),
        "{results:?}"
    );
    // Ten requests at two per 1.1 s take at least 4 windows.
    assert!(
        started.elapsed() >= Duration::from_millis(4400),
        "{:?}",
        started.elapsed()
    );
    assert_never_blocked(&addigy);
    // A lookup whose slot would come after TIMEOUT fails at once, without a request.
    let tight = provider(&addigy, |c| paced(c, 1, Duration::from_secs(1)));
    assert!(lookup(&tight, "C02BURST0001").await.is_ok());
    let before = addigy.stats().requests;
    let err = transient(lookup(&tight, "C02BURST0002").await);
    assert!(
        err.to_string().contains("ADDIGY_MAX_REQUESTS_PER_SECOND=1"),
        "{err}"
    );
    assert_eq!(addigy.stats().requests, before);
}
