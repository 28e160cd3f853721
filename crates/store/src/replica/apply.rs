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
    Change, ConstituentDto, MembershipDto, MergeDto, Parts, ProductDto, Resource, TicketDto,
    ValidityDto,
};

/// What one page did to the replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub upserts: u64,
    pub deletes: u64,
}

impl ApplyStats {
    pub(super) fn add(&mut self, change_was_upsert: bool) {
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

/// Where a constituent being written comes from.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// The hub's feed, with the parts it says changed since the pull began, the cursor the
    /// replica held the record at (`None`: not said, so every part is compared).
    Feed(Option<Parts>),
    /// This device (intake).
    Local { pending: bool },
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
                Change::Upsert { data, changed, .. } => {
                    self.upsert_constituent(tx, data, Origin::Feed(*changed))?
                }
                Change::Delete { key } => delete_constituent(tx, key)?,
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }

    /// Writes a constituent made or changed on this device (intake): a new record created
    /// offline (`pending`: it has a local id until the hub answers), or the update rules
    /// applied optimistically to a known one. The row is marked as written locally, so the
    /// next feed delivery of the record rewrites it whole (and clears `pending`), whatever
    /// parts the hub says changed: the hub's version is the truth.
    pub fn write_local_constituent(
        &self,
        tx: &Connection,
        c: &ConstituentDto,
        pending: bool,
    ) -> Result<()> {
        self.upsert_constituent(tx, c, Origin::Local { pending })
    }

    fn upsert_constituent(
        &self,
        tx: &Connection,
        c: &ConstituentDto,
        origin: Origin,
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
        let (mark_pending, mark_local) = match origin {
            Origin::Feed(_) => (false, false),
            Origin::Local { pending } => (pending, true),
        };
        let existing = tx
            .prepare_cached(
                "SELECT id, title, first_name, middle_name, last_name, suffix, birth_date, status,
                 pending, local_changes FROM constituents WHERE lookup_id = ?1",
            )?
            .query_row([&c.lookup_id], |r| {
                let cols = (1..=7)
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((
                    r.get::<_, i64>(0)?,
                    cols,
                    r.get::<_, bool>(8)?,
                    r.get::<_, bool>(9)?,
                ))
            })
            .optional()?;
        let norms = (n.name_key(&c.name.first), n.name_key(&c.name.last));
        // ?2.. of the full update and of the insert, in statement order; ?1 is the row id or,
        // for a new row, the Lookup ID.
        let columns: Vec<&dyn rusqlite::ToSql> = head
            .iter()
            .map(|v| v as &dyn rusqlite::ToSql)
            .chain([
                &norms.0 as &dyn rusqlite::ToSql,
                &norms.1,
                &mark_pending,
                &mark_local,
            ])
            .collect();
        fn with_first<'a>(
            first: &'a dyn rusqlite::ToSql,
            rest: &[&'a dyn rusqlite::ToSql],
        ) -> Vec<&'a dyn rusqlite::ToSql> {
            std::iter::once(first).chain(rest.iter().copied()).collect()
        }
        match existing {
            Some((id, cols, pending, local)) => {
                // The parts to bring in line: those the hub says changed since the cursor
                // this replica holds its version at, unless this device wrote the record
                // itself since (then every part, compared row by row).
                let parts = match origin {
                    Origin::Feed(Some(parts)) if !pending && !local => parts,
                    _ => Parts::ALL,
                };
                let head_differs = parts.contains(Parts::RECORD) && cols != head;
                if head_differs || pending != mark_pending || local != mark_local {
                    tx.prepare_cached(
                        "UPDATE constituents SET title = ?2, first_name = ?3, middle_name = ?4,
                         last_name = ?5, suffix = ?6, birth_date = ?7, status = ?8,
                         first_norm = ?9, last_norm = ?10, pending = ?11, local_changes = ?12
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
                    if parts.contains(KINDS[k].part) {
                        sql.write_rows(tx, id, &child_rows_of(c, n, k), false)?;
                    }
                }
            }
            None => {
                tx.prepare_cached(
                    "INSERT INTO constituents (lookup_id, title, first_name, middle_name,
                     last_name, suffix, birth_date, status, first_norm, last_norm, pending,
                     local_changes)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?
                .execute(with_first(&c.lookup_id, &columns).as_slice())?;
                let id = tx.last_insert_rowid();
                for (k, sql) in CHILD_SQL.iter().enumerate() {
                    sql.write_rows(tx, id, &child_rows_of(c, n, k), true)?;
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
                         member_price, non_member_price, active, sale)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )?
                    .execute(params![
                        p.product_id,
                        p.name,
                        p.kind.as_str(),
                        p.currency,
                        p.member_price,
                        p.non_member_price,
                        p.active,
                        p.sale.as_ref().map(|doc| doc.to_string()),
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
/// `(constituent_id, position)`. `columns` are the row's columns after those two: those from
/// the feed, then the derived ones (normalised keys). `part` is the part of the record the
/// hub names when the list changed.
pub struct ChildKind {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    part: Parts,
}

/// Historical names, emails, phones, addresses: the order of `child_rows`.
pub const KINDS: [ChildKind; 4] = [
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
        part: Parts::HISTORICAL_NAMES,
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
        part: Parts::EMAILS,
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
        part: Parts::PHONES,
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
        part: Parts::ADDRESSES,
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
pub fn child_rows(c: &ConstituentDto, n: &Normalizer) -> [Vec<Vec<Value>>; 4] {
    std::array::from_fn(|k| child_rows_of(c, n, k))
}

/// The rows of `KINDS[k]` alone.
fn child_rows_of(c: &ConstituentDto, n: &Normalizer, k: usize) -> Vec<Vec<Value>> {
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
    match k {
        0 => c
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
            .collect(),
        1 => c
            .emails
            .iter()
            .map(|e| {
                let mut row = vec![Value::from(e.address.clone())];
                row.extend(meta(&e.meta));
                row.push(n.email(&e.address).into());
                row
            })
            .collect(),
        2 => c
            .phones
            .iter()
            .map(|p| {
                let mut row = vec![Value::from(p.number.clone())];
                row.extend(meta(&p.meta));
                row.push(n.phone(&p.number).into());
                row
            })
            .collect(),
        _ => c
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
            .collect(),
    }
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
            changed: None,
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

    fn stored_head(conn: &Connection) -> (String, i64, i64) {
        conn.query_row(
            "SELECT last_name, pending, local_changes FROM constituents WHERE lookup_id = '8-100'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    }

    fn annotated(c: ConstituentDto, changed: Option<Parts>) -> Change<ConstituentDto> {
        Change::Upsert {
            key: c.lookup_id.clone(),
            data: c,
            changed,
        }
    }

    /// The hub names the parts changed since the pull began; the replica holds the hub's
    /// version as of that cursor, so exactly those parts are brought in line and the others
    /// are not read or written. (Shown here by a delivery whose unnamed parts differ: a hub
    /// keeps its annotations true, so that never happens on the wire.)
    #[test]
    fn a_delivery_rewrites_the_parts_the_hub_names_and_leaves_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::replica::open(&dir.path().join("device.db")).unwrap();
        let applier = Applier::default();
        applier
            .constituents(
                &conn,
                &[annotated(
                    person(vec![email("a@hopper.dev", true)]),
                    Some(Parts::ALL),
                )],
            )
            .unwrap();

        let mut next = person(vec![
            email("a@hopper.dev", true),
            email("b@hopper.dev", false),
        ]);
        next.name.last = "Murray".into();
        let cases: &[(Option<Parts>, &str, usize)] = &[
            // Only the emails named: the new email lands, the record is left as stored.
            (Some(Parts::EMAILS), "Hopper", 2),
            // Nothing named (the record was written again unchanged): nothing moves.
            (Some(Parts::default()), "Hopper", 2),
            // The record named: the name changes.
            (Some(Parts::RECORD), "Murray", 2),
        ];
        for (changed, last, emails) in cases {
            applier
                .constituents(&conn, &[annotated(next.clone(), *changed)])
                .unwrap();
            assert_eq!(stored_head(&conn).0, *last, "{changed:?}");
            assert_eq!(stored_emails(&conn).len(), *emails, "{changed:?}");
        }

        // Without an annotation every part is compared: the record and the emails both
        // follow the delivery.
        let mut back = person(vec![email("z@hopper.dev", true)]);
        back.name.last = "Hopper".into();
        applier
            .constituents(&conn, &[annotated(back, None)])
            .unwrap();
        assert_eq!(stored_head(&conn).0, "Hopper");
        assert_eq!(
            stored_emails(&conn),
            vec![(0, "z@hopper.dev".to_owned(), true)]
        );
    }

    /// A record this device wrote itself is not the hub's version at any cursor: its next
    /// delivery rewrites it whole, whatever parts the hub names, and clears the local marks.
    #[test]
    fn a_locally_written_record_is_rewritten_whole_by_its_next_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::replica::open(&dir.path().join("device.db")).unwrap();
        let applier = Applier::default();
        let hub = person(vec![email("a@hopper.dev", true)]);
        applier
            .constituents(&conn, &[annotated(hub.clone(), Some(Parts::ALL))])
            .unwrap();
        assert_eq!(stored_head(&conn), ("Hopper".to_owned(), 0, 0));

        // Intake applies the update rules optimistically: a new email and a new last name.
        let mut local = person(vec![
            email("a@hopper.dev", true),
            email("new@hopper.dev", false),
        ]);
        local.name.last = "Local".into();
        applier
            .write_local_constituent(&conn, &local, false)
            .unwrap();
        assert_eq!(stored_head(&conn), ("Local".to_owned(), 0, 1));
        assert_eq!(stored_emails(&conn).len(), 2);

        // The hub kept the record as it was except a phone: it names only the phones, yet the
        // device's own changes are undone.
        let mut from_hub = hub;
        from_hub.phones.push(crate::protocol::PhoneDto {
            number: "(555) 201-0000".into(),
            meta: ContactMetaDto {
                kind: "Mobile".into(),
                primary: true,
                active: true,
                start: None,
                end: None,
            },
        });
        applier
            .constituents(&conn, &[annotated(from_hub, Some(Parts::PHONES))])
            .unwrap();
        assert_eq!(stored_head(&conn), ("Hopper".to_owned(), 0, 0));
        assert_eq!(
            stored_emails(&conn),
            vec![(0, "a@hopper.dev".to_owned(), true)]
        );
        let phones: i64 = conn
            .query_row("SELECT count(*) FROM phones", [], |r| r.get(0))
            .unwrap();
        assert_eq!(phones, 1);

        // A record made offline (pending) is confirmed the same way.
        let mut offline = ConstituentDto::named("L-7", "Ada", "Lovelace");
        offline.emails.push(email("ada@example.org", true));
        applier
            .write_local_constituent(&conn, &offline, true)
            .unwrap();
        offline.emails.clear();
        applier
            .constituents(&conn, &[annotated(offline, Some(Parts::RECORD))])
            .unwrap();
        let (pending, local, emails): (i64, i64, i64) = conn
            .query_row(
                "SELECT pending, local_changes,
                 (SELECT count(*) FROM emails WHERE constituent_id = c.id)
                 FROM constituents c WHERE lookup_id = 'L-7'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((pending, local, emails), (0, 0, 0));
    }
}
