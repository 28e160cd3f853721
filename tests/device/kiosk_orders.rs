//! Kiosk orders, exactly once, against a real hub on loopback and the simulated terminal: an
//! approved payment makes one order with signed tickets that a gate admits offline and the hub
//! records once; a declined, cancelled or timed-out payment leaves nothing; and a kiosk that
//! dies at any step of a payment settles it at start-up — never paid without an order, never
//! charged twice, never an order without a payment.

use std::sync::Arc;

use crate::common::{TestDevice, TestHub, anchor, manual_clock};
use portico::clock::{Clock, ManualClock};
use portico::device::Device;
use portico::intake::IntakeConfig;
use portico::kiosk::checkout::{Session, VisitorForm};
use portico::kiosk::order::{OrderDraft, draft};
use portico::kiosk::orders::{self, OrderCounts};
use portico::kiosk::payment::OnApprovedAfterCrash;
use portico::kiosk::pricing::{CartLine, quote};
use portico::kiosk::sale::{NotPaid, Sales};
use portico::kiosk::signer::{self, Signer};
use portico::kiosk::terminal::{PaymentRequest, PaymentTerminal, SimStep, SimulatedTerminal};
use portico::matching::{MatchConfig, OnAmbiguous};
use portico::protocol::{ConstituentDto, Resource};

const SLOT: &str = "zoo@2026-11-01T10:00";

/// A kiosk with its key registered and the hub's feeds pulled.
async fn kiosk(dev: &TestDevice, clock: Arc<ManualClock>) -> (Device, Arc<Signer>) {
    let device = dev.open(clock);
    device.engine.pull_all(None).await.unwrap();
    let key = signer::load_or_create(&device.config.data_dir.join("kiosk-signing.key")).unwrap();
    let client = portico::sync::HubClient::new(&device.config.upstream).unwrap();
    let signer = signer::register(&client, &device.store, &key)
        .await
        .unwrap();
    (device, Arc::new(signer))
}

fn till(
    device: &Device,
    clock: Arc<ManualClock>,
    terminal: Arc<dyn PaymentTerminal>,
    signer: Arc<Signer>,
) -> Sales {
    Sales {
        store: device.store.clone(),
        terminal,
        signer,
        clock,
        zone: None,
        device_id: device.config.device_id.clone(),
        order_prefix: "K1".into(),
        normalizer: device.config.normalizer.clone(),
        intake: IntakeConfig {
            matching: MatchConfig {
                on_ambiguous: OnAmbiguous::Create,
                ..MatchConfig::default()
            },
            ..IntakeConfig::default()
        },
        on_approved_after_crash: Default::default(),
    }
}

/// Two adults and a child at 10:00 on the anchor day, for `buyer`.
fn basket(device: &Device, buyer: &ConstituentDto) -> OrderDraft {
    let conn = device.engine.database();
    let conn = conn.lock().unwrap();
    let catalog = portico::replica::catalog::load_catalog(&conn, anchor(), anchor())
        .unwrap()
        .catalog;
    let line = |category: &str, quantity| CartLine {
        product: "TIMED".into(),
        category: Some(category.into()),
        slot: Some(SLOT.into()),
        quantity,
    };
    let now_local = anchor().and_hms_opt(9, 0, 0).unwrap();
    let q = quote(
        &[line("adult", 2), line("child", 1)],
        &catalog,
        None,
        crate::common::start_time(),
        now_local,
    )
    .unwrap();
    let session = Session {
        quote: Some(q),
        form: VisitorForm {
            first: buyer.name.first.clone(),
            last: buyer.name.last.clone(),
            email: buyer.emails[0].address.clone(),
            phone: String::new(),
            receipt_by_email: true,
        },
        ..Session::default()
    };
    draft(&session, &catalog, anchor()).unwrap()
}

/// A kiosk's sales counter: a hub of 50 constituents, the kiosk synced with its key
/// registered, its till on the simulated terminal, and a basket for a seeded buyer.
struct Counter {
    hub: TestHub,
    clock: Arc<ManualClock>,
    dev: TestDevice,
    kiosk: Device,
    draft: OrderDraft,
    terminal: Arc<SimulatedTerminal>,
    sales: Sales,
}

async fn counter() -> Counter {
    let hub = TestHub::start(50).await;
    let clock = manual_clock();
    let dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let (kiosk, signer) = kiosk(&dev, clock.clone()).await;
    let draft = basket(&kiosk, &buyer(&hub));
    let terminal = Arc::new(SimulatedTerminal::in_memory());
    let sales = till(&kiosk, clock.clone(), terminal.clone(), signer);
    Counter {
        hub,
        clock,
        dev,
        kiosk,
        draft,
        terminal,
        sales,
    }
}

/// A seeded constituent with an email, as the buyer.
fn buyer(hub: &TestHub) -> ConstituentDto {
    hub.store
        .all::<ConstituentDto>(Resource::Constituents)
        .unwrap()
        .into_iter()
        .find(|c| {
            c.emails.iter().any(|e| e.meta.active && e.meta.primary)
                && c.status == portico::domain::ConstituentStatus::Active
        })
        .map(|mut c| {
            c.emails.retain(|e| e.meta.active && e.meta.primary);
            c
        })
        .unwrap()
}

fn counts(device: &Device) -> OrderCounts {
    let conn = device.engine.database();
    orders::counts(&conn.lock().unwrap()).unwrap()
}

fn sold_in_slot(device: &Device) -> u32 {
    let conn = device.engine.database();
    let conn = conn.lock().unwrap();
    conn.query_row(
        "SELECT coalesce(sum(seats), 0) FROM order_lines WHERE slot_id = ?1",
        [SLOT],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_sold_offline_is_admitted_offline_and_reaches_the_hub_once() {
    let hub = TestHub::start(200).await;
    let clock = manual_clock();
    let kiosk_dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let (kiosk, signer) = kiosk(&kiosk_dev, clock.clone()).await;
    let gate_dev = TestDevice::with_tail(&hub, "gate-1", &hub.ca, "", "", crate::gate_common::TAIL);
    let gate = gate_dev.open(clock.clone());
    gate.engine.pull_all(None).await.unwrap();
    let buyer = buyer(&hub);
    let draft = basket(&kiosk, &buyer);
    assert_eq!(
        draft.quote.gross, 6712,
        "2 adults and a child, with 8.25 % tax"
    );

    // The hub goes away: the kiosk sells, the gate admits.
    let TestHub {
        server, store, dir, ..
    } = hub;
    let addr = server.addr;
    server.shutdown().await;
    let terminal = Arc::new(SimulatedTerminal::in_memory());
    let sales = till(&kiosk, clock.clone(), terminal.clone(), signer);
    let order = tokio::task::block_in_place(|| sales.pay(&draft, true))
        .unwrap()
        .unwrap();
    assert_eq!(order.order_no, "K1-00001");
    assert_eq!(order.tickets.len(), 3);
    assert_eq!(
        order.constituent.as_deref(),
        Some(buyer.lookup_id.as_str()),
        "the buyer's details matched their record"
    );
    let c = counts(&kiosk);
    assert_eq!(
        (
            c.orders,
            c.payments,
            c.tickets,
            c.intents_completed,
            c.held_seats
        ),
        (1, 1, 3, 1, 0)
    );
    assert_eq!(sold_in_slot(&kiosk), 3);
    assert_eq!(terminal.charged().len(), 1);

    let (mut station, _) = crate::gate_common::station(&gate, clock.clone());
    let scan = |text: &str| crate::gate_common::scanned(&gate, text);
    let d = station
        .scan(
            &scan(&order.tickets[0]),
            None,
            1,
            crate::gate_common::at(10, 5),
        )
        .unwrap();
    assert_eq!(d.outcome, portico::gate::Outcome::Admit, "{d:?}");

    // Back online: both push, twice; the hub has the order once and the admission once.
    let pki = dir.path().join("pki");
    let tls =
        portico::tls::server_config(&pki.join("server.pem"), &pki.join("server.key")).unwrap();
    let server = portico::hub::HubServer::start(addr, store.clone(), tls)
        .await
        .unwrap();
    // (The scan was made at 10:05 by the gate's reckoning; the clock moves past it.)
    clock.advance(chrono::Duration::hours(2));
    let mut delivered = (0, 0);
    for _ in 0..2 {
        delivered.0 += kiosk.engine.push_once().await.unwrap().delivered;
        delivered.1 += gate.engine.push_once().await.unwrap().delivered;
    }
    assert_eq!(
        delivered,
        (2, 1),
        "the buyer's update and the order; the admission"
    );
    let listed = store.read(|c| portico::hub::orders::list(c, None)).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            listed[0].order_no.as_str(),
            listed[0].tickets,
            listed[0].gross,
            listed[0].offline
        ),
        ("K1-00001", 3, 6712, true)
    );
    assert_eq!(
        listed[0].constituent.as_deref(),
        Some(buyer.lookup_id.as_str())
    );
    let report = store
        .read(|c| portico::hub::leases::report(c, Some(SLOT)))
        .unwrap();
    assert_eq!(report[0].sold, 3, "the kiosk's seats count as sold");
    let secrets: Vec<String> = store
        .all_docs(Resource::Tickets)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("PT-"))
        .collect();
    assert_eq!(secrets.len(), 3, "the hub publishes the kiosk's tickets");
    let admissions: i64 = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM inbox WHERE kind = 'scan' AND device_id = 'gate-1'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(admissions, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_that_does_not_go_through_leaves_no_order_no_tickets_and_no_held_seats() {
    let Counter {
        hub: _hub,
        clock: _clock,
        dev: _dev,
        kiosk,
        draft,
        terminal,
        sales,
    } = counter().await;
    let cases = [
        (SimStep::Decline, NotPaid::Declined),
        (SimStep::CancelledByVisitor, NotPaid::CancelledByVisitor),
        (SimStep::TimeOut, NotPaid::TimedOut),
        (SimStep::Unreachable, NotPaid::TerminalFault),
    ];
    for (i, (step, want)) in cases.into_iter().enumerate() {
        terminal.script([step.clone()]);
        let got = tokio::task::block_in_place(|| sales.pay(&draft, false)).unwrap();
        assert_eq!(got, Err(want), "{step:?}");
        let c = counts(&kiosk);
        assert_eq!((c.orders, c.tickets, c.held_seats), (0, 0, 0), "{step:?}");
        assert_eq!(c.intents_failed, i as u64 + 1, "{step:?}");
    }
    // No draft (the only personal data written before payment) is left behind.
    let conn = kiosk.engine.database();
    let drafts: i64 = conn
        .lock()
        .unwrap()
        .query_row(
            "SELECT count(*) FROM payment_intents WHERE draft != '{}'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(drafts, 0);
    assert!(terminal.charged().is_empty());
    // The visitor tries again and it goes through: one order.
    let order = tokio::task::block_in_place(|| sales.pay(&draft, false))
        .unwrap()
        .unwrap();
    assert_eq!(order.order_no, "K1-00001");
    assert_eq!(counts(&kiosk).orders, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_keeps_an_order_until_the_hub_has_it_and_then_for_keep_records() {
    let Counter {
        hub,
        clock,
        dev: _dev,
        kiosk,
        draft,
        terminal,
        sales,
    } = counter().await;
    terminal.script([SimStep::Decline]);
    let declined = tokio::task::block_in_place(|| sales.pay(&draft, false)).unwrap();
    assert_eq!(declined, Err(NotPaid::Declined));
    let order = tokio::task::block_in_place(|| sales.pay(&draft, false))
        .unwrap()
        .unwrap();
    // The kiosk held a lease of the slot's seats, as a selling kiosk does.
    let lease_sold = || {
        let conn = kiosk.engine.database();
        let conn = conn.lock().unwrap();
        portico::kiosk::leases::lease(&conn, SLOT)
            .unwrap()
            .map(|l| (l.seats, l.sold))
    };
    let close = format!("{}T10:00:00", anchor());
    kiosk
        .store
        .write(move |tx| {
            Ok(tx.execute(
                "INSERT INTO leases (slot_id, seats, sales_close, updated_at_ms)
                 VALUES (?1, 3, ?2, 0)",
                [SLOT, &close],
            )?)
        })
        .unwrap();
    assert_eq!(lease_sold(), Some((3, 3)));

    // A day on, nothing is old enough to go.
    clock.advance(chrono::Duration::days(1));
    let done = kiosk.engine.housekeep().await.unwrap().kiosk_records;
    assert_eq!(done.deleted(), 0, "{done:?}");

    // A season on, the order never uploaded: it stays; the declined payment's intent goes.
    clock.advance(chrono::Duration::days(100));
    let done = kiosk.engine.housekeep().await.unwrap().kiosk_records;
    assert_eq!(
        (done.orders, done.intents, done.kept_unsent),
        (0, 1, 1),
        "{done:?}"
    );
    let c = counts(&kiosk);
    assert_eq!(
        (
            c.orders,
            c.payments,
            c.tickets,
            c.intents_completed,
            c.intents_failed
        ),
        (1, 1, 3, 1, 0)
    );

    // The hub has it: the next housekeeping deletes the order, its payment and its tickets
    // here; the hub still lists it.
    let mut delivered = 0;
    for _ in 0..2 {
        delivered += kiosk.engine.push_once().await.unwrap().delivered;
    }
    assert_eq!(delivered, 2, "the buyer's update and the order");
    let done = kiosk.engine.housekeep().await.unwrap().kiosk_records;
    assert_eq!((done.orders, done.kept_unsent), (1, 0), "{done:?}");
    let c = counts(&kiosk);
    assert_eq!(
        (c.orders, c.payments, c.tickets, c.intents_completed),
        (0, 0, 0, 0)
    );
    assert_eq!(sold_in_slot(&kiosk), 0);
    assert_eq!(
        lease_sold(),
        None,
        "the lease of an entry time closed this long ago goes with its last order: nothing \
         to give back (a lease kept for other orders still counts these seats sold)"
    );
    let listed = hub
        .store
        .read(|c| portico::hub::orders::list(c, None))
        .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|o| o.order_no.as_str())
            .collect::<Vec<_>>(),
        [order.order_no.as_str()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refunded_order_is_refused_at_every_gate_and_its_seats_go_back_on_sale() {
    use portico::gate::Outcome;
    use portico::gate::reason::{Reason, RevokedBy};
    use portico::hub::refunds::{self, RefundRefused};

    let hub = TestHub::start(200).await;
    let clock = manual_clock();
    let kiosk_dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let (kiosk, signer) = kiosk(&kiosk_dev, clock.clone()).await;
    let gate_dev = TestDevice::with_tail(&hub, "gate-1", &hub.ca, "", "", crate::gate_common::TAIL);
    let gate = gate_dev.open(clock.clone());
    let terminal = Arc::new(SimulatedTerminal::in_memory());
    let sales = till(&kiosk, clock.clone(), terminal, signer);
    let order = tokio::task::block_in_place(|| sales.pay(&basket(&kiosk, &buyer(&hub)), true))
        .unwrap()
        .unwrap();
    for _ in 0..2 {
        kiosk.engine.push_once().await.unwrap();
    }
    let sold = || {
        hub.store
            .read(|c| portico::hub::leases::report(c, Some(SLOT)))
            .unwrap()[0]
            .sold
    };
    assert_eq!(sold(), 3);

    // The gate admits the first ticket before the refund.
    gate.engine.pull_all(None).await.unwrap();
    let (mut station, _) = crate::gate_common::station(&gate, clock.clone());
    let scan = |text: &str| crate::gate_common::scanned(&gate, text);
    let d = station
        .scan(
            &scan(&order.tickets[0]),
            None,
            1,
            crate::gate_common::at(10, 5),
        )
        .unwrap();
    assert_eq!(d.outcome, Outcome::Admit, "{d:?}");
    drop(station);
    // (The scan was made at 10:05 by the gate's reckoning; the clock moves past it.)
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(gate.engine.push_once().await.unwrap().delivered, 1);

    let refund = |order_no: &str, device: Option<&str>, reason: &str| {
        hub.store
            .write(|tx, seq| {
                refunds::refund(
                    tx,
                    seq,
                    order_no,
                    device,
                    reason,
                    crate::common::start_time(),
                )
            })
            .unwrap()
    };
    // Refusals first: they change nothing.
    assert_eq!(
        refund(&order.order_no, None, "  "),
        Err(RefundRefused::NoReason)
    );
    assert_eq!(
        refund("K1-99999", None, "wrong day"),
        Err(RefundRefused::NoSuchOrder("K1-99999".into()))
    );
    assert_eq!(
        refund(&order.order_no, Some("kiosk-2"), "wrong day"),
        Err(RefundRefused::NoSuchOrder(order.order_no.clone()))
    );
    assert_eq!(sold(), 3);

    let r = refund(&order.order_no, Some("kiosk-1"), "wrong day").unwrap();
    assert_eq!(r.revoked.len(), 3);
    assert_eq!(r.already_admitted.len(), 1, "{r:?}");
    assert_eq!(r.seats_returned, [(SLOT.to_owned(), 3)]);
    assert_eq!((r.gross, r.currency.as_str()), (6712, "USD"));
    assert!(r.authorisation.is_some(), "{r:?}");
    assert_eq!(
        r.card.as_deref(),
        Some("VISA ****4242"),
        "the card as the receipt shows it"
    );
    assert_eq!(sold(), 0, "the seats are back on sale");
    let words = refunds::render(&r);
    for part in [
        "order K1-00001 refunded: 3 tickets revoked",
        &format!("3 seats of {SLOT} back on sale"),
        "already used at a gate",
        "give $67.12 back",
    ] {
        assert!(words.contains(part), "{part:?} in {words}");
    }
    assert!(matches!(
        refund(&order.order_no, None, "again"),
        Err(RefundRefused::AlreadyRefunded { .. })
    ));
    let listed = hub
        .store
        .read(|c| portico::hub::orders::list(c, None))
        .unwrap();
    assert!(listed[0].refunded_at.is_some(), "{listed:?}");

    // The kiosk that sold it learns of the refund from the feed too: it prints the order's
    // tickets no more.
    let refunded_here = || {
        let conn = kiosk.engine.database();
        let conn = conn.lock().unwrap();
        let p = orders::printout(&conn, &order.order_no).unwrap().unwrap();
        orders::refunded(&conn, &p.order_id).unwrap()
    };
    assert!(!refunded_here());
    kiosk.engine.pull_all(None).await.unwrap();
    assert!(refunded_here());

    // From its next pull the gate refuses the order's tickets, the kiosk's signature or not.
    gate.engine.pull_all(None).await.unwrap();
    let (mut station, _) = crate::gate_common::station(&gate, clock.clone());
    for (i, ticket) in order.tickets.iter().enumerate().skip(1) {
        let d = station
            .scan(
                &scan(ticket),
                None,
                1,
                crate::gate_common::at(10, 10 + i as u32),
            )
            .unwrap();
        assert_eq!(d.outcome, Outcome::Deny, "{d:?}");
        assert_eq!(
            d.reason,
            Reason::Revoked {
                by: RevokedBy::TicketStatus
            }
        );
    }
}

/// Where the kiosk dies during a payment.
#[derive(Debug, Clone, Copy)]
enum CrashAt {
    /// The intent is written; the terminal was never asked.
    BeforeTheTerminal,
    /// The terminal approved; the kiosk died before the order's commit.
    AfterApproval,
    /// The order committed; the kiosk died before printing.
    AfterCommit,
    /// The visitor is presenting their card when the power goes; the terminal still waits.
    DuringThePayment,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_that_dies_at_any_step_of_a_payment_settles_it_at_start_up() {
    let hub = TestHub::start(50).await;
    let cases = [
        // (crash, orders after recovery, cards charged)
        (CrashAt::BeforeTheTerminal, 0, 0),
        (CrashAt::AfterApproval, 1, 1),
        (CrashAt::AfterCommit, 1, 1),
        (CrashAt::DuringThePayment, 0, 0),
    ];
    for (i, (crash, orders_after, charged)) in cases.into_iter().enumerate() {
        let clock = manual_clock();
        let dev = TestDevice::on_disk(&hub, &format!("kiosk-{i}"));
        let bank = dev.dir.path().join("terminal-bank.json");
        let reference = {
            let (kiosk, signer) = kiosk(&dev, clock.clone()).await;
            let draft = basket(&kiosk, &buyer(&hub));
            let terminal = Arc::new(SimulatedTerminal::with_bank(bank.clone()));
            let sales = till(&kiosk, clock.clone(), terminal.clone(), signer);
            let reference = format!("PAY-crash-{i}");
            let now_ms = clock.now().timestamp_millis();
            let d = draft.clone();
            let r = reference.clone();
            kiosk
                .store
                .write(move |tx| {
                    orders::start_intent(tx, &r, &d, now_ms).map_err(|e| {
                        portico::replica::ReplicaError::Corrupt {
                            table: "payment_intents",
                            detail: e.to_string(),
                        }
                    })
                })
                .unwrap();
            let req = PaymentRequest {
                reference: reference.clone(),
                amount: draft.quote.gross,
                currency: "USD".into(),
            };
            match crash {
                CrashAt::BeforeTheTerminal => {}
                CrashAt::AfterApproval => {
                    terminal.script([SimStep::ApproveAndLoseReply]);
                    assert!(terminal.start(&req).is_err());
                }
                CrashAt::AfterCommit => {
                    // The whole payment, as the till makes it, then the crash.
                    let _ = std::fs::remove_file(&bank);
                    let fresh = Arc::new(SimulatedTerminal::with_bank(bank.clone()));
                    let sales = till(&kiosk, clock.clone(), fresh, sales.signer.clone());
                    let o = tokio::task::block_in_place(|| sales.pay(&draft, false))
                        .unwrap()
                        .unwrap();
                    assert_eq!(o.tickets.len(), 3);
                    // The hand-written intent above never reached a terminal.
                }
                CrashAt::DuringThePayment => {
                    terminal.script([SimStep::HangUntilCancelled]);
                    let t = terminal.clone();
                    let req = req.clone();
                    let hang = std::thread::spawn(move || t.start(&req));
                    while terminal.ledger(&reference).is_none() {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    // The kiosk is gone; the terminal (another device) lives on, and a new
                    // kiosk process will ask it. This thread stands in for the terminal.
                    std::mem::forget(hang);
                    let sales = till(
                        &kiosk,
                        clock.clone(),
                        terminal.clone(),
                        sales.signer.clone(),
                    );
                    let r = tokio::task::block_in_place(|| sales.recover(false)).unwrap();
                    assert_eq!((r.forgotten, r.completed.len()), (1, 0), "{crash:?}: {r:?}");
                }
            }
            drop(sales);
            reference
        };
        // A new kiosk process: the same database and the same terminal's bank.
        let (kiosk, signer) = kiosk(&dev, clock.clone()).await;
        let terminal = Arc::new(SimulatedTerminal::with_bank(bank.clone()));
        let sales = till(&kiosk, clock.clone(), terminal.clone(), signer);
        let recovered = tokio::task::block_in_place(|| sales.recover(false)).unwrap();
        let again = tokio::task::block_in_place(|| sales.recover(false)).unwrap();
        assert_eq!(again, Default::default(), "{crash:?}: settled once");
        let c = counts(&kiosk);
        assert_eq!(c.orders, orders_after, "{crash:?}: {recovered:?}");
        assert_eq!(c.payments, c.orders, "{crash:?}: an order per payment");
        assert_eq!(c.intents_started, 0, "{crash:?}: nothing left unsettled");
        assert_eq!(c.held_seats, 0, "{crash:?}");
        assert_eq!(
            terminal.charged().len(),
            charged,
            "{crash:?}: charged once at most"
        );
        if matches!(crash, CrashAt::AfterApproval) {
            assert_eq!(recovered.completed.len(), 1);
            let conn = kiosk.engine.database();
            let paid = orders::order_of_payment(&conn.lock().unwrap(), &reference).unwrap();
            assert!(paid.is_some(), "the approved payment has its order");
        }
    }
}

/// `portico run` on a kiosk: the device registers its key, settles the payment its last run
/// left approved but unsaved, and leases seats of the slots about to open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_kiosk_registers_its_key_settles_the_last_runs_payment_and_leases_seats() {
    let hub = TestHub::start(50).await;
    let tomorrow = chrono::Local::now().date_naive() + chrono::Duration::days(1);
    hub.store
        .write(|tx, seq| portico::hub::catalog::publish(tx, seq, tomorrow, 1, 0))
        .unwrap();
    let dev = TestDevice::new(&hub, "kiosk-9", &hub.ca, "", "");
    let text = std::fs::read_to_string(&dev.config_path)
        .unwrap()
        .replace("roles = [\"gate\"]", "roles = [\"kiosk\"]")
        .replace(
            "[gate]\nname = \"Test gate\"",
            "[kiosk]\norder_prefix = \"K9\"\n[kiosk.leases]\nlead = \"36h\"",
        );
    std::fs::write(&dev.config_path, text).unwrap();
    let clock = manual_clock();
    let eight = tomorrow.and_hms_opt(8, 0, 0).unwrap();
    clock.set(
        chrono::TimeZone::from_local_datetime(&chrono::Local, &eight)
            .earliest()
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    // The last run: a payment approved at the terminal, its order never saved.
    let reference = {
        let (kiosk, _) = kiosk(&dev, clock.clone()).await;
        let draft = basket(&kiosk, &buyer(&hub));
        let d = draft.clone();
        kiosk
            .store
            .write(move |tx| {
                orders::start_intent(tx, "PAY-last-run", &d, 0).map_err(|e| {
                    portico::replica::ReplicaError::Corrupt {
                        table: "payment_intents",
                        detail: e.to_string(),
                    }
                })
            })
            .unwrap();
        let sim = SimulatedTerminal::with_bank(kiosk.config.data_dir.join("terminal-bank.json"));
        sim.script([SimStep::ApproveAndLoseReply]);
        let req = PaymentRequest {
            reference: "PAY-last-run".into(),
            amount: draft.quote.gross,
            currency: "USD".into(),
        };
        assert!(sim.start(&req).is_err());
        "PAY-last-run".to_owned()
    };
    let device = dev.open(clock.clone());
    device.engine.pull_all(None).await.unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let runtime = portico::kiosk::runtime::start(&device.engine, clock.clone(), rx, None)
        .await
        .expect("a kiosk");
    assert!(
        runtime.sales.is_some(),
        "the key is registered: the kiosk can sell"
    );
    let conn = device.engine.database();
    assert!(
        orders::order_of_payment(&conn.lock().unwrap(), &reference)
            .unwrap()
            .is_some(),
        "the approved payment got its order"
    );
    // The lease client's first check runs at once.
    let mut leased = 0;
    for _ in 0..100 {
        leased = portico::kiosk::leases::leases(&conn.lock().unwrap())
            .unwrap()
            .iter()
            .map(|l| l.seats)
            .sum::<u32>();
        if leased > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(leased > 0, "seats leased for the slots ahead");
    runtime.stop();
}

/// The terminal approves and the link fails before its answer: the payment's fate is unknown,
/// so the kiosk starts no other payment (a second charge for the same tickets) until the
/// terminal answers; then the first payment gets its order and the next goes ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_payment_starts_while_an_earlier_ones_fate_is_unknown() {
    let Counter {
        hub: _hub,
        clock: _clock,
        dev: _dev,
        kiosk,
        draft,
        terminal,
        sales,
    } = counter().await;
    terminal.script([SimStep::ApproveAndLoseLink]);
    let first = tokio::task::block_in_place(|| sales.pay(&draft, false)).unwrap();
    assert_eq!(first, Err(NotPaid::TerminalFault));
    // The visitor tries again while the terminal is still out of reach: no new payment.
    let again = tokio::task::block_in_place(|| sales.pay(&draft, false)).unwrap();
    assert_eq!(again, Err(NotPaid::TerminalFault));
    let c = counts(&kiosk);
    assert_eq!(
        (c.orders, c.intents_started, c.intents_failed),
        (0, 1, 0),
        "one payment under way, none started after it"
    );
    assert_eq!(terminal.charged().len(), 1);
    // The terminal answers again: the first payment is found approved and gets its order,
    // then the next payment goes through as a new one.
    terminal.set_reachable(true);
    let next = tokio::task::block_in_place(|| sales.pay(&draft, false))
        .unwrap()
        .unwrap();
    assert_eq!(next.order_no, "K1-00002");
    let c = counts(&kiosk);
    assert_eq!((c.orders, c.payments, c.intents_started), (2, 2, 0));
    assert_eq!(terminal.charged().len() as u64, c.orders);
}

/// A venue that gives back a payment approved before a crash (`on_approved_after_crash =
/// "void"`): the terminal gives it back, once. A terminal that will not give it back leaves the
/// visitor paid, so the order is made after all; when no order can be made of it (its draft
/// is from another build), it is listed for staff to refund by hand and the kiosk sells on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_payment_the_kiosk_gives_back_is_given_back_once_or_kept_as_its_order() {
    let Counter {
        hub: _hub,
        clock,
        dev: _dev,
        kiosk,
        draft,
        terminal,
        mut sales,
    } = counter().await;
    sales.on_approved_after_crash = OnApprovedAfterCrash::Void;

    // Approved, the answer lost: given back, no order, no seats held.
    terminal.script([SimStep::ApproveAndLoseReply]);
    let got = tokio::task::block_in_place(|| sales.pay(&draft, false)).unwrap();
    assert_eq!(got, Err(NotPaid::TerminalFault));
    let c = counts(&kiosk);
    assert_eq!(
        (
            c.orders,
            c.intents_voided,
            c.to_refund_by_hand,
            c.held_seats
        ),
        (0, 1, 0, 0)
    );
    assert!(terminal.charged().is_empty(), "given back");

    // The terminal will not give it back: the visitor has paid, and gets the order.
    terminal.set_refuse_voids(true);
    terminal.script([SimStep::ApproveAndLoseReply]);
    let order = tokio::task::block_in_place(|| sales.pay(&draft, false))
        .unwrap()
        .unwrap();
    assert_eq!(order.tickets.len(), 3);
    let c = counts(&kiosk);
    assert_eq!((c.orders, c.payments, c.intents_voided), (1, 1, 1));
    assert_eq!(terminal.charged().len(), 1);

    // … and no order can be made of it (a draft this build cannot read): refund by hand.
    let reference = "PAY-from-another-build";
    let now_ms = clock.now().timestamp_millis();
    let d = draft.clone();
    kiosk
        .store
        .write(move |tx| {
            orders::start_intent(tx, reference, &d, now_ms).unwrap();
            tx.execute(
                "UPDATE payment_intents SET draft = '{\"version\": 999}' WHERE reference = ?1",
                [reference],
            )?;
            Ok(())
        })
        .unwrap();
    terminal.script([SimStep::ApproveAndLoseReply]);
    let req = PaymentRequest {
        reference: reference.into(),
        amount: draft.quote.gross,
        currency: "USD".into(),
    };
    assert!(terminal.start(&req).is_err());
    let r = tokio::task::block_in_place(|| sales.recover(false)).unwrap();
    assert_eq!((r.refund_by_hand, r.voided, r.completed.len()), (1, 0, 0));
    let c = counts(&kiosk);
    assert_eq!(
        (c.intents_started, c.to_refund_by_hand, c.held_seats),
        (0, 1, 0)
    );
    let listed = orders::to_refund_by_hand(&kiosk.store.reader().unwrap()).unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|p| (p.reference.as_str(), p.amount))
            .collect::<Vec<_>>(),
        [(reference, draft.quote.gross)]
    );
    let status = crate::common::kiosk::kiosk_status(&kiosk);
    assert_eq!(status.kiosk.as_ref().unwrap().to_refund_by_hand, 1);
    let text = portico::status::render(&status);
    assert!(
        text.contains("REFUNDS   1 payment(s) the terminal would not give back: refund by hand"),
        "{text}"
    );
    // The kiosk sells on.
    terminal.set_refuse_voids(false);
    let next = tokio::task::block_in_place(|| sales.pay(&draft, false))
        .unwrap()
        .unwrap();
    assert_eq!(counts(&kiosk).orders, 2, "{next:?}");
    // Staff refund it by hand and record it, once.
    let refunded = |r: &'static str| {
        kiosk
            .store
            .write(move |tx| orders::refunded_by_hand(tx, r))
            .unwrap()
    };
    assert!(refunded(reference));
    assert!(!refunded(reference));
    assert_eq!(counts(&kiosk).to_refund_by_hand, 0);
}
