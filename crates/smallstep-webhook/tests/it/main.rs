//! Integration tests for smallstep-webhook. One binary; the modules below hold the cases.

/// Asserts that `result` is an error matching `pattern`, showing the result (after `message`,
/// a format string, when given) when it is not. It borrows `result`, which stays usable after.
/// Defined before the modules so they can use it.
macro_rules! assert_refused {
    ($result:expr, $pattern:pat $(,)?) => {{
        let result = &$result;
        assert!(matches!(result, Err($pattern)), "{result:?}");
    }};
    ($result:expr, $pattern:pat, $($message:tt)+) => {{
        let result = &$result;
        assert!(
            matches!(result, Err($pattern)),
            "{}: {result:?}",
            format_args!($($message)+)
        );
    }};
}

mod csr;
mod parsing;
mod props;
mod signer;
mod vectors;
mod verify;

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue};
use smallstep_webhook::{SIGNATURE_HEADER, WEBHOOK_ID_HEADER};
use time::OffsetDateTime;

/// One step-ca vector from `tests/data`, with the values its README gives.
pub(crate) struct Vector {
    pub(crate) name: &'static str,
    pub(crate) body: &'static [u8],
    pub(crate) webhook_id: &'static str,
    pub(crate) secret: &'static str,
    pub(crate) signature: &'static str,
    pub(crate) sha256: &'static str,
    /// The body's timestamp.
    pub(crate) timestamp: OffsetDateTime,
}

pub(crate) const SECRET_01: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";
pub(crate) const SECRET_02: &str =
    "Raje4mOlzC1LOxFk5v/rb8uwlZXPF41B+MFgjOB+Sp3jo9uq73XgQnqFbbFLVKhM0WiLaUDS+vtWQK5ucGev0Q==";
pub(crate) const SECRET_03: &str =
    "GTW3WcTDyDBamnL7Da82Lz+Jlvc7zu6+wcvvd9tcUJbZh/NQDlczZChXAP8PKNXdDiFwkhgBI1eLvvgOOCgsBw==";
pub(crate) const ID_01: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
pub(crate) const ID_02: &str = "eeff6319-8883-419b-8d9b-0fe227dbe6b4";
pub(crate) const ID_03: &str = "a5a53eeb-6be7-47b4-9ff6-84d0b5e60b4e";

pub(crate) const V01: Vector = Vector {
    name: "01-device-attest-enriching.json",
    body: include_bytes!("../data/01-device-attest-enriching.json"),
    webhook_id: ID_01,
    secret: SECRET_01,
    signature: "5f5382c18582d0610cbd2a67d64115b32e0ec610359db1a23f6c02b00cf0e7ff",
    sha256: "01954ef47049daf1d79d84189a5289d6436cfcce7959aa78f9a217e0f4124e4d",
    timestamp: time::macros::datetime!(2025-06-02 14:21:07.482913377 UTC),
};
pub(crate) const V02: Vector = Vector {
    name: "02-device-attest-authorizing.json",
    body: include_bytes!("../data/02-device-attest-authorizing.json"),
    webhook_id: ID_02,
    secret: SECRET_02,
    signature: "3d325ebfbf7cee3662e5ca85848c8850042db6e5133d4df81699513db8f4e044",
    sha256: "0578a9dc4dc1f7b8dd35522631399a7c812fea568b89e1590e4c687e849f60c5",
    timestamp: time::macros::datetime!(2025-06-02 14:21:07.519204886 UTC),
};
pub(crate) const V03: Vector = Vector {
    name: "03-ssh-enriching.json",
    body: include_bytes!("../data/03-ssh-enriching.json"),
    webhook_id: ID_03,
    secret: SECRET_03,
    signature: "84c1d769a7e47c9cbb12c013721a25f0a06f362edc27279e5b51f4e8a6e459c6",
    sha256: "b6a7f61b65f11b20367c79cb9761b136d8bd0e956144f7e508b4693671bbdaf1",
    timestamp: time::macros::datetime!(2025-06-02 16:05:44.090172635 +02:00),
};
pub(crate) const V04: Vector = Vector {
    name: "04-device-attest-enriching-v0.30.2.json",
    body: include_bytes!("../data/04-device-attest-enriching-v0.30.2.json"),
    webhook_id: ID_01,
    secret: SECRET_01,
    signature: "a1168e0b6814c70ab6703b25c16887e23825730a9824ef3b14403901924caddf",
    sha256: "518814e58be802b9ab1413406f795184cb36e367fd248ce170e4dd991c801702",
    timestamp: time::macros::datetime!(2025-06-02 14:21:07.482913377 UTC),
};

pub(crate) const VECTORS: [&Vector; 4] = [&V01, &V02, &V03, &V04];

/// Headers with one webhook ID and one signature.
pub(crate) fn headers(webhook_id: &str, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(webhook_id) {
        headers.insert(WEBHOOK_ID_HEADER, value);
    }
    if let Ok(value) = HeaderValue::from_str(signature) {
        headers.insert(SIGNATURE_HEADER, value);
    }
    headers
}

/// `t` as a `SystemTime`.
pub(crate) fn at(t: OffsetDateTime) -> SystemTime {
    SystemTime::from(t)
}

/// `t` plus `secs` seconds (may be negative) as a `SystemTime`.
pub(crate) fn after(t: OffsetDateTime, secs: f64) -> SystemTime {
    at(t + time::Duration::seconds_f64(secs))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
