//! Tickets signed by a kiosk: the kiosk registers its key with the hub, the hub hands it to
//! every gate on the `signing_keys` feed, and a gate admits the kiosk's tickets with the hub
//! gone. A forged or unregistered ticket is refused, and so is every ticket of a key the hub
//! revoked, once the gate has pulled.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Duration;

use crate::common::{TestDevice, TestHub, anchor, manual_clock};
use crate::gate_common::{TAIL, at, station};
use portico::gate::Outcome;
use portico::input::credential::signed_ticket::{FIRST_KIOSK_KEY, TicketFields};
use portico::input::credential::{CredentialKind, CredentialParser, FormatSet};
use portico::kiosk::signer;
use portico::sync::HubClient;

fn fields(ticket_id: u64) -> TicketFields {
    let start = anchor().and_hms_opt(10, 0, 0).unwrap();
    TicketFields {
        ticket_id,
        product_id: "TIMED".into(),
        validity: portico::domain::TicketValidity::Slot {
            start,
            end: start + Duration::minutes(30),
        },
        uses: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_admits_a_kiosk_signed_ticket_offline_and_refuses_a_revoked_keys() {
    let hub = TestHub::start(50).await;
    let clock = manual_clock();
    let kiosk_dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let kiosk = kiosk_dev.open(clock.clone());
    let key = signer::load_or_create(&kiosk.config.data_dir.join("kiosk-signing.key")).unwrap();
    let client = HubClient::new(&kiosk.config.upstream).unwrap();
    let signer = signer::register(&client, &kiosk.store, &key).await.unwrap();
    assert_eq!(signer.key_id(), FIRST_KIOSK_KEY);
    // Registering again (a restart) keeps the id, and the database remembers it.
    assert_eq!(
        signer::register(&client, &kiosk.store, &key)
            .await
            .unwrap()
            .key_id(),
        FIRST_KIOSK_KEY
    );
    let registered = signer::registered(&kiosk.engine.database().lock().unwrap(), &key).unwrap();
    assert_eq!(registered, Some(FIRST_KIOSK_KEY));

    let gate_dev = TestDevice::with_tail(&hub, "gate-1", &hub.ca, "", "", TAIL);
    let gate = gate_dev.open(clock.clone());
    gate.engine.pull_all(None).await.unwrap();
    let parser = CredentialParser::new(gate.config.inputs.credentials.clone());
    let scan = |text: &str| parser.parse("scanner", text.as_bytes(), FormatSet::barcode_default());

    let good = signer.issue(&fields(1)).unwrap();
    let other = signer::Signer::new(
        FIRST_KIOSK_KEY,
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    );
    let forged = other.issue(&fields(2)).unwrap();
    let stranger = signer::Signer::new(40_000, key.clone())
        .issue(&fields(3))
        .unwrap();
    let second = signer.issue(&fields(4)).unwrap();
    assert!(matches!(
        scan(&good).kind,
        CredentialKind::KioskTicket { .. }
    ));

    // The hub goes away; the gate decides from its replica.
    let TestHub {
        server, store, dir, ..
    } = hub;
    let server_addr = server.addr;
    server.shutdown().await;
    let (mut station, _) = station(&gate, clock.clone());
    let cases = [
        ("the kiosk's ticket", &good, Outcome::Admit),
        ("the same ticket again", &good, Outcome::Deny),
        (
            "signed with another key under the kiosk's id",
            &forged,
            Outcome::Deny,
        ),
        ("a key the hub never registered", &stranger, Outcome::Deny),
    ];
    for (i, (what, text, want)) in cases.iter().enumerate() {
        let d = station
            .scan(&scan(text), None, 1, at(10, 1 + i as u32))
            .unwrap();
        assert_eq!(d.outcome, *want, "{what}: {d:?}");
    }

    // The kiosk is stolen: its key is revoked, and once the gate has pulled (the hub back on
    // the same address), its unused tickets are refused.
    store
        .write(|tx, seq| portico::hub::keys::revoke(tx, seq, FIRST_KIOSK_KEY))
        .unwrap();
    let pki = dir.path().join("pki");
    let tls =
        portico::tls::server_config(&pki.join("server.pem"), &pki.join("server.key")).unwrap();
    let server = portico::hub::HubServer::start(server_addr, store.clone(), tls)
        .await
        .unwrap();
    gate.engine.pull_all(None).await.unwrap();
    let d = station.scan(&scan(&second), None, 1, at(10, 20)).unwrap();
    assert_eq!(d.outcome, Outcome::Deny, "{d:?}");
    assert!(
        format!("{:?}", d.reason).to_lowercase().contains("revoked"),
        "{:?}",
        d.reason
    );
    server.shutdown().await;
}

/// A kiosk registered after the gate's last pull: its first ticket is refused, and the gate
/// asks for the feeds at once (once, however often it is scanned meanwhile), so the same
/// ticket scanned again after that pull is admitted: no waiting for the next scheduled pull.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_of_a_kiosk_the_gate_has_not_heard_of_makes_the_gate_pull_at_once() {
    let hub = TestHub::start(50).await;
    let clock = manual_clock();
    let gate_dev = TestDevice::with_tail(&hub, "gate-1", &hub.ca, "", "", TAIL);
    let gate = gate_dev.open(clock.clone());
    gate.engine.pull_all(None).await.unwrap();

    let kiosk_dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let kiosk = kiosk_dev.open(clock.clone());
    let key = signer::load_or_create(&kiosk.config.data_dir.join("kiosk-signing.key")).unwrap();
    let client = HubClient::new(&kiosk.config.upstream).unwrap();
    let signer = signer::register(&client, &kiosk.store, &key).await.unwrap();
    let ticket = signer.issue(&fields(1)).unwrap();

    let parser = CredentialParser::new(gate.config.inputs.credentials.clone());
    let credential = parser.parse("scanner", ticket.as_bytes(), FormatSet::barcode_default());
    let (mut station, _) = station(&gate, clock.clone());
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    station.on_unknown_key(Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    for minute in 1..=3 {
        let d = station.scan(&credential, None, 1, at(10, minute)).unwrap();
        assert_eq!(d.outcome, Outcome::Deny, "{d:?}");
    }
    assert_eq!(asked.load(Ordering::SeqCst), 1, "one pull asked for");

    // The pull the device starts on that signal.
    gate.engine.pull_all(None).await.unwrap();
    let d = station.scan(&credential, None, 1, at(10, 4)).unwrap();
    assert_eq!(d.outcome, Outcome::Admit, "{d:?}");
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}
