//! The durable outbox: everything that must reach the hub (orders, new constituents, scans,
//! timesheets, …) waits here until the hub has answered for it.
//!
//! A business row and its outbox row are written in the same transaction by the caller
//! ([`enqueue`] takes the open transaction), so a decision is never recorded without its
//! upload, nor uploaded without being recorded. Rows are never deleted on failure: a row the
//! hub rejects is dead-lettered with the reason and stays visible to technicians.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

pub use portico_core::protocol::kinds;
use portico_core::upstream::Upstream;

/// The outbox lives in the device database; its errors are the database's.
pub use crate::replica::{ReplicaError as OutboxError, Result};

/// A row as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub version: u32,
    pub payload: String,
    pub idempotency_key: String,
    pub created_at_ms: i64,
    pub attempts: u32,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    pub state: String,
    pub dead_reason: Option<String>,
}

/// Depth of the queue, for status displays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OutboxStats {
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
    /// Creation time of the oldest pending row (unix ms).
    pub oldest_pending_ms: Option<i64>,
}

/// Queues an upstream row inside the caller's transaction (the payload types are the core's
/// [`portico_core::upstream`], which the hub decodes). The idempotency key is made here, once,
/// so every retry of this row carries the same key. Returns the key.
pub fn enqueue(tx: &Connection, row: &Upstream, now_ms: i64) -> Result<String> {
    let row = Queued::new(row, now_ms)?;
    row.insert(tx)?;
    Ok(row.idempotency_key)
}

/// Queues a row of any kind and payload as given, for rows made outside this build's payload
/// types: tests of what the hub does with them, and tools. The device itself queues
/// [`Upstream`] rows ([`enqueue`]).
pub fn enqueue_raw<T: Serialize>(
    tx: &Connection,
    kind: (&str, u32),
    payload: &T,
    now_ms: i64,
) -> Result<String> {
    let row = Queued {
        kind: kind.0.to_owned(),
        version: kind.1,
        idempotency_key: uuid::Uuid::now_v7().to_string(),
        payload: serde_json::to_string(payload)?,
        created_at_ms: now_ms,
    };
    row.insert(tx)?;
    Ok(row.idempotency_key)
}

/// An outbox row made ready (key chosen, payload encoded) before its transaction opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub kind: String,
    pub version: u32,
    pub idempotency_key: String,
    pub payload: String,
    pub created_at_ms: i64,
}

impl Queued {
    /// A new row for `row`, with a fresh idempotency key.
    pub fn new(row: &Upstream, now_ms: i64) -> Result<Self> {
        let (kind, version) = row.kind();
        Ok(Self {
            kind: kind.to_owned(),
            version,
            idempotency_key: uuid::Uuid::now_v7().to_string(),
            payload: row.to_json()?,
            created_at_ms: now_ms,
        })
    }

    /// Inserts the row inside the caller's transaction.
    pub fn insert(&self, tx: &Connection) -> Result<()> {
        tx.prepare_cached(
            "INSERT INTO outbox (kind, version, payload, idempotency_key, created_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )?
        .execute(params![
            self.kind,
            self.version,
            self.payload,
            self.idempotency_key,
            self.created_at_ms
        ])?;
        Ok(())
    }
}

const COLUMNS: &str = "id, kind, version, payload, idempotency_key, created_at, attempts,
    next_attempt_at, last_error, state, dead_reason";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        version: r.get(2)?,
        payload: r.get(3)?,
        idempotency_key: r.get(4)?,
        created_at_ms: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at_ms: r.get(7)?,
        last_error: r.get(8)?,
        state: r.get(9)?,
        dead_reason: r.get(10)?,
    })
}

/// Pending rows whose next attempt is due, oldest first.
pub fn due(conn: &Connection, now_ms: i64, limit: usize) -> Result<Vec<OutboxRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1
         ORDER BY id LIMIT ?2"
    ))?;
    let rows = st
        .query_map(params![now_ms, limit as i64], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// When the next pending row becomes due, if any.
pub fn next_due_ms(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?)
}

pub fn get(conn: &Connection, idempotency_key: &str) -> Result<Option<OutboxRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE idempotency_key = ?1"
        ))?
        .query_row([idempotency_key], row)
        .optional()?)
}

pub fn mark_delivered(conn: &Connection, id: i64, now_ms: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'delivered', delivered_at = ?2, last_error = NULL,
         attempts = attempts + 1 WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![id, now_ms])?;
    Ok(())
}

/// The hub will never accept this row as sent: keep it, out of the queue, with the reason.
pub fn mark_dead(conn: &Connection, id: i64, reason: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'dead', dead_reason = ?2, last_error = ?2,
         attempts = attempts + 1 WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![id, reason])?;
    Ok(())
}

/// A transient failure: try again at `next_attempt_at_ms`.
pub fn mark_retry(conn: &Connection, id: i64, next_attempt_at_ms: i64, error: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
         WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![id, next_attempt_at_ms, error])?;
    Ok(())
}

/// Puts a dead-lettered row back in the queue (a technician's decision after fixing the
/// cause): due at once, its attempts counted from zero again so the backoff starts short. The
/// reason it was dead-lettered stays as its last error until the next attempt.
pub fn requeue_dead(conn: &Connection, id: i64, now_ms: i64) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET state = 'pending', dead_reason = NULL, next_attempt_at = ?2,
             attempts = 0 WHERE id = ?1 AND state = 'dead'",
        )?
        .execute(params![id, now_ms])?;
    Ok(n == 1)
}

/// Which rows a technician lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Listing {
    /// Pending and dead-lettered rows: everything the hub has not yet taken.
    Undelivered,
    Pending,
    Dead,
    Delivered,
    All,
}

impl Listing {
    pub const NAMES: [&'static str; 5] = ["undelivered", "pending", "dead", "delivered", "all"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "undelivered" => Listing::Undelivered,
            "pending" => Listing::Pending,
            "dead" => Listing::Dead,
            "delivered" => Listing::Delivered,
            "all" => Listing::All,
            _ => return None,
        })
    }

    fn states(self) -> &'static [&'static str] {
        match self {
            Listing::Undelivered => &["pending", "dead"],
            Listing::Pending => &["pending"],
            Listing::Dead => &["dead"],
            Listing::Delivered => &["delivered"],
            Listing::All => &["pending", "dead", "delivered"],
        }
    }
}

/// A row as a technician sees it: everything but the payload, which holds visitors' personal
/// details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ListedRow {
    pub id: i64,
    pub kind: String,
    pub version: u32,
    pub state: String,
    pub idempotency_key: String,
    pub created_at_ms: i64,
    pub attempts: u32,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    pub dead_reason: Option<String>,
}

impl From<OutboxRow> for ListedRow {
    fn from(r: OutboxRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            version: r.version,
            state: r.state,
            idempotency_key: r.idempotency_key,
            created_at_ms: r.created_at_ms,
            attempts: r.attempts,
            next_attempt_at_ms: r.next_attempt_at_ms,
            last_error: r.last_error,
            dead_reason: r.dead_reason,
        }
    }
}

/// Rows in `listing`, oldest first, at most `limit`.
pub fn list(conn: &Connection, listing: Listing, limit: usize) -> Result<Vec<ListedRow>> {
    let states = listing.states();
    let placeholders = (0..states.len())
        .map(|i| format!("?{}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE state IN ({placeholders}) ORDER BY id LIMIT ?1"
    ))?;
    let mut args = vec![rusqlite::types::Value::Integer(limit as i64)];
    args.extend(
        states
            .iter()
            .map(|s| rusqlite::types::Value::Text((*s).to_owned())),
    );
    let rows = st
        .query_map(rusqlite::params_from_iter(args), row)?
        .map(|r| r.map(ListedRow::from))
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Which dead letters a technician puts back in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requeue {
    Ids(Vec<i64>),
    AllDead,
}

/// What a re-queue did: the rows put back, the ids asked for that are not dead letters
/// (pending or delivered; left as they were), and the ids of no row at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Requeued {
    pub requeued: Vec<ListedRow>,
    pub not_dead: Vec<i64>,
    #[serde(default)]
    pub missing: Vec<i64>,
}

/// Puts dead letters back in the queue, inside the caller's transaction, logging each change.
pub fn requeue(tx: &Connection, which: &Requeue, now_ms: i64) -> Result<Requeued> {
    let ids: Vec<i64> = match which {
        Requeue::Ids(ids) => ids.clone(),
        Requeue::AllDead => tx
            .prepare("SELECT id FROM outbox WHERE state = 'dead' ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?,
    };
    let mut out = Requeued::default();
    for id in ids {
        let before = tx
            .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"))?
            .query_row([id], row)
            .optional()?;
        match before {
            Some(r) if r.state == "dead" && requeue_dead(tx, id, now_ms)? => {
                tracing::info!(
                    id,
                    kind = %r.kind,
                    idempotency_key = %r.idempotency_key,
                    dead_reason = r.dead_reason.as_deref().unwrap_or(""),
                    attempts = r.attempts,
                    "dead letter re-queued by a technician"
                );
                out.requeued.push(ListedRow {
                    state: "pending".into(),
                    attempts: 0,
                    next_attempt_at_ms: now_ms,
                    ..ListedRow::from(r)
                });
            }
            Some(_) => out.not_dead.push(id),
            None => out.missing.push(id),
        }
    }
    Ok(out)
}

pub fn dead_letters(conn: &Connection, limit: usize) -> Result<Vec<OutboxRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE state = 'dead' ORDER BY id LIMIT ?1"
    ))?;
    let rows = st
        .query_map([limit as i64], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Rows waiting to go upstream (an index range, unlike [`stats`], which counts every state).
pub fn pending_count(conn: &Connection) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE state = 'pending'")?
        .query_row([], |r| r.get::<_, i64>(0))? as u64)
}

pub fn stats(conn: &Connection) -> Result<OutboxStats> {
    let mut s = OutboxStats::default();
    let mut st = conn.prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let n = r.get::<_, i64>(1)? as u64;
        match r.get_ref(0)?.as_str().unwrap_or("") {
            "pending" => s.pending = n,
            "delivered" => s.delivered = n,
            "dead" => s.dead = n,
            _ => {}
        }
    }
    s.oldest_pending_ms = conn
        .prepare_cached("SELECT min(created_at) FROM outbox WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?;
    Ok(s)
}

/// Deletes delivered rows older than `before_ms` (pending and dead rows are never pruned).
pub fn prune_delivered(conn: &Connection, before_ms: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < ?1")?
        .execute([before_ms])?)
}

/// Rewrites references to constituent `from` as `to` in the payloads of rows not yet
/// delivered (pending, or dead-lettered and waiting for a technician): every JSON string equal
/// to `from`, or to a use key `lookup:<from>` / `constituent:<from>`. Returns how many rows
/// changed. Delivered rows are history and are left alone.
pub fn rewrite_references(tx: &Connection, from: &str, to: &str) -> Result<usize> {
    if from.is_empty() || from == to {
        return Ok(0);
    }
    let rows: Vec<(i64, String)> = tx
        .prepare_cached(
            "SELECT id, payload FROM outbox WHERE state IN ('pending', 'dead') AND instr(payload, ?1) > 0",
        )?
        .query_map([from], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut changed = 0;
    for (id, text) in rows {
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue; // dead-lettered when it is sent; nothing to rewrite in it
        };
        if rewrite_value(&mut value, from, to) {
            tx.prepare_cached("UPDATE outbox SET payload = ?2 WHERE id = ?1")?
                .execute(params![id, serde_json::to_string(&value)?])?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Replaces `from` (alone or after a `lookup:` / `constituent:` prefix) in every string of
/// `value`; true when something changed.
fn rewrite_value(value: &mut serde_json::Value, from: &str, to: &str) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            let replaced = if s == from {
                Some(to.to_owned())
            } else {
                ["lookup:", "constituent:"].iter().find_map(|prefix| {
                    (s.strip_prefix(prefix) == Some(from)).then(|| format!("{prefix}{to}"))
                })
            };
            match replaced {
                Some(new) => {
                    *s = new;
                    true
                }
                None => false,
            }
        }
        // Every element is visited (no short-circuit): all references are rewritten.
        Value::Array(items) => {
            let mut changed = false;
            for v in items {
                changed |= rewrite_value(v, from, to);
            }
            changed
        }
        Value::Object(map) => {
            let mut changed = false;
            for v in map.values_mut() {
                changed |= rewrite_value(v, from, to);
            }
            changed
        }
        _ => false,
    }
}

pub use portico_core::backoff::Backoff;

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::replica::open(&dir.path().join("d.db")).unwrap();
        (dir, conn)
    }

    #[test]
    fn enqueue_due_and_outcomes() {
        let (_d, conn) = db();
        let k1 = enqueue_raw(&conn, kinds::SCAN, &serde_json::json!({"n": 1}), 1_000).unwrap();
        let k2 = enqueue_raw(&conn, kinds::ORDER, &serde_json::json!({"n": 2}), 2_000).unwrap();
        assert_ne!(k1, k2);
        assert_eq!(due(&conn, 1_500, 10).unwrap().len(), 1);
        let rows = due(&conn, 5_000, 10).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
            ["scan", "order"]
        );

        mark_retry(&conn, rows[0].id, 9_000, "connection refused").unwrap();
        mark_dead(&conn, rows[1].id, "HTTP 422: unknown product").unwrap();
        assert!(due(&conn, 5_000, 10).unwrap().is_empty());
        let retry = get(&conn, &k1).unwrap().unwrap();
        assert_eq!((retry.attempts, retry.state.as_str()), (1, "pending"));
        assert_eq!(retry.last_error.as_deref(), Some("connection refused"));
        assert_eq!(next_due_ms(&conn).unwrap(), Some(9_000));

        let dead = dead_letters(&conn, 10).unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            dead[0].dead_reason.as_deref(),
            Some("HTTP 422: unknown product")
        );

        mark_delivered(&conn, retry.id, 10_000).unwrap();
        let s = stats(&conn).unwrap();
        assert_eq!((s.pending, s.delivered, s.dead), (0, 1, 1));
        assert_eq!(pending_count(&conn).unwrap(), 0);
        assert_eq!(prune_delivered(&conn, 10_001).unwrap(), 1);
        // Dead rows are never pruned, and can be put back by a technician.
        assert_eq!(stats(&conn).unwrap().dead, 1);
        assert!(requeue_dead(&conn, dead[0].id, 20_000).unwrap());
        assert_eq!(stats(&conn).unwrap().pending, 1);
        assert_eq!(pending_count(&conn).unwrap(), 1);
    }

    #[test]
    fn references_are_rewritten_in_rows_not_yet_delivered_only() {
        let (_d, conn) = db();
        let body = serde_json::json!({"visitor": "L-1", "credential": "lookup:L-1",
            "lines": [{"holder": "constituent:L-1"}], "other": "L-10", "n": 3});
        let pending = enqueue_raw(&conn, kinds::ORDER, &body, 0).unwrap();
        let done = enqueue_raw(&conn, kinds::ORDER, &body, 0).unwrap();
        let done_id = get(&conn, &done).unwrap().unwrap().id;
        mark_delivered(&conn, done_id, 1).unwrap();
        assert_eq!(rewrite_references(&conn, "L-1", "8-5").unwrap(), 1);
        let got: serde_json::Value =
            serde_json::from_str(&get(&conn, &pending).unwrap().unwrap().payload).unwrap();
        assert_eq!(
            got,
            serde_json::json!({"visitor": "8-5", "credential": "lookup:8-5",
                "lines": [{"holder": "constituent:8-5"}], "other": "L-10", "n": 3})
        );
        let untouched: serde_json::Value =
            serde_json::from_str(&get(&conn, &done).unwrap().unwrap().payload).unwrap();
        assert_eq!(untouched, body);
    }

    #[test]
    fn a_row_enqueued_in_a_rolled_back_transaction_is_not_queued() {
        let (_d, mut conn) = db();
        {
            let tx = conn.transaction().unwrap();
            enqueue_raw(&tx, kinds::SCAN, &1, 0).unwrap();
            // dropped: rolled back with the business row it belonged to
        }
        assert_eq!(stats(&conn).unwrap().pending, 0);
    }
}
