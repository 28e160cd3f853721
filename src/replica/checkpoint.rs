//! The device database's one checkpointer: copies committed WAL frames back into the main
//! file on a thread of its own.
//!
//! While a `Checkpointer` runs for a database file, every connection this process opens to it
//! has `wal_autocheckpoint = 0`, so no writer checkpoints inside its commit: a gate's scan
//! commit and the sync's page commit pay only for their own WAL frames and fsync. This thread runs a `PASSIVE` checkpoint (it never blocks readers or
//! writers) every [`INTERVAL`]. Once every frame is copied, the next writer starts the WAL over
//! from the beginning and SQLite trims the file to `journal_size_limit`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::Result;

/// How often the checkpointer copies the WAL back.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// What one checkpoint did: `(wal frames, frames copied)`, as SQLite reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckpointReport {
    pub busy: bool,
    pub wal_frames: i64,
    pub copied: i64,
}

/// Runs one checkpoint of the given mode (`PASSIVE`, `FULL`, `RESTART`, `TRUNCATE`).
pub fn checkpoint(conn: &Connection, mode: &str) -> Result<CheckpointReport> {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    Ok(conn.query_row(&sql, [], |r| {
        Ok(CheckpointReport {
            busy: r.get::<_, i64>(0)? != 0,
            wal_frames: r.get(1)?,
            copied: r.get(2)?,
        })
    })?)
}

/// Database files (canonical paths) with a running checkpointer in this process.
static RUNNING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The canonical form of a database path whose file may not exist yet.
fn canonical(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_owned());
    match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// Whether this process runs a [`Checkpointer`] for the database at `path`.
pub fn is_running_for(path: &Path) -> bool {
    let path = canonical(path);
    RUNNING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&path)
}

/// The running checkpointer. Dropping it stops the thread after a last passive checkpoint.
pub struct Checkpointer {
    stop: mpsc::SyncSender<()>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl Checkpointer {
    /// Opens its own connection to the database at `path` and starts the thread.
    pub fn spawn(path: &Path) -> Result<Self> {
        let conn = super::open(path)?;
        let (stop, rx) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("db-checkpoint".into())
            .spawn(move || {
                crate::priority::lower_this_thread();
                run(&conn, &rx)
            })
            .map_err(|e| super::ReplicaError::Corrupt {
                table: "checkpointer",
                detail: format!("cannot start the checkpoint thread: {e}"),
            })?;
        RUNNING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(canonical(path));
        Ok(Self {
            stop,
            thread: Some(thread),
            path: canonical(path),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = running.iter().position(|p| *p == self.path) {
            running.remove(i);
        }
    }
}

fn run(conn: &Connection, stop: &mpsc::Receiver<()>) {
    loop {
        let stopping = !matches!(
            stop.recv_timeout(INTERVAL),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        let started = Instant::now();
        match checkpoint(conn, "PASSIVE") {
            Ok(r) if r.copied > 0 => tracing::debug!(
                wal_frames = r.wal_frames,
                copied = r.copied,
                ms = started.elapsed().as_millis() as u64,
                "checkpoint"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checkpoint failed; will retry"),
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn autocheckpoint(path: &Path) -> i64 {
        let conn = crate::replica::open(path).unwrap();
        conn.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn commits_checkpoint_themselves_only_while_no_checkpointer_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        assert_eq!(
            autocheckpoint(&path),
            1000,
            "SQLite's default without a checkpointer"
        );
        let checkpointer = Checkpointer::spawn(&path).unwrap();
        // Also through another spelling of the same file.
        let other = dir.path().join(".").join("device.db");
        assert_eq!(autocheckpoint(&other), 0);
        drop(checkpointer);
        assert_eq!(autocheckpoint(&path), 1000);
    }

    #[test]
    fn the_checkpointer_copies_committed_frames_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let checkpointer = Checkpointer::spawn(&path).unwrap();
        let conn = crate::replica::open(&path).unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        conn.execute_batch("CREATE TABLE filler (x BLOB)").unwrap();
        for _ in 0..50 {
            conn.execute("INSERT INTO filler VALUES (randomblob(4000))", [])
                .unwrap();
        }
        // Committed, but only in the WAL: no commit checkpointed.
        assert!(size() < before + 100_000, "a commit checkpointed");
        let deadline = Instant::now() + INTERVAL * 5;
        while size() < before + 200_000 {
            assert!(Instant::now() < deadline, "WAL not copied back in time");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(checkpointer);
    }
}
