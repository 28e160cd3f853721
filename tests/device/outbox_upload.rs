//! The outbox against a real hub: durability across restarts, exactly-once application under
//! replay, dead letters, and a refused token.

use std::sync::atomic::Ordering;

use crate::common::{TestDevice, TestHub, manual_clock};
use portico::outbox::{self, kinds};
use portico::sync::SyncError;
use serde_json::json;

fn enqueue_scans(device: &portico::device::Device, n: usize) -> Vec<String> {
    device
        .store
        .write(move |tx| {
            (0..n)
                .map(|i| {
                    outbox::enqueue_raw(
                        tx,
                        kinds::SCAN,
                        &json!({"credential": format!("M{i}"), "decision": "admit"}),
                        0,
                    )
                })
                .collect()
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_survive_a_restart_and_are_applied_once_even_when_the_upload_is_replayed() {
    let hub = TestHub::start(10).await;
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let clock = manual_clock();
    let keys = {
        let device = dev.open(clock.clone());
        enqueue_scans(&device, 5)
        // the device process ends here: database closed, nothing uploaded
    };
    let device = dev.open(clock.clone());
    {
        let db = device.engine.database();
        assert_eq!(
            outbox::stats(&db.lock().unwrap()).unwrap().pending,
            5,
            "survived the restart"
        );
    }

    // The hub applies the batch but the reply never arrives.
    hub.server
        .state
        .faults
        .cut_upload_response
        .store(1, Ordering::SeqCst);
    let err = device.engine.push_once().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(hub.store.inbox_total().unwrap(), 5);
    {
        let db = device.engine.database();
        let conn = db.lock().unwrap();
        let row = outbox::get(&conn, &keys[0]).unwrap().unwrap();
        assert_eq!((row.state.as_str(), row.attempts), ("pending", 1));
        assert!(row.last_error.is_some());
    }
    // Not due again before the backoff ends.
    assert_eq!(device.engine.push_once().await.unwrap().duplicates, 0);
    clock.advance(chrono::Duration::seconds(5));
    let report = device.engine.push_once().await.unwrap();
    assert_eq!(
        (report.delivered, report.duplicates),
        (0, 5),
        "the replay is recognised"
    );
    for key in &keys {
        assert_eq!(hub.store.inbox_count(key).unwrap(), 1, "{key} applied once");
    }
    let db = device.engine.database();
    let s = outbox::stats(&db.lock().unwrap()).unwrap();
    assert_eq!((s.pending, s.delivered, s.dead), (0, 5, 0));
}

/// Seed 002: "Event names in VolunteerHub cannot exceed 30 characters in order to sync to
/// Altru" and "Events created in VolunteerHub MUST include a Altru Job ... if you cannot find
/// a job in VolunteerHub, it's because it doesn't exist in Altru."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_timesheets_the_crm_refuses_are_dead_lettered_with_the_reason_and_stay_visible() {
    let hub = TestHub::start(10).await;
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    let ts = |event: &str, job: &str| json!({"constituent": "8-10000001", "event_name": event, "job": job, "date": "2026-11-01", "hours": 3.0});
    let thirty = "A".repeat(30);
    let cases = [
        (ts(&thirty, "Front Desk"), None),
        (ts(&format!("{thirty}B"), "Front Desk"), Some("at most 30")),
        (ts("Gallery night", "Juggler"), Some("does not exist")),
    ];
    let payloads: Vec<_> = cases.iter().map(|(p, _)| p.clone()).collect();
    let keys: Vec<String> = device
        .store
        .write(move |tx| {
            payloads
                .iter()
                .map(|p| outbox::enqueue_raw(tx, kinds::TIMESHEET, p, 0))
                .collect()
        })
        .unwrap();
    let report = device.engine.push_once().await.unwrap();
    assert_eq!((report.delivered, report.dead), (1, 2));
    let db = device.engine.database();
    let conn = db.lock().unwrap();
    for ((_, want), key) in cases.iter().zip(&keys) {
        let row = outbox::get(&conn, key).unwrap().unwrap();
        match want {
            None => assert_eq!(row.state, "delivered"),
            Some(reason) => {
                assert_eq!(row.state, "dead");
                let got = row.dead_reason.unwrap();
                assert!(got.contains(reason), "{got}");
            }
        }
    }
    let report = portico::status::report(
        &conn,
        "gate-1",
        vec![],
        device.engine.link_status(),
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(report.dead_letters.len(), 2);
    let text = portico::status::render(&report);
    assert!(text.contains("1 delivered, 2 dead-lettered"), "{text}");
    assert!(text.contains("at most 30"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_marks_the_device_unauthorised_and_keeps_every_row() {
    let hub = TestHub::start(10).await;
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    enqueue_scans(&device, 3);
    hub.store.disable_device("gate-1").unwrap();
    let err = device.engine.push_once().await.unwrap_err();
    assert!(matches!(err, SyncError::Unauthorized(_)), "{err:?}");
    assert!(device.engine.link_status().unauthorized);
    assert!(matches!(
        device.engine.pull_all(None).await,
        Err(SyncError::Unauthorized(_))
    ));
    let db = device.engine.database();
    let s = outbox::stats(&db.lock().unwrap()).unwrap();
    assert_eq!((s.pending, s.dead), (3, 0), "nothing dropped");

    // A new token in the token file takes effect without a restart.
    let token = hub.store.add_device("gate-1").unwrap();
    portico::hub::write_private(&dev.dir.path().join("device.token"), token.as_bytes()).unwrap();
    device.engine.hello().await.unwrap();
    assert!(!device.engine.link_status().unauthorized);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_hub_keeps_rows_for_retry_with_backoff() {
    let hub = TestHub::start(10).await;
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let clock = manual_clock();
    let device = dev.open(clock.clone());
    let keys = enqueue_scans(&device, 2);
    hub.server.shutdown().await;
    let err = device.engine.push_once().await.unwrap_err();
    assert!(matches!(err, SyncError::Network(_)), "{err:?}");
    let link = device.engine.link_status();
    assert!(!link.online && link.unreachable, "{link:?}");
    let db = device.engine.database();
    let conn = db.lock().unwrap();
    let row = outbox::get(&conn, &keys[0]).unwrap().unwrap();
    assert_eq!(row.state, "pending");
    // A technician reads "offline", not a fault of the hub's or of something in between.
    let report =
        portico::status::report(&conn, "gate-1", vec![], link, chrono::Utc::now()).unwrap();
    let text = portico::status::render(&report);
    assert!(
        text.contains("hub link    OFFLINE (hub unreachable; retrying)"),
        "{text}"
    );
    let now = portico::clock::Clock::now(&*clock).timestamp_millis();
    // retry_base is 1s: the first retry waits between 0.5 s and 1 s.
    assert!(
        (now + 500..=now + 1000).contains(&row.next_attempt_at_ms),
        "{row:?}"
    );
}
