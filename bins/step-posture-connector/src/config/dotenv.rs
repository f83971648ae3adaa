//! The `.env` file, read beside the process environment.

use std::collections::HashMap;
use std::path::Path;

use super::{ConfigError, ConfigErrors};

/// The variables of the process environment and of `.env` in `dir`, the environment
/// winning. Nothing is written to the process environment.
pub fn gather_environment(dir: &Path) -> Result<HashMap<String, String>, ConfigErrors> {
    let mut vars = HashMap::new();
    let dotenv = dir.join(".env");
    match dotenvy::from_path_iter(&dotenv) {
        Ok(iter) => {
            for item in iter {
                match item {
                    Ok((key, value)) => {
                        vars.insert(key, value);
                    }
                    Err(err) => {
                        return Err(ConfigErrors(vec![ConfigError::missing(
                            dotenv.display().to_string(),
                            format!("a readable KEY=value file ({err})"),
                        )]));
                    }
                }
            }
        }
        Err(dotenvy::Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            return Err(ConfigErrors(vec![ConfigError::missing(
                dotenv.display().to_string(),
                format!("a readable KEY=value file ({err})"),
            )]));
        }
    }
    for (key, value) in std::env::vars_os() {
        if let (Ok(key), Ok(value)) = (key.into_string(), value.into_string()) {
            vars.insert(key, value);
        }
    }
    Ok(vars)
}
