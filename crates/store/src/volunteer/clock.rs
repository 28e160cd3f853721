//! The time clock's writes: a check-in opened, and a check-in closed into a timesheet with its
//! upload row, in one transaction each.

use chrono::NaiveDateTime;
use rusqlite::{Connection, OptionalExtension, params};

use super::{ApprovalReason, Closed, OpenClock, VolunteerEvent};
use crate::outbox;
use crate::replica::{Result, volunteer::LOCAL};
use crate::upstream::{Payload, TimesheetV2};

fn local(t: NaiveDateTime) -> String {
    t.format(LOCAL).to_string()
}

fn parse_local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, LOCAL).unwrap_or_default()
}

/// Opens a check-in. A volunteer has at most one open (a second is a constraint violation).
pub fn open(tx: &Connection, c: &OpenClock) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO volunteer_clock (clock_id, volunteer, event_id, shift_id, checked_in)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        c.clock_id,
        c.volunteer,
        c.event_id,
        c.shift_id,
        local(c.checked_in)
    ])?;
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OpenClock> {
    Ok(OpenClock {
        clock_id: r.get(0)?,
        volunteer: r.get(1)?,
        event_id: r.get(2)?,
        shift_id: r.get(3)?,
        checked_in: parse_local(&r.get::<_, String>(4)?),
    })
}

/// The volunteer's open check-in, if any.
pub fn open_of(conn: &Connection, volunteer: &str) -> Result<Option<OpenClock>> {
    Ok(conn
        .prepare_cached(
            "SELECT clock_id, volunteer, event_id, shift_id, checked_in FROM volunteer_clock
             WHERE volunteer = ?1",
        )?
        .query_row([volunteer], row)
        .optional()?)
}

/// Every open check-in (for the sweep).
pub fn all_open(conn: &Connection) -> Result<Vec<OpenClock>> {
    Ok(conn
        .prepare_cached(
            "SELECT clock_id, volunteer, event_id, shift_id, checked_in FROM volunteer_clock
             ORDER BY checked_in",
        )?
        .query_map([], row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Closes `open` into a timesheet of `event` and queues its upload, in the caller's
/// transaction. Closing a check-in already closed (a sweep and a check-out racing) changes
/// nothing and returns `None`.
pub fn close(
    tx: &Connection,
    open: &OpenClock,
    event: &VolunteerEvent,
    closed: &Closed,
    device_id: &str,
    now_ms: i64,
) -> Result<Option<String>> {
    let gone = tx
        .prepare_cached("DELETE FROM volunteer_clock WHERE clock_id = ?1")?
        .execute([&open.clock_id])?;
    if gone == 0 {
        return Ok(None);
    }
    let payload = TimesheetV2 {
        constituent: open.volunteer.clone(),
        event_name: event.name.trim().to_owned(),
        job: event.job.trim().to_owned(),
        date: closed.date,
        hours: closed.hours(),
        clock_id: open.clock_id.clone(),
        shift_id: open.shift_id.clone(),
        checked_in: open.checked_in,
        checked_out: closed.checked_out,
        needs_approval: closed.needs_approval,
        device_id: device_id.to_owned(),
    };
    let key = outbox::enqueue(tx, &payload.into_upstream(), now_ms)?;
    tx.prepare_cached(
        "INSERT INTO timesheets (clock_id, volunteer, event_id, shift_id, checked_in, checked_out,
             day, hours, needs_approval, outbox_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        open.clock_id,
        open.volunteer,
        open.event_id,
        open.shift_id,
        local(open.checked_in),
        local(closed.checked_out),
        closed.date.to_string(),
        closed.hours(),
        closed.needs_approval.map(|r| match r {
            ApprovalReason::MissedCheckOut => "missed_check_out",
        }),
        key
    ])?;
    Ok(Some(key))
}

/// A timesheet the clock made.
#[derive(Debug, Clone, PartialEq)]
pub struct TimesheetRow {
    pub clock_id: String,
    pub volunteer: String,
    pub event_id: String,
    pub shift_id: Option<String>,
    pub checked_in: NaiveDateTime,
    pub checked_out: NaiveDateTime,
    pub hours: f64,
    pub needs_approval: Option<String>,
}

/// The timesheets of a volunteer, newest first.
pub fn timesheets_of(conn: &Connection, volunteer: &str) -> Result<Vec<TimesheetRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT clock_id, volunteer, event_id, shift_id, checked_in, checked_out, hours,
                    needs_approval
             FROM timesheets WHERE volunteer = ?1 ORDER BY checked_in DESC",
        )?
        .query_map([volunteer], |r| {
            Ok(TimesheetRow {
                clock_id: r.get(0)?,
                volunteer: r.get(1)?,
                event_id: r.get(2)?,
                shift_id: r.get(3)?,
                checked_in: parse_local(&r.get::<_, String>(4)?),
                checked_out: parse_local(&r.get::<_, String>(5)?),
                hours: r.get(6)?,
                needs_approval: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}
