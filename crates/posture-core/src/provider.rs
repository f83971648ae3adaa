use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::{Decision, LookupRequest, ProviderError};

/// A boxed, `Send` future, as returned by [`DynPostureProvider`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of device-posture facts: an inventory file, an MDM, a directory.
///
/// Implement it with plain `async fn`s; the returned futures must be `Send`, which the
/// compiler checks at your impl. Servers that pick providers at run time use the
/// [`DynPostureProvider`] form, which every `PostureProvider` implements automatically.
pub trait PostureProvider: Send + Sync + fmt::Debug {
    /// A short, stable name for logs and metrics, such as `"file"` or `"jamf"`.
    fn name(&self) -> &str;

    /// Decides about one device.
    ///
    /// Return a [`Decision::Deny`] when the provider knows the answer is no (the device is
    /// unknown, not compliant, or its identifier can't be looked up), and an error only when
    /// it can't answer.
    fn lookup(
        &self,
        request: &LookupRequest,
    ) -> impl Future<Output = Result<Decision, ProviderError>> + Send;

    /// Checks that the provider can answer lookups: its data is loaded, its backend is
    /// reachable and accepts its credentials. Servers call it at start-up, to fail fast, and
    /// from readiness probes. The default is always ready.
    fn check_ready(&self) -> impl Future<Output = Result<(), ProviderError>> + Send {
        async { Ok(()) }
    }

    /// What the provider learned about its backend while getting ready, one fact a line,
    /// for operators: which endpoint and API version each device family uses, a privilege
    /// that is missing but not required. `check-config` prints these after a successful
    /// [`check_ready`](Self::check_ready). Lines never hold secrets. The default is none.
    fn report(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The object-safe form of [`PostureProvider`], for `Arc<dyn DynPostureProvider>`.
///
/// Don't implement it by hand: every [`PostureProvider`] already implements it.
///
/// ```
/// use std::sync::Arc;
/// use posture_core::{Decision, DynPostureProvider, LookupRequest, PostureProvider, ProviderError};
///
/// #[derive(Debug)]
/// struct AllowAll;
/// impl PostureProvider for AllowAll {
///     fn name(&self) -> &str { "allow-all" }
///     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
///         Ok(Decision::allow())
///     }
/// }
///
/// let providers: Vec<Arc<dyn DynPostureProvider>> = vec![Arc::new(AllowAll)];
/// assert_eq!(providers[0].name(), "allow-all");
/// ```
pub trait DynPostureProvider: Send + Sync + fmt::Debug {
    /// See [`PostureProvider::name`].
    fn name(&self) -> &str;

    /// See [`PostureProvider::lookup`].
    fn lookup_boxed<'a>(
        &'a self,
        request: &'a LookupRequest,
    ) -> BoxFuture<'a, Result<Decision, ProviderError>>;

    /// See [`PostureProvider::check_ready`].
    fn check_ready_boxed(&self) -> BoxFuture<'_, Result<(), ProviderError>>;

    /// See [`PostureProvider::report`].
    fn report(&self) -> Vec<String>;
}

impl<P: PostureProvider> DynPostureProvider for P {
    fn name(&self) -> &str {
        PostureProvider::name(self)
    }

    fn lookup_boxed<'a>(
        &'a self,
        request: &'a LookupRequest,
    ) -> BoxFuture<'a, Result<Decision, ProviderError>> {
        Box::pin(self.lookup(request))
    }

    fn check_ready_boxed(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(self.check_ready())
    }

    fn report(&self) -> Vec<String> {
        PostureProvider::report(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{DenyCode, Enrichment};

    #[derive(Debug)]
    struct Inventory;

    impl PostureProvider for Inventory {
        fn name(&self) -> &str {
            "inventory"
        }

        async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
            match request.identifier() {
                "ok" => Ok(Decision::allow_with(Enrichment::from_json("{\"a\":1}")?)),
                "down" => Err(ProviderError::transient("backend down")),
                _ => Ok(Decision::deny(DenyCode::DEVICE_NOT_FOUND, "unknown")),
            }
        }
    }

    #[tokio::test]
    async fn dyn_form_delegates_to_the_provider() {
        let provider: Arc<dyn DynPostureProvider> = Arc::new(Inventory);
        let allowed = provider
            .lookup_boxed(&LookupRequest::new("ok"))
            .await
            .unwrap();
        assert_eq!(allowed.enrichment().unwrap().as_bytes(), b"{\"a\":1}");
        let denied = provider
            .lookup_boxed(&LookupRequest::new("x"))
            .await
            .unwrap();
        assert_eq!(denied.deny_code(), Some(&DenyCode::DEVICE_NOT_FOUND));
        let err = provider
            .lookup_boxed(&LookupRequest::new("down"))
            .await
            .unwrap_err();
        assert!(err.is_transient());
        assert!(provider.check_ready_boxed().await.is_ok());
        assert!(provider.report().is_empty());
    }
}
