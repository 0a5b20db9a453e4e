//! One writer per database, enforced: an advisory lock (`flock`) on a file
//! next to the database, taken before the database is opened for writing
//! and held until the writer stops. The file says who holds it (PID and
//! role), so a second writer can be told exactly what to do instead.
//!
//! The kernel drops the lock when the holder dies, however it dies, so a
//! stale file left by kill -9 never blocks the next start. Read-only
//! commands never take it.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::storage::{Role, StorageError};

/// Held for as long as this process writes the database.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: Flock<File>,
}

/// `herald.db` → `herald.db.lock`.
pub(crate) fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the writer lock of `database` for `role`, or says who holds it.
pub(crate) fn acquire(database: &Path, role: Role) -> Result<WriterLock, StorageError> {
    let path = lock_path(database);
    let io = |source: std::io::Error| StorageError::LockFile {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut locked) => {
            locked.set_len(0).map_err(io)?;
            locked.seek(SeekFrom::Start(0)).map_err(io)?;
            writeln!(locked, "{} {}", std::process::id(), role.as_str()).map_err(io)?;
            locked.flush().map_err(io)?;
            Ok(WriterLock { _file: locked })
        }
        Err((mut file, Errno::EWOULDBLOCK)) => {
            // The holder writes who it is right after locking; a writer that
            // started in the same instant may not have written it yet.
            let mut text = String::new();
            for _ in 0..20 {
                text.clear();
                let _ = file.seek(SeekFrom::Start(0));
                let _ = file.read_to_string(&mut text);
                if !text.trim().is_empty() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let mut words = text.split_whitespace();
            let pid = words.next().and_then(|w| w.parse().ok());
            let holder = words.next().and_then(Role::parse);
            Err(StorageError::InUse {
                path: database.to_path_buf(),
                pid,
                holder,
                wanted: role,
            })
        }
        Err((_, errno)) => Err(io(std::io::Error::from(errno))),
    }
}

/// The writer holding `database` now, as its lock file records it (PID and
/// command), or `None` when nobody holds it. Only looks: a shared lock
/// that succeeds means no writer, and is released at once.
pub(crate) fn holder(database: &Path) -> Option<(i32, Role)> {
    let mut file = File::open(lock_path(database)).ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_unlocked_on_drop) => None,
        Err((_, Errno::EWOULDBLOCK)) => {
            let mut words = text.split_whitespace();
            let pid = words.next()?.parse().ok()?;
            Some((pid, Role::parse(words.next()?)?))
        }
        Err(_) => None,
    }
}
