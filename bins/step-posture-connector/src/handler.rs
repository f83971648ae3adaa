//! The webhook handler: a plain async function from a request to a response, so tests call
//! it without a socket.
//!
//! Order of work for `POST /webhook/device-attest`, fixed because it is the security
//! boundary: cap the body, authenticate (headers, HMAC, optional `Authorization`), and only
//! then parse; check the device-attest rules; ask the provider under a deadline.
//!
//! A failed authentication is counted against the client's address (when the server
//! throttles them, `AUTH_FAILURE_LIMIT`); past its allowance it is answered `429` after a
//! short hold. Every authenticated request gets its decision line; refused ones are
//! summarised when they come fast.
//!
//! [`App`] holds what requests share; [`handle`] answers one request, so an [`App`] can be
//! served by [`crate::server::serve`] or by any hyper-compatible loop of your own.

use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use posture_core::{DenyCode, DeviceMode, DynPostureProvider, LookupRequest};
use posture_webhook::{Answer, Decider, LookupObserver};
use smallstep_webhook::{ResponseBody, Verifier, VerifyError, WebhookHeaders};

pub use crate::jamf_events::JAMF_EVENTS_PATH;
use crate::jamf_events::{self, Event, JamfEvents};
use crate::logging::{DecisionLine, RefusalLog};
use crate::metrics::{LookupResult, Metrics, Outcome as Verdict};
use crate::scep::{self, ScepGate, issuer};
use crate::throttle::{AuthThrottle, FailureVerdict};

/// The path step-ca posts to, as in the Go version.
pub const WEBHOOK_PATH: &str = "/webhook/device-attest";

/// Where step-ca posts SCEPCHALLENGE requests.
pub const SCEP_CHALLENGE_PATH: &str = "/webhook/scep-challenge";

/// Where step-ca posts NOTIFYING requests.
pub const SCEP_NOTIFY_PATH: &str = "/webhook/scep-notify";

/// Which webhook a request came to: each path takes one kind of body.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Route {
    DeviceAttest,
    ScepChallenge,
    ScepNotify,
}

impl Route {
    fn as_str(self) -> &'static str {
        match self {
            Self::DeviceAttest => "device-attest",
            Self::ScepChallenge => "scep-challenge",
            Self::ScepNotify => "scep-notify",
        }
    }
}

/// `{"allow":false}`: the body of every refusal, which tells the caller nothing.
const DENY_WITHOUT_REASON: Bytes = Bytes::from_static(ResponseBody::DENY_WITHOUT_REASON_JSON);

/// The address a request came from. The server adds it to each request's extensions; a
/// request without it (a test calling [`handle`] directly) is throttled with every other
/// such request, as one client.
///
/// ```
/// use step_posture_connector::handler::ClientAddr;
/// let mut request = http::Request::new(());
/// request
///     .extensions_mut()
///     .insert(ClientAddr::new(([192, 0, 2, 1], 50000).into()));
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct ClientAddr(pub SocketAddr);

impl ClientAddr {
    /// The address `addr` sent the request from.
    pub fn new(addr: SocketAddr) -> Self {
        Self(addr)
    }
}

/// Everything a request needs, shared by all connections.
pub struct App {
    verifier: Arc<ArcSwap<Verifier>>,
    /// The device-attest pipeline; each request gets it with the current verifier.
    decider: Decider,
    provider: Arc<dyn DynPostureProvider>,
    timeout: Duration,
    max_body_bytes: usize,
    readiness: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    metrics: Arc<Metrics>,
    scep: Option<Arc<ScepGate>>,
    /// Serve only the challenge-issuing routes (and `/livez`): the `SCEP_ISSUER_ADDR`
    /// listener.
    issuer_only: bool,
    throttle: Option<AuthThrottle>,
    refusals: RefusalLog,
    /// `POST /webhook/jamf-events` (`JAMF_WEBHOOK_SECRET`): Jamf Pro change notifications.
    jamf_events: Option<Arc<JamfEvents>>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("provider", &self.provider.name())
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl App {
    /// A handler that authenticates with `verifier` and asks `provider`.
    pub fn new(verifier: Verifier, provider: Arc<dyn DynPostureProvider>) -> Self {
        let verifier = Arc::new(verifier);
        let timeout = Duration::from_secs(4);
        let metrics = Arc::new(Metrics::default());
        Self {
            decider: Decider::new(verifier.clone(), provider.clone(), timeout)
                .with_max_body_bytes(posture_webhook::DEFAULT_MAX_BODY_BYTES)
                .with_observer(Arc::new(LookupMetrics(metrics.clone()))),
            verifier: Arc::new(ArcSwap::new(verifier)),
            provider,
            timeout,
            max_body_bytes: posture_webhook::DEFAULT_MAX_BODY_BYTES,
            readiness: None,
            metrics,
            scep: None,
            issuer_only: false,
            throttle: None,
            refusals: RefusalLog::default(),
            jamf_events: None,
        }
    }

    /// The same application serving only the challenge-issuing routes and `/livez`, for
    /// the `SCEP_ISSUER_ADDR` listener: nothing a webhook does is reachable there.
    pub(crate) fn issuer_only(&self) -> Self {
        Self {
            verifier: self.verifier.clone(),
            decider: self.decider.clone(),
            provider: self.provider.clone(),
            timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
            readiness: self.readiness.clone(),
            metrics: self.metrics.clone(),
            scep: self.scep.clone(),
            issuer_only: true,
            // The issuing routes have their own credentials and log their own lines.
            throttle: None,
            refusals: RefusalLog::default(),
            jamf_events: None,
        }
    }

    /// Serves `POST /webhook/jamf-events` with `events`' secret and refresher.
    #[must_use]
    pub(crate) fn with_jamf_events(mut self, events: Arc<JamfEvents>) -> Self {
        self.jamf_events = Some(events);
        self
    }

    /// Serves the SCEP webhooks and challenge-issuing routes through `gate`.
    #[must_use]
    pub(crate) fn with_scep(mut self, gate: Arc<ScepGate>) -> Self {
        self.scep = Some(gate);
        self
    }

    /// The webhook verifier, swappable: a reload stores a new one, and each request keeps
    /// the one it started with.
    pub(crate) fn verifier(&self) -> &Arc<ArcSwap<Verifier>> {
        &self.verifier
    }

    /// Throttles failed authentications per client address (by default, nothing is
    /// throttled). See [`crate::throttle`].
    #[must_use]
    pub(crate) fn with_auth_throttle(mut self, throttle: AuthThrottle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// The log of refused requests, to write its summaries.
    pub(crate) fn refusals(&self) -> &RefusalLog {
        &self.refusals
    }

    /// Where decisions, latencies and provider lookups are counted (by default, metrics
    /// that nothing serves).
    #[must_use]
    pub(crate) fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.decider = self
            .decider
            .with_observer(Arc::new(LookupMetrics(metrics.clone())));
        self.metrics = metrics;
        self
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// How long a request may take, body and provider included (default 4 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.decider = self.decider.with_timeout(timeout);
        self.timeout = timeout;
        self
    }

    /// The largest body accepted (default 64 KiB).
    #[must_use]
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.decider = self.decider.with_max_body_bytes(max);
        self.max_body_bytes = max;
        self
    }

    /// An extra readiness condition for `/readyz`, such as "the certificate is current".
    #[must_use]
    pub fn with_readiness(mut self, check: Arc<dyn Fn() -> bool + Send + Sync>) -> Self {
        self.readiness = Some(check);
        self
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn DynPostureProvider> {
        &self.provider
    }

    /// The request deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Answers one HTTP request: the webhooks (`POST` to [`WEBHOOK_PATH`], with SCEP the SCEP
/// paths, and with `JAMF_WEBHOOK_SECRET` [`JAMF_EVENTS_PATH`]), `/livez` and `/readyz`. It never fails; a refusal is an answer too.
///
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use posture_file::{DeviceList, FileFormat, FileProvider};
/// use smallstep_webhook::Verifier;
/// use step_posture_connector::handler::{App, WEBHOOK_PATH, handle};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let verifier = Verifier::builder()
///     .webhook(
///         "d09736a5-780b-476e-abdb-e2e4c0439cf9",
///         "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==",
///     )
///     .build()?;
/// let devices = DeviceList::parse(b"Identifier\nC02XL0GJJG5J\n".as_slice(), FileFormat::Csv, "example")?;
/// let app = Arc::new(App::new(verifier, Arc::new(FileProvider::from_list(devices))));
///
/// let request = http::Request::get("/livez").body(Full::new(Bytes::new()))?;
/// let Ok(response) = handle(app.clone(), request).await;
/// assert_eq!(response.status(), http::StatusCode::OK);
///
/// // A webhook call without step-ca's signature is refused, and told nothing.
/// let request = http::Request::post(WEBHOOK_PATH).body(Full::new(Bytes::from_static(b"{}")))?;
/// let Ok(response) = handle(app, request).await;
/// assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
/// assert_eq!(response.into_body().collect().await?.to_bytes(), r#"{"allow":false}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
pub async fn handle<B>(
    app: Arc<App>,
    request: Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let response = match (request.uri().path(), request.method()) {
        (issuer::JAMF_PATH, &Method::POST) => issue_challenge(&app, request).await,
        (issuer::NDES_PATH | "/certsrv/mscep_admin", &Method::GET) => {
            issue_challenge(&app, request).await
        }
        ("/livez", &Method::GET | &Method::HEAD) => {
            json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}"))
        }
        _ if app.issuer_only => json(
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"{\"error\":\"not found\"}"),
        ),
        (WEBHOOK_PATH, &Method::POST) => webhook(&app, request, Route::DeviceAttest).await,
        (SCEP_CHALLENGE_PATH, &Method::POST) => webhook(&app, request, Route::ScepChallenge).await,
        (SCEP_NOTIFY_PATH, &Method::POST) => webhook(&app, request, Route::ScepNotify).await,
        (JAMF_EVENTS_PATH, &Method::POST) if app.jamf_events.is_some() => {
            jamf_events(&app, request).await
        }
        (WEBHOOK_PATH | SCEP_CHALLENGE_PATH | SCEP_NOTIFY_PATH, _) => method_not_allowed("POST"),
        (JAMF_EVENTS_PATH, _) if app.jamf_events.is_some() => method_not_allowed("POST"),
        ("/readyz", &Method::GET | &Method::HEAD) => readyz(&app).await,
        ("/livez" | "/readyz", _) => method_not_allowed("GET, HEAD"),
        _ => json(
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"{\"error\":\"not found\"}"),
        ),
    };
    Ok(response)
}

async fn readyz(app: &App) -> Response<Full<Bytes>> {
    let certificate_ok = app.readiness.as_ref().is_none_or(|check| check());
    let provider_ok =
        match tokio::time::timeout(app.timeout, app.provider.check_ready_boxed()).await {
            Ok(Ok(())) => true,
            Ok(Err(err)) => {
                tracing::warn!(provider = app.provider.name(), error = %err, "provider not ready");
                false
            }
            Err(_) => {
                tracing::warn!(
                    provider = app.provider.name(),
                    "provider readiness check timed out"
                );
                false
            }
        };
    if certificate_ok && provider_ok {
        json(
            StatusCode::OK,
            Bytes::from_static(b"{\"status\":\"ready\"}"),
        )
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from_static(b"{\"status\":\"not ready\"}"),
        )
    }
}

/// What one webhook request came to, for the audit log line.
struct Outcome {
    status: StatusCode,
    body: Bytes,
    outcome: Verdict,
    code: Option<DenyCode>,
    reason: String,
    identifier: Option<String>,
    provisioner: Option<String>,
    mode: DeviceMode,
    /// For a request refused before it was authenticated: why, as a short name to count
    /// it under in a summary.
    refusal: Option<&'static str>,
    /// `Retry-After`, for a throttled request.
    retry_after: Option<Duration>,
}

impl Outcome {
    fn new(status: StatusCode, body: Bytes, outcome: Verdict, reason: impl Into<String>) -> Self {
        Self {
            status,
            body,
            outcome,
            code: None,
            reason: reason.into(),
            identifier: None,
            provisioner: None,
            mode: DeviceMode::Unspecified,
            refusal: None,
            retry_after: None,
        }
    }

    /// Refused before authentication, counted under `refusal`.
    fn refused(
        status: StatusCode,
        outcome: Verdict,
        refusal: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        let mut refused = Self::new(status, DENY_WITHOUT_REASON, outcome, reason);
        refused.refusal = Some(refusal);
        refused
    }

    fn unauthorized(err: &VerifyError) -> Self {
        Self::refused(
            StatusCode::UNAUTHORIZED,
            Verdict::Unauthorized,
            refusal_name(err),
            err.to_string(),
        )
    }

    fn throttled(err: &VerifyError, retry_after: Duration) -> Self {
        let mut throttled = Self::refused(
            StatusCode::TOO_MANY_REQUESTS,
            Verdict::Unauthorized,
            "throttled",
            format!(
                "{err}; too many failed authentications from this address, retry after {} s",
                posture_webhook::retry_after_seconds(retry_after)
            ),
        );
        throttled.retry_after = Some(retry_after);
        throttled
    }

    /// No decision by the deadline: counted under `deadline` if the request was not yet
    /// authenticated. Like before the pipeline moved to posture-webhook, the line names
    /// no identifier and no mode.
    fn past_deadline(timeout: Duration, authenticated: bool) -> Self {
        let mut outcome = Self::from(Answer::deadline(timeout));
        if !authenticated {
            outcome.refusal = Some("deadline");
        }
        outcome
    }
}

impl From<Answer> for Outcome {
    /// The decision posture-webhook came to. A transient provider error's `Retry-After`
    /// is not passed on: step-ca retries after its own second, and the answers stay as
    /// they were.
    fn from(answer: Answer) -> Self {
        let record = answer.record();
        let verdict = match record.outcome {
            posture_webhook::Outcome::Allow => Verdict::Allow,
            posture_webhook::Outcome::Deny => Verdict::Deny,
            posture_webhook::Outcome::Unauthorized => Verdict::Unauthorized,
            _ => Verdict::Error,
        };
        let mut outcome = Self::new(
            answer.status(),
            answer.body().clone(),
            verdict,
            record.reason.clone(),
        );
        outcome.code = record.code.clone();
        outcome.identifier = record.identifier.clone();
        outcome.provisioner = record.provisioner.clone();
        outcome.mode = record.mode;
        outcome
    }
}

/// Times provider lookups into the metrics.
#[derive(Debug)]
struct LookupMetrics(Arc<Metrics>);

impl LookupObserver for LookupMetrics {
    fn lookup_finished(
        &self,
        _provider: &str,
        result: posture_webhook::LookupResult,
        elapsed: Duration,
    ) {
        let result = match result {
            posture_webhook::LookupResult::Allow => LookupResult::Allow,
            posture_webhook::LookupResult::Deny => LookupResult::Deny,
            posture_webhook::LookupResult::Error => LookupResult::Error,
            _ => LookupResult::Cancelled,
        };
        self.0.record_lookup(result, elapsed);
    }
}

/// A request body as [`handle`] accepts it, named once for the functions it hands the
/// body to.
trait IncomingBody: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> {}

impl<B> IncomingBody for B
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
}

async fn webhook<B: IncomingBody>(
    app: &App,
    request: Request<B>,
    route: Route,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + app.timeout;
    let (parts, body) = request.into_parts();
    let client = parts
        .extensions
        .get::<ClientAddr>()
        .map(|ClientAddr(addr)| addr.ip().to_canonical());
    let headers = WebhookHeaders::from_header_map(&parts.headers);
    let request_id = posture_webhook::request_id(&headers);
    let claimed_webhook_id = posture_webhook::claimed_webhook_id(&headers);
    let outcome = decide(app, &parts, headers, body, route, client, deadline).await;
    let elapsed = started.elapsed();
    app.metrics.record_decision(
        outcome.outcome,
        outcome.code.as_ref(),
        &claimed_webhook_id,
        outcome.mode,
        elapsed,
    );
    // Every authenticated request gets its line; refused ones may only be counted.
    let own_line = outcome
        .refusal
        .is_none_or(|refusal| app.refusals.admit(refusal, client, Instant::now()));
    if own_line {
        DecisionLine {
            outcome: outcome.outcome.as_str(),
            status: outcome.status.as_u16(),
            code: outcome.code.as_ref().map(DenyCode::as_str).unwrap_or(""),
            identifier: outcome.identifier.as_deref().unwrap_or(""),
            webhook_id: &claimed_webhook_id,
            request_id: &request_id,
            provisioner: outcome.provisioner.as_deref().unwrap_or(""),
            mode: outcome.mode,
            provider: app.provider.name(),
            webhook: route.as_str(),
            client,
            reason: &outcome.reason,
            latency: elapsed,
        }
        .log();
    }
    json_retry_after(outcome.status, outcome.body, outcome.retry_after)
}

/// Everything but the log line, within `deadline`.
async fn decide<B: IncomingBody>(
    app: &App,
    parts: &http::request::Parts,
    headers: WebhookHeaders<'_>,
    body: B,
    route: Route,
    client: Option<IpAddr>,
    deadline: tokio::time::Instant,
) -> Outcome {
    // 1. Cap the body. A declared length over the cap is refused before reading anything.
    let bytes = match tokio::time::timeout_at(deadline, read_body(app, &parts.headers, body)).await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(refused)) => return refused,
        // Still reading the body.
        Err(_) => return Outcome::past_deadline(app.timeout, false),
    };

    let query = parts.uri.query();
    if route != Route::DeviceAttest {
        let authenticated = AtomicBool::new(false);
        // Boxed: the SCEP checks' state is about 12 KiB, and kept inline it would make every
        // request's future that large, to be moved (and on HTTP/2 allocated) per request.
        let scep = Box::pin(scep_decide(
            app,
            &parts.headers,
            query,
            &bytes,
            route,
            client,
            &authenticated,
        ));
        return match tokio::time::timeout_at(deadline, scep).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::past_deadline(app.timeout, authenticated.load(Ordering::Relaxed)),
        };
    }

    // 2.-5. Authenticate, then parse; the device-attest rules; the mode; the provider.
    let answer = app
        .decider
        .with_verifier(app.verifier.load_full())
        .decide_until(headers, query, &bytes, deadline)
        .await;
    if let Some(err) = answer.verify_error() {
        return match tokio::time::timeout_at(deadline, refuse(app, err, client)).await {
            Ok(outcome) => outcome,
            // Held as throttled.
            Err(_) => Outcome::past_deadline(app.timeout, false),
        };
    }
    if answer.timed_out() {
        return Outcome::past_deadline(app.timeout, true);
    }
    Outcome::from(answer)
}

/// Reads the body, up to `MAX_BODY_BYTES`.
async fn read_body<B: IncomingBody>(
    app: &App,
    headers: &HeaderMap,
    body: B,
) -> Result<Bytes, Outcome> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > app.max_body_bytes as u64) {
        return Err(too_large(app.max_body_bytes));
    }
    match Limited::new(body, app.max_body_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            Err(too_large(app.max_body_bytes))
        }
        Err(err) => Err(Outcome::refused(
            StatusCode::BAD_REQUEST,
            Verdict::Error,
            "bodyUnreadable",
            format!("could not read the request body: {err}"),
        )),
    }
}

/// The answer to a request that failed authentication: `401`, or `429` after a hold when
/// its address has used up its allowance of failures.
async fn refuse(app: &App, err: &VerifyError, client: Option<IpAddr>) -> Outcome {
    let Some(throttle) = &app.throttle else {
        return Outcome::unauthorized(err);
    };
    if !is_guess(err) {
        return Outcome::unauthorized(err);
    }
    match throttle.record_failure(client, Instant::now()) {
        FailureVerdict::Throttled { retry_after } => {
            // The request was verified like any other; only the answer to a failure waits,
            // which slows a guesser that waits for answers and never a signed request.
            tokio::time::sleep(throttle.hold().min(app.timeout / 2)).await;
            Outcome::throttled(err, retry_after)
        }
        FailureVerdict::Counted => Outcome::unauthorized(err),
    }
}

/// Whether a failure tried a secret: a signature or credentials that were checked and were
/// wrong (or an ID that has none). Missing or malformed headers guess nothing, and a bad
/// timestamp comes with a valid signature.
fn is_guess(err: &VerifyError) -> bool {
    matches!(
        err,
        VerifyError::UnknownWebhook
            | VerifyError::MissingAuthorization
            | VerifyError::DuplicateAuthorization
            | VerifyError::AuthorizationMismatch
            | VerifyError::SignatureMismatch
    )
}

/// A short, fixed name for why a request was refused, to count it under in a summary.
fn refusal_name(err: &VerifyError) -> &'static str {
    match err {
        VerifyError::MissingWebhookId => "missingWebhookId",
        VerifyError::DuplicateWebhookId => "duplicateWebhookId",
        VerifyError::MissingSignature => "missingSignature",
        VerifyError::DuplicateSignature => "duplicateSignature",
        VerifyError::MalformedSignature => "malformedSignature",
        VerifyError::UnknownWebhook => "unknownWebhook",
        VerifyError::MissingAuthorization => "missingAuthorization",
        VerifyError::DuplicateAuthorization => "duplicateAuthorization",
        VerifyError::AuthorizationMismatch => "authorizationMismatch",
        VerifyError::SignatureMismatch => "signatureMismatch",
        VerifyError::MissingTimestamp => "missingTimestamp",
        VerifyError::StaleTimestamp { .. } => "staleTimestamp",
        VerifyError::FutureTimestamp { .. } => "futureTimestamp",
        _ => "unauthenticated",
    }
}

/// A SCEPCHALLENGE or NOTIFYING request, once its body is read: authenticated exactly as a
/// device-attest request, then handed to the SCEP gate.
async fn scep_decide(
    app: &App,
    headers: &HeaderMap,
    query: Option<&str>,
    bytes: &[u8],
    route: Route,
    client: Option<IpAddr>,
    authenticated: &AtomicBool,
) -> Outcome {
    let body = match app.verifier.load().verify(headers, bytes) {
        Ok(verified) => verified.into_body(),
        Err(err) if err.is_malformed_body() => {
            authenticated.store(true, Ordering::Relaxed);
            return scep_refusal(format!("the request is not a step-ca webhook body: {err}"));
        }
        Err(err) => return refuse(app, &err, client).await,
    };
    authenticated.store(true, Ordering::Relaxed);
    let Some(gate) = app.scep.as_deref() else {
        return scep_refusal(
            "SCEP webhooks are not configured here: set SCEP_CHALLENGE (and its settings)",
        );
    };
    let mut outcome = match route {
        Route::ScepNotify => scep_notify(app, gate, &body).await,
        _ => scep_challenge(app, gate, &body, query).await,
    };
    outcome.provisioner = body.provisioner_name().map(str::to_owned);
    outcome
}

async fn scep_challenge(
    app: &App,
    gate: &ScepGate,
    body: &smallstep_webhook::RequestBody,
    query: Option<&str>,
) -> Outcome {
    if body.kind() != smallstep_webhook::RequestKind::ScepChallenge {
        return scep_refusal(
            "not a SCEPCHALLENGE body: attach this webhook to a SCEP provisioner with kind \
             SCEPCHALLENGE",
        );
    }
    let mode = match posture_webhook::mode_from_query(query) {
        Ok(mode) => mode,
        Err(bad) => return scep_refusal(bad.to_string()),
    };
    let admitted = match gate.check(body).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            if let Some(call) = &refusal.intune {
                app.metrics
                    .record_scep_intune(call.action, call.result, call.elapsed);
            }
            let mut outcome = if refusal.is_transient() {
                // 503 makes step-ca retry once, a second later; Intune may answer by then.
                Outcome::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    DENY_WITHOUT_REASON,
                    Verdict::Error,
                    refusal.reason,
                )
            } else {
                app.metrics.record_scep_challenge("refused");
                scep_refusal(refusal.reason)
            };
            outcome.identifier = refusal.identifier;
            outcome.mode = mode;
            return outcome;
        }
    };
    app.metrics.record_scep_challenge(admitted.method.as_str());
    if let Some(call) = &admitted.intune {
        app.metrics
            .record_scep_intune(call.action, call.result, call.elapsed);
    }
    let mut outcome = if gate.posture() {
        let mut request = LookupRequest::new(admitted.identifier.as_str()).with_mode(mode);
        if let Some(provisioner) = body.provisioner_name() {
            request = request.with_provisioner(provisioner);
        }
        let mut outcome = Outcome::from(app.decider.lookup(&request).await);
        if outcome.outcome == Verdict::Deny {
            // step-ca ignores `error` for SCEP; the reason stays in the audit line.
            outcome.body = DENY_WITHOUT_REASON;
        }
        outcome.reason = format!(
            "challenge passed ({}){}{}",
            admitted.method,
            if outcome.reason.is_empty() { "" } else { "; " },
            outcome.reason
        );
        if outcome.outcome == Verdict::Deny
            && let Some(transaction) = body.scep_transaction_id.as_deref()
            && let Some(call) = gate.intune_refused(transaction, &outcome.reason).await
        {
            app.metrics
                .record_scep_intune(call.action, call.result, call.elapsed);
            outcome.reason = format!("{}; {}", outcome.reason, call.description);
        }
        outcome
    } else {
        Outcome::new(
            StatusCode::OK,
            Bytes::from_static(ResponseBody::ALLOW_JSON),
            Verdict::Allow,
            format!("challenge passed ({}); SCEP_POSTURE=0", admitted.method),
        )
    };
    outcome.identifier = Some(admitted.identifier);
    outcome.mode = mode;
    outcome
}

async fn scep_notify(app: &App, gate: &ScepGate, body: &smallstep_webhook::RequestBody) -> Outcome {
    if body.kind() != smallstep_webhook::RequestKind::ScepNotifying {
        return scep_refusal(
            "not a NOTIFYING body: attach this webhook to a SCEP provisioner with kind NOTIFYING",
        );
    }
    let notification = match scep::Notification::from_body(body) {
        Ok(notification) => notification,
        Err(reason) => return scep_refusal(reason),
    };
    let duplicate = gate.already_notified(&notification.key());
    app.metrics
        .record_scep_notification(notification.success, duplicate);
    let reason = if notification.success {
        format!(
            "issued: transaction {} serial {} sha256 {} sha1 {} subject {:?} not after {}{}",
            notification.transaction_id,
            notification.serial,
            notification.sha256,
            notification.sha1,
            notification.subject,
            notification.not_after,
            if duplicate {
                " (repeated delivery)"
            } else {
                ""
            }
        )
    } else {
        format!(
            "issuance failed: transaction {}: {}{}",
            notification.transaction_id,
            notification.failure.chars().take(512).collect::<String>(),
            if duplicate {
                " (repeated delivery)"
            } else {
                ""
            }
        )
    };
    let mut reason = reason;
    if !duplicate && let Some(call) = gate.intune_notify(&notification, body).await {
        app.metrics
            .record_scep_intune(call.action, call.result, call.elapsed);
        reason = format!("{reason}; {}", call.description);
    }
    let verdict = if notification.success {
        Verdict::Allow
    } else {
        Verdict::Deny
    };
    Outcome::new(StatusCode::OK, Bytes::from_static(b"{}"), verdict, reason)
}

/// A SCEP refusal: `{"allow":false}` (step-ca shows SCEP clients no reason), the reason in
/// the audit line.
fn scep_refusal(reason: impl Into<String>) -> Outcome {
    Outcome::new(StatusCode::OK, DENY_WITHOUT_REASON, Verdict::Deny, reason)
}

/// The challenge-issuing routes: their own credentials, `Cache-Control: no-store`, and an
/// audit line without the challenge.
async fn issue_challenge<B: IncomingBody>(app: &App, request: Request<B>) -> Response<Full<Bytes>> {
    let Some(gate) = app.scep.as_deref() else {
        return not_found();
    };
    let (parts, body) = request.into_parts();
    let issued = if parts.method == Method::GET {
        issuer::ndes(gate, &parts.headers)
    } else {
        match Limited::new(body, issuer::MAX_EVENT_BYTES).collect().await {
            Ok(collected) => issuer::jamf(gate, &parts.headers, &collected.to_bytes()),
            Err(_) => issuer::unreadable(gate, &parts.headers),
        }
    };
    app.metrics.record_scep_issue(issued.outcome);
    tracing::info!(
        target: "step_posture_connector::decision",
        outcome = issued.outcome,
        status = issued.response.status().as_u16(),
        route = parts.uri.path(),
        reason = %issued.reason,
        "scep challenge issue"
    );
    issued.response
}

/// `POST /webhook/jamf-events`: authenticate (headers only), read at most 64 KiB, parse,
/// and refresh the device the event names within `TIMEOUT`; one audit line per event, with
/// the event, the serial and the outcome, never the credentials.
async fn jamf_events<B: IncomingBody>(app: &App, request: Request<B>) -> Response<Full<Bytes>> {
    let Some(events) = app.jamf_events.as_deref() else {
        return not_found();
    };
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let client = parts
        .extensions
        .get::<ClientAddr>()
        .map(|ClientAddr(addr)| addr.ip().to_canonical());
    let mut event = None;
    let (status, outcome, reason, retry_after) = if events.authenticates(&parts.headers) {
        match tokio::time::timeout(app.timeout, jamf_event(events, body)).await {
            Ok((status, outcome, reason, parsed)) => {
                event = parsed;
                (status, outcome, reason, None)
            }
            Err(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "error",
                format!("no answer within TIMEOUT ({} s)", app.timeout.as_secs_f32()),
                None,
            ),
        }
    } else {
        let reason = "missing or wrong JAMF_WEBHOOK_SECRET credentials".to_owned();
        match app
            .throttle
            .as_ref()
            .map(|throttle| (throttle, throttle.record_failure(client, Instant::now())))
        {
            Some((throttle, FailureVerdict::Throttled { retry_after })) => {
                tokio::time::sleep(throttle.hold().min(app.timeout / 2)).await;
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "unauthorized",
                    format!("{reason}; too many failed authentications from this address"),
                    Some(retry_after),
                )
            }
            _ => (StatusCode::UNAUTHORIZED, "unauthorized", reason, None),
        }
    };
    let (name, serial, family) = match &event {
        Some(Event::Device {
            name,
            serial,
            family,
        }) => (name.as_str(), serial.as_str(), *family),
        Some(Event::Ignored { name }) => (name.as_str(), "", DeviceMode::Unspecified),
        None => ("", "", DeviceMode::Unspecified),
    };
    tracing::info!(
        target: "step_posture_connector::decision",
        outcome,
        status = status.as_u16(),
        event = name,
        identifier = serial,
        mode = family.as_str(),
        webhook = "jamf-events",
        client = %client.map(|ip| ip.to_string()).unwrap_or_default(),
        reason = %reason,
        latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "jamf event"
    );
    let body = match status {
        StatusCode::OK => Bytes::from_static(b"{}"),
        StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS => {
            Bytes::from_static(b"{\"error\":\"unauthorized\"}")
        }
        _ => Bytes::from_static(b"{\"error\":\"refused\"}"),
    };
    json_retry_after(status, body, retry_after)
}

/// An authenticated Jamf event: its status, outcome and reason, and the event once parsed.
async fn jamf_event<B: IncomingBody>(
    events: &JamfEvents,
    body: B,
) -> (StatusCode, &'static str, String, Option<Event>) {
    let max = jamf_events::MAX_EVENT_BYTES;
    let bytes = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "refused",
                format!("event over {max} bytes"),
                None,
            );
        }
        Err(err) => {
            return (
                StatusCode::BAD_REQUEST,
                "refused",
                format!("could not read the request body: {err}"),
                None,
            );
        }
    };
    let event = match jamf_events::parse(&bytes) {
        Ok(event) => event,
        Err(reason) => return (StatusCode::BAD_REQUEST, "refused", reason, None),
    };
    let Event::Device { serial, family, .. } = &event else {
        return (
            StatusCode::OK,
            "ignored",
            "not an event about one device".to_owned(),
            Some(event),
        );
    };
    match events.refresher().refresh(serial, *family).await {
        Ok(()) => (StatusCode::OK, "refreshed", String::new(), Some(event)),
        Err(err) if err.is_transient() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            err.to_string(),
            Some(event),
        ),
        Err(err) => (
            StatusCode::BAD_REQUEST,
            "refused",
            err.to_string(),
            Some(event),
        ),
    }
}

/// `413`, counted under `bodyTooLarge`.
fn too_large(max: usize) -> Outcome {
    let mut outcome = Outcome::from(Answer::too_large(max));
    outcome.refusal = Some("bodyTooLarge");
    outcome
}

fn json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `404` with a JSON body.
fn not_found() -> Response<Full<Bytes>> {
    json(
        StatusCode::NOT_FOUND,
        Bytes::from_static(b"{\"error\":\"not found\"}"),
    )
}

/// A JSON answer, with `Retry-After` when given (a throttled request).
fn json_retry_after(
    status: StatusCode,
    body: Bytes,
    retry_after: Option<Duration>,
) -> Response<Full<Bytes>> {
    let mut response = json(status, body);
    if let Some(retry_after) = retry_after {
        response.headers_mut().insert(
            RETRY_AFTER,
            HeaderValue::from(posture_webhook::retry_after_seconds(retry_after)),
        );
    }
    response
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = json(
        StatusCode::METHOD_NOT_ALLOWED,
        Bytes::from_static(b"{\"error\":\"method not allowed\"}"),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use posture_file::{DeviceList, FileFormat, FileProvider};
    use smallstep_webhook::{RequestBody, Signer, WebhookSecret};

    use super::*;

    const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
    const SECRET: &str =
        "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";

    fn app() -> Arc<App> {
        let verifier = Verifier::builder().webhook(ID, SECRET).build().unwrap();
        let list = DeviceList::parse(
            br#"{"devices":[{"identifier":"C02XL0GJJG5J","data":{"user":"alice"}}]}"#,
            FileFormat::Json,
            "inline",
        )
        .unwrap();
        Arc::new(App::new(verifier, Arc::new(FileProvider::from_list(list))))
    }

    fn signer() -> Signer {
        Signer::new(ID, WebhookSecret::from_base64(SECRET).unwrap()).unwrap()
    }

    async fn call(app: Arc<App>, request: Request<Full<Bytes>>) -> (StatusCode, serde_json::Value) {
        let response = handle(app, request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    fn post(headers: HeaderMap, body: Vec<u8>) -> Request<Full<Bytes>> {
        let mut request = Request::post(WEBHOOK_PATH)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        *request.headers_mut() = headers;
        request
    }

    /// Each request's future is moved into hyper's connection state, and on HTTP/2 allocated
    /// per stream: the SCEP checks' state (about 12 KiB) must stay behind a box.
    #[test]
    fn the_future_of_a_request_stays_small() {
        let future = handle(app(), post(HeaderMap::new(), Vec::new()));
        let size = std::mem::size_of_val(&future);
        assert!(size <= 4096, "the handler's future is {size} bytes");
    }

    #[tokio::test]
    async fn decides_without_a_socket() {
        let app = app();
        let body =
            RequestBody::device_attest_authorizing("C02XL0GJJG5J", time::OffsetDateTime::now_utc());
        let signed = signer().sign_body(&body);
        let (status, json) = call(app.clone(), post(signed.headers, signed.body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            json,
            serde_json::json!({"allow": true, "data": {"user": "alice"}})
        );

        let body =
            RequestBody::device_attest_authorizing("NOTLISTED1", time::OffsetDateTime::now_utc());
        let signed = signer().sign_body(&body);
        let (status, json) = call(app, post(signed.headers, signed.body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["error"]["code"], "deviceNotFound");
    }

    #[tokio::test]
    async fn refuses_unsigned_requests_and_declared_oversized_bodies_before_reading() {
        let app = app();
        let (status, json) = call(app.clone(), post(HeaderMap::new(), b"{}".to_vec())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(json, serde_json::json!({"allow": false}));

        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("1000000"));
        let (status, _) = call(app, post(headers, Vec::new())).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    /// A request from `client`, as the server hands it to the handler.
    fn from(client: [u8; 4], headers: HeaderMap, body: Vec<u8>) -> Request<Full<Bytes>> {
        let mut request = post(headers, body);
        request
            .extensions_mut()
            .insert(ClientAddr(SocketAddr::from((client, 40000))));
        request
    }

    #[tokio::test]
    async fn only_failures_of_a_throttled_address_are_held() {
        const GUESSER: [u8; 4] = [192, 0, 2, 1];
        const OTHER: [u8; 4] = [192, 0, 2, 2];
        let hour = Duration::from_secs(3600);
        let throttled = |hold| {
            let app = Arc::into_inner(app()).unwrap();
            Arc::new(
                app.with_timeout(hour * 4)
                    .with_auth_throttle(AuthThrottle::new(1, hour).with_hold(hold)),
            )
        };
        let body =
            RequestBody::device_attest_authorizing("C02XL0GJJG5J", time::OffsetDateTime::now_utc());
        let signed = signer().sign_body(&body);
        let wrong = Signer::new(ID, WebhookSecret::generate().unwrap())
            .unwrap()
            .headers(&signed.body);
        let within = |request| tokio::time::timeout(Duration::from_secs(60), request);

        // Held for an hour: a failure past the allowance is still waiting, while a signed
        // request from the same address and a failure from another address are answered.
        let app = throttled(hour);
        let first = within(call(
            app.clone(),
            from(GUESSER, wrong.clone(), signed.body.clone()),
        ));
        assert_eq!(first.await.unwrap().0, StatusCode::UNAUTHORIZED);
        let held = tokio::spawn(call(
            app.clone(),
            from(GUESSER, wrong.clone(), signed.body.clone()),
        ));
        let (status, json) = within(call(
            app.clone(),
            from(GUESSER, signed.headers.clone(), signed.body.clone()),
        ))
        .await
        .unwrap();
        assert_eq!((status, &json["allow"]), (StatusCode::OK, &true.into()));
        let other = within(call(
            app.clone(),
            from(OTHER, wrong.clone(), signed.body.clone()),
        ));
        assert_eq!(other.await.unwrap().0, StatusCode::UNAUTHORIZED);
        assert!(!held.is_finished(), "a throttled failure is held");
        held.abort();

        // Once its hold is over, a throttled failure says when to come back.
        let app = throttled(Duration::ZERO);
        let _ = call(
            app.clone(),
            from(GUESSER, wrong.clone(), signed.body.clone()),
        )
        .await;
        let response = handle(app, from(GUESSER, wrong, signed.body))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "3600");
    }
}
