//! Where the database is: a SQLite file (the embedded default) or a
//! PostgreSQL server shared by several herald instances.
//!
//! `[daemon] database` takes a path (or `sqlite:PATH`), a `postgres://` /
//! `postgresql://` URL, or a libpq `key=value` string. The password never
//! leaves this module in text: [`Location`]'s `Display` and `Debug` show the
//! server without it, and it is looked up (in the string itself,
//! `database_password_file`, `PGPASSWORD`, then `~/.pgpass`) only when a
//! connection is made.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where herald keeps what it fetches.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// One SQLite file on this machine.
    Sqlite(PathBuf),
    /// A PostgreSQL database, possibly shared by several instances.
    Postgres(PostgresTarget),
}

/// A PostgreSQL server and database, with where its password comes from.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresTarget {
    /// The string as configured (it may hold a password: never shown).
    conninfo: String,
    /// `[daemon] database_password_file`.
    password_file: Option<PathBuf>,
}

/// Why `[daemon] database` is not a usable location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// libpq syntax the driver refuses.
    #[error("not a PostgreSQL connection string: {0}")]
    BadConninfo(String),
    /// An empty value.
    #[error("is empty: give a file path or a postgres:// URL")]
    Empty,
}

impl Location {
    /// Reads `[daemon] database`: relative SQLite paths are taken from
    /// `folder` (the config file's), so every command finds the same file.
    ///
    /// # Errors
    /// A PostgreSQL string the driver cannot parse, or an empty value.
    pub fn parse(
        text: &str,
        folder: &Path,
        password_file: Option<PathBuf>,
    ) -> Result<Location, LocationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(LocationError::Empty);
        }
        if looks_like_postgres(text) {
            text.parse::<tokio_postgres::Config>()
                .map_err(|e| LocationError::BadConninfo(without_secrets(&e.to_string())))?;
            return Ok(Location::Postgres(PostgresTarget {
                conninfo: text.to_owned(),
                password_file: password_file.map(
                    |p| {
                        if p.is_relative() { folder.join(p) } else { p }
                    },
                ),
            }));
        }
        let path = PathBuf::from(text.strip_prefix("sqlite:").unwrap_or(text));
        Ok(Location::Sqlite(if path.is_relative() {
            folder.join(path)
        } else {
            path
        }))
    }

    /// The SQLite file, when that is the store.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }

    /// Whether several instances may share it (leases, instance names).
    pub fn is_shared(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }

    /// `sqlite` or `postgresql`, for `check` and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Location::Sqlite(_) => "sqlite",
            Location::Postgres(_) => "postgresql",
        }
    }
}

/// A URL scheme or a libpq `key=value` pair marks a PostgreSQL string.
fn looks_like_postgres(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("postgres://")
        || lower.starts_with("postgresql://")
        || ["host=", "dbname=", "user=", "port=", "hostaddr="]
            .iter()
            .any(|key| lower.starts_with(key) || lower.contains(&format!(" {key}")))
}

/// Blanks `password=…` and `:password@` out of `text` (an error message
/// may quote the string).
fn without_secrets(text: &str) -> String {
    let mut out = text.to_owned();
    if let Some(at) = out.to_ascii_lowercase().find("password=") {
        let end = out[at..]
            .find(char::is_whitespace)
            .map_or(out.len(), |e| at + e);
        out.replace_range(at..end, "password=[REDACTED]");
    }
    if let (Some(scheme), Some(at)) = (out.find("://"), out.find('@'))
        && let Some(colon) = out[scheme + 3..at].find(':')
    {
        out.replace_range(scheme + 3 + colon + 1..at, "[REDACTED]");
    }
    out
}

impl PostgresTarget {
    /// The driver's config, with the password filled in from the first
    /// place that has one: the string, `database_password_file`,
    /// `PGPASSWORD`, then `PGPASSFILE` or `~/.pgpass`.
    ///
    /// # Errors
    /// The password file cannot be read.
    pub(crate) fn driver_config(&self) -> Result<tokio_postgres::Config, std::io::Error> {
        let mut config: tokio_postgres::Config = self
            .conninfo
            .parse()
            .map_err(|e: tokio_postgres::Error| std::io::Error::other(e.to_string()))?;
        if config.get_password().is_none() {
            if let Some(file) = &self.password_file {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("database_password_file {}: {e}", file.display()),
                    )
                })?;
                config.password(text.trim_end_matches(['\n', '\r']));
            } else if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password(password);
            } else if let Some(password) = pgpass_password(&config) {
                config.password(password);
            }
        }
        if config.get_application_name().is_none() {
            config.application_name("herald");
        }
        Ok(config)
    }

    /// The server without the password: `postgresql://user@host:port/db`.
    fn shown(&self) -> String {
        let Ok(config) = self.conninfo.parse::<tokio_postgres::Config>() else {
            return "postgresql://[unparsable]".to_owned();
        };
        let host = config.get_hosts().first().map_or_else(
            || "localhost".to_owned(),
            |host| match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            },
        );
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config
            .get_user()
            .map_or_else(String::new, |u| format!("{u}@"));
        let db = config.get_dbname().unwrap_or("");
        format!("postgresql://{user}{host}:{port}/{db}")
    }
}

/// The password `~/.pgpass` (or `PGPASSFILE`) holds for this server, as
/// libpq finds it: the first `host:port:database:user:password` line
/// matching (`*` matches anything; `\:` and `\\` escape).
fn pgpass_password(config: &tokio_postgres::Config) -> Option<String> {
    let file = std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
        Some(tokio_postgres::config::Host::Unix(_)) | None => "localhost".to_owned(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or("").to_owned();
    let db = config.get_dbname().unwrap_or(&user).to_owned();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(pgpass_fields)
        .find(|fields| {
            fields.len() == 5
                && [&host, &port, &db, &user]
                    .iter()
                    .zip(fields)
                    .all(|(want, have)| have == "*" || have == *want)
        })
        .map(|mut fields| fields.remove(4))
}

/// One `.pgpass` line split on unescaped colons.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(target) => f.write_str(&target.shown()),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Location {
    type Err = LocationError;

    /// As [`Location::parse`], relative paths from the working directory.
    fn from_str(text: &str) -> Result<Location, LocationError> {
        Location::parse(text, Path::new(""), None)
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Location {
        Location::Sqlite(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_urls_and_key_value_strings_are_told_apart() {
        let folder = Path::new("/etc/herald");
        assert_eq!(
            Location::parse("herald.db", folder, None).expect("path"),
            Location::Sqlite(PathBuf::from("/etc/herald/herald.db"))
        );
        assert_eq!(
            Location::parse("sqlite:/var/lib/h.db", folder, None).expect("sqlite:"),
            Location::Sqlite(PathBuf::from("/var/lib/h.db"))
        );
        for pg in [
            "postgres://herald@db.internal/herald",
            "postgresql://herald:s3cret@db.internal:6543/herald",
            "host=/run/postgresql dbname=herald user=herald",
        ] {
            let location = Location::parse(pg, folder, None).expect(pg);
            assert!(location.is_shared(), "{pg}");
            assert!(!location.to_string().contains("s3cret"), "{location}");
            assert!(!format!("{location:?}").contains("s3cret"));
        }
        assert_eq!(
            Location::parse(
                "postgresql://herald:s3cret@db.internal:6543/herald",
                folder,
                None
            )
            .expect("url")
            .to_string(),
            "postgresql://herald@db.internal:6543/herald"
        );
        assert!(Location::parse("  ", folder, None).is_err());
    }

    #[test]
    fn a_bad_string_is_refused_without_its_password() {
        let error = Location::parse(
            "host=db password=s3cret port=notaport",
            Path::new("/"),
            None,
        )
        .expect_err("bad port");
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn pgpass_lines_split_on_unescaped_colons() {
        assert_eq!(
            pgpass_fields(r"db.internal:5432:*:herald:pa\:ss\\word"),
            vec!["db.internal", "5432", "*", "herald", r"pa:ss\word"]
        );
    }
}
