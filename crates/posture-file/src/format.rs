use std::fmt;
use std::str::FromStr;

/// The format of a device inventory file.
///
/// ```
/// use posture_file::FileFormat;
/// assert_eq!("csv".parse(), Ok(FileFormat::Csv));
/// assert_eq!(FileFormat::Json.to_string(), "json");
/// assert!("CSV".parse::<FileFormat>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum FileFormat {
    /// `{"devices":[{"identifier":"…","data":{…}}]}`.
    Json,
    /// A header line starting with `Identifier`, then one device per record.
    Csv,
}

impl FileFormat {
    /// The name used in configuration (the Go version's `FILE_TYPE`): `"json"` or `"csv"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The file format was not `json` or `csv`.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("unknown device file type {0:?}: expected json or csv")]
pub struct UnknownFileFormat(pub String);

impl FromStr for FileFormat {
    type Err = UnknownFileFormat;

    /// Parses `json` or `csv`, exactly (lowercase), as the Go version's `FILE_TYPE` does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            other => Err(UnknownFileFormat(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        for format in [FileFormat::Json, FileFormat::Csv] {
            assert_eq!(format.to_string().parse(), Ok(format));
        }
    }

    #[test]
    fn names_the_bad_value() {
        let err = "yaml".parse::<FileFormat>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown device file type \"yaml\": expected json or csv"
        );
        for bad in ["", "JSON", " csv", "csv "] {
            assert!(bad.parse::<FileFormat>().is_err(), "{bad:?}");
        }
    }
}
