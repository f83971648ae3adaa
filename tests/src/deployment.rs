//! A server with its own certificates and a step-ca-like client, asked about devices the way
//! step-ca asks, and the answers checked against what each case expects.

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;
use smallstep_webhook::{RequestBody, Signer};

use crate::pki::Pki;
use crate::server::{Client, Options, TestServer, signed_enriching, with_vars};

/// What step-ca gets back: the status and the body read as JSON.
pub type Answer = (StatusCode, Value);

/// A running server, the PKI it was started with, and a client without a client
/// certificate. Dropping it stops the server.
#[derive(Debug)]
#[non_exhaustive]
pub struct Deployment {
    /// The server.
    pub server: TestServer,
    /// A client that trusts the server's root.
    pub client: Client,
    /// The certificates (for raw connections and client identities).
    pub pki: Pki,
}

impl Deployment {
    /// A file-provider server ([`TestServer::start`]) with `extra` variables.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use step_posture_tests::deployment::{Deployment, Expect};
    ///
    /// let d = Deployment::start(&[("MAX_REQUEST_AGE", "300")]).await?;
    /// d.expect(&[("C02XL0GJJG5J", Expect::allowed()), ("C02UNKNOWN00", Expect::denied("deviceNotFound"))])
    ///     .await;
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn start(extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_with(extra, Options::default()).await
    }

    /// A server with `extra` variables and `options` ([`TestServer::start_with`]).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use step_posture_tests::deployment::{Deployment, Expect};
    /// use step_posture_tests::server::{DEVICES_CSV, Options};
    ///
    /// let options = Options { devices: Some(("devices.csv", DEVICES_CSV)), ..Options::default() };
    /// let d = Deployment::start_with(&[], options).await?;
    /// d.expect(&[("13804722", Expect::allowed().with_data("/department", "Operations, Keys"))]).await;
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn start_with(extra: &[(&str, &str)], options: Options<'_>) -> anyhow::Result<Self> {
        Self::with_pki(Pki::generate()?, extra, options).await
    }

    /// As [`Deployment::start_with`], with `pki` (for variables that name its files).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use step_posture_tests::deployment::{Deployment, Expect};
    /// use step_posture_tests::pki::Pki;
    /// use step_posture_tests::server::Options;
    ///
    /// let pki = Pki::generate()?;
    /// let ca = pki.ca.display().to_string();
    /// let mtls = [("ENABLE_MTLS", "1"), ("TLS_CA_PATH", ca.as_str())];
    /// let d = Deployment::with_pki(pki, &mtls, Options::default()).await?;
    /// assert!(d.ask("C02XL0GJJG5J").await.is_err(), "no client certificate");
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn with_pki(
        pki: Pki,
        extra: &[(&str, &str)],
        options: Options<'_>,
    ) -> anyhow::Result<Self> {
        let server = TestServer::start_with(&pki, extra, options).await?;
        let client = Client::new(&pki)?;
        Ok(Self {
            server,
            client,
            pki,
        })
    }

    /// A server configured by `provider_vars` (a fake MDM's `env_vars`) and then `extra`,
    /// which names the provider: `PROVIDER=x` against the fake of x.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use step_posture_tests::deployment::{Deployment, Expect};
    ///
    /// let path = std::env::temp_dir().join("step-posture-doc-devices.json");
    /// std::fs::write(&path, r#"{"devices":[{"identifier":"C02DOCTEST01"}]}"#)?;
    /// let vars = vec![("FILE_PATH".to_owned(), path.display().to_string())];
    /// let d = Deployment::against(&vars, &[("PROVIDER", "file")]).await?;
    /// d.expect(&[("C02DOCTEST01", Expect::allowed()), ("C02XL0GJJG5J", Expect::denied("deviceNotFound"))])
    ///     .await;
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn against(
        provider_vars: &[(String, String)],
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::start(&with_vars(provider_vars, extra)).await
    }

    /// The webhook URL with `query` (empty, or `?mode=…`) after it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let d = step_posture_tests::deployment::Deployment::start(&[]).await?;
    /// assert!(d.url("?mode=auto").to_string().ends_with("/webhook/device-attest?mode=auto"));
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub fn url(&self, query: &str) -> Uri {
        self.server.url(&format!("/webhook/device-attest{query}"))
    }

    /// POSTs `body` with `headers` to the webhook on a fresh connection.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use http::StatusCode;
    /// use step_posture_tests::deployment::Deployment;
    ///
    /// let d = Deployment::start(&[]).await?;
    /// let (status, body) = d.post(&http::HeaderMap::new(), "{}").await?;
    /// assert_eq!((status, body), (StatusCode::UNAUTHORIZED, serde_json::json!({"allow": false})));
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn post(
        &self,
        headers: &HeaderMap,
        body: impl Into<Bytes>,
    ) -> anyhow::Result<Answer> {
        self.client.post_json(&self.url(""), headers, body).await
    }

    /// POSTs `body` with `headers` to the webhook and checks the answer, naming `case`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use http::{HeaderMap, StatusCode};
    /// use step_posture_tests::deployment::{Deployment, Expect};
    ///
    /// let d = Deployment::start(&[]).await?;
    /// let unsigned = Expect::refused(StatusCode::UNAUTHORIZED);
    /// d.expect_post("unsigned", &HeaderMap::new(), "{}", &unsigned).await;
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn expect_post(
        &self,
        case: &str,
        headers: &HeaderMap,
        body: impl Into<Bytes>,
        expected: &Expect,
    ) {
        match self.post(headers, body).await {
            Ok(answer) => expected.check(case, &answer),
            Err(err) => panic!("{case}: no answer: {err:#}"),
        }
    }

    /// Signs `body` with `signer` and POSTs it to the webhook URL with `query`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use smallstep_webhook::RequestBody;
    /// use step_posture_tests::deployment::{Deployment, Expect};
    /// use step_posture_tests::server::authorizing_signer;
    ///
    /// let d = Deployment::start(&[]).await?;
    /// let body = RequestBody::device_attest_authorizing("F4KQ2J9XN7", time::OffsetDateTime::now_utc());
    /// let answer = d.post_signed("?mode=auto", &authorizing_signer()?, &body).await?;
    /// Expect::allowed().check("authorizing", &answer);
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn post_signed(
        &self,
        query: &str,
        signer: &Signer,
        body: &RequestBody,
    ) -> anyhow::Result<Answer> {
        let signed = signer.sign_body(body);
        self.client
            .post_json(&self.url(query), &signed.headers, signed.body)
            .await
    }

    /// Asks about `serial` as step-ca does ([`signed_enriching`]).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let d = step_posture_tests::deployment::Deployment::start(&[]).await?;
    /// let (status, body) = d.ask("13804722").await?;
    /// assert_eq!((status.as_u16(), body), (200, serde_json::json!({"allow": true})));
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn ask(&self, serial: &str) -> anyhow::Result<Answer> {
        self.ask_at(serial, "").await
    }

    /// Asks about `serial` at the webhook URL with `query`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let d = step_posture_tests::deployment::Deployment::start(&[]).await?;
    /// let (_, body) = d.ask_at("C02XL0GJJG5J", "?mode=laptop").await?;
    /// assert_eq!(body["error"]["code"], "invalidMode");
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn ask_at(&self, serial: &str, query: &str) -> anyhow::Result<Answer> {
        let (headers, body) = signed_enriching(serial)?;
        self.client
            .post_json(&self.url(query), &headers, body)
            .await
    }

    /// Asks about each serial in turn and checks its answer; panics, naming the serial, at
    /// the first that differs.
    pub async fn expect(&self, cases: &[(&str, Expect)]) {
        self.expect_at("", cases).await;
    }

    /// As [`Deployment::expect`], at the webhook URL with `query`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use step_posture_tests::deployment::{Deployment, Expect};
    ///
    /// let d = Deployment::start(&[]).await?;
    /// d.expect_at("?mode=computer", &[("C02XL0GJJG5J", Expect::allowed())]).await;
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn expect_at(&self, query: &str, cases: &[(&str, Expect)]) {
        for (serial, expected) in cases {
            match self.ask_at(serial, query).await {
                Ok(answer) => expected.check(serial, &answer),
                Err(err) => panic!("{serial}: no answer: {err:#}"),
            }
        }
    }
}

/// How an error message must read.
#[derive(Clone, Debug)]
enum Message {
    StartsWith(String),
    Contains(String),
}

/// What an [`Answer`] must be: its status, and as much of its body as the case cares about.
///
/// ```
/// use http::StatusCode;
/// use serde_json::json;
/// use step_posture_tests::deployment::Expect;
///
/// let answer = (
///     StatusCode::OK,
///     json!({"allow": false, "error": {"code": "deviceNotFound", "message": "file: no C02X"}}),
/// );
/// Expect::denied("deviceNotFound").starting("file: ").containing("C02X").check("C02X", &answer);
/// Expect::refused(StatusCode::UNAUTHORIZED).check("401", &(StatusCode::UNAUTHORIZED, json!({"allow": false})));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Expect {
    status: StatusCode,
    body: Option<Value>,
    allow: Option<bool>,
    code: Option<String>,
    message: Vec<Message>,
    data: Vec<(String, Value)>,
    data_keys: Option<Vec<String>>,
}

impl Expect {
    /// Only `status`, whatever the body.
    pub fn status(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            allow: None,
            code: None,
            message: Vec::new(),
            data: Vec::new(),
            data_keys: None,
        }
    }

    /// 200 and `"allow": true`.
    pub fn allowed() -> Self {
        Self {
            allow: Some(true),
            ..Self::status(StatusCode::OK)
        }
    }

    /// 200, `"allow": false`, and the error code `code`.
    pub fn denied(code: &str) -> Self {
        Self {
            allow: Some(false),
            code: Some(code.to_owned()),
            ..Self::status(StatusCode::OK)
        }
    }

    /// 200 and exactly `body`.
    pub fn body(body: Value) -> Self {
        Self {
            body: Some(body),
            ..Self::status(StatusCode::OK)
        }
    }

    /// `status` and a bare `{"allow": false}`: no detail for the caller.
    pub fn refused(status: StatusCode) -> Self {
        Self {
            body: Some(serde_json::json!({"allow": false})),
            ..Self::status(status)
        }
    }

    /// The error message also starts with `prefix`.
    pub fn starting(mut self, prefix: &str) -> Self {
        self.message.push(Message::StartsWith(prefix.to_owned()));
        self
    }

    /// The error message also contains `part`.
    pub fn containing(mut self, part: &str) -> Self {
        self.message.push(Message::Contains(part.to_owned()));
        self
    }

    /// The enrichment also holds `value` at the JSON pointer `pointer` (`""` for all of it).
    pub fn with_data(mut self, pointer: &str, value: impl Into<Value>) -> Self {
        self.data.push((pointer.to_owned(), value.into()));
        self
    }

    /// The enrichment is also an object with exactly these keys, in any order.
    pub fn with_data_keys(mut self, keys: &[&str]) -> Self {
        self.data_keys = Some(keys.iter().map(|k| (*k).to_owned()).collect());
        self
    }

    /// Panics, naming `case`, if `answer` is not as expected.
    pub fn check(&self, case: &str, (status, body): &Answer) {
        assert_eq!(*status, self.status, "{case}: {body}");
        if let Some(expected) = &self.body {
            assert_eq!(body, expected, "{case}");
        }
        if let Some(allow) = self.allow {
            assert_eq!(body["allow"], allow, "{case}: {body}");
        }
        if let Some(code) = &self.code {
            assert_eq!(body["error"]["code"], code.as_str(), "{case}: {body}");
        }
        let message = body["error"]["message"].as_str().unwrap_or_default();
        for expected in &self.message {
            match expected {
                Message::StartsWith(prefix) => {
                    assert!(
                        message.starts_with(prefix.as_str()),
                        "{case}: {prefix:?} in {body}"
                    );
                }
                Message::Contains(part) => {
                    assert!(
                        message.contains(part.as_str()),
                        "{case}: {part:?} in {body}"
                    );
                }
            }
        }
        for (pointer, value) in &self.data {
            assert_eq!(
                body["data"].pointer(pointer),
                Some(value),
                "{case}: data{pointer} in {body}"
            );
        }
        if let Some(keys) = &self.data_keys {
            let mut found: Vec<&str> = body["data"]
                .as_object()
                .map(|data| data.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let mut expected: Vec<&str> = keys.iter().map(String::as_str).collect();
            found.sort_unstable();
            expected.sort_unstable();
            assert_eq!(found, expected, "{case}: {body}");
        }
    }
}
