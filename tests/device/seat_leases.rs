//! A kiosk's seat leases against a real hub on loopback: it leases the slots about to open,
//! sends again a call whose reply it never saw (and the hub answers it once), gives back what
//! the hub recalls and what is unsold when sales close, and keeps its seats with the hub gone.

use chrono::{Duration, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::common::{TestDevice, TestHub, manual_clock};
use portico::kiosk::lease_client::{LeaseClient, LeaseSettings};
use portico::kiosk::leases as db;
use portico::sync::HubClient;

/// A day the hub (which reads the system's clock) still sells.
fn tomorrow() -> NaiveDate {
    Local::now().date_naive() + Duration::days(1)
}

/// The instant the device's clock shows `local` in the system's time zone (the device has no
/// `device.timezone`, so that is its venue time too).
fn at(local: NaiveDateTime) -> chrono::DateTime<Utc> {
    Local
        .from_local_datetime(&local)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn slot(h: u32, m: u32) -> String {
    portico::hub::catalog::slot_id("zoo", tomorrow().and_hms_opt(h, m, 0).unwrap())
}

fn seats(conn: &rusqlite::Connection) -> Vec<(String, u32)> {
    db::leases(conn)
        .unwrap()
        .into_iter()
        .map(|l| (l.slot_id, l.seats))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_leases_ahead_resends_unanswered_calls_and_gives_back_what_it_will_not_sell() {
    let hub = TestHub::start(20).await;
    hub.store
        .write(|tx, seq| portico::hub::catalog::publish(tx, seq, tomorrow(), 1, 0))
        .unwrap();
    let dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let clock = manual_clock();
    clock.set(at(tomorrow().and_hms_opt(8, 0, 0).unwrap()));
    let device = dev.open(clock.clone());
    device.engine.pull_all(None).await.unwrap();
    let client = LeaseClient::new(
        HubClient::new(&device.config.upstream).unwrap(),
        device.store.clone(),
        device.engine.database(),
        clock.clone(),
        None,
        LeaseSettings::default(),
        vec!["zoo".into()],
    );
    let none = |_: &str| 0;

    // 08:00, three hours ahead: the zoo's four slots from 09:00 to 10:30 get a batch of 10.
    let c = client.check(&none).await.unwrap();
    assert_eq!((c.granted, c.returned, c.resent), (40, 0, 0));
    let db_conn = device.engine.database();
    let leased = seats(&db_conn.lock().unwrap());
    assert_eq!(leased.len(), 4);
    assert!(leased.iter().all(|(_, n)| *n == 10), "{leased:?}");
    let report = hub
        .store
        .read(|c| portico::hub::leases::report(c, Some(&slot(9, 0))))
        .unwrap();
    assert_eq!((report[0].leased_unsold, report[0].available), (10, 140));
    // Enough free everywhere: nothing more to ask.
    assert_eq!(client.check(&none).await.unwrap().granted, 0);
    // Visitors holding 7 of the 09:00 slot's seats on screen leave 3 free: a batch more.
    let holding = |s: &str| if s == slot(9, 0) { 7 } else { 0 };
    assert_eq!(client.check(&holding).await.unwrap().granted, 10);

    // A request written down but never sent (the kiosk stopped at that moment) is sent at the
    // next check; sending it once more gets the hub's first answer and no more seats.
    let close = tomorrow().and_hms_opt(9, 30, 0).unwrap();
    let op = device
        .store
        .write(move |tx| db::begin_request(tx, "req-lost-reply", &slot(9, 30), 5, close, 0))
        .unwrap();
    let c = client.check(&none).await.unwrap();
    assert_eq!((c.resent, c.granted), (1, 5));
    let again = HubClient::new(&device.config.upstream)
        .unwrap()
        .lease_request(&op.request)
        .await
        .unwrap();
    assert_eq!((again.granted, again.lease.seats), (5, 15));
    assert!(
        seats(&db_conn.lock().unwrap()).contains(&(slot(9, 30), 15)),
        "the kiosk holds what the hub counts"
    );

    // Staff recall 6 seats of 10:00: the kiosk gives them back at its next check.
    hub.store
        .write(|tx, _| portico::hub::leases::recall(tx, "kiosk-1", &slot(10, 0), 6))
        .unwrap();
    let c = client.check(&none).await.unwrap();
    assert_eq!(c.returned, 6);
    assert!(seats(&db_conn.lock().unwrap()).contains(&(slot(10, 0), 4)));
    let hub_lease = hub
        .store
        .read(|c| portico::hub::leases::leases_of(c, "kiosk-1"))
        .unwrap();
    let ten = hub_lease
        .leases
        .iter()
        .find(|l| l.slot_id == slot(10, 0))
        .unwrap();
    assert_eq!((ten.seats, ten.recall), (4, 0));

    // 09:00 starts: its sales close and its 20 unsold seats go back.
    clock.set(at(tomorrow().and_hms_opt(9, 0, 0).unwrap()));
    let c = client.check(&none).await.unwrap();
    assert!(c.returned >= 20, "{c:?}");
    assert!(seats(&db_conn.lock().unwrap()).contains(&(slot(9, 0), 0)));
    let report = hub
        .store
        .read(|c| portico::hub::leases::report(c, Some(&slot(9, 0))))
        .unwrap();
    assert_eq!(report[0].leased_unsold, 0);

    // The hub goes away: the check fails, and the kiosk keeps every seat it holds.
    let before = seats(&db_conn.lock().unwrap());
    let TestHub { server, dir, .. } = hub;
    server.shutdown().await;
    assert!(client.check(&none).await.is_err());
    assert_eq!(seats(&db_conn.lock().unwrap()), before);
    drop(dir);
}
