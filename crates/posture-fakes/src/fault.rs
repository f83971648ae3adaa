//! The one vocabulary of injected failures, shared by every fake.

use hyper::StatusCode;
use serde_json::Value;

use crate::server::{FakeResponse, hang, json_response, response, with_retry_after};

/// A failure a fake injects into its MDM's inventory lookups, after the token check. Each
/// fake words it as its MDM does (a Jamf `ApiError`, a Graph error, Kandji's `detail`).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer this status with the MDM's error body.
    Status(u16),
    /// Answer 429 with `Retry-After: <seconds>`.
    TooManyRequests {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
    /// Never answer.
    Hang,
    /// Answer 200 with a body that is not valid JSON.
    Garbage,
    /// Answer 200 with JSON of the wrong shape (an error object where a list belongs).
    WrongShape,
    /// Ignore the serial-number filter and return every device: the Jamf Pro API's RSQL
    /// `filter`, Graph's `$filter` (as Graph does with filters it doesn't support), Kandji's
    /// `serial_number`. Classic Jamf lookups and Entra ID directory requests are unaffected.
    IgnoreFilter,
}

/// A failure a fake injects into its token endpoint (Jamf's and Entra's; Kandji's token is
/// static).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum TokenFault {
    /// Answer this status with no body.
    Status(u16),
    /// Answer 404 with an HTML page, as a web server that isn't the MDM would.
    NotFoundPage,
    /// Answer 200 with an HTML page.
    HtmlPage,
    /// Answer 200 with JSON that holds no token.
    NotAToken,
    /// Never answer.
    Hang,
}

impl From<posture_conformance::Fault> for Fault {
    /// The conformance suite's faults in this vocabulary: 503, 429 with `Retry-After`, and
    /// garbage for anything else.
    fn from(fault: posture_conformance::Fault) -> Self {
        match fault {
            posture_conformance::Fault::Unavailable => Self::Status(503),
            posture_conformance::Fault::RateLimited { retry_after_secs } => {
                Self::TooManyRequests { retry_after_secs }
            }
            _ => Self::Garbage,
        }
    }
}

/// How one MDM words the answers of a [`Fault`]: its error body, its 429, and the broken
/// JSON of [`Fault::Garbage`] and [`Fault::WrongShape`] in its own shapes.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Wording {
    /// The error answer with this status.
    pub(crate) error: fn(StatusCode) -> FakeResponse,
    /// The 429 answer, before `Retry-After` is added.
    pub(crate) too_many: fn() -> FakeResponse,
    /// The truncated JSON of [`Fault::Garbage`].
    pub(crate) garbage: &'static str,
    /// The JSON of [`Fault::WrongShape`].
    pub(crate) wrong_shape: fn() -> Value,
}

impl Fault {
    /// The answer this fault injects, or `None` when the request goes on (with
    /// [`IgnoreFilter`](Self::IgnoreFilter), ignoring its filter).
    pub(crate) async fn answer(&self, wording: &Wording) -> Option<FakeResponse> {
        Some(match self {
            Self::Status(code) => (wording.error)(status(*code)),
            Self::TooManyRequests { retry_after_secs } => {
                with_retry_after((wording.too_many)(), *retry_after_secs)
            }
            Self::Hang => hang().await,
            Self::Garbage => response(StatusCode::OK, "application/json", wording.garbage),
            Self::WrongShape => json_response(StatusCode::OK, &(wording.wrong_shape)()),
            Self::IgnoreFilter => return None,
        })
    }
}

/// How one MDM's token endpoint words the answers of a [`TokenFault`].
pub(crate) struct TokenWording {
    /// An HTML page with this status and title.
    pub(crate) html: fn(StatusCode, &str) -> FakeResponse,
    /// The title of [`TokenFault::HtmlPage`].
    pub(crate) page_title: &'static str,
    /// The JSON of [`TokenFault::NotAToken`].
    pub(crate) not_a_token: fn() -> Value,
}

impl TokenFault {
    /// The answer this fault injects.
    pub(crate) async fn answer(&self, wording: &TokenWording) -> FakeResponse {
        match self {
            Self::Status(code) => response(status(*code), "text/plain", ""),
            Self::NotFoundPage => (wording.html)(StatusCode::NOT_FOUND, "Not Found"),
            Self::HtmlPage => (wording.html)(StatusCode::OK, wording.page_title),
            Self::NotAToken => json_response(StatusCode::OK, &(wording.not_a_token)()),
            Self::Hang => hang().await,
        }
    }
}

/// `code` as a status, 500 if it is not one.
fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
