//! Helpers shared by the test modules.

use std::time::Duration;

use posture_addigy::{AddigyConfig, AddigyProvider};
pub(crate) use posture_conformance::support::{decide, deny_code as code, lookup};
use posture_fakes::addigy::{FakeAddigy, FakeAddigyDevice};

pub(crate) async fn fake() -> FakeAddigy {
    FakeAddigy::start().await.unwrap()
}

/// A configuration pointing at the fake, with every default.
pub(crate) fn config(addigy: &FakeAddigy) -> AddigyConfig {
    let c = addigy.connection();
    AddigyConfig::new(&c.api_url, c.api_token).unwrap()
}

pub(crate) fn provider(
    addigy: &FakeAddigy,
    tune: impl FnOnce(AddigyConfig) -> AddigyConfig,
) -> AddigyProvider {
    AddigyProvider::new(tune(config(addigy))).unwrap()
}

/// Addigy's limit of 1,000 requests per 10 s scaled down: a fake that blocks the key past 30
/// per 10 s, listing a device for each of `serials`.
pub(crate) async fn scaled_down(serials: impl IntoIterator<Item = String>) -> FakeAddigy {
    let addigy = fake().await;
    addigy.set_rate_limit(30);
    for serial in serials {
        addigy.add_device(FakeAddigyDevice::new(serial));
    }
    addigy
}

/// `config` sending at most `per_second` requests a second, each lookup within `timeout`.
pub(crate) fn paced(config: AddigyConfig, per_second: u32, timeout: Duration) -> AddigyConfig {
    config
        .with_max_requests_per_second(per_second)
        .unwrap()
        .map_common(|s| s.with_timeout(timeout).unwrap())
}

/// Panics if `addigy` refused a request for its rate limit, or blocked the key.
#[track_caller]
pub(crate) fn assert_never_blocked(addigy: &FakeAddigy) {
    let stats = addigy.stats();
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert!(!stats.blocked);
}
