//! A running device reads its database into memory when it starts, so the first visitors after
//! a reboot (kiosks switched off overnight) are not kept waiting on the disk; and a pull reads
//! back what the kernel has dropped of it since, before it applies a change.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{TestDevice, TestHub, manual_clock};
use portico::replica::residency;

/// A device on disk with a replica of a 3,000-constituent hub, synced once and closed.
async fn synced_device() -> (TestHub, TestDevice, PathBuf) {
    let hub = TestHub::start(3_000).await;
    let dev = TestDevice::on_disk(&hub, "gate-9");
    let db = dev.config().database_path();
    dev.open(manual_clock())
        .engine
        .pull_all(None)
        .await
        .unwrap();
    (hub, dev, db)
}

/// Drops the file's pages from the kernel's cache, as a reboot or reclaim would, and returns
/// what stayed.
fn evict(db: &Path) -> residency::Residency {
    residency::evict(db).unwrap();
    let before = residency::resident(db).unwrap();
    assert!(before.file_bytes > 1_000_000, "{before:?}");
    assert!(
        before.percent() < 50.0,
        "the file stayed cached: {before:?}"
    );
    before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_reads_its_replica_into_memory_when_it_starts() {
    let (_hub, dev, db) = synced_device().await;
    // As after a reboot: nothing of the file in memory.
    let before = evict(&db);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_reads_back_what_the_kernel_dropped_of_the_replica_and_applies_the_delta() {
    let (hub, dev, db) = synced_device().await;
    let device = dev.open(manual_clock());
    let changed = portico::hub::seed::mutate(&hub.store, 30, 3_000, 7).unwrap();
    // As after hours of idling under memory pressure: the replica's pages reclaimed.
    let before = evict(&db);

    let report = device.engine.pull_all(None).await.unwrap();
    assert_eq!(report.upserts, 30);
    // 30 changes touch a few dozen of the file's pages; the rest came back by the read-back.
    let after = residency::resident(&db).unwrap();
    assert!(after.percent() >= 99.0, "{before:?} → {after:?}");
    let again = residency::warm_if_evicted(&db, "test");
    assert!(
        again.is_none(),
        "a file in memory is not read again: {again:?}"
    );
    let conn = device.engine.database();
    let conn = conn.lock().unwrap();
    for id in &changed {
        let want = hub.store.constituent(id).unwrap().unwrap();
        let got = portico::replica::constituent(&conn, id).unwrap().unwrap();
        assert_eq!(portico::protocol::ConstituentDto::from(got), want);
    }
}
