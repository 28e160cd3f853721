//! Applying pages of the upstream change feed to the replica.
//!
//! Each call works inside the caller's transaction; the sync engine commits a page's changes
//! and its cursor together, so an interrupted sync never leaves a half-applied page behind.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::Result;
use crate::normalize::Normalizer;
use crate::protocol::{
    Change, ConstituentDto, MembershipDto, MergeDto, ProductDto, Resource, TicketDto, ValidityDto,
};

/// What one page did to the replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub upserts: u64,
    pub deletes: u64,
}

impl ApplyStats {
    fn add(&mut self, change_was_upsert: bool) {
        if change_was_upsert {
            self.upserts += 1;
        } else {
            self.deletes += 1;
        }
    }
}

/// Writes feed changes into the replica, computing normalised match keys on the way.
#[derive(Debug, Clone, Default)]
pub struct Applier {
    pub normalizer: Normalizer,
}

fn date(d: Option<chrono::NaiveDate>) -> Option<String> {
    d.map(|d| d.to_string())
}

impl Applier {
    pub fn new(normalizer: Normalizer) -> Self {
        Self { normalizer }
    }

    pub fn constituents(
        &self,
        tx: &Connection,
        changes: &[Change<ConstituentDto>],
    ) -> Result<ApplyStats> {
        let mut stats = ApplyStats::default();
        for change in changes {
            match change {
                Change::Upsert { data, .. } => self.upsert_constituent(tx, data, false)?,
                Change::Delete { key } => delete_constituent(tx, key)?,
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }

    /// Writes a constituent made or changed on this device (intake): a new record created
    /// offline (`pending`: it has a local id until the hub answers), or the update rules
    /// applied optimistically to a known one. The same rows as a feed change, so the next
    /// feed delivery of the record compares against them and rewrites only what differs (and
    /// clears `pending`).
    pub fn write_local_constituent(
        &self,
        tx: &Connection,
        c: &ConstituentDto,
        pending: bool,
    ) -> Result<()> {
        self.upsert_constituent(tx, c, pending)
    }

    /// `mark_pending`: the row is written as pending (a local record); feed changes pass
    /// false, which clears the flag of a formerly pending row.
    fn upsert_constituent(
        &self,
        tx: &Connection,
        c: &ConstituentDto,
        mark_pending: bool,
    ) -> Result<()> {
        let n = &self.normalizer;
        let head: Vec<Value> = vec![
            c.name.title.clone().into(),
            c.name.first.clone().into(),
            c.name.middle.clone().into(),
            c.name.last.clone().into(),
            c.name.suffix.clone().into(),
            date(c.birth_date).into(),
            c.status.as_str().to_owned().into(),
        ];
        let children = child_rows(c, n);
        let hashes: [i64; 4] = std::array::from_fn(|k| rows_hash(&children[k], KINDS[k].compared));
        let existing = tx
            .prepare_cached(
                "SELECT id, title, first_name, middle_name, last_name, suffix, birth_date, status,
                 pending, names_hash, emails_hash, phones_hash, addresses_hash
                 FROM constituents WHERE lookup_id = ?1",
            )?
            .query_row([&c.lookup_id], |r| {
                let cols = (1..=7)
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let stored = [r.get::<_, i64>(9)?, r.get(10)?, r.get(11)?, r.get(12)?];
                Ok((r.get::<_, i64>(0)?, cols, r.get::<_, bool>(8)?, stored))
            })
            .optional()?;
        let norms = (n.name_key(&c.name.first), n.name_key(&c.name.last));
        // ?2.. of the full update and of the insert, in statement order (?1 is the row id or,
        // for a new row, the Lookup ID).
        let mut columns: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(14);
        columns.extend(head.iter().map(|v| v as &dyn rusqlite::ToSql));
        columns.push(&norms.0);
        columns.push(&norms.1);
        columns.extend(hashes.iter().map(|h| h as &dyn rusqlite::ToSql));
        columns.push(&mark_pending);
        fn with_first<'a>(
            first: &'a dyn rusqlite::ToSql,
            rest: &[&'a dyn rusqlite::ToSql],
        ) -> Vec<&'a dyn rusqlite::ToSql> {
            let mut p = vec![first];
            p.extend_from_slice(rest);
            p
        }
        match existing {
            Some((id, cols, pending, stored)) => {
                if cols == head && pending == mark_pending && stored != hashes {
                    // Only contact rows changed: leave the name columns (and their indexes)
                    // alone.
                    tx.prepare_cached(
                        "UPDATE constituents SET names_hash = ?2, emails_hash = ?3,
                         phones_hash = ?4, addresses_hash = ?5 WHERE id = ?1",
                    )?
                    .execute(params![id, hashes[0], hashes[1], hashes[2], hashes[3]])?;
                } else if cols != head || pending != mark_pending || stored != hashes {
                    tx.prepare_cached(
                        "UPDATE constituents SET title = ?2, first_name = ?3, middle_name = ?4,
                         last_name = ?5, suffix = ?6, birth_date = ?7, status = ?8,
                         first_norm = ?9, last_norm = ?10, pending = ?15, names_hash = ?11,
                         emails_hash = ?12, phones_hash = ?13, addresses_hash = ?14
                         WHERE id = ?1",
                    )?
                    .execute(with_first(&id, &columns).as_slice())?;
                    if pending && !mark_pending {
                        tracing::info!(
                            lookup_id = %c.lookup_id,
                            "pending constituent confirmed by the hub's feed"
                        );
                    }
                }
                for (k, sql) in CHILD_SQL.iter().enumerate() {
                    if stored[k] != hashes[k] {
                        sql.write_rows(tx, id, &children[k], false)?;
                    }
                }
            }
            None => {
                tx.prepare_cached(
                    "INSERT INTO constituents (lookup_id, title, first_name, middle_name,
                     last_name, suffix, birth_date, status, first_norm, last_norm, names_hash,
                     emails_hash, phones_hash, addresses_hash, pending)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )?
                .execute(with_first(&c.lookup_id, &columns).as_slice())?;
                let id = tx.last_insert_rowid();
                for (sql, rows) in CHILD_SQL.iter().zip(&children) {
                    sql.write_rows(tx, id, rows, true)?;
                }
            }
        }
        Ok(())
    }

    pub fn memberships(
        &self,
        tx: &Connection,
        changes: &[Change<MembershipDto>],
    ) -> Result<ApplyStats> {
        let mut stats = ApplyStats::default();
        for change in changes {
            tx.prepare_cached("DELETE FROM membership_members WHERE membership_id = ?1")?
                .execute([change.key()])?;
            match change {
                Change::Upsert { data: m, .. } => {
                    tx.prepare_cached(
                        "INSERT INTO memberships (membership_id, level, status, start_date,
                         expiry_date, guest_allowance) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT(membership_id) DO UPDATE SET level = excluded.level,
                         status = excluded.status, start_date = excluded.start_date,
                         expiry_date = excluded.expiry_date,
                         guest_allowance = excluded.guest_allowance",
                    )?
                    .execute(params![
                        m.membership_id,
                        m.level,
                        m.status.as_str(),
                        m.start.to_string(),
                        m.expiry.to_string(),
                        m.guest_allowance
                    ])?;
                    let mut st = tx.prepare_cached(
                        "INSERT INTO membership_members (membership_id, lookup_id, position)
                         VALUES (?1, ?2, ?3)",
                    )?;
                    for (pos, member) in m.members.iter().enumerate() {
                        st.execute(params![m.membership_id, member, pos as i64])?;
                    }
                }
                Change::Delete { key } => {
                    tx.prepare_cached("DELETE FROM memberships WHERE membership_id = ?1")?
                        .execute([key])?;
                }
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }

    pub fn tickets(&self, tx: &Connection, changes: &[Change<TicketDto>]) -> Result<ApplyStats> {
        let mut stats = ApplyStats::default();
        for change in changes {
            match change {
                Change::Upsert { data: t, .. } => {
                    let (kind, day, start, end) = match &t.validity {
                        ValidityDto::Open => ("open", None, None, None),
                        ValidityDto::Date { date } => ("date", Some(date.to_string()), None, None),
                        ValidityDto::Slot { start, end } => (
                            "slot",
                            None,
                            Some(start.format("%Y-%m-%dT%H:%M:%S").to_string()),
                            Some(end.format("%Y-%m-%dT%H:%M:%S").to_string()),
                        ),
                    };
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO tickets (secret, product_id, validity, valid_date,
                         slot_start, slot_end, uses_allowed, status, holder)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?
                    .execute(params![
                        t.secret,
                        t.product_id,
                        kind,
                        day,
                        start,
                        end,
                        t.uses_allowed,
                        t.status.as_str(),
                        t.holder
                    ])?;
                }
                Change::Delete { key } => {
                    tx.prepare_cached("DELETE FROM tickets WHERE secret = ?1")?
                        .execute([key])?;
                }
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }

    pub fn catalog(&self, tx: &Connection, changes: &[Change<ProductDto>]) -> Result<ApplyStats> {
        let mut stats = ApplyStats::default();
        for change in changes {
            match change {
                Change::Upsert { data: p, .. } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO products (product_id, name, kind, currency,
                         member_price, non_member_price, active)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        p.product_id,
                        p.name,
                        p.kind.as_str(),
                        p.currency,
                        p.member_price,
                        p.non_member_price,
                        p.active
                    ])?;
                }
                Change::Delete { key } => {
                    tx.prepare_cached("DELETE FROM products WHERE product_id = ?1")?
                        .execute([key])?;
                }
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }

    /// Records merges. The merged-away record stays until the next purge; lookups already
    /// resolve its id to the survivor. Seed 000's "Perform Same Merge" happens here, in the
    /// page's transaction: local references to the merged-away id that have not reached the
    /// hub yet are rewritten to the survivor.
    pub fn merges(&self, tx: &Connection, changes: &[Change<MergeDto>]) -> Result<ApplyStats> {
        let mut stats = ApplyStats::default();
        for change in changes {
            match change {
                Change::Upsert { data: m, .. } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO merges (merged_id, survivor_id, merged_at)
                         VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![
                        m.merged_id,
                        m.survivor_id,
                        m.merged_at.to_rfc3339()
                    ])?;
                    crate::intake::remap::perform_same_merge(tx, &m.merged_id, &m.survivor_id)?;
                }
                Change::Delete { key } => {
                    tx.prepare_cached("DELETE FROM merges WHERE merged_id = ?1")?
                        .execute([key])?;
                }
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }
}

fn delete_children(tx: &Connection, id: i64) -> Result<()> {
    for sql in CHILD_SQL.iter() {
        tx.prepare_cached(&sql.delete_all)?.execute([id])?;
    }
    Ok(())
}

/// One kind of a constituent's child rows, stored in a table keyed by
/// `(constituent_id, position)`. `columns` are the row's columns after those two: the first
/// `compared` come from the feed (and are fingerprinted), the rest are derived (normalised keys).
pub(crate) struct ChildKind {
    pub(crate) table: &'static str,
    columns: &'static [&'static str],
    pub(crate) compared: usize,
}

/// Historical names, emails, phones, addresses: the order of `child_rows` and the hash columns.
pub(crate) const KINDS: [ChildKind; 4] = [
    ChildKind {
        table: "historical_names",
        columns: &[
            "title",
            "first_name",
            "middle_name",
            "last_name",
            "suffix",
            "until",
        ],
        compared: 6,
    },
    ChildKind {
        table: "emails",
        columns: &[
            "address",
            "kind",
            "is_primary",
            "active",
            "start_date",
            "end_date",
            "address_norm",
        ],
        compared: 6,
    },
    ChildKind {
        table: "phones",
        columns: &[
            "number",
            "kind",
            "is_primary",
            "active",
            "start_date",
            "end_date",
            "number_norm",
        ],
        compared: 6,
    },
    ChildKind {
        table: "addresses",
        columns: &[
            "line1",
            "line2",
            "city",
            "region",
            "postcode",
            "country",
            "kind",
            "is_primary",
            "active",
            "start_date",
            "end_date",
        ],
        compared: 11,
    },
];

/// The statements of one [`ChildKind`], built once from its columns; `CHILD_SQL[k]` belongs
/// to `KINDS[k]`.
struct ChildSql {
    /// Writes the row at `(?1, ?2)`; an existing row there is rewritten only when a column
    /// differs, so unchanged rows (and their index entries) are not touched.
    upsert: String,
    /// Removes rows from position `?2` on (a list that got shorter).
    trim: String,
    delete_all: String,
}

static CHILD_SQL: std::sync::LazyLock<[ChildSql; 4]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|k| {
        let kind = &KINDS[k];
        let cols = kind.columns;
        let placeholders: Vec<String> = (3..cols.len() + 3).map(|i| format!("?{i}")).collect();
        let set: Vec<String> = cols.iter().map(|c| format!("{c} = excluded.{c}")).collect();
        let differs: Vec<String> = cols
            .iter()
            .map(|c| format!("{c} IS NOT excluded.{c}"))
            .collect();
        ChildSql {
            upsert: format!(
                "INSERT INTO {t} (constituent_id, position, {cols}) VALUES (?1, ?2, {ph})
                 ON CONFLICT(constituent_id, position) DO UPDATE SET {set} WHERE {differs}",
                t = kind.table,
                cols = cols.join(", "),
                ph = placeholders.join(", "),
                set = set.join(", "),
                differs = differs.join(" OR "),
            ),
            trim: format!(
                "DELETE FROM {} WHERE constituent_id = ?1 AND position >= ?2",
                kind.table
            ),
            delete_all: format!("DELETE FROM {} WHERE constituent_id = ?1", kind.table),
        }
    })
});

impl ChildSql {
    /// Makes the stored rows of constituent `id` equal `rows`: rows at unchanged positions
    /// are left alone, changed ones rewritten, surplus ones removed.
    fn write_rows(&self, tx: &Connection, id: i64, rows: &[Vec<Value>], fresh: bool) -> Result<()> {
        if !rows.is_empty() {
            let mut st = tx.prepare_cached(&self.upsert)?;
            for (position, row) in rows.iter().enumerate() {
                let position = position as i64;
                let params: Vec<&dyn rusqlite::ToSql> = [&id as &dyn rusqlite::ToSql, &position]
                    .into_iter()
                    .chain(row.iter().map(|v| v as &dyn rusqlite::ToSql))
                    .collect();
                st.execute(params.as_slice())?;
            }
        }
        if !fresh {
            tx.prepare_cached(&self.trim)?
                .execute(params![id, rows.len() as i64])?;
        }
        Ok(())
    }
}

/// A constituent's child rows as stored, in [`KINDS`] order, each row the kind's `columns`
/// (after the constituent id and position).
pub(crate) fn child_rows(c: &ConstituentDto, n: &Normalizer) -> [Vec<Vec<Value>>; 4] {
    let b = |v: bool| Value::Integer(v.into());
    let meta = |m: &crate::protocol::ContactMetaDto| {
        [
            Value::from(m.kind.clone()),
            b(m.primary),
            b(m.active),
            date(m.start).into(),
            date(m.end).into(),
        ]
    };
    let names = c
        .historical_names
        .iter()
        .map(|h| {
            vec![
                h.name.title.clone().into(),
                h.name.first.clone().into(),
                h.name.middle.clone().into(),
                h.name.last.clone().into(),
                h.name.suffix.clone().into(),
                date(h.until).into(),
            ]
        })
        .collect();
    let emails = c
        .emails
        .iter()
        .map(|e| {
            let mut row = vec![Value::from(e.address.clone())];
            row.extend(meta(&e.meta));
            row.push(n.email(&e.address).into());
            row
        })
        .collect();
    let phones = c
        .phones
        .iter()
        .map(|p| {
            let mut row = vec![Value::from(p.number.clone())];
            row.extend(meta(&p.meta));
            row.push(n.phone(&p.number).into());
            row
        })
        .collect();
    let addresses = c
        .addresses
        .iter()
        .map(|a| {
            let mut row = vec![
                Value::from(a.line1.clone()),
                a.line2.clone().into(),
                a.city.clone().into(),
                a.region.clone().into(),
                a.postcode.clone().into(),
                a.country.clone().into(),
            ];
            row.extend(meta(&a.meta));
            row
        })
        .collect();
    [names, emails, phones, addresses]
}

/// A stable 64-bit FNV-1a fingerprint of rows' first `compared` columns (0 for no rows).
pub(crate) fn rows_hash(rows: &[Vec<Value>], compared: usize) -> i64 {
    if rows.is_empty() {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for row in rows {
        for v in row.iter().take(compared) {
            match v {
                Value::Null => eat(&[0]),
                Value::Integer(i) => {
                    eat(&[1]);
                    eat(&i.to_le_bytes());
                }
                Value::Real(f) => {
                    eat(&[2]);
                    eat(&f.to_le_bytes());
                }
                Value::Text(t) => {
                    eat(&[3]);
                    eat(&(t.len() as u64).to_le_bytes());
                    eat(t.as_bytes());
                }
                Value::Blob(bl) => {
                    eat(&[4]);
                    eat(&(bl.len() as u64).to_le_bytes());
                    eat(bl);
                }
            }
        }
        eat(&[0xff]);
    }
    h as i64
}

fn delete_constituent(tx: &Connection, lookup_id: &str) -> Result<()> {
    let id: Option<i64> = tx
        .prepare_cached("SELECT id FROM constituents WHERE lookup_id = ?1")?
        .query_row([lookup_id], |r| r.get(0))
        .optional()?;
    if let Some(id) = id {
        delete_children(tx, id)?;
        tx.prepare_cached("DELETE FROM constituents WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

/// Removes constituents that a merge took away ("expired" records), keeping the merge rows so
/// the old Lookup IDs still resolve to their survivors. Returns how many were removed.
pub fn purge_merged(tx: &Connection) -> Result<usize> {
    let ids: Vec<i64> = tx
        .prepare(
            "SELECT c.id FROM constituents c
             WHERE c.status = 'merged'
                OR EXISTS (SELECT 1 FROM merges m WHERE m.merged_id = c.lookup_id)",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    for id in &ids {
        delete_children(tx, *id)?;
        tx.prepare_cached("DELETE FROM constituents WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(ids.len())
}

/// Stores the cursor of a resource (inside the page's transaction).
pub fn set_cursor(
    tx: &Connection,
    resource: Resource,
    cursor: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO sync_cursors (resource, cursor, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(resource) DO UPDATE SET cursor = excluded.cursor,
         updated_at = excluded.updated_at",
    )?
    .execute(params![resource.as_str(), cursor, now.to_rfc3339()])?;
    Ok(())
}

pub fn cursor(conn: &Connection, resource: Resource) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT cursor FROM sync_cursors WHERE resource = ?1")?
        .query_row([resource.as_str()], |r| r.get(0))
        .optional()?)
}

pub fn set_state(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

pub fn state(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM sync_state WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ContactMetaDto, EmailDto};

    fn email(address: &str, primary: bool) -> EmailDto {
        EmailDto {
            address: address.into(),
            meta: ContactMetaDto {
                kind: "Home".into(),
                primary,
                active: true,
                start: None,
                end: None,
            },
        }
    }

    fn person(emails: Vec<EmailDto>) -> ConstituentDto {
        ConstituentDto {
            emails,
            ..ConstituentDto::named("8-100", "Grace", "Hopper")
        }
    }

    fn stored_emails(conn: &Connection) -> Vec<(i64, String, bool)> {
        conn.prepare("SELECT position, address, is_primary FROM emails ORDER BY position")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_delta_rewrites_changed_rows_and_drops_surplus_ones() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::replica::open(&dir.path().join("device.db")).unwrap();
        let applier = Applier::default();
        let upsert = |c: ConstituentDto| Change::Upsert {
            key: c.lookup_id.clone(),
            data: c,
        };
        let three = person(vec![
            email("a@hopper.dev", true),
            email("b@hopper.dev", false),
            email("c@hopper.dev", false),
        ]);
        applier.constituents(&conn, &[upsert(three)]).unwrap();
        assert_eq!(stored_emails(&conn).len(), 3);

        // The middle one changes, the last one goes: position 0 is untouched.
        let two = person(vec![
            email("a@hopper.dev", true),
            email("navy@hopper.dev", true),
        ]);
        applier.constituents(&conn, &[upsert(two)]).unwrap();
        assert_eq!(
            stored_emails(&conn),
            vec![
                (0, "a@hopper.dev".to_owned(), true),
                (1, "navy@hopper.dev".to_owned(), true)
            ]
        );
        let norm: String = conn
            .query_row(
                "SELECT address_norm FROM emails WHERE position = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(norm, "navy@hopper.dev");

        // None left.
        applier
            .constituents(&conn, &[upsert(person(vec![]))])
            .unwrap();
        assert!(stored_emails(&conn).is_empty());
    }
}
