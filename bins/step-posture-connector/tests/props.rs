//! Properties of the server's own parsers: the configuration parser and the webhook handler
//! never panic, whatever they are given, and the handler allows only authentic requests.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use posture_file::{DeviceList, FileFormat, FileProvider};
use proptest::prelude::*;
use smallstep_webhook::{Signer, Verifier, WebhookSecret};
use step_posture_connector::config::{self, Config};
use step_posture_connector::handler::{App, handle};
use step_posture_connector::providers::Providers;

const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
const SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[0-9]{0,12}",
        Just(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml").to_owned()),
        Just(ID.to_owned()),
        Just(SECRET.to_owned()),
        Just("file".to_owned()),
        Just("jamf".to_owned()),
        Just(",,".to_owned()),
        Just("user:pass,".to_owned()),
    ]
}

fn app() -> Arc<App> {
    static APP: OnceLock<Arc<App>> = OnceLock::new();
    APP.get_or_init(|| {
        let verifier = Verifier::builder().webhook(ID, SECRET).build().unwrap();
        let list = DeviceList::parse(
            br#"{"devices":[{"identifier":"C02XL0GJJG5J","data":{"user":"alice"}}]}"#,
            FileFormat::Json,
            "props.json",
        )
        .unwrap();
        Arc::new(App::new(verifier, Arc::new(FileProvider::from_list(list))))
    })
    .clone()
}

fn call(request: Request<Full<Bytes>>) -> (StatusCode, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = handle(app(), request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_configuration_parser_never_panics(
        known in proptest::collection::vec((any::<prop::sample::Index>(), value()), 0..12),
        unknown in proptest::collection::vec(("\\PC{0,12}", "\\PC{0,12}"), 0..4),
    ) {
        // Every variable the server and its providers declare, so arbitrary values reach
        // every validator.
        let names = config::known_variables(&Providers::builtin());
        let mut vars: HashMap<String, String> = unknown.into_iter().collect();
        for (index, value) in known {
            vars.insert(index.get(&names).to_string(), value);
        }
        match Config::from_vars(&vars) {
            Ok(config) => {
                let _ = config.warnings();
                let _ = format!("{config:?}");
            }
            Err(errors) => {
                prop_assert!(!errors.0.is_empty());
                prop_assert!(!errors.to_string().is_empty());
            }
        }
    }

    #[test]
    fn the_handler_never_panics_and_allows_only_signed_requests(
        path in prop_oneof![Just("/webhook/device-attest".to_owned()), "/[a-z/?=&%]{0,30}"],
        query in "[a-z=&%]{0,20}",
        headers in proptest::collection::vec(("[a-zA-Z-]{1,20}", proptest::collection::vec(32_u8..127, 0..40)), 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..600),
        sign in any::<bool>(),
    ) {
        let uri = format!("{path}?{query}");
        let mut request = Request::post(uri.as_str())
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap_or_else(|_| Request::post("/").body(Full::new(Bytes::new())).unwrap());
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&value))
            {
                request.headers_mut().append(name, value);
            }
        }
        if sign {
            let signer = Signer::new(ID, WebhookSecret::from_base64(SECRET).unwrap()).unwrap();
            request.headers_mut().extend(signer.headers(&body));
        }
        let (status, value) = call(request);
        prop_assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
        if value["allow"] == true {
            prop_assert!(sign, "an unsigned request was allowed");
        }
    }
}
