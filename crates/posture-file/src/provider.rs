use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};

use crate::{DeviceList, FileFormat, LoadError, LoadOptions};

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
    list: ArcSwap<DeviceList>,
    path: Option<PathBuf>,
    format: FileFormat,
    options: LoadOptions,
    /// Serialises reloads, so two racing reloads can't store their lists out of order.
    reloading: Mutex<()>,
}

impl FileProvider {
    /// Loads the device file at `path`, with the default [`LoadOptions`] (a file that
    /// lists no devices is an error).
    pub fn load(path: impl Into<PathBuf>, format: FileFormat) -> Result<Self, LoadError> {
        Self::load_with(path, format, LoadOptions::new())
    }

    /// Loads the device file at `path`. [`Self::reload`] uses the same options.
    pub fn load_with(
        path: impl Into<PathBuf>,
        format: FileFormat,
        options: LoadOptions,
    ) -> Result<Self, LoadError> {
        let path = path.into();
        let list = DeviceList::load_with(&path, format, options)?;
        Ok(Self {
            list: ArcSwap::from_pointee(list),
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
            list: ArcSwap::from_pointee(list),
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
    /// meanwhile see either the old list or the new one, never a mix.
    ///
    /// This reads and parses the file on the calling thread (about a second for a million
    /// devices); from async code, call it through `tokio::task::spawn_blocking`. The old and
    /// new lists are both in memory until the last lookup using the old one finishes.
    ///
    /// Editors and export scripts should replace the file by renaming a complete new file
    /// over it: a CSV caught half-written at a record boundary is well formed, just shorter.
    pub fn reload(&self) -> Result<usize, LoadError> {
        let Some(path) = &self.path else {
            return Err(LoadError::NotReloadable);
        };
        let _reloading = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let list = DeviceList::load_with(path, self.format, self.options)?;
        let devices = list.len();
        self.list.store(Arc::new(list));
        tracing::debug!(path = %path.display(), devices, "device list reloaded");
        Ok(devices)
    }

    /// The current list. It stays valid (and in memory) while held, even across reloads.
    pub fn snapshot(&self) -> Arc<DeviceList> {
        self.list.load_full()
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
            .field("devices", &self.list.load().len())
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
        Ok(self.list.load().decide(request.identifier()))
    }

    /// Always ready: a provider exists only once a list has loaded, and a failed reload
    /// keeps the previous list.
    async fn check_ready(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}
