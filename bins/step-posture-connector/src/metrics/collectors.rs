//! Collectors read when Prometheus scrapes: every provider's counters, the served
//! certificate's expiry, the device list.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use posture_core::{ProviderCounters, ReloadableList};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use crate::tls::TlsState;

/// One series of a provider counter: its labels and value.
type Series = (Vec<(&'static str, String)>, u64);

/// Exports every provider's [`ProviderCounters`] at scrape time: one family per counter
/// name, whichever providers report it, with `provider` as the first label.
#[derive(Debug)]
pub(super) struct ProviderCollector {
    pub(super) sources: Vec<(String, Arc<dyn ProviderCounters>)>,
}

impl Collector for ProviderCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        // Families in the order their names first appear.
        let mut families: Vec<(&str, &str, bool, Vec<Series>)> = Vec::new();
        for (provider, source) in &self.sources {
            for sample in source.samples() {
                let mut labels = Vec::with_capacity(sample.labels.len() + 1);
                labels.push(("provider", provider.clone()));
                labels.extend(sample.labels);
                let family = families
                    .iter_mut()
                    .find(|(name, _, gauge, _)| *name == sample.name && *gauge == sample.gauge);
                match family {
                    Some((.., series)) => series.push((labels, sample.value)),
                    None => families.push((
                        sample.name,
                        sample.help,
                        sample.gauge,
                        vec![(labels, sample.value)],
                    )),
                }
            }
        }
        for (name, help, gauge, series) in families {
            let kind = if gauge {
                MetricType::Gauge
            } else {
                MetricType::Counter
            };
            let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
            for (labels, value) in series {
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let family = metric.encode_family(&labels)?;
                if gauge {
                    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(family)?;
                } else {
                    ConstCounter::new(value).encode(family)?;
                }
            }
        }
        Ok(())
    }
}

/// Exports the served certificate's expiry at scrape time.
#[derive(Debug)]
pub(super) struct TlsCollector {
    pub(super) tls: Arc<ArcSwap<TlsState>>,
}

impl Collector for TlsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let Some(not_after) = self.tls.load().not_after else {
            return Ok(());
        };
        let seconds = not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let metric = encoder.encode_descriptor(
            "tls_certificate_expiry_timestamp_seconds",
            "When the server certificate served to new connections expires (Unix time).",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(seconds).encode(metric)
    }
}

/// Exports the device count of the file provider's current list, and how long it has been
/// out of date, at scrape time.
#[derive(Debug)]
pub(super) struct DevicesCollector {
    pub(super) file: Arc<dyn ReloadableList>,
    pub(super) stale_since: Arc<Mutex<Option<Instant>>>,
}

impl Collector for DevicesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let devices = i64::try_from(self.file.len()).unwrap_or(i64::MAX);
        let metric = encoder.encode_descriptor(
            "devices",
            "Devices in the file provider's current list.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(devices).encode(metric)?;
        // Computed now rather than stored, so the value keeps rising between polls.
        let stale = self
            .stale_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(0.0, |since| since.elapsed().as_secs_f64());
        let metric = encoder.encode_descriptor(
            "devices_stale",
            "How long the device file on disk has differed from the list served, without a successful reload; 0 when current.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        ConstGauge::new(stale).encode(metric)
    }
}
