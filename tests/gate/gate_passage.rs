//! Relay and passage: "opened but nobody passed" within the timeout annuls the use (the
//! ticket is not burned) and is logged and uploaded; a passage confirms it; a relay that never
//! opened gives the use back too. The hub's duplicate report ignores annulled admissions.

use crate::gate_common;

use std::time::Duration;

use crate::common::{TestDevice, TestHub, manual_clock};
use chrono::TimeDelta;
use gate_common::{TAIL, at, card, membership_with_guests, pick, station, ticket};
use portico::gate::Outcome;
use portico::gate::relay::simulated::{SimulatedOutput, SimulatedSensor};
use portico::gate::station::Station;

fn with_sensor(timeout: &str) -> String {
    format!("{TAIL}\n[gate.passage]\nsensor = \"simulated\"\ntimeout = \"{timeout}\"\n")
}

/// Pumps the station until `done` holds (the relay and sensor report from their threads).
fn pump_until(
    station: &mut Station,
    now: chrono::DateTime<chrono::Utc>,
    done: impl Fn(&Station) -> bool,
) {
    for _ in 0..500 {
        station.pump(now).unwrap();
        if done(station) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the station did not reach the expected passage state");
}

fn outbox_kinds(dev: &TestDevice) -> Vec<(String, serde_json::Value)> {
    let conn = portico::replica::open(&dev.config().database_path()).unwrap();
    conn.prepare("SELECT kind, payload FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| {
            let payload: String = r.get(1)?;
            Ok((r.get(0)?, serde_json::from_str(&payload).unwrap()))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// A gate device called `id` with `tail` in its config, synced from `hub`, and its station
/// with a simulated relay.
async fn synced_gate(
    hub: &TestHub,
    id: &str,
    tail: &str,
    clock: &std::sync::Arc<portico::clock::ManualClock>,
) -> (
    TestDevice,
    portico::device::Device,
    Station,
    SimulatedOutput,
) {
    let dev = TestDevice::with_tail(hub, id, &hub.ca, "", "", tail);
    let device = dev.open(clock.clone());
    device.engine.pull_all(None).await.unwrap();
    let (station, relay) = station(&device, clock.clone());
    (dev, device, station, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_but_nobody_passed_within_the_timeout_annuls_the_use() {
    let hub = TestHub::start(200).await;
    let (secret, _, _) = pick(&hub);
    let clock = manual_clock();
    let (dev, _device, mut station, relay) =
        synced_gate(&hub, "gate-1", &with_sensor("8s"), &clock).await;
    let _sensor = station
        .attach_configured_sensor()
        .unwrap()
        .expect("simulated sensor");
    let t = ticket(&secret);
    let first = station.scan(&t, None, 1, at(10, 0)).unwrap();
    assert_eq!(first.outcome, Outcome::Admit);
    let opened = at(10, 0).utc;
    // The relay opened; the gate now waits for someone to go through.
    pump_until(&mut station, opened, |s| s.next_deadline().is_some());
    assert_eq!(relay.pulses().len(), 1);
    // Still within the timeout: nothing happens.
    station.pump(opened + TimeDelta::seconds(8)).unwrap();
    assert_eq!(station.awaiting_passage(), 1);
    // Past it: the use is given back.
    station.pump(opened + TimeDelta::seconds(9)).unwrap();
    assert_eq!(station.awaiting_passage(), 0);

    // The ticket was not burned: the visitor can scan again.
    let again = station.scan(&t, None, 1, at(10, 1)).unwrap();
    assert_eq!(again.outcome, Outcome::Admit, "{:?}", again.reason);

    // The annulment is queued upstream, naming the admitted scan's own outbox row.
    let rows = outbox_kinds(&dev);
    let kinds: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["scan", "scan_annulment", "scan"]);
    let conn = portico::replica::open(&dev.config().database_path()).unwrap();
    let first_key: String = conn
        .query_row(
            "SELECT idempotency_key FROM outbox ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows[1].1["scan_key"], first_key.as_str());
    assert_eq!(rows[1].1["reason"], "no_passage");
    let annulled: i64 = conn
        .query_row("SELECT annulled FROM scans ORDER BY id LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(annulled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passage_confirms_the_use() {
    let hub = TestHub::start(200).await;
    let (secret, _, _) = pick(&hub);
    let clock = manual_clock();
    let (dev, _device, mut station, _relay) =
        synced_gate(&hub, "gate-1", &with_sensor("8s"), &clock).await;
    let sensor: SimulatedSensor = station.attach_configured_sensor().unwrap().unwrap();
    let t = ticket(&secret);
    assert_eq!(
        station.scan(&t, None, 1, at(10, 0)).unwrap().outcome,
        Outcome::Admit
    );
    let now = at(10, 0).utc;
    pump_until(&mut station, now, |s| s.next_deadline().is_some());
    sensor.pass();
    pump_until(&mut station, now, |s| s.awaiting_passage() == 0);
    // Long after the timeout nothing is annulled: the visitor went through.
    station.pump(now + TimeDelta::minutes(5)).unwrap();
    let again = station.scan(&t, None, 1, at(10, 10)).unwrap();
    assert_eq!(
        (again.outcome, again.reason.code()),
        (Outcome::Deny, "already_used")
    );
    let kinds: Vec<String> = outbox_kinds(&dev).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["scan", "scan"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_never_opened_gives_the_use_back() {
    let hub = TestHub::start(200).await;
    let (secret, _, _) = pick(&hub);
    // No passage sensor: a use is final once the relay opened, and given back if it did not.
    let clock = manual_clock();
    let (dev, _device, mut station, relay) = synced_gate(&hub, "gate-1", TAIL, &clock).await;
    relay.fail_next("coil open circuit");
    let t = ticket(&secret);
    assert_eq!(
        station.scan(&t, None, 1, at(10, 0)).unwrap().outcome,
        Outcome::Admit
    );
    pump_until(&mut station, at(10, 0).utc, |s| s.awaiting_passage() == 0);
    // Journaled at once; in the outbox when the writer's linger is over, or on a flush.
    let rows = outbox_kinds(&dev);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].0, "scan_annulment");
    assert_eq!(rows[1].1["reason"], "relay_failed");
    // The second try opens the gate and burns the use.
    assert_eq!(
        station.scan(&t, None, 1, at(10, 1)).unwrap().outcome,
        Outcome::Admit
    );
    pump_until(&mut station, at(10, 1).utc, |s| s.awaiting_passage() == 0);
    let third = station.scan(&t, None, 1, at(14, 0)).unwrap();
    assert_eq!(
        (third.outcome, third.reason.code()),
        (Outcome::Deny, "already_used")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_does_not_flag_an_admission_whose_use_was_given_back() {
    let hub = TestHub::start(200).await;
    let (secret, _, _) = pick(&hub);
    let clock = manual_clock();
    let t = ticket(&secret);
    let mut devices = Vec::new();
    for (i, id) in ["gate-east", "gate-west"].into_iter().enumerate() {
        let (dev, device, mut station, _) = synced_gate(&hub, id, &with_sensor("8s"), &clock).await;
        let sensor = station.attach_configured_sensor().unwrap().unwrap();
        let now = at(10, 5 * i as u32);
        assert_eq!(
            station.scan(&t, None, 1, now).unwrap().outcome,
            Outcome::Admit
        );
        pump_until(&mut station, now.utc, |s| s.next_deadline().is_some());
        if id == "gate-east" {
            // Nobody went through at the east gate.
            station.pump(now.utc + TimeDelta::seconds(30)).unwrap();
        } else {
            sensor.pass();
            pump_until(&mut station, now.utc, |s| s.awaiting_passage() == 0);
        }
        devices.push((dev, device));
    }
    clock.advance(chrono::Duration::hours(4));
    for (_, device) in &devices {
        device.engine.push_once().await.unwrap();
    }
    assert!(
        hub.store.duplicate_admissions().unwrap().is_empty(),
        "one real admission is no duplicate"
    );
}

fn party_in_scan_log(dev: &TestDevice, scan: i64) -> (i64, i64) {
    let conn = portico::replica::open(&dev.config().database_path()).unwrap();
    conn.query_row(
        "SELECT party_admitted, annulled FROM scans WHERE id = ?1",
        [scan],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_confirming_a_party_opens_the_gate_for_each_guest_and_records_the_party() {
    // Issue: "the level's allowance (member plus N guests; the gate screen shows the allowance
    // and staff choose the party size)".
    let hub = TestHub::start(200).await;
    let m = membership_with_guests(&hub);
    let clock = manual_clock();
    let (dev, _device, mut station, relay) = synced_gate(&hub, "gate-1", TAIL, &clock).await;
    let now = at(10, 0);
    let decided = station
        .admit(&card(&m.membership_id), None, 1, now)
        .unwrap();
    assert_eq!(decided.decision.outcome, Outcome::Admit);
    assert_eq!(
        decided.decision.party.admitted, 1,
        "the member alone until staff choose"
    );
    let scan = decided.scan.expect("recorded");
    gate_common::wait_pulses(&relay, 1);

    let settled = station.confirm_party(scan, 3, now.utc).unwrap();
    assert_eq!((settled.party_admitted, settled.guest_openings), (3, 2));
    // One more opening for each guest.
    gate_common::wait_pulses(&relay, 3);
    assert_eq!(party_in_scan_log(&dev, scan), (3, 0));
    let rows = outbox_kinds(&dev);
    let kinds: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["scan", "scan_party"]);
    let party = &rows[1].1;
    assert_eq!(party["party_admitted"], 3);
    assert_eq!(party["revision"], 1);
    assert_eq!(party["reason"], "confirmed_by_staff");
    let conn = portico::replica::open(&dev.config().database_path()).unwrap();
    let scan_key: String = conn
        .query_row("SELECT outbox_key FROM scans WHERE id = ?1", [scan], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(party["scan_key"], scan_key.as_str());

    // More than the level allows is held to the allowance: no opening beyond it.
    let capped = station
        .confirm_party(scan, m.guest_allowance + 5, now.utc)
        .unwrap();
    assert_eq!(capped.party_admitted, m.guest_allowance + 1);
    assert_eq!(capped.guest_openings, m.guest_allowance + 1 - 3);
    gate_common::wait_pulses(&relay, (m.guest_allowance + 1) as usize);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(relay.pulses().len(), (m.guest_allowance + 1) as usize);

    // The hub accepts the party rows.
    clock.advance(chrono::Duration::hours(4));
    let pushed = _device.engine.push_once().await.unwrap();
    assert_eq!(pushed.delivered, 3, "{pushed:?}");
    let conn = portico::replica::open(&dev.config().database_path()).unwrap();
    let pending: i64 = conn
        .query_row(
            "SELECT count(*) FROM outbox WHERE state <> 'delivered'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_who_did_not_go_through_makes_the_party_smaller() {
    let hub = TestHub::start(200).await;
    let m = membership_with_guests(&hub);
    let clock = manual_clock();
    let (dev, _device, mut station, relay) =
        synced_gate(&hub, "gate-1", &with_sensor("8s"), &clock).await;
    let sensor = station.attach_configured_sensor().unwrap().unwrap();
    let now = at(10, 0);
    let scan = station
        .admit(&card(&m.membership_id), None, 1, now)
        .unwrap()
        .scan
        .unwrap();
    pump_until(&mut station, now.utc, |s| s.next_deadline().is_some());
    sensor.pass();
    pump_until(&mut station, now.utc, |s| s.awaiting_passage() == 0);

    station.confirm_party(scan, 2, now.utc).unwrap();
    gate_common::wait_pulses(&relay, 2);
    pump_until(&mut station, now.utc, |s| s.next_deadline().is_some());
    // Nobody follows the member through.
    station.pump(now.utc + TimeDelta::seconds(30)).unwrap();

    // The member's admission stands; the party is one again.
    assert_eq!(party_in_scan_log(&dev, scan), (1, 0));
    let rows = outbox_kinds(&dev);
    let parties: Vec<(i64, &str)> = rows
        .iter()
        .filter(|(k, _)| k == "scan_party")
        .map(|(_, p)| {
            (
                p["party_admitted"].as_i64().unwrap(),
                p["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        parties,
        [(2, "confirmed_by_staff"), (1, "guest_did_not_pass")]
    );
    assert!(rows.iter().all(|(k, _)| k != "scan_annulment"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_is_only_chosen_for_a_membership_admission() {
    let hub = TestHub::start(200).await;
    let (secret, _, lapsed) = pick(&hub);
    let clock = manual_clock();
    let (_dev, _device, mut station, _relay) = synced_gate(&hub, "gate-1", TAIL, &clock).await;
    let now = at(10, 0);
    let on_ticket = station.admit(&ticket(&secret), None, 1, now).unwrap();
    let refused = station.admit(&card(&lapsed), None, 1, now).unwrap();
    assert_eq!(refused.decision.outcome, Outcome::Deny);
    for scan in [on_ticket.scan.unwrap(), refused.scan.unwrap(), 9_999] {
        let err = station.confirm_party(scan, 2, now.utc).unwrap_err();
        assert!(
            matches!(
                err,
                portico::gate::station::StationError::NoAdmission { .. }
            ),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_goes_ahead_of_the_feed_work_waiting_for_the_writer() {
    // Issue: "Scans keep flowing while a sync writes", and "a waiting scan commits within one
    // chunk": the relay moves at once, the scan commits as soon as the job running now ends,
    // ahead of every job still queued, and it counts for the next scan.
    let hub = TestHub::start(200).await;
    let (secret, active, _) = pick(&hub);
    let clock = manual_clock();
    let (dev, device, mut station, relay) = synced_gate(&hub, "gate-1", TAIL, &clock).await;
    let store = device.store.clone();
    // A feed chunk holds the writer…
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let chunk = {
        let store = store.clone();
        std::thread::spawn(move || {
            store
                .write(move |_| {
                    started_tx.send(()).unwrap();
                    released.recv().unwrap();
                    Ok(())
                })
                .unwrap()
        })
    };
    started.recv().unwrap();
    // …and three more wait behind it, each queueing an upstream row.
    let queued: Vec<_> = (0..3)
        .map(|i| {
            let store = store.clone();
            let t = std::thread::spawn(move || {
                store
                    .write(move |tx| {
                        portico::outbox::enqueue_raw(
                            tx,
                            portico::outbox::kinds::ORDER_V1,
                            &serde_json::json!({ "n": i }),
                            0,
                        )
                    })
                    .unwrap()
            });
            std::thread::sleep(Duration::from_millis(20));
            t
        })
        .collect();
    let t = ticket(&secret);
    let member = card(&active);
    let scans = std::thread::spawn(move || {
        let first = station.admit(&t, None, 1, at(10, 0)).unwrap();
        let again = station.admit(&t, None, 1, at(14, 0)).unwrap();
        let member = station.admit(&member, None, 1, at(10, 2)).unwrap();
        (first, again, member, station)
    });
    // The turnstile opens while the writer is still busy.
    gate_common::wait_pulses(&relay, 1);
    assert!(outbox_kinds(&dev).is_empty(), "nothing committed yet");
    release.send(()).unwrap();
    chunk.join().unwrap();
    let (first, again, member, station) = scans.join().unwrap();
    for q in queued {
        q.join().unwrap();
    }
    assert_eq!(first.decision.outcome, Outcome::Admit);
    // Committed before it was read again: the same ticket is refused.
    assert_eq!(
        (again.decision.outcome, again.decision.reason.code()),
        (Outcome::Deny, "already_used")
    );
    assert_eq!(member.decision.outcome, Outcome::Admit);
    let kinds: Vec<String> = outbox_kinds(&dev).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds[0], "scan",
        "the first scan committed ahead of the queued jobs: {kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| *k == "scan").count(), 3);
    assert_eq!(kinds.iter().filter(|k| *k == "order").count(), 3);
    assert_eq!(station.scan_count().unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scan_reads_the_replica_as_the_last_committed_feed_page_left_it() {
    // A scan's lookups share one read transaction; it must end with the scan, or the gate
    // would go on deciding from an old state of the replica.
    let hub = TestHub::start(200).await;
    let (_, active, _) = pick(&hub);
    let clock = manual_clock();
    let (dev, _device, mut station, _relay) = synced_gate(&hub, "gate-1", TAIL, &clock).await;

    let first = station.admit(&card(&active), None, 1, at(10, 0)).unwrap();
    assert_eq!(first.decision.outcome, Outcome::Admit);

    // A feed page cancels the membership, committed by another connection.
    let feed = portico::replica::open(&dev.config().database_path()).unwrap();
    let changed = feed
        .execute(
            "UPDATE memberships SET status = 'cancelled' WHERE membership_id = ?1",
            [&active],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let later = station.admit(&card(&active), None, 1, at(14, 0)).unwrap();
    assert_eq!(
        (later.decision.outcome, later.decision.reason.code()),
        (Outcome::Deny, "membership_inactive")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_scan_greets_its_holder_by_name_admitted_or_not() {
    // The holder is looked up after the scan is durable; the screen still names them, the
    // survivor when the holder was merged away.
    let hub = TestHub::start(200).await;
    let (_, active, lapsed) = pick(&hub);
    let clock = manual_clock();
    let (dev, _device, mut station, _relay) = synced_gate(&hub, "gate-1", TAIL, &clock).await;
    let conn = portico::replica::open(&dev.config().database_path()).unwrap();
    let text =
        |sql: &str, param: &str| -> String { conn.query_row(sql, [param], |r| r.get(0)).unwrap() };
    let name_of = |lookup_id: &str| {
        text(
            "SELECT first_name || ' ' || last_name FROM constituents WHERE lookup_id = ?1",
            lookup_id,
        )
    };
    let holder_of = |membership: &str| {
        let first = text(
            "SELECT lookup_id FROM membership_members WHERE membership_id = ?1 AND position = 0",
            membership,
        );
        portico::replica::resolve(&conn, &first).unwrap().survivor
    };
    let shown = |d: &portico::gate::station::Decided| {
        d.decision.effects.iter().find_map(|e| match e {
            portico::gate::Effect::ShowScreen(s) => s.name.clone(),
            _ => None,
        })
    };

    let admitted = station.admit(&card(&active), None, 1, at(10, 0)).unwrap();
    assert_eq!(admitted.decision.outcome, Outcome::Admit);
    assert_eq!(shown(&admitted), Some(name_of(&holder_of(&active))));
    let refused = station.admit(&card(&lapsed), None, 1, at(10, 1)).unwrap();
    assert_eq!(refused.decision.outcome, Outcome::Deny);
    assert_eq!(shown(&refused), Some(name_of(&holder_of(&lapsed))));

    // The holder merged into another constituent: the survivor is greeted.
    let holder = holder_of(&active);
    let survivor = text(
        "SELECT lookup_id FROM constituents WHERE lookup_id <> ?1 AND status = 'active' LIMIT 1",
        &holder,
    );
    conn.execute(
        "INSERT INTO merges (merged_id, survivor_id, merged_at) VALUES (?1, ?2, '2026-01-01T00:00:00Z')",
        [&holder, &survivor],
    )
    .unwrap();
    assert_eq!(holder_of(&active), survivor);
    let again = station.admit(&card(&active), None, 1, at(12, 0)).unwrap();
    assert_eq!(shown(&again), Some(name_of(&survivor)));
}
