//! The shell every fake MDM shares, so that each vendor module keeps only its wire shapes and
//! routes.
//!
//! A fake is a [`Fake<M>`]: a [`FakeServer`] whose handler is the MDM `M`'s
//! [`handle`](Mdm::handle), given a [`FakeState<M>`] that holds what every fake needs
//! besides the MDM's own state: the injected [`Fault`]s, the counters (the MDM's `Stats`
//! struct, counted under one lock) and the latency. `Fake<M>` serves the controls every fake
//! has ([`set_fault`](Fake::set_fault), [`fail_next`](Fake::fail_next),
//! [`fail_after`](Fake::fail_after), [`set_latency`](Fake::set_latency),
//! [`stats`](Fake::stats), [`env_vars`](Fake::env_vars); for an MDM with one static token
//! ([`TokenMdm`]), its [`connection`](Fake::connection)) and is a
//! [`posture_conformance::Upstream`]; each vendor module names its fake
//! (`pub type FakeKandji = Fake<Kandji>`) and adds its own controls.
//!
//! ```
//! use posture_fakes::Fault;
//! use posture_fakes::kandji::FakeKandji;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let kandji = FakeKandji::start().await?;
//! kandji.fail_after(2, Fault::Status(503), 1);
//! assert_eq!(kandji.stats().requests, 0);
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hyper::header::ACCEPT;

use crate::server::{FakeRequest, FakeResponse, FakeServer, FaultSlot, first_value, lock};
use crate::{Fault, Wording};

/// One MDM's part of a fake: its own state, its counters, how it words injected failures,
/// and how it answers. The crate's vendor modules implement it.
pub trait Mdm: Debug + Default + Send + Sync + 'static {
    /// The counters [`Fake::stats`] reports.
    type Stats: Copy + Debug + Default + Send + 'static;

    /// How the MDM words the answers of an injected [`Fault`].
    const WORDING: Wording;

    /// Where the MDM's API sits below the server's root, such as `/v2`: what
    /// [`Fake::url`] adds to it.
    const API_PATH: &'static str = "";

    /// Answers one request.
    fn handle(
        fake: &FakeState<Self>,
        request: FakeRequest,
    ) -> impl Future<Output = FakeResponse> + Send;

    /// The variables that point a server at `fake`, such as `KANDJI_API_URL` and
    /// `KANDJI_API_TOKEN`: what [`Fake::env_vars`] answers.
    fn env_vars(fake: &Fake<Self>) -> Vec<(String, String)>;

    /// Adds a device that a provider with default rules allows
    /// ([`Upstream::enrol`](posture_conformance::Upstream::enrol)).
    fn enrol(fake: &Fake<Self>, serial: &str);

    /// The requests the conformance suite counts
    /// ([`Upstream::requests`](posture_conformance::Upstream::requests)).
    fn upstream_requests(stats: &Self::Stats) -> u64;

    /// The counters as reported, given those counted: for the ones the MDM's own state
    /// keeps.
    fn report(&self, counted: Self::Stats) -> Self::Stats {
        counted
    }
}

/// An MDM that takes one static API token: its fake hands out an [`ApiConnection`].
pub trait TokenMdm: Mdm {
    /// The token the fake accepts.
    const API_TOKEN: &'static str;
}

/// What a fake's handler is given: the MDM's own state and what every fake keeps.
#[derive(Debug, Default)]
pub struct FakeState<M: Mdm> {
    /// The MDM's own state.
    pub(crate) mdm: M,
    /// The fault injected into the requests the MDM's faults apply to.
    pub(crate) fault: FaultSlot<Fault>,
    stats: Mutex<M::Stats>,
    latency: Mutex<Duration>,
    /// `http://127.0.0.1:<port>`, once the server is bound.
    root_url: OnceLock<String>,
}

impl<M: Mdm> FakeState<M> {
    /// `http://127.0.0.1:<port>`, for answers that hold links.
    pub(crate) fn root_url(&self) -> &str {
        self.root_url.get().map_or("", String::as_str)
    }

    /// Updates the counters.
    pub(crate) fn count(&self, update: impl FnOnce(&mut M::Stats)) {
        update(&mut lock(&self.stats));
    }

    /// Waits the latency set with [`Fake::set_latency`].
    pub(crate) async fn delay(&self) {
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    /// The answer of the fault in `slot`, if one strikes this request, in the MDM's words;
    /// else `answer(ignore_filter)`, where `ignore_filter` says whether
    /// [`Fault::IgnoreFilter`] struck.
    pub(crate) async fn guarded(
        slot: &FaultSlot<Fault>,
        answer: impl FnOnce(bool) -> FakeResponse,
    ) -> FakeResponse {
        match slot.take() {
            Some(fault) => match fault.answer(&M::WORDING).await {
                Some(injected) => injected,
                None => answer(true),
            },
            None => answer(false),
        }
    }

    /// [`guarded`](Self::guarded) by the fake's own fault slot.
    pub(crate) async fn faulted(&self, answer: impl FnOnce(bool) -> FakeResponse) -> FakeResponse {
        Self::guarded(&self.fault, answer).await
    }
}

/// A fake MDM on `127.0.0.1`, plain HTTP. Stops when dropped.
#[derive(Debug)]
pub struct Fake<M: Mdm> {
    server: FakeServer,
    shared: Arc<FakeState<M>>,
}

impl<M: Mdm> Fake<M> {
    /// Starts the fake on a free port of `127.0.0.1`, with an empty inventory.
    pub async fn start() -> std::io::Result<Self> {
        let shared = Arc::new(FakeState::<M>::default());
        let server = FakeServer::start_with(shared.clone(), |shared, request| async move {
            M::handle(&shared, request).await
        })
        .await?;
        // Set before any request can be answered: the caller learns the address from `Self`.
        let _first = shared.root_url.set(server.url());
        Ok(Self { server, shared })
    }

    /// The URL to configure: `http://127.0.0.1:<port>`, and the MDM's API path if it has
    /// one.
    pub fn url(&self) -> String {
        format!("{}{}", self.server.url(), M::API_PATH)
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn root_url(&self) -> String {
        self.server.url()
    }

    /// The MDM's own state.
    pub(crate) fn mdm(&self) -> &M {
        &self.shared.mdm
    }

    /// Injects `fault` into every request the MDM's faults apply to (its module says which),
    /// or stops injecting with `None`.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.fault.set(fault);
    }

    /// Injects `fault` into the next `times` requests the MDM's faults apply to only.
    pub fn fail_next(&self, fault: Fault, times: usize) {
        self.shared.fault.fail_next(fault, times);
    }

    /// Lets the next `skip` requests the MDM's faults apply to through, then injects `fault`
    /// into `times` of them (a sync failing midway).
    pub fn fail_after(&self, skip: usize, fault: Fault, times: usize) {
        self.shared.fault.fail_after(skip, fault, times);
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.shared.latency) = latency;
    }

    /// The variables that point a server at this fake: its URL and the credentials it
    /// accepts, under the names the provider reads (each MDM's [`Mdm::env_vars`] lists
    /// them).
    pub fn env_vars(&self) -> Vec<(String, String)> {
        M::env_vars(self)
    }

    /// The counters.
    pub fn stats(&self) -> M::Stats {
        // Copied out first: `report` may lock the MDM's state, which handlers hold while
        // counting.
        let counted = *lock(&self.shared.stats);
        self.shared.mdm.report(counted)
    }
}

impl<M: TokenMdm> Fake<M> {
    /// The API URL and the token the fake accepts.
    pub fn connection(&self) -> ApiConnection {
        ApiConnection {
            api_url: self.url(),
            api_token: M::API_TOKEN,
        }
    }
}

impl<M: Mdm> posture_conformance::Upstream for Fake<M> {
    fn requests(&self) -> u64 {
        M::upstream_requests(&self.stats())
    }

    fn inject(&self, fault: posture_conformance::Fault) {
        self.set_fault(Some(fault.into()));
    }

    fn heal(&self) {
        self.set_fault(None);
    }

    fn enrol(&self, serial: &str) {
        M::enrol(self, serial);
    }

    fn set_latency(&self, latency: Duration) {
        Self::set_latency(self, latency);
    }
}

/// Adds `item` to `items`, numbered after the others when its `id` is 0, as an inventory
/// numbers new records.
pub(crate) fn push_numbered<T>(
    items: &mut Vec<T>,
    mut item: T,
    id: impl FnOnce(&mut T) -> &mut u64,
) {
    let id = id(&mut item);
    if *id == 0 {
        *id = items.len() as u64 + 1;
    }
    items.push(item);
}

/// What a provider needs to reach a fake whose MDM takes one static API token: the API URL
/// and the token.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct ApiConnection {
    /// The API URL, such as `http://127.0.0.1:40123`.
    pub api_url: String,
    /// The API token the fake accepts.
    pub api_token: &'static str,
}

impl ApiConnection {
    /// The variables that point a server at the fake: the URL named `url_var` and the
    /// token named `token_var`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let kandji = posture_fakes::kandji::FakeKandji::start().await?;
    /// let vars = kandji.connection().env_vars("KANDJI_API_URL", "KANDJI_API_TOKEN");
    /// assert_eq!(vars, kandji.env_vars());
    /// # Ok(())
    /// # }
    /// ```
    pub fn env_vars(&self, url_var: &str, token_var: &str) -> Vec<(String, String)> {
        owned_vars(&[(url_var, &self.api_url), (token_var, self.api_token)])
    }
}

/// Variables, each a name and its value, as [`Fake::env_vars`] answers them.
pub(crate) fn owned_vars(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// One request a fake received.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// The path, without the fake's prefix if it has one.
    pub path: String,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The body, as text.
    pub body: String,
}

impl RecordedRequest {
    /// The first query parameter called `key`.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        first_value(&self.query, key)
    }

    /// `request`, received at `path`.
    fn new(request: &FakeRequest, path: &str) -> Self {
        Self {
            method: request.method.to_string(),
            path: path.to_owned(),
            query: request.query.clone(),
            accept: request.header(ACCEPT).map(str::to_owned),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        }
    }
}

/// The last requests a fake received, for tests that look at what a provider sent.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    requests: Mutex<VecDeque<RecordedRequest>>,
}

impl RequestLog {
    /// Requests kept; older ones are dropped.
    const MAX: usize = 10_000;

    /// Keeps `request`, received at `path`.
    pub(crate) fn record(&self, request: &FakeRequest, path: &str) {
        let mut requests = lock(&self.requests);
        if requests.len() >= Self::MAX {
            requests.pop_front();
        }
        requests.push_back(RecordedRequest::new(request, path));
    }

    /// The requests kept, oldest first.
    pub(crate) fn all(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).iter().cloned().collect()
    }

    /// The requests kept whose path ends with `suffix`, oldest first; only those are copied.
    pub(crate) fn to(&self, suffix: &str) -> Vec<RecordedRequest> {
        lock(&self.requests)
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .cloned()
            .collect()
    }
}
