//! A neighbour crate: it uses reqwest itself, and its tests prove that depending on
//! step-posture-connector and the provider crates changes neither its reqwest nor the
//! process's rustls provider. See `tests/neighbour.rs`.

/// The client this crate would use for its own calls: reqwest as its `Cargo.toml` asks for
/// it, plain HTTP, no TLS backend.
///
/// ```
/// let client = step_posture_neighbour::own_client();
/// # drop(client);
/// ```
pub fn own_client() -> reqwest::Client {
    reqwest::Client::new()
}
