//! Checks the hub makes on each uploaded row before applying it. A failed check rejects that
//! row alone, with a reason the device keeps in its dead-letter list.

use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

use super::store::Result;
use portico_core::protocol::UploadRow;

/// Longest event name the CRM's job occurrence field holds.
pub const MAX_EVENT_NAME_CHARS: usize = 30;

/// `Ok(Ok(()))` to apply, `Ok(Err(reason))` to reject.
pub fn check(tx: &Connection, row: &UploadRow) -> Result<std::result::Result<(), String>> {
    let key = &row.idempotency_key;
    if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(Err(
            "idempotency_key must be 1-64 printable ASCII characters".into(),
        ));
    }
    let Value::Object(p) = &row.payload else {
        return Ok(Err("payload must be a JSON object".into()));
    };
    let text = |name: &str| {
        p.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let known = match (row.kind.as_str(), row.version) {
        ("order", 1) => match p.get("lines").and_then(Value::as_array) {
            Some(lines) if !lines.is_empty() => Ok(()),
            _ => Err("order needs at least one line".to_owned()),
        },
        ("new_constituent", 1) => match (text("first_name"), text("last_name")) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err("new_constituent needs first_name and last_name".to_owned()),
        },
        ("scan", 1) => match (text("credential"), text("decision")) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err("scan needs credential and decision".to_owned()),
        },
        ("timesheet", 1) => return check_timesheet(tx, p),
        ("scan_annulment", 1) => match (text("scan_key"), text("reason")) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err("scan_annulment needs scan_key and reason".to_owned()),
        },
        ("scan_party", 1) => {
            let count = |name: &str| p.get(name).and_then(Value::as_u64);
            match (text("scan_key"), count("party_admitted"), count("revision")) {
                (Some(_), Some(1..), Some(_)) => Ok(()),
                _ => Err(
                    "scan_party needs scan_key, party_admitted of at least 1 and revision"
                        .to_owned(),
                ),
            }
        }
        ("reassociation", 1) => return super::find_membership::check_reassociation(tx, p),
        // The payload is read in full, and the match judged again, by `hub::intake`.
        ("visitor_update", 1) => {
            match (text("lookup_id"), p.get("visitor").map(Value::is_object)) {
                (Some(_), Some(true)) => Ok(()),
                _ => Err("visitor_update needs lookup_id and visitor".to_owned()),
            }
        }
        (
            kind @ ("order" | "new_constituent" | "scan" | "timesheet" | "scan_annulment"
            | "scan_party" | "reassociation" | "visitor_update"),
            v,
        ) => Err(format!(
            "{kind} payload version {v} is not supported (this hub reads version 1)"
        )),
        (kind, _) => Err(format!("unknown kind {kind:?}")),
    };
    Ok(known)
}

/// Volunteer hours become CRM timesheets: event name, job, date and hours.
fn check_timesheet(
    tx: &Connection,
    p: &serde_json::Map<String, Value>,
) -> Result<std::result::Result<(), String>> {
    let text = |name: &str| {
        p.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let (Some(constituent), Some(event), Some(job), Some(date)) = (
        text("constituent"),
        text("event_name"),
        text("job"),
        text("date"),
    ) else {
        return Ok(Err(
            "timesheet needs constituent, event_name, job, date and hours".into(),
        ));
    };
    let _ = constituent;
    if event.chars().count() > MAX_EVENT_NAME_CHARS {
        return Ok(Err(format!(
            "event name {event:?} has {} characters; the CRM allows at most {MAX_EVENT_NAME_CHARS}",
            event.chars().count()
        )));
    }
    let job_exists = tx
        .prepare_cached("SELECT 1 FROM jobs WHERE name = ?1")?
        .query_row([job], |_| Ok(()))
        .optional()?
        .is_some();
    if !job_exists {
        return Ok(Err(format!("job {job:?} does not exist in the CRM")));
    }
    if super::store::parse_date(date).is_none() {
        return Ok(Err(format!("date {date:?} is not YYYY-MM-DD")));
    }
    match p.get("hours").and_then(Value::as_f64) {
        Some(h) if h > 0.0 && h <= 24.0 => Ok(Ok(())),
        _ => Ok(Err("hours must be a number above 0 and at most 24".into())),
    }
}
