//! The optional per-webhook `Authorization` header: required in addition to the HMAC when
//! configured, never instead of it.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, StatusCode};
use smallstep_webhook::{Authorization, RequestBody};
use step_posture_tests::deployment::{Deployment, Expect};
use step_posture_tests::server::{
    ENRICHING_ID, authorizing_signer, enriching_body, enriching_signer, signed_enriching,
};

const TOKEN: &str = "s3cr3t-bearer-token";
const USER: &str = "step-ca";
const PASSWORD: &str = "pa:ss;word";

/// The ENRICHING webhook needs a bearer token, the AUTHORIZING one basic credentials.
async fn deployment() -> Deployment {
    // The password holds a colon: only the first one separates it from the user name. The
    // credentials come from a file, one entry per line (the first, empty, is ENRICHING's).
    let dir = tempfile::tempdir().unwrap();
    let basic = dir.path().join("basic");
    std::fs::write(&basic, format!("\n{USER}:{PASSWORD}\n")).unwrap();
    let basic = basic.display().to_string();
    let tokens = format!("{TOKEN},");
    let d = crate::start(&[
        ("WEBHOOK_BEARER_TOKENS", tokens.as_str()),
        ("WEBHOOK_BASIC_AUTH_FILE", basic.as_str()),
    ])
    .await;
    drop(dir);
    d
}

fn with_authorization(mut headers: HeaderMap, value: Option<&str>) -> HeaderMap {
    headers.remove(AUTHORIZATION);
    if let Some(value) = value {
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    }
    headers
}

/// A request about a listed device from the ENRICHING webhook, with its bearer token.
fn with_the_bearer_token() -> (HeaderMap, Vec<u8>) {
    let signer = enriching_signer()
        .unwrap()
        .with_authorization(Authorization::bearer(TOKEN).unwrap());
    let signed = signer.sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    (signed.headers, signed.body)
}

/// Each case's `Authorization` value (`None`: no header at all) in place of the right one
/// gets a bare 401.
async fn refused_with(
    d: &Deployment,
    (headers, body): (&HeaderMap, &[u8]),
    cases: &[(&str, Option<String>)],
) {
    for (case, value) in cases {
        let headers = with_authorization(headers.clone(), value.as_deref());
        let unauthorized = Expect::refused(StatusCode::UNAUTHORIZED);
        d.expect_post(case, &headers, body.to_vec(), &unauthorized)
            .await;
    }
}

/// `auth`'s header value, as a case for [`refused_with`].
fn header(auth: &Authorization) -> Option<String> {
    Some(auth.header_value().to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_bearer_token_is_required_and_checked_when_configured() {
    let d = deployment().await;
    let (headers, body) = with_the_bearer_token();
    // The scheme is case-insensitive, as HTTP says.
    let lower = with_authorization(headers.clone(), Some(&format!("bearer {TOKEN}")));
    for (case, headers) in [("as signed", headers.clone()), ("lower-case scheme", lower)] {
        d.expect_post(case, &headers, body.clone(), &Expect::allowed())
            .await;
    }
    let prefix = &TOKEN[..TOKEN.len() - 1];
    refused_with(
        &d,
        (&headers, &body),
        &[
            ("missing", None),
            ("wrong token", Some("Bearer not-the-token".to_owned())),
            ("token with a byte more", Some(format!("Bearer {TOKEN}x"))),
            ("token prefix", Some(format!("Bearer {prefix}"))),
            ("basic instead of bearer", Some(format!("Basic {TOKEN}"))),
            ("no scheme", Some(TOKEN.to_owned())),
            ("empty", Some(String::new())),
        ],
    )
    .await;
    // Two Authorization headers, one of them right: refused.
    let mut twice = headers.clone();
    twice.append(AUTHORIZATION, HeaderValue::from_static("Bearer other"));
    let unauthorized = Expect::refused(StatusCode::UNAUTHORIZED);
    d.expect_post("twice", &twice, body, &unauthorized).await;
}

#[tokio::test]
async fn the_right_token_does_not_replace_the_hmac() {
    let d = deployment().await;
    let (headers, body) = with_the_bearer_token();
    let mut tampered = body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    let mut unsigned = headers.clone();
    unsigned.remove(smallstep_webhook::SIGNATURE_HEADER);
    // Signed with the AUTHORIZING webhook's secret, sent under the ENRICHING ID.
    let other = authorizing_signer()
        .unwrap()
        .with_authorization(Authorization::bearer(TOKEN).unwrap());
    let mut cross = other.headers(&body);
    cross.insert(
        smallstep_webhook::WEBHOOK_ID_HEADER,
        HeaderValue::from_static(ENRICHING_ID),
    );
    for (case, headers, body) in [
        ("right token, body changed after signing", headers, tampered),
        ("right token, no signature at all", unsigned, body.clone()),
        (
            "right token and signature, for the other webhook",
            cross,
            body,
        ),
    ] {
        let unauthorized = Expect::status(StatusCode::UNAUTHORIZED);
        d.expect_post(case, &headers, body, &unauthorized).await;
    }
}

#[tokio::test]
async fn basic_credentials_are_required_and_checked_when_configured() {
    let d = deployment().await;
    let body =
        RequestBody::device_attest_authorizing("C02XL0GJJG5J", time::OffsetDateTime::now_utc());
    let right = authorizing_signer()
        .unwrap()
        .with_authorization(Authorization::basic(USER, PASSWORD).unwrap());
    let signed = right.sign_body(&body);
    let (headers, body) = (&signed.headers, &signed.body);
    d.expect_post(
        "right credentials",
        headers,
        body.clone(),
        &Expect::allowed(),
    )
    .await;
    refused_with(
        &d,
        (headers, body),
        &[
            ("missing", None),
            (
                "wrong password",
                header(&Authorization::basic(USER, "wrong").unwrap()),
            ),
            (
                "wrong user",
                header(&Authorization::basic("someone", PASSWORD).unwrap()),
            ),
            (
                "a bearer token instead",
                header(&Authorization::bearer(TOKEN).unwrap()),
            ),
            ("not base64", Some("Basic !!!".to_owned())),
            (
                "unencoded credentials",
                Some(format!("Basic {USER}:{PASSWORD}")),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn webhooks_without_credentials_need_no_authorization_header() {
    // Only the AUTHORIZING webhook has a token here; the ENRICHING one has an empty entry.
    let tokens = format!(",{TOKEN}");
    let d = crate::start(&[("WEBHOOK_BEARER_TOKENS", tokens.as_str())]).await;
    let (headers, body) = signed_enriching("C02XL0GJJG5J").unwrap();
    let whatever = with_authorization(headers.clone(), Some("Bearer whatever"));
    let authorizing =
        authorizing_signer()
            .unwrap()
            .sign_body(&RequestBody::device_attest_authorizing(
                "C02XL0GJJG5J",
                time::OffsetDateTime::now_utc(),
            ));
    for (case, headers, body, status) in [
        (
            "ENRICHING, no header",
            headers,
            body.clone(),
            StatusCode::OK,
        ),
        // An Authorization header nobody asked for changes nothing.
        (
            "ENRICHING, a header nobody asked for",
            whatever,
            body,
            StatusCode::OK,
        ),
        // The AUTHORIZING webhook needs its token.
        (
            "AUTHORIZING without its token",
            authorizing.headers,
            authorizing.body,
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        d.expect_post(case, &headers, body, &Expect::status(status))
            .await;
    }
}
