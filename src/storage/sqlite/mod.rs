//! The SQLite store: the only code in herald that names rusqlite.
//!
//! [`writer`] owns the one write connection on a thread of its own;
//! [`reads`] answers the read commands on read-only connections; [`schema`]
//! holds the migrations; [`writes`] the SQL behind each writer command.

pub(crate) mod lock;
pub(crate) mod prune;
pub(crate) mod reads;
pub(crate) mod schema;
pub(crate) mod writer;
mod writes;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::storage::StorageError;

/// Opens a read-only connection for the read commands and tests.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, StorageError> {
    if !path.exists() {
        return Err(StorageError::Missing {
            path: path.to_path_buf(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StorageError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Copies the database at `from` into a new file `to` in one consistent
/// read (`VACUUM INTO`), without writing to `from`: what `once --dry-run`
/// rounds run against.
pub(crate) fn snapshot(from: &Path, to: &Path) -> Result<(), StorageError> {
    let conn = open_read_only(from)?;
    conn.execute("VACUUM INTO ?1", [to.to_string_lossy()])?;
    Ok(())
}
