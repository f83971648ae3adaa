//! The token-authenticated request flow the OAuth and login providers share.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;
use posture_core::ProviderError;

use crate::{AccessToken, Answer, Backoff, FetchedToken, TokenCache, TokenStats};

/// Bearer-token requests to one service: the token cache, the `Retry-After` backoff, and the
/// rule that a 401 drops the token, renews it and retries once.
///
/// The provider keeps what is its own: how a token is fetched (a client-credentials grant, a
/// login), how a request is built and sent (URL, body, headers, a connection slot), and how
/// a refused fresh token is worded.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), posture_core::ProviderError> {
/// use std::time::Duration;
/// use bytes::Bytes;
/// use posture_core::ProviderError;
/// use posture_http::{Answer, FetchedToken, StatusCode, TokenSession, header::HeaderMap};
///
/// let session = TokenSession::new(Duration::from_secs(30), Duration::from_secs(60));
/// let fetch = || async { Ok(FetchedToken::new("t0k3n", Duration::from_secs(600))) };
/// // A stand-in for the real request: the service refuses the first token it sees.
/// let sent = std::sync::atomic::AtomicU32::new(0);
/// let send = |token: posture_http::AccessToken| {
///     let first = sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0;
///     async move {
///         assert_eq!(token.secret(), "t0k3n");
///         let status = if first { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
///         Ok(Answer::new(status, HeaderMap::new(), Bytes::new()))
///     }
/// };
/// let refused = || ProviderError::permanent("refused a fresh token");
/// let answer = session.send("Acme", "GET /devices", fetch, send, refused).await?;
/// assert_eq!(answer.status, StatusCode::OK);
/// assert_eq!(session.retries_after_401(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TokenSession {
    tokens: TokenCache,
    backoff: Backoff,
    retries_after_401: AtomicU64,
}

impl TokenSession {
    /// Tokens renewed `renewal_margin` before they expire; `Retry-After` honoured up to
    /// `max_retry_after`.
    pub fn new(renewal_margin: Duration, max_retry_after: Duration) -> Self {
        Self::with_backoff(renewal_margin, Backoff::new(max_retry_after))
    }

    /// As [`new`](Self::new), with a backoff made elsewhere.
    pub fn with_backoff(renewal_margin: Duration, backoff: Backoff) -> Self {
        Self {
            tokens: TokenCache::new(renewal_margin),
            backoff,
            retries_after_401: AtomicU64::new(0),
        }
    }

    /// The token cache.
    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// The token cache's counters.
    pub fn token_stats(&self) -> TokenStats {
        self.tokens.stats()
    }

    /// The `Retry-After` backoff.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// How many requests were retried with a new token after a 401.
    pub fn retries_after_401(&self) -> u64 {
        self.retries_after_401.load(Ordering::Relaxed)
    }

    /// A valid token, fetched with `fetch` once for all concurrent callers when none is
    /// cached.
    pub async fn token<F, Fut>(&self, fetch: F) -> Result<AccessToken, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, ProviderError>>,
    {
        self.tokens.get(fetch).await
    }

    /// Sends a request with a valid token: `send` builds and sends it with the token it is
    /// given. While a `Retry-After` runs nothing is sent (a transient error says how long is
    /// left). A 401 drops that token, fetches a new one and sends once more; a second 401 is
    /// `fresh_token_refused()`. Every other status is the caller's to judge, and a 429 or 503
    /// with `Retry-After` starts the backoff.
    pub async fn send<F, FetchFut, S, SendFut>(
        &self,
        service: &str,
        request: &str,
        fetch: F,
        send: S,
        fresh_token_refused: impl FnOnce() -> ProviderError,
    ) -> Result<Answer, ProviderError>
    where
        F: Fn() -> FetchFut,
        FetchFut: Future<Output = Result<FetchedToken, ProviderError>>,
        S: Fn(AccessToken) -> SendFut,
        SendFut: Future<Output = Result<Answer, ProviderError>>,
    {
        let pass = self.backoff.check(service)?;
        let token = self.tokens.get(&fetch).await?;
        let mut answer = send(token.clone()).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            tracing::debug!(
                service,
                request,
                "the service refused the token; renewing it and retrying once"
            );
            self.tokens.invalidate(&token);
            self.retries_after_401.fetch_add(1, Ordering::Relaxed);
            let token = self.tokens.get(&fetch).await?;
            answer = send(token.clone()).await?;
            if answer.status == StatusCode::UNAUTHORIZED {
                self.tokens.invalidate(&token);
                return Err(fresh_token_refused());
            }
        }
        pass.observe(answer.status, &answer.headers);
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use bytes::Bytes;
    use http::HeaderValue;
    use http::header::{HeaderMap, RETRY_AFTER};

    use super::*;

    fn answer(status: StatusCode, headers: HeaderMap) -> Answer {
        Answer::new(status, headers, Bytes::new())
    }

    #[tokio::test]
    async fn a_second_401_is_the_callers_error_and_each_try_has_its_own_token() {
        let session = TokenSession::new(Duration::from_secs(1), Duration::from_secs(60));
        let fetched = AtomicU32::new(0);
        let fetch = || {
            let n = fetched.fetch_add(1, Ordering::Relaxed);
            async move { Ok(FetchedToken::new(format!("t{n}"), Duration::from_secs(600))) }
        };
        let seen = std::sync::Mutex::new(Vec::new());
        let send = |token: AccessToken| {
            seen.lock().unwrap().push(token.secret().to_owned());
            async { Ok(answer(StatusCode::UNAUTHORIZED, HeaderMap::new())) }
        };
        let err = session
            .send("S", "GET /a", fetch, send, || {
                ProviderError::permanent("no")
            })
            .await
            .unwrap_err();
        assert_eq!(err.message(), "no");
        assert_eq!(*seen.lock().unwrap(), ["t0", "t1"]);
        assert_eq!(session.retries_after_401(), 1);
        assert_eq!(session.token_stats().invalidations, 2);
    }

    #[tokio::test]
    async fn a_retry_after_stops_the_next_request_before_it_is_sent() {
        let session = TokenSession::new(Duration::from_secs(1), Duration::from_secs(60));
        let fetch = || async { Ok(FetchedToken::new("t", Duration::from_secs(600))) };
        let mut busy = HeaderMap::new();
        busy.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        let sent = AtomicU32::new(0);
        let send = |_token: AccessToken| {
            sent.fetch_add(1, Ordering::Relaxed);
            let busy = busy.clone();
            async move { Ok(answer(StatusCode::TOO_MANY_REQUESTS, busy)) }
        };
        let refused = || ProviderError::permanent("no");
        let first = session.send("S", "GET /a", fetch, &send, refused).await;
        assert_eq!(first.unwrap().status, StatusCode::TOO_MANY_REQUESTS);
        let err = session
            .send("S", "GET /a", fetch, &send, refused)
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(sent.load(Ordering::Relaxed), 1, "the second was never sent");
    }
}
