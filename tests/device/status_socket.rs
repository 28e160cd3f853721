//! `portico status` asks a running device over its Unix socket.

use crate::common::{TestDevice, TestHub, manual_clock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_device_reports_role_link_cursors_and_outbox() {
    let hub = TestHub::start(200).await;
    let dev = TestDevice::new(&hub, "gate-7", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    let socket = device.config.status_socket.clone();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let engine = device.engine.clone();
    let run = tokio::spawn(async move { device.run(rx).await });

    // Wait for the first sync to land.
    let mut report = None;
    for _ in 0..100 {
        if let Ok(reply) = portico::status::ask(&socket, &portico::status::Request::Status).await {
            let r: portico::status::StatusReport = serde_json::from_str(&reply).unwrap();
            if r.link.last_pull_ok.is_some() {
                report = Some(r);
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let report = report.expect("device answered with a completed sync");
    assert_eq!(report.device_id, "gate-7");
    assert_eq!(report.roles, vec!["gate".to_string()]);
    assert!(report.link.online);
    assert!(report.constituents >= 200);
    assert!(
        report.cursors.iter().all(|c| c.updated_at.is_some()),
        "{:?}",
        report.cursors
    );
    let text = portico::status::render(&report);
    assert!(text.contains("hub link    online"), "{text}");
    // The gate opened its scan log; nothing has been scanned yet.
    let log = report.scan_log.as_ref().expect("a gate has a scan log");
    assert_eq!((log.scans, log.oldest, log.tallies), (0, None, 0));
    assert!(
        text.contains("scan log    0 scans, 0 ticket tallies"),
        "{text}"
    );
    // And how much room the device has left for its records.
    let storage = report.storage.as_ref().expect("the database's file system");
    assert!(
        storage.database_bytes > 0 && storage.total_bytes > 0,
        "{storage:?}"
    );
    assert!(text.contains("storage     database "), "{text}");
    // Nothing from an earlier build to keep aside.
    assert!(report.kept_aside.is_empty());
    assert!(!text.contains("kept aside"), "{text}");

    assert_eq!(
        portico::status::ask(&socket, &portico::status::Request::Sync)
            .await
            .unwrap(),
        r#"{"ok":true}"#
    );
    assert!(
        portico::status::ask_line(&socket, "reboot")
            .await
            .unwrap()
            .contains("unknown request")
    );
    drop(engine);
    tx.send(true).unwrap();
    run.await.unwrap().unwrap();
    assert!(!socket.exists(), "socket removed on shutdown");
}
