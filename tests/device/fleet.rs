//! The fleet: a running device reports itself to the hub, which `portico hub devices` lists.

use crate::common::{TestDevice, TestHub, manual_clock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_device_reports_itself_and_the_hub_lists_it() {
    let hub = TestHub::start(20).await;
    hub.store.add_device("kiosk-never").unwrap();
    let dev = TestDevice::new(&hub, "gate-7", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let engine = device.engine.clone();
    let run = tokio::spawn(async move { device.run(rx).await });
    // The first report goes as soon as the hub answers.
    let mut fleet = Vec::new();
    for _ in 0..200 {
        fleet = hub.store.read(portico::hub::fleet::devices).unwrap();
        if fleet.iter().any(|d| d.report.is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let gate = fleet.iter().find(|d| d.device_id == "gate-7").unwrap();
    let r = gate.report.as_ref().expect("the device reported");
    assert_eq!(r.firmware, env!("CARGO_PKG_VERSION"));
    assert_eq!(r.roles, ["gate"]);
    assert_eq!((r.outbox_pending, r.dead_letters), (0, 0));
    assert!(gate.last_contact.is_some());
    let never = fleet.iter().find(|d| d.device_id == "kiosk-never").unwrap();
    assert_eq!((never.last_contact, never.report.as_ref()), (None, None));
    let text =
        portico::hub::fleet::render(&fleet, chrono::Utc::now(), chrono::TimeDelta::minutes(30));
    assert!(
        text.lines()
            .any(|l| l.starts_with("gate-7 ") && l.contains(" 0.1.0 ")),
        "{text}"
    );

    // A report of a format the hub does not know is refused, and changes nothing.
    let mut future = portico::sync::report::report(
        &engine,
        &portico::sync::report::OfflineClock::new(engine.now()),
        engine.now(),
    )
    .unwrap();
    future.report = 99;
    future.outbox_pending = 1234;
    let refused = engine.client().device_report(&future).await;
    assert!(
        matches!(
            &refused,
            Err(portico::sync::SyncError::Rejected { status: 400, .. })
        ),
        "{refused:?}"
    );
    let fleet = hub.store.read(portico::hub::fleet::devices).unwrap();
    assert_eq!(
        fleet
            .iter()
            .find(|d| d.device_id == "gate-7")
            .and_then(|d| d.report.as_ref())
            .map(|r| r.outbox_pending),
        Some(0)
    );
    tx.send(true).unwrap();
    run.await.unwrap().unwrap();
}
