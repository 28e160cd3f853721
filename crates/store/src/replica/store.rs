//! The device database as the rest of the device uses it: **one write connection**, one writer
//! thread that runs the queued writes on it, read-only connections for everyone else, and a
//! checkpointer.
//!
//! Every change to the database is a job run in one `IMMEDIATE` transaction on the write
//! connection, committed with `synchronous=FULL` before its caller hears back. Jobs run one at
//! a time: queued jobs in order on the writer thread; an *urgent* job (a gate's scan and the
//! changes to it) on its caller's own thread, as soon as the job running now ends, ahead of
//! every queued job. So a scan waits at most for one job, and long work (a feed delta, the scan
//! log's fold) ends its job early when anyone waits ([`Store::others_waiting`]). A scan is not
//! handed to the writer thread: waking another thread and being woken back would add two
//! context switches to every scan on a small machine, for nothing.
//!
//! The checkpointer copies committed WAL frames back into the database file on a connection
//! of its own (`PRAGMA wal_checkpoint(PASSIVE)`, which never blocks the writer or a reader); it
//! writes no rows. The writer's connection never checkpoints inside a commit.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::{ReplicaError, Result};

/// How often the checkpointer copies the WAL back.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Urgent jobs waiting for (or holding) the write connection: the writer thread starts
    /// no queued job while there are any.
    urgent: usize,
    closed: bool,
}

struct Shared {
    /// The only write connection.
    conn: Mutex<Connection>,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Jobs waiting for the write connection (queued, or urgent and waiting for or holding
    /// it), readable without the queue's lock: a long job looks at it between steps and ends
    /// early ([`Store::others_waiting`]).
    waiting: AtomicUsize,
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The write connection; one a panicking job left in a transaction is rolled back.
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn
    }
}

/// The device database: its writer, its checkpointer, and read connections on request.
pub struct Store {
    path: PathBuf,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    checkpointer: Option<(std::sync::mpsc::SyncSender<()>, JoinHandle<()>)>,
}

/// See [`Store::others_waiting`]; cheap to ask, and can be moved into a job.
#[derive(Clone)]
pub struct OthersWaiting(Arc<Shared>);

impl OthersWaiting {
    pub fn now(&self) -> bool {
        self.0.waiting.load(Ordering::SeqCst) > 0
    }
}

/// Where a job's result goes: a thread that blocks for it, or a task that awaits it.
enum Reply<T> {
    Blocking(std::sync::mpsc::SyncSender<Result<T>>),
    Async(tokio::sync::oneshot::Sender<Result<T>>),
}

impl<T> Reply<T> {
    fn send(self, result: Result<T>) {
        // A caller that stopped waiting has nothing left to learn.
        match self {
            Reply::Blocking(tx) => drop(tx.send(result)),
            Reply::Async(tx) => drop(tx.send(result)),
        }
    }
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `path` and starts its writer
    /// and checkpointer threads.
    pub fn open(path: &Path) -> Result<Self> {
        keep_aside_unreadable(path);
        let conn = super::open(path)?;
        // Commits never checkpoint: the checkpointer does, off the writer's path.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let shared = Arc::new(Shared {
            conn: Mutex::new(conn),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            waiting: AtomicUsize::new(0),
        });
        let for_writer = shared.clone();
        let writer = std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || run_writer(&for_writer))
            .map_err(|e| ReplicaError::Thread("the database writer", e))?;
        let checkpoint_conn = super::open(path)?;
        let (stop, stopped) = std::sync::mpsc::sync_channel::<()>(1);
        let checkpointer = std::thread::Builder::new()
            .name("db-checkpoint".into())
            .spawn(move || run_checkpointer(&checkpoint_conn, &stopped))
            .map_err(|e| ReplicaError::Thread("the checkpointer", e))?;
        Ok(Self {
            path: path.to_owned(),
            shared,
            writer: Some(writer),
            checkpointer: Some((stop, checkpointer)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new read-only connection (`query_only`: a write through it is an error, so every
    /// write goes through the writer).
    pub fn reader(&self) -> Result<Connection> {
        let conn = super::open(&self.path)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    /// Runs `f` in one transaction on the writer thread, after the jobs already waiting, and
    /// returns its result once committed (or rolled back, when `f` fails).
    pub fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.submit(f, Reply::Blocking(tx))?;
        rx.recv().unwrap_or(Err(ReplicaError::WriteAbandoned))
    }

    /// Runs `f` in one transaction on this thread, as soon as the job running now ends and
    /// ahead of every job still queued: a gate's scan.
    pub fn write_urgent<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        {
            let mut queue = self.shared.queue();
            if queue.closed {
                return Err(ReplicaError::WriterStopped);
            }
            queue.urgent += 1;
            self.shared.waiting.fetch_add(1, Ordering::SeqCst);
        }
        let result = {
            let mut conn = self.shared.conn();
            in_transaction(&mut conn, f)
        };
        self.shared.waiting.fetch_sub(1, Ordering::SeqCst);
        self.shared.queue().urgent -= 1;
        self.shared.wake.notify_all();
        result
    }

    /// Whether any other job waits for the write connection (a gate's scan, a visitor's
    /// details, an upload's marks): a job applying a long list of changes checks between
    /// steps and commits what it has, so the other job waits for one step, not for the whole
    /// job.
    pub fn others_waiting(&self) -> OthersWaiting {
        OthersWaiting(self.shared.clone())
    }

    /// [`Self::write`] for async callers.
    pub async fn write_async<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(f, Reply::Async(tx))?;
        rx.await.unwrap_or(Err(ReplicaError::WriteAbandoned))
    }

    fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        reply: Reply<T>,
    ) -> Result<()> {
        let job: Job = Box::new(move |conn: &mut Connection| {
            reply.send(in_transaction(conn, f));
        });
        let mut queue = self.shared.queue();
        if queue.closed {
            return Err(ReplicaError::WriterStopped);
        }
        queue.jobs.push_back(job);
        self.shared.waiting.fetch_add(1, Ordering::SeqCst);
        drop(queue);
        self.shared.wake.notify_all();
        Ok(())
    }
}

impl Drop for Store {
    /// Finishes every job already handed over, then stops both threads.
    fn drop(&mut self) {
        self.shared.queue().closed = true;
        self.shared.wake.notify_all();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        if let Some((stop, thread)) = self.checkpointer.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

/// The folder beside the database where files this build cannot read back are kept.
pub fn kept_aside_dir(db: &Path) -> PathBuf {
    db.parent().unwrap_or(Path::new(".")).join("kept-aside")
}

/// Moves files an earlier build left beside the database, which this build cannot read back,
/// into [`kept_aside_dir`]: never deleted, counted by `portico status`, kept for a technician
/// (or a later build) to look at. Today: the scan journals of builds that wrote each scan to a
/// journal file before the database (`<db>.scan-journal-<gate>`).
pub fn keep_aside_unreadable(db: &Path) {
    let (Some(dir), Some(name)) = (db.parent(), db.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let prefix = format!("{name}.scan-journal-");
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        if !file.to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let aside = kept_aside_dir(db);
        let moved = std::fs::create_dir_all(&aside)
            .and_then(|()| std::fs::rename(entry.path(), aside.join(&file)));
        match moved {
            Ok(()) => tracing::warn!(
                file = %entry.path().display(),
                kept_in = %aside.display(),
                "a scan journal from an earlier build was kept aside; this build cannot read it"
            ),
            Err(e) => tracing::error!(
                file = %entry.path().display(),
                error = %e,
                "cannot keep aside a file from an earlier build; left where it is"
            ),
        }
    }
}

/// The files kept aside beside the database, by name.
pub fn kept_aside(db: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(kept_aside_dir(db))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// One job: `f` in an `IMMEDIATE` transaction, committed when it succeeds.
fn in_transaction<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = f(&tx)?;
    tx.commit()?;
    Ok(value)
}

fn run_writer(shared: &Shared) {
    loop {
        let job = {
            let mut queue = shared.queue();
            loop {
                if queue.urgent == 0
                    && let Some(job) = queue.jobs.pop_front()
                {
                    shared.waiting.fetch_sub(1, Ordering::SeqCst);
                    break job;
                }
                if queue.closed && queue.jobs.is_empty() {
                    return;
                }
                queue = shared.wake.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        };
        let mut conn = shared.conn();
        // A job that panics (a bug) is rolled back and its caller told; the writer goes on
        // with the next.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
        if ran.is_err() {
            tracing::error!("a database write failed unexpectedly and was rolled back");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
}

fn run_checkpointer(conn: &Connection, stop: &std::sync::mpsc::Receiver<()>) {
    loop {
        let stopping = !matches!(
            stop.recv_timeout(CHECKPOINT_INTERVAL),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
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

/// What one checkpoint did, as SQLite reports it.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("device.db")).unwrap();
        store
            .write(|tx| Ok(tx.execute_batch("CREATE TABLE t (n INTEGER)")?))
            .unwrap();
        (dir, store)
    }

    fn count(store: &Store) -> i64 {
        store
            .reader()
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_job_commits_as_a_whole_or_not_at_all() {
        let (_dir, store) = store();
        store
            .write(|tx| Ok(tx.execute("INSERT INTO t VALUES (1)", [])?))
            .unwrap();
        let failed = store.write(|tx| {
            tx.execute("INSERT INTO t VALUES (2)", [])?;
            Err::<(), _>(ReplicaError::Corrupt {
                table: "t",
                detail: "the business rule said no".into(),
            })
        });
        assert!(failed.is_err());
        assert_eq!(count(&store), 1, "the failed job's row was rolled back");
    }

    #[test]
    fn readers_cannot_write() {
        let (_dir, store) = store();
        let err = store
            .reader()
            .unwrap()
            .execute("INSERT INTO t VALUES (1)", [])
            .unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
    }

    /// The rule the gate relies on: a scan waits for the job running now, never for the jobs
    /// queued behind it, and runs on its own thread.
    #[test]
    fn an_urgent_job_goes_ahead_of_every_job_still_waiting() {
        let (_dir, store) = store();
        let store = Arc::new(store);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Mutex::new(released);
        // A long job holds the writer…
        let first = {
            let (store, order) = (store.clone(), order.clone());
            std::thread::spawn(move || {
                store
                    .write(move |_| {
                        started_tx.send(()).unwrap();
                        released.lock().unwrap().recv().unwrap();
                        order.lock().unwrap().push("long job");
                        Ok(())
                    })
                    .unwrap()
            })
        };
        started.recv().unwrap();
        // …while five more wait, and then a scan comes.
        let waiting: Vec<_> = (0..5)
            .map(|i| {
                let (store, order) = (store.clone(), order.clone());
                let t = std::thread::spawn(move || {
                    store
                        .write(move |_| {
                            order.lock().unwrap().push("queued job");
                            Ok(i)
                        })
                        .unwrap()
                });
                std::thread::sleep(Duration::from_millis(20));
                t
            })
            .collect();
        let scan = {
            let (store, order) = (store.clone(), order.clone());
            std::thread::spawn(move || {
                let here = std::thread::current().id();
                store
                    .write_urgent(move |_| {
                        assert_eq!(std::thread::current().id(), here);
                        order.lock().unwrap().push("scan");
                        Ok(())
                    })
                    .unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        release.send(()).unwrap();
        first.join().unwrap();
        scan.join().unwrap();
        for t in waiting {
            t.join().unwrap();
        }
        let order = order.lock().unwrap();
        assert_eq!(order[..2], ["long job", "scan"], "{order:?}");
        assert_eq!(order.len(), 7);
    }

    /// A long job can tell when anything else waits for the writer (a queued job or an urgent
    /// one), so it can commit and let it in; with nobody waiting it is told so.
    #[test]
    fn a_long_job_sees_when_another_write_waits() {
        for urgent in [false, true] {
            let (_dir, store) = store();
            let store = Arc::new(store);
            let others = store.others_waiting();
            assert!(!others.now(), "nobody waits on an idle writer");
            let (seen_tx, seen) = std::sync::mpsc::channel();
            let long = {
                let (store, others) = (store.clone(), others.clone());
                std::thread::spawn(move || {
                    store
                        .write(move |_| {
                            seen_tx.send(others.now()).unwrap();
                            let until = Instant::now() + Duration::from_secs(10);
                            while !others.now() && Instant::now() < until {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            seen_tx.send(others.now()).unwrap();
                            Ok(())
                        })
                        .unwrap()
                })
            };
            assert!(
                !seen.recv().unwrap(),
                "alone, the long job sees nobody waiting"
            );
            let other = {
                let store = store.clone();
                std::thread::spawn(move || {
                    let job =
                        |tx: &Transaction<'_>| Ok(tx.execute("INSERT INTO t VALUES (2)", [])?);
                    if urgent {
                        store.write_urgent(job)
                    } else {
                        store.write(job)
                    }
                    .unwrap()
                })
            };
            assert!(
                seen.recv().unwrap(),
                "urgent={urgent}: the long job sees the other write"
            );
            long.join().unwrap();
            other.join().unwrap();
            assert!(
                !others.now(),
                "urgent={urgent}: nobody waits once both are done"
            );
        }
    }

    #[test]
    fn jobs_handed_over_before_the_store_closes_are_all_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        {
            let store = Arc::new(Store::open(&path).unwrap());
            store
                .write(|tx| Ok(tx.execute_batch("CREATE TABLE t (n INTEGER)")?))
                .unwrap();
            let rxs: Vec<_> = (0..50)
                .map(|i| {
                    let (tx, rx) = std::sync::mpsc::sync_channel(1);
                    store
                        .submit(
                            move |t: &Transaction<'_>| {
                                Ok(t.execute("INSERT INTO t VALUES (?1)", [i])?)
                            },
                            Reply::Blocking(tx),
                        )
                        .unwrap();
                    rx
                })
                .collect();
            drop(Arc::into_inner(store));
            for rx in rxs {
                assert_eq!(rx.recv().unwrap().unwrap(), 1);
            }
        }
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 50);
    }

    #[test]
    fn an_earlier_builds_scan_journal_is_kept_aside_and_counted_never_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("portico.db");
        std::fs::write(dir.path().join("portico.db.scan-journal-North"), b"records").unwrap();
        std::fs::write(dir.path().join("other.db.scan-journal-North"), b"not ours").unwrap();
        drop(Store::open(&db).unwrap());
        assert_eq!(kept_aside(&db), ["portico.db.scan-journal-North"]);
        assert_eq!(
            std::fs::read(kept_aside_dir(&db).join("portico.db.scan-journal-North")).unwrap(),
            b"records"
        );
        assert!(dir.path().join("other.db.scan-journal-North").exists());
        assert!(!dir.path().join("portico.db.scan-journal-North").exists());
    }

    #[test]
    fn the_writer_never_checkpoints_in_a_commit_and_the_checkpointer_does() {
        let (dir, store) = store();
        let path = dir.path().join("device.db");
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        for _ in 0..50 {
            store
                .write(|tx| Ok(tx.execute("INSERT INTO t VALUES (length(randomblob(4000)))", [])?))
                .unwrap();
        }
        store
            .write(|tx| {
                Ok(tx.execute_batch("CREATE TABLE filler (x BLOB); INSERT INTO filler SELECT randomblob(4000) FROM t")?)
            })
            .unwrap();
        assert!(size() < before + 100_000, "a commit checkpointed");
        let deadline = Instant::now() + CHECKPOINT_INTERVAL * 5;
        while size() < before + 150_000 {
            assert!(Instant::now() < deadline, "WAL not copied back in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
