//! Which endpoint serves each device family, and remembering the one that answered.
//!
//! Jamf removes endpoints a year or more after deprecating them, and answers a removed route
//! with 404, the status an unknown serial also gets from the Classic API. So each family has
//! an ordered list of candidate endpoints, the first one that exists is remembered, and a 404
//! that means "no such route" is told apart from "no such device" before anything is denied.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::JamfApi;

/// The two inventories Jamf keeps.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub(crate) enum Kind {
    Computer,
    MobileDevice,
}

impl Kind {
    pub(crate) const ALL: [Self; 2] = [Self::Computer, Self::MobileDevice];

    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Computer => "computer",
            Self::MobileDevice => "mobile device",
        }
    }

    pub(crate) fn plural(self) -> &'static str {
        match self {
            Self::Computer => "computers",
            Self::MobileDevice => "mobile devices",
        }
    }

    /// The Jamf Pro privilege that reads this inventory, in both APIs.
    pub(crate) fn privilege(self) -> &'static str {
        match self {
            Self::Computer => "Read Computers",
            Self::MobileDevice => "Read Mobile Devices",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Computer => 0,
            Self::MobileDevice => 1,
        }
    }
}

/// One inventory endpoint.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Endpoint {
    /// `GET /api/v4/computers-inventory` (Jamf Pro 11.30 and later).
    ComputersV4,
    /// `GET /api/v3/computers-inventory`, deprecated in 11.30.
    ComputersV3,
    /// `GET /api/v1/computers-inventory`, deprecated since mid-2025.
    ComputersV1,
    /// `GET /api/v2/mobile-devices/detail`.
    MobileDevicesV2,
    /// `GET /JSSResource/computers/serialnumber/{sn}/subset/…`, deprecated in 11.15.
    ClassicComputers,
    /// `GET /JSSResource/mobiledevices/serialnumber/{sn}/subset/…`.
    ClassicMobileDevices,
}

impl Endpoint {
    /// The path segments after the base URL (Classic: the collection only).
    pub(crate) fn path(self) -> &'static [&'static str] {
        match self {
            Self::ComputersV4 => &["api", "v4", "computers-inventory"],
            Self::ComputersV3 => &["api", "v3", "computers-inventory"],
            Self::ComputersV1 => &["api", "v1", "computers-inventory"],
            Self::MobileDevicesV2 => &["api", "v2", "mobile-devices", "detail"],
            Self::ClassicComputers => &["JSSResource", "computers"],
            Self::ClassicMobileDevices => &["JSSResource", "mobiledevices"],
        }
    }

    pub(crate) fn is_classic(self) -> bool {
        matches!(self, Self::ClassicComputers | Self::ClassicMobileDevices)
    }

    /// The record subsets a Classic lookup asks for: only what the provider reads.
    pub(crate) fn classic_subset(self) -> &'static str {
        match self {
            Self::ClassicMobileDevices => "General&Location&MobileDeviceGroups",
            _ => "General&Location&GroupsAccounts",
        }
    }

    /// How operators and logs name it: `GET /api/v4/computers-inventory (Jamf Pro API v4)`.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::ComputersV4 => "GET /api/v4/computers-inventory (Jamf Pro API v4)",
            Self::ComputersV3 => {
                "GET /api/v3/computers-inventory (Jamf Pro API v3, deprecated by Jamf in 11.30)"
            }
            Self::ComputersV1 => {
                "GET /api/v1/computers-inventory (Jamf Pro API v1, deprecated by Jamf)"
            }
            Self::MobileDevicesV2 => "GET /api/v2/mobile-devices/detail (Jamf Pro API v2)",
            Self::ClassicComputers => {
                "GET /JSSResource/computers/serialnumber/{serial}/subset/General&Location&GroupsAccounts \
                 (Classic API, deprecated by Jamf in 11.15)"
            }
            Self::ClassicMobileDevices => {
                "GET /JSSResource/mobiledevices/serialnumber/{serial}/subset/General&Location&MobileDeviceGroups \
                 (Classic API)"
            }
        }
    }

    /// The path alone, for short messages.
    pub(crate) fn route(self) -> String {
        format!("/{}", self.path().join("/"))
    }
}

/// The endpoints to try for a family, best first.
pub(crate) fn candidates(api: JamfApi, kind: Kind) -> &'static [Endpoint] {
    use Endpoint::*;
    match (api, kind) {
        (JamfApi::Classic, Kind::Computer) => &[ClassicComputers],
        (JamfApi::Classic, Kind::MobileDevice) => &[ClassicMobileDevices],
        (_, Kind::Computer) => &[ComputersV4, ComputersV3, ComputersV1],
        (JamfApi::Pro, Kind::MobileDevice) => &[MobileDevicesV2],
        (_, Kind::MobileDevice) => &[MobileDevicesV2, ClassicMobileDevices],
    }
}

/// What to set when no candidate exists.
pub(crate) fn advice(api: JamfApi, kind: Kind) -> &'static str {
    match (api, kind) {
        (JamfApi::Classic, _) => {
            "this Jamf Pro no longer serves the Classic endpoints: remove JAMF_API (or set \
             JAMF_API=auto) to use the Jamf Pro API"
        }
        (_, Kind::Computer) => {
            "check JAMF_BASE_URL; a Jamf Pro too old for the Jamf Pro API inventory needs \
             JAMF_API=classic"
        }
        (_, Kind::MobileDevice) => {
            "check JAMF_BASE_URL; a Jamf Pro without the Jamf Pro API mobile-device inventory \
             needs JAMF_API=auto or JAMF_API=classic"
        }
    }
}

const UNKNOWN: usize = usize::MAX;

/// The endpoint each family uses, once one has answered.
#[derive(Debug)]
pub(crate) struct RouteMemo {
    api: JamfApi,
    chosen: [AtomicUsize; 2],
}

impl RouteMemo {
    pub(crate) fn new(api: JamfApi) -> Self {
        Self {
            api,
            chosen: [AtomicUsize::new(UNKNOWN), AtomicUsize::new(UNKNOWN)],
        }
    }

    pub(crate) fn candidates(&self, kind: Kind) -> &'static [Endpoint] {
        candidates(self.api, kind)
    }

    /// The endpoint that last answered for `kind`, if any.
    pub(crate) fn chosen(&self, kind: Kind) -> Option<Endpoint> {
        let index = self.chosen[kind.index()].load(Ordering::Relaxed);
        self.candidates(kind).get(index).copied()
    }

    /// Remembers `endpoint` for `kind`; says whether that changed anything.
    pub(crate) fn choose(&self, kind: Kind, endpoint: Endpoint) -> bool {
        let Some(index) = self.candidates(kind).iter().position(|e| *e == endpoint) else {
            return false;
        };
        self.chosen[kind.index()].swap(index, Ordering::Relaxed) != index
    }

    /// Forgets `endpoint` for `kind` (it answered 404), unless another was chosen meanwhile.
    pub(crate) fn forget(&self, kind: Kind, endpoint: Endpoint) {
        if let Some(index) = self.candidates(kind).iter().position(|e| *e == endpoint) {
            let _ = self.chosen[kind.index()].compare_exchange(
                index,
                UNKNOWN,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// The order to try endpoints in: the remembered one first, then every candidate.
    pub(crate) fn order(&self, kind: Kind) -> Vec<Endpoint> {
        let mut order: Vec<Endpoint> = self.chosen(kind).into_iter().collect();
        order.extend(
            self.candidates(kind)
                .iter()
                .filter(|e| Some(**e) != self.chosen(kind)),
        );
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_never_chooses_classic_computers() {
        for kind in Kind::ALL {
            for api in [JamfApi::Auto, JamfApi::Pro] {
                assert!(
                    !candidates(api, kind).contains(&Endpoint::ClassicComputers),
                    "{api} {kind:?}"
                );
            }
        }
        assert_eq!(
            candidates(JamfApi::Auto, Kind::MobileDevice),
            [Endpoint::MobileDevicesV2, Endpoint::ClassicMobileDevices]
        );
        assert_eq!(
            candidates(JamfApi::Pro, Kind::MobileDevice),
            [Endpoint::MobileDevicesV2]
        );
    }

    #[test]
    fn remembers_and_forgets() {
        let memo = RouteMemo::new(JamfApi::Auto);
        assert_eq!(memo.chosen(Kind::Computer), None);
        assert_eq!(
            memo.order(Kind::Computer),
            [
                Endpoint::ComputersV4,
                Endpoint::ComputersV3,
                Endpoint::ComputersV1
            ]
        );
        assert!(memo.choose(Kind::Computer, Endpoint::ComputersV3));
        assert!(!memo.choose(Kind::Computer, Endpoint::ComputersV3));
        assert_eq!(memo.chosen(Kind::Computer), Some(Endpoint::ComputersV3));
        assert_eq!(memo.chosen(Kind::MobileDevice), None);
        assert_eq!(
            memo.order(Kind::Computer),
            [
                Endpoint::ComputersV3,
                Endpoint::ComputersV4,
                Endpoint::ComputersV1
            ]
        );
        memo.forget(Kind::Computer, Endpoint::ComputersV4);
        assert_eq!(memo.chosen(Kind::Computer), Some(Endpoint::ComputersV3));
        memo.forget(Kind::Computer, Endpoint::ComputersV3);
        assert_eq!(memo.chosen(Kind::Computer), None);
        assert!(!memo.choose(Kind::Computer, Endpoint::ClassicComputers));
    }

    #[test]
    fn classic_subsets_name_what_is_read() {
        assert_eq!(
            Endpoint::ClassicComputers.classic_subset(),
            "General&Location&GroupsAccounts"
        );
        assert_eq!(
            Endpoint::ClassicMobileDevices.classic_subset(),
            "General&Location&MobileDeviceGroups"
        );
        assert_eq!(Endpoint::ComputersV4.route(), "/api/v4/computers-inventory");
    }
}
