//! The gate's writer: puts each decided scan and its outbox row in the scan journal (where it
//! becomes durable), then commits them into the scan log and the outbox, so a decision never
//! waits for a feed transaction holding the write lock.
//!
//! Journaled writes stay pending until a commit is due ([`ScanWriter::commit_due`]): at once
//! after a quiet spell, otherwise every [`LINGER`], all pending writes in one transaction on the
//! station's own connection (which keeps its page cache; SQLite drops a connection's cache
//! whenever another connection has written). When another connection holds the write lock the
//! pending writes go to the writer's thread, which waits for the lock on a connection of its
//! own. Each transaction records the last sequence number it applied. Writes are applied in the
//! order they were handed over, so an annulment or a party change always lands after the scan
//! it amends. A failing commit is retried, never dropped; a write the database refuses is
//! reported, not retried forever.
//!
//! Opening the writer commits every journal record the scan log lacks (a crash or power cut
//! after a scan was journaled and before it was committed) before anything else.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::passage::ScanId;
use super::scan_journal::{JournalError, Record, ScanJournal};
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
CREATE TABLE IF NOT EXISTS scan_journal (
    name        TEXT PRIMARY KEY,
    applied_seq INTEGER NOT NULL
) WITHOUT ROWID;
";

/// A queue this long is committed without lingering.
const MAX_BATCH: usize = 2048;
/// Under load, pending writes are committed at most this often (a write arriving after a quiet
/// spell is committed at once, and one somebody waits for ends the wait): fewer, larger
/// transactions, and fewer fsyncs beside the journal's.
pub const LINGER: Duration = Duration::from_millis(250);
/// Pause before a failed transaction is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How long a closing station waits for its writes when the disk keeps failing.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// Attempts at committing the journal's records when the writer opens.
const RECOVERY_ATTEMPTS: u32 = 3;

/// A scan as the scan log stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRow {
    pub id: ScanId,
    pub use_key: Option<String>,
    pub credential_kind: String,
    pub gate: String,
    pub direction: String,
    pub outcome: String,
    pub reason_code: String,
    pub party_requested: u32,
    pub party_admitted: u32,
    pub uses_burned: u32,
    pub at_ms: i64,
    pub local_time: String,
}

/// One unit of work for the writer: a business change and its outbox row, committed together.
/// Its JSON form is the scan journal's record payload (version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "write", rename_all = "snake_case")]
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

impl Write {
    /// A scan journal record's payload as a write.
    pub fn from_journal(payload: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Replica(#[from] replica::ReplicaError),
    #[error(transparent)]
    Journal(#[from] JournalError),
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
    #[error("the scan journal's records could not be committed: {0}")]
    Recovery(String),
}

#[derive(Default)]
struct State {
    committed: u64,
    last_error: Option<String>,
    stopped: bool,
    /// Writes the database refused (most recent last, at most [`REFUSED_KEPT`]), with why.
    refused: std::collections::VecDeque<(u64, String)>,
    /// Called after each commit (e.g. to wake the upload).
    on_commit: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Writes handed over and not yet taken by the writer's thread.
    queue: Vec<(u64, Write)>,
    /// Somebody waits: commit what is queued without lingering.
    flush: bool,
    /// The writer's thread waits for a first write (it must be woken); otherwise it looks
    /// at the queue when it is due, and a write handed over costs no wake-up.
    idle: bool,
    /// No more writes: the thread ends once the queue is empty.
    closed: bool,
}

/// Refused writes remembered for [`ScanWriter::wait`].
const REFUSED_KEPT: usize = 64;

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// A commit happened (waiters).
    changed: Condvar,
    /// Work for the writer's thread.
    work: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a commit (on either connection): everything through `last` is in the scan log,
    /// except the `refused` writes. Wakes the waiters, then calls the commit hook.
    fn committed_through(&self, last: u64, refused: Vec<(u64, String)>) {
        let mut state = self.lock();
        for (seq, why) in refused {
            if state.refused.len() == REFUSED_KEPT {
                state.refused.pop_front();
            }
            state.refused.push_back((seq, why));
        }
        state.committed = last;
        state.last_error = None;
        let hook = state.on_commit.clone();
        drop(state);
        self.changed.notify_all();
        if let Some(hook) = hook {
            hook();
        }
    }
}

/// A write handed over by [`ScanWriter::write`].
#[derive(Debug, Clone, Copy)]
pub struct Submitted {
    /// The sequence number to wait for ([`ScanWriter::wait`]).
    pub seq: u64,
    /// In the scan journal, synced: it survives a crash. Otherwise (the journal failing or
    /// full) it is durable once the writer has committed it.
    pub journaled: bool,
    /// When the journal's write returned (or failed): a journaled scan is durable from then.
    pub at: Instant,
    /// How long the journal's write itself took (the record encoded before it is not
    /// counted); `None` when the record was never written.
    pub write_took: Option<Duration>,
}

/// See the module documentation.
pub struct ScanWriter {
    shared: Arc<Shared>,
    next_seq: u64,
    journal: ScanJournal,
    /// The journal's last error, logged once until it clears.
    journal_trouble: Option<String>,
    /// Journaled writes not yet committed nor handed to the thread, oldest first.
    pending: Vec<(u64, Write)>,
    /// The newest write handed to the thread.
    handed: u64,
    /// When the caller's connection last committed (or handed over) pending writes.
    last_local: Option<Instant>,
    name: String,
    thread: Option<JoinHandle<()>>,
}

/// The journal of the scan log's writer `name` (a gate) beside the database at `db`.
pub fn journal_path(db: &Path, name: &str) -> PathBuf {
    db.with_file_name(format!("{}{}", journal_prefix(db), journal_name(name)))
}

/// How the names of the journals beside the database at `db` begin.
fn journal_prefix(db: &Path) -> String {
    let file = db
        .file_name()
        .map_or_else(|| "portico.db".into(), |f| f.to_string_lossy().into_owned());
    format!("{file}.scan-journal-")
}

/// The newest journal sequence number of writer `name` the scan log holds (0: none).
fn applied_through(conn: &Connection, name: &str) -> rusqlite::Result<u64> {
    Ok(conn
        .query_row(
            "SELECT applied_seq FROM scan_journal WHERE name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .map_or(0, |s| s.max(0) as u64))
}

/// `name` as it appears in a file name and in the `scan_journal` table.
fn journal_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A scan journal found beside the database, read without its lock.
struct JournalBeside {
    /// The gate name in the file's name.
    name: String,
    path: PathBuf,
    /// The newest sequence number of that gate the scan log holds.
    applied: u64,
    /// Records newer than that.
    waiting: u64,
}

/// Every scan journal beside the database at `db`, with the records its scan log lacks, read
/// from the files (without their locks, so also for a device that is not running). A journal
/// that cannot be read is left out.
fn journals_beside(conn: &Connection, db: &Path) -> rusqlite::Result<Vec<JournalBeside>> {
    let prefix = journal_prefix(db);
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let has_table = replica::table_exists(conn, "scan_journal")?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = entry_name.strip_prefix(&prefix) else {
            continue;
        };
        let applied = if has_table {
            applied_through(conn, name)?
        } else {
            0
        };
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        let waiting = super::scan_journal::parse(&bytes)
            .iter()
            .filter(|r| r.seq > applied)
            .count() as u64;
        found.push(JournalBeside {
            name: name.to_owned(),
            path: entry.path(),
            applied,
            waiting,
        });
    }
    Ok(found)
}

/// Scans in the journals beside the database at `db` that its scan log does not hold yet (a
/// gate's last quarter of a second, or more when the scan log cannot take them: the database
/// locked or failing, or a gate that stopped uncleanly and has not opened since). Read from the
/// files, so it also answers for a device that is not running.
pub fn journaled_not_logged(conn: &Connection, db: &Path) -> rusqlite::Result<u64> {
    Ok(journals_beside(conn, db)?.iter().map(|j| j.waiting).sum())
}

/// Journals beside the database at `db` under another gate's name: the gate was renamed in its
/// config after an unclean stop, or the data directory came from another gate. Their scans the
/// scan log lacks are committed under their own name (as that gate would have at its next
/// start), and the journal, with nothing left to give, is removed. A journal with nothing
/// waiting is not touched (another gate's on the same database, stopped cleanly); one another
/// running gate holds is left to it; one that cannot be read is left in place and logged.
fn recover_former_journals(conn: &mut Connection, db: &Path, own: &str) -> Result<(), WriterError> {
    let former = journals_beside(conn, db).map_err(replica::ReplicaError::from)?;
    // Only names a gate makes (`journal_name`), never this gate's own, and only with scans
    // waiting.
    for j in former.into_iter().filter(|j| {
        j.waiting > 0 && j.name != own && !j.name.is_empty() && journal_name(&j.name) == j.name
    }) {
        let (journal, records) = match ScanJournal::open(&j.path) {
            Ok(opened) => opened,
            Err(JournalError::InUse { .. }) => continue,
            Err(e) => {
                tracing::error!(journal = %j.path.display(), error = %e, "a former gate's scan journal cannot be read; left in place");
                continue;
            }
        };
        let waiting = records.iter().filter(|r| r.seq > j.applied).count();
        recover(conn, &j.name, j.applied, &records)?;
        drop(journal);
        match std::fs::remove_file(&j.path) {
            Ok(()) => tracing::info!(
                journal = %j.path.display(),
                former_gate = %j.name,
                recovered = waiting,
                "a former gate's scan journal was taken into the scan log and removed"
            ),
            Err(e) => {
                tracing::warn!(journal = %j.path.display(), error = %e, "a former gate's scan journal, taken into the scan log, could not be removed")
            }
        }
    }
    Ok(())
}

impl ScanWriter {
    /// Opens the writer for gate `name` on the device database at `db`: locks its journal,
    /// commits every record the scan log lacks, then starts the writer's thread on its own
    /// connection.
    pub fn open(db: &Path, name: &str) -> Result<Self, WriterError> {
        let name = journal_name(name);
        let mut conn = replica::open(db)?;
        conn.execute_batch(SCAN_LOG)
            .map_err(replica::ReplicaError::from)?;
        let applied = applied_through(&conn, &name).map_err(replica::ReplicaError::from)?;
        let (mut journal, records) = ScanJournal::open(&journal_path(db, &name))?;
        let newest = recover(&mut conn, &name, applied, &records)?;
        journal.prepare(&records)?;
        recover_former_journals(&mut conn, db, &name)?;
        let shared = Arc::new(Shared::default());
        shared.lock().committed = newest;
        let thread = {
            let shared = Arc::clone(&shared);
            let name = name.clone();
            std::thread::Builder::new()
                .name("gate-writer".into())
                .spawn(move || run(conn, &shared, &name))
                .map_err(WriterError::Thread)?
        };
        Ok(Self {
            shared,
            next_seq: newest + 1,
            journal,
            journal_trouble: None,
            pending: Vec::new(),
            handed: newest,
            last_local: None,
            name,
            thread: Some(thread),
        })
    }

    /// Calls `f` after each commit (on the thread that committed).
    pub fn on_commit(&self, f: Arc<dyn Fn() + Send + Sync>) {
        self.shared.lock().on_commit = Some(f);
    }

    /// Puts `write` in the journal (synced) and keeps it pending, for the caller to commit
    /// when it has time ([`ScanWriter::commit_due`]). When the journal cannot take it (full,
    /// or the disk failing), the write is committed at once (and durable then); the trouble
    /// is logged.
    pub fn write(&mut self, conn: &mut Connection, write: Write) -> Result<Submitted, WriterError> {
        let seq = self.next_seq;
        let committed = self.committed();
        let mut write_started = None;
        let journaled = serde_json::to_vec(&write)
            .map_err(|e| e.to_string())
            .and_then(|payload| {
                write_started = Some(Instant::now());
                self.journal
                    .append(seq, &payload, committed)
                    .map_err(|e| e.to_string())
            });
        let at = Instant::now();
        match (journaled.as_ref(), &self.journal_trouble) {
            (Ok(()), Some(_)) => {
                tracing::info!("the scan journal takes scans again");
                self.journal_trouble = None;
            }
            (Err(e), None) => {
                tracing::warn!(error = %e, "scan not journaled; it is durable once the scan log has it");
                self.journal_trouble = Some(e.clone());
            }
            _ => {}
        }
        if self.shared.lock().stopped {
            return Err(WriterError::Stopped);
        }
        self.pending.push((seq, write));
        self.next_seq += 1;
        if journaled.is_err() {
            // Durable only once committed: no lingering.
            self.commit_pending(conn);
        }
        Ok(Submitted {
            seq,
            journaled: journaled.is_ok(),
            at,
            write_took: write_started.map(|t| at.saturating_duration_since(t)),
        })
    }

    /// Commits the pending writes on `conn` when the last commit is [`LINGER`] old (at once
    /// after a quiet spell; under load, one transaction every [`LINGER`]) or many are pending.
    pub fn commit_due(&mut self, conn: &mut Connection) {
        self.commit_due_at(conn, Instant::now());
    }

    fn commit_due_at(&mut self, conn: &mut Connection, now: Instant) {
        if !self.pending.is_empty()
            && (self
                .last_local
                .is_none_or(|t| now.saturating_duration_since(t) >= LINGER)
                || self.pending.len() >= MAX_BATCH)
        {
            self.commit_pending(conn);
        }
    }

    /// Commits the pending writes on `conn` now, in one transaction, when the write lock is
    /// free and the thread has nothing queued before them; otherwise hands them to the
    /// thread, which waits for the lock. Committing on the caller's own connection keeps its
    /// page cache: SQLite drops a connection's cache whenever another connection has written.
    pub fn commit_pending(&mut self, conn: &mut Connection) {
        let Some(&(last, _)) = self.pending.last() else {
            return;
        };
        self.last_local = Some(Instant::now());
        if self.committed() < self.handed {
            self.hand_over();
            return;
        }
        let done = replica::wait_for_locks(conn, false)
            .map_err(CommitError::from)
            .and_then(|()| apply(conn, &self.pending, &self.name, last));
        if let Err(e) = replica::wait_for_locks(conn, true) {
            tracing::warn!(error = %e, "cannot restore the station's lock wait");
        }
        match done {
            Ok(refused) => {
                self.pending.clear();
                self.shared.committed_through(last, refused);
            }
            Err(e) => {
                if !e.is_busy() {
                    tracing::warn!(error = %e, "scan log commit failed in place; the writer's thread retries it");
                }
                self.hand_over();
            }
        }
    }

    /// Moves the pending writes to the thread's queue.
    fn hand_over(&mut self) {
        let Some(&(last, _)) = self.pending.last() else {
            return;
        };
        let mut state = self.shared.lock();
        state.queue.append(&mut self.pending);
        self.handed = last;
        self.shared.work.notify_one();
    }

    /// The sequence number of the last write handed over.
    pub fn submitted(&self) -> u64 {
        self.next_seq - 1
    }

    /// The last sequence number committed to the scan log.
    pub fn committed(&self) -> u64 {
        self.shared.lock().committed
    }

    /// Waits until write `seq` is committed to the scan log, at most `timeout` (pending
    /// writes are handed to the thread; [`ScanWriter::commit_pending`] first commits them
    /// in place).
    pub fn wait(&mut self, seq: u64, timeout: Duration) -> Result<(), WriterError> {
        let started = Instant::now();
        if seq > self.handed {
            self.hand_over();
        }
        let mut state = self.shared.lock();
        if state.committed < seq {
            state.flush = true;
            self.shared.work.notify_one();
        }
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
    pub fn flush(&mut self, timeout: Duration) -> Result<(), WriterError> {
        self.wait(self.submitted(), timeout)
    }
}

impl Drop for ScanWriter {
    fn drop(&mut self) {
        if let Err(e) = self.flush(CLOSE_GRACE) {
            tracing::error!(
                error = %e,
                unwritten = self.submitted().saturating_sub(self.committed()),
                journaled = self.journal.unapplied(),
                "the gate closes with scans not in the scan log (the journaled ones are committed when it opens again)"
            );
        }
        // The thread ends once the queue is empty.
        self.shared.lock().closed = true;
        self.shared.work.notify_one();
        if self.shared.lock().last_error.is_none()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

/// Commits the journal's records newer than `applied`, in order; returns the newest sequence
/// number the scan log now accounts for.
fn recover(
    conn: &mut Connection,
    name: &str,
    applied: u64,
    records: &[Record],
) -> Result<u64, WriterError> {
    let newest = records.last().map_or(applied, |r| r.seq.max(applied));
    let mut batch = Vec::new();
    for record in records.iter().filter(|r| r.seq > applied) {
        match Write::from_journal(&record.payload) {
            Ok(write) => batch.push((record.seq, write)),
            Err(e) => tracing::error!(
                seq = record.seq,
                error = %e,
                record = %String::from_utf8_lossy(&record.payload),
                "scan journal record not understood; not applied"
            ),
        }
    }
    if newest == applied {
        return Ok(applied);
    }
    let mut attempts = 0;
    loop {
        match apply(conn, &batch, name, newest) {
            Ok(refused) => {
                for (seq, why) in refused {
                    tracing::error!(seq, why = %why, "journaled scan refused by the database");
                }
                if !batch.is_empty() {
                    tracing::warn!(
                        scans = batch.len(),
                        through = newest,
                        "journaled scans the scan log lacked (an unclean stop) are now in it"
                    );
                }
                return Ok(newest);
            }
            Err(e) if attempts + 1 < RECOVERY_ATTEMPTS => {
                attempts += 1;
                tracing::error!(error = %e, "committing the scan journal failed; retrying");
                std::thread::sleep(RETRY_PAUSE);
            }
            Err(e) => return Err(WriterError::Recovery(e.to_string())),
        }
    }
}

fn run(mut conn: Connection, shared: &Shared, name: &str) {
    // Committing is background work now: the scan is already durable in the journal.
    crate::priority::lower_this_thread();
    let mut last_commit: Option<Instant> = None;
    loop {
        let mut state = shared.lock();
        while state.queue.is_empty() && !state.closed {
            state.idle = true;
            state = shared.work.wait(state).unwrap_or_else(|p| p.into_inner());
            state.idle = false;
        }
        if state.queue.is_empty() {
            break;
        }
        // Linger: more writes join this transaction, unless somebody waits.
        if let Some(due) = last_commit.map(|t| t + LINGER) {
            loop {
                let now = Instant::now();
                if state.flush || state.closed || state.queue.len() >= MAX_BATCH || now >= due {
                    break;
                }
                state = shared
                    .work
                    .wait_timeout(state, due - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        state.flush = false;
        let batch = std::mem::take(&mut state.queue);
        drop(state);
        let Some(&(last, _)) = batch.last() else {
            continue;
        };
        let mut attempts = 0u32;
        let refused = loop {
            match apply(&mut conn, &batch, name, last) {
                Ok(refused) => break refused,
                Err(e) => {
                    attempts += 1;
                    tracing::error!(error = %e, writes = batch.len(), attempts, "scan log commit failed; retrying");
                    shared.lock().last_error = Some(e.to_string());
                    shared.changed.notify_all();
                    std::thread::sleep(RETRY_PAUSE);
                }
            }
        };
        last_commit = Some(Instant::now());
        shared.committed_through(last, refused);
    }
    shared.lock().stopped = true;
    shared.changed.notify_all();
}

/// Commits `batch` and marks the journal applied through `through`, in one transaction. When
/// the database refuses one of the writes (not the disk, not a lock), the others are committed
/// one by one and the refused ones returned with why. Transient errors are returned for the
/// caller to retry.
fn apply(
    conn: &mut Connection,
    batch: &[(u64, Write)],
    name: &str,
    through: u64,
) -> Result<Vec<(u64, String)>, CommitError> {
    match commit(conn, batch.iter().map(|(_, w)| w), name, through) {
        Ok(()) => return Ok(Vec::new()),
        Err(e) if e.is_transient() => return Err(e),
        Err(e) => {
            tracing::error!(error = %e, writes = batch.len(), "scan log batch refused; writing one by one");
        }
    }
    let mut refused = Vec::new();
    for (seq, write) in batch {
        match commit(conn, std::iter::once(write), name, *seq) {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                tracing::error!(error = %e, write = ?write, "scan write refused by the database");
                refused.push((*seq, e.to_string()));
            }
        }
    }
    // The refused ones too: the journal must not offer them again.
    commit(conn, std::iter::empty(), name, through)?;
    Ok(refused)
}

#[derive(Debug, thiserror::Error)]
enum CommitError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Outbox(#[from] crate::outbox::OutboxError),
    #[error(transparent)]
    Replica(#[from] replica::ReplicaError),
}

impl CommitError {
    /// SQLite's code for the failure, when SQLite failed.
    fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            Self::Sqlite(e) | Self::Outbox(crate::outbox::OutboxError::Sqlite(e)) => {
                e.sqlite_error_code()
            }
            Self::Outbox(_) | Self::Replica(_) => None,
        }
    }

    /// Another connection holds the write lock.
    fn is_busy(&self) -> bool {
        matches!(
            self.sqlite_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }

    /// Worth trying again unchanged: the lock is held, or the disk is failing or full.
    fn is_transient(&self) -> bool {
        matches!(
            self.sqlite_code(),
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
    name: &str,
    through: u64,
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
    tx.prepare_cached(
        "INSERT INTO scan_journal (name, applied_seq) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET applied_seq = max(applied_seq, excluded.applied_seq)",
    )?
    .execute(params![name, through as i64])?;
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
                credential_kind: "ticket".into(),
                gate: "North".into(),
                direction: "entry".into(),
                outcome: "admit".into(),
                reason_code: "admitted".into(),
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
        let mut writer = ScanWriter::open(&db, "North").unwrap();
        let mut conn = replica::open(&db).unwrap();
        let first = writer.write(&mut conn, scan(1)).unwrap();
        // The same row id again: the database refuses it.
        let twice = writer.write(&mut conn, scan(1)).unwrap();
        let annul = writer
            .write(
                &mut conn,
                Write::Annul {
                    scan: 1,
                    outbox: Queued::new(
                        crate::outbox::kinds::SCAN_ANNULMENT,
                        &serde_json::json!({}),
                        0,
                    )
                    .unwrap(),
                },
            )
            .unwrap();
        assert!(first.journaled && twice.journaled && annul.journaled);
        writer.wait(first.seq, Duration::from_secs(10)).unwrap();
        let refused = writer.wait(twice.seq, Duration::from_secs(10)).unwrap_err();
        assert!(matches!(refused, WriterError::Refused { .. }), "{refused}");
        writer.wait(annul.seq, Duration::from_secs(10)).unwrap();
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 1);
        assert_eq!(count(&db, "SELECT annulled FROM scans WHERE id = 1"), 1);
        // The scan and its annulment went upstream; the refused copy did not.
        assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 2);
        // The refused write is accounted for: opening again does not offer it once more.
        drop(writer);
        drop(ScanWriter::open(&db, "North").unwrap());
        assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 2);
    }

    #[test]
    fn a_write_is_durable_in_the_journal_while_another_connection_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        let mut writer = ScanWriter::open(&db, "North").unwrap();
        let mut feed = replica::open(&db).unwrap();
        let held = feed
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        let mut station = replica::open(&db).unwrap();
        let done = writer.write(&mut station, scan(7)).unwrap();
        assert!(done.journaled);
        // Not in place: the lock is held, so the writer's thread takes it and waits.
        writer.commit_pending(&mut station);
        // In the journal on disk already, not yet in the scan log.
        let records = read_journal(&db, "North");
        assert_eq!(
            records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [done.seq]
        );
        let early = writer
            .wait(done.seq, Duration::from_millis(50))
            .unwrap_err();
        assert!(matches!(early, WriterError::NotCommitted { .. }), "{early}");
        held.commit().unwrap();
        writer.wait(done.seq, Duration::from_secs(10)).unwrap();
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 1);
    }

    /// The journal's records, read without its lock (the writer holds it).
    fn read_journal(db: &Path, name: &str) -> Vec<Record> {
        let mut records =
            super::super::scan_journal::parse(&std::fs::read(journal_path(db, name)).unwrap());
        records.sort_by_key(|r| r.seq);
        records
    }

    /// Gate `name` committed scan 1, then journaled scans 2 and 3 and died before committing
    /// them (its journal written directly, as the process left it).
    fn committed_one_then_crashed(db: &Path, conn: &mut Connection, name: &str) {
        {
            let mut writer = ScanWriter::open(db, name).unwrap();
            let one = writer.write(conn, scan(1)).unwrap();
            writer.wait(one.seq, Duration::from_secs(10)).unwrap();
        }
        let (mut journal, records) = ScanJournal::open(&journal_path(db, name)).unwrap();
        journal.prepare(&records).unwrap();
        let newest = records.last().map_or(0, |r| r.seq);
        for (seq, id) in [(newest + 1, 2), (newest + 2, 3)] {
            let payload = serde_json::to_vec(&scan(id)).unwrap();
            journal.append(seq, &payload, newest).unwrap();
        }
    }

    #[test]
    fn journaled_scans_the_scan_log_lacks_are_committed_once_when_the_writer_opens() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        drop(ScanWriter::open(&db, "North").unwrap());
        let mut conn = replica::open(&db).unwrap();
        committed_one_then_crashed(&db, &mut conn, "North");
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 1);
        let mut writer = ScanWriter::open(&db, "North").unwrap();
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 3);
        assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 3);
        // New writes follow the recovered ones.
        let next = writer.write(&mut conn, scan(4)).unwrap();
        writer.wait(next.seq, Duration::from_secs(10)).unwrap();
        drop(writer);
        drop(ScanWriter::open(&db, "North").unwrap());
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 4);
        assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 4);
    }

    #[test]
    fn a_renamed_gate_takes_in_the_scans_its_former_name_journaled_and_removes_that_journal() {
        // "North" journaled scans 2 and 3 and stopped uncleanly; the technician then renamed
        // the gate to "North-2" before it started again.
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        let mut conn = replica::open(&db).unwrap();
        // Another gate's journal with nothing waiting (it stopped cleanly) is not touched.
        drop(ScanWriter::open(&db, "South").unwrap());
        let south = std::fs::metadata(journal_path(&db, "South"))
            .unwrap()
            .modified()
            .unwrap();
        committed_one_then_crashed(&db, &mut conn, "North");
        assert_eq!(journaled_not_logged(&conn, &db).unwrap(), 2);

        let mut writer = ScanWriter::open(&db, "North-2").unwrap();
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 3);
        assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 3);
        assert!(!journal_path(&db, "North").exists());
        assert_eq!(
            std::fs::metadata(journal_path(&db, "South"))
                .unwrap()
                .modified()
                .unwrap(),
            south
        );
        assert_eq!(
            count(
                &db,
                "SELECT applied_seq FROM scan_journal WHERE name = 'North'"
            ),
            3
        );
        assert_eq!(journaled_not_logged(&conn, &db).unwrap(), 0);
        // The renamed gate goes on with scans of its own; nothing is offered twice.
        let next = writer.write(&mut conn, scan(4)).unwrap();
        writer.wait(next.seq, Duration::from_secs(10)).unwrap();
        drop(writer);
        drop(ScanWriter::open(&db, "North-2").unwrap());
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 4);
        assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 4);
    }

    #[test]
    fn writes_commit_in_place_at_once_after_a_quiet_spell_and_together_under_load() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        let mut writer = ScanWriter::open(&db, "North").unwrap();
        let mut conn = replica::open(&db).unwrap();
        let first = writer.write(&mut conn, scan(1)).unwrap();
        // Nothing committed for a while: the first write is due at once, on this connection.
        writer.commit_due(&mut conn);
        assert_eq!(writer.committed(), first.seq);
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 1);
        // The next ones, right after, wait for the linger to pass.
        let second = writer.write(&mut conn, scan(2)).unwrap();
        let third = writer.write(&mut conn, scan(3)).unwrap();
        let committed_at = writer.last_local.expect("committed once");
        writer.commit_due_at(&mut conn, committed_at + LINGER / 2);
        assert_eq!(writer.committed(), first.seq);
        writer.commit_due_at(&mut conn, committed_at + LINGER);
        assert_eq!(writer.committed(), third.seq);
        assert!(second.seq < third.seq);
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), 3);
        assert_eq!(
            count(
                &db,
                "SELECT applied_seq FROM scan_journal WHERE name = 'North'"
            ),
            third.seq as i64
        );
    }

    #[test]
    fn status_counts_the_journaled_scans_the_scan_log_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        let mut conn = replica::open(&db).unwrap();
        let mut writer = ScanWriter::open(&db, "North").unwrap();
        let first = writer.write(&mut conn, scan(1)).unwrap();
        writer.write(&mut conn, scan(2)).unwrap();
        assert_eq!(journaled_not_logged(&conn, &db).unwrap(), 2);
        writer.wait(first.seq, Duration::from_secs(10)).unwrap();
        writer.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(journaled_not_logged(&conn, &db).unwrap(), 0);
    }

    #[test]
    fn a_write_the_full_journal_cannot_take_is_committed_at_once_and_said_to_be() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        let mut writer = ScanWriter::open(&db, "North").unwrap();
        let mut station = replica::open(&db).unwrap();
        // A feed transaction holds the lock, so nothing journaled reaches the scan log, until
        // the journal is full (large records fill it sooner).
        let mut feed = replica::open(&db).unwrap();
        let held = feed
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        let big = |id| {
            let mut w = scan(id);
            if let Write::Scan { row, .. } = &mut w {
                row.use_key = Some(format!("ticket:{}", "T".repeat(60_000)));
            }
            w
        };
        let mut id = 0;
        let overflow = loop {
            id += 1;
            let done = writer.write(&mut station, big(id)).unwrap();
            if !done.journaled {
                break done;
            }
            assert!(id < 1_000, "the journal never filled");
        };
        // Not durable yet: the writer's thread has it and waits for the lock.
        assert_eq!(writer.committed(), 0);
        drop(held);
        writer.wait(overflow.seq, Duration::from_secs(30)).unwrap();
        assert_eq!(count(&db, "SELECT count(*) FROM scans"), id);
        // The journal takes writes again once the scan log has its records.
        let next = writer.write(&mut station, scan(id + 1)).unwrap();
        assert!(next.journaled);
    }

    #[test]
    fn two_gates_on_one_database_keep_journals_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        let mut north = ScanWriter::open(&db, "North").unwrap();
        let mut south = ScanWriter::open(&db, "South gate/2").unwrap();
        assert!(ScanWriter::open(&db, "North").is_err());
        let mut conn = replica::open(&db).unwrap();
        let a = north.write(&mut conn, scan(1)).unwrap();
        let b = south.write(&mut conn, scan(2)).unwrap();
        north.wait(a.seq, Duration::from_secs(10)).unwrap();
        south.wait(b.seq, Duration::from_secs(10)).unwrap();
        assert_ne!(
            journal_path(&db, "North"),
            journal_path(&db, "South gate/2")
        );
        assert_eq!(count(&db, "SELECT count(*) FROM scan_journal"), 2);
    }
}
