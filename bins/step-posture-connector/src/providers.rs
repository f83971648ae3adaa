//! Building the configured provider, keeping hold of its concrete type where the server
//! needs more than the [`DynPostureProvider`] interface: the file provider to reload it,
//! the Jamf provider to export its counters, also when they sit inside a combined policy.

use std::sync::Arc;

use anyhow::Context;
use posture_core::{DynPostureProvider, PolicyProvider};
use posture_file::{FileProvider, LoadOptions};
use posture_intune::IntuneProvider;
use posture_jamf::JamfProvider;
use posture_kandji::KandjiProvider;

use crate::config::ProviderSettings;

/// The configured provider, and the same object by its concrete type.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProviderParts {
    /// The provider every request asks.
    pub provider: Arc<dyn DynPostureProvider>,
    /// The same provider when it is the file provider, for reloads.
    pub file: Option<Arc<FileProvider>>,
    /// The same provider when it is Jamf, for metrics.
    pub jamf: Option<Arc<JamfProvider>>,
}

impl ProviderParts {
    /// A provider the server did not build from its configuration: nothing to reload,
    /// no provider counters to export.
    pub fn custom(provider: Arc<dyn DynPostureProvider>) -> Self {
        Self {
            provider,
            file: None,
            jamf: None,
        }
    }
}

/// Builds the configured provider. No network access happens before
/// [`DynPostureProvider::check_ready_boxed`]; the file provider loads its file.
///
/// For a combined policy, `file` and `jamf` point at the members of those kinds, so a
/// reload reaches the device file and the metrics reach Jamf's counters.
pub fn build(settings: &ProviderSettings) -> anyhow::Result<ProviderParts> {
    Ok(match settings {
        ProviderSettings::File {
            path,
            format,
            allow_shrink,
        } => {
            let options = LoadOptions::new().allow_shrink(*allow_shrink);
            let file = Arc::new(
                FileProvider::load_with(path, *format, options).with_context(|| {
                    format!("FILE_PATH={}: cannot load the device file", path.display())
                })?,
            );
            ProviderParts {
                provider: file.clone(),
                file: Some(file),
                jamf: None,
            }
        }
        ProviderSettings::Jamf(config) => {
            let jamf = Arc::new(
                JamfProvider::new((**config).clone()).context("cannot set up the Jamf provider")?,
            );
            ProviderParts {
                provider: jamf.clone(),
                file: None,
                jamf: Some(jamf),
            }
        }
        ProviderSettings::Intune(config) => ProviderParts::custom(Arc::new(
            IntuneProvider::new((**config).clone()).context("cannot set up the Intune provider")?,
        )),
        ProviderSettings::Kandji(config) => ProviderParts::custom(Arc::new(
            KandjiProvider::new((**config).clone()).context("cannot set up the Kandji provider")?,
        )),
        ProviderSettings::Combined { policy, providers } => {
            let members = providers
                .iter()
                .map(build)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let file = members.iter().find_map(|part| part.file.clone());
            let jamf = members.iter().find_map(|part| part.jamf.clone());
            let members = members.into_iter().map(|part| part.provider).collect();
            ProviderParts {
                provider: Arc::new(PolicyProvider::new(*policy, members).context("PROVIDER")?),
                file,
                jamf,
            }
        }
    })
}
