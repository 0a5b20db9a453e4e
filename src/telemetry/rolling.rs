//! The log file: always `dir/herald.log`, so `tail -F` follows it across
//! rotations; at each rotation the finished file is renamed with its period
//! (`herald.log.2026-11-29`, or `…-13` hourly) and the oldest beyond `keep`
//! are deleted. tracing-appender's own rolling writer names the *current*
//! file by date, which a `tail -F` on a fixed name cannot follow.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::Rotation;

/// A file writer that rotates by period (see the module docs).
pub(super) struct RollingFile {
    dir: PathBuf,
    name: String,
    rotation: Rotation,
    keep: usize,
    /// The open file and the period its lines belong to.
    current: Option<(File, Option<String>)>,
    clock: fn() -> DateTime<Utc>,
}

impl RollingFile {
    /// A writer for `dir/name` (opened on the first write).
    pub(super) fn new(dir: &Path, name: &str, rotation: Rotation, keep: usize) -> RollingFile {
        RollingFile {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            rotation,
            keep: keep.max(1),
            current: None,
            clock: Utc::now,
        }
    }

    /// The period a moment belongs to (`None`: never rotated).
    fn period(&self, at: DateTime<Utc>) -> Option<String> {
        match self.rotation {
            Rotation::Daily => Some(at.format("%Y-%m-%d").to_string()),
            Rotation::Hourly => Some(at.format("%Y-%m-%d-%H").to_string()),
            Rotation::Never => None,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// The open file for a line written now, rotating first when the period
    /// changed (also across restarts: an existing file last written in an
    /// earlier period is rotated before the first new line).
    fn file(&mut self) -> std::io::Result<&mut File> {
        let now_period = self.period((self.clock)());
        if self.current.is_none() {
            let path = self.path();
            let written_in = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| self.period(DateTime::<Utc>::from(modified)));
            if let Some(old) = written_in.filter(|old| Some(old) != now_period.as_ref()) {
                self.rotate(&old)?;
            }
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            self.current = Some((file, now_period.clone()));
        }
        let stale = self
            .current
            .as_ref()
            .and_then(|(_, period)| period.clone())
            .filter(|period| Some(period) != now_period.as_ref());
        if let Some(old) = stale {
            if let Some((mut file, _)) = self.current.take() {
                file.flush()?;
            }
            self.rotate(&old)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path())?;
            self.current = Some((file, now_period));
        }
        match self.current.as_mut() {
            Some((file, _)) => Ok(file),
            None => Err(std::io::Error::other("log file not open")),
        }
    }

    /// Renames the current file to `name.period` and deletes the oldest
    /// rotated files beyond `keep`.
    fn rotate(&self, period: &str) -> std::io::Result<()> {
        let mut target = self.dir.join(format!("{}.{period}", self.name));
        let mut n = 1;
        while target.exists() {
            target = self.dir.join(format!("{}.{period}.{n}", self.name));
            n += 1;
        }
        std::fs::rename(self.path(), &target)?;
        let prefix = format!("{}.", self.name);
        let mut rotated: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
            .map(|entry| entry.path())
            .collect();
        // Period names sort as time does.
        rotated.sort();
        let excess = rotated.len().saturating_sub(self.keep);
        for old in rotated.into_iter().take(excess) {
            std::fs::remove_file(old)?;
        }
        Ok(())
    }
}

impl Write for RollingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file()?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.current.as_mut() {
            Some((file, _)) => file.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    static NOW: AtomicI64 = AtomicI64::new(0);

    fn clock() -> DateTime<Utc> {
        DateTime::from_timestamp(NOW.load(Ordering::SeqCst), 0).expect("valid time")
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_current_file_keeps_its_name_and_finished_days_get_theirs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let day = |d: i64| 1_796_083_200 + d * 86_400; // 2026-12-01 00:00 UTC + d days
        let mut log = RollingFile::new(dir.path(), "herald.log", Rotation::Daily, 2);
        log.clock = clock;
        for d in 0..4 {
            NOW.store(day(d) + 3600, Ordering::SeqCst);
            writeln!(log, "line of day {d}").expect("write");
        }
        log.flush().expect("flush");
        assert_eq!(
            files(dir.path()),
            [
                "herald.log",
                "herald.log.2026-12-02",
                "herald.log.2026-12-03"
            ],
            "the current file, and the newest `keep` finished days"
        );
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("read");
        assert_eq!(read("herald.log"), "line of day 3\n");
        assert_eq!(read("herald.log.2026-12-03"), "line of day 2\n");
    }
}
