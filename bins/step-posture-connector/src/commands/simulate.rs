//! `simulate`: a signed webhook request (ACME device-attest or SCEP) sent to a running
//! server, as step-ca would send it.

use std::path::PathBuf;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::Uri;
use smallstep_webhook::{RequestBody, ResponseBody, Signer, WebhookSecret};

use crate::client::{Connection, client_config};

/// What `simulate` sends.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) struct SimulateOptions {
    /// The webhook URL, e.g. `https://127.0.0.1:9443/webhook/device-attest?mode=computer`.
    pub(crate) url: String,
    /// The webhook ID step-ca would send.
    pub(crate) webhook_id: String,
    /// The webhook secret, base64 as step-ca prints it.
    pub(crate) secret: String,
    /// The permanent identifier (serial number) to attest.
    pub(crate) serial: String,
    /// The certificate's common name, when it should differ from the serial (to test the
    /// mismatch rule).
    pub(crate) common_name: Option<String>,
    /// Send an AUTHORIZING body instead of an ENRICHING one.
    pub(crate) authorizing: bool,
    /// CA bundle to trust instead of the Mozilla roots.
    pub(crate) ca_cert: Option<PathBuf>,
    /// Client certificate and key for mTLS.
    pub(crate) client_identity: Option<(PathBuf, PathBuf)>,
    /// Play a SCEP provisioner instead of ACME: a SCEPCHALLENGE with this challenge, or a
    /// NOTIFYING body.
    pub(crate) scep: Option<ScepSimulation>,
}

/// What `simulate` sends as a SCEP provisioner.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) enum ScepSimulation {
    /// A SCEPCHALLENGE body: a fresh CSR whose subject carries the serial (serialNumber
    /// attribute) and the common name, with this challenge password.
    Challenge(String),
    /// A NOTIFYING body for a certificate issued to such a CSR.
    NotifySuccess,
    /// A NOTIFYING body for a failed issuance.
    NotifyFailure,
}

impl SimulateOptions {
    /// Options with the required fields; the rest default to an enriching call with no CA
    /// override and no client certificate.
    pub(crate) fn new(
        url: impl Into<String>,
        webhook_id: impl Into<String>,
        secret: impl Into<String>,
        serial: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            webhook_id: webhook_id.into(),
            secret: secret.into(),
            serial: serial.into(),
            common_name: None,
            authorizing: false,
            ca_cert: None,
            client_identity: None,
            scep: None,
        }
    }
}

/// The answer `simulate` got.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) struct SimulateResult {
    /// HTTP status.
    pub(crate) status: http::StatusCode,
    /// The parsed response, when the body was a webhook response.
    pub(crate) response: Option<ResponseBody>,
    /// The raw body.
    pub(crate) body: Bytes,
}

impl SimulateResult {
    /// Whether the webhook allowed the certificate.
    pub(crate) fn allowed(&self) -> bool {
        self.status == http::StatusCode::OK && self.response.as_ref().is_some_and(|r| r.allow)
    }

    /// A human summary, as `simulate` prints it.
    pub(crate) fn summary(&self) -> String {
        match &self.response {
            Some(response) if self.status == http::StatusCode::OK && response.allow => {
                let data = response
                    .data
                    .as_ref()
                    .map(|d| pretty(d.get()))
                    .unwrap_or_else(|| "(no data)".to_owned());
                format!("ALLOW (HTTP 200)\ndata: {data}")
            }
            Some(response) if self.status == http::StatusCode::OK => match &response.error {
                Some(error) => format!(
                    "DENY (HTTP 200)\ncode: {}\nmessage: {}",
                    error.code, error.message
                ),
                None => "DENY (HTTP 200, no reason given)".to_owned(),
            },
            _ => format!(
                "REFUSED (HTTP {}): {}",
                self.status.as_u16(),
                String::from_utf8_lossy(&self.body)
            ),
        }
    }
}

fn pretty(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json.to_owned())
}

/// `simulate`: builds the body step-ca would build for a device-attest order (with a real
/// CSR whose CN is the serial), signs it like step-ca, sends it and returns the answer.
pub(crate) async fn simulate(options: &SimulateOptions) -> anyhow::Result<SimulateResult> {
    // Shown in errors without any password it may carry.
    let shown = posture_http::redact_userinfo(&options.url);
    let url: Uri = options
        .url
        .parse()
        .with_context(|| format!("--url {shown:?} is not a URL"))?;
    if url
        .authority()
        .is_some_and(|authority| authority.as_str().contains('@'))
    {
        bail!("--url {shown:?} must not contain a user name or password: the webhook takes none");
    }
    let secret = WebhookSecret::from_base64(&options.secret)
        .context("--secret is not a valid webhook secret (the base64 text step-ca printed)")?;
    let common_name = options.common_name.as_deref().unwrap_or(&options.serial);
    let now = time::OffsetDateTime::now_utc();
    let body = if let Some(scep) = &options.scep {
        scep_body(scep, &options.serial, common_name, now)?
    } else if options.authorizing {
        let mut body = RequestBody::device_attest_authorizing(&options.serial, now);
        if options.common_name.is_some()
            && let Some(template) = body
                .x509_certificate
                .as_mut()
                .and_then(|cert| cert.template.as_mut())
        {
            template.subject = smallstep_webhook::Name::with_common_name(common_name);
        }
        body
    } else {
        let (key, params) = device_csr_params(common_name)?;
        let csr = params.serialize_request(&key).context("building the CSR")?;
        RequestBody::device_attest_enriching(&options.serial, csr.der(), now)
            .context("building the request body")?
    };
    let signed = Signer::new(options.webhook_id.clone(), secret)
        .context("--webhook-id cannot be sent in a header")?
        .sign_body(&body);
    let tls = client_config(
        options.ca_cert.as_deref(),
        options
            .client_identity
            .as_ref()
            .map(|(cert, key)| (cert.as_path(), key.as_path())),
    )?;
    let mut connection = Connection::open(&url, tls).await?;
    let (status, body) = connection
        .post(&url, &signed.headers, Bytes::from(signed.body))
        .await?;
    let response = serde_json::from_slice::<ResponseBody>(&body).ok();
    Ok(SimulateResult {
        status,
        response,
        body,
    })
}

/// A fresh device key, and certificate-request parameters whose subject is only
/// `common_name` (rcgen's default subject has a CN of its own).
fn device_csr_params(
    common_name: &str,
) -> anyhow::Result<(rcgen::KeyPair, rcgen::CertificateParams)> {
    let key = rcgen::KeyPair::generate().context("generating a device key")?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    Ok((key, params))
}

/// A SCEP body as step-ca would send it for a device with serial `serial`.
fn scep_body(
    scep: &ScepSimulation,
    serial: &str,
    common_name: &str,
    now: time::OffsetDateTime,
) -> anyhow::Result<RequestBody> {
    let (key, mut params) = device_csr_params(common_name)?;
    params.distinguished_name.push(
        rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]),
        rcgen::DnValue::PrintableString(
            serial
                .try_into()
                .context("the serial is not a PrintableString")?,
        ),
    );
    let transaction_id = format!("simulate-{}", now.unix_timestamp_nanos());
    Ok(match scep {
        ScepSimulation::Challenge(challenge) => {
            let csr = params
                .serialize_request_with_attributes(&key, vec![challenge_password(challenge)])
                .context("building the CSR")?;
            RequestBody::scep_challenge(csr.der(), challenge.as_str(), transaction_id, "scep", now)
                .context("building the request body")?
        }
        ScepSimulation::NotifySuccess => {
            let csr = params.serialize_request(&key).context("building the CSR")?;
            let issuer_key = rcgen::KeyPair::generate()?;
            let mut issuer = rcgen::CertificateParams::new(Vec::<String>::new())?;
            issuer.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let issuer = rcgen::CertifiedIssuer::self_signed(issuer, issuer_key)?;
            let certificate = params.signed_by(&key, &issuer)?;
            RequestBody::scep_notify_success(csr.der(), certificate.der(), transaction_id, now)
                .context("building the request body")?
        }
        ScepSimulation::NotifyFailure => {
            let csr = params.serialize_request(&key).context("building the CSR")?;
            RequestBody::scep_notify_failure(csr.der(), transaction_id, "simulated failure", now)
                .context("building the request body")?
        }
    })
}

/// The PKCS #9 challengePassword attribute (1.2.840.113549.1.9.7) with `challenge` as a
/// PrintableString when it fits one, else a UTF8String.
fn challenge_password(challenge: &str) -> rcgen::Attribute {
    let tag = if crate::scep::challenge::is_printable_string(challenge) {
        0x13
    } else {
        0x0c
    };
    let mut value = vec![tag];
    let bytes = challenge.as_bytes();
    if bytes.len() < 128 {
        value.push(u8::try_from(bytes.len()).unwrap_or(0));
    } else {
        value.push(0x81);
        value.push(u8::try_from(bytes.len().min(255)).unwrap_or(255));
    }
    value.extend_from_slice(&bytes[..bytes.len().min(255)]);
    rcgen::Attribute {
        oid: &[1, 2, 840, 113_549, 1, 9, 7],
        values: value,
    }
}
