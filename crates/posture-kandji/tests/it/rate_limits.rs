//! Kandji's gateway limits, 50 requests a second and 10 000 an hour per tenant: kept under by
//! the client, and respected when an answer says the hour's quota is gone.

use std::sync::Arc;
use std::time::Duration;

use posture_conformance::support::transient;
use posture_core::{Decision, PostureProvider, ProviderError};
use posture_fakes::kandji::{API_TOKEN, FakeKandji, FakeKandjiDevice};
use posture_http::ClientOptions;
use posture_http::header::{HeaderMap, RETRY_AFTER};
use posture_kandji::KandjiProvider;
use serde_json::{Value, json};

use crate::support::{decide, fake, lookup, provider};

fn serials(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("C02BURST{i:04}")).collect()
}

/// Looks every serial up at once, each in its own task.
async fn burst(
    kandji_provider: &Arc<KandjiProvider>,
    serials: &[String],
) -> Vec<Result<Decision, ProviderError>> {
    let mut tasks = tokio::task::JoinSet::new();
    for serial in serials {
        let (p, serial) = (kandji_provider.clone(), serial.clone());
        tasks.spawn(async move { lookup(&*p, &serial).await });
    }
    tasks.join_all().await
}

async fn fake_with(serials: &[String], per_second: u64) -> FakeKandji {
    let kandji = fake().await;
    kandji.set_rate_limits(per_second, 10_000);
    for serial in serials {
        kandji.add_device(FakeKandjiDevice::new(serial));
    }
    kandji
}

/// A provider sending at most `per_second` requests a second, with `timeout` per lookup.
fn limited(kandji: &FakeKandji, per_second: u32, timeout: Duration) -> Arc<KandjiProvider> {
    Arc::new(provider(kandji, |c| {
        c.with_max_requests_per_second(per_second)
            .unwrap()
            .with_timeout(timeout)
            .unwrap()
    }))
}

#[tokio::test]
async fn a_burst_of_lookups_stays_within_the_per_second_limit() {
    let serials = serials(12);
    let kandji = fake_with(&serials, 5).await;
    // Room enough for the 12 to go in three seconds: the limit, not TIMEOUT, is tested.
    let kandji_provider = limited(&kandji, 5, Duration::from_secs(10));
    for outcome in burst(&kandji_provider, &serials).await {
        assert!(outcome.unwrap().is_allowed());
    }
    let stats = kandji.stats();
    assert_eq!(stats.device_requests, 12);
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert!(stats.busiest_second <= 5, "{stats:?}");
}

#[tokio::test]
async fn the_same_burst_above_the_limit_meets_kongs_429() {
    // The control for the test above: the fake does refuse a burst over its limit.
    let serials = serials(12);
    let kandji = fake_with(&serials, 5).await;
    let kandji_provider = Arc::new(provider(&kandji, |c| c));
    let refused = burst(&kandji_provider, &serials)
        .await
        .into_iter()
        .filter_map(Result::err)
        .inspect(|err| assert!(err.is_transient(), "{err}"))
        .count();
    assert!(refused >= 2, "{refused} refused");
    assert!(kandji.stats().rate_limited >= 1, "{:?}", kandji.stats());
}

#[tokio::test]
async fn a_lookup_whose_slot_is_past_its_timeout_fails_at_once_without_a_request() {
    let serials = serials(4);
    let kandji = fake_with(&serials, 50).await;
    let kandji_provider = limited(&kandji, 1, Duration::from_secs(1));
    let outcomes = burst(&kandji_provider, &serials).await;
    let mut sent = 0;
    let mut refused = 0;
    for outcome in outcomes {
        match outcome {
            Ok(decision) => {
                assert!(decision.is_allowed());
                sent += 1;
            }
            Err(err) => {
                assert!(err.is_transient(), "{err}");
                assert!(
                    err.message().starts_with(
                        "Kandji was not called: at KANDJI_MAX_REQUESTS_PER_SECOND=1 the next \
                         request slot is "
                    ),
                    "{err}"
                );
                assert!(err.retry_after().is_some(), "{err}");
                refused += 1;
            }
        }
    }
    assert!(sent >= 1 && refused >= 1, "{sent} sent, {refused} refused");
    assert_eq!(kandji.stats().device_requests, sent);
}

#[tokio::test]
async fn an_hourly_quota_used_up_stops_requests_until_it_resets() {
    let kandji = fake().await;
    kandji.set_rate_limits(50, 2);
    for serial in ["C02QUOTA0001", "C02QUOTA0002", "C02QUOTA0003"] {
        kandji.add_device(FakeKandjiDevice::new(serial));
    }
    let kandji_provider = provider(&kandji, |c| c);
    assert!(decide(&kandji_provider, "C02QUOTA0001").await.is_allowed());
    assert_eq!(kandji_provider.stats().hourly_quota_left, Some(1));
    // The last request of the hour: allowed, and its answer says none are left.
    assert!(decide(&kandji_provider, "C02QUOTA0002").await.is_allowed());
    assert_eq!(kandji_provider.stats().hourly_quota_left, Some(0));

    let err = transient(lookup(&kandji_provider, "C02QUOTA0003").await);
    assert!(
        err.message().starts_with(
            "Kandji's hourly request quota is used up (X-RateLimit-Remaining-Hour: 0); not \
             calling it for another "
        ),
        "{err}"
    );
    let left = err.retry_after().unwrap();
    assert!(
        left > Duration::ZERO && left <= Duration::from_secs(3600),
        "{left:?}"
    );
    assert!(kandji_provider.check_ready().await.is_err());
    // Nothing was sent to be refused: no 429 spent.
    let stats = kandji.stats();
    assert_eq!(stats.requests, 2, "{stats:?}");
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
}

#[tokio::test]
async fn the_fake_answers_like_kong_and_sorts_like_kandji() {
    let kandji = fake().await;
    kandji.set_rate_limits(2, 10_000);
    kandji.add_device(FakeKandjiDevice::new("C02SORT00002"));
    kandji.add_device(FakeKandjiDevice::iphone("C02SORT00003"));
    kandji.add_device(FakeKandjiDevice::new("C02SORT00001"));
    let http = ClientOptions::new(Duration::from_secs(5)).build().unwrap();
    let get = |ordering: &'static str| {
        http.get(posture_http::Url::parse(&format!("{}/api/v1/devices", kandji.url())).unwrap())
            .query(&[("serial_number", "C02SORT"), ("ordering", ordering)])
            .bearer_auth(API_TOKEN)
            .send()
    };
    let serials = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|d| d["serial_number"].as_str().unwrap().to_owned())
            .collect()
    };
    let header = |headers: &HeaderMap, name: &str| headers[name].to_str().unwrap().to_owned();

    let answer = get("serial_number").await.unwrap();
    let headers = answer.headers().clone();
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        serials(&body),
        ["C02SORT00001", "C02SORT00002", "C02SORT00003"]
    );
    for (name, value) in [
        ("x-ratelimit-limit-second", "2"),
        ("x-ratelimit-remaining-second", "1"),
        ("x-ratelimit-limit-hour", "10000"),
        ("x-ratelimit-remaining-hour", "9999"),
        ("ratelimit-limit", "2"),
        ("ratelimit-remaining", "1"),
        ("ratelimit-reset", "1"),
    ] {
        assert_eq!(header(&headers, name), value, "{name}");
    }

    // Descending, and a second field for ties (the two Macs share a platform).
    let answer = get("-platform,-serial_number").await.unwrap();
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        serials(&body),
        ["C02SORT00003", "C02SORT00002", "C02SORT00001"]
    );

    // A third request within the same second: Kong's refusal. (Should the second have
    // turned meanwhile, the requests go on until one is refused.)
    let refused = loop {
        let answer = get("serial_number").await.unwrap();
        if answer.status() == 429 {
            break answer;
        }
    };
    assert_eq!(header(refused.headers(), RETRY_AFTER.as_str()), "1");
    assert_eq!(
        header(refused.headers(), "x-ratelimit-remaining-second"),
        "0"
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body, json!({"message": "API rate limit exceeded"}));
}
