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
    // The volunteer system's own hours (imported; never waiting for approval here).
    if !needs_approval {
        let mut st = conn.prepare_cached(
            "SELECT imported_at, lookup_id, event_name, job, date, hours FROM imported_timesheets
             ORDER BY imported_at, user_id, date",
        )?;
        let imported = st
            .query_map([], |r| {
                Ok(TimesheetRow {
                    device_id: SOURCE.to_owned(),
                    received_at: r.get(0)?,
                    constituent: r.get(1)?,
                    event_name: r.get(2)?,
                    job: r.get(3)?,
                    date: r.get::<_, String>(4)?.parse().unwrap_or_default(),
                    hours: r.get(5)?,
                    needs_approval: None,
                    shift_id: None,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.extend(imported);
    }
    Ok(out)
}

/// Tables of the volunteer system's import.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS volunteer_users (
    user_id      TEXT PRIMARY KEY,
    lookup_id    TEXT NOT NULL,
    created_new  INTEGER NOT NULL,
    first_import TEXT NOT NULL,
    last_import  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS volunteer_relationships (
    lookup_id    TEXT NOT NULL,
    organization TEXT NOT NULL,
    user_group   TEXT NOT NULL,
    PRIMARY KEY (lookup_id, organization, user_group)
);
CREATE TABLE IF NOT EXISTS imported_timesheets (
    user_id     TEXT NOT NULL,
    event_name  TEXT NOT NULL,
    date        TEXT NOT NULL,
    lookup_id   TEXT NOT NULL,
    job         TEXT NOT NULL,
    hours       REAL NOT NULL,
    imported_at TEXT NOT NULL,
    PRIMARY KEY (user_id, event_name, date)
);
"#;

/// Where imported people come from, as intake records them.
pub const SOURCE: &str = "volunteer-system";

/// The volunteer system's export: the users who created or updated their accounts, or received
/// hours, since its last run.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolunteerExport {
    pub exported_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub users: Vec<VolunteerUser>,
}

/// One user of the volunteer system, with what the integration carries: biographical fields,
/// group memberships, event registrations with their hours.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolunteerUser {
    pub user_id: String,
    pub first: String,
    #[serde(default)]
    pub middle: Option<String>,
    pub last: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_opt_in: Option<bool>,
    #[serde(default)]
    pub home_phone: Option<String>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub work_phone: Option<String>,
    #[serde(default)]
    pub address: Option<portico_core::matching::PostalAddress>,
    #[serde(default)]
    pub birth_date: Option<NaiveDate>,
    #[serde(default)]
    pub gender: Option<String>,
    #[serde(default)]
    pub groups: Vec<GroupMembership>,
    #[serde(default)]
    pub registrations: Vec<Registration>,
}

/// A user group; only one linked to an organisation becomes a relationship.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMembership {
    pub group: String,
    #[serde(default)]
    pub organization: Option<String>,
}

/// An event registration with the hours granted.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub event: String,
    #[serde(default)]
    pub job: String,
    pub date: NaiveDate,
    pub hours: f64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub users: usize,
    /// Users matched to (or already linked with) an existing record.
    pub matched: usize,
    /// New records made: to de-duplicate in the CRM.
    pub created: Vec<NewVolunteer>,
    /// Users intake could not take, with the reason.
    pub refused_users: Vec<(String, String)>,
    pub relationships: usize,
    pub hours_accepted: usize,
    /// Registrations the CRM would refuse: user, event, reason.
    pub hours_refused: Vec<(String, String, String)>,
}

/// A record the import created, listed for de-duplication.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewVolunteer {
    pub user_id: String,
    pub lookup_id: String,
    pub name: String,
}

/// Why a registration's hours cannot become a CRM timesheet (the integration's two rules, and
/// hours that are no hours).
fn registration_problem(
    tx: &Connection,
    lookup_id: &str,
    r: &Registration,
) -> Result<Option<String>> {
    let as_timesheet = portico_core::upstream::TimesheetV1 {
        constituent: lookup_id.to_owned(),
        event_name: r.event.clone(),
        job: r.job.clone(),
        date: r.date,
        hours: r.hours,
    };
    Ok(crate::ingest::check_timesheet(tx, &as_timesheet)?.err())
}

/// Applies an export in one transaction: each user matched or created through intake (a user
/// seen before stays on the same record, which the update rules bring up to date), their groups
/// linked to an organisation as relationships, their hours as timesheets under the two rules.
pub fn import(
    tx: &Connection,
    seq: &mut Seq,
    export: &VolunteerExport,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ImportReport> {
    use portico_core::domain::PersonName;
    use portico_core::matching::VisitorDetails;
    use portico_core::update_rules::VisitorContactTypes;
    let mut report = ImportReport {
        users: export.users.len(),
        ..ImportReport::default()
    };
    for u in &export.users {
        let (phone, phone_type) = [
            (&u.mobile_phone, "Mobile"),
            (&u.home_phone, "Home"),
            (&u.work_phone, "Work"),
        ]
        .into_iter()
        .find_map(|(p, t)| {
            p.as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(|p| (p.to_owned(), t))
        })
        .map_or((None, "Home"), |(p, t)| (Some(p), t));
        let visitor = VisitorDetails {
            name: PersonName {
                title: None,
                first: u.first.trim().to_owned(),
                middle: u.middle.clone().filter(|m| !m.trim().is_empty()),
                last: u.last.trim().to_owned(),
                suffix: None,
            },
            email: u.email.clone().filter(|e| !e.trim().is_empty()),
            phone,
            address: u.address.clone(),
            birth_date: u.birth_date,
        };
        let types = VisitorContactTypes {
            phone: phone_type.to_owned(),
            ..VisitorContactTypes::default()
        };
        let user_id = u.user_id.trim();
        if user_id.is_empty() {
            report
                .refused_users
                .push((String::new(), "a user without a user_id".into()));
            continue;
        }
        let (lookup_id, created) = match crate::intake::intake_external(
            tx, seq, SOURCE, user_id, &visitor, &types, now,
        )? {
            Ok(found) => found,
            Err(reason) => {
                report.refused_users.push((user_id.to_owned(), reason));
                continue;
            }
        };
        tx.prepare_cached(
            "INSERT INTO volunteer_users (user_id, lookup_id, created_new, first_import, last_import)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT(user_id) DO UPDATE SET lookup_id = excluded.lookup_id,
                 last_import = excluded.last_import",
        )?
        .execute(rusqlite::params![user_id, lookup_id, created, now.to_rfc3339()])?;
        if created {
            report.created.push(NewVolunteer {
                user_id: user_id.to_owned(),
                lookup_id: lookup_id.clone(),
                name: format!("{} {}", visitor.name.first, visitor.name.last),
            });
        } else {
            report.matched += 1;
        }
        for g in &u.groups {
            let Some(org) = g
                .organization
                .as_deref()
                .map(str::trim)
                .filter(|o| !o.is_empty())
            else {
                continue;
            };
            report.relationships += tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO volunteer_relationships (lookup_id, organization, user_group)
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(rusqlite::params![lookup_id, org, g.group.trim()])?;
        }
        for r in &u.registrations {
            if let Some(reason) = registration_problem(tx, &lookup_id, r)? {
                report
                    .hours_refused
                    .push((user_id.to_owned(), r.event.clone(), reason));
                continue;
            }
            tx.prepare_cached(
                "INSERT OR REPLACE INTO imported_timesheets
                     (user_id, event_name, date, lookup_id, job, hours, imported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(rusqlite::params![
                user_id,
                r.event.trim(),
                r.date.to_string(),
                lookup_id,
                r.job.trim(),
                r.hours,
                now.to_rfc3339()
            ])?;
            report.hours_accepted += 1;
        }
    }
    Ok(report)
}

/// The records imports created, for de-duplication in the CRM.
pub fn new_volunteers(conn: &Connection) -> Result<Vec<(String, String, String)>> {
    let mut st = conn.prepare_cached(
        "SELECT user_id, lookup_id, first_import FROM volunteer_users WHERE created_new = 1
         ORDER BY first_import, user_id",
    )?;
    Ok(st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Relationships of a record made from the volunteer system's groups: (organization, group).
pub fn relationships(conn: &Connection, lookup_id: &str) -> Result<Vec<(String, String)>> {
    let mut st = conn.prepare_cached(
        "SELECT organization, user_group FROM volunteer_relationships WHERE lookup_id = ?1
         ORDER BY organization, user_group",
    )?;
    Ok(st
        .query_map([lookup_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::HubStore;

    fn export(json: serde_json::Value) -> VolunteerExport {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn rule_the_hourly_import_matches_or_creates_users_and_keeps_only_hours_the_crm_takes() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        // The CRM: one known person, and its jobs.
        let known =
            portico_core::protocol::ConstituentDto::from(portico_core::domain::Constituent {
                lookup_id: "8-20000001".into(),
                name: portico_core::domain::PersonName {
                    title: None,
                    first: "Ana".into(),
                    middle: None,
                    last: "Ruiz".into(),
                    suffix: None,
                },
                birth_date: None,
                status: portico_core::domain::ConstituentStatus::Active,
                historical_names: vec![],
                emails: vec![portico_core::domain::Email {
                    address: "ana.ruiz@mail.test".into(),
                    meta: portico_core::domain::ContactMeta {
                        kind: "Email".into(),
                        primary: true,
                        active: true,
                        start: None,
                        end: None,
                    },
                }],
                phones: vec![],
                addresses: vec![],
            });
        store
            .upsert(Resource::Constituents, "8-20000001", &known)
            .unwrap();
        for job in ["Event Support", "Garden Crew"] {
            store.add_job(job).unwrap();
        }
        let first = export(serde_json::json!({
            "exported_at": "2026-12-06T10:00:00Z",
            "users": [
                {"user_id": "VH-1", "first": "Ana", "last": "Ruiz", "email": "ANA.RUIZ@mail.test",
                 "mobile_phone": "512-555-0101",
                 "groups": [{"group": "Docents", "organization": "Riverside Docents Guild"},
                            {"group": "Newsletter"}],
                 "registrations": [
                    {"event": "Winter Lights Ushers", "job": "Event Support", "date": "2026-12-01", "hours": 3.5},
                    {"event": "Summer Family Festival Weekend Volunteers", "job": "Event Support", "date": "2026-12-02", "hours": 4},
                    {"event": "Dolphin Show Helpers", "job": "Dolphin Trainer", "date": "2026-12-03", "hours": 2},
                    {"event": "Garden Crew Morning", "job": "", "date": "2026-12-04", "hours": 2}
                 ]},
                {"user_id": "VH-2", "first": "Ben", "last": "Okafor", "email": "ben@mail.test",
                 "registrations": [
                    {"event": "Garden Crew Morning", "job": "Garden Crew", "date": "2026-12-01", "hours": 4},
                    {"event": "Garden Crew Morning", "job": "Garden Crew", "date": "2026-12-02", "hours": 0}
                 ]},
                {"user_id": "VH-3", "first": "", "last": "Nobody"}
            ]
        }));
        let now = chrono::Utc::now();
        let report = store.write(|tx, seq| import(tx, seq, &first, now)).unwrap();
        assert_eq!((report.users, report.matched), (3, 1), "{report:?}");
        // Ana matched the CRM's record (name and email); Ben is new, listed for de-duplication.
        assert_eq!(report.created.len(), 1);
        assert_eq!(report.created[0].user_id, "VH-2");
        assert_eq!(report.refused_users.len(), 1);
        assert_eq!(report.refused_users[0].0, "VH-3");
        // Only a group linked to an organisation becomes a relationship.
        assert_eq!(report.relationships, 1);
        let rel = store.read(|c| relationships(c, "8-20000001")).unwrap();
        assert_eq!(
            rel,
            vec![("Riverside Docents Guild".to_owned(), "Docents".to_owned())]
        );
        // Hours: the two rules (a name over 30 characters; a job the CRM lacks, or none) and no
        // hours at all are refused, each with its reason.
        assert_eq!(report.hours_accepted, 2);
        let refused: Vec<(&str, &str)> = report
            .hours_refused
            .iter()
            .map(|(u, e, _)| (u.as_str(), e.as_str()))
            .collect();
        assert_eq!(
            refused,
            vec![
                ("VH-1", "Summer Family Festival Weekend Volunteers"),
                ("VH-1", "Dolphin Show Helpers"),
                ("VH-1", "Garden Crew Morning"),
                ("VH-2", "Garden Crew Morning"),
            ]
        );
        let reasons: Vec<&str> = report
            .hours_refused
            .iter()
            .map(|(_, _, r)| r.as_str())
            .collect();
        assert!(reasons[0].contains("41 characters"), "{}", reasons[0]);
        assert!(
            reasons[1].contains("job \"Dolphin Trainer\" does not exist"),
            "{}",
            reasons[1]
        );
        assert!(reasons[2].contains("no CRM job"), "{}", reasons[2]);
        assert!(reasons[3].contains("hours"), "{}", reasons[3]);
        let listed = store.read(|c| timesheets(c, false)).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|t| t.device_id == SOURCE));
        assert!(
            listed
                .iter()
                .any(|t| t.constituent == "8-20000001" && t.hours == 3.5)
        );

        // The next hour: Ben changed his email and got more hours. He stays on his record; the
        // same registration sent again is one timesheet, with its hours as now reported.
        let ben = report.created[0].lookup_id.clone();
        let second = export(serde_json::json!({
            "exported_at": "2026-12-06T11:00:00Z",
            "since": "2026-12-06T10:00:00Z",
            "users": [
                {"user_id": "VH-2", "first": "Ben", "last": "Okafor", "email": "ben.okafor@mail.test",
                 "registrations": [
                    {"event": "Garden Crew Morning", "job": "Garden Crew", "date": "2026-12-01", "hours": 4.5}
                 ]}
            ]
        }));
        let again = store
            .write(|tx, seq| import(tx, seq, &second, now))
            .unwrap();
        assert_eq!((again.matched, again.created.len()), (1, 0));
        let record = store.constituent(&ben).unwrap().unwrap();
        let emails: Vec<(&str, bool)> = record
            .emails
            .iter()
            .map(|e| (e.address.as_str(), e.meta.active))
            .collect();
        assert!(
            emails.contains(&("ben.okafor@mail.test", true)),
            "the update rules added the new email: {emails:?}"
        );
        let listed = store.read(|c| timesheets(c, false)).unwrap();
        let bens: Vec<f64> = listed
            .iter()
            .filter(|t| t.constituent == ben)
            .map(|t| t.hours)
            .collect();
        assert_eq!(bens, vec![4.5]);
        // New records stay listed for de-duplication.
        let new = store.read(new_volunteers).unwrap();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].1, ben);
    }
}
