//! What the fuzz targets share.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use posture_file::{DeviceList, FileFormat};
use step_posture_connector::handler::{App, handle};

/// An [`App`] and the runtime its handler runs on in the targets: one thread with a clock,
/// as a connection's task has; built once per target and kept for every input.
pub struct Handler {
    runtime: tokio::runtime::Runtime,
    app: Arc<App>,
}

impl Handler {
    /// `app` on a fresh current-thread runtime.
    pub fn new(app: App) -> Self {
        Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime"),
            app: Arc::new(app),
        }
    }

    /// Answers `request` with the server's handler, as a connection would, and returns the
    /// status and the whole body (empty if the body could not be read).
    pub fn answer(&self, request: Request<Full<Bytes>>) -> (StatusCode, Bytes) {
        self.runtime.block_on(async {
            let response = handle(self.app.clone(), request)
                .await
                .unwrap_or_else(|never| match never {});
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            (status, bytes)
        })
    }
}

/// Parses `data` as a device file in `format` (as the file `name`); when the parser accepts
/// it, every record it loaded must be found by its identifier and allowed, with an
/// enrichment that is a JSON object.
///
/// ```
/// use posture_file::FileFormat;
///
/// step_posture_fuzz::device_file(b"Identifier,email\nC02XL0GJJG5J,a@example.com\n", FileFormat::Csv, "fuzz.csv");
/// step_posture_fuzz::device_file(b"not a device file", FileFormat::Json, "fuzz.json");
/// ```
pub fn device_file(data: &[u8], format: FileFormat, name: &str) {
    let Ok(list) = DeviceList::parse(data, format, name) else {
        return;
    };
    assert!(!list.is_empty(), "a loaded list is never empty");
    for record in list.iter() {
        let id = record.identifier();
        assert!(!id.is_empty(), "no empty identifier is loaded");
        assert!(list.get(id).is_some(), "every listed identifier is found");
        if let Some(enrichment) = record.enrichment() {
            let value: serde_json::Value = serde_json::from_slice(enrichment.as_bytes())
                .unwrap_or_else(|err| panic!("enrichment of {id:?} is not JSON: {err}"));
            assert!(value.is_object(), "enrichment of {id:?} is an object");
        }
        assert!(list.decide(id).is_allowed(), "a listed device is allowed");
    }
}
