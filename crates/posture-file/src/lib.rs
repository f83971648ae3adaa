//! A [`PostureProvider`](posture_core::PostureProvider) backed by a device inventory file,
//! in JSON or CSV.
//!
//! The file lists the devices that may get a certificate, each with optional enrichment
//! data for step-ca's certificate templates. The formats are those of the Go
//! `step-posture-connector`, so a file written for it works unchanged:
//!
//! - **JSON**: `{"devices":[{"identifier":"C02XL0GJJG5J","data":{"user":"alice"}}]}`. `data`
//!   is any JSON object, or absent or `null` for no data; its bytes are handed to step-ca
//!   exactly as written. Other keys are ignored.
//! - **CSV**: a header line whose first column is `Identifier`; every other column becomes
//!   a string field of the device's data, keyed by its header.
//!
//! Identifiers are matched exactly and case-sensitively, in constant time. A listed device
//! is allowed with its data; any other is denied with
//! [`DenyCode::DEVICE_NOT_FOUND`](posture_core::DenyCode::DEVICE_NOT_FOUND). The request's
//! device mode is ignored.
//!
//! Loading is strict where the Go version was silent: a duplicate, empty or padded
//! identifier, a ragged CSV row, a bad header, a `data` that is not an object, invalid
//! JSON, or a file that lists no devices at all fails the load with a [`LoadError`] naming
//! the file and the line. [`FileProvider::reload`] swaps in a new list only when the whole
//! file loads, so a broken edit never takes the service down or empties the inventory.
//!
//! ```
//! use posture_core::{DenyCode, LookupRequest, PostureProvider};
//! use posture_file::{DeviceList, FileFormat, FileProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let csv = "Identifier,user,department\nC02XL0GJJG5J,alice,Engineering\n";
//! let list = DeviceList::parse(csv.as_bytes(), FileFormat::Csv, "devices.csv")?;
//! let provider = FileProvider::from_list(list);
//!
//! let allowed = provider.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
//! let data = allowed.enrichment().map(|data| data.to_value());
//! assert_eq!(data, Some(serde_json::json!({"user": "alice", "department": "Engineering"})));
//!
//! let denied = provider.lookup(&LookupRequest::new("C02UNKNOWN00")).await?;
//! assert_eq!(denied.deny_code(), Some(&DenyCode::DEVICE_NOT_FOUND));
//! # Ok(())
//! # }
//! ```
//!
//! # Memory
//!
//! A loaded list keeps the identifiers in one buffer and the enrichment data, serialised,
//! in another, and indexes them with 15 to 20 bytes per device (an 8-byte entry and a hash
//! table slot), so a million devices cost little more than their data. For JSON each
//! object's values are kept and its shape (keys, punctuation, white space) once for all
//! the devices that share it; for CSV the values, and the header keys once. A lookup puts
//! the object together in a fresh buffer, for JSON byte for byte as the file has it.
//!
//! [`DeviceList::load`] parses the file as it reads it, so loading needs hardly more
//! memory than the list it builds. Each buffer holds at most 4 GiB
//! ([`LoadError::TooMuchData`]).

mod error;
mod format;
mod kind;
mod list;
mod parse_csv;
mod parse_json;
mod provider;
mod split_json;

pub use error::LoadError;
pub use format::{FileFormat, UnknownFileFormat};
pub use kind::{FileConfig, KIND, SETTINGS};
pub use list::{DeviceList, DeviceRecord, LoadOptions};
pub use posture_core::FileVersion;
pub use provider::FileProvider;

/// Compiles the README's example.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
