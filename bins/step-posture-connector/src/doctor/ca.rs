//! What step-ca publishes about itself: `GET /version` and `GET /provisioners`, read
//! leniently (unknown keys ignored, missing ones empty), and fetched page by page.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use rustls::ClientConfig;
use serde::Deserialize;

use crate::client::{Connection, client_config};

/// The most provisioners pages read before giving up on a CA whose cursor never ends.
const MAX_PAGES: usize = 100;

/// Provisioners asked for per page (step-ca's default is 20).
const PAGE_LIMIT: usize = 100;

/// The largest answer read from the CA.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// `GET /version`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub(crate) struct VersionInfo {
    /// Such as `0.28.1` (some builds prefix a `v` or add a suffix).
    #[serde(default)]
    pub(crate) version: String,
}

/// One provisioner as `GET /provisioners` shows it: only what the checks read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub(crate) struct Provisioner {
    /// `ACME`, `SCEP`, `JWK`, `OIDC`, `X5C`, …
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// The provisioner's name.
    pub(crate) name: String,
    /// ACME challenges (`device-attest-01`, `http-01`, …); empty means step-ca's defaults.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) challenges: Vec<String>,
    /// ACME attestation formats (`apple`, `step`, `tpm`, …).
    #[serde(rename = "attestationFormats", deserialize_with = "null_as_default")]
    pub(crate) attestation_formats: Vec<String>,
    /// The provisioner's claims.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) claims: Claims,
    /// The provisioner's options, where webhooks live.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) options: Options,
}

/// The claims the checks read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub(crate) struct Claims {
    /// `disableRenewal`: `None` when the provisioner doesn't set it (the CA-wide claim, which
    /// `/provisioners` doesn't show, then applies).
    #[serde(rename = "disableRenewal")]
    pub(crate) disable_renewal: Option<bool>,
}

/// A provisioner's options.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub(crate) struct Options {
    /// Its webhooks, in the order step-ca calls them.
    #[serde(deserialize_with = "null_as_default")]
    pub(crate) webhooks: Vec<Webhook>,
}

/// A webhook as step-ca publishes it (never its secret or credentials).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub(crate) struct Webhook {
    /// The ID step-ca sends in `X-Smallstep-Webhook-ID`.
    pub(crate) id: String,
    /// Unique per provisioner; the key under `.Webhooks` in templates.
    pub(crate) name: String,
    /// A Go template that renders to the URL called.
    pub(crate) url: String,
    /// `ENRICHING`, `AUTHORIZING`, `SCEPCHALLENGE` or `NOTIFYING`.
    pub(crate) kind: String,
    /// `ALL` (or empty), `X509` or `SSH`.
    #[serde(rename = "certType")]
    pub(crate) cert_type: String,
    /// Whether step-ca calls it without a client certificate.
    #[serde(rename = "disableTLSClientAuth")]
    pub(crate) disable_tls_client_auth: bool,
}

#[derive(Deserialize)]
struct ProvisionersPage {
    #[serde(default, deserialize_with = "null_as_default")]
    provisioners: Vec<Provisioner>,
    #[serde(default, rename = "nextCursor")]
    next_cursor: String,
}

/// A field step-ca may write as `null` (a nil Go pointer or slice) reads as empty.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Everything read from the CA.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub(crate) struct CaSnapshot {
    /// The CA's URL, as given.
    pub(crate) url: String,
    /// `GET /version`.
    pub(crate) version: VersionInfo,
    /// Every provisioner, from every page.
    pub(crate) provisioners: Vec<Provisioner>,
}

/// Reads `/version` and every page of `/provisioners` from the CA at `ca_url`, trusting
/// `root` (a PEM file, step-ca's root certificate) or the Mozilla roots.
pub(super) async fn fetch(ca_url: &str, root: Option<&Path>) -> anyhow::Result<CaSnapshot> {
    let base: Uri = ca_url
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("--ca-url {ca_url:?} is not a URL"))?;
    if base.scheme_str() != Some("https") {
        bail!("--ca-url {ca_url:?} must be an https URL, as step-ca serves");
    }
    let tls: Arc<ClientConfig> = client_config(root, None).context("--root")?;
    let mut connection = Connection::open(&base, tls)
        .await
        .with_context(|| format!("cannot reach the CA at {ca_url}"))?;
    let prefix = base.path().trim_end_matches('/').to_owned();
    let get = |path: String| {
        let authority = base
            .authority()
            .map(ToString::to_string)
            .unwrap_or_default();
        format!("https://{authority}{prefix}{path}")
    };

    let body = get_json(&mut connection, &get("/version".to_owned())).await?;
    let version: VersionInfo = serde_json::from_slice(&body)
        .with_context(|| format!("GET {ca_url}/version did not answer step-ca's JSON"))?;

    let mut provisioners = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        pages += 1;
        if pages > MAX_PAGES {
            bail!("GET {ca_url}/provisioners gave more than {MAX_PAGES} pages; stopped");
        }
        let body = get_json(&mut connection, &get(provisioners_query(&cursor))).await?;
        let page: ProvisionersPage = serde_json::from_slice(&body)
            .with_context(|| format!("GET {ca_url}/provisioners did not answer step-ca's JSON"))?;
        provisioners.extend(page.provisioners);
        if page.next_cursor.is_empty() || page.next_cursor == cursor {
            break;
        }
        cursor = page.next_cursor;
    }
    Ok(CaSnapshot {
        url: ca_url.to_owned(),
        version,
        provisioners,
    })
}

async fn get_json(connection: &mut Connection, url: &str) -> anyhow::Result<Bytes> {
    let uri: Uri = url.parse().with_context(|| format!("{url} is not a URL"))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    let (status, body) = connection
        .send(Method::GET, &uri, &headers, Bytes::new())
        .await
        .with_context(|| format!("GET {url}"))?;
    if status != StatusCode::OK {
        bail!("GET {url} answered {status}");
    }
    if body.len() > MAX_ANSWER {
        bail!("GET {url} answered more than {MAX_ANSWER} bytes");
    }
    Ok(body)
}

/// The path and query of a page of provisioners; `cursor` is step-ca's opaque string from the
/// previous page (empty for the first), percent-encoded.
fn provisioners_query(cursor: &str) -> String {
    let mut query = format!("/provisioners?limit={PAGE_LIMIT}");
    if !cursor.is_empty() {
        query.push_str("&cursor=");
        posture_http::percent_encode_into(&mut query, cursor, b"");
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_step_cas_provisioner_json() {
        // As step-ca marshals them: unknown keys everywhere, webhooks under options.
        let page = r#"{"provisioners":[
            {"type":"JWK","name":"admin","key":{"kty":"EC"},"encryptedKey":"x"},
            {"type":"ACME","name":"acme-da","challenges":["device-attest-01"],
             "attestationFormats":["apple"],"claims":{"disableRenewal":true,"maxTLSCertDuration":"24h"},
             "options":{"x509":{"template":"{}"},"webhooks":[{"id":"0b5b0b2e-1","name":"posture",
             "url":"https://posture.example.com:9443/webhook/device-attest?mode=computer",
             "kind":"ENRICHING","certType":"X509"}]}},
            {"type":"SCEP","name":"scep","challenge":"*** REDACTED ***","options":null}
        ],"nextCursor":"c2"}"#;
        let page: ProvisionersPage = serde_json::from_str(page).unwrap();
        assert_eq!(page.next_cursor, "c2");
        assert_eq!(page.provisioners.len(), 3);
        let acme = &page.provisioners[1];
        assert_eq!(acme.kind, "ACME");
        assert_eq!(acme.claims.disable_renewal, Some(true));
        assert_eq!(acme.options.webhooks[0].kind, "ENRICHING");
        assert!(!acme.options.webhooks[0].disable_tls_client_auth);
        assert!(page.provisioners[2].options.webhooks.is_empty());
    }

    #[test]
    fn cursors_are_encoded() {
        assert_eq!(
            provisioners_query(""),
            format!("/provisioners?limit={PAGE_LIMIT}")
        );
        assert_eq!(
            provisioners_query("a b/c=="),
            format!("/provisioners?limit={PAGE_LIMIT}&cursor=a%20b%2Fc%3D%3D")
        );
    }
}
