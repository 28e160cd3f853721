//! Checks the hub makes on each uploaded row before applying it. A failed check rejects that
//! row alone, with a reason the device keeps in its dead-letter list.

use portico_core::protocol::UploadRow;
use portico_core::upstream::{TimesheetV1, Upstream};
use rusqlite::{Connection, OptionalExtension};

use super::store::Result;

/// `Ok(Ok(()))` to apply, `Ok(Err(reason))` to reject. The payload is read as the core's type
/// of its kind and version ([`Upstream::decode`]), the same type the device wrote it from.
pub fn check(
    tx: &Connection,
    device_id: &str,
    row: &UploadRow,
) -> Result<std::result::Result<(), String>> {
    let key = &row.idempotency_key;
    if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(Err(
            "idempotency_key must be 1-64 printable ASCII characters".into(),
        ));
    }
    let payload = match Upstream::decode(&row.kind, row.version, &row.payload) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let blank = |s: &str| s.trim().is_empty();
    Ok(match payload {
        Upstream::OrderV1(o) if o.lines.is_empty() => Err("order needs at least one line".into()),
        Upstream::OrderV1(_) => Ok(()),
        Upstream::Order(o) => return super::orders::check(tx, device_id, &o),
        Upstream::NewConstituent(c) if blank(&c.first_name) || blank(&c.last_name) => {
            Err("new_constituent needs first_name and last_name".into())
        }
        Upstream::NewConstituent(_) => Ok(()),
        Upstream::Scan(s)
            if blank(&s.credential) || !["admit", "deny"].contains(&s.decision.as_str()) =>
        {
            Err("scan needs a credential and a decision of admit or deny".into())
        }
        Upstream::Scan(_) => Ok(()),
        Upstream::Timesheet(t) => return check_timesheet(tx, &t.as_v1()),
        Upstream::TimesheetV1(t) => return check_timesheet(tx, &t),
        Upstream::ScanAnnulment(a) if blank(&a.scan_key) => {
            Err("scan_annulment needs scan_key".into())
        }
        Upstream::ScanAnnulment(_) => Ok(()),
        Upstream::ScanParty(p) if blank(&p.scan_key) || p.party_admitted == 0 => {
            Err("scan_party needs scan_key and party_admitted of at least 1".into())
        }
        Upstream::ScanParty(_) => Ok(()),
        Upstream::Reassociation(r) => return super::find_membership::check_reassociation(tx, &r),
        // The payload is read in full, and the match judged again, by `hub::intake`.
        Upstream::VisitorUpdate(v) if blank(&v.lookup_id) => {
            Err("visitor_update needs lookup_id".into())
        }
        Upstream::VisitorUpdate(_) => Ok(()),
    })
}

/// Volunteer hours become CRM timesheets: event name, job, date and hours (the volunteer
/// integration's rules, as the time clock keeps them: an event name of at most 30 characters, a
/// CRM job that exists). Used for uploaded rows and the volunteer system's import alike.
pub fn check_timesheet(
    tx: &Connection,
    t: &TimesheetV1,
) -> Result<std::result::Result<(), String>> {
    let event = t.event_name.trim();
    if t.constituent.trim().is_empty() || event.is_empty() {
        return Ok(Err(
            "timesheet needs constituent, event_name, job, date and hours".into(),
        ));
    }
    let job_known = tx
        .prepare_cached("SELECT 1 FROM jobs WHERE name = ?1")?
        .query_row([t.job.trim()], |_| Ok(()))
        .optional()?
        .is_some();
    let as_event = portico_core::volunteer::VolunteerEvent {
        event_id: String::new(),
        name: event.to_owned(),
        job: t.job.clone(),
    };
    if let Some(p) = portico_core::volunteer::event_problem(&as_event, &|_| job_known) {
        return Ok(Err(format!("event {event:?}: {}", p.words())));
    }
    if t.hours > 0.0 && t.hours <= 24.0 {
        Ok(Ok(()))
    } else {
        Ok(Err("hours must be a number above 0 and at most 24".into()))
    }
}
