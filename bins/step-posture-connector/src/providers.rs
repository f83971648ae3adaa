//! The providers a server can be configured with, and building the configured one.
//!
//! A server holds a [`Providers`] list of [`ProviderKind`]s. `PROVIDER` names one or
//! several of them; each validates its own variables, and several combine under `POLICY`.
//! The server knows no provider by type: a file provider's reload and every provider's
//! counters reach it through the hooks of [`BuiltProvider`](posture_core::BuiltProvider).

use std::sync::Arc;

use posture_core::{
    BuildError, DeviceRefresher, DynPostureProvider, PolicyProvider, ProviderCounters,
    ProviderKind, ReloadableList,
};

use crate::config::ProviderChoice;

/// The provider kinds a server accepts in `PROVIDER`.
///
/// ```
/// use step_posture_connector::providers::Providers;
/// let providers = Providers::builtin();
/// assert!(providers.get("file").is_some());
/// assert!(providers.get("static").is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Providers {
    kinds: Vec<&'static dyn ProviderKind>,
}

impl Providers {
    /// No providers; add them with [`Providers::with`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The providers this build includes: `file`, `jamf`, `intune`, `kandji`, `fleet`,
    /// `http` (the generic HTTP inventory), `mosyle` and `addigy`, each behind the Cargo
    /// feature of the same name (all on by default).
    pub fn builtin() -> Self {
        let kinds: &[&'static dyn ProviderKind] = &[
            #[cfg(feature = "file")]
            &posture_file::KIND,
            #[cfg(feature = "jamf")]
            &posture_jamf::KIND,
            #[cfg(feature = "intune")]
            &posture_intune::KIND,
            #[cfg(feature = "kandji")]
            &posture_kandji::KIND,
            #[cfg(feature = "fleet")]
            &posture_fleet::KIND,
            #[cfg(feature = "http")]
            &posture_http_inventory::KIND,
            #[cfg(feature = "mosyle")]
            &posture_mosyle::KIND,
            #[cfg(feature = "addigy")]
            &posture_addigy::KIND,
        ];
        kinds
            .iter()
            .fold(Self::new(), |providers, kind| providers.with(*kind))
    }

    /// Adds a provider kind. A kind with the same name as one already listed replaces it,
    /// so a build can swap a built-in provider for its own.
    pub fn with(mut self, kind: &'static dyn ProviderKind) -> Self {
        match self.kinds.iter_mut().find(|k| k.name() == kind.name()) {
            Some(slot) => *slot = kind,
            None => self.kinds.push(kind),
        }
        self
    }

    /// The kind `PROVIDER` calls `name`.
    pub fn get(&self, name: &str) -> Option<&'static dyn ProviderKind> {
        self.kinds.iter().copied().find(|kind| kind.name() == name)
    }

    /// The names `PROVIDER` accepts, in the order the kinds were added.
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|kind| kind.name()).collect()
    }

    /// Every kind, in the order added.
    pub fn kinds(&self) -> &[&'static dyn ProviderKind] {
        &self.kinds
    }

    /// Every variable the providers declare, `_FILE` forms included.
    pub fn variable_names(&self) -> Vec<&'static str> {
        self.kinds
            .iter()
            .flat_map(|kind| posture_settings::variable_names(kind.settings()))
            .collect()
    }
}

/// The configured provider, built, with the hooks the server uses.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) struct ProviderParts {
    /// The provider every request asks.
    pub(crate) provider: Arc<dyn DynPostureProvider>,
    /// The list reloaded when its file changes (the file provider's), also inside a
    /// combined policy.
    pub(crate) reloadable: Option<Arc<dyn ReloadableList>>,
    /// Each member's counters, with the member's name, for `/metrics`.
    pub(crate) counters: Vec<(String, Arc<dyn ProviderCounters>)>,
    /// Each member's refresh hook (a synced inventory read again on a change
    /// notification), with the member's name.
    pub(crate) refreshers: Vec<(String, Arc<dyn DeviceRefresher>)>,
}

impl ProviderParts {
    /// A provider the server did not build from its configuration: nothing to reload,
    /// no provider counters to export.
    pub(crate) fn custom(provider: Arc<dyn DynPostureProvider>) -> Self {
        Self {
            provider,
            reloadable: None,
            counters: Vec::new(),
            refreshers: Vec::new(),
        }
    }
}

/// Builds the configured providers, combining several under `POLICY`. No network access
/// happens before [`DynPostureProvider::check_ready_boxed`]; data files are loaded.
pub(crate) fn build(choice: &ProviderChoice) -> Result<ProviderParts, BuildError> {
    let mut members = Vec::with_capacity(choice.members.len());
    let mut reloadable = None;
    let mut counters = Vec::new();
    let mut refreshers = Vec::new();
    for member in &choice.members {
        let built = member.setup.build()?;
        if reloadable.is_none() {
            reloadable = built.reloadable().cloned();
        }
        if let Some(source) = built.counters() {
            counters.push((member.name.to_owned(), source.clone()));
        }
        if let Some(refresher) = built.refresher() {
            refreshers.push((member.name.to_owned(), refresher.clone()));
        }
        members.push(built.provider().clone());
    }
    let provider = match <[_; 1]>::try_from(members) {
        Ok([only]) => only,
        Err(members) => Arc::new(
            PolicyProvider::new(choice.policy, members)
                .map_err(|err| BuildError::new("PROVIDER", err))?,
        ),
    };
    Ok(ProviderParts {
        provider,
        reloadable,
        counters,
        refreshers,
    })
}
