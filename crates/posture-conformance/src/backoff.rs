//! How a provider keeps quiet toward a failing or throttling MDM, as scenarios the providers
//! run against their fakes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use posture_core::{LookupRequest, PostureProvider, ProviderError};
use tokio::task::JoinSet;

use crate::support::{answer, transient};
use crate::{Fault, Upstream};

/// Runs `n` readiness checks of `provider` at once; panics unless every one fails with a
/// transient error.
///
/// ```
/// use std::sync::Arc;
/// use posture_conformance::backoff::all_unready;
/// use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
///
/// #[derive(Debug)]
/// struct Down;
/// impl PostureProvider for Down {
///     fn name(&self) -> &str { "down" }
///     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
///         Err(ProviderError::transient("down"))
///     }
///     async fn check_ready(&self) -> Result<(), ProviderError> {
///         Err(ProviderError::transient("down"))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// all_unready(&Arc::new(Down), 50).await;
/// # }
/// ```
pub async fn all_unready<P: PostureProvider + 'static>(provider: &Arc<P>, n: usize) {
    let mut checks = JoinSet::new();
    for _ in 0..n {
        let provider = provider.clone();
        checks.spawn(async move { provider.check_ready().await });
    }
    for outcome in checks.join_all().await {
        transient(outcome);
    }
}

/// A 429 with `Retry-After: <retry_after_secs>` is a transient error carrying the delay the
/// provider honours, and until that delay has passed a lookup is a transient error carrying
/// the time left, without a request reaching `upstream`.
///
/// `limited` meets the 429; `waiting` asks once `upstream` has healed. Returns the 429's
/// error, for the provider's own checks of the delay (the one asked for, or its cap) and of
/// its wording.
pub async fn a_retry_after_is_honoured_without_a_request<P: PostureProvider>(
    provider: &P,
    upstream: &dyn Upstream,
    retry_after_secs: u64,
    limited: &LookupRequest,
    waiting: &LookupRequest,
) -> ProviderError {
    upstream.inject(Fault::RateLimited { retry_after_secs });
    let err = transient(provider.lookup(limited).await);
    upstream.heal();
    let Some(honoured) = err.retry_after() else {
        panic!("the 429's error carries no delay: {err}");
    };
    let sent = upstream.requests();
    let left = transient(provider.lookup(waiting).await);
    assert!(
        left.retry_after().is_some_and(|left| left <= honoured),
        "within the delay of {honoured:?}: {left:?}"
    );
    assert_eq!(upstream.requests(), sent, "a request within the delay");
    err
}

/// A 429 asking for an hour (`Retry-After: 3600`) is honoured for `cap` at the most, the
/// provider's `…_MAX_RETRY_AFTER`, and keeps requests from `upstream` meanwhile, as
/// [`a_retry_after_is_honoured_without_a_request`] checks with `request` both meeting the
/// 429 and asking within the delay. Returns the 429's error, for the provider's checks of
/// its wording.
pub async fn an_hour_asked_for_is_capped<P: PostureProvider>(
    provider: &P,
    upstream: &dyn Upstream,
    request: &LookupRequest,
    cap: Duration,
) -> ProviderError {
    let err =
        a_retry_after_is_honoured_without_a_request(provider, upstream, 3600, request, request)
            .await;
    assert!(
        err.retry_after().is_some_and(|honoured| honoured <= cap),
        "an hour asked for, {cap:?} at the most honoured: {err:?}"
    );
    err
}

/// One `Retry-After: 3600` must not lock the MDM out for an hour: the delay honoured is
/// capped, and when it ends one lookup probes while the others fail fast until its answer
/// arrives, instead of all of them reaching the MDM at once.
///
/// `provider` caps `Retry-After` at 1 s; the scenario enrols twenty devices in `upstream`
/// ([`Upstream::enrol`]) and asks for each as `request` words it; it gives `upstream` a
/// latency of 300 ms, so that the probe is still in flight when the others ask.
pub async fn a_retry_after_of_an_hour_is_capped_and_one_probe_goes_when_it_ends<P>(
    provider: Arc<P>,
    upstream: &dyn Upstream,
    request: impl Fn(String) -> LookupRequest,
) where
    P: PostureProvider + 'static,
{
    let requests: Vec<LookupRequest> = (0..20)
        .map(|i| {
            let serial = format!("C02BACK{i:05}");
            upstream.enrol(&serial);
            request(serial)
        })
        .collect();
    upstream.inject(Fault::RateLimited {
        retry_after_secs: 3600,
    });
    let limited_at = Instant::now();
    let err = transient(provider.lookup(&requests[0]).await);
    upstream.heal();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)), "{err}");
    let sent = upstream.requests();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = transient(provider.lookup(&requests[1]).await);
    assert!(err.to_string().contains("Retry-After"), "{err}");
    assert_eq!(upstream.requests(), sent, "called within the delay");

    upstream.set_latency(Duration::from_millis(300));
    let ends = limited_at + Duration::from_millis(1050);
    tokio::time::sleep(ends.saturating_duration_since(Instant::now())).await;
    let mut lookups = JoinSet::new();
    for request in &requests {
        let (provider, request) = (provider.clone(), request.clone());
        lookups.spawn(async move { provider.lookup(&request).await });
    }
    let mut probes = 0;
    for outcome in lookups.join_all().await {
        match outcome {
            Ok(decision) => {
                assert!(decision.is_allowed(), "{decision:?}");
                probes += 1;
            }
            Err(err) => assert!(is_fast_failure(&err), "{err}"),
        }
    }
    assert_eq!(probes, 1, "exactly one probe when the delay ends");
    assert_eq!(upstream.requests(), sent + 1);
    // Its answer opened the way for everyone.
    assert!(answer(provider.as_ref(), &requests[1]).await.is_allowed());
}

fn is_fast_failure(err: &ProviderError) -> bool {
    err.to_string().contains("one request is checking")
}
