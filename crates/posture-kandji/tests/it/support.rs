//! Helpers shared by the test modules.

pub(crate) use posture_conformance::support::{decide, denial, deny_code as code, lookup};
use posture_fakes::kandji::{FakeKandji, FakeKandjiDevice};
use posture_kandji::{KandjiConfig, KandjiProvider};

pub(crate) async fn fake() -> FakeKandji {
    FakeKandji::start().await.unwrap()
}

/// A fake listing `devices`, in order.
pub(crate) async fn fake_with(devices: impl IntoIterator<Item = FakeKandjiDevice>) -> FakeKandji {
    let kandji = fake().await;
    for device in devices {
        kandji.add_device(device);
    }
    kandji
}

/// A configuration pointing at the fake, with every default.
pub(crate) fn config(kandji: &FakeKandji) -> KandjiConfig {
    let c = kandji.connection();
    KandjiConfig::new(&c.api_url, c.api_token).unwrap()
}

pub(crate) fn provider(
    kandji: &FakeKandji,
    tune: impl FnOnce(KandjiConfig) -> KandjiConfig,
) -> KandjiProvider {
    KandjiProvider::new(tune(config(kandji))).unwrap()
}
