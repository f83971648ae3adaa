//! Loads a device file and reports the device count and load time; used to measure peak
//! memory with `/usr/bin/time -v`.
//!
//! ```text
//! cargo run --release -p posture-file --example load_file -- PATH json|csv [--generate N]
//! ```
//!
//! With `--generate N`, it first writes a synthetic inventory of N devices to PATH, then
//! exits; run it again without the flag to measure the load alone.

use std::error::Error;
use std::io::Write;
use std::time::Instant;

use posture_file::{DeviceList, FileFormat};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, format) = match args.as_slice() {
        [path, format, ..] => (path.as_str(), format.parse::<FileFormat>()?),
        _ => return Err("usage: load_file PATH json|csv [--generate N]".into()),
    };
    let mut out = std::io::stdout().lock();

    if let [_, _, flag, devices] = args.as_slice() {
        if flag != "--generate" {
            return Err(format!("unknown option {flag:?}").into());
        }
        let devices: usize = devices.parse()?;
        std::fs::write(path, generate(format, devices))?;
        writeln!(out, "wrote {devices} devices to {path}")?;
        return Ok(());
    }

    let started = Instant::now();
    let list = DeviceList::load(path, format)?;
    let elapsed = started.elapsed();
    let probe = list
        .iter()
        .last()
        .map(|device| device.identifier().to_owned());
    let found = probe
        .as_deref()
        .is_some_and(|id| list.decide(id).is_allowed());
    writeln!(
        out,
        "loaded {} devices from {path} in {:.3} s (last device found: {found})",
        list.len(),
        elapsed.as_secs_f64()
    )?;
    // The file's bytes are freed by now, so this is what the list itself keeps.
    if let Some(rss) = resident_kib() {
        writeln!(out, "resident after loading: {} MiB", rss / 1024)?;
    }
    Ok(())
}

/// The process's resident set size in KiB, on Linux.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A realistic inventory: 12-character serials and four fields of data each.
fn generate(format: FileFormat, devices: usize) -> Vec<u8> {
    let mut out = String::new();
    if format == FileFormat::Csv {
        out.push_str("Identifier,user,email,department,groups\n");
        for n in 0..devices {
            out.push_str(&format!(
                "C02{n:09},user{n},user{n}@example.com,Engineering,engineering;vpn-users\n"
            ));
        }
    } else {
        out.push_str("{\"devices\":[\n");
        for n in 0..devices {
            let separator = if n + 1 < devices { "," } else { "" };
            out.push_str(&format!(
                "{{\"identifier\":\"C02{n:09}\",\"data\":{{\"user\":\"user{n}\",\"email\":\"user{n}@example.com\",\"department\":\"Engineering\",\"groups\":[\"engineering\",\"vpn-users\"]}}}}{separator}\n"
            ));
        }
        out.push_str("]}\n");
    }
    out.into_bytes()
}
