//! The JSON device-file parser on arbitrary bytes; then every record it accepted is looked
//! up, and its enrichment must be a JSON object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posture_file::FileFormat;

fuzz_target!(|data: &[u8]| {
    step_posture_fuzz::device_file(data, FileFormat::Json, "fuzz.json");
});
