//! The gate's writer: commits scan rows and their outbox rows on a thread of its own, so a
//! decision never waits for the disk or for a feed transaction holding the write lock.
//!
//! The station hands each write over with a sequence number and goes on deciding; the writer
//! takes everything queued into one transaction (group commit: under load one `fsync` covers
//! several scans) and publishes the last sequence number committed. Writes are applied in the
//! order they were handed over, so an annulment or a party change always lands after the scan
//! it amends. A failing commit is retried, never dropped.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::passage::ScanId;
use crate::outbox::Queued;
use crate::replica;

/// The scan log, in the device database (created on first use).
pub const SCAN_LOG: &str = "
CREATE TABLE IF NOT EXISTS scans (
    id              INTEGER PRIMARY KEY,
    use_key         TEXT,
    credential_kind TEXT NOT NULL,
    gate            TEXT NOT NULL,
    direction       TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    reason_code     TEXT NOT NULL,
    party_requested INTEGER NOT NULL,
    party_admitted  INTEGER NOT NULL,
    uses_burned     INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    local_time      TEXT NOT NULL,
    annulled        INTEGER NOT NULL DEFAULT 0,
    outbox_key      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_by_key ON scans(use_key, at_ms);
";

/// Most writes folded into one transaction.
const MAX_BATCH: usize = 512;
/// Pause before a failed transaction is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How long a closing station waits for its writes when the disk keeps failing.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// A scan as the scan log stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRow {
    pub id: ScanId,
    pub use_key: Option<String>,
    pub credential_kind: &'static str,
    pub gate: String,
    pub direction: &'static str,
    pub outcome: &'static str,
    pub reason_code: &'static str,
    pub party_requested: u32,
    pub party_admitted: u32,
    pub uses_burned: u32,
    pub at_ms: i64,
    pub local_time: String,
}

/// One unit of work for the writer: a business change and its outbox row, committed together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A decided scan.
    Scan { row: ScanRow, outbox: Queued },
    /// An admission's use given back: the row is marked annulled.
    Annul { scan: ScanId, outbox: Queued },
    /// The people an admission let in, as settled after the decision.
    Party {
        scan: ScanId,
        party_admitted: u32,
        outbox: Queued,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Replica(#[from] replica::ReplicaError),
    #[error("cannot start the scan writer: {0}")]
    Thread(std::io::Error),
    #[error("the database refused the scan log write: {why}")]
    Refused { why: String },
    #[error("the scan writer has stopped")]
    Stopped,
    #[error("scan not committed after {waited:?}: {last_error}")]
    NotCommitted {
        waited: Duration,
        last_error: String,
    },
}

#[derive(Debug, Default)]
struct State {
    committed: u64,
    last_error: Option<String>,
    stopped: bool,
    /// Writes the database refused (most recent last, at most [`REFUSED_KEPT`]), with why.
    refused: std::collections::VecDeque<(u64, String)>,
}

/// Refused writes remembered for [`ScanWriter::wait`].
const REFUSED_KEPT: usize = 64;

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// See the module documentation.
pub struct ScanWriter {
    tx: Option<mpsc::Sender<(u64, Write)>>,
    shared: Arc<Shared>,
    next_seq: u64,
    thread: Option<JoinHandle<()>>,
}

impl ScanWriter {
    /// Opens the writer's own connection to the device database and starts its thread.
    pub fn spawn(db: &Path) -> Result<Self, WriterError> {
        let conn = replica::open(db)?;
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel();
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("gate-writer".into())
                .spawn(move || run(conn, &rx, &shared))
                .map_err(WriterError::Thread)?
        };
        Ok(Self {
            tx: Some(tx),
            shared,
            next_seq: 1,
            thread: Some(thread),
        })
    }

    /// Hands a write over; returns its sequence number.
    pub fn submit(&mut self, write: Write) -> Result<u64, WriterError> {
        let seq = self.next_seq;
        let tx = self.tx.as_ref().ok_or(WriterError::Stopped)?;
        tx.send((seq, write)).map_err(|_| WriterError::Stopped)?;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Commits `write` on the caller's own connection at once when nothing is queued before it
    /// and no other connection holds the write lock; otherwise hands it to the writer thread,
    /// which waits for the lock. Returns the sequence number to wait for, or `None` when the
    /// write is already committed. (Committing in place saves two thread wake-ups, which on a
    /// small machine cost as much as the commit.)
    pub fn write(
        &mut self,
        conn: &mut Connection,
        write: Write,
    ) -> Result<Option<u64>, WriterError> {
        if self.submitted() == self.committed() {
            replica::wait_for_locks(conn, false)?;
            let done = commit(conn, std::iter::once(&write));
            replica::wait_for_locks(conn, true)?;
            match done {
                Ok(()) => return Ok(None),
                Err(e) if e.is_busy() => {}
                Err(e) => {
                    tracing::warn!(error = %e, "scan log write failed in place; handing it to the writer")
                }
            }
        }
        self.submit(write).map(Some)
    }

    /// The sequence number of the last write handed over (0: none yet).
    pub fn submitted(&self) -> u64 {
        self.next_seq - 1
    }

    /// The last sequence number committed.
    pub fn committed(&self) -> u64 {
        self.shared.lock().committed
    }

    /// Waits until write `seq` is committed, at most `timeout`.
    pub fn wait(&self, seq: u64, timeout: Duration) -> Result<(), WriterError> {
        let started = Instant::now();
        let mut state = self.shared.lock();
        while state.committed < seq {
            if state.stopped {
                return Err(WriterError::Stopped);
            }
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(WriterError::NotCommitted {
                    waited: started.elapsed(),
                    last_error: state
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "the disk is slow".into()),
                });
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        match state.refused.iter().find(|(s, _)| *s == seq) {
            Some((_, why)) => Err(WriterError::Refused { why: why.clone() }),
            None => Ok(()),
        }
    }

    /// Waits until everything handed over so far is committed.
    pub fn flush(&self, timeout: Duration) -> Result<(), WriterError> {
        self.wait(self.submitted(), timeout)
    }
}

impl Drop for ScanWriter {
    fn drop(&mut self) {
        if let Err(e) = self.flush(CLOSE_GRACE) {
            tracing::error!(
                error = %e,
                unwritten = self.submitted().saturating_sub(self.committed()),
                "the gate closes with scans not recorded"
            );
        }
        // Closing the channel ends the thread once the queue is empty.
        self.tx = None;
        if self.shared.lock().last_error.is_none()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

fn run(mut conn: Connection, rx: &mpsc::Receiver<(u64, Write)>, shared: &Shared) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let last = batch.last().map_or(0, |(seq, _)| *seq);
        let mut attempts = 0u32;
        loop {
            match commit(&mut conn, batch.iter().map(|(_, w)| w)) {
                Ok(()) => break,
                Err(e) if e.is_transient() || attempts < 2 => {
                    attempts += 1;
                    tracing::error!(error = %e, writes = batch.len(), "scan log commit failed; retrying");
                    shared.lock().last_error = Some(e.to_string());
                    shared.changed.notify_all();
                    std::thread::sleep(RETRY_PAUSE);
                }
                Err(e) => {
                    // Not the disk or a lock: one write in the batch is refused. Commit the
                    // others one by one and put the refused one in the log in full.
                    tracing::error!(error = %e, writes = batch.len(), "scan log batch refused; writing one by one");
                    for (seq, write) in &batch {
                        if let Err(e) = commit(&mut conn, std::iter::once(write)) {
                            tracing::error!(error = %e, write = ?write, "scan write refused by the database");
                            let mut state = shared.lock();
                            if state.refused.len() == REFUSED_KEPT {
                                state.refused.pop_front();
                            }
                            state.refused.push_back((*seq, e.to_string()));
                        }
                    }
                    break;
                }
            }
        }
        let mut state = shared.lock();
        state.committed = last;
        state.last_error = None;
        drop(state);
        shared.changed.notify_all();
        batch.clear();
    }
    shared.lock().stopped = true;
    shared.changed.notify_all();
}

#[derive(Debug, thiserror::Error)]
enum CommitError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Outbox(#[from] crate::outbox::OutboxError),
}

impl CommitError {
    /// Another connection holds the write lock.
    fn is_busy(&self) -> bool {
        let Self::Sqlite(e) = self else { return false };
        matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }

    /// Worth trying again unchanged: the lock is held, or the disk is failing or full.
    fn is_transient(&self) -> bool {
        let sqlite = match self {
            Self::Sqlite(e) | Self::Outbox(crate::outbox::OutboxError::Sqlite(e)) => e,
            Self::Outbox(_) => return false,
        };
        matches!(
            sqlite.sqlite_error_code(),
            Some(
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::OutOfMemory
            )
        )
    }
}

fn commit<'a>(
    conn: &mut Connection,
    writes: impl Iterator<Item = &'a Write>,
) -> Result<(), CommitError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for write in writes {
        match write {
            Write::Scan { row, outbox } => {
                tx.prepare_cached(
                    "INSERT INTO scans (id, use_key, credential_kind, gate, direction, outcome,
                     reason_code, party_requested, party_admitted, uses_burned, at_ms,
                     local_time, outbox_key)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?
                .execute(params![
                    row.id,
                    row.use_key,
                    row.credential_kind,
                    row.gate,
                    row.direction,
                    row.outcome,
                    row.reason_code,
                    row.party_requested,
                    row.party_admitted,
                    row.uses_burned,
                    row.at_ms,
                    row.local_time,
                    outbox.idempotency_key,
                ])?;
                outbox.insert(&tx)?;
            }
            Write::Annul { scan, outbox } => {
                let changed = tx
                    .prepare_cached("UPDATE scans SET annulled = 1 WHERE id = ?1 AND annulled = 0")?
                    .execute([scan])?;
                if changed == 1 {
                    outbox.insert(&tx)?;
                }
            }
            Write::Party {
                scan,
                party_admitted,
                outbox,
            } => {
                let changed = tx
                    .prepare_cached(
                        "UPDATE scans SET party_admitted = ?2
                         WHERE id = ?1 AND annulled = 0 AND party_admitted <> ?2",
                    )?
                    .execute(params![scan, party_admitted])?;
                if changed == 1 {
                    outbox.insert(&tx)?;
                }
            }
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(id: ScanId) -> Write {
        Write::Scan {
            row: ScanRow {
                id,
                use_key: Some("ticket:T1".into()),
                credential_kind: "ticket",
                gate: "North".into(),
                direction: "entry",
                outcome: "admit",
                reason_code: "admitted",
                party_requested: 1,
                party_admitted: 1,
                uses_burned: 1,
                at_ms: 1_790_000_000_000,
                local_time: "2026-09-21T10:00:00".into(),
            },
            outbox: Queued::new(
                crate::outbox::kinds::SCAN,
                &serde_json::json!({"id": id}),
                0,
            )
            .unwrap(),
        }
    }

    fn count(db: &Path, sql: &str) -> i64 {
        replica::open(db)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn queued_writes_commit_in_order_and_a_refused_one_is_reported_without_its_outbox_row() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        replica::open(&db).unwrap().execute_batch(SCAN_LOG).unwrap();
        let mut writer = ScanWriter::spawn(&db).unwrap();
        let first = writer.submit(scan(1)).unwrap();
        // The same row id again: the database refuses it.
        let twice = writer.submit(scan(1)).unwrap();
        let annul = writer
            .submit(Write::Annul {
                scan: 1,
                outbox: Queued::new(
                    crate::outbox::kinds::SCAN_ANNULMENT,
                    &serde_json::json!({}),
                    0,
                )
                .unwrap(),
            })
            .unwrap();
        writer.wait(first, Duration::from_secs(10)).unwrap();
        let refused = writer.wait(twice, Duration::from_secs(10)).unwrap_err();
        assert!(matches!(refused, WriterError::Refused { .. }), "{refused}");
        writer.wait(annul, Duration::from_secs(10)).unwrap();
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 1);
        assert_eq!(count(&db, "SELECT annulled FROM scans WHERE id = 1"), 1);
        // The scan and its annulment went upstream; the refused copy did not.
        assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 2);
    }

    #[test]
    fn a_write_waits_for_the_lock_and_commits_when_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        let mut station_conn = replica::open(&db).unwrap();
        station_conn.execute_batch(SCAN_LOG).unwrap();
        let mut writer = ScanWriter::spawn(&db).unwrap();
        let mut feed = replica::open(&db).unwrap();
        let held = feed
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        // Not in place: another connection holds the lock, so the thread takes it.
        let seq = writer
            .write(&mut station_conn, scan(7))
            .unwrap()
            .expect("queued");
        let early = writer.wait(seq, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(early, WriterError::NotCommitted { .. }), "{early}");
        held.commit().unwrap();
        writer.wait(seq, Duration::from_secs(10)).unwrap();
        // With the writer idle and the lock free, the next write commits in place.
        assert_eq!(writer.write(&mut station_conn, scan(8)).unwrap(), None);
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 2);
    }
}
