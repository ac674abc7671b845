//! Where the variables come from and how a bad one is reported: the process environment over
//! `.env.local`, blank values counted as unset, and `ConfigError`, one line naming the variable.

use std::collections::HashMap;

/// The development file (`.env.local`, as in the Next.js integration); real environment variables win over it.
pub const ENV_FILE: &str = ".env.local";

/// One bad variable: `VARIABLE: what is wrong`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

pub(super) fn bad(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

/// A looked-up value, trimmed; blank counts as unset so `VAR=` in a file means the default.
pub(super) fn non_blank(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The variables of an env file; a missing file is an empty one.
pub(super) fn read_env_file(path: &str) -> Result<HashMap<String, String>, ConfigError> {
    match dotenvy::from_filename_iter(path) {
        Ok(iter) => iter
            .collect::<Result<HashMap<_, _>, _>>()
            .map_err(|e| bad(ENV_FILE, format!("cannot be read: {e}"))),
        Err(e) if e.not_found() => Ok(HashMap::new()),
        Err(e) => Err(bad(ENV_FILE, format!("cannot be read: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::testing::{parse, JWT};
    use crate::server::config::{Config, DatabaseUrl};

    #[test]
    fn the_example_env_file_reads_and_gives_a_valid_configuration_once_a_secret_is_set() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example");
        let mut vars = read_env_file(path).expect(".env.example is a readable env file");
        assert_eq!(vars["MAIL_FROM"], "Billing <billing@localhost>");
        vars.insert("AUTH_JWT_SECRET".into(), JWT.into());
        Config::from_lookup(|k| vars.get(k).cloned()).expect("a valid configuration");
    }

    #[test]
    fn blank_values_count_as_unset() {
        let c = parse(&[("STRIPE_SECRET_KEY", "  "), ("DATABASE_URL", "")]).unwrap();
        assert!(c.stripe_secret_key.is_none());
        assert!(matches!(c.database, DatabaseUrl::Sqlite(_)));
    }
}
