//! Device ↔ hub sync over real TLS on loopback: initial and delta sync, merges and the purge,
//! interrupted pages, and certificate checks.

use crate::common;

use std::collections::BTreeMap;

use crate::common::{TestDevice, TestHub, manual_clock};
use portico::protocol::{ConstituentDto, ProductDto, Resource};
use portico::replica;
use portico::sync::SyncError;

/// Every record of every resource in the replica equals the hub's, and nothing else is there.
fn assert_replica_equals_hub(hub: &TestHub, conn: &rusqlite::Connection) {
    let differences = portico::bench::crash::replica_differences(&hub.store, conn).unwrap();
    assert!(differences.is_empty(), "replica differs: {differences:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_of_10000_constituents_equals_the_hub_row_for_row() {
    let hub = TestHub::start(10_000).await;
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    let report = device.engine.pull_all(None).await.unwrap();
    assert!(report.pages > 20, "paged: {report:?}");
    let db = device.engine.database();
    let conn = db.lock().unwrap();
    assert!(replica::lookup_ids(&conn).unwrap().len() >= 10_000);
    assert_replica_equals_hub(&hub, &conn);
    let catalog: Vec<ProductDto> = hub
        .store
        .all_docs(Resource::Catalog)
        .unwrap()
        .into_iter()
        .map(|(_, d)| serde_json::from_str(&d).unwrap())
        .collect();
    assert!(catalog.iter().any(|p| p.member_price != p.non_member_price));
    let status = device.engine.link_status();
    assert!(status.online && status.last_pull_ok.is_some());
}

/// The kiosk's catalog travels by the feeds like every other record: the zoo's products with
/// their prices per visitor category, the categories, tax rules and a month of timed-entry
/// slots, read back as the kiosk's model and priced by it. A product whose sale document is of
/// a schema this build does not read stays in the replica as delivered and is not sold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_catalog_arrives_by_the_feeds_and_prices_a_basket() {
    use portico::kiosk::pricing::{CartLine, quote};
    let hub = TestHub::start(50).await;
    let dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    device.engine.pull_all(None).await.unwrap();
    let day = common::anchor();
    let db = device.engine.database();
    {
        let conn = db.lock().unwrap();
        assert_replica_equals_hub(&hub, &conn);
        let loaded =
            replica::catalog::load_catalog(&conn, day, day + chrono::Duration::days(29)).unwrap();
        let c = &loaded.catalog;
        assert!(loaded.unreadable.is_empty(), "{:?}", loaded.unreadable);
        let ids: Vec<&str> = c.products.keys().map(String::as_str).collect();
        assert_eq!(
            ids,
            [
                "CAROUSEL", "DAY", "GIRAFFE", "MEM-FAM", "MEM-IND", "MEM-PAT", "PARKING", "TIMED"
            ],
            "the kiosk sells the zoo's products, not the desk's"
        );
        assert_eq!(c.categories.len(), 4);
        assert_eq!(c.tax_rules["sales"].rate_bp, 825);
        assert_eq!(c.slots.len(), 30 * (16 + 11));
        let ten = day.and_hms_opt(10, 0, 0).unwrap();
        assert_eq!(c.slots["zoo@2026-11-01T10:00"].capacity, 150);
        let open = c.open_slots("zoo", day, day.and_hms_opt(9, 40, 0).unwrap());
        assert_eq!(
            open.first().map(|s| s.start),
            Some(ten),
            "09:00 and 09:30 have closed"
        );

        // Two adults and a child in the 10:00 slot, no membership: 4800 + 396 tax and
        // 1400 + 116 (115.5 rounded half up).
        let line = |category: &str, quantity| CartLine {
            product: "TIMED".into(),
            category: Some(category.into()),
            slot: Some("zoo@2026-11-01T10:00".into()),
            quantity,
        };
        let cart = [line("adult", 2), line("child", 1)];
        let q = quote(
            &cart,
            c,
            None,
            common::start_time(),
            day.and_hms_opt(9, 0, 0).unwrap(),
        )
        .unwrap();
        assert_eq!((q.net, q.tax, q.gross), (6200, 512, 6712));
    }

    // The hub publishes a product in a sale schema from the future.
    let mut product: ProductDto = serde_json::from_str(
        &hub.store
            .all_docs(Resource::Catalog)
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == "CAROUSEL")
            .unwrap()
            .1,
    )
    .unwrap();
    product.sale =
        Some(serde_json::json!({"schema": 3, "names": {"en": "Carousel"}, "pricing": "surge"}));
    hub.store
        .upsert(Resource::Catalog, "CAROUSEL", &product)
        .unwrap();
    device.engine.pull_all(None).await.unwrap();
    let conn = db.lock().unwrap();
    assert_replica_equals_hub(&hub, &conn);
    let loaded = replica::catalog::load_catalog(&conn, day, day).unwrap();
    assert!(!loaded.catalog.products.contains_key("CAROUSEL"));
    assert_eq!(loaded.catalog.products.len(), 7);
    assert_eq!(loaded.unreadable.len(), 1);
    assert_eq!(loaded.unreadable[0].0, "CAROUSEL");
    assert!(
        loaded.unreadable[0].1.contains("schema 3"),
        "{:?}",
        loaded.unreadable
    );
    assert_eq!(loaded.catalog.slots.len(), 27, "one day's slots");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_sync_brings_only_the_changes_made_on_the_hub() {
    let hub = TestHub::start(2_000).await;
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    device.engine.pull_all(None).await.unwrap();

    let changed = portico::hub::seed::mutate(&hub.store, 150, 2_000, 3).unwrap();
    assert_eq!(changed.len(), 150);
    let report = device.engine.pull_all(None).await.unwrap();
    assert_eq!(report.upserts, 150, "only the changed records travel");
    let db = device.engine.database();
    {
        let conn = db.lock().unwrap();
        for id in &changed {
            let want = hub.store.constituent(id).unwrap().unwrap();
            let got = replica::constituent(&conn, id).unwrap().unwrap();
            assert_eq!(ConstituentDto::from(got), want);
        }
        assert_replica_equals_hub(&hub, &conn);
    }
    // Nothing new: an empty pass.
    assert_eq!(device.engine.pull_all(None).await.unwrap().upserts, 0);
}

/// The hub names, with each record it serves, the parts changed after the cursor the page was
/// asked with, and the device rewrites only those. A device that pulls after every round of
/// changes and one that pulls once at the end hold different versions of the same records
/// when they ask; records change in one part in one round and in another later. Both must end
/// equal to the hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_pulling_at_different_times_each_end_equal_to_the_hub() {
    let hub = TestHub::start(300).await;
    let often = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let seldom = TestDevice::new(&hub, "gate-2", &hub.ca, "", "");
    let (often, seldom) = (often.open(manual_clock()), seldom.open(manual_clock()));
    often.engine.pull_all(None).await.unwrap();
    seldom.engine.pull_all(None).await.unwrap();
    let mut changed_twice = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..6 {
        for id in portico::hub::seed::mutate(&hub.store, 120, 300, 40 + round).unwrap() {
            if !seen.insert(id.clone()) {
                changed_twice.insert(id);
            }
        }
        often.engine.pull_all(None).await.unwrap();
        let db = often.engine.database();
        let conn = db.lock().unwrap();
        assert_replica_equals_hub(&hub, &conn);
    }
    assert!(
        changed_twice.len() > 50,
        "records changed in several rounds"
    );
    seldom.engine.pull_all(None).await.unwrap();
    let db = seldom.engine.database();
    let conn = db.lock().unwrap();
    assert_replica_equals_hub(&hub, &conn);
}

/// `since` names where the device's copy stood; the hub annotates relative to it, never to a
/// later point than the page's own cursor, and refuses a value it did not issue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_names_changed_parts_relative_to_since_and_refuses_a_bad_one() {
    let hub = TestHub::start(50).await;
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let client = portico::sync::HubClient::new(&dev.config().upstream).unwrap();
    let start = hub
        .store
        .feed_page(Resource::Constituents, 0, 10_000)
        .unwrap();
    let start = start.last_seq.unwrap().to_string();
    let changed = portico::hub::seed::mutate(&hub.store, 10, 50, 8).unwrap();

    let page = |bytes: Vec<u8>| -> serde_json::Value { serde_json::from_slice(&bytes).unwrap() };
    let annotated = page(
        client
            .feed_bytes(Resource::Constituents, Some(&start), Some(&start), 100)
            .await
            .unwrap(),
    );
    let changes = annotated["changes"].as_array().unwrap();
    assert_eq!(changes.len(), changed.len());
    // mutate changes one part of each record (a phone, the name or an email; a name can be
    // drawn unchanged).
    let mut one_part = 0;
    for c in changes {
        let parts = c["changed"].as_array().expect("parts named");
        assert!(parts.len() <= 1, "{c}");
        one_part += parts.len();
    }
    assert!(
        one_part >= changes.len() - 2,
        "{one_part} of {}",
        changes.len()
    );
    // Without `since` there is no annotation; a `since` after the cursor counts from the cursor.
    let plain = page(
        client
            .feed_bytes(Resource::Constituents, Some(&start), None, 100)
            .await
            .unwrap(),
    );
    assert!(plain["changes"][0].get("changed").is_none());
    let later = page(
        client
            .feed_bytes(Resource::Constituents, Some(&start), Some("999999999"), 100)
            .await
            .unwrap(),
    );
    assert_eq!(later["changes"], annotated["changes"]);
    for bad in ["-1", "x", "1.5"] {
        let err = client
            .feed_bytes(Resource::Constituents, Some(&start), Some(bad), 100)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("since"), "{bad}: {err}");
    }
}

/// Seed 000: "The XTL sync process updates constituent changes every 15 minutes, but only
/// purges expired constituent records (i.e. records removed via a merge in Altru) every 8
/// hours."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_merge_resolves_to_survivor_and_the_8_hour_purge_keeps_the_redirect() {
    let hub = TestHub::start(500).await;
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let clock = manual_clock();
    let device = dev.open(clock.clone());
    assert_eq!(
        dev.config().sync.pull_interval,
        std::time::Duration::from_secs(15 * 60)
    );
    assert_eq!(
        dev.config().sync.purge_interval,
        std::time::Duration::from_secs(8 * 3600)
    );
    device.engine.pull_all(None).await.unwrap();
    assert_eq!(
        device.engine.maybe_purge().await.unwrap(),
        0,
        "the first purge starts the interval"
    );

    let (old, survivor) = (
        portico::hub::seed::lookup_id(10),
        portico::hub::seed::lookup_id(11),
    );
    hub.store
        .merge(&old, &survivor, portico::clock::Clock::now(&*clock))
        .unwrap();
    device.engine.pull_all(None).await.unwrap();
    {
        let db = device.engine.database();
        let conn = db.lock().unwrap();
        let r = replica::resolve(&conn, &old).unwrap();
        assert_eq!(r.survivor, survivor);
        assert!(r.via_merge());
        let merged = replica::constituent(&conn, &old)
            .unwrap()
            .expect("kept until the purge");
        assert_eq!(merged.status, portico::domain::ConstituentStatus::Merged);
    }

    clock.advance(chrono::Duration::hours(8) - chrono::Duration::minutes(1));
    assert_eq!(
        device.engine.maybe_purge().await.unwrap(),
        0,
        "not yet 8 hours"
    );
    clock.advance(chrono::Duration::minutes(1));
    let purged = device.engine.maybe_purge().await.unwrap();
    assert!(purged >= 1, "purged {purged}");
    let db = device.engine.database();
    let conn = db.lock().unwrap();
    assert!(
        replica::constituent(&conn, &old).unwrap().is_none(),
        "merged record purged"
    );
    assert_eq!(
        replica::resolve(&conn, &old).unwrap().survivor,
        survivor,
        "redirect kept"
    );
    assert!(replica::constituent(&conn, &survivor).unwrap().is_some());
    // Every merged-away record from the seed is gone too, and each still resolves.
    for (key, _) in hub.store.all_docs(Resource::Merges).unwrap() {
        assert!(replica::constituent(&conn, &key).unwrap().is_none());
        assert_ne!(replica::resolve(&conn, &key).unwrap().survivor, key);
    }
    assert!(device.engine.link_status().last_purge.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_interrupted_mid_page_resumes_with_nothing_lost_or_duplicated() {
    let hub = TestHub::start(5_000).await;
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    // The 11th feed response is cut off mid-body: six pages come before the constituents'
    // (categories, tax rules and the catalog, one each; 810 slots in three), then four whole
    // constituent pages.
    hub.server
        .state
        .faults
        .cut_feed_response
        .store(11, std::sync::atomic::Ordering::SeqCst);
    let err = device.engine.pull_all(None).await.unwrap_err();
    assert!(matches!(err, SyncError::Network(_)), "{err:?}");
    assert!(!device.engine.link_status().online);
    {
        let db = device.engine.database();
        let conn = db.lock().unwrap();
        // Four whole constituent pages were applied, with their cursor: a pull's first page
        // asks for 250 changes, the next ones for the configured 500.
        assert_eq!(replica::counts(&conn).unwrap().constituents, 250 + 3 * 500);
        let cursor = replica::cursor(&conn, Resource::Constituents).unwrap();
        assert!(cursor.is_some());
    }
    // Changes keep landing on the hub while the device is away.
    portico::hub::seed::mutate(&hub.store, 300, 5_000, 11).unwrap();
    device.engine.pull_all(None).await.unwrap();
    let db = device.engine.database();
    let conn = db.lock().unwrap();
    assert_replica_equals_hub(&hub, &conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_with_another_certificate_is_refused() {
    let hub = TestHub::start(10).await;
    let other = tempfile::tempdir().unwrap();
    let (_, other_ca, _, _) = common::write_pki(other.path(), "Some other CA");
    let dev = TestDevice::new(&hub, "gate-1", &other_ca, "", "");
    let device = dev.open(manual_clock());
    let err = device.engine.hello().await.unwrap_err();
    assert!(matches!(err, SyncError::Certificate(_)), "{err:?}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(device.engine.pull_all(None).await.is_err());
    let db = device.engine.database();
    assert_eq!(
        replica::counts(&db.lock().unwrap()).unwrap().constituents,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spki_pin_narrows_trust_to_one_key() {
    let hub = TestHub::start(10).await;
    let der = portico::tls::load_certs(&hub.cert).unwrap().remove(0);
    let right = portico::tls::format_pin(&portico::tls::spki_pin_of(&der).unwrap());
    let wrong = portico::tls::format_pin(&[7u8; 32]);

    let ok = TestDevice::new(
        &hub,
        "gate-1",
        &hub.ca,
        &format!("spki_pin = \"{right}\""),
        "",
    );
    ok.open(manual_clock()).engine.hello().await.unwrap();

    let bad = TestDevice::new(
        &hub,
        "gate-2",
        &hub.ca,
        &format!("spki_pin = \"{wrong}\""),
        "",
    );
    let err = bad.open(manual_clock()).engine.hello().await.unwrap_err();
    assert!(matches!(err, SyncError::Certificate(_)), "{err:?}");
    assert!(err.to_string().contains("pin"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_are_ordered_by_commit_and_resume_from_any_cursor() {
    let hub = TestHub::start(300).await;
    // Page through the raw feed by hand while the hub is written between pages.
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    let mut after = 0;
    let mut rounds = 0;
    loop {
        let page = hub
            .store
            .feed_page(Resource::Constituents, after, 50)
            .unwrap();
        for e in &page.entries {
            assert!(e.seq > after, "feed went backwards");
            seen.insert(e.key.clone(), e.seq);
        }
        if rounds == 1 {
            portico::hub::seed::mutate(&hub.store, 40, 300, 5).unwrap();
        }
        rounds += 1;
        match page.last_seq {
            Some(s) => after = s,
            None => break,
        }
        if !page.has_more {
            break;
        }
    }
    // Every live record was seen at its latest sequence number.
    for (key, _) in hub.store.all_docs(Resource::Constituents).unwrap() {
        assert!(seen.contains_key(&key), "{key} skipped");
    }
}
