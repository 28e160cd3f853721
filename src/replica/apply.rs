//! Applying pages of the upstream change feed to the replica.
//!
//! Each call works inside the caller's transaction; the sync engine commits a page's changes
//! and its cursor together, so an interrupted sync never leaves a half-applied page behind.

use chrono::{DateTime, Utc};
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
                Change::Upsert { data, .. } => self.upsert_constituent(tx, data)?,
                Change::Delete { key } => delete_constituent(tx, key)?,
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }

    fn upsert_constituent(&self, tx: &Connection, c: &ConstituentDto) -> Result<()> {
        let n = &self.normalizer;
        let existing: Option<i64> = tx
            .prepare_cached("SELECT id FROM constituents WHERE lookup_id = ?1")?
            .query_row([&c.lookup_id], |r| r.get(0))
            .optional()?;
        let first_norm = n.name(&c.name.first);
        let last_norm = n.name(&c.name.last);
        let birth = date(c.birth_date);
        let id = match existing {
            Some(id) => {
                tx.prepare_cached(
                    "UPDATE constituents SET title = ?2, first_name = ?3, middle_name = ?4,
                     last_name = ?5, suffix = ?6, first_norm = ?7, last_norm = ?8,
                     birth_date = ?9, status = ?10, pending = 0 WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    c.name.title,
                    c.name.first,
                    c.name.middle,
                    c.name.last,
                    c.name.suffix,
                    first_norm,
                    last_norm,
                    birth,
                    c.status.as_str()
                ])?;
                delete_children(tx, id)?;
                id
            }
            None => {
                tx.prepare_cached(
                    "INSERT INTO constituents (lookup_id, title, first_name, middle_name,
                     last_name, suffix, first_norm, last_norm, birth_date, status)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
                    c.lookup_id,
                    c.name.title,
                    c.name.first,
                    c.name.middle,
                    c.name.last,
                    c.name.suffix,
                    first_norm,
                    last_norm,
                    birth,
                    c.status.as_str()
                ])?;
                tx.last_insert_rowid()
            }
        };
        if !c.historical_names.is_empty() {
            let mut st = tx.prepare_cached(
                "INSERT INTO historical_names (constituent_id, title, first_name, middle_name,
                 last_name, suffix, until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for h in &c.historical_names {
                st.execute(params![
                    id,
                    h.name.title,
                    h.name.first,
                    h.name.middle,
                    h.name.last,
                    h.name.suffix,
                    date(h.until)
                ])?;
            }
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO emails (constituent_id, address, address_norm, kind, is_primary, active,
             start_date, end_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for e in &c.emails {
            st.execute(params![
                id,
                e.address,
                n.email(&e.address),
                e.meta.kind,
                e.meta.primary,
                e.meta.active,
                date(e.meta.start),
                date(e.meta.end)
            ])?;
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO phones (constituent_id, number, number_norm, kind, is_primary, active,
             start_date, end_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for p in &c.phones {
            st.execute(params![
                id,
                p.number,
                n.phone(&p.number),
                p.meta.kind,
                p.meta.primary,
                p.meta.active,
                date(p.meta.start),
                date(p.meta.end)
            ])?;
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO addresses (constituent_id, line1, line2, city, region, postcode, country,
             kind, is_primary, active, start_date, end_date)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for a in &c.addresses {
            st.execute(params![
                id,
                a.line1,
                a.line2,
                a.city,
                a.region,
                a.postcode,
                a.country,
                a.meta.kind,
                a.meta.primary,
                a.meta.active,
                date(a.meta.start),
                date(a.meta.end)
            ])?;
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
    /// resolve its id to the survivor.
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
    for sql in [
        "DELETE FROM historical_names WHERE constituent_id = ?1",
        "DELETE FROM emails WHERE constituent_id = ?1",
        "DELETE FROM phones WHERE constituent_id = ?1",
        "DELETE FROM addresses WHERE constituent_id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([id])?;
    }
    Ok(())
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
