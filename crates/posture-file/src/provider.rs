use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};

use crate::list::io_error;
use crate::{DeviceList, FileFormat, FileVersion, LoadError, LoadOptions};

/// A [`PostureProvider`] that answers from a device inventory file.
///
/// The current [`DeviceList`] sits behind an [`ArcSwap`], so lookups take no lock and
/// never wait for a reload; a reload builds the new list aside and swaps it in whole.
///
/// ```no_run
/// use posture_file::{FileFormat, FileProvider};
///
/// let provider = FileProvider::load("/etc/step-posture/devices.csv", FileFormat::Csv)?;
/// println!("{} devices", provider.snapshot().len());
///
/// // Later, on SIGHUP. A file that fails to load leaves the current list in place.
/// match provider.reload() {
///     Ok(devices) => println!("reloaded {devices} devices"),
///     Err(err) => eprintln!("kept the previous device list: {err}"),
/// }
/// # Ok::<(), posture_file::LoadError>(())
/// ```
pub struct FileProvider {
    served: ArcSwap<Served>,
    path: Option<PathBuf>,
    format: FileFormat,
    options: LoadOptions,
    /// Serialises reloads, so two racing reloads can't store their lists out of order.
    reloading: Mutex<()>,
}

/// The list being served and where it came from; swapped whole, so the three always agree.
struct Served {
    list: Arc<DeviceList>,
    /// The version of the file the list was read from; `None` for a list built in memory.
    version: Option<FileVersion>,
    /// When the list was loaded.
    loaded_at: SystemTime,
}

impl FileProvider {
    /// Loads the device file at `path`, with the default [`LoadOptions`] (a file that
    /// lists no devices is an error).
    pub fn load(path: impl Into<PathBuf>, format: FileFormat) -> Result<Self, LoadError> {
        Self::load_with(path, format, LoadOptions::new())
    }

    /// Loads the device file at `path`. [`Self::reload`] uses the same options.
    ///
    /// A file that changes while it is read fails with [`LoadError::Changed`], as in
    /// [`Self::reload`].
    pub fn load_with(
        path: impl Into<PathBuf>,
        format: FileFormat,
        options: LoadOptions,
    ) -> Result<Self, LoadError> {
        let path = path.into();
        let (list, version) = load_unchanged(&path, format, options, None)?;
        Ok(Self {
            served: ArcSwap::from_pointee(Served {
                list: Arc::new(list),
                version: Some(version),
                loaded_at: SystemTime::now(),
            }),
            path: Some(path),
            format,
            options,
            reloading: Mutex::new(()),
        })
    }

    /// Serves a list built in memory. Such a provider has no file, so [`Self::reload`]
    /// fails with [`LoadError::NotReloadable`].
    pub fn from_list(list: DeviceList) -> Self {
        Self {
            format: list.format(),
            served: ArcSwap::from_pointee(Served {
                list: Arc::new(list),
                version: None,
                loaded_at: SystemTime::now(),
            }),
            path: None,
            options: LoadOptions::new(),
            reloading: Mutex::new(()),
        }
    }

    /// Reads the file again and, if the whole file loads, makes it the current list;
    /// returns how many devices it lists.
    ///
    /// If it fails (the file is missing, unreadable, truncated, or fails any check) the
    /// current list stays in place, untouched, and the error says why. Lookups running
    /// meanwhile see either the old list or the new one, never a mix. Two checks guard
    /// against a file caught while it is being written:
    ///
    /// - the file's [`FileVersion`] is taken before and after reading it, and if they
    ///   differ the list is not loaded ([`LoadError::Changed`]): try again once the file has
    ///   stopped changing;
    /// - a list of fewer than half as many devices as the current one is refused
    ///   ([`LoadError::Shrunk`]) unless [`LoadOptions::allow_shrink`] is set.
    ///
    /// Neither can see a writer that pauses mid-file between two whole records for the
    /// length of a read: a CSV cut at a record boundary is well formed, only shorter. So
    /// editors and export scripts should write a temporary file in the same directory and
    /// rename it over the device file, which readers only ever see whole; a caller that
    /// polls the file should also wait for it to stay unchanged for a while before
    /// reloading (see [`Self::reload_if_unchanged`]).
    ///
    /// This reads and parses the file on the calling thread (about a second for a million
    /// devices); from async code, call it through `tokio::task::spawn_blocking`. The old and
    /// new lists are both in memory until the last lookup using the old one finishes.
    pub fn reload(&self) -> Result<usize, LoadError> {
        self.reload_checked(None)
    }

    /// As [`Self::reload`], but only if the file is still at `version`, such as a version
    /// the caller saw stay the same for a while: a file that has changed since fails with
    /// [`LoadError::Changed`] and the current list stays.
    pub fn reload_if_unchanged(&self, version: FileVersion) -> Result<usize, LoadError> {
        self.reload_checked(Some(version))
    }

    fn reload_checked(&self, expected: Option<FileVersion>) -> Result<usize, LoadError> {
        let Some(path) = &self.path else {
            return Err(LoadError::NotReloadable);
        };
        let _reloading = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (list, version) = load_unchanged(path, self.format, self.options, expected)?;
        let devices = list.len();
        let served = self.served.load().list.len();
        if !self.options.allows_shrink() && devices.saturating_mul(2) < served {
            return Err(LoadError::Shrunk {
                file: list.source_name().to_owned(),
                devices,
                served,
            });
        }
        self.served.store(Arc::new(Served {
            list: Arc::new(list),
            version: Some(version),
            loaded_at: SystemTime::now(),
        }));
        tracing::debug!(path = %path.display(), devices, "device list reloaded");
        Ok(devices)
    }

    /// The version of the file the current list was read from, to compare with
    /// [`FileVersion::of`] the file now: when they differ, the file on disk is not what is
    /// served. `None` for a provider built with [`Self::from_list`].
    pub fn version(&self) -> Option<FileVersion> {
        self.served.load().version
    }

    /// When the current list was loaded.
    pub fn loaded_at(&self) -> SystemTime {
        self.served.load().loaded_at
    }

    /// The current list. It stays valid (and in memory) while held, even across reloads.
    pub fn snapshot(&self) -> Arc<DeviceList> {
        self.served.load().list.clone()
    }

    /// The device file, or `None` for a provider built with [`Self::from_list`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The format of the device file.
    pub fn format(&self) -> FileFormat {
        self.format
    }
}

impl fmt::Debug for FileProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileProvider")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("devices", &self.served.load().list.len())
            .finish_non_exhaustive()
    }
}

impl PostureProvider for FileProvider {
    /// `"file"`.
    fn name(&self) -> &str {
        "file"
    }

    /// Allows a listed device with its data and denies any other with
    /// [`DenyCode::DEVICE_NOT_FOUND`](posture_core::DenyCode::DEVICE_NOT_FOUND). Never
    /// fails, and ignores the request's device mode, as the Go version does.
    async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        Ok(self.served.load().list.decide(request.identifier()))
    }

    /// Always ready: a provider exists only once a list has loaded, and a failed reload
    /// keeps the previous list.
    async fn check_ready(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}

/// Loads the file at `path` and returns it with the version it was read at, provided the
/// file was at that version (and at `expected`, if given) both before and after reading.
fn load_unchanged(
    path: &Path,
    format: FileFormat,
    options: LoadOptions,
    expected: Option<FileVersion>,
) -> Result<(DeviceList, FileVersion), LoadError> {
    let changed = || LoadError::Changed {
        path: path.to_owned(),
    };
    let before = FileVersion::of(path).map_err(|err| io_error(path, err))?;
    if expected.is_some_and(|expected| expected != before) {
        return Err(changed());
    }
    let loaded = DeviceList::load_with(path, format, options);
    // A file that changed while it was read may have failed to parse only because of it,
    // so the change is the error to report either way.
    match (loaded, FileVersion::of(path)) {
        (Ok(list), Ok(after)) if after == before => Ok((list, before)),
        (Err(err), Ok(after)) if after == before => Err(err),
        (_, Ok(_)) => Err(changed()),
        (Ok(_), Err(err)) => Err(io_error(path, err)),
        (Err(err), Err(_)) => Err(err),
    }
}
