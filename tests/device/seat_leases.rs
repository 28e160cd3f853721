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
        .read(|c| portico::hub::leases::leases_of(c, "kiosk-1", None))
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

mod partitions {
    //! Three kiosks and the hub's own sales on one slot of 12 seats, with the kiosks cut off
    //! from the hub and back at random, through the real stores on both sides (the kiosks'
    //! databases and the hub's; only HTTP is left out): whatever happens, the seats sold
    //! everywhere — the hub's sales and every kiosk's orders, uploaded or not — never pass the
    //! capacity, and a kiosk cut off keeps selling the seats it holds.

    use chrono::{NaiveDate, NaiveDateTime};
    use proptest::prelude::*;
    use rusqlite::params;

    use portico::hub::HubStore;
    use portico::hub::leases as hub;
    use portico::kiosk::leases as db;
    use portico::replica::Store;

    const SLOT: &str = "giraffe@2030-06-01T10:00";
    const CAPACITY: u32 = 12;

    fn morning() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2030, 6, 1)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Ask(usize, u32),
        Return(usize, u32),
        Sell(usize, u32),
        HubSells(u32),
        Cut(usize),
        Reconnect(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, 1..8u32).prop_map(|(k, n)| Op::Ask(k, n)),
            (0..3usize, 1..8u32).prop_map(|(k, n)| Op::Return(k, n)),
            (0..3usize, 1..5u32).prop_map(|(k, n)| Op::Sell(k, n)),
            (1..4u32).prop_map(Op::HubSells),
            (0..3usize).prop_map(Op::Cut),
            (0..3usize).prop_map(Op::Reconnect),
        ]
    }

    struct Kiosk {
        id: String,
        store: Store,
        online: bool,
        /// Seats sold and not uploaded yet.
        unsent: u32,
        orders: u32,
    }

    impl Kiosk {
        fn lease(&self) -> Option<db::SlotLease> {
            db::lease(&self.store.reader().unwrap(), SLOT).unwrap()
        }

        fn free(&self) -> u32 {
            self.lease().map_or(0, |l| l.book(0).free())
        }

        fn sold(&self) -> u32 {
            self.lease().map_or(0, |l| l.sold)
        }

        /// Sends what waits (unanswered calls, orders) and takes the hub's view, as a check
        /// does when the link is back.
        fn sync(&mut self, hub_store: &HubStore) {
            let ops = db::unanswered(&self.store.reader().unwrap()).unwrap();
            for op in ops {
                let reply = hub_store
                    .write(|tx, _| match op.kind {
                        db::OpKind::Request => hub::request(tx, &self.id, &op.request, morning()),
                        db::OpKind::Return => hub::give_back(tx, &self.id, &op.request),
                    })
                    .unwrap()
                    .unwrap();
                self.store
                    .write(move |tx| db::answered(tx, &reply, 0))
                    .unwrap();
            }
            if self.unsent > 0 {
                let n = self.unsent;
                hub_store
                    .write(|tx, _| hub::record_sale(tx, SLOT, n, Some(&self.id)))
                    .unwrap();
                self.unsent = 0;
            }
            let leases = hub_store
                .read(|c| hub::leases_of(c, &self.id, None))
                .unwrap();
            self.store
                .write(move |tx| db::reconcile(tx, &leases, 0))
                .unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        #[test]
        fn seats_sold_everywhere_never_pass_capacity_whatever_the_partitions(
            ops in proptest::collection::vec(op(), 1..50)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let hub_store = HubStore::open(&dir.path().join("hub.db")).unwrap();
            hub_store
                .write(|tx, seq| {
                    portico::hub::catalog::publish(tx, seq, NaiveDate::from_ymd_opt(2030, 6, 1).unwrap(), 1, 0)
                })
                .unwrap();
            let mut kiosks: Vec<Kiosk> = (0..3)
                .map(|i| Kiosk {
                    id: format!("kiosk-{i}"),
                    store: Store::open(&dir.path().join(format!("kiosk-{i}.db"))).unwrap(),
                    online: true,
                    unsent: 0,
                    orders: 0,
                })
                .collect();
            let mut hub_sold = 0u32;
            for (i, op) in ops.iter().enumerate() {
                let id = format!("r{i}");
                match *op {
                    Op::Ask(k, n) => {
                        let close = morning() + chrono::Duration::hours(2);
                        let (r, slot) = (id.clone(), SLOT.to_owned());
                        kiosks[k].store
                            .write(move |tx| db::begin_request(tx, &r, &slot, n, close, 0))
                            .unwrap();
                        if kiosks[k].online {
                            kiosks[k].sync(&hub_store);
                        }
                    }
                    Op::Return(k, n) => {
                        let n = n.min(kiosks[k].free());
                        if n > 0 {
                            let (r, slot) = (id.clone(), SLOT.to_owned());
                            kiosks[k].store
                                .write(move |tx| db::begin_return(tx, &r, &slot, n, 0))
                                .unwrap();
                            if kiosks[k].online {
                                kiosks[k].sync(&hub_store);
                            }
                        }
                    }
                    Op::Sell(k, n) => {
                        // Online or not, a kiosk sells what it holds free.
                        let free = kiosks[k].free();
                        if n <= free {
                            let order = format!("{}-{}", kiosks[k].id, kiosks[k].orders);
                            kiosks[k].orders += 1;
                            kiosks[k].store
                                .write(move |tx| {
                                    tx.execute(
                                        "INSERT INTO order_lines (order_id, line_no, product_id,
                                             slot_id, quantity, seats, price_kind, unit_price,
                                             tax_rule, rate_bp, inclusive, net, tax, gross)
                                         VALUES (?1, 1, 'GIRAFFE', ?2, ?3, ?3, 'non_member', 800,
                                             'sales', 825, 0, 0, 0, 0)",
                                        params![order, SLOT, n],
                                    )?;
                                    Ok(())
                                })
                                .unwrap();
                            kiosks[k].unsent += n;
                            prop_assert_eq!(kiosks[k].free(), free - n);
                            if kiosks[k].online {
                                kiosks[k].sync(&hub_store);
                            }
                        }
                    }
                    Op::HubSells(n) => {
                        let available = hub_store
                            .read(|c| Ok(hub::count(c, &hub::slot(c, SLOT)?.unwrap())?.available()))
                            .unwrap();
                        if n <= available {
                            hub_store.write(|tx, _| hub::record_sale(tx, SLOT, n, None)).unwrap();
                            hub_sold += n;
                        }
                    }
                    Op::Cut(k) => kiosks[k].online = false,
                    Op::Reconnect(k) => {
                        kiosks[k].online = true;
                        kiosks[k].sync(&hub_store);
                    }
                }
                let kiosk_sold: u32 = kiosks.iter().map(Kiosk::sold).sum();
                prop_assert!(
                    hub_sold + kiosk_sold <= CAPACITY,
                    "after {:?}: the hub sold {}, the kiosks {}", op, hub_sold, kiosk_sold
                );
                let c = hub_store
                    .read(|c| hub::count(c, &hub::slot(c, SLOT)?.unwrap()))
                    .unwrap();
                prop_assert!(c.sold + c.leased_unsold <= c.capacity, "{:?}", c);
            }
            // Everyone back online: the hub knows every seat sold.
            for k in &mut kiosks {
                k.online = true;
                k.sync(&hub_store);
            }
            let kiosk_sold: u32 = kiosks.iter().map(Kiosk::sold).sum();
            let c = hub_store
                .read(|c| hub::count(c, &hub::slot(c, SLOT)?.unwrap()))
                .unwrap();
            prop_assert_eq!(c.sold, hub_sold + kiosk_sold);
        }
    }
}
