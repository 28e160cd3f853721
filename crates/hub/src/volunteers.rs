//! The volunteer system as the hub models it: the CRM's jobs and the volunteer events and
//! shifts published on their feeds for the time clocks, and the timesheets that come back.

use chrono::{Duration, NaiveDate, NaiveTime};
use rusqlite::Connection;
use serde::Serialize;

use super::store::{Result, Seq, put};
use portico_core::protocol::{JobDto, Resource, ShiftDto, VolunteerEventDto};
use portico_core::upstream::Upstream;

/// Adds a job to the CRM's list (what timesheets are checked against) and publishes it.
pub fn put_job(tx: &Connection, seq: &mut Seq, name: &str) -> Result<()> {
    tx.execute("INSERT OR IGNORE INTO jobs (name) VALUES (?1)", [name])?;
    let doc = serde_json::to_string(&JobDto {
        name: name.to_owned(),
    })?;
    put(tx, seq, Resource::Jobs, name, Some(&doc))
}

/// The seeded venue's volunteer events: four the CRM takes, and two it would refuse (a name
/// over 30 characters; a job the CRM does not have), which the clocks show as configuration
/// problems.
pub fn events() -> Vec<VolunteerEventDto> {
    [
        ("EV-USHERS", "Winter Lights Ushers", "Event Support"),
        ("EV-ANIMALS", "Animal Care Helpers", "Animal Care Aide"),
        ("EV-GARDEN", "Garden Crew Morning", "Garden Crew"),
        ("EV-NIGHT", "Overnight Zoo Watch", "Event Support"),
        (
            "EV-FESTIVAL",
            "Summer Family Festival Weekend Volunteers",
            "Event Support",
        ),
        ("EV-DOLPHIN", "Dolphin Show Helpers", "Dolphin Trainer"),
    ]
    .into_iter()
    .map(|(id, name, job)| VolunteerEventDto {
        event_id: id.into(),
        name: name.into(),
        job: job.into(),
    })
    .collect()
}

/// Each day's shifts: event, start, length in hours.
const SHIFTS: &[(&str, (u32, u32), i64)] = &[
    ("EV-GARDEN", (7, 0), 4),
    ("EV-ANIMALS", (8, 0), 4),
    ("EV-USHERS", (9, 0), 4),
    ("EV-USHERS", (13, 0), 4),
    ("EV-FESTIVAL", (10, 0), 6),
    ("EV-DOLPHIN", (11, 0), 4),
    ("EV-NIGHT", (20, 0), 12),
];

/// Publishes the events and `days` days of shifts from `day`, the volunteers of each shift
/// taken in turn from `volunteers` (three a shift). Returns (events, shifts).
pub fn publish(
    tx: &Connection,
    seq: &mut Seq,
    day: NaiveDate,
    days: u32,
    volunteers: &[String],
) -> Result<(usize, usize)> {
    let events = events();
    for e in &events {
        put(
            tx,
            seq,
            Resource::VolunteerEvents,
            &e.event_id,
            Some(&serde_json::to_string(e)?),
        )?;
    }
    let mut next = 0;
    let mut shifts = 0;
    for d in 0..days {
        let date = day + Duration::days(i64::from(d));
        for (event, (h, m), hours) in SHIFTS {
            let start = date.and_time(NaiveTime::from_hms_opt(*h, *m, 0).unwrap_or_default());
            let mut scheduled = Vec::new();
            for _ in 0..3.min(volunteers.len()) {
                scheduled.push(volunteers[next % volunteers.len()].clone());
                next += 1;
            }
            let s = ShiftDto {
                shift_id: format!("{event}@{}", start.format("%Y-%m-%dT%H:%M")),
                event_id: (*event).into(),
                start,
                end: start + Duration::hours(*hours),
                volunteers: scheduled,
            };
            put(
                tx,
                seq,
                Resource::VolunteerShifts,
                &s.shift_id,
                Some(&serde_json::to_string(&s)?),
            )?;
            shifts += 1;
        }
    }
    Ok((events.len(), shifts))
}

/// A timesheet as the hub received it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimesheetRow {
    pub device_id: String,
    pub received_at: String,
    pub constituent: String,
    pub event_name: String,
    pub job: String,
    pub date: NaiveDate,
    pub hours: f64,
    /// Why staff must approve the hours, if they must.
    pub needs_approval: Option<String>,
    /// Walk-in (no shift) or the shift's id.
    pub shift_id: Option<String>,
}

/// Every timesheet accepted, oldest first; only those waiting for approval with
/// `needs_approval`.
pub fn timesheets(conn: &Connection, needs_approval: bool) -> Result<Vec<TimesheetRow>> {
    let mut st = conn.prepare_cached(
        "SELECT device_id, received_at, version, payload FROM inbox WHERE kind = 'timesheet'
         ORDER BY received_at, idempotency_key",
    )?;
    let rows: Vec<(String, String, u32, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (device_id, received_at, version, payload) in rows {
        let value: serde_json::Value = serde_json::from_str(&payload)?;
        let row = match Upstream::decode("timesheet", version, &value) {
            Ok(Upstream::Timesheet(t)) => TimesheetRow {
                device_id,
                received_at,
                constituent: t.constituent,
                event_name: t.event_name,
                job: t.job,
                date: t.date,
                hours: t.hours,
                needs_approval: t.needs_approval.map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                }),
                shift_id: t.shift_id,
            },
            Ok(Upstream::TimesheetV1(t)) => TimesheetRow {
                device_id,
                received_at,
                constituent: t.constituent,
                event_name: t.event_name,
                job: t.job,
                date: t.date,
                hours: t.hours,
                needs_approval: None,
                shift_id: None,
            },
            _ => continue,
        };
        if !needs_approval || row.needs_approval.is_some() {
            out.push(row);
        }
    }
    Ok(out)
}
