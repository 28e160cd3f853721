//! The device database's one checkpointer: copies committed WAL frames back into the main
//! file on a thread of its own.
//!
//! Every connection opens with `wal_autocheckpoint = 0`, so no writer ever checkpoints inside
//! its commit: a gate's scan commit and the sync's page commit pay only for their own WAL
//! frames and fsync. This thread runs a `PASSIVE` checkpoint (it never blocks readers or
//! writers) every [`INTERVAL`]. Once every frame is copied, the next writer starts the WAL over
//! from the beginning and SQLite trims the file to `journal_size_limit`.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
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
            .spawn(move || run(&conn, &rx))
            .map_err(|e| super::ReplicaError::Corrupt {
                table: "checkpointer",
                detail: format!("cannot start the checkpoint thread: {e}"),
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
            path: path.to_owned(),
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
