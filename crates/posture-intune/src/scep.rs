//! Microsoft Intune's SCEP validation service, for third-party certification authorities.
//!
//! Intune puts an encrypted, signed challenge into each device's SCEP profile; the SCEP
//! server hands the whole CSR (which carries it as challengePassword) to Intune, which
//! checks the challenge and that the CSR matches the profile, and later hears whether a
//! certificate was issued. Microsoft publishes no REST specification: the wire shapes here
//! are those Microsoft's own client libraries send.
//!
//! 1. Two client-credentials tokens from the tenant's authority: one for Microsoft Graph
//!    (discovery), one for the Intune API (`INTUNE_SCEP_SCOPE`, by default
//!    `https://api.manage.microsoft.com//.default`, with the double slash the libraries send).
//! 2. Discovery: `GET {graph}/v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints`,
//!    the entry whose `providerName` is `ScepRequestValidationFEService` (any case); its `uri`
//!    is cached for an hour, dropped on a transient failure of a call to it, or fixed with
//!    `INTUNE_SCEP_SERVICE_URL`.
//! 3. `POST {uri}/ScepActions/{validateRequest|successNotification|failureNotification}`
//!    with `api-version: 2018-02-20` and a fresh `client-request-id` header, bodies
//!    `{"request":{…}}` or `{"notification":{…}}`; Intune answers 200 with
//!    `{"code":"Success"|<error>,"errorDescription":…}`.
//!
//! Permissions: Graph `Application.Read.All` (discovery) and the Intune API's
//! `scep_challenge_provider` (the calls), both application permissions with admin consent.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use posture_core::ProviderError;
use posture_http::env::{ConfigProblem, ConfigProblems};
use posture_http::{BaseUrl, StatusCode, decode_json};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::client::{Call, GraphClient};
use crate::config::{IntuneConfig, IntuneConfigError};
use crate::error::IntuneError;

/// The `INTUNE_SCEP_SCOPE` default: the Intune API resource, exactly as Microsoft's
/// libraries write it (resource URL with its trailing slash, then `/.default`).
pub const DEFAULT_SCEP_SCOPE: &str = "https://api.manage.microsoft.com//.default";

/// The `api-version` header of every SCEP validation call.
pub const API_VERSION: &str = "2018-02-20";

/// The application ID of the Intune service principal whose endpoints list the service.
pub const INTUNE_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";

/// The `providerName` of the SCEP validation service among those endpoints.
pub const SERVICE_PROVIDER_NAME: &str = "ScepRequestValidationFEService";

/// How long a discovered service URL is used before it is looked up again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// The `hResult` reported when the certificate is refused after Intune validated the
/// request (`CERTSRV_E_…`: the request was denied).
pub const HRESULT_DENIED: u32 = 0x8009_4004;

/// The `hResult` reported when issuance failed (`E_FAIL`).
pub const HRESULT_FAILED: u32 = 0x8000_4005;

/// Intune limits `errorDescription` in a failure notification to 255 characters.
const MAX_ERROR_DESCRIPTION: usize = 255;

const SERVICE: &str = "Intune SCEP validation";

/// Settings of the Intune SCEP validation client: the tenant and app of the Intune
/// provider, plus the Intune API scope and, optionally, a fixed service URL.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IntuneScepConfig {
    intune: IntuneConfig,
    scope: String,
    service_url: Option<BaseUrl>,
    caller_info: String,
}

impl IntuneScepConfig {
    /// The defaults for `intune`'s tenant and credentials.
    pub fn new(intune: IntuneConfig) -> Self {
        Self {
            intune,
            scope: DEFAULT_SCEP_SCOPE.to_owned(),
            service_url: None,
            caller_info: concat!("step-posture-connector/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// Reads the Intune provider's variables ([`IntuneConfig::from_env`]), then
    /// `INTUNE_SCEP_SCOPE` and `INTUNE_SCEP_SERVICE_URL`. Every problem is reported.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, IntuneConfigError> {
        let mut problems = Vec::new();
        let intune = IntuneConfig::from_env(&get).map_err(|err| {
            problems.extend(err.problems().iter().cloned());
        });
        let value = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let scope = match value("INTUNE_SCEP_SCOPE") {
            None => Some(DEFAULT_SCEP_SCOPE.to_owned()),
            Some(scope) if scope.ends_with("/.default") && !scope.contains(char::is_whitespace) => {
                Some(scope)
            }
            Some(scope) => {
                problems.push(ConfigProblem::invalid(
                    "INTUNE_SCEP_SCOPE",
                    &scope,
                    "the Intune API resource followed by /.default, such as \
                     https://api.manage.microsoft.com//.default",
                ));
                None
            }
        };
        let service_url = match value("INTUNE_SCEP_SERVICE_URL") {
            None => Some(None),
            Some(url) => match BaseUrl::parse(&url) {
                Ok(parsed) => Some(Some(parsed)),
                Err(err) => {
                    problems.push(ConfigProblem::invalid(
                        "INTUNE_SCEP_SERVICE_URL",
                        &url,
                        format!(
                            "the https URL of ScepRequestValidationFEService, or unset to discover it ({err})"
                        ),
                    ));
                    None
                }
            },
        };
        match (intune, scope, service_url) {
            (Ok(intune), Some(scope), Some(service_url)) if problems.is_empty() => {
                let mut config = Self::new(intune);
                config.scope = scope;
                config.service_url = service_url;
                Ok(config)
            }
            _ => Err(ConfigProblems::new(problems)),
        }
    }

    /// Uses this scope for the Intune API token.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// Uses this service URL instead of discovering it.
    pub fn with_service_url(mut self, url: BaseUrl) -> Self {
        self.service_url = Some(url);
        self
    }

    /// The tenant, app and Graph settings.
    pub fn intune(&self) -> &IntuneConfig {
        &self.intune
    }

    /// The Intune API token scope.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The fixed service URL, if set.
    pub fn service_url(&self) -> Option<&BaseUrl> {
        self.service_url.as_ref()
    }
}

/// What Intune answered to a SCEP validation call.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ScepVerdict {
    /// `code` was `Success`.
    Success,
    /// Any other `code`: a definitive refusal (the same request would fail again).
    Rejected {
        /// Intune's code, such as `ChallengeExpired`.
        code: String,
        /// Intune's `errorDescription`, possibly empty.
        description: String,
    },
}

/// The issued certificate's details Intune wants in a success notification, read from its
/// DER.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct IssuedCertificate {
    /// SHA-1 of the DER, upper-case hex without separators (the Windows thumbprint).
    pub thumbprint: String,
    /// The serial number, upper-case hex without separators.
    pub serial: String,
    /// `notAfter`, `YYYY-MM-DDThh:mm:ss.sssZ`.
    pub expires: String,
    /// The issuer's distinguished name.
    pub issuer: String,
}

/// The issued certificate could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("the issued certificate cannot be read: {reason}")]
pub struct CertificateError {
    reason: String,
}

impl IssuedCertificate {
    /// Reads a certificate's DER.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let (_, parsed) = X509Certificate::from_der(der).map_err(|err| CertificateError {
            reason: err.to_string(),
        })?;
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02X}")).collect::<String>();
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let expires = parsed
            .validity()
            .not_after
            .to_datetime()
            .to_offset(time::UtcOffset::UTC)
            .format(format)
            .map_err(|err| CertificateError {
                reason: err.to_string(),
            })?;
        Ok(Self {
            thumbprint: hex(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref()),
            serial: hex(parsed.raw_serial()),
            expires,
            issuer: parsed.issuer().to_string(),
        })
    }
}

/// The body of `validateRequest`.
pub fn validate_request_body(transaction_id: &str, csr_base64: &str, caller_info: &str) -> Value {
    json!({"request": {
        "transactionId": transaction_id,
        "certificateRequest": csr_base64,
        "callerInfo": caller_info,
    }})
}

/// The body of `successNotification`.
pub fn success_notification_body(
    transaction_id: &str,
    csr_base64: &str,
    certificate: &IssuedCertificate,
    caller_info: &str,
) -> Value {
    json!({"notification": {
        "transactionId": transaction_id,
        "certificateRequest": csr_base64,
        "certificateThumbprint": certificate.thumbprint,
        "certificateSerialNumber": certificate.serial,
        "certificateExpirationDateUtc": certificate.expires,
        "issuingCertificateAuthority": certificate.issuer,
        "callerInfo": caller_info,
        "caConfiguration": "",
        "certificateAuthority": "",
    }})
}

/// The body of `failureNotification`; the description is cut to Intune's 255 characters.
pub fn failure_notification_body(
    transaction_id: &str,
    csr_base64: &str,
    hresult: u32,
    description: &str,
    caller_info: &str,
) -> Value {
    let description: String = description.chars().take(MAX_ERROR_DESCRIPTION).collect();
    json!({"notification": {
        "transactionId": transaction_id,
        "certificateRequest": csr_base64,
        "hResult": i64::from(hresult),
        "errorDescription": description,
        "callerInfo": caller_info,
    }})
}

#[derive(Deserialize)]
struct ActionAnswer {
    code: Option<String>,
    #[serde(rename = "errorDescription")]
    error_description: Option<String>,
}

/// Reads the answer of a SCEP action: `code` decides; unknown keys are ignored.
pub fn parse_verdict(request: &str, body: &[u8]) -> Result<ScepVerdict, ProviderError> {
    let answer: ActionAnswer = decode_json(SERVICE, request, body)?;
    match answer.code.as_deref() {
        Some("Success") => Ok(ScepVerdict::Success),
        Some(code) if !code.is_empty() => Ok(ScepVerdict::Rejected {
            code: code.chars().take(64).collect(),
            description: answer
                .error_description
                .unwrap_or_default()
                .chars()
                .take(512)
                .collect(),
        }),
        _ => Err(ProviderError::permanent(format!(
            "{SERVICE} answered {request} without a code"
        ))),
    }
}

#[derive(Deserialize)]
struct Endpoints {
    value: Vec<Endpoint>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "providerName")]
    provider_name: Option<String>,
    uri: Option<String>,
}

/// Picks the SCEP validation service's URI from Graph's endpoints of the Intune service
/// principal.
pub fn parse_service_url(body: &[u8]) -> Result<BaseUrl, ProviderError> {
    let request = "GET servicePrincipals/appId=…/endpoints";
    let endpoints: Endpoints = decode_json("Microsoft Graph", request, body)?;
    let uri = endpoints
        .value
        .into_iter()
        .find(|e| {
            e.provider_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(SERVICE_PROVIDER_NAME))
        })
        .and_then(|e| e.uri)
        .ok_or_else(|| {
            ProviderError::permanent(format!(
                "Microsoft Graph lists no {SERVICE_PROVIDER_NAME} endpoint for the Intune service \
                 principal: grant the app the Intune API permission scep_challenge_provider, and \
                 check the tenant has Intune"
            ))
        })?;
    BaseUrl::parse(&uri).map_err(|err| {
        ProviderError::permanent(format!(
            "Microsoft Graph lists {SERVICE_PROVIDER_NAME} at {uri:?}, not a usable URL: {err}"
        ))
    })
}

/// A client of Intune's SCEP validation service.
#[derive(Debug)]
pub struct IntuneScepClient {
    graph: GraphClient,
    intune: GraphClient,
    fixed: Option<BaseUrl>,
    discovered: Mutex<Option<(BaseUrl, Instant)>>,
    caller_info: String,
    rng: SystemRandom,
}

impl IntuneScepClient {
    /// Builds the client. Does no I/O.
    pub fn new(config: &IntuneScepConfig) -> Result<Self, IntuneError> {
        let intune = &config.intune;
        let http = posture_http::provider_client!(intune.common(), SERVICE)?;
        Ok(Self {
            graph: GraphClient::new(http.clone(), intune),
            intune: GraphClient::for_resource(
                http,
                intune,
                config.scope.clone(),
                "INTUNE_SCEP_SCOPE",
                SERVICE,
            ),
            fixed: config.service_url.clone(),
            discovered: Mutex::new(None),
            caller_info: config.caller_info.clone(),
            rng: SystemRandom::new(),
        })
    }

    /// Obtains both tokens and resolves the service URL: what `check-config` proves.
    pub async fn check_ready(&self) -> Result<BaseUrl, ProviderError> {
        self.graph.token().await?;
        self.intune.token().await?;
        self.service_url().await
    }

    /// The service URL: fixed, cached, or discovered through Graph now.
    pub async fn service_url(&self) -> Result<BaseUrl, ProviderError> {
        if let Some(url) = &self.fixed {
            return Ok(url.clone());
        }
        if let Some((url, at)) = self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(url.clone());
        }
        let graph = self.graph.graph();
        let url = graph.join(&[
            "v1.0",
            "servicePrincipals",
            &format!("appId={INTUNE_APP_ID}"),
            "endpoints",
        ]);
        let request = "GET /v1.0/servicePrincipals/appId=…/endpoints";
        let answer = self
            .graph
            .call(url, Call::Get { query: "" }, request)
            .await?;
        if answer.status == StatusCode::FORBIDDEN {
            return Err(ProviderError::permanent(
                "Microsoft Graph denied the discovery of Intune's SCEP validation service (403): \
                 grant the app the Graph application permission Application.Read.All",
            ));
        }
        if !answer.status.is_success() {
            return Err(answer.error("Microsoft Graph", request));
        }
        let found = parse_service_url(&answer.body)?;
        *self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((found.clone(), Instant::now()));
        Ok(found)
    }

    /// `validateRequest`: whether Intune accepts the CSR (and the challenge inside it).
    pub async fn validate_request(
        &self,
        transaction_id: &str,
        csr_base64: &str,
    ) -> Result<ScepVerdict, ProviderError> {
        let body = validate_request_body(transaction_id, csr_base64, &self.caller_info);
        self.action("validateRequest", &body).await
    }

    /// `successNotification`: a certificate was issued for a request Intune validated.
    pub async fn success_notification(
        &self,
        transaction_id: &str,
        csr_base64: &str,
        certificate: &IssuedCertificate,
    ) -> Result<ScepVerdict, ProviderError> {
        let body =
            success_notification_body(transaction_id, csr_base64, certificate, &self.caller_info);
        self.action("successNotification", &body).await
    }

    /// `failureNotification`: no certificate will be issued for a request Intune validated.
    pub async fn failure_notification(
        &self,
        transaction_id: &str,
        csr_base64: &str,
        hresult: u32,
        description: &str,
    ) -> Result<ScepVerdict, ProviderError> {
        let body = failure_notification_body(
            transaction_id,
            csr_base64,
            hresult,
            description,
            &self.caller_info,
        );
        self.action("failureNotification", &body).await
    }

    async fn action(&self, action: &str, body: &Value) -> Result<ScepVerdict, ProviderError> {
        let base = self.service_url().await?;
        let url = base.join(&["ScepActions", action]);
        let request = format!("POST ScepActions/{action}");
        let request_id = self.request_id();
        let result = self
            .intune
            .call(
                url,
                Call::ScepAction {
                    body,
                    request_id: &request_id,
                },
                &request,
            )
            .await;
        let answer = match result {
            Ok(answer) => answer,
            Err(err) => {
                // The service may have moved (Microsoft's libraries forget it on any
                // transport failure): discover it again next time.
                if err.is_transient() {
                    self.forget_service();
                }
                return Err(err);
            }
        };
        if answer.status == StatusCode::NOT_FOUND {
            self.forget_service();
            return Err(ProviderError::transient(format!(
                "{SERVICE} answered 404 Not Found to {request}; the service URL will be discovered again"
            )));
        }
        if answer.status == StatusCode::FORBIDDEN {
            return Err(ProviderError::permanent(format!(
                "{SERVICE} denied {request} (403 Forbidden): grant the app the Intune API \
                 application permission scep_challenge_provider, with admin consent"
            )));
        }
        if !answer.status.is_success() {
            if answer.status.is_server_error() {
                self.forget_service();
            }
            return Err(answer.error(SERVICE, &request));
        }
        parse_verdict(&request, &answer.body)
    }

    fn forget_service(&self) {
        *self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// A random (version 4) UUID for `client-request-id`.
    fn request_id(&self) -> String {
        let mut bytes = [0u8; 16];
        // Without randomness the ID is all zeros: it only correlates logs, it protects nothing.
        let _ = self.rng.fill(&mut bytes);
        posture_http::guid_v4(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_documented_keys() {
        let v = validate_request_body("tx", "MIIB", "me/1");
        assert_eq!(
            v,
            json!({"request":{"transactionId":"tx","certificateRequest":"MIIB","callerInfo":"me/1"}})
        );
        let cert = IssuedCertificate {
            thumbprint: "AB".into(),
            serial: "01".into(),
            expires: "2027-01-01T00:00:00.000Z".into(),
            issuer: "CN=CA".into(),
        };
        let s = success_notification_body("tx", "MIIB", &cert, "me/1");
        let n = &s["notification"];
        assert_eq!(n["certificateThumbprint"], "AB");
        assert_eq!(n["certificateSerialNumber"], "01");
        assert_eq!(
            n["certificateExpirationDateUtc"],
            "2027-01-01T00:00:00.000Z"
        );
        assert_eq!(n["issuingCertificateAuthority"], "CN=CA");
        assert_eq!(n["transactionId"], "tx");
        assert_eq!(n["certificateRequest"], "MIIB");
        let long = "x".repeat(400);
        let f = failure_notification_body("tx", "MIIB", HRESULT_DENIED, &long, "me/1");
        assert_eq!(f["notification"]["hResult"], 2_148_089_860_i64);
        assert_eq!(
            f["notification"]["errorDescription"]
                .as_str()
                .unwrap()
                .len(),
            255
        );
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            parse_verdict(
                "r",
                br#"{"code":"Success","errorDescription":"","@odata.context":"x"}"#
            )
            .unwrap(),
            ScepVerdict::Success
        );
        assert_eq!(
            parse_verdict(
                "r",
                br#"{"code":"ChallengeExpired","errorDescription":"old"}"#
            )
            .unwrap(),
            ScepVerdict::Rejected {
                code: "ChallengeExpired".into(),
                description: "old".into()
            }
        );
        assert!(!parse_verdict("r", b"{}").unwrap_err().is_transient());
        assert!(!parse_verdict("r", b"<html>").unwrap_err().is_transient());
    }

    #[test]
    fn the_service_is_picked_by_provider_name_in_any_case() {
        let body = br#"{"value":[
            {"providerName":"PkiConnectorFEService","uri":"https://a.example.com/pki"},
            {"providerName":"scepREQUESTvalidationFEservice","uri":"https://a.example.com/scep/Gateway"}]}"#;
        assert_eq!(
            parse_service_url(body).unwrap().as_str(),
            "https://a.example.com/scep/Gateway"
        );
        let none = br#"{"value":[{"providerName":"PkiConnectorFEService","uri":"https://a.example.com/"}]}"#;
        let err = parse_service_url(none).unwrap_err();
        assert!(err.message().contains("scep_challenge_provider"), "{err}");
    }

    #[test]
    fn issued_certificate_details() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["d.example".to_owned()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x0a, 0xbc, 0xde]));
        params.not_after = rcgen::date_time_ymd(2031, 5, 6);
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "Issuing CA");
        params.distinguished_name = dn;
        let cert = params.self_signed(&key).unwrap();
        let issued = IssuedCertificate::from_der(cert.der()).unwrap();
        assert_eq!(issued.serial, "0ABCDE");
        assert_eq!(issued.expires, "2031-05-06T00:00:00.000Z");
        assert_eq!(issued.issuer, "CN=Issuing CA");
        assert_eq!(issued.thumbprint.len(), 40);
        assert!(
            issued
                .thumbprint
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert!(IssuedCertificate::from_der(b"nope").is_err());
    }
}
