//! What several test modules declare alike: the ACME provider's settings where they agree, and
//! one spelled enum. A module that needs a setting declared otherwise keeps its own.

use posture_settings::Setting;

pub(crate) const URL: Setting = Setting::url("ACME_URL", "the tenant URL").required();
pub(crate) const TOKEN: Setting = Setting::secret("ACME_TOKEN", "ACME_TOKEN_FILE", "the API token");
pub(crate) const WORKERS: Setting =
    Setting::number("ACME_WORKERS", 4, 1, 8, "connections", "parallel requests");
pub(crate) const ENRICH: Setting = Setting::flag("ACME_ENRICH", true, "return enrichment data");
pub(crate) const STRICT: Setting = Setting::flag("ACME_STRICT", false, "refuse unknown devices");
pub(crate) const API: Setting =
    Setting::choice("ACME_API", &["auto", "classic"], Some("auto"), "which API");
pub(crate) const FORMAT: Setting =
    Setting::choice("ACME_FORMAT", &["json", "csv"], None, "json or csv");
pub(crate) const GROUPS: Setting = Setting::list("ACME_GROUPS", "groups a device must be in");

posture_settings::spelled_enum! {
    /// A compliance state: one spelling in mixed case, to show `any_case` keeps it.
    #[derive(Clone, Copy, Debug, Eq, PartialEq)]
    pub(crate) enum State {
        /// Compliant.
        Compliant = "compliant",
        /// In its grace period.
        InGracePeriod = "inGracePeriod",
        /// Not compliant.
        Noncompliant = "noncompliant",
    }
    /// Not a state.
    pub(crate) struct UnknownState("compliance state");
    parse: any_case
}
