//! Helpers for the constituent intake tests: hub records, device intake calls, and reads of
//! the device database.

#![allow(dead_code)]

use portico::device::Device;
use portico::domain::Constituent;
use portico::intake::{IntakeConfig, IntakeOutcome};
use portico::matching::VisitorDetails;
use portico::outbox::OutboxRow;
use portico::protocol::{ConstituentDto, Resource};

use super::common::TestHub;

/// Puts `records` on the hub (published on the constituents feed).
pub fn put_on_hub(hub: &TestHub, records: &[Constituent]) {
    for c in records {
        hub.store
            .upsert(
                Resource::Constituents,
                &c.lookup_id,
                &ConstituentDto::from(c.clone()),
            )
            .unwrap();
    }
}

/// Runs intake on the device's database at the device's clock time.
pub fn intake(
    device: &Device,
    config: &IntakeConfig,
    visitor: &VisitorDetails,
    now: chrono::DateTime<chrono::Utc>,
) -> IntakeOutcome {
    portico::intake::intake(
        &device.store,
        &device.config.normalizer,
        config,
        visitor,
        now,
    )
    .unwrap()
}

/// Runs `f` in one transaction of the device database's writer.
pub fn write_db<T: Send + 'static>(
    device: &Device,
    f: impl FnOnce(&rusqlite::Connection) -> T + Send + 'static,
) -> T {
    device.store.write(move |tx| Ok(f(tx))).unwrap()
}

/// Runs `f` on the device database's read connection.
pub fn with_db<T>(device: &Device, f: impl FnOnce(&rusqlite::Connection) -> T) -> T {
    let db = device.engine.database();
    let conn = db.lock().unwrap();
    f(&conn)
}

/// Every outbox row of `kind`, in order.
pub fn outbox_rows(device: &Device, kind: &str) -> Vec<OutboxRow> {
    with_db(device, |c| {
        let keys: Vec<String> = c
            .prepare("SELECT idempotency_key FROM outbox WHERE kind = ?1 ORDER BY id")
            .unwrap()
            .query_map([kind], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        keys.iter()
            .map(|k| portico::outbox::get(c, k).unwrap().unwrap())
            .collect()
    })
}

/// `(lookup_id, pending)` of every replica constituent with this last name.
pub fn replica_rows(device: &Device, last: &str) -> Vec<(String, bool)> {
    with_db(device, |c| {
        c.prepare("SELECT lookup_id, pending FROM constituents WHERE last_name = ?1 ORDER BY id")
            .unwrap()
            .query_map([last], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    })
}

/// Hub constituents with this last name, in key order.
pub fn hub_rows(hub: &TestHub, last: &str) -> Vec<ConstituentDto> {
    hub.store
        .all::<ConstituentDto>(Resource::Constituents)
        .unwrap()
        .into_iter()
        .filter(|c| c.name.last == last)
        .collect()
}

/// A gate's scan of `use_key` in the scan log (only what remapping reads matters).
pub fn insert_scan(c: &rusqlite::Connection, use_key: &str) {
    c.execute(
        "INSERT INTO scans (use_key, credential_kind, gate, direction, outcome, reason_code,
             party_requested, party_admitted, uses_burned, at_ms, local_time, outbox_key)
         VALUES (?1, 'membership', 'North', 'entry', 'admit', 'admitted', 1, 1, 0, 0, '', '')",
        [use_key],
    )
    .unwrap();
}

/// Use keys in the scan log, in order.
pub fn scan_keys(device: &Device) -> Vec<String> {
    with_db(device, |c| {
        c.prepare("SELECT use_key FROM scans ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    })
}

/// A GET with the device's bearer token against the hub, over the test CA.
pub async fn hub_get(hub: &TestHub, token: &str, path: &str) -> (u16, String) {
    let tls = portico::tls::client_config(&hub.ca, None).unwrap();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}{path}", hub.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}
