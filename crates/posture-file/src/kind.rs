//! The file provider as a server composes it: `PROVIDER=file`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use posture_core::{
    BuildError, BuiltProvider, FileVersion, Kind, ProviderSetup, ReloadFailure, ReloadableList,
};
use posture_settings::{ConfigProblem, ConfigProblems, Reader, Setting};

use crate::{FileFormat, FileProvider, LoadError, LoadOptions};

/// `PROVIDER=file`, for a server's list of providers: a JSON or CSV device list, reloaded
/// when it changes ([`ReloadableList`]).
///
/// ```
/// use posture_core::ProviderKind;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("devices.csv");
/// std::fs::write(&path, "Identifier\nC02XL0GJJG5J\n")?;
/// let path_text = path.display().to_string();
/// let get = |name: &str| match name {
///     "FILE_PATH" => Some(path_text.clone()),
///     "FILE_TYPE" => Some("csv".to_owned()),
///     _ => None,
/// };
/// let setup = posture_file::KIND.configure(&get)?;
/// let built = setup.build()?;
/// assert_eq!(built.reloadable().map(|list| list.len()), Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub static KIND: Kind<FileConfig> = Kind::new("file", SETTINGS, FileConfig::from_env);

posture_settings::declare! {
    /// the path of a JSON or CSV device file
    const FILE_PATH = path("FILE_PATH").required();
    /// json or csv
    const FILE_TYPE = choice("FILE_TYPE", &crate::FileFormat::NAMES, None).required();
    /// let a reload drop more than half the devices
    const RELOAD_ALLOW_SHRINK = flag("RELOAD_ALLOW_SHRINK", false);
}

/// Every variable the file provider reads.
pub const SETTINGS: &[Setting] = &[FILE_PATH, FILE_TYPE, RELOAD_ALLOW_SHRINK];

/// A validated file-provider configuration: the device file, its format and whether a
/// reload may drop more than half the devices. [`KIND`] reads it from `FILE_PATH`,
/// `FILE_TYPE` and `RELOAD_ALLOW_SHRINK`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FileConfig {
    path: PathBuf,
    format: FileFormat,
    allow_shrink: bool,
}

impl FileConfig {
    /// The device file (`FILE_PATH`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its format (`FILE_TYPE`).
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// Whether a reload may drop more than half the devices (`RELOAD_ALLOW_SHRINK`).
    pub fn allow_shrink(&self) -> bool {
        self.allow_shrink
    }
}

impl FileConfig {
    /// Reads `FILE_PATH`, `FILE_TYPE` and `RELOAD_ALLOW_SHRINK`, reporting every problem; the
    /// file must be there, and is loaded at build time.
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigProblems> {
        let mut reader = Reader::new(get);
        let path = reader.file(&FILE_PATH).flatten();
        let format = match reader.value(FILE_TYPE.name) {
            None => {
                reader.problem(ConfigProblem::missing(FILE_TYPE.name, FILE_TYPE.expected()));
                None
            }
            Some(text) => text.parse::<FileFormat>().ok().or_else(|| {
                reader.problem(ConfigProblem::invalid(
                    FILE_TYPE.name,
                    &text,
                    FILE_TYPE.expected(),
                ));
                None
            }),
        };
        let allow_shrink = reader.flag(&RELOAD_ALLOW_SHRINK);
        reader.finish_with(|| {
            Some(Self {
                path: path?,
                format: format?,
                allow_shrink: allow_shrink?,
            })
        })
    }
}

impl ProviderSetup for FileConfig {
    fn summary(&self) -> Vec<String> {
        vec![
            if self.allow_shrink {
                "a reload may drop any number of devices"
            } else {
                "a reload that drops more than half the devices is refused"
            }
            .to_owned(),
        ]
    }

    fn watched_files(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        let options = LoadOptions::new().allow_shrink(self.allow_shrink);
        let file = Arc::new(
            FileProvider::load_with(&self.path, self.format, options).map_err(|err| {
                BuildError::new(
                    format!(
                        "FILE_PATH={}: cannot load the device file",
                        self.path.display()
                    ),
                    err,
                )
            })?,
        );
        Ok(BuiltProvider::new(file.clone()).with_reloadable(file))
    }
}

impl ReloadableList for FileProvider {
    fn path(&self) -> Option<&Path> {
        Self::path(self)
    }

    fn version(&self) -> Option<FileVersion> {
        Self::version(self)
    }

    fn reload(&self, expected: Option<FileVersion>) -> Result<usize, ReloadFailure> {
        let result = match expected {
            Some(version) => self.reload_if_unchanged(version),
            None => Self::reload(self),
        };
        result.map_err(|err| match err {
            LoadError::Changed { .. } => ReloadFailure::Changed(Box::new(err)),
            LoadError::Shrunk { .. } => ReloadFailure::Shrunk(Box::new(err)),
            other => ReloadFailure::Invalid(Box::new(other)),
        })
    }

    fn len(&self) -> usize {
        self.snapshot().len()
    }

    fn loaded_at(&self) -> std::time::SystemTime {
        Self::loaded_at(self)
    }

    fn describe(&self) -> String {
        format!(
            "FILE_PATH={} FILE_TYPE={}",
            Self::path(self).unwrap_or(Path::new("(none)")).display(),
            self.format()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Configuring only checks that the file is there; it is loaded at build time.
    const BASE: &[(&str, &str)] = &[
        (
            "FILE_PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/src/kind.rs"),
        ),
        ("FILE_TYPE", "csv"),
    ];
    posture_conformance::settings_tests! {
        kind: KIND,
        shared: [],
        base: BASE,
    }
}
