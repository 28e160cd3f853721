//! The volunteer time clock in the replica: the jobs, events and shifts feeds applied, and read
//! back for the clock.

use chrono::NaiveDateTime;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Applier, ApplyStats, Result};
use crate::protocol::{Change, JobDto, ShiftDto, VolunteerEventDto};
use crate::volunteer::{Shift, VolunteerEvent};

/// How shift times are stored: sortable text, venue-local.
pub const LOCAL: &str = "%Y-%m-%dT%H:%M:%S";

impl Applier {
    pub fn jobs(&self, tx: &Connection, changes: &[Change<JobDto>]) -> Result<ApplyStats> {
        let mut stats = ApplyStats::default();
        for change in changes {
            match change {
                Change::Upsert { data, .. } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO jobs (name) VALUES (?1)")?
                        .execute([&data.name])?;
                }
                Change::Delete { key } => {
                    tx.prepare_cached("DELETE FROM jobs WHERE name = ?1")?
                        .execute([key])?;
                }
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }

    pub fn volunteer_events(
        &self,
        tx: &Connection,
        changes: &[Change<VolunteerEventDto>],
    ) -> Result<ApplyStats> {
        let mut stats = ApplyStats::default();
        for change in changes {
            match change {
                Change::Upsert { data, .. } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO volunteer_events (event_id, doc) VALUES (?1, ?2)",
                    )?
                    .execute(params![data.event_id, serde_json::to_string(data)?])?;
                }
                Change::Delete { key } => {
                    tx.prepare_cached("DELETE FROM volunteer_events WHERE event_id = ?1")?
                        .execute([key])?;
                }
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }

    pub fn volunteer_shifts(
        &self,
        tx: &Connection,
        changes: &[Change<ShiftDto>],
    ) -> Result<ApplyStats> {
        let mut stats = ApplyStats::default();
        for change in changes {
            match change {
                Change::Upsert { data: s, .. } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO volunteer_shifts (shift_id, event_id, start, end, doc)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        s.shift_id,
                        s.event_id,
                        s.start.format(LOCAL).to_string(),
                        s.end.format(LOCAL).to_string(),
                        serde_json::to_string(s)?
                    ])?;
                }
                Change::Delete { key } => {
                    tx.prepare_cached("DELETE FROM volunteer_shifts WHERE shift_id = ?1")?
                        .execute([key])?;
                }
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }
}

fn doc<T: serde::de::DeserializeOwned>(table: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| super::ReplicaError::Corrupt {
        table,
        detail: e.to_string(),
    })
}

/// Every volunteer event, by id.
pub fn events(conn: &Connection) -> Result<Vec<VolunteerEvent>> {
    let mut st = conn.prepare_cached("SELECT doc FROM volunteer_events ORDER BY event_id")?;
    let docs: Vec<String> = st
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    docs.iter().map(|d| doc("volunteer_events", d)).collect()
}

pub fn event(conn: &Connection, event_id: &str) -> Result<Option<VolunteerEvent>> {
    let d: Option<String> = conn
        .prepare_cached("SELECT doc FROM volunteer_events WHERE event_id = ?1")?
        .query_row([event_id], |r| r.get(0))
        .optional()?;
    d.map(|d| doc("volunteer_events", &d)).transpose()
}

/// Whether the CRM has a job of this name.
pub fn job_exists(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM jobs WHERE name = ?1")?
        .query_row([name], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The shifts running at some time between `from` and `to`.
pub fn shifts_between(
    conn: &Connection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<Shift>> {
    let mut st = conn.prepare_cached(
        "SELECT doc FROM volunteer_shifts WHERE end > ?1 AND start < ?2 ORDER BY start, shift_id",
    )?;
    let docs: Vec<String> = st
        .query_map(
            params![from.format(LOCAL).to_string(), to.format(LOCAL).to_string()],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    docs.iter().map(|d| doc("volunteer_shifts", d)).collect()
}

pub fn shift(conn: &Connection, shift_id: &str) -> Result<Option<Shift>> {
    let d: Option<String> = conn
        .prepare_cached("SELECT doc FROM volunteer_shifts WHERE shift_id = ?1")?
        .query_row([shift_id], |r| r.get(0))
        .optional()?;
    d.map(|d| doc("volunteer_shifts", &d)).transpose()
}

/// Lookup IDs of the records whose last name's key is `last` (and first name's key `first`,
/// when given) with an active phone ending in the digits `last4`: a volunteer at the time
/// clock. Merged-away records are left out; at most `limit`.
pub fn by_name_and_phone(
    conn: &Connection,
    last: &str,
    first: Option<&str>,
    last4: &str,
    limit: usize,
) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(
        "SELECT DISTINCT c.lookup_id FROM constituents c INDEXED BY constituents_name
         JOIN phones p ON p.constituent_id = c.id
         WHERE c.last_norm = ?1 AND (?2 IS NULL OR c.first_norm = ?2)
           AND p.active = 1 AND substr(p.number_norm, -4) = ?3
           AND c.lookup_id IS NOT NULL AND c.status <> 'merged'
         ORDER BY c.lookup_id LIMIT ?4",
    )?;
    Ok(st
        .query_map(params![last, first, last4, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}
