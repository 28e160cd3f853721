//! A running device reads its database into memory when it starts, so the first visitors after
//! a reboot (kiosks switched off overnight) are not kept waiting on the disk.

mod common;

use std::time::Duration;

use common::{TestDevice, TestHub, manual_clock};
use portico::replica::residency;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_reads_its_replica_into_memory_when_it_starts() {
    let hub = TestHub::start(3_000).await;
    let dev = TestDevice::on_disk(&hub, "gate-9");
    let db = dev.config().database_path();
    {
        let device = dev.open(manual_clock());
        device.engine.pull_all(None).await.unwrap();
    }
    // As after a reboot: nothing of the file in memory.
    residency::evict(&db).unwrap();
    let before = residency::resident(&db).unwrap();
    assert!(before.file_bytes > 1_000_000, "{before:?}");
    assert!(
        before.percent() < 50.0,
        "the file stayed cached: {before:?}"
    );

    let device = dev.open(manual_clock());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(async move { device.run(rx).await });
    let mut after = before;
    for _ in 0..400 {
        after = residency::resident(&db).unwrap();
        if after.percent() >= 99.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(after.percent() >= 99.0, "{before:?} → {after:?}");
    tx.send(true).unwrap();
    run.await.unwrap().unwrap();
}
