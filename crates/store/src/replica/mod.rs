//! The device's SQLite database: the read-only replica of the CRM, the sync cursors and the
//! outbox, in one file so a business row and its outbox row commit together.
//!
//! Every connection runs in WAL mode with `synchronous=FULL`: a committed transaction survives
//! power loss, and readers (the gate's lookups) never wait for the sync's writer.

mod apply;
pub mod catalog;
mod query;
pub mod schema;
pub mod search;
pub mod store;
pub mod volunteer;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use apply::{Applier, ApplyStats, cursor, purge_merged, set_cursor, set_state, state};
pub use apply::{KINDS, child_rows};
pub use query::{
    ReplicaCounts, Resolved, constituent, constituent_name, counts, lookup_ids, membership,
    memberships_of, resolve, ticket,
};
pub use store::{OthersWaiting, Store, checkpoint};

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database {path} is at schema version {found}, newer than this build knows ({known})")]
    TooNew {
        path: String,
        found: u32,
        known: u32,
    },
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("could not encode a record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("the database write was abandoned (the log says why); nothing of it was kept")]
    WriteAbandoned,
    #[error("cannot start {0}")]
    Thread(&'static str, #[source] std::io::Error),
}

impl ReplicaError {
    /// The disk is full (SQLite could not grow the database or its WAL).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, ReplicaError::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
    }

    /// Another process holds the database's write lock beyond the wait.
    pub fn is_busy(&self) -> bool {
        matches!(self, ReplicaError::Sqlite(e) if matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        ))
    }
}

pub type Result<T> = std::result::Result<T, ReplicaError>;

/// Opens (creating if needed) the device database, sets the durability pragmas and runs any
/// pending migrations. A running device writes only through its [`Store`]'s writer; other
/// connections (tools, readers) open the file this way.
pub fn open(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags)?;
    configure(&mut conn)?;
    migrate(&conn, path)?;
    Ok(conn)
}

/// WAL, `synchronous=FULL`, a busy timeout, and a page cache bounded for a small device.
///
/// Writers must begin with `BEGIN IMMEDIATE` (`TransactionBehavior::Immediate`): a deferred
/// transaction that reads before it writes cannot wait for another writer and fails at once
/// with "database is locked" when one committed in between.
pub fn configure(conn: &mut Connection) -> Result<()> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(ReplicaError::Corrupt {
            table: "pragma",
            detail: format!("journal_mode stayed {mode}"),
        });
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A WAL that grew during a large sync is trimmed back to 64 MiB when it starts over.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    // 16 MiB of page cache (negative = KiB).
    conn.pragma_update(None, "cache_size", -16_384)?;
    // Another process (a technician's command while the device runs) may hold the write lock
    // for a moment.
    conn.busy_timeout(LOCK_WAIT)?;
    keep_statements_prepared(conn)?;
    // The feed writer alone cycles through ~25 statements; the default cache of 16 would
    // re-prepare them on every record.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Keeps a cached statement's plan across bindings.
///
/// SQLite marks a statement for re-preparing when a bound value might change its plan (a
/// term on an unindexed column compared with a parameter that could be 0 or 1, a `LIKE`
/// pattern, a `STAT4` sample), and `sqlite3_clear_bindings`, which the statement cache calls
/// whenever a statement goes back into it, then re-prepares it on its next use, whatever the
/// new value. A gate's membership lookup (`ORDER BY position`) was parsed and planned again
/// on every scan. The replica keeps no `ANALYZE` statistics and binds no `LIKE` patterns, so
/// the query planner's stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`) costs no plan.
pub fn keep_statements_prepared(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = schema::MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(ReplicaError::TooNew {
            path: path.display().to_string(),
            found: current,
            known,
        });
    }
    if current > 0 && current < known {
        // An existing replica: a migration that rebuilds a table copies all of its rows.
        tracing::info!(
            from = current,
            to = known,
            "migrating the replica's schema; on a large replica this takes a while"
        );
    }
    for (version, sql) in schema::MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "replica schema migrated");
    }
    Ok(())
}

/// How long a connection waits for another's write transaction before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Keeps aside, inside the caller's transaction, a record this build cannot read back: `what`
/// names it, `reason` says why, `content` is the record as found. Never dropped; `portico
/// status` lists it.
pub fn keep_aside(
    tx: &Connection,
    what: &str,
    reason: &str,
    content: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    tracing::warn!(
        what,
        reason,
        "a record this build cannot read was kept aside"
    );
    tx.prepare_cached(
        "INSERT INTO kept_aside (what, reason, content, kept_at_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(rusqlite::params![what, reason, content, now_ms])?;
    Ok(())
}

/// What is kept aside in the database, one line each (`what: reason`), oldest first.
pub fn kept_aside_records(conn: &Connection) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached("SELECT what, reason FROM kept_aside ORDER BY id")?
        .query_map([], |r| {
            Ok(format!(
                "{}: {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?
            ))
        })?
        .collect::<rusqlite::Result<_>>()?)
}

/// The database file and the two SQLite keeps beside it in WAL mode: `[db, db-wal, db-shm]`.
pub fn database_files(db: &Path) -> [std::path::PathBuf; 3] {
    ["", "-wal", "-shm"].map(|suffix| {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        p.into()
    })
}

/// Whether the database has a table called `name` (tables some roles create on first use,
/// such as a gate's scan log).
pub fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .query_row([name], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Reads a pragma as text (for diagnostics and tests).
pub fn pragma_text(conn: &Connection, name: &str) -> Result<String> {
    Ok(conn.pragma_query_value(None, name, |r| {
        Ok(match r.get_ref(0)? {
            rusqlite::types::ValueRef::Integer(i) => i.to_string(),
            rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            other => format!("{other:?}"),
        })
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sets_wal_and_full_sync_and_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let conn = open(&path).unwrap();
        assert_eq!(pragma_text(&conn, "journal_mode").unwrap(), "wal");
        // FULL = 2
        assert_eq!(pragma_text(&conn, "synchronous").unwrap(), "2");
        let latest = schema::MIGRATIONS.last().unwrap().0.to_string();
        assert_eq!(pragma_text(&conn, "user_version").unwrap(), latest);
        drop(conn);
        // Re-opening does not re-run migrations (they would fail on existing tables).
        let conn = open(&path).unwrap();
        assert_eq!(pragma_text(&conn, "user_version").unwrap(), latest);
    }

    #[test]
    fn a_cached_lookup_is_prepared_once_not_on_every_binding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let ids: Vec<String> = (0..20).map(|i| format!("M-{i}")).collect();
        {
            let conn = open(&path).unwrap();
            for id in &ids {
                conn.execute(
                    "INSERT INTO memberships (membership_id, level, status, start_date,
                         expiry_date, guest_allowance)
                     VALUES (?1, 'Family', 'active', '2026-01-01', '2027-01-01', 2)",
                    [id],
                )
                .unwrap();
                for position in 0..2 {
                    conn.execute(
                        "INSERT INTO membership_members (membership_id, lookup_id, position)
                         VALUES (?1, ?2, ?3)",
                        rusqlite::params![id, format!("8-{id}-{position}"), position],
                    )
                    .unwrap();
                }
            }
        }
        // How often the gate's member lookup was prepared again after its first use.
        let reprepares = |conn: &Connection| {
            for id in &ids {
                let m = query::membership(conn, id).unwrap().unwrap();
                assert_eq!(m.members[0], format!("8-{id}-0"));
            }
            conn.prepare_cached(query::MEMBERS_SQL)
                .unwrap()
                .get_status(rusqlite::StatementStatus::RePrepare)
        };
        // SQLite's default: the statement cache clears the bindings of each statement given
        // back to it, and this statement is then parsed and planned again on its next use.
        let plain = Connection::open(&path).unwrap();
        assert_eq!(reprepares(&plain), ids.len() as i32 - 1);
        // The device's connections keep the plan.
        assert_eq!(reprepares(&open(&path).unwrap()), 0);
    }

    #[test]
    fn a_v1_replica_keeps_its_contacts_in_order_when_clustered_by_constituent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(schema::V1).unwrap();
            conn.execute_batch(
                "INSERT INTO constituents (id, lookup_id, first_name, last_name, first_norm,
                     last_norm, status) VALUES (1, '8-1', 'Ada', 'Byron', 'ada', 'byron', 'active'),
                     (2, '8-2', 'Alan', 'Turing', 'alan', 'turing', 'active');
                 INSERT INTO emails (constituent_id, address, kind, is_primary, active, address_norm)
                     VALUES (2, 'alan@bletchley.uk', 'Work', 1, 1, 'alan@bletchley.uk'),
                            (1, 'ada@analytical.uk', 'Home', 1, 1, 'ada@analytical.uk'),
                            (2, 'turing@manchester.uk', 'Home', 0, 1, 'turing@manchester.uk');
                 INSERT INTO phones (constituent_id, number, kind, is_primary, active, number_norm)
                     VALUES (1, '020 7946 0000', 'Home', 1, 1, '+442079460000');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let conn = open(&path).unwrap();
        let rows: Vec<(i64, i64, String)> = conn
            .prepare("SELECT constituent_id, position, address FROM emails")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (1, 0, "ada@analytical.uk".to_owned()),
                (2, 0, "alan@bletchley.uk".to_owned()),
                (2, 1, "turing@manchester.uk".to_owned()),
            ]
        );
        let c = query::constituent(&conn, "8-2").unwrap().unwrap();
        let emails: Vec<&str> = c.emails.iter().map(|e| e.address.as_str()).collect();
        assert_eq!(emails, ["alan@bletchley.uk", "turing@manchester.uk"]);
        let by_phone: i64 = conn
            .query_row(
                "SELECT constituent_id FROM phones WHERE number_norm = '+442079460000'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(by_phone, 1);
    }

    #[test]
    fn a_v3_replica_keeps_its_tickets_and_memberships_when_clustered_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        {
            let conn = Connection::open(&path).unwrap();
            for (_, sql) in schema::MIGRATIONS.iter().filter(|m| m.0 <= 3) {
                conn.execute_batch(sql).unwrap();
            }
            conn.execute_batch(
                "INSERT INTO tickets (secret, product_id, validity, valid_date, uses_allowed,
                     status, holder)
                     VALUES ('TK-B', 'day', 'date', '2026-11-23', 2, 'valid', '8-1'),
                            ('TK-A', 'day', 'open', NULL, 1, 'valid', NULL);
                 INSERT INTO memberships (membership_id, level, status, start_date, expiry_date,
                     guest_allowance)
                     VALUES ('M-1', 'Family', 'active', '2026-01-01', '2027-01-01', 2);
                 INSERT INTO membership_members (membership_id, lookup_id, position)
                     VALUES ('M-1', '8-2', 1), ('M-1', '8-1', 0);
                 PRAGMA user_version = 3;",
            )
            .unwrap();
        }
        let conn = open(&path).unwrap();
        // Each of the three is one b-tree now: a `WITHOUT ROWID` table has no rowid to select.
        for table in ["tickets", "memberships", "membership_members"] {
            let err = conn
                .prepare(&format!("SELECT rowid FROM {table}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("no such column: rowid"), "{table}: {err}");
        }
        let t = query::ticket(&conn, "TK-B").unwrap().unwrap();
        assert_eq!(
            (t.product_id.as_str(), t.uses_allowed, t.holder.as_deref()),
            ("day", 2, Some("8-1"))
        );
        assert!(query::ticket(&conn, "TK-A").unwrap().is_some());
        let m = query::membership(&conn, "M-1").unwrap().unwrap();
        assert_eq!((m.level.as_str(), m.guest_allowance), ("Family", 2));
        assert_eq!(m.members, ["8-1", "8-2"]);
        // The members' own index came across too.
        let of = query::memberships_of(&conn, "8-2").unwrap();
        assert_eq!(of.len(), 1);
    }

    /// A full disk and a database another process holds are told apart (the station retries
    /// both, the status and logs say which).
    #[test]
    fn a_full_disk_and_a_busy_database_read_differently() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let conn = open(&path).unwrap();
        conn.execute_batch("CREATE TABLE filler (x BLOB)").unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        // No room for another page, as on a full disk.
        conn.pragma_update(None, "max_page_count", pages).unwrap();
        let full: ReplicaError = conn
            .execute("INSERT INTO filler VALUES (randomblob(100000))", [])
            .unwrap_err()
            .into();
        assert!(full.is_disk_full() && !full.is_busy(), "{full}");

        let mut holder = open(&path).unwrap();
        let held = holder
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        let other = open(&path).unwrap();
        other.busy_timeout(Duration::from_millis(10)).unwrap();
        let busy: ReplicaError = other.execute_batch("BEGIN IMMEDIATE").unwrap_err().into();
        assert!(busy.is_busy() && !busy.is_disk_full(), "{busy}");
        assert_ne!(full.to_string(), busy.to_string());
        drop(held);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = open(&path).unwrap_err();
        assert!(
            matches!(err, ReplicaError::TooNew { found: 99, .. }),
            "{err}"
        );
    }
}
