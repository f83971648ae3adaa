posture_settings::spelled_enum! {
    /// The format of a device inventory file, as the Go version's `FILE_TYPE` names it:
    /// `json` or `csv`, exactly (lowercase).
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
        Json = "json",
        /// A header line starting with `Identifier`, then one device per record.
        Csv = "csv",
    }
    /// The file format was not `json` or `csv`.
    pub struct UnknownFileFormat("device file type");
    parse: exact
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
