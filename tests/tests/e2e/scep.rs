//! The SCEP gate end to end: the real server over TLS, SCEPCHALLENGE and NOTIFYING bodies
//! signed as step-ca signs them, with real CSRs carrying the device in the subject's
//! serialNumber attribute, and challenges from the server's own issuing routes.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use ring::hmac;
use smallstep_webhook::RequestBody;
use step_posture_tests::pki::Pki;
use step_posture_tests::server::{Client, TestServer, enriching_signer, json, with_vars};

/// A signing key, base64 (32 bytes).
const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
const STATIC: &str = "migration-only-shared-challenge";
const ISSUER: &str = "jamf:issuer-password-0123456789";
/// In the test device list, with data.
const LISTED: &str = "C02XL0GJJG5J";
/// Also listed.
const OTHER_LISTED: &str = "F4KQ2J9XN7";
/// Not in the device list.
const UNLISTED: &str = "C02UNKNOWN00";

struct Gate {
    server: TestServer,
    client: Client,
}

impl Gate {
    async fn start(extra: &[(&str, &str)]) -> Self {
        let pki = Pki::generate().unwrap();
        let mut vars = vec![
            ("SCEP_CHALLENGE", "signed,static"),
            ("SCEP_CHALLENGE_KEY", KEY),
            ("SCEP_STATIC_CHALLENGE", STATIC),
            ("SCEP_ISSUER_BASIC_AUTH", ISSUER),
        ];
        vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        vars.extend_from_slice(extra);
        let server = TestServer::start(&pki, &vars).await.unwrap();
        let client = Client::new(&pki).unwrap();
        Self { server, client }
    }

    /// Sends a SCEPCHALLENGE for a CSR from `key` naming `serial`, with `challenge`.
    async fn challenge(
        &self,
        key: &rcgen::KeyPair,
        serial: &str,
        challenge: &str,
        query: &str,
    ) -> (StatusCode, serde_json::Value) {
        let body = RequestBody::scep_challenge(&csr(key, serial), challenge, "tx-1", "scep", now())
            .unwrap();
        self.signed(&format!("/webhook/scep-challenge{query}"), &body)
            .await
    }

    async fn signed(&self, path: &str, body: &RequestBody) -> (StatusCode, serde_json::Value) {
        let signed = enriching_signer().unwrap().sign_body(body);
        let (status, answer) = self
            .client
            .post(&self.server.url(path), &signed.headers, signed.body)
            .await
            .unwrap();
        (status, json(&answer))
    }

    /// A challenge from the Jamf SCEPChallenge route.
    async fn jamf_challenge(&self) -> String {
        let (status, body) = self.issue(Some(ISSUER)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn issue(&self, credentials: Option<&str>) -> (StatusCode, String) {
        let event = br#"{"webhook":{"webhookEvent":"SCEPChallenge","id":1,"eventTimestamp":1757435578,"name":"SCEPChallenge"},"event":{"scepServerUrl":"https://ca.example.com/scep/wifi","payloadIdentifier":"5e0f0000-0000-4000-8000-000000000001","payloadTypes":["com.apple.security.scep"]}}"#;
        let (status, body) = self
            .client
            .post(
                &self.server.url("/scep/challenge/jamf"),
                &basic(credentials),
                &event[..],
            )
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }
}

fn basic(credentials: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(credentials) = credentials {
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials))).unwrap(),
        );
    }
    headers
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A CSR as an MDM's SCEP payload makes it: the serial in the subject's serialNumber
/// attribute (`$SERIALNUMBER`), a device name as CN.
fn csr(key: &rcgen::KeyPair, serial: &str) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Alice's MacBook");
    params.distinguished_name.push(
        rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]),
        rcgen::DnValue::PrintableString(serial.try_into().unwrap()),
    );
    params.serialize_request(key).unwrap().der().to_vec()
}

/// A challenge in the documented `v1` format with any claims, signed with `key_b64`: for the
/// expired and wrongly signed cases no server would issue.
fn forge(key_b64: &str, claims: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &STANDARD.decode(key_b64).unwrap());
    let signed = format!("v1.{}", STANDARD_NO_PAD.encode(claims));
    let mut message = b"step-posture-connector/scep-challenge\x00".to_vec();
    message.extend_from_slice(signed.as_bytes());
    format!(
        "{signed}.{}",
        STANDARD_NO_PAD.encode(hmac::sign(&key, &message).as_ref())
    )
}

fn unix_now() -> i64 {
    now().unix_timestamp()
}

#[tokio::test]
async fn a_good_challenge_for_a_listed_device_is_allowed_with_its_data() {
    let gate = Gate::start(&[]).await;
    let key = rcgen::KeyPair::generate().unwrap();
    for challenge in [gate.jamf_challenge().await, STATIC.to_owned()] {
        let (status, body) = gate.challenge(&key, LISTED, &challenge, "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["allow"], true, "{body}");
        assert_eq!(body["data"]["user"]["email_address"], "alice@example.com");
    }
}

#[tokio::test]
async fn bad_expired_forged_foreign_and_replayed_challenges_are_refused() {
    let gate = Gate::start(&[]).await;
    let key = rcgen::KeyPair::generate().unwrap();
    let now = unix_now();
    let expired = forge(
        KEY,
        &format!(
            r#"{{"iat":{},"exp":{},"jti":"old"}}"#,
            now - 7200,
            now - 3600
        ),
    );
    let forged = forge(
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        &format!(r#"{{"iat":{now},"exp":{},"jti":"forged"}}"#, now + 600),
    );
    let bound_elsewhere = forge(
        KEY,
        &format!(
            r#"{{"iat":{now},"exp":{},"jti":"bound","sub":"{OTHER_LISTED}"}}"#,
            now + 600
        ),
    );
    for (what, challenge) in [
        ("a guess", "not-the-challenge"),
        ("an expired challenge", expired.as_str()),
        ("a challenge signed with another key", forged.as_str()),
        (
            "a challenge bound to another device",
            bound_elsewhere.as_str(),
        ),
    ] {
        let (status, body) = gate.challenge(&key, LISTED, challenge, "").await;
        assert_eq!(status, StatusCode::OK, "{what}");
        // step-ca shows SCEP clients no reason, so none is sent.
        assert_eq!(body, serde_json::json!({"allow": false}), "{what}");
    }
    // The same challenge with the same key is a retry; with another key, a replay.
    let challenge = gate.jamf_challenge().await;
    let (_, first) = gate.challenge(&key, LISTED, &challenge, "").await;
    assert_eq!(first["allow"], true, "{first}");
    let (_, retry) = gate.challenge(&key, LISTED, &challenge, "").await;
    assert_eq!(retry["allow"], true, "{retry}");
    let stranger = rcgen::KeyPair::generate().unwrap();
    let (_, replay) = gate.challenge(&stranger, LISTED, &challenge, "").await;
    assert_eq!(replay, serde_json::json!({"allow": false}));
    // A bound challenge works for its own device.
    let bound_here = forge(
        KEY,
        &format!(
            r#"{{"iat":{now},"exp":{},"jti":"mine","sub":"{LISTED}"}}"#,
            now + 600
        ),
    );
    let (_, body) = gate.challenge(&key, LISTED, &bound_here, "").await;
    assert_eq!(body["allow"], true, "{body}");
}

#[tokio::test]
async fn a_good_challenge_for_a_device_the_inventory_refuses_is_refused() {
    let gate = Gate::start(&[]).await;
    let key = rcgen::KeyPair::generate().unwrap();
    let challenge = gate.jamf_challenge().await;
    let (status, body) = gate.challenge(&key, UNLISTED, &challenge, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({"allow": false}));
    // Without posture, the challenge alone decides.
    let gate = Gate::start(&[("SCEP_POSTURE", "0")]).await;
    let challenge = gate.jamf_challenge().await;
    let (_, body) = gate.challenge(&key, UNLISTED, &challenge, "").await;
    assert_eq!(body, serde_json::json!({"allow": true}));
}

#[tokio::test]
async fn requests_are_authenticated_like_device_attest() {
    let gate = Gate::start(&[]).await;
    let key = rcgen::KeyPair::generate().unwrap();
    let body =
        RequestBody::scep_challenge(&csr(&key, LISTED), STATIC, "tx-1", "scep", now()).unwrap();
    let (status, answer) = gate
        .client
        .post(
            &gate.server.url("/webhook/scep-challenge"),
            &HeaderMap::new(),
            body.to_json(),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&answer), serde_json::json!({"allow": false}));
    // A device-attest body at the SCEP path is refused, and a SCEP body at the ACME one.
    let (_, refused) = gate
        .signed(
            "/webhook/scep-challenge",
            &step_posture_tests::server::enriching_body(LISTED, None).unwrap(),
        )
        .await;
    assert_eq!(refused, serde_json::json!({"allow": false}));
    let (_, refused) = gate.signed("/webhook/device-attest", &body).await;
    assert_eq!(refused["allow"], false, "{refused}");
}

#[tokio::test]
async fn the_issuing_routes_need_their_own_credentials() {
    let gate = Gate::start(&[]).await;
    for credentials in [None, Some("jamf:wrong-password-0123456789")] {
        let (status, _) = gate.issue(credentials).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{credentials:?}");
    }
    // The webhook secret is not a credential here.
    let (status, _) = gate
        .issue(Some(&format!(
            "{}:{}",
            step_posture_tests::server::ENRICHING_ID,
            step_posture_tests::server::ENRICHING_SECRET
        )))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // NDES admin page: the challenge where Jamf's and Fleet's scrapers look for it.
    let (status, page) = gate
        .client
        .send(
            Method::GET,
            &gate.server.url("/certsrv/mscep_admin/"),
            &basic(Some(ISSUER)),
            bytes::Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page.to_vec()).unwrap();
    let marker = "The enrollment challenge password is: <B> ";
    let start = page.find(marker).unwrap() + marker.len();
    let challenge: String = page[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(challenge.starts_with("v1."), "{page}");
    let key = rcgen::KeyPair::generate().unwrap();
    let (_, body) = gate.challenge(&key, LISTED, &challenge, "").await;
    assert_eq!(body["allow"], true, "{body}");
    // Without SCEP_ISSUER_BASIC_AUTH, the routes don't exist.
    let gate = Gate::start(&[("SCEP_ISSUER_BASIC_AUTH", "")]).await;
    let (status, _) = gate.issue(Some(ISSUER)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn notifications_are_answered_and_a_retry_is_recognised() {
    let gate = Gate::start(&[]).await;
    let key = rcgen::KeyPair::generate().unwrap();
    let der = csr(&key, LISTED);
    let certificate = issue(&key, None, None);
    let success = RequestBody::scep_notify_success(&der, certificate.der(), "tx-9", now()).unwrap();
    for _ in 0..2 {
        let (status, body) = gate.signed("/webhook/scep-notify", &success).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({}));
    }
    let failure = RequestBody::scep_notify_failure(&der, "tx-10", "signing failed", now()).unwrap();
    let (status, body) = gate.signed("/webhook/scep-notify", &failure).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({}));
    // A challenge body at the notification path is refused.
    let challenge = RequestBody::scep_challenge(&der, STATIC, "tx-11", "scep", now()).unwrap();
    let (_, body) = gate.signed("/webhook/scep-notify", &challenge).await;
    assert_eq!(body, serde_json::json!({"allow": false}));
}

#[tokio::test]
async fn the_issuing_routes_can_have_a_listener_of_their_own_without_client_certificates() {
    let pki = Pki::generate().unwrap();
    let ca = pki.ca.display().to_string();
    let server = TestServer::start(
        &pki,
        &[
            ("SCEP_CHALLENGE", "signed"),
            ("SCEP_CHALLENGE_KEY", KEY),
            ("SCEP_ISSUER_BASIC_AUTH", ISSUER),
            ("SCEP_ISSUER_ADDR", "127.0.0.1:0"),
            // The webhook port demands step-ca's certificate, which an MDM doesn't have.
            ("ENABLE_MTLS", "1"),
            ("TLS_CA_PATH", ca.as_str()),
            ("MTLS_ALLOWED_NAMES", step_posture_tests::pki::STEP_CA_NAME),
        ],
    )
    .await
    .unwrap();
    let issuer = server.issuer_addr().unwrap();
    let mdm = Client::new(&pki).unwrap();
    let url = |path: &str| -> http::Uri {
        format!("https://localhost:{}{path}", issuer.port())
            .parse()
            .unwrap()
    };
    let (status, page) = mdm
        .send(
            Method::GET,
            &url("/certsrv/mscep_admin/"),
            &basic(Some(ISSUER)),
            bytes::Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8_lossy(&page).contains("The enrollment challenge password is: <B> v1."),
        "{page:?}"
    );
    // Nothing a webhook does is served there.
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&step_posture_tests::server::enriching_body(LISTED, None).unwrap());
    let (status, _) = mdm
        .post(&url("/webhook/device-attest"), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    // And the webhook port still refuses a client without step-ca's certificate.
    assert!(
        mdm.send(
            Method::GET,
            &server.url("/certsrv/mscep_admin/"),
            &basic(Some(ISSUER)),
            bytes::Bytes::new()
        )
        .await
        .is_err()
    );
}

/// A certificate for `key` with the CN [`LISTED`] and `serial` as its serial number (else
/// a random one), from a new CA with the CN `issuer_cn` (else rcgen's default name).
fn issue(
    key: &rcgen::KeyPair,
    issuer_cn: Option<&str>,
    serial: Option<&[u8]>,
) -> rcgen::Certificate {
    let mut issuer = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    issuer.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    if let Some(cn) = issuer_cn {
        issuer
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
    }
    let issuer_key = rcgen::KeyPair::generate().unwrap();
    let issuer = rcgen::CertifiedIssuer::self_signed(issuer, issuer_key).unwrap();
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.serial_number = serial.map(rcgen::SerialNumber::from_slice);
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, LISTED);
    leaf.signed_by(key, &issuer).unwrap()
}

/// A fake Intune (tenant, Graph discovery and the SCEP validation service), the gate with
/// `SCEP_CHALLENGE=intune` against it, the file provider deciding posture, and a device's
/// key.
async fn intune_gate() -> (posture_fakes::intune::FakeIntune, Gate, rcgen::KeyPair) {
    let intune = posture_fakes::intune::FakeIntune::start().await.unwrap();
    let vars = intune.env_vars();
    let extra = [
        ("SCEP_CHALLENGE", "intune"),
        ("SCEP_CHALLENGE_KEY", ""),
        ("SCEP_STATIC_CHALLENGE", ""),
        ("METRICS_ADDR", "127.0.0.1:0"),
    ];
    let gate = Gate::start(&with_vars(&vars, &extra)).await;
    (intune, gate, rcgen::KeyPair::generate().unwrap())
}

/// Every SCEP validation call had the documented shape (the fake checks path, api-version
/// header, UUID client-request-id, body keys and formats).
fn assert_documented(intune: &posture_fakes::intune::FakeIntune) {
    for call in intune.scep_calls() {
        assert_eq!(call.refused, None, "{call:?}");
        assert_eq!(call.api_version.as_deref(), Some("2018-02-20"));
    }
}

fn actions(intune: &posture_fakes::intune::FakeIntune) -> Vec<String> {
    intune.scep_calls().into_iter().map(|c| c.action).collect()
}

#[tokio::test]
async fn an_intune_challenge_is_validated_by_intune() {
    let (intune, gate, key) = intune_gate().await;
    let der = csr(&key, LISTED);
    let (status, body) = challenge_with(&gate, &der).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allow"], true, "{body}");
    assert!(body["data"].is_object(), "{body}");
    let calls = intune.scep_calls();
    assert_eq!(calls.len(), 1);
    let request = &calls[0].body["request"];
    assert_eq!(request["transactionId"], "tx-1");
    assert_eq!(request["certificateRequest"], STANDARD.encode(&der));
    assert_documented(&intune);
    // Both tokens: Graph for discovery, the Intune API for the call.
    let scopes = intune.token_scopes();
    assert!(
        scopes
            .iter()
            .any(|s| s == "https://api.manage.microsoft.com//.default"),
        "{scopes:?}"
    );
    assert!(
        scopes
            .iter()
            .any(|s| s == "https://graph.microsoft.com/.default"),
        "{scopes:?}"
    );

    // Intune's refusal is a refusal, without asking for a notification.
    intune.set_scep_answer(posture_fakes::intune::ScepAnswer::Code(
        "ChallengeExpired".into(),
    ));
    let (status, body) = gate.challenge(&key, LISTED, "opaque-intune-blob", "").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, serde_json::json!({"allow": false}))
    );
    // 429 and 500 are worth step-ca's retry.
    for code in [429, 500] {
        intune.set_scep_answer(posture_fakes::intune::ScepAnswer::Status(code));
        let (status, _) = gate.challenge(&key, LISTED, "opaque-intune-blob", "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{code}");
    }
    assert!(
        !actions(&intune).iter().any(|a| a != "validateRequest"),
        "{:?}",
        actions(&intune)
    );
    assert_documented(&intune);
    let (_, metrics) =
        super::ops::http_get(gate.server.metrics_addr().unwrap(), "GET", "/metrics").await;
    for (result, count) in [("success", 1), ("rejected", 1), ("transient", 2)] {
        let line = format!(
            "step_posture_scep_intune_calls_total{{action=\"validateRequest\",result=\"{result}\"}} {count}"
        );
        assert!(metrics.contains(&line), "{line}\n{metrics}");
    }
    // Each call is timed too.
    let timed =
        "step_posture_scep_intune_call_duration_seconds_count{action=\"validateRequest\"} 4";
    assert!(metrics.contains(timed), "{timed}\n{metrics}");
}

/// A SCEPCHALLENGE with this very CSR (ECDSA signatures differ each time one is made).
async fn challenge_with(gate: &Gate, der: &[u8]) -> (StatusCode, serde_json::Value) {
    let body =
        RequestBody::scep_challenge(der, "opaque-intune-blob", "tx-1", "scep", now()).unwrap();
    gate.signed("/webhook/scep-challenge", &body).await
}

#[tokio::test]
async fn a_posture_refusal_after_intune_success_is_reported_to_intune() {
    let (intune, gate, key) = intune_gate().await;
    let (status, body) = gate
        .challenge(&key, UNLISTED, "opaque-intune-blob", "")
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, serde_json::json!({"allow": false}))
    );
    assert_eq!(actions(&intune), ["validateRequest", "failureNotification"]);
    let calls = intune.scep_calls();
    let notification = &calls[1].body["notification"];
    assert_eq!(notification["transactionId"], "tx-1");
    assert_eq!(notification["hResult"], 0x8009_4004_i64);
    assert_documented(&intune);
}

#[tokio::test]
async fn an_issued_certificate_is_reported_to_intune_once() {
    let (intune, gate, key) = intune_gate().await;
    let der = csr(&key, LISTED);
    let (_, body) = challenge_with(&gate, &der).await;
    assert_eq!(body["allow"], true, "{body}");
    let serial = [0x5d, 0x2e, 0x0c, 0x01];
    let certificate = issue(&key, Some("Example Issuing CA"), Some(&serial));
    let success = RequestBody::scep_notify_success(&der, certificate.der(), "tx-1", now()).unwrap();
    // step-ca delivers twice (a retry after a lost answer).
    for _ in 0..2 {
        let (status, body) = gate.signed("/webhook/scep-notify", &success).await;
        assert_eq!((status, body), (StatusCode::OK, serde_json::json!({})));
    }
    // A transaction Intune never validated is not forwarded.
    let other =
        RequestBody::scep_notify_failure(&der, "tx-unknown", "signing failed", now()).unwrap();
    gate.signed("/webhook/scep-notify", &other).await;
    assert_eq!(actions(&intune), ["validateRequest", "successNotification"]);
    let calls = intune.scep_calls();
    let notification = &calls[1].body["notification"];
    let sha1: String =
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, certificate.der())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
    assert_eq!(notification["certificateThumbprint"], sha1);
    assert_eq!(notification["certificateSerialNumber"], "5D2E0C01");
    assert_eq!(
        notification["issuingCertificateAuthority"],
        "CN=Example Issuing CA"
    );
    assert_eq!(notification["transactionId"], "tx-1");
    assert_eq!(notification["certificateRequest"], STANDARD.encode(&der));
    assert_documented(&intune);
}
