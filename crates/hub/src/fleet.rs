//! The fleet: each device's last report of itself (`POST /v1/device-report`, every few minutes
//! while the hub answers), listed for the venue's IT by `portico hub devices` — last contact,
//! firmware, uploads waiting and refused, time without the hub, an out-of-order kiosk.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Json;
use axum::routing::post;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;

use super::server::{ApiError, AppState, authenticate, blocking};
use super::store::Result;
use portico_core::protocol::{DEVICE_REPORT_VERSION, DeviceReport, DeviceReportReply};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS device_reports (
    device_id   TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    report      TEXT NOT NULL
);
"#;

/// Keeps `device`'s report (the last one only).
pub fn record(
    tx: &Connection,
    device: &str,
    report: &DeviceReport,
    at: DateTime<Utc>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO device_reports (device_id, received_at, report) VALUES (?1, ?2, ?3)
         ON CONFLICT (device_id) DO UPDATE SET received_at = ?2, report = ?3",
    )?
    .execute(params![
        device,
        at.to_rfc3339(),
        serde_json::to_string(report)?
    ])?;
    Ok(())
}

/// A device as `portico hub devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetDevice {
    pub device_id: String,
    pub enabled: bool,
    /// When its last report arrived (`None`: it never reported).
    pub last_contact: Option<DateTime<Utc>>,
    pub report: Option<DeviceReport>,
}

/// Every registered device, with its last report.
pub fn devices(conn: &Connection) -> Result<Vec<FleetDevice>> {
    let rows = conn
        .prepare(
            "SELECT d.device_id, d.enabled, r.received_at, r.report
             FROM devices d LEFT JOIN device_reports r ON r.device_id = d.device_id
             ORDER BY d.device_id",
        )?
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .map(|(device_id, enabled, at, report)| FleetDevice {
            device_id,
            enabled,
            last_contact: at
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc)),
            // A report this build cannot read is shown as none (its time still shows).
            report: report.and_then(|r| serde_json::from_str(&r).ok()),
        })
        .collect())
}

/// `3 h 05 min`, `4 min`, `12 s`, `3 days`.
fn span(secs: i64) -> String {
    portico_core::screens::technician_view::span(std::time::Duration::from_secs(
        u64::try_from(secs).unwrap_or(0),
    ))
}

/// The fleet as a table for a terminal, at `now`; a device silent for longer than `silent`
/// is marked.
pub fn render(fleet: &[FleetDevice], now: DateTime<Utc>, silent: chrono::TimeDelta) -> String {
    let mut out = format!(
        "{:<20} {:<16} {:<10} {:>8} {:>6} {:<20} {}\n",
        "DEVICE", "LAST CONTACT", "FIRMWARE", "WAITING", "DEAD", "OFFLINE", "NOTE"
    );
    for d in fleet {
        let contact = d.last_contact.map_or_else(
            || "never".to_owned(),
            |t| format!("{} ago", span((now - t).num_seconds())),
        );
        let mut notes = Vec::new();
        if !d.enabled {
            notes.push("disabled".to_owned());
        }
        if d.last_contact.is_some_and(|t| now - t > silent) {
            notes.push("SILENT".to_owned());
        }
        let (firmware, waiting, dead, offline) = match &d.report {
            None => (
                "?".to_owned(),
                "?".to_owned(),
                "?".to_owned(),
                "?".to_owned(),
            ),
            Some(r) => {
                if r.dead_letters > 0 {
                    notes.push("uploads refused: see `portico outbox list` on it".into());
                }
                if let Some(code) = &r.out_of_order {
                    notes.push(format!("out of order ({code})"));
                }
                let since = span((now - r.up_since).num_seconds());
                let offline = match r.last_outage_secs {
                    Some(last) => format!(
                        "{} in {since} (last {})",
                        span(i64::try_from(r.offline_secs).unwrap_or(i64::MAX)),
                        span(i64::try_from(last).unwrap_or(i64::MAX))
                    ),
                    None => format!(
                        "{} in {since}",
                        span(i64::try_from(r.offline_secs).unwrap_or(i64::MAX))
                    ),
                };
                (
                    r.firmware.clone(),
                    r.outbox_pending.to_string(),
                    r.dead_letters.to_string(),
                    offline,
                )
            }
        };
        out.push_str(&format!(
            "{:<20} {:<16} {:<10} {:>8} {:>6} {:<20} {}\n",
            d.device_id,
            contact,
            firmware,
            waiting,
            dead,
            offline,
            notes.join("; ")
        ));
    }
    out
}

// ----- route -----

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/device-report", post(report_route))
}

async fn report_route(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> std::result::Result<Json<DeviceReportReply>, ApiError> {
    let device = authenticate(&state, &headers).await?;
    let report: DeviceReport = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("not a device report: {e}"),
        )
    })?;
    if report.report == 0 || report.report > DEVICE_REPORT_VERSION {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "unknown_version",
            format!(
                "device report version {} (this hub reads up to {DEVICE_REPORT_VERSION})",
                report.report
            ),
        ));
    }
    let store = state.store.clone();
    let now = Utc::now();
    blocking(move || store.write(|tx, _| record(tx, &device, &report, now))).await?;
    Ok(Json(DeviceReportReply { received_at: now }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn report(pending: u64, dead: u64) -> DeviceReport {
        DeviceReport {
            report: 1,
            firmware: "0.1.0".into(),
            roles: vec!["gate".into()],
            outbox_pending: pending,
            dead_letters: dead,
            up_since: Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap(),
            offline_secs: 600,
            last_outage_secs: Some(240),
            out_of_order: None,
            sent_at: Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn the_fleet_lists_each_device_with_its_last_report() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::HubStore::open(&dir.path().join("hub.db")).unwrap();
        for d in ["gate-north", "kiosk-lobby", "gate-south"] {
            store.add_device(d).unwrap();
        }
        let at = |h, m| Utc.with_ymd_and_hms(2026, 12, 7, h, m, 0).unwrap();
        store
            .write(|tx, _| record(tx, "gate-north", &report(0, 0), at(8, 0)))
            .unwrap();
        // Only the last report is kept.
        store
            .write(|tx, _| record(tx, "gate-north", &report(3, 1), at(9, 0)))
            .unwrap();
        let kiosk = DeviceReport {
            out_of_order: Some("P1".into()),
            roles: vec!["kiosk".into()],
            ..report(0, 0)
        };
        store
            .write(|tx, _| record(tx, "kiosk-lobby", &kiosk, at(7, 0)))
            .unwrap();
        let fleet = store.read(devices).unwrap();
        let ids: Vec<_> = fleet.iter().map(|d| d.device_id.as_str()).collect();
        assert_eq!(ids, ["gate-north", "gate-south", "kiosk-lobby"]);
        assert_eq!(fleet[0].last_contact, Some(at(9, 0)));
        assert_eq!(fleet[0].report.as_ref().unwrap().outbox_pending, 3);
        assert_eq!(fleet[1].last_contact, None, "never reported");
        let text = render(&fleet, at(9, 5), chrono::TimeDelta::minutes(30));
        let line = |id: &str| {
            text.lines()
                .find(|l| l.starts_with(id))
                .unwrap_or_else(|| panic!("{id} in {text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            line("gate-north"),
            "gate-north 5 min ago 0.1.0 3 1 10 min in 3 h 05 min (last 4 min) uploads refused: see `portico outbox list` on it"
        );
        assert_eq!(line("gate-south"), "gate-south never ? ? ? ?");
        assert!(
            line("kiosk-lobby").ends_with("SILENT; out of order (P1)"),
            "{}",
            line("kiosk-lobby")
        );
    }
}
