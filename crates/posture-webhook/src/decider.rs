//! The decision pipeline.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use posture_core::{Decision, DenyCode, DeviceMode, DynPostureProvider, LookupRequest};
use smallstep_webhook::{DeviceAttestRequest, Verifier, WebhookHeaders};

use crate::answer::{Answer, Outcome, claimed_webhook_id, request_id};
use crate::rules::{device_attest_request, mode_from_query};

/// The largest body [`Decider`] accepts by default: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// What a provider lookup came to, for [`LookupObserver`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum LookupResult {
    /// The provider allowed the device.
    Allow,
    /// The provider denied the device.
    Deny,
    /// The provider failed.
    Error,
    /// The deadline passed first, or the request was dropped.
    Cancelled,
}

/// Watches provider lookups, for metrics: the one part of a decision an [`Answer`] does
/// not carry. Everything else is in the answer's [`AuditRecord`](crate::AuditRecord).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use posture_webhook::{LookupObserver, LookupResult};
///
/// #[derive(Debug, Default)]
/// struct Count(AtomicUsize);
/// impl LookupObserver for Count {
///     fn lookup_finished(&self, _: &str, _: LookupResult, _: Duration) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait LookupObserver: Send + Sync + fmt::Debug {
    /// A lookup by `provider` ended with `result` after `elapsed`. Called exactly once per
    /// lookup, also when it is cancelled (then from a destructor: keep it cheap).
    fn lookup_finished(&self, provider: &str, result: LookupResult, elapsed: Duration);
}

/// Decides device-attest webhook requests: cap, verify, the device-attest rules, the mode
/// from the query, the provider under a deadline, and the answer.
///
/// Framework-neutral: give it the step-ca headers ([`WebhookHeaders`], from an `http` 1
/// `HeaderMap` or any other header type), the query string and the body bytes, and send
/// back [`Answer::to_response`] (or its status, body and `Retry-After`). Log or count
/// [`Answer::record`]. Cloning is cheap (a few `Arc`s).
///
/// With hyper 1 (any server built on `http` 1 works the same way):
///
/// ```
/// use std::{convert::Infallible, sync::Arc, time::Duration};
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full, Limited};
/// use hyper::{Request, Response, StatusCode};
/// use posture_webhook::{Answer, Decider};
/// # use posture_webhook::posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
/// # use posture_webhook::smallstep_webhook::{RequestBody, Signer, Verifier, WebhookSecret};
/// # #[derive(Debug)] struct Inventory;
/// # impl PostureProvider for Inventory {
/// #     fn name(&self) -> &str { "inventory" }
/// #     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> { Ok(Decision::allow()) }
/// # }
///
/// async fn webhook<B>(decider: Arc<Decider>, request: Request<B>) -> Result<Response<Bytes>, Infallible>
/// where
///     B: hyper::body::Body<Data = Bytes>,
///     B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
/// {
///     let (parts, body) = request.into_parts();
///     // Cap the body while reading it (an unreadable one is refused the same way here).
///     let Ok(body) = Limited::new(body, decider.max_body_bytes()).collect().await else {
///         return Ok(Answer::too_large(decider.max_body_bytes()).to_response());
///     };
///     let headers = (&parts.headers).into();
///     let answer = decider.decide(headers, parts.uri.query(), &body.to_bytes()).await;
///     let record = answer.record();
///     println!("{} {:?} {}", record.outcome.as_str(), record.identifier, record.reason);
///     Ok(answer.to_response())
/// }
/// // Serve it with `hyper::service::service_fn(move |r| webhook(decider.clone(), r))`.
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let secret = WebhookSecret::generate()?;
/// # let verifier = Verifier::builder().webhook("id-1", &secret.to_base64()).build()?;
/// let decider = Arc::new(Decider::new(verifier, Arc::new(Inventory), Duration::from_secs(4)));
/// # let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", std::time::SystemTime::now().into());
/// # let signed = Signer::new("id-1", secret)?.sign_body(&body);
/// # let mut request = Request::post("/webhook/device-attest?mode=computer").body(Full::new(Bytes::from(signed.body)))?;
/// # *request.headers_mut() = signed.headers;
/// let response = webhook(decider, request).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(&response.body()[..], br#"{"allow":true}"#);
/// # Ok(()) }
/// ```
///
/// With axum 0.8:
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use axum::{Router, body::Bytes, extract::{RawQuery, State}, http::{HeaderMap, Response}, routing::post};
/// use posture_webhook::Decider;
/// # use posture_webhook::posture_core::{Decision, DenyCode, LookupRequest, PostureProvider, ProviderError};
/// # use posture_webhook::smallstep_webhook::{RequestBody, Signer, Verifier, WebhookSecret};
/// # #[derive(Debug)] struct Inventory;
/// # impl PostureProvider for Inventory {
/// #     fn name(&self) -> &str { "inventory" }
/// #     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
/// #         Ok(Decision::deny(DenyCode::DEVICE_NOT_FOUND, "unknown device"))
/// #     }
/// # }
///
/// async fn webhook(
///     State(decider): State<Arc<Decider>>,
///     RawQuery(query): RawQuery,
///     headers: HeaderMap,
///     body: Bytes, // capped by axum's DefaultBodyLimit (2 MB) unless you set it
/// ) -> Response<axum::body::Body> {
///     let answer = decider.decide((&headers).into(), query.as_deref(), &body).await;
///     answer.to_response().map(axum::body::Body::from)
/// }
///
/// fn router(decider: Decider) -> Router {
///     Router::new()
///         .route("/webhook/device-attest", post(webhook))
///         .with_state(Arc::new(decider))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let secret = WebhookSecret::generate()?;
/// # let verifier = Verifier::builder().webhook("id-1", &secret.to_base64()).build()?;
/// let decider = Decider::new(verifier, Arc::new(Inventory), Duration::from_secs(4));
/// let _app = router(decider.clone()); // serve with axum::serve(listener, app)
/// # let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", std::time::SystemTime::now().into());
/// # let signed = Signer::new("id-1", secret)?.sign_body(&body);
/// let response = webhook(State(Arc::new(decider)), RawQuery(None), signed.headers, signed.body.into()).await;
/// assert_eq!(response.status(), 200); // a deny is a 200, so step-ca shows its reason
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Decider {
    verifier: Arc<Verifier>,
    provider: Arc<dyn DynPostureProvider>,
    provider_name: Arc<str>,
    timeout: Duration,
    max_body_bytes: usize,
    observer: Option<Arc<dyn LookupObserver>>,
}

impl fmt::Debug for Decider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decider")
            .field("verifier", &self.verifier)
            .field("provider", &self.provider_name)
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl Decider {
    /// A decider that authenticates with `verifier` and asks `provider`, answering within
    /// `timeout` of each call to [`Decider::decide`] (`503` otherwise, so step-ca retries
    /// once; keep it at or under 4 s so both attempts fit step-ca's 10 s budget).
    pub fn new(
        verifier: impl Into<Arc<Verifier>>,
        provider: Arc<dyn DynPostureProvider>,
        timeout: Duration,
    ) -> Self {
        Self {
            verifier: verifier.into(),
            provider_name: Arc::from(provider.name()),
            provider,
            timeout,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            observer: None,
        }
    }

    /// The same decider with another verifier, for instance one reloaded with new
    /// webhook secrets.
    #[must_use]
    pub fn with_verifier(&self, verifier: impl Into<Arc<Verifier>>) -> Self {
        Self {
            verifier: verifier.into(),
            ..self.clone()
        }
    }

    /// The largest body accepted (default [`DEFAULT_MAX_BODY_BYTES`]); a larger one is
    /// answered `413`. Cap the body while reading it too, with [`Decider::max_body_bytes`].
    #[must_use]
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// The deadline each call to [`Decider::decide`] gets.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reports every provider lookup to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn LookupObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The largest body accepted.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The deadline each call gets.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The verifier.
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn DynPostureProvider> {
        &self.provider
    }

    /// Decides one device-attest request within [`Decider::timeout`] from now. See
    /// [`Decider::decide_until`].
    pub async fn decide(
        &self,
        headers: WebhookHeaders<'_>,
        query: Option<&str>,
        body: &[u8],
    ) -> Answer {
        let deadline = tokio::time::Instant::now() + self.timeout;
        self.decide_until(headers, query, body, deadline).await
    }

    /// Decides one device-attest request, answering by `deadline`.
    ///
    /// In order, each step answering at once if it fails:
    /// 1. a body over [`Decider::max_body_bytes`]: `413 {"allow":false}`;
    /// 2. verification ([`Verifier::verify_device_attest_parts_at`]): a failure is
    ///    `401 {"allow":false}` with [`Answer::verify_error`] set; an authentic body that
    ///    is not a step-ca request is a `badRequest` deny;
    /// 3. the query's `mode` ([`mode_from_query`]): an unknown one is an `invalidMode`
    ///    deny;
    /// 4. the device-attest rules ([`device_attest_request`]);
    /// 5. the provider ([`Decider::lookup_until`]).
    ///
    /// The record gets the request and webhook IDs from `headers`, and, from step 4 on,
    /// the identifier, provisioner and mode.
    pub async fn decide_until(
        &self,
        headers: WebhookHeaders<'_>,
        query: Option<&str>,
        body: &[u8],
        deadline: tokio::time::Instant,
    ) -> Answer {
        let started = Instant::now();
        let mut answer = match self.admit(headers, query, body) {
            Ok((verified, mode)) => self.decide_admitted(&verified, mode, deadline).await,
            Err(refusal) => *refusal,
        };
        let record = answer.record_mut();
        record.request_id = request_id(&headers);
        record.webhook_id = claimed_webhook_id(&headers);
        record.provider = self.provider_name.clone();
        record.duration = started.elapsed();
        answer
    }

    /// Steps 1 to 3 of [`Decider::decide_until`]: the checks that need no provider, and so
    /// no await. `Err` is the answer of the first that fails.
    fn admit(
        &self,
        headers: WebhookHeaders<'_>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<(DeviceAttestRequest, DeviceMode), Box<Answer>> {
        if body.len() > self.max_body_bytes {
            return Err(Box::new(Answer::too_large(self.max_body_bytes)));
        }
        // Nothing about the body is trusted before the HMAC checks. Only the members a
        // decision reads are parsed.
        let verified = self
            .verifier
            .verify_device_attest_parts_at(headers, body, std::time::SystemTime::now())
            .map_err(|err| {
                Box::new(if err.is_malformed_body() {
                    Answer::deny(
                        DenyCode::BAD_REQUEST,
                        format!("the request is not a step-ca webhook body: {err}"),
                    )
                } else {
                    Answer::unauthorized(err)
                })
            })?;
        // The query is not covered by the HMAC, so it is read only now, and only chooses
        // which inventory to ask; the identifier always comes from the signed body.
        let mode = mode_from_query(query)
            .map_err(|bad| Box::new(Answer::deny(DenyCode::INVALID_MODE, bad.to_string())))?;
        Ok((verified, mode))
    }

    /// Steps 4 and 5 of [`Decider::decide_until`], for a verified body.
    async fn decide_admitted(
        &self,
        verified: &DeviceAttestRequest,
        mode: DeviceMode,
        deadline: tokio::time::Instant,
    ) -> Answer {
        let mut answer = match device_attest_request(verified) {
            Ok(request) => self.lookup_until(&request.with_mode(mode), deadline).await,
            Err(deny) => *deny,
        };
        let record = answer.record_mut();
        record.identifier = verified.permanent_identifier().map(str::to_owned);
        record.provisioner = verified.provisioner_name().map(str::to_owned);
        record.mode = mode;
        answer
    }

    /// Asks the provider about `request` by `deadline`, and maps what it says: see
    /// [`Decider::lookup`]. Past the deadline: [`Answer::deadline`].
    pub async fn lookup_until(
        &self,
        request: &LookupRequest,
        deadline: tokio::time::Instant,
    ) -> Answer {
        match tokio::time::timeout_at(deadline, self.lookup(request)).await {
            Ok(answer) => answer,
            Err(_) => about(Answer::deadline(self.timeout), request),
        }
    }

    /// Asks the provider about `request`, without a deadline of its own, and maps what it
    /// says:
    ///
    /// | provider says | answer |
    /// |---|---|
    /// | allow | `200 {"allow":true}`, with its enrichment as `data` |
    /// | deny | `200` with its code and message |
    /// | transient error | `503 {"allow":false}` (step-ca retries once), with its `Retry-After` if it gave one |
    /// | permanent error | `200` `providerError` deny: fail closed, details only in the record |
    ///
    /// The record gets the request's identifier, provisioner and mode, and the provider's
    /// name; the [`LookupObserver`] hears of the lookup.
    pub async fn lookup(&self, request: &LookupRequest) -> Answer {
        let timer = LookupTimer {
            observer: self.observer.as_deref(),
            provider: &self.provider_name,
            started: Instant::now(),
            done: false,
        };
        let result = self.provider.lookup_boxed(request).await;
        timer.finish(match &result {
            Ok(Decision::Allow { .. }) => LookupResult::Allow,
            Ok(Decision::Deny { .. }) => LookupResult::Deny,
            _ => LookupResult::Error,
        });
        let mut answer = match result {
            Ok(Decision::Allow { enrichment }) => Answer::allow(enrichment.as_ref()),
            Ok(Decision::Deny { code, message }) => Answer::deny(code, message),
            Ok(other) => Answer::deny(
                DenyCode::PROVIDER_ERROR,
                format!(
                    "the provider returned a decision this server does not understand: {other:?}"
                ),
            ),
            Err(err) if err.is_transient() => {
                // 503 makes step-ca retry once, a second later.
                let answer = Answer::refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Outcome::Error,
                    format!("transient provider error: {}", error_chain(&err)),
                );
                match err.retry_after() {
                    Some(retry_after) => answer.with_retry_after(retry_after),
                    None => answer,
                }
            }
            Err(err) => {
                // Fail closed, and say so to the device without exposing internals.
                let mut answer = Answer::deny(
                    DenyCode::PROVIDER_ERROR,
                    "the device inventory could not be checked",
                );
                answer.record_mut().reason = format!("provider error: {}", error_chain(&err));
                answer
            }
        };
        answer.record_mut().provider = self.provider_name.clone();
        about(answer, request)
    }
}

/// `answer`, its record naming the identifier, provisioner and mode of `request`.
fn about(mut answer: Answer, request: &LookupRequest) -> Answer {
    let record = answer.record_mut();
    record.identifier = Some(request.identifier().to_owned());
    record.provisioner = request.provisioner().map(str::to_owned);
    record.mode = request.mode();
    answer
}

/// Reports one lookup to the observer, as [`LookupResult::Cancelled`] if dropped
/// unfinished.
struct LookupTimer<'a> {
    observer: Option<&'a dyn LookupObserver>,
    provider: &'a str,
    started: Instant,
    done: bool,
}

impl LookupTimer<'_> {
    fn finish(mut self, result: LookupResult) {
        self.done = true;
        if let Some(observer) = self.observer {
            observer.lookup_finished(self.provider, result, self.started.elapsed());
        }
    }
}

impl Drop for LookupTimer<'_> {
    fn drop(&mut self) {
        if !self.done
            && let Some(observer) = self.observer
        {
            observer.lookup_finished(
                self.provider,
                LookupResult::Cancelled,
                self.started.elapsed(),
            );
        }
    }
}

/// An error and its sources, joined by `": "`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
