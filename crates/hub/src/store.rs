//! The reference hub's store: a SQLite database holding every resource as JSON documents in one
//! change-ordered table, the registered devices, and the rows devices uploaded.
//!
//! Ordering: every write takes the next value of one hub-wide sequence and stamps it on each
//! record it changes. SQLite has one writer at a time, so sequence numbers become visible in
//! commit order, and a reader paging by `seq > cursor` can never skip a change that commits
//! later with a smaller number. A record changed again moves to the end of the feed with a new
//! number; the feed carries each record's current state, not its history.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use portico_core::domain::ConstituentStatus;
use portico_core::protocol::{
    ConstituentDto, MembershipDto, MergeDto, Parts, Resource, RowResult, RowStatus, UploadRow,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("hub database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("hub document error: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS hub_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    resource TEXT NOT NULL,
    key      TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    deleted  INTEGER NOT NULL DEFAULT 0,
    doc      TEXT,
    -- Constituents: the seq at which each part last changed (see `part_seqs`).
    parts    TEXT,
    PRIMARY KEY (resource, key)
);
CREATE UNIQUE INDEX IF NOT EXISTS records_feed ON records(resource, seq);
CREATE TABLE IF NOT EXISTS devices (
    device_id    TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS inbox (
    idempotency_key TEXT PRIMARY KEY,
    device_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    version         INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    received_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_kind ON inbox(kind);
CREATE TABLE IF NOT EXISTS jobs (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS membership_members (
    lookup_id     TEXT NOT NULL,
    membership_id TEXT NOT NULL,
    PRIMARY KEY (lookup_id, membership_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS membership_members_by_membership ON membership_members(membership_id);
"#;

/// One page read from the feed, with the documents as stored (not re-encoded).
#[derive(Debug, Clone)]
pub struct RawPage {
    pub entries: Vec<RawEntry>,
    pub last_seq: Option<i64>,
    pub has_more: bool,
    pub remaining: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct RawEntry {
    pub seq: i64,
    pub key: String,
    /// `None` for a deletion.
    pub doc: Option<String>,
    /// Constituents: the seq at which each part last changed (`records.parts`).
    pub parts: Option<String>,
}

/// The hub's database. One writer connection; readers opened on demand and pooled.
pub struct HubStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    let _: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.set_prepared_statement_cache_capacity(64);
    // A cached statement keeps its plan across bindings (see the device store's
    // `keep_statements_prepared`).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl HubStore {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = open_conn(path)?;
        conn.execute_batch(SCHEMA)?;
        // Stores made before records carried their part seqs gain the column; their records
        // get part seqs at their next change and are annotated as wholly changed until then.
        let has_parts: bool = conn.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('records') WHERE name = 'parts'",
            [],
            |r| r.get(0),
        )?;
        if !has_parts {
            conn.execute_batch("ALTER TABLE records ADD COLUMN parts TEXT")?;
        }
        conn.execute_batch(super::find_membership::SCHEMA)?;
        conn.execute_batch(super::intake::SCHEMA)?;
        conn.execute_batch(super::leases::SCHEMA)?;
        super::leases::upgrade(&conn)?;
        conn.execute_batch(super::keys::SCHEMA)?;
        conn.execute_batch(super::orders::SCHEMA)?;
        conn.execute_batch(super::refunds::SCHEMA)?;
        conn.execute_batch(super::volunteers::SCHEMA)?;
        conn.execute_batch(super::fleet::SCHEMA)?;
        conn.execute(
            "INSERT OR IGNORE INTO hub_meta (key, value) VALUES ('seq', '0'), ('hub_id', ?1)",
            [format!(
                "hub-{}",
                &uuid::Uuid::now_v7().simple().to_string()[..12]
            )],
        )?;
        Ok(Self {
            path: path.to_owned(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled read connection.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let out = f(&conn);
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        out
    }

    /// Bulk loading (seeding): commits stop waiting for the disk until [`HubStore::bulk`] is
    /// turned off again. A crash during a bulk load loses the load, never corrupts the store.
    pub fn bulk(&self, on: bool) -> Result<()> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.pragma_update(None, "synchronous", if on { "OFF" } else { "FULL" })?;
        if !on {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Runs `f` in a write transaction; `Seq` hands out feed sequence numbers.
    pub fn write<T>(&self, f: impl FnOnce(&Connection, &mut Seq) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let start: i64 = tx
            .query_row("SELECT value FROM hub_meta WHERE key = 'seq'", [], |r| {
                r.get::<_, String>(0)
            })?
            .parse()
            .map_err(|_| StoreError::Invalid("corrupt sequence".into()))?;
        let mut seq = Seq { next: start + 1 };
        let out = f(&tx, &mut seq)?;
        tx.execute(
            "UPDATE hub_meta SET value = ?1 WHERE key = 'seq'",
            [(seq.next - 1).to_string()],
        )?;
        tx.commit()?;
        Ok(out)
    }

    pub fn hub_id(&self) -> Result<String> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM hub_meta WHERE key = 'hub_id'", [], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    // ----- devices -----

    /// Registers (or re-keys) a device; returns the new bearer token. Only its hash is stored.
    pub fn add_device(&self, device_id: &str) -> Result<String> {
        let token = super::new_token();
        self.set_device_token(device_id, &token)?;
        Ok(token)
    }

    pub fn set_device_token(&self, device_id: &str, token: &str) -> Result<()> {
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO devices (device_id, token_sha256, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(device_id) DO UPDATE SET token_sha256 = excluded.token_sha256,
                 enabled = 1",
                params![device_id, token_hash(token), Utc::now().to_rfc3339()],
            )?;
            Ok(())
        })
    }

    /// Every registered device id, in order.
    pub fn devices(&self) -> Result<Vec<String>> {
        self.read(|c| {
            Ok(
                c.prepare("SELECT device_id FROM devices ORDER BY device_id")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?,
            )
        })
    }

    pub fn disable_device(&self, device_id: &str) -> Result<()> {
        self.write(|tx, _| {
            tx.execute(
                "UPDATE devices SET enabled = 0 WHERE device_id = ?1",
                [device_id],
            )?;
            Ok(())
        })
    }

    /// The device a bearer token belongs to, if it is known and enabled.
    pub fn authenticate(&self, token: &str) -> Result<Option<String>> {
        let hash = token_hash(token);
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT device_id FROM devices WHERE token_sha256 = ?1 AND enabled = 1",
            )?
            .query_row([hash], |r| r.get(0))
            .optional()?)
        })
    }

    // ----- feed -----

    pub fn feed_page(&self, resource: Resource, after: i64, limit: u32) -> Result<RawPage> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT seq, key, deleted, doc, parts FROM records
                 WHERE resource = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let mut entries = Vec::with_capacity(limit as usize);
            let mut rows = st.query(params![resource.as_str(), after, i64::from(limit) + 1])?;
            while let Some(r) = rows.next()? {
                let deleted: bool = r.get(2)?;
                entries.push(RawEntry {
                    seq: r.get(0)?,
                    key: r.get(1)?,
                    doc: if deleted { None } else { r.get(3)? },
                    parts: r.get(4)?,
                });
            }
            let has_more = entries.len() > limit as usize;
            entries.truncate(limit as usize);
            // Counting is a scan; do it once, on the first page, for progress displays.
            let remaining = if after == 0 {
                let total: i64 = c
                    .prepare_cached("SELECT count(*) FROM records WHERE resource = ?1")?
                    .query_row([resource.as_str()], |r| r.get(0))?;
                Some((total as u64).saturating_sub(entries.len() as u64))
            } else {
                None
            };
            Ok(RawPage {
                last_seq: entries.last().map(|e| e.seq),
                entries,
                has_more,
                remaining,
            })
        })
    }

    /// The current document of a record.
    pub fn get_doc(&self, resource: Resource, key: &str) -> Result<Option<String>> {
        self.read(|c| get_doc(c, resource, key))
    }

    pub fn constituent(&self, lookup_id: &str) -> Result<Option<ConstituentDto>> {
        self.get_doc(Resource::Constituents, lookup_id)?
            .map(|d| serde_json::from_str(&d).map_err(StoreError::from))
            .transpose()
    }

    /// All live documents of a resource decoded as `T`, in key order.
    pub fn all<T: serde::de::DeserializeOwned>(&self, resource: Resource) -> Result<Vec<T>> {
        self.all_docs(resource)?
            .iter()
            .map(|(_, doc)| serde_json::from_str(doc).map_err(StoreError::from))
            .collect()
    }

    /// All live (not deleted) documents of a resource, in key order.
    pub fn all_docs(&self, resource: Resource) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT key, doc FROM records WHERE resource = ?1 AND deleted = 0 ORDER BY key",
            )?;
            let rows = st
                .query_map([resource.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    pub fn count(&self, resource: Resource) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM records WHERE resource = ?1 AND deleted = 0",
                [resource.as_str()],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }

    // ----- writes -----

    pub fn upsert<T: serde::Serialize>(
        &self,
        resource: Resource,
        key: &str,
        doc: &T,
    ) -> Result<()> {
        let doc = serde_json::to_string(doc)?;
        if resource == Resource::Memberships {
            let m: MembershipDto = serde_json::from_str(&doc)?;
            return self.write(|tx, seq| put_membership(tx, seq, &m));
        }
        self.write(|tx, seq| put(tx, seq, resource, key, Some(&doc)))
    }

    pub fn delete(&self, resource: Resource, key: &str) -> Result<()> {
        self.write(|tx, seq| {
            if resource == Resource::Memberships {
                tx.execute(
                    "DELETE FROM membership_members WHERE membership_id = ?1",
                    [key],
                )?;
            }
            put(tx, seq, resource, key, None)
        })
    }

    /// Merges `merged_id` into `survivor_id` as the CRM does: the merged record expires, its
    /// memberships move to the survivor, and the merge is published on the merges feed.
    pub fn merge(&self, merged_id: &str, survivor_id: &str, at: DateTime<Utc>) -> Result<()> {
        if merged_id == survivor_id {
            return Err(StoreError::Invalid(
                "a record cannot be merged into itself".into(),
            ));
        }
        self.write(|tx, seq| merge_in(tx, seq, merged_id, survivor_id, at))
    }

    /// Adds a job to the CRM's list and publishes it on the `jobs` feed.
    pub fn add_job(&self, name: &str) -> Result<()> {
        self.write(|tx, seq| crate::volunteers::put_job(tx, seq, name))
    }

    // ----- uploads -----

    /// Applies uploaded rows, each at most once per idempotency key.
    pub fn ingest(
        &self,
        device_id: &str,
        rows: &[UploadRow],
        now: DateTime<Utc>,
    ) -> Result<Vec<RowResult>> {
        self.write(|tx, seq| {
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let rejected = |reason: String| RowResult {
                    idempotency_key: row.idempotency_key.clone(),
                    status: RowStatus::Rejected,
                    reason: Some(reason),
                    lookup_id: None,
                };
                let result = match super::ingest::check(tx, device_id, row)? {
                    Err(reason) => rejected(reason),
                    Ok(()) => {
                        let seen = tx
                            .prepare_cached("SELECT 1 FROM inbox WHERE idempotency_key = ?1")?
                            .query_row([&row.idempotency_key], |_| Ok(()))
                            .optional()?
                            .is_some();
                        if seen {
                            // Applied before: answer as then, change nothing.
                            RowResult {
                                idempotency_key: row.idempotency_key.clone(),
                                status: RowStatus::Duplicate,
                                reason: None,
                                lookup_id: super::intake::answer_for(tx, &row.idempotency_key)?,
                            }
                        } else {
                            match super::intake::apply(tx, seq, device_id, row, now)? {
                                Err(reason) => rejected(reason),
                                Ok(lookup_id) => {
                                    tx.prepare_cached(
                                        "INSERT INTO inbox (idempotency_key, device_id, kind,
                                         version, payload, created_at, received_at)
                                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                                         ON CONFLICT(idempotency_key) DO NOTHING",
                                    )?
                                    .execute(params![
                                        row.idempotency_key,
                                        device_id,
                                        row.kind,
                                        row.version,
                                        row.payload.to_string(),
                                        row.created_at.to_rfc3339(),
                                        now.to_rfc3339()
                                    ])?;
                                    RowResult {
                                        idempotency_key: row.idempotency_key.clone(),
                                        status: RowStatus::Accepted,
                                        reason: None,
                                        lookup_id,
                                    }
                                }
                            }
                        }
                    }
                };
                out.push(result);
            }
            Ok(out)
        })
    }

    /// The review queue (visitor details held for staff instead of being applied), oldest
    /// first; `open_only` leaves out items already approved or rejected.
    pub fn review_queue(
        &self,
        open_only: bool,
    ) -> Result<Vec<portico_core::protocol::ReviewItemDto>> {
        self.read(|c| super::intake::review_queue(c, open_only))
    }

    /// Approves (the update rules applied as a reviewed match) or rejects an open review item.
    pub fn resolve_review(
        &self,
        id: i64,
        approve: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<portico_core::update_rules::Change>> {
        self.write(|tx, seq| super::intake::resolve_review(tx, seq, id, approve, now))
    }

    /// How many uploaded rows the hub holds with this key (0 or 1), for audits and tests.
    pub fn inbox_count(&self, idempotency_key: &str) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM inbox WHERE idempotency_key = ?1",
                [idempotency_key],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }

    /// Tickets admitted at two or more devices for more uses than they allow (uses given
    /// back because nobody went through do not count): what offline
    /// gates could not see of each other.
    pub fn duplicate_admissions(&self) -> Result<Vec<portico_core::protocol::DuplicateAdmission>> {
        self.read(|c| {
            let rows: Vec<(String, String, i64)> = c
                .prepare(
                    "SELECT json_extract(payload, '$.credential') AS credential,
                            group_concat(DISTINCT device_id),
                            sum(json_extract(payload, '$.uses_burned'))
                     FROM inbox
                     WHERE kind = 'scan' AND json_extract(payload, '$.decision') = 'admit'
                       AND json_extract(payload, '$.credential') LIKE 'ticket:%'
                       AND NOT EXISTS (
                           SELECT 1 FROM inbox a WHERE a.kind = 'scan_annulment'
                             AND json_extract(a.payload, '$.scan_key') = inbox.idempotency_key)
                     GROUP BY credential
                     HAVING count(DISTINCT device_id) >= 2
                     ORDER BY credential",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::new();
            for (credential, devices, uses) in rows {
                let secret = credential.trim_start_matches("ticket:");
                let allowed = get_doc(c, Resource::Tickets, secret)?
                    .and_then(|d| {
                        serde_json::from_str::<portico_core::protocol::TicketDto>(&d).ok()
                    })
                    .map(|t| t.uses_allowed);
                let uses = u32::try_from(uses).unwrap_or(u32::MAX);
                if allowed.is_none_or(|a| uses > a) {
                    let mut devices: Vec<String> = devices.split(',').map(str::to_owned).collect();
                    devices.sort();
                    out.push(portico_core::protocol::DuplicateAdmission {
                        credential,
                        devices,
                        uses,
                        uses_allowed: allowed,
                    });
                }
            }
            Ok(out)
        })
    }

    pub fn inbox_total(&self) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row("SELECT count(*) FROM inbox", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }
}

/// Hands out feed sequence numbers inside one write transaction.
pub struct Seq {
    next: i64,
}

impl Seq {
    pub fn take(&mut self) -> i64 {
        let n = self.next;
        self.next += 1;
        n
    }
}

pub(crate) fn put(
    tx: &Connection,
    seq: &mut Seq,
    resource: Resource,
    key: &str,
    doc: Option<&str>,
) -> Result<()> {
    let at = seq.take();
    let parts = match (resource, doc) {
        (Resource::Constituents, Some(doc)) => Some(part_seqs(tx, key, doc, at)?),
        _ => None,
    };
    tx.prepare_cached(
        "INSERT INTO records (resource, key, seq, deleted, doc, parts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(resource, key) DO UPDATE SET seq = excluded.seq,
         deleted = excluded.deleted, doc = excluded.doc, parts = excluded.parts",
    )?
    .execute(params![
        resource.as_str(),
        key,
        at,
        doc.is_none(),
        doc,
        parts
    ])?;
    Ok(())
}

/// A constituent document cut into its parts, in [`Parts::NAMES`] order: the record (every
/// field but the lists), then each list, named as in the document (absent read as empty).
fn split_parts(doc: &str) -> Result<[serde_json::Value; 5]> {
    let mut record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(doc)?;
    let [_, lists @ ..] = Parts::NAMES;
    let [a, b, c, d] = lists.map(|k| match record.remove(k) {
        None | Some(serde_json::Value::Null) => serde_json::Value::Array(Vec::new()),
        Some(v) => v,
    });
    Ok([serde_json::Value::Object(record), a, b, c, d])
}

/// `records.parts` for a constituent written at `at`: for each part, the seq at which it last
/// changed — the previous value where the part is as it was, `at` where it differs or where
/// there is no previous live document with part seqs. Five integers, comma-separated.
fn part_seqs(tx: &Connection, key: &str, doc: &str, at: i64) -> Result<String> {
    let before: Option<(String, Option<String>)> = tx
        .prepare_cached(
            "SELECT doc, parts FROM records
             WHERE resource = 'constituents' AND key = ?1 AND deleted = 0",
        )?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let mut seqs = [at; 5];
    if let Some((old_doc, Some(old_seqs))) = before
        && let Some(old_seqs) = parse_part_seqs(&old_seqs)
        && let Ok(old) = split_parts(&old_doc)
    {
        let new = split_parts(doc)?;
        for i in 0..5 {
            if old[i] == new[i] {
                seqs[i] = old_seqs[i];
            }
        }
    }
    Ok(seqs.map(|s| s.to_string()).join(","))
}

fn parse_part_seqs(s: &str) -> Option<[i64; 5]> {
    let mut out = [0i64; 5];
    let mut it = s.split(',');
    for slot in &mut out {
        *slot = it.next()?.parse().ok()?;
    }
    it.next().is_none().then_some(out)
}

/// The parts of a record that changed after `after`, from its `records.parts`. Without part
/// seqs (a resource other than constituents, a store older than them, a damaged value)
/// there is no annotation and the device compares every part.
pub fn changed_since(parts: Option<&str>, after: i64) -> Option<Parts> {
    let seqs = parse_part_seqs(parts?)?;
    Some(
        Parts::NAMES
            .iter()
            .zip(seqs)
            .filter(|(_, s)| *s > after)
            .filter_map(|(n, _)| Parts::named(n))
            .fold(Parts::default(), |a, p| a | p),
    )
}

/// Writes a membership and keeps the member index (used by merges) in step.
pub(crate) fn put_membership(tx: &Connection, seq: &mut Seq, m: &MembershipDto) -> Result<()> {
    tx.prepare_cached("DELETE FROM membership_members WHERE membership_id = ?1")?
        .execute([&m.membership_id])?;
    let mut st = tx.prepare_cached(
        "INSERT OR IGNORE INTO membership_members (lookup_id, membership_id) VALUES (?1, ?2)",
    )?;
    for member in &m.members {
        st.execute([member, &m.membership_id])?;
    }
    put(
        tx,
        seq,
        Resource::Memberships,
        &m.membership_id,
        Some(&serde_json::to_string(m)?),
    )
}

/// A membership as published.
pub(crate) fn get_membership(c: &Connection, id: &str) -> Result<Option<MembershipDto>> {
    Ok(match get_doc(c, Resource::Memberships, id)? {
        Some(d) => Some(serde_json::from_str(&d)?),
        None => None,
    })
}

/// A live record's document, if the hub holds one.
pub(crate) fn get_doc(c: &Connection, resource: Resource, key: &str) -> Result<Option<String>> {
    Ok(c.prepare_cached(
        "SELECT doc FROM records WHERE resource = ?1 AND key = ?2 AND deleted = 0",
    )?
    .query_row(params![resource.as_str(), key], |r| r.get(0))
    .optional()?)
}

pub(crate) fn merge_in(
    tx: &Connection,
    seq: &mut Seq,
    merged_id: &str,
    survivor_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let load = |id: &str| -> Result<ConstituentDto> {
        let doc = get_doc(tx, Resource::Constituents, id)?
            .ok_or_else(|| StoreError::NotFound(format!("no constituent {id}")))?;
        Ok(serde_json::from_str(&doc)?)
    };
    let mut merged = load(merged_id)?;
    let survivor = load(survivor_id)?;
    if merged.status == ConstituentStatus::Merged || survivor.status == ConstituentStatus::Merged {
        return Err(StoreError::Invalid(format!(
            "{merged_id} or {survivor_id} was already merged away"
        )));
    }
    merged.status = ConstituentStatus::Merged;
    put(
        tx,
        seq,
        Resource::Constituents,
        merged_id,
        Some(&serde_json::to_string(&merged)?),
    )?;

    // Memberships follow the survivor.
    let keys: Vec<String> = tx
        .prepare_cached("SELECT membership_id FROM membership_members WHERE lookup_id = ?1")?
        .query_map([merged_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for key in keys {
        let Some(doc) = get_doc(tx, Resource::Memberships, &key)? else {
            continue;
        };
        let mut m: MembershipDto = serde_json::from_str(&doc)?;
        let mut members = Vec::with_capacity(m.members.len());
        for id in m.members {
            let id = if id == merged_id {
                survivor_id.to_owned()
            } else {
                id
            };
            if !members.contains(&id) {
                members.push(id);
            }
        }
        m.members = members;
        put_membership(tx, seq, &m)?;
    }
    let record = MergeDto {
        merged_id: merged_id.to_owned(),
        survivor_id: survivor_id.to_owned(),
        merged_at: at,
    };
    put(
        tx,
        seq,
        Resource::Merges,
        merged_id,
        Some(&serde_json::to_string(&record)?),
    )?;
    Ok(())
}

/// A valid date for hub-side checks.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str) -> ConstituentDto {
        ConstituentDto::named(id, "Ada", "Lovelace")
    }

    /// Each part of a constituent carries the seq at which it last changed; a feed page names
    /// the parts changed after the cursor it was asked with, so a device holding the record
    /// as of that cursor knows exactly what to rewrite.
    #[test]
    fn a_feed_page_names_the_parts_changed_after_a_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        let mut c = person("8-1");
        store.upsert(Resource::Constituents, "8-1", &c).unwrap(); // seq 1
        c.emails.push(portico_core::protocol::EmailDto {
            address: "ada@example.org".into(),
            meta: portico_core::protocol::ContactMetaDto {
                kind: "Home".into(),
                primary: true,
                active: true,
                start: None,
                end: None,
            },
        });
        store.upsert(Resource::Constituents, "8-1", &c).unwrap(); // seq 2: emails
        c.name.last = "King".into();
        store.upsert(Resource::Constituents, "8-1", &c).unwrap(); // seq 3: the record
        store.upsert(Resource::Constituents, "8-1", &c).unwrap(); // seq 4: nothing

        let cases: &[(i64, Parts)] = &[
            (0, Parts::ALL),
            (1, Parts::EMAILS | Parts::RECORD),
            (2, Parts::RECORD),
            (3, Parts::default()),
        ];
        for (after, want) in cases {
            let page = store.feed_page(Resource::Constituents, *after, 10).unwrap();
            let e = page.entries.last().unwrap();
            assert_eq!(e.seq, 4);
            assert_eq!(
                changed_since(e.parts.as_deref(), *after),
                Some(*want),
                "after {after}"
            );
        }

        // Deleted and made again: every part is new.
        store.delete(Resource::Constituents, "8-1").unwrap(); // seq 5
        store.upsert(Resource::Constituents, "8-1", &c).unwrap(); // seq 6
        let page = store.feed_page(Resource::Constituents, 5, 10).unwrap();
        let e = page.entries.last().unwrap();
        assert_eq!(changed_since(e.parts.as_deref(), 5), Some(Parts::ALL));

        // Other resources, and values that do not parse, carry no annotation.
        for parts in [
            None,
            Some(""),
            Some("1,2,3"),
            Some("1,2,3,4,5,6"),
            Some("a,b,c,d,e"),
        ] {
            assert_eq!(changed_since(parts, 0), None, "{parts:?}");
        }
    }

    /// A store made before records carried part seqs opens with the column added; its
    /// records carry no annotation (the device compares them whole) until they next change.
    #[test]
    fn a_store_from_before_part_seqs_gains_them_at_the_next_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE records (resource TEXT NOT NULL, key TEXT NOT NULL,
                     seq INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, doc TEXT,
                     PRIMARY KEY (resource, key));
                 CREATE UNIQUE INDEX records_feed ON records(resource, seq);",
            )
            .unwrap();
            old.execute(
                "INSERT INTO records (resource, key, seq, doc) VALUES ('constituents', '8-1', 1, ?1)",
                [serde_json::to_string(&person("8-1")).unwrap()],
            )
            .unwrap();
            old.execute_batch(
                "CREATE TABLE hub_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO hub_meta VALUES ('seq', '1');",
            )
            .unwrap();
        }
        let store = HubStore::open(&path).unwrap();
        let page = store.feed_page(Resource::Constituents, 0, 10).unwrap();
        assert_eq!(page.entries[0].parts, None);
        assert_eq!(changed_since(page.entries[0].parts.as_deref(), 0), None);

        let mut c = person("8-1");
        c.name.last = "King".into();
        store.upsert(Resource::Constituents, "8-1", &c).unwrap();
        let page = store.feed_page(Resource::Constituents, 1, 10).unwrap();
        assert_eq!(
            changed_since(page.entries[0].parts.as_deref(), 1),
            Some(Parts::ALL),
            "no earlier part seqs: every part counts as changed"
        );
    }

    #[test]
    fn a_merge_expires_the_record_moves_memberships_and_is_published_last() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        for id in ["8-1", "8-2", "8-3"] {
            store
                .upsert(Resource::Constituents, id, &person(id))
                .unwrap();
        }
        let m = MembershipDto {
            membership_id: "M1".into(),
            level: "Dual".into(),
            status: portico_core::domain::MembershipStatus::Active,
            start: "2026-01-01".parse().unwrap(),
            expiry: "2027-01-01".parse().unwrap(),
            members: vec!["8-1".into(), "8-2".into()],
            guest_allowance: 1,
        };
        store.upsert(Resource::Memberships, "M1", &m).unwrap();
        store.merge("8-1", "8-2", Utc::now()).unwrap();

        let doc: MembershipDto =
            serde_json::from_str(&store.get_doc(Resource::Memberships, "M1").unwrap().unwrap())
                .unwrap();
        assert_eq!(
            doc.members,
            vec!["8-2".to_string()],
            "moved to the survivor, once"
        );
        assert_eq!(
            store.constituent("8-1").unwrap().unwrap().status,
            ConstituentStatus::Merged
        );
        let merges = store.feed_page(Resource::Merges, 0, 10).unwrap();
        assert_eq!(merges.entries.len(), 1);
        assert_eq!(merges.entries[0].key, "8-1");
        // Merging an expired record again, or into itself, is refused.
        assert!(matches!(
            store.merge("8-1", "8-3", Utc::now()),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.merge("8-3", "8-3", Utc::now()),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.merge("8-9", "8-3", Utc::now()),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn uploads_apply_once_per_idempotency_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        let row = UploadRow {
            idempotency_key: "k1".into(),
            kind: "scan".into(),
            version: 1,
            payload: serde_json::json!({"credential": "M1", "decision": "admit"}),
            created_at: Utc::now(),
        };
        let unknown = UploadRow {
            idempotency_key: "k2".into(),
            kind: "teleport".into(),
            ..row.clone()
        };
        let future = UploadRow {
            idempotency_key: "k3".into(),
            version: 9,
            ..row.clone()
        };
        let r = store
            .ingest("gate", &[row.clone(), unknown, future], Utc::now())
            .unwrap();
        let statuses: Vec<_> = r.iter().map(|x| x.status).collect();
        assert_eq!(
            statuses,
            [
                RowStatus::Accepted,
                RowStatus::Rejected,
                RowStatus::Rejected
            ]
        );
        assert!(r[1].reason.as_deref().unwrap().contains("unknown kind"));
        assert!(r[2].reason.as_deref().unwrap().contains("version 9"));
        let again = store.ingest("gate", &[row], Utc::now()).unwrap();
        assert_eq!(again[0].status, RowStatus::Duplicate);
        assert_eq!(store.inbox_total().unwrap(), 1);
    }

    #[test]
    fn tokens_are_stored_hashed_and_can_be_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        let token = store.add_device("gate-1").unwrap();
        assert_eq!(
            store.authenticate(&token).unwrap().as_deref(),
            Some("gate-1")
        );
        assert_eq!(store.authenticate("guess").unwrap(), None);
        let stored: String = store
            .read(|c| Ok(c.query_row("SELECT token_sha256 FROM devices", [], |r| r.get(0))?))
            .unwrap();
        assert!(!stored.contains(&token));
        store.disable_device("gate-1").unwrap();
        assert_eq!(store.authenticate(&token).unwrap(), None);
    }
}
