//! Constituent intake end to end against a real hub on loopback TLS: a visitor created offline
//! and remapped to the hub's Lookup ID, a second visit before any sync, the update rules on the
//! device and on the hub, the review queue, ambiguous matches, two devices creating the same
//! person, and "Perform Same Merge".

use crate::common;
use crate::intake_helpers;

use crate::common::{TestDevice, TestHub, email, manual_clock, person, phone, visitor};
use intake_helpers::{
    hub_get, hub_rows, insert_scan, intake, outbox_rows, put_on_hub, replica_rows, scan_keys,
    with_db, write_db,
};
use portico::domain::Constituent;
use portico::intake::{Decision, IntakeConfig, is_local_id};
use portico::protocol::{ConstituentDto, ReviewItemDto};
use portico::replica;

/// Zora Quillfeather, 8-20000001: primary email, primary Home phone.
fn zora() -> Constituent {
    let mut c = person("8-20000001", "Zora", "Quillfeather");
    c.emails = vec![email("zora@quill.net", "Email", true, true)];
    c.phones = vec![phone("(555) 201-0001", "Home", true, true)];
    c
}

async fn hub_and_device(records: &[Constituent]) -> (TestHub, TestDevice, portico::device::Device) {
    let hub = TestHub::start(20).await;
    put_on_hub(&hub, records);
    let dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    device.engine.pull_all(None).await.unwrap();
    (hub, dev, device)
}

/// Issue, Create: "A new constituent is written locally as pending with a local id and queued
/// upstream; when the hub returns its Lookup ID, every local reference (orders, scans,
/// memberships) is remapped." Seed 000: "Without sufficient information, a new record will be
/// created." The feed's delivery of the hub's record then updates the same row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_a_new_visitor_is_created_pending_and_remapped_to_the_hubs_lookup_id() {
    let (hub, _dev, device) = hub_and_device(&[]).await;
    let now = common::start_time();
    let v = visitor(
        "Odile",
        "Brackenridge",
        Some("odile@bracken.net"),
        Some("555 301 0001"),
    );
    let out = intake(&device, &IntakeConfig::default(), &v, now);
    let Decision::Created { local_id } = out.decision.clone() else {
        panic!("{:?}", out.decision);
    };
    assert!(is_local_id(&local_id));
    assert_eq!(
        replica_rows(&device, "Brackenridge"),
        vec![(local_id.clone(), true)]
    );
    let created = outbox_rows(&device, "new_constituent");
    assert_eq!(created.len(), 1);
    // Local references made before the sync: an order, a gate scan, a membership.
    let local = local_id.clone();
    write_db(&device, move |tx| {
        let local_id = local;
        portico::outbox::enqueue_raw(
            tx,
            portico::outbox::kinds::ORDER_V1,
            &serde_json::json!({"constituent": local_id, "lines": [{"product_id": "P1"}]}),
            0,
        )
        .unwrap();
        insert_scan(tx, &format!("lookup:{local_id}"));
        tx.execute(
            "INSERT INTO membership_members (membership_id, lookup_id, position)
             VALUES ('M-LOCAL', ?1, 0)",
            [&local_id],
        )
        .unwrap();
    });

    let report = device.engine.push_once().await.unwrap();
    assert_eq!((report.delivered, report.dead), (2, 0), "{report:?}");
    let on_hub = hub_rows(&hub, "Brackenridge");
    assert_eq!(on_hub.len(), 1, "one record on the hub");
    let lookup_id = on_hub[0].lookup_id.clone();
    assert!(
        lookup_id.starts_with("8-") && lookup_id.len() == 10,
        "{lookup_id}"
    );
    assert_eq!(on_hub[0].emails[0].address, "odile@bracken.net");
    assert!(on_hub[0].phones[0].meta.primary);

    // Remapped: the row (still pending until the feed confirms it), the scan's use key, the
    // membership, the order's payload, and the mapping itself.
    assert_eq!(
        replica_rows(&device, "Brackenridge"),
        vec![(lookup_id.clone(), true)]
    );
    assert_eq!(scan_keys(&device), vec![format!("lookup:{lookup_id}")]);
    let order = &outbox_rows(&device, "order")[0];
    let payload: serde_json::Value = serde_json::from_str(&order.payload).unwrap();
    assert_eq!(payload["constituent"], lookup_id.as_str());
    with_db(&device, |c| {
        let member: String = c
            .query_row(
                "SELECT lookup_id FROM membership_members WHERE membership_id = 'M-LOCAL'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(member, lookup_id);
        assert_eq!(
            portico::intake::remap::resolve_local_id(c, &local_id).unwrap(),
            lookup_id
        );
    });

    // The feed brings the hub's record: the same row, no longer pending, equal to the hub's.
    device.engine.pull_all(None).await.unwrap();
    assert_eq!(
        replica_rows(&device, "Brackenridge"),
        vec![(lookup_id.clone(), false)]
    );
    with_db(&device, |c| {
        let got = replica::constituent(c, &lookup_id).unwrap().unwrap();
        assert_eq!(ConstituentDto::from(got), on_hub[0]);
    });
}

/// A reply lost after the hub created the record: the replay answers `duplicate` with the same
/// Lookup ID, and the device remaps then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_is_answered_again_with_the_same_lookup_id() {
    let (hub, _dev, device) = hub_and_device(&[]).await;
    let clock_now = common::start_time();
    let v = visitor("Pim", "Vandersloot", Some("pim@sloot.net"), None);
    let out = intake(&device, &IntakeConfig::default(), &v, clock_now);
    let local_id = out.constituent().unwrap().to_owned();
    hub.server
        .state
        .faults
        .cut_upload_response
        .store(1, std::sync::atomic::Ordering::SeqCst);
    assert!(device.engine.push_once().await.is_err());
    assert_eq!(replica_rows(&device, "Vandersloot"), vec![(local_id, true)]);
    // Due again after the backoff; the device's clock is manual, so move the rows instead.
    write_db(&device, |c| {
        c.execute("UPDATE outbox SET next_attempt_at = 0", [])
            .unwrap();
    });
    let report = device.engine.push_once().await.unwrap();
    assert_eq!(report.duplicates, 1);
    let on_hub = hub_rows(&hub, "Vandersloot");
    assert_eq!(on_hub.len(), 1);
    assert_eq!(
        replica_rows(&device, "Vandersloot"),
        vec![(on_hub[0].lookup_id.clone(), true)]
    );
}

/// Issue, Create: "The same visitor coming back before the sync matches the pending record
/// instead of creating a second one" (strict rule against the pending record's email).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_the_same_visitor_back_before_the_sync_matches_the_pending_record() {
    let (hub, _dev, device) = hub_and_device(&[]).await;
    let now = common::start_time();
    let first = visitor("Tamsin", "Oakhurst", Some("tamsin@oak.net"), None);
    let created = intake(&device, &IntakeConfig::default(), &first, now);
    let local_id = created.constituent().unwrap().to_owned();
    // Back the same day, with a phone this time.
    let again = visitor(
        "TAMSIN",
        "oakhurst",
        Some("Tamsin@Oak.net"),
        Some("555 401 0002"),
    );
    let out = intake(&device, &IntakeConfig::default(), &again, now);
    let Decision::Matched {
        lookup_id, pending, ..
    } = &out.decision
    else {
        panic!("{:?}", out.decision);
    };
    assert_eq!((lookup_id, *pending), (&local_id, true));
    assert_eq!(
        replica_rows(&device, "Oakhurst").len(),
        1,
        "no second record"
    );
    assert_eq!(
        outbox_rows(&device, "new_constituent").len(),
        1,
        "no second create"
    );
    assert_eq!(outbox_rows(&device, "visitor_update").len(), 1);
    // The phone was added to the pending record, so a search by phone finds it.
    with_db(&device, |c| {
        let rec = replica::constituent(c, &local_id).unwrap().unwrap();
        assert_eq!(rec.phones.len(), 1);
    });

    // Both rows go up together; the hub resolves the local id of the update.
    let report = device.engine.push_once().await.unwrap();
    assert_eq!((report.delivered, report.dead), (2, 0), "{report:?}");
    let on_hub = hub_rows(&hub, "Oakhurst");
    assert_eq!(on_hub.len(), 1);
    assert_eq!(on_hub[0].phones.len(), 1, "the hub applied the update too");
    let row = &outbox_rows(&device, "visitor_update")[0];
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
    assert_eq!(payload["lookup_id"], on_hub[0].lookup_id.as_str());
}

/// Seed 003: "If the new phone number has the same type as any existing phone number, Altru
/// makes the existing phone number inactive and updates the End date field on all existing
/// phone numbers on the constituent with that phone type"; "Altru makes the new phone number
/// primary only if it has the same phone type as the existing primary phone number." The
/// device applies it optimistically, the hub applies it itself, and the feed agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_a_matched_visitors_new_phone_ends_the_old_one_on_device_and_hub() {
    let (hub, _dev, device) = hub_and_device(&[zora()]).await;
    let now = common::start_time();
    let v = visitor(
        "Zora",
        "Quillfeather",
        Some("ZORA@quill.net"),
        Some("555-209-9999"),
    );
    let out = intake(&device, &IntakeConfig::default(), &v, now);
    assert!(
        matches!(&out.decision, Decision::Matched { lookup_id, automatic: true, pending: false, .. } if lookup_id == "8-20000001"),
        "{:?}",
        out.decision
    );
    let check = |c: &Constituent| {
        assert_eq!(c.phones.len(), 2, "{:?}", c.phones);
        let (old, new) = (&c.phones[0], &c.phones[1]);
        assert!(!old.meta.active && !old.meta.primary, "{old:?}");
        assert_eq!(old.meta.end, Some(now.date_naive()));
        assert_eq!(new.number, "555-209-9999");
        assert!(new.meta.active && new.meta.primary && new.meta.kind == "Home");
    };
    with_db(&device, |c| {
        check(&replica::constituent(c, "8-20000001").unwrap().unwrap())
    });
    assert!(outbox_rows(&device, "new_constituent").is_empty());

    let report = device.engine.push_once().await.unwrap();
    assert_eq!((report.delivered, report.dead), (1, 0), "{report:?}");
    let on_hub: Constituent = hub.store.constituent("8-20000001").unwrap().unwrap().into();
    check(&on_hub);
    device.engine.pull_all(None).await.unwrap();
    with_db(&device, |c| {
        let got = replica::constituent(c, "8-20000001").unwrap().unwrap();
        assert_eq!(got, on_hub, "the feed's record equals the optimistic one");
    });
    assert!(hub.store.review_queue(true).unwrap().is_empty());
}

/// Seed 003: "If matching constituents qualify for manual review (their match confidence score
/// falls in the middle range)", a person resolves them: scored mode with the CRM's 95/70, name
/// and email only (80) goes to the hub's review queue, visible to staff, and is not applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_scored_middle_range_lands_in_the_hubs_review_queue_and_is_not_applied() {
    let (hub, dev, device) = hub_and_device(&[zora()]).await;
    let now = common::start_time();
    let v = visitor("Zora", "Quillfeather", Some("zora@quill.net"), None);
    let mut v = v;
    v.address = Some(common::postal("9 Elm Row", "02139"));
    let before = hub.store.constituent("8-20000001").unwrap().unwrap();
    let out = intake(&device, &IntakeConfig::scored(), &v, now);
    let Decision::Review {
        lookup_id, score, ..
    } = &out.decision
    else {
        panic!("{:?}", out.decision);
    };
    assert_eq!(lookup_id, "8-20000001");
    assert!((70..=95).contains(score), "{score}");
    with_db(&device, |c| {
        let got = replica::constituent(c, "8-20000001").unwrap().unwrap();
        assert_eq!(
            ConstituentDto::from(got),
            before,
            "nothing applied on the device"
        );
    });

    let report = device.engine.push_once().await.unwrap();
    assert_eq!((report.delivered, report.dead), (1, 0), "{report:?}");
    assert_eq!(
        hub.store.constituent("8-20000001").unwrap().unwrap(),
        before,
        "nothing applied on the hub"
    );
    let queue = hub.store.review_queue(true).unwrap();
    assert_eq!(queue.len(), 1);
    let item = &queue[0];
    assert_eq!(
        (
            item.lookup_id.as_str(),
            item.reason.as_str(),
            item.status.as_str()
        ),
        ("8-20000001", "middle_range", "open")
    );
    assert_eq!(item.score, *score);
    assert!(
        item.explanation.iter().any(|l| l.starts_with("email: +35")),
        "{:?}",
        item.explanation
    );
    assert_eq!(item.visitor["email"], "zora@quill.net");

    // Staff see it over the API (bearer token like every other endpoint) and on the CLI.
    let token = std::fs::read_to_string(dev.dir.path().join("device.token")).unwrap();
    let (status, body) = hub_get(&hub, token.trim(), "/v1/review-queue").await;
    assert_eq!(status, 200, "{body}");
    let listed: Vec<ReviewItemDto> = serde_json::from_str(&body).unwrap();
    assert_eq!(listed, queue);
    assert_eq!(hub_get(&hub, "wrong", "/v1/review-queue").await.0, 401);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["hub", "review", "--dir"])
        .arg(hub.dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Zora Quillfeather -> 8-20000001") && text.contains("middle_range"),
        "{text}"
    );

    // Approving applies the rules as a reviewed match: the address is added.
    hub.store.resolve_review(item.id, true, now).unwrap();
    let after = hub.store.constituent("8-20000001").unwrap().unwrap();
    assert_eq!(after.addresses.len(), 1);
    assert!(hub.store.review_queue(true).unwrap().is_empty());
}

/// Seeds 000/001, strict: several matching constituents are ambiguous, never a silent pick;
/// nothing is created or queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_two_matching_records_are_ambiguous_and_nothing_is_picked() {
    let mut twin = zora();
    twin.lookup_id = "8-20000002".into();
    twin.phones.clear();
    let (_hub, _dev, device) = hub_and_device(&[zora(), twin]).await;
    let v = visitor("Zora", "Quillfeather", Some("zora@quill.net"), None);
    let out = intake(&device, &IntakeConfig::default(), &v, common::start_time());
    assert_eq!(
        out.decision,
        Decision::Ambiguous {
            candidates: vec!["8-20000001".into(), "8-20000002".into()]
        }
    );
    assert!(out.outbox_keys.is_empty());
    assert_eq!(replica_rows(&device, "Quillfeather").len(), 2);
    with_db(&device, |c| {
        assert_eq!(portico::outbox::stats(c).unwrap().pending, 0);
    });
}

/// Seed 000: "XTruLink automatically associates Kiosk customers ... with matching constituent
/// records in Altru (if they exist) when sufficient criteria is met (name and email match OR
/// name and phone match)": the same person created offline at two devices becomes one record,
/// and both devices get its Lookup ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_two_devices_creating_the_same_person_offline_get_the_same_lookup_id() {
    let (hub, _dev, device_a) = hub_and_device(&[]).await;
    let dev_b = TestDevice::new(&hub, "kiosk-2", &hub.ca, "", "");
    let device_b = dev_b.open(manual_clock());
    device_b.engine.pull_all(None).await.unwrap();
    let now = common::start_time();
    let at_a = visitor("Ines", "Carrowmore", Some("ines@carrow.net"), None);
    let at_b = visitor("Ines", "Carrowmore", None, Some("555 501 0003"));
    let mut at_b = at_b;
    at_b.email = Some("INES@carrow.net".into());
    let a = intake(&device_a, &IntakeConfig::default(), &at_a, now);
    let b = intake(&device_b, &IntakeConfig::default(), &at_b, now);
    assert!(matches!(a.decision, Decision::Created { .. }));
    assert!(matches!(b.decision, Decision::Created { .. }));

    device_a.engine.push_once().await.unwrap();
    device_b.engine.push_once().await.unwrap();
    let on_hub = hub_rows(&hub, "Carrowmore");
    assert_eq!(on_hub.len(), 1, "one record: {on_hub:?}");
    let id = on_hub[0].lookup_id.clone();
    assert_eq!(
        replica_rows(&device_a, "Carrowmore"),
        vec![(id.clone(), true)]
    );
    assert_eq!(
        replica_rows(&device_b, "Carrowmore"),
        vec![(id.clone(), true)]
    );
    // The second device's phone was added by the update rules.
    assert_eq!(on_hub[0].phones.len(), 1);
    device_b.engine.pull_all(None).await.unwrap();
    assert_eq!(replica_rows(&device_b, "Carrowmore"), vec![(id, false)]);
}

/// Seed 000, "Perform Same Merge": when the merges feed says A was merged into B, local
/// references to A not yet delivered (outbox payloads, scan use keys, memberships, local id
/// mappings) are rewritten to B, in the merge page's transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_perform_same_merge_rewrites_pending_references_to_the_survivor() {
    let mut survivor = person("8-20000009", "Zora", "Quill");
    survivor.emails = vec![email("zq@quill.net", "Email", true, true)];
    let (hub, _dev, device) = hub_and_device(&[zora(), survivor]).await;
    let now = common::start_time();
    let v = visitor(
        "Zora",
        "Quillfeather",
        Some("zora@quill.net"),
        Some("555 209 7777"),
    );
    let out = intake(&device, &IntakeConfig::default(), &v, now);
    assert!(
        matches!(&out.decision, Decision::Matched { lookup_id, .. } if lookup_id == "8-20000001")
    );
    write_db(&device, |c| {
        insert_scan(c, "lookup:8-20000001");
        c.execute(
            "INSERT INTO local_ids (local_id, lookup_id, mapped_at)
             VALUES ('L-earlier', '8-20000001', '2026-11-01T08:00:00Z')",
            [],
        )
        .unwrap();
    });

    hub.store.merge("8-20000001", "8-20000009", now).unwrap();
    device.engine.pull_all(None).await.unwrap();

    let row = &outbox_rows(&device, "visitor_update")[0];
    assert_eq!(row.state, "pending");
    let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
    assert_eq!(payload["lookup_id"], "8-20000009");
    assert_eq!(scan_keys(&device), vec!["lookup:8-20000009".to_owned()]);
    with_db(&device, |c| {
        assert_eq!(
            portico::intake::remap::resolve_local_id(c, "L-earlier").unwrap(),
            "8-20000009"
        );
    });

    // Delivered to the survivor: the hub applies the visitor's details there.
    let report = device.engine.push_once().await.unwrap();
    assert_eq!((report.delivered, report.dead), (1, 0), "{report:?}");
    let on_hub = hub.store.constituent("8-20000009").unwrap().unwrap();
    assert!(
        on_hub.phones.iter().any(|p| p.number == "555 209 7777"),
        "{on_hub:?}"
    );
}

/// `portico hub match`: the hub's own view of a visitor's details, strict and scored, in words
/// and as JSON; nothing is written to the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portico_hub_match_explains_the_decision_against_the_hubs_records() {
    use portico::protocol::{ConstituentDto, Resource};
    let hub = TestHub::start(50).await;
    let all = || {
        hub.store
            .all::<ConstituentDto>(Resource::Constituents)
            .unwrap()
    };
    let c = all()
        .into_iter()
        .find(|c| {
            c.status == portico::domain::ConstituentStatus::Active
                && c.emails.iter().any(|e| e.meta.active)
        })
        .unwrap();
    let email = c
        .emails
        .iter()
        .find(|e| e.meta.active)
        .unwrap()
        .address
        .clone();
    let before = all();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(["hub", "match", "--dir"])
            .arg(hub.dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run(&[
        "--first",
        &c.name.first,
        "--last",
        &c.name.last,
        "--email",
        &email,
    ]);
    assert!(
        text.contains(&format!("Matched: the visitor is {}", c.lookup_id))
            && text.contains("name and email match"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(&[
        "--first", "Someone", "--last", "Else", "--email", &email, "--mode", "scored", "--json",
    ]))
    .unwrap();
    assert_eq!(json["mode"], "scored");
    assert_eq!(json["candidates"][0]["lookup_id"], c.lookup_id.as_str());
    // The email agrees, the names do not: not the same person.
    assert_eq!(json["decision"], "new", "{json}");

    // In scored mode a record is found by name too: a misspelt last name with the record's
    // birth date and address and no email or phone, as staff might type it from a form.
    let c = all()
        .into_iter()
        .find(|c| {
            c.status == portico::domain::ConstituentStatus::Active
                && c.birth_date.is_some()
                && !c.addresses.is_empty()
                && c.name.last.chars().count() > 4
        })
        .unwrap();
    let a = &c.addresses[0];
    let mut last: Vec<char> = c.name.last.chars().collect();
    last.swap(2, 3);
    let visitor = serde_json::json!({
        "name": {"first": c.name.first, "last": last.into_iter().collect::<String>()},
        "birth_date": c.birth_date,
        "address": {"line1": a.line1, "city": a.city, "postcode": a.postcode, "country": a.country},
    });
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("visitor.json");
    std::fs::write(&file, visitor.to_string()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&run(&[
        "--file",
        file.to_str().unwrap(),
        "--mode",
        "scored",
        "--json",
    ]))
    .unwrap();
    let found = json["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["lookup_id"] == c.lookup_id.as_str())
        .unwrap_or_else(|| panic!("{} among the candidates: {json}", c.lookup_id));
    assert!(found["score"].as_u64().unwrap() >= 70, "{json}");
    assert_eq!(json["decision"], "review", "{json}");
    assert_eq!(all(), before, "nothing written");
}
