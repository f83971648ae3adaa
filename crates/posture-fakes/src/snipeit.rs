//! A fake Snipe-IT for tests of the generic HTTP inventory provider.
//!
//! [`FakeSnipeIt`] listens on `127.0.0.1` over plain HTTP and serves Snipe-IT's documented
//! `GET /api/v1/hardware/byserial/{serial}`:
//!
//! - found: 200 `{"total": N, "rows": [asset, …]}`, every asset whose `serial` equals the
//!   serial (ignoring case, as MySQL's collation compares; Snipe-IT allows duplicate serials
//!   unless told otherwise, so `N` may exceed 1);
//! - not found: Snipe-IT's habit of answering **200** `{"status":"error","messages":"Asset
//!   does not exist.","payload":null}`; the other documented variants are available with
//!   [`FakeSnipeIt::set_not_found`] (`{"total":0,"rows":[]}`, or a 404 with the same error
//!   body);
//! - `Authorization: Bearer <token>`; anything else gets 401 `{"message":"Unauthenticated."}`.
//!
//! An asset is shaped as Snipe-IT's transformer writes it: `id`, `name`, `asset_tag`,
//! `serial`, `model{id,name}`, `status_label{id,name,status_type,status_meta}`,
//! `category{id,name}`, `location{id,name}` or `null`, `assigned_to{id,username,name,
//! first_name,last_name,email,employee_number,type}` or `null`, `custom_fields`.
//!
//! Faults ([`Fault`](crate::Fault)): a status (Snipe-IT's error body), 429 with `Retry-After`, hanging,
//! garbage, the wrong shape, and [`Fault::IgnoreFilter`](crate::Fault::IgnoreFilter) (every asset, as a search API that
//! ignores its filter would).
//!
//! ```
//! use std::time::Duration;
//! use posture_fakes::snipeit::{FakeAsset, FakeSnipeIt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let snipe = FakeSnipeIt::start().await?;
//! snipe.add_asset(FakeAsset::new("C02XL0GJJG5J"));
//! let http = posture_http::ClientOptions::new(Duration::from_secs(2)).build()?;
//! let answer: serde_json::Value = http
//!     .get(posture_http::Url::parse(&format!("{}/api/v1/hardware/byserial/C02XL0GJJG5J", snipe.url()))?)
//!     .bearer_auth(posture_fakes::snipeit::API_TOKEN)
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(answer["rows"][0]["status_label"]["status_meta"], "deployed");
//! # Ok(())
//! # }
//! ```

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::Wording;
use crate::mdm::{Fake, FakeState, Mdm, owned_vars, push_numbered};
use crate::server::{
    FakeRequest, FakeResponse, Method, StatusCode, html_response, json_response, lock,
};

/// The API token the fake accepts.
pub const API_TOKEN: &str = "fake-snipe-it-api-token";

/// How the fake answers for a serial it doesn't know.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub enum NotFound {
    /// 200 `{"status":"error","messages":"Asset does not exist.","payload":null}`.
    #[default]
    StatusError,
    /// 200 `{"total":0,"rows":[]}`.
    EmptyRows,
    /// 404 with the error body.
    Http404,
}

/// An asset in the fake inventory.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeAsset {
    /// `id`.
    pub id: u64,
    /// `serial`.
    pub serial: String,
    /// `asset_tag`.
    pub asset_tag: String,
    /// `name`.
    pub name: String,
    /// `status_label.name` and `status_label.status_meta` (`deployed`, `deployable`,
    /// `pending`, `undeployable`, `archived`).
    pub status: (String, String),
    /// `assigned_to`: username, full name, e-mail; `None` renders `null`.
    pub assigned_to: Option<(String, String, String)>,
    /// `location.name`; `None` renders `null`.
    pub location: Option<String>,
}

impl FakeAsset {
    /// A deployed MacBook Pro checked out to alice, in "HQ".
    pub fn new(serial: impl Into<String>) -> Self {
        let serial = serial.into();
        Self {
            id: 0,
            asset_tag: format!("A-{serial}"),
            name: format!("MacBook {serial}"),
            status: ("Deployed".to_owned(), "deployed".to_owned()),
            assigned_to: Some((
                "alice".to_owned(),
                "Alice Example".to_owned(),
                "alice@example.com".to_owned(),
            )),
            location: Some("HQ".to_owned()),
            serial,
        }
    }

    /// Sets the status label's name and `status_meta`.
    #[must_use]
    pub fn with_status(mut self, name: &str, meta: &str) -> Self {
        self.status = (name.to_owned(), meta.to_owned());
        self
    }

    /// Checked in: `assigned_to` null.
    #[must_use]
    pub fn unassigned(mut self) -> Self {
        self.assigned_to = None;
        self
    }
}

/// Counters of what the fake served.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct FakeSnipeItStats {
    /// Requests of any kind.
    pub requests: u64,
    /// Requests answered 401.
    pub unauthorized: u64,
}

/// A fake Snipe-IT on `127.0.0.1`. Stops when dropped.
pub type FakeSnipeIt = Fake<SnipeIt>;

/// Snipe-IT's part of a [`FakeSnipeIt`]: its assets and how it answers. Faults apply to
/// asset lookups.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SnipeIt {
    assets: Mutex<Vec<FakeAsset>>,
    not_found: Mutex<NotFound>,
}

impl Fake<SnipeIt> {
    /// Adds an asset; it gets the next id when its own is 0.
    pub fn add_asset(&self, asset: FakeAsset) {
        push_numbered(&mut lock(&self.mdm().assets), asset, |a| &mut a.id);
    }

    /// How unknown serials are answered.
    pub fn set_not_found(&self, style: NotFound) {
        *lock(&self.mdm().not_found) = style;
    }
}

/// Snipe-IT's error body (`Helper::formatStandardApiResponse('error', …)`).
fn error(status: StatusCode, messages: &str) -> FakeResponse {
    json_response(
        status,
        &json!({"status": "error", "messages": messages, "payload": null}),
    )
}

impl Mdm for SnipeIt {
    type Stats = FakeSnipeItStats;

    const WORDING: Wording = Wording {
        error: |status| error(status, "injected failure"),
        too_many: || error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
        garbage: "{\"total\": 1, \"rows\": [{\"id\": 1, \"serial\": ",
        wrong_shape: || json!({"status": "success", "messages": "ok", "payload": []}),
    };

    async fn handle(fake: &FakeState<Self>, request: FakeRequest) -> FakeResponse {
        fake.count(|s| s.requests += 1);
        fake.delay().await;
        let segments = request.segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let ["api", "v1", "hardware", "byserial", serial] = segments.as_slice() else {
            return html_response(StatusCode::NOT_FOUND, "Not Found");
        };
        if request.method != Method::GET {
            return html_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        }
        if request.bearer() != Some(API_TOKEN) {
            fake.count(|s| s.unauthorized += 1);
            return json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"message": "Unauthenticated."}),
            );
        }
        fake.faulted(|ignore_filter| rows(&fake.mdm, (!ignore_filter).then_some(*serial)))
            .await
    }

    /// The generic provider's variables for this fake, with the header given inline:
    /// `HTTP_URL` (the byserial route), `HTTP_HEADERS` (the bearer token), `HTTP_RECORD`
    /// (`/rows/0`) and `HTTP_MATCH` (`/serial`).
    fn env_vars(fake: &Fake<Self>) -> Vec<(String, String)> {
        owned_vars(&[
            (
                "HTTP_URL",
                &format!("{}/api/v1/hardware/byserial/{{identifier}}", fake.url()),
            ),
            (
                "HTTP_HEADERS",
                &format!("Authorization: Bearer {API_TOKEN}"),
            ),
            ("HTTP_RECORD", "/rows/0"),
            ("HTTP_MATCH", "/serial"),
        ])
    }

    /// A deployable asset.
    fn enrol(fake: &Fake<Self>, serial: &str) {
        fake.add_asset(FakeAsset::new(serial));
    }

    fn upstream_requests(stats: &FakeSnipeItStats) -> u64 {
        stats.requests
    }
}

fn rows(snipe: &SnipeIt, serial: Option<&str>) -> FakeResponse {
    let assets = lock(&snipe.assets);
    let rows: Vec<Value> = assets
        .iter()
        .filter(|a| serial.is_none_or(|s| a.serial.eq_ignore_ascii_case(s)))
        .map(asset_json)
        .collect();
    if rows.is_empty() {
        return match *lock(&snipe.not_found) {
            NotFound::StatusError => error(StatusCode::OK, "Asset does not exist."),
            NotFound::EmptyRows => json_response(StatusCode::OK, &json!({"total": 0, "rows": []})),
            NotFound::Http404 => error(StatusCode::NOT_FOUND, "Asset does not exist."),
        };
    }
    json_response(StatusCode::OK, &json!({"total": rows.len(), "rows": rows}))
}

fn asset_json(a: &FakeAsset) -> Value {
    let assigned_to = match &a.assigned_to {
        Some((username, name, email)) => {
            let (first, last) = name.split_once(' ').unwrap_or((name.as_str(), ""));
            json!({"id": 7, "username": username, "name": name, "first_name": first,
                   "last_name": last, "email": email, "employee_number": "E-7", "type": "user"})
        }
        None => Value::Null,
    };
    json!({
        "id": a.id,
        "name": a.name,
        "asset_tag": a.asset_tag,
        "serial": a.serial,
        "model": {"id": 1, "name": "MacBook Pro 14"},
        "byod": false,
        "model_number": "MKGR3LL/A",
        "status_label": {"id": 2, "name": a.status.0, "status_type": "deployable",
                         "status_meta": a.status.1},
        "category": {"id": 1, "name": "Laptops"},
        "manufacturer": {"id": 1, "name": "Apple"},
        "location": a.location.as_ref().map(|name| json!({"id": 1, "name": name})),
        "assigned_to": assigned_to,
        "custom_fields": {},
        "deleted_at": null,
        "user_can_checkout": false,
    })
}
