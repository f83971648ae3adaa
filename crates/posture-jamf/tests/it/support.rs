//! Helpers shared by the test modules.

pub(crate) use posture_conformance::support::{
    allows_as as allowed, decide_as as decide, denial, deny_code as code, lookup_as as lookup,
};
use posture_fakes::jamf::{FakeDevice, FakeJamf};
use posture_jamf::{JamfApi, JamfConfig, JamfProvider};

pub(crate) const APIS: [JamfApi; 3] = [JamfApi::Auto, JamfApi::Classic, JamfApi::Pro];

pub(crate) async fn fake() -> FakeJamf {
    FakeJamf::start().await.unwrap()
}

/// A configuration pointing at the fake, with every default.
pub(crate) fn config(jamf: &FakeJamf) -> JamfConfig {
    let c = jamf.connection();
    JamfConfig::new(&c.base_url, c.client_id, c.client_secret).unwrap()
}

pub(crate) fn provider(
    jamf: &FakeJamf,
    api: JamfApi,
    tune: impl FnOnce(JamfConfig) -> JamfConfig,
) -> JamfProvider {
    let config = tune(config(jamf).with_api(api));
    JamfProvider::new(config).unwrap()
}

/// A Jamf with one managed Mac (`C02XL0GJJG5J`, Engineering) and one managed iPhone
/// (`DMPXK2ABCD12`, Sales), each in its family's compliance group.
pub(crate) async fn inventory() -> FakeJamf {
    let jamf = fake().await;
    jamf.add_computer(
        FakeDevice::new("C02XL0GJJG5J")
            .with_groups(["All Managed Clients", "Compliant Macs"])
            .with_department("7", "Engineering"),
    );
    jamf.add_mobile_device(
        FakeDevice::new("DMPXK2ABCD12")
            .with_groups(["All Managed iPhones", "Compliant iPhones"])
            .with_department("8", "Sales"),
    );
    jamf.add_department("7", "Engineering");
    jamf.add_department("8", "Sales");
    jamf
}
