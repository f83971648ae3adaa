//! Synthetic device inventories of any size, in the file provider's JSON and CSV formats.
//!
//! Device `n` has the identifier `C02` followed by `n` in nine digits and four fields of
//! enrichment data, the same shape as the `posture-file` benchmarks: about 170 bytes a
//! device in JSON and 75 in CSV.

use std::fmt;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The sizes BENCHMARKS.md reports.
pub(crate) const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

/// A device file format, as `FILE_TYPE` spells it.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd, clap::ValueEnum)]
pub(crate) enum Format {
    /// `{"devices":[{"identifier":…,"data":{…}}]}`.
    Json,
    /// A header row, then `Identifier,user,email,department,groups` rows.
    Csv,
}

impl Format {
    /// `json` or `csv`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identifier of device `n`.
pub(crate) fn identifier(n: usize) -> String {
    format!("C02{n:09}")
}

/// `count` identifiers spread evenly over a list of `devices`, the ones a run asks about.
pub(crate) fn sample(devices: usize, count: usize) -> Vec<String> {
    let count = count.min(devices).max(1);
    (0..count)
        .map(|i| identifier(i * devices / count))
        .collect()
}

/// Where the file of `devices` devices in `format` goes in `dir`.
pub(crate) fn path(dir: &Path, devices: usize, format: Format) -> PathBuf {
    dir.join(format!("devices-{devices}.{format}"))
}

/// Writes a file of `devices` devices and returns its path.
pub(crate) fn write(dir: &Path, devices: usize, format: Format) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = path(dir, devices, format);
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    match format {
        Format::Json => write_json(&mut out, devices),
        Format::Csv => write_csv(&mut out, devices),
    }
    .and_then(|()| out.flush())
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn write_json(out: &mut impl Write, devices: usize) -> std::io::Result<()> {
    out.write_all(b"{\"devices\":[\n")?;
    for n in 0..devices {
        if n > 0 {
            out.write_all(b",\n")?;
        }
        write!(
            out,
            r#"{{"identifier":"{id}","data":{{"user":"user{n}","email":"user{n}@example.com","department":"Engineering","groups":["engineering","vpn-users"]}}}}"#,
            id = identifier(n)
        )?;
    }
    out.write_all(b"\n]}\n")
}

fn write_csv(out: &mut impl Write, devices: usize) -> std::io::Result<()> {
    out.write_all(b"Identifier,user,email,department,groups\n")?;
    for n in 0..devices {
        writeln!(
            out,
            "{id},user{n},user{n}@example.com,Engineering,engineering;vpn-users",
            id = identifier(n)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use posture_file::{DeviceList, FileFormat};

    use super::*;

    #[test]
    fn generated_files_load_with_the_real_loader_and_list_the_sample() {
        let dir =
            std::env::temp_dir().join(format!("step-posture-load-test-{}", std::process::id()));
        for (format, file_format) in [
            (Format::Json, FileFormat::Json),
            (Format::Csv, FileFormat::Csv),
        ] {
            let path = write(&dir, 50, format).unwrap();
            let list = DeviceList::load(&path, file_format).unwrap();
            assert_eq!(list.len(), 50);
            for id in sample(50, 7) {
                let device = list.get(&id).unwrap();
                assert!(device.enrichment().unwrap().to_value()["email"].is_string());
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sample_is_spread_and_bounded() {
        assert_eq!(
            sample(1_000_000, 4),
            [
                "C02000000000",
                "C02000250000",
                "C02000500000",
                "C02000750000"
            ]
        );
        assert_eq!(sample(3, 10).len(), 3);
    }
}
