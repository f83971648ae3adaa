use std::fmt;
use std::str::FromStr;

/// Which kind of device the caller says it is asking about.
///
/// step-ca does not tell the webhook whether the attested device is a computer or a phone,
/// so deployments say it in the webhook URL (`?mode=computer`). Providers whose inventory
/// is split by device kind (Jamf) use it; others ignore it.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum DeviceMode {
    /// The request named no mode. Providers apply their own default.
    #[default]
    Unspecified,
    /// A computer (a Mac).
    Computer,
    /// A mobile device (an iPhone, iPad, Apple TV or Vision Pro).
    MobileDevice,
    /// Try computers first, then mobile devices.
    Auto,
}

impl DeviceMode {
    /// The name used in the webhook URL's `mode` query parameter; `""` for [`Self::Unspecified`].
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "",
            Self::Computer => "computer",
            Self::MobileDevice => "mobiledevice",
            Self::Auto => "auto",
        }
    }
}

impl fmt::Display for DeviceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unspecified => f.write_str("unspecified"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// The `mode` value was not one of `computer`, `mobiledevice` or `auto`.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("unknown device mode {0:?}: expected computer, mobiledevice or auto")]
pub struct UnknownDeviceMode(pub String);

impl FromStr for DeviceMode {
    type Err = UnknownDeviceMode;

    /// Parses a `mode` value exactly as the Go version spells it; an empty string is
    /// [`DeviceMode::Unspecified`].
    ///
    /// ```
    /// use posture_core::DeviceMode;
    /// assert_eq!("computer".parse(), Ok(DeviceMode::Computer));
    /// assert_eq!("".parse(), Ok(DeviceMode::Unspecified));
    /// assert!("laptop".parse::<DeviceMode>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" => Ok(Self::Unspecified),
            "computer" => Ok(Self::Computer),
            "mobiledevice" => Ok(Self::MobileDevice),
            "auto" => Ok(Self::Auto),
            other => Err(UnknownDeviceMode(other.to_owned())),
        }
    }
}

/// Which step-ca webhook call the request came from.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum WebhookKind {
    /// An ENRICHING call, made before the certificate template renders. Its data reaches the
    /// template as `.Webhooks.<name>`.
    #[default]
    Enriching,
    /// An AUTHORIZING call, made just before signing. step-ca ignores its data.
    Authorizing,
}

impl WebhookKind {
    /// `"enriching"` or `"authorizing"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Enriching => "enriching",
            Self::Authorizing => "authorizing",
        }
    }
}

impl fmt::Display for WebhookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a provider is asked: the attested identifier and the context of the request.
///
/// ```
/// use posture_core::{DeviceMode, LookupRequest, WebhookKind};
/// let request = LookupRequest::new("C02XL0GJJG5J")
///     .with_mode(DeviceMode::Computer)
///     .with_kind(WebhookKind::Authorizing)
///     .with_provisioner("acme-da");
/// assert_eq!(request.identifier(), "C02XL0GJJG5J");
/// assert_eq!(request.provisioner(), Some("acme-da"));
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct LookupRequest {
    identifier: String,
    mode: DeviceMode,
    provisioner: Option<String>,
    kind: WebhookKind,
}

impl LookupRequest {
    /// A request for `identifier` (step-ca's `attestationData.permanentIdentifier`), with no
    /// mode, no provisioner and the ENRICHING kind.
    pub fn new(identifier: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            mode: DeviceMode::Unspecified,
            provisioner: None,
            kind: WebhookKind::Enriching,
        }
    }

    /// Sets the device mode.
    #[must_use]
    pub fn with_mode(mut self, mode: DeviceMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the provisioner name (sent by step-ca releases after v0.30.2).
    #[must_use]
    pub fn with_provisioner(mut self, provisioner: impl Into<String>) -> Self {
        self.provisioner = Some(provisioner.into());
        self
    }

    /// Sets the webhook kind.
    #[must_use]
    pub fn with_kind(mut self, kind: WebhookKind) -> Self {
        self.kind = kind;
        self
    }

    /// The permanent identifier step-ca attested, exactly as it sent it (case-sensitive, not
    /// normalised).
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The device mode from the webhook URL.
    pub fn mode(&self) -> DeviceMode {
        self.mode
    }

    /// The provisioner name, when step-ca sent one.
    pub fn provisioner(&self) -> Option<&str> {
        self.provisioner.as_deref()
    }

    /// The webhook kind.
    pub fn kind(&self) -> WebhookKind {
        self.kind
    }
}
