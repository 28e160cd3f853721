//! Scan-log retention: scans older than `gate.scan_log_retention` are folded into per-ticket
//! tallies once the hub has them, and no decision changes. Real hub on loopback TLS, real
//! device database, the device's own hourly housekeeping.

use crate::common;
use crate::gate_common;

use crate::common::{TestHub, anchor, manual_clock};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use gate_common::{TAIL, at, card, pick, station, ticket};
use portico::domain::TicketStatus;
use portico::gate::{Now, Outcome};
use portico::protocol::{Resource, TicketDto, ValidityDto};

/// `days` after the anchor day, at `h`:00 (the tests' venue runs on UTC).
fn later(days: i64, h: u32) -> Now {
    let local: NaiveDateTime = (anchor() + TimeDelta::days(days))
        .and_hms_opt(h, 0, 0)
        .unwrap();
    Now {
        utc: DateTime::<Utc>::from_naive_utc_and_offset(local, Utc),
        local,
    }
}

fn put_ticket(hub: &TestHub, secret: &str, validity: ValidityDto, uses_allowed: u32) {
    let product_id = hub
        .store
        .all::<TicketDto>(Resource::Tickets)
        .unwrap()
        .remove(0)
        .product_id;
    let t = TicketDto {
        secret: secret.into(),
        product_id,
        validity,
        uses_allowed,
        status: TicketStatus::Valid,
        holder: None,
    };
    hub.store.upsert(Resource::Tickets, secret, &t).unwrap();
}

fn tallies(db: &std::path::Path) -> Vec<(String, i64)> {
    let conn = portico::replica::open(db).unwrap();
    conn.prepare("SELECT use_key, uses_burned FROM scan_tallies ORDER BY use_key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn scan_ids(db: &std::path::Path) -> Vec<i64> {
    let conn = portico::replica::open(db).unwrap();
    conn.prepare("SELECT id FROM scans ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// A gate device synced from `hub`, on a manual clock.
struct Gate {
    clock: std::sync::Arc<portico::clock::ManualClock>,
    dev: common::TestDevice,
    device: portico::device::Device,
    db: std::path::PathBuf,
}

async fn synced_gate(hub: &TestHub) -> Gate {
    let clock = manual_clock();
    let dev = common::TestDevice::with_tail(hub, "gate-1", &hub.ca, "", "", TAIL);
    let device = dev.open(clock.clone());
    device.engine.pull_all(None).await.unwrap();
    let db = dev.config().database_path();
    Gate {
        clock,
        dev,
        device,
        db,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folded_scans_keep_each_tickets_uses_and_change_no_decision() {
    let hub = TestHub::start(200).await;
    put_ticket(&hub, "OPEN-THREE", ValidityDto::Open, 3);
    put_ticket(&hub, "DAY-ONE", ValidityDto::Date { date: anchor() }, 1);
    let (_, member, _) = pick(&hub);
    let Gate {
        clock,
        dev: _dev,
        device,
        db,
    } = synced_gate(&hub).await;

    let (mut gate, _relay) = station(&device, clock.clone());
    let open = ticket("OPEN-THREE");
    for (credential, now) in [
        (&open, at(10, 0)),
        (&open, at(10, 30)), // past the anti-passback window, no exit: a second use
        (&ticket("DAY-ONE"), at(10, 0)),
        (&card(&member), at(10, 0)),
    ] {
        let d = gate.scan(credential, None, 1, now).unwrap();
        assert_eq!(d.outcome, Outcome::Admit, "{:?}", d.reason);
    }
    clock.set(at(11, 0).utc);
    let pushed = device.engine.push_once().await.unwrap();
    assert_eq!(pushed.delivered, 4);

    // Forty days on, one more scan (refused: unknown), then the hourly housekeeping.
    let day40 = later(40, 10);
    clock.set(day40.utc);
    let d = gate.scan(&ticket("NO-SUCH"), None, 1, day40).unwrap();
    assert_eq!(d.outcome, Outcome::Deny);
    drop(gate);
    let done = device.engine.housekeep().await.unwrap().scans;
    assert_eq!(done.folded, 4, "{done:?}");
    // The open ticket keeps its two uses; the day ticket's day is over and the member burns
    // none, so they leave nothing behind.
    assert_eq!(done.tallied, 1, "{done:?}");
    assert_eq!(done.spent, 1, "{done:?}");
    assert_eq!(tallies(&db), [("ticket:OPEN-THREE".to_string(), 2)]);
    assert_eq!(scan_ids(&db).len(), 1, "only the recent scan is left");
    // What a technician's `portico status` shows of it.
    let conn = portico::replica::open(&db).unwrap();
    let status = portico::status::report(
        &conn,
        "gate-1",
        vec!["gate".into()],
        Default::default(),
        day40.utc,
    )
    .unwrap();
    let log = status.scan_log.expect("a gate's scan log");
    assert_eq!(
        (log.scans, log.oldest, log.tallies),
        (1, Some(day40.utc), 1)
    );
    drop(conn);

    // A gate opened now decides exactly as before the fold: one use left on the open ticket.
    let (mut gate, _relay) = station(&device, clock.clone());
    let third = gate.scan(&open, None, 1, later(40, 11)).unwrap();
    assert_eq!(third.outcome, Outcome::Admit, "{:?}", third.reason);
    let fourth = gate.scan(&open, None, 1, later(40, 12)).unwrap();
    assert_eq!(fourth.outcome, Outcome::Deny);
    assert_eq!(fourth.reason.code(), "already_used");
    let day = gate
        .scan(&ticket("DAY-ONE"), None, 1, later(40, 12))
        .unwrap();
    assert_eq!(day.reason.code(), "expired");
    let member_again = gate.scan(&card(&member), None, 1, later(40, 12)).unwrap();
    assert_eq!(member_again.outcome, Outcome::Admit);

    // Running it again folds nothing new: everything left is inside the retention.
    let again = device.engine.housekeep().await.unwrap().scans;
    assert_eq!(again.folded, 0);
    assert_eq!(tallies(&db), [("ticket:OPEN-THREE".to_string(), 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_the_hub_has_not_received_are_kept_and_scan_ids_are_never_reused() {
    let hub = TestHub::start(200).await;
    put_ticket(&hub, "OPEN-TWO", ValidityDto::Open, 2);
    let (day_ticket, _, _) = pick(&hub);
    let Gate {
        clock,
        dev: _dev,
        device,
        db,
    } = synced_gate(&hub).await;

    let (mut gate, _relay) = station(&device, clock.clone());
    for (credential, now) in [
        (ticket("OPEN-TWO"), at(10, 0)),
        (ticket(&day_ticket), at(10, 5)),
        (ticket("NO-SUCH"), at(10, 10)),
    ] {
        gate.scan(&credential, None, 1, now).unwrap();
    }
    drop(gate);
    let before = scan_ids(&db);
    assert_eq!(before.len(), 3);

    // The gate was offline the whole time: forty days later nothing has reached the hub, so
    // nothing is folded.
    clock.set(later(40, 10).utc);
    let offline = device.engine.housekeep().await.unwrap().scans;
    assert_eq!(offline.folded, 0);
    assert_eq!(
        offline.kept_unsent, 2,
        "the newest scan is never a candidate"
    );
    assert_eq!(scan_ids(&db), before);

    // Back online: the rows go up, and the next housekeeping folds all but the newest scan.
    let pushed = device.engine.push_once().await.unwrap();
    assert_eq!(pushed.delivered, 3);
    let online = device.engine.housekeep().await.unwrap().scans;
    assert_eq!(online.folded, 2, "{online:?}");
    assert_eq!(online.kept_unsent, 0);
    let left = scan_ids(&db);
    assert_eq!(left, [*before.last().unwrap()]);
    assert_eq!(tallies(&db), [("ticket:OPEN-TWO".to_string(), 1)]);

    // A station opened on the folded log numbers its next scan after the last one ever made.
    let (mut gate, _relay) = station(&device, clock.clone());
    let again = gate
        .scan(&ticket("OPEN-TWO"), None, 1, later(40, 11))
        .unwrap();
    assert_eq!(again.outcome, Outcome::Admit, "one of two uses left");
    let spent = gate
        .scan(&ticket("OPEN-TWO"), None, 1, later(40, 12))
        .unwrap();
    assert_eq!(spent.reason.code(), "already_used");
    let ids = scan_ids(&db);
    assert!(
        ids.iter().skip(1).all(|id| *id > *before.last().unwrap()),
        "ids after the fold: {ids:?}, before: {before:?}"
    );
}
