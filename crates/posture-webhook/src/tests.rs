//! The pipeline against a small in-crate provider.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use posture_core::{
    Decision, DenyCode, DeviceMode, Enrichment, LookupRequest, PostureProvider, ProviderError,
};
use smallstep_webhook::{
    HeaderField, RequestBody, Signer, Verifier, VerifyError, WebhookHeaders, WebhookSecret,
};

use crate::{Decider, LookupObserver, LookupResult, Outcome};

const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
const SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";

/// Allows `ALLOWED` with data and `LATE` after 20 ms, fails on `DOWN` and `BROKEN`, hangs
/// on `SLOW`, and denies the rest; remembers the modes it was asked with.
#[derive(Debug, Default)]
struct Inventory {
    modes: Mutex<Vec<DeviceMode>>,
}

impl PostureProvider for Inventory {
    fn name(&self) -> &str {
        "inventory"
    }

    async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        self.modes.lock().unwrap().push(request.mode());
        match request.identifier() {
            "ALLOWED" => Ok(Decision::allow_with(
                Enrichment::from_json(r#"{"user":"alice"}"#).unwrap(),
            )),
            "DOWN" => Err(ProviderError::transient("backend unreachable")
                .with_retry_after(Duration::from_secs(30))),
            "BROKEN" => Err(ProviderError::permanent("credentials refused")),
            "SLOW" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Decision::allow())
            }
            "LATE" => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(Decision::allow())
            }
            _ => Ok(Decision::deny(DenyCode::DEVICE_NOT_FOUND, "not listed")),
        }
    }
}

#[derive(Debug, Default)]
struct Lookups(Mutex<Vec<LookupResult>>);

impl LookupObserver for Lookups {
    fn lookup_finished(&self, provider: &str, result: LookupResult, _: Duration) {
        assert_eq!(provider, "inventory");
        self.0.lock().unwrap().push(result);
    }
}

fn decider() -> (Decider, Arc<Inventory>, Arc<Lookups>) {
    let verifier = Verifier::builder().webhook(ID, SECRET).build().unwrap();
    let inventory = Arc::new(Inventory::default());
    let lookups = Arc::new(Lookups::default());
    let decider = Decider::new(verifier, inventory.clone(), Duration::from_secs(4))
        .with_observer(lookups.clone());
    (decider, inventory, lookups)
}

fn signer() -> Signer {
    Signer::new(ID, WebhookSecret::from_base64(SECRET).unwrap()).unwrap()
}

fn signed(identifier: &str) -> smallstep_webhook::SignedRequest {
    let body = RequestBody::device_attest_authorizing(identifier, time_now())
        .with_provisioner_name("acme");
    signer().sign_body(&body)
}

fn time_now() -> smallstep_webhook::time::OffsetDateTime {
    std::time::SystemTime::now().into()
}

async fn decide(decider: &Decider, identifier: &str, query: Option<&str>) -> crate::Answer {
    let request = signed(identifier);
    decider
        .decide((&request.headers).into(), query, &request.body)
        .await
}

#[tokio::test]
async fn allows_with_the_enrichment_verbatim_and_records_it() {
    let (decider, inventory, lookups) = decider();
    let answer = decide(&decider, "ALLOWED", Some("mode=computer")).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        &answer.body()[..],
        br#"{"allow":true,"data":{"user":"alice"}}"#
    );
    let record = answer.record();
    assert_eq!(record.outcome, Outcome::Allow);
    assert_eq!(record.identifier.as_deref(), Some("ALLOWED"));
    assert_eq!(record.provisioner.as_deref(), Some("acme"));
    assert_eq!(record.mode, DeviceMode::Computer);
    assert_eq!(record.webhook_id, ID);
    assert_eq!(&*record.provider, "inventory");
    assert_eq!(*inventory.modes.lock().unwrap(), [DeviceMode::Computer]);
    assert_eq!(*lookups.0.lock().unwrap(), [LookupResult::Allow]);
}

#[tokio::test]
async fn denies_with_code_and_message() {
    let (decider, ..) = decider();
    let answer = decide(&decider, "UNKNOWN", None).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        &answer.body()[..],
        br#"{"allow":false,"error":{"code":"deviceNotFound","message":"not listed"}}"#
    );
    assert_eq!(answer.record().code, Some(DenyCode::DEVICE_NOT_FOUND));
    assert_eq!(answer.record().reason, "not listed");
    assert!(!answer.timed_out());
}

#[tokio::test]
async fn the_observer_hears_what_each_lookup_came_to() {
    let (decider, _, lookups) = decider();
    for identifier in ["ALLOWED", "UNKNOWN", "DOWN"] {
        decide(&decider, identifier, None).await;
    }
    assert_eq!(
        *lookups.0.lock().unwrap(),
        [LookupResult::Allow, LookupResult::Deny, LookupResult::Error]
    );
}

#[tokio::test(start_paused = true)]
async fn a_provider_gets_the_whole_timeout() {
    let (decider, ..) = decider();
    assert_eq!(decider.timeout(), Duration::from_secs(4));
    let answer = decide(&decider, "LATE", None).await;
    assert_eq!(answer.status(), StatusCode::OK, "{:?}", answer.record());
    assert_eq!(answer.record().outcome, Outcome::Allow);
    assert!(!answer.timed_out());
    // One shorter than the provider needs cuts it off.
    let hurried = decider.with_timeout(Duration::from_millis(10));
    assert_eq!(hurried.timeout(), Duration::from_millis(10));
    let answer = decide(&hurried, "LATE", None).await;
    assert!(answer.timed_out());
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn outcomes_have_stable_labels() {
    // Logs and metrics carry these words; changing one breaks dashboards.
    let labels = [
        Outcome::Allow,
        Outcome::Deny,
        Outcome::Unauthorized,
        Outcome::Error,
    ]
    .map(Outcome::as_str);
    assert_eq!(labels, ["allow", "deny", "unauthorized", "error"]);
}

#[tokio::test]
async fn a_new_verifier_replaces_the_old_one() {
    let (decider, ..) = decider();
    let rotated = WebhookSecret::generate().unwrap();
    let verifier = Verifier::builder()
        .webhook(ID, &rotated.to_base64())
        .build()
        .unwrap();
    let reloaded = decider.with_verifier(verifier);
    let old = signed("ALLOWED");
    let answer = reloaded
        .decide((&old.headers).into(), None, &old.body)
        .await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "the old secret");
    let new = Signer::new(ID, rotated)
        .unwrap()
        .sign_body(&RequestBody::device_attest_authorizing(
            "ALLOWED",
            time_now(),
        ));
    let answer = reloaded
        .decide((&new.headers).into(), None, &new.body)
        .await;
    assert_eq!(answer.status(), StatusCode::OK, "the new secret");
    // The original decider keeps its verifier.
    let answer = decider.decide((&new.headers).into(), None, &new.body).await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn debug_names_the_provider_and_no_secret() {
    let (decider, ..) = decider();
    let debug = format!("{decider:?}");
    assert!(debug.contains("inventory"), "{debug}");
    assert!(!debug.contains(SECRET), "{debug}");
}

#[tokio::test]
async fn transient_errors_are_503_with_retry_after_and_permanent_ones_fail_closed() {
    let (decider, _, lookups) = decider();
    let answer = decide(&decider, "DOWN", None).await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(&answer.body()[..], b"{\"allow\":false}");
    assert_eq!(answer.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(answer.to_response().headers()["retry-after"], "30");
    assert_eq!(answer.record().outcome, Outcome::Error);
    assert!(answer.record().reason.contains("backend unreachable"));

    let answer = decide(&decider, "BROKEN", None).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.record().code, Some(DenyCode::PROVIDER_ERROR));
    assert!(!String::from_utf8_lossy(answer.body()).contains("credentials"));
    assert_eq!(
        answer.record().reason,
        "provider error: credentials refused"
    );
    assert_eq!(
        *lookups.0.lock().unwrap(),
        [LookupResult::Error, LookupResult::Error]
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_provider_is_cut_off_at_the_deadline() {
    let (decider, _, lookups) = decider();
    let answer = decide(&decider, "SLOW", None).await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.timed_out());
    assert_eq!(answer.record().reason, "no decision within TIMEOUT (4 s)");
    assert_eq!(*lookups.0.lock().unwrap(), [LookupResult::Cancelled]);
}

#[tokio::test]
async fn refuses_before_reading_the_body() {
    let (decider, inventory, _) = decider();
    let request = signed("ALLOWED");
    // Unsigned, wrongly signed, and with a repeated signature: 401 with no reason given.
    let wrong = Signer::new(ID, WebhookSecret::generate().unwrap())
        .unwrap()
        .headers(&request.body);
    let signature = signer().sign(&request.body);
    for headers in [
        WebhookHeaders::default(),
        WebhookHeaders::from_header_map(&wrong),
        WebhookHeaders::new(
            Some(ID.as_bytes()),
            HeaderField::Repeated(signature.as_bytes()),
            None,
        ),
    ] {
        let answer = decider.decide(headers, None, &request.body).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(&answer.body()[..], b"{\"allow\":false}");
        assert_eq!(answer.record().outcome, Outcome::Unauthorized);
        assert!(answer.verify_error().is_some());
    }
    let answer = decider
        .clone()
        .with_max_body_bytes(10)
        .decide((&request.headers).into(), None, &request.body)
        .await;
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(inventory.modes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_body_limit_admits_a_body_of_exactly_its_size() {
    let (decider, ..) = decider();
    assert_eq!(decider.max_body_bytes(), 64 * 1024);
    assert_eq!(crate::DEFAULT_MAX_BODY_BYTES, 64 * 1024);
    let request = signed("ALLOWED");
    let exact = decider.clone().with_max_body_bytes(request.body.len());
    assert_eq!(exact.max_body_bytes(), request.body.len());
    let answer = exact
        .decide((&request.headers).into(), None, &request.body)
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    let answer = decider
        .with_max_body_bytes(request.body.len() - 1)
        .decide((&request.headers).into(), None, &request.body)
        .await;
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // 64 KiB of padding inside a signed body is still under the default limit.
    let (decider, ..) = crate::tests::decider();
    let mut body = RequestBody::device_attest_authorizing("ALLOWED", time_now());
    body.provisioner_name = Some("p".repeat(60 * 1024));
    let request = signer().sign_body(&body);
    assert!(request.body.len() > 60 * 1024 && request.body.len() <= 64 * 1024);
    let answer = decider
        .decide((&request.headers).into(), None, &request.body)
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn applies_the_device_attest_rules_and_the_mode() {
    let (decider, inventory, _) = decider();
    let code = |answer: &crate::Answer| answer.record().code.clone();

    let answer = decide(&decider, "ALLOWED", Some("mode=laptop")).await;
    assert_eq!(code(&answer), Some(DenyCode::INVALID_MODE));
    assert_eq!(answer.record().identifier, None);
    assert!(
        answer.record().reason.contains("laptop"),
        "{}",
        answer.record().reason
    );

    // An empty permanentIdentifier, as a body can carry it, is no identifier.
    let template = signed("ALLOWED").body;
    let body = String::from_utf8_lossy(&template).replace(
        r#""permanentIdentifier":"ALLOWED""#,
        r#""permanentIdentifier":"""#,
    );
    assert_ne!(
        body.as_bytes(),
        &template[..],
        "the body names the identifier"
    );
    let headers = signer().headers(body.as_bytes());
    let answer = decider
        .decide((&headers).into(), None, body.as_bytes())
        .await;
    assert_eq!(code(&answer), Some(DenyCode::MISSING_IDENTIFIER));

    let mut body = RequestBody::device_attest_authorizing("ALLOWED", time_now());
    body.attestation_data = None;
    let request = signer().sign_body(&body);
    let answer = decider
        .decide((&request.headers).into(), None, &request.body)
        .await;
    assert_eq!(code(&answer), Some(DenyCode::MISSING_IDENTIFIER));

    let mut body = RequestBody::device_attest_authorizing("ALLOWED", time_now());
    if let Some(template) = body
        .x509_certificate
        .as_mut()
        .and_then(|c| c.template.as_mut())
    {
        template.subject = smallstep_webhook::Name::with_common_name("SOMEONE-ELSE");
    }
    let request = signer().sign_body(&body);
    let answer = decider
        .decide((&request.headers).into(), None, &request.body)
        .await;
    assert_eq!(code(&answer), Some(DenyCode::IDENTIFIER_MISMATCH));
    assert_eq!(answer.record().identifier.as_deref(), Some("ALLOWED"));

    let headers = signer().headers(b"[1]");
    let answer = decider.decide((&headers).into(), None, b"[1]").await;
    assert_eq!(code(&answer), Some(DenyCode::BAD_REQUEST));
    assert!(matches!(
        answer.verify_error(),
        None | Some(VerifyError::MalformedBody { .. })
    ));
    assert!(inventory.modes.lock().unwrap().is_empty(), "no lookup");
}

#[tokio::test]
async fn answers_convert_to_http_responses() {
    let (decider, ..) = decider();
    let answer = decide(&decider, "ALLOWED", None).await;
    let response = answer.to_response();
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(
        response.body(),
        &Bytes::from_static(br#"{"allow":true,"data":{"user":"alice"}}"#)
    );
}
