//! Reads from the replica: whole records rebuilt as domain types, merge resolution, counts.

use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, Row};

use super::{ReplicaError, Result};
use crate::domain::{
    Address, Constituent, ConstituentStatus, ContactMeta, Email, HistoricalName, Membership,
    MembershipStatus, PersonName, Phone, Ticket, TicketStatus, TicketValidity,
};

/// Longest merge chain followed before giving up (a chain this long means corrupt data).
const MAX_MERGE_HOPS: usize = 32;

/// Where a Lookup ID leads after following merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The id that was asked for.
    pub requested: String,
    /// The id to use: the requested one, or the survivor of its merges.
    pub survivor: String,
    /// Every id passed through, starting with the requested one (length 1: no merge).
    pub chain: Vec<String>,
}

impl Resolved {
    pub fn via_merge(&self) -> bool {
        self.chain.len() > 1
    }
}

/// Row counts per table, for status displays and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaCounts {
    pub constituents: u64,
    pub emails: u64,
    pub phones: u64,
    pub addresses: u64,
    pub memberships: u64,
    pub tickets: u64,
    pub products: u64,
    pub merges: u64,
    pub categories: u64,
    pub tax_rules: u64,
    pub slots: u64,
    pub signing_keys: u64,
}

pub fn counts(conn: &Connection) -> Result<ReplicaCounts> {
    let c = |t: &str| -> Result<u64> {
        Ok(
            conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                r.get::<_, i64>(0)
            })? as u64,
        )
    };
    Ok(ReplicaCounts {
        constituents: c("constituents")?,
        emails: c("emails")?,
        phones: c("phones")?,
        addresses: c("addresses")?,
        memberships: c("memberships")?,
        tickets: c("tickets")?,
        products: c("products")?,
        merges: c("merges")?,
        categories: c("categories")?,
        tax_rules: c("tax_rules")?,
        slots: c("slots")?,
        signing_keys: c("signing_keys")?,
    })
}

/// Follows the merge records from `lookup_id` to its survivor. Cycles and over-long chains are
/// reported as corrupt data rather than looping.
pub fn resolve(conn: &Connection, lookup_id: &str) -> Result<Resolved> {
    let mut chain = vec![lookup_id.to_owned()];
    let mut st = conn.prepare_cached("SELECT survivor_id FROM merges WHERE merged_id = ?1")?;
    loop {
        let current = chain.last().map(String::as_str).unwrap_or(lookup_id);
        let next: Option<String> = st.query_row([current], |r| r.get(0)).optional()?;
        match next {
            None => break,
            Some(next) if chain.contains(&next) || chain.len() > MAX_MERGE_HOPS => {
                return Err(ReplicaError::Corrupt {
                    table: "merges",
                    detail: format!("merge chain from {lookup_id} does not end: {chain:?}"),
                });
            }
            Some(next) => chain.push(next),
        }
    }
    Ok(Resolved {
        requested: lookup_id.to_owned(),
        survivor: chain.last().cloned().unwrap_or_default(),
        chain,
    })
}

fn parse_date(table: &'static str, s: Option<String>) -> Result<Option<NaiveDate>> {
    s.map(|s| {
        s.parse().map_err(|e| ReplicaError::Corrupt {
            table,
            detail: format!("date {s:?}: {e}"),
        })
    })
    .transpose()
}

/// A name from five columns starting at `first`: title, first, middle, last, suffix.
fn person_name(row: &Row<'_>, first: usize) -> rusqlite::Result<PersonName> {
    Ok(PersonName {
        title: row.get(first)?,
        first: row.get(first + 1)?,
        middle: row.get(first + 2)?,
        last: row.get(first + 3)?,
        suffix: row.get(first + 4)?,
    })
}

fn meta(row: &Row<'_>, first: usize, table: &'static str) -> Result<ContactMeta> {
    Ok(ContactMeta {
        kind: row.get(first)?,
        primary: row.get(first + 1)?,
        active: row.get(first + 2)?,
        start: parse_date(table, row.get(first + 3)?)?,
        end: parse_date(table, row.get(first + 4)?)?,
    })
}

/// A constituent's emails or phones (one value column plus the contact metadata), in
/// insertion order.
fn contacts<T>(
    conn: &Connection,
    table: &'static str,
    value: &str,
    id: i64,
    build: impl Fn(String, ContactMeta) -> T,
) -> Result<Vec<T>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {value}, kind, is_primary, active, start_date, end_date
         FROM {table} WHERE constituent_id = ?1 ORDER BY position"
    ))?;
    let mut rows = st.query([id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(build(r.get(0)?, meta(r, 1, table)?));
    }
    Ok(out)
}

/// The constituent with this exact Lookup ID (no merge resolution), rebuilt with its contact
/// information in insertion order.
pub fn constituent(conn: &Connection, lookup_id: &str) -> Result<Option<Constituent>> {
    load(
        conn,
        "SELECT id, lookup_id, title, first_name, middle_name, last_name, suffix, birth_date,
                status FROM constituents WHERE lookup_id = ?1",
        &lookup_id,
    )
}

/// The name of the constituent with this exact Lookup ID, without the rest of the record: one
/// index probe, for screens that only greet.
pub fn constituent_name(conn: &Connection, lookup_id: &str) -> Result<Option<PersonName>> {
    Ok(conn
        .prepare_cached(
            "SELECT title, first_name, middle_name, last_name, suffix
             FROM constituents WHERE lookup_id = ?1",
        )?
        .query_row([lookup_id], |r| person_name(r, 0))
        .optional()?)
}

/// [`constituent`] by the replica's own row id (what index probes return).
pub fn constituent_by_row(conn: &Connection, id: i64) -> Result<Option<Constituent>> {
    load(
        conn,
        "SELECT id, lookup_id, title, first_name, middle_name, last_name, suffix, birth_date,
                status FROM constituents WHERE id = ?1",
        &id,
    )
}

fn load(
    conn: &Connection,
    head_sql: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<Constituent>> {
    let head = conn
        .prepare_cached(head_sql)?
        .query_row([key], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                person_name(r, 2)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, String>(8)?,
            ))
        })
        .optional()?;
    let Some((id, Some(lookup_id), name, birth, status)) = head else {
        return Ok(None);
    };
    let status = ConstituentStatus::parse(&status).ok_or_else(|| ReplicaError::Corrupt {
        table: "constituents",
        detail: format!("status {status:?}"),
    })?;

    let mut historical_names = Vec::new();
    let mut st = conn.prepare_cached(
        "SELECT title, first_name, middle_name, last_name, suffix, until
         FROM historical_names WHERE constituent_id = ?1 ORDER BY position",
    )?;
    let mut rows = st.query([id])?;
    while let Some(r) = rows.next()? {
        historical_names.push(HistoricalName {
            name: person_name(r, 0)?,
            until: parse_date("historical_names", r.get(5)?)?,
        });
    }

    let emails = contacts(conn, "emails", "address", id, |address, meta| Email {
        address,
        meta,
    })?;
    let phones = contacts(conn, "phones", "number", id, |number, meta| Phone {
        number,
        meta,
    })?;

    let mut addresses = Vec::new();
    let mut st = conn.prepare_cached(
        "SELECT line1, line2, city, region, postcode, country,
                kind, is_primary, active, start_date, end_date
         FROM addresses WHERE constituent_id = ?1 ORDER BY position",
    )?;
    let mut rows = st.query([id])?;
    while let Some(r) = rows.next()? {
        addresses.push(Address {
            line1: r.get(0)?,
            line2: r.get(1)?,
            city: r.get(2)?,
            region: r.get(3)?,
            postcode: r.get(4)?,
            country: r.get(5)?,
            meta: meta(r, 6, "addresses")?,
        });
    }

    Ok(Some(Constituent {
        lookup_id,
        name,
        birth_date: parse_date("constituents", birth)?,
        status,
        historical_names,
        emails,
        phones,
        addresses,
    }))
}

/// Every Lookup ID in the replica, ascending.
pub fn lookup_ids(conn: &Connection) -> Result<Vec<String>> {
    let mut st =
        conn.prepare("SELECT lookup_id FROM constituents WHERE lookup_id IS NOT NULL ORDER BY 1")?;
    let ids = st
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    Ok(ids)
}

/// A membership's members, holder first.
pub(crate) const MEMBERS_SQL: &str =
    "SELECT lookup_id FROM membership_members WHERE membership_id = ?1 ORDER BY position";

pub fn membership(conn: &Connection, membership_id: &str) -> Result<Option<Membership>> {
    let head = conn
        .prepare_cached(
            "SELECT level, status, start_date, expiry_date, guest_allowance
             FROM memberships WHERE membership_id = ?1",
        )?
        .query_row([membership_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
            ))
        })
        .optional()?;
    let Some((level, status, start, expiry, guest_allowance)) = head else {
        return Ok(None);
    };
    let members = conn
        .prepare_cached(MEMBERS_SQL)?
        .query_map([membership_id], |r| r.get(0))?
        .collect::<std::result::Result<Vec<String>, _>>()?;
    let corrupt = |detail: String| ReplicaError::Corrupt {
        table: "memberships",
        detail,
    };
    Ok(Some(Membership {
        membership_id: membership_id.to_owned(),
        level,
        status: MembershipStatus::parse(&status).ok_or_else(|| corrupt(status.clone()))?,
        start: start.parse().map_err(|_| corrupt(start.clone()))?,
        expiry: expiry.parse().map_err(|_| corrupt(expiry.clone()))?,
        members,
        guest_allowance,
    }))
}

/// Every membership that covers `lookup_id` (as a member, in any position).
pub fn memberships_of(conn: &Connection, lookup_id: &str) -> Result<Vec<Membership>> {
    let ids: Vec<String> = conn
        .prepare_cached("SELECT membership_id FROM membership_members WHERE lookup_id = ?1")?
        .query_map([lookup_id], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(m) = membership(conn, &id)? {
            out.push(m);
        }
    }
    Ok(out)
}

pub fn ticket(conn: &Connection, secret: &str) -> Result<Option<Ticket>> {
    let row = conn
        .prepare_cached(
            "SELECT product_id, validity, valid_date, slot_start, slot_end, uses_allowed,
                    status, holder
             FROM tickets WHERE secret = ?1",
        )?
        .query_row([secret], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, u32>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })
        .optional()?;
    let Some((product_id, kind, day, start, end, uses_allowed, status, holder)) = row else {
        return Ok(None);
    };
    let corrupt = |detail: String| ReplicaError::Corrupt {
        table: "tickets",
        detail,
    };
    let dt = |s: Option<String>| -> Result<chrono::NaiveDateTime> {
        let s = s.ok_or_else(|| corrupt("slot without times".into()))?;
        chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S").map_err(|_| corrupt(s))
    };
    let validity = match kind.as_str() {
        "open" => TicketValidity::Open,
        "date" => TicketValidity::Date {
            date: parse_date("tickets", day)?.ok_or_else(|| corrupt("date without day".into()))?,
        },
        "slot" => TicketValidity::Slot {
            start: dt(start)?,
            end: dt(end)?,
        },
        other => return Err(corrupt(format!("validity {other:?}"))),
    };
    Ok(Some(Ticket {
        secret: secret.to_owned(),
        product_id,
        validity,
        uses_allowed,
        status: TicketStatus::parse(&status).ok_or_else(|| corrupt(status.clone()))?,
        holder,
    }))
}
