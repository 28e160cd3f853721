//! A member's check-in at the kiosk, with every real part: the replica a hub filled, the
//! kiosk's signing key registered with that hub, the loopback ESC/POS printer, and a gate that
//! admits the guest passes printed. Found by a scanned card and by last name with an email; an
//! expired membership offered its renewal; the check-in uploaded like a gate's scan.

use std::time::{Duration, Instant};

use chrono::Datelike;

use crate::common::kiosk::{Kiosk, kiosk, tomorrow};
use portico::kiosk::checkin::{CHECK_IN_REASON, Standing};
use portico::kiosk::checkout::{Event, Printed, Purpose, Screen, Tap};
use portico::kiosk::keyboard::{Field, Key};

impl Kiosk {
    fn send(&mut self, e: Event) -> Screen {
        self.shell.handle(e, Instant::now());
        self.shell.flow().screen().clone()
    }

    fn type_in(&mut self, field: Field, text: &str) {
        self.send(Event::Tap(Tap::Focus(field)));
        for c in text.chars() {
            self.send(Event::Tap(Tap::Key(Key::Text(c.to_string()))));
        }
    }

    /// Lets the printing worker finish.
    fn settle_check_in(&mut self) -> Screen {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until && self.shell.flow().screen() == &Screen::CheckInSaving {
            self.shell.pump(Duration::from_millis(100));
        }
        self.shell.flow().screen().clone()
    }

    fn scalar<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        let db = self.device.engine.database();
        let conn = db.lock().unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_checks_in_with_two_guests_and_a_gate_admits_each_pass_once() {
    let mut k = kiosk().await;
    let (m, _) = k
        .member(
            "M7000001",
            "Family",
            2,
            tomorrow() + chrono::Duration::days(90),
        )
        .await;
    // The card scanned on the welcome screen.
    let screen = k.send(Event::Scanned {
        membership_id: m.membership_id.clone(),
    });
    assert_eq!(screen, Screen::CheckInCard { problem: None });
    let shown = k
        .shell
        .model(Instant::now())
        .card
        .expect("the membership shown");
    assert_eq!(
        (shown.standing, shown.guest_allowance, shown.guests),
        (Standing::Active, 2, 0)
    );
    assert!(
        shown.expiry.ends_with(&m.expiry.year().to_string()),
        "{}",
        shown.expiry
    );
    for _ in 0..3 {
        k.send(Event::Tap(Tap::Guests(1)));
    }
    assert_eq!(
        k.shell.flow().session().guests,
        2,
        "no more than the level allows"
    );
    k.send(Event::Tap(Tap::CheckIn));
    assert_eq!(
        k.settle_check_in(),
        Screen::CheckedIn {
            printed: Printed::All
        }
    );

    // One admitted scan of the membership, for three people, with its upload; two passes,
    // printed.
    let (reason, party, key): (String, u32, String) = {
        let db = k.device.engine.database();
        let conn = db.lock().unwrap();
        conn.query_row(
            "SELECT reason_code, party_admitted, use_key FROM scans",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    assert_eq!(
        (reason.as_str(), party, key),
        (
            CHECK_IN_REASON,
            3,
            format!("membership:{}", m.membership_id)
        )
    );
    assert_eq!(
        k.scalar::<i64>("SELECT count(*) FROM guest_passes WHERE printed_at_ms IS NOT NULL"),
        2
    );
    let pieces = k.printer.printed();
    assert_eq!(pieces.len(), 2, "one pass per guest");
    let codes: Vec<String> = {
        let db = k.device.engine.database();
        let conn = db.lock().unwrap();
        let mut st = conn
            .prepare("SELECT code FROM guest_passes ORDER BY ticket_id")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for (piece, code) in pieces.iter().zip(&codes) {
        assert!(
            piece.0.iter().any(|b| matches!(
                b,
                portico::kiosk::escpos::Block::Qr { data, .. } if data == code
            )),
            "the pass's QR code carries its signed ticket"
        );
    }

    // A gate that learnt the kiosk's key admits each pass today, once.
    let gate_dev = crate::common::TestDevice::with_tail(
        &k.hub,
        "gate-1",
        &k.hub.ca,
        "",
        "",
        crate::gate_common::TAIL,
    );
    let clock = crate::common::manual_clock();
    let gate = gate_dev.open(clock.clone());
    gate.engine.pull_all(None).await.unwrap();
    let parser =
        portico::input::credential::CredentialParser::new(gate.config.inputs.credentials.clone());
    let (mut station, _) = crate::gate_common::station(&gate, clock.clone());
    let at = |h, min| {
        let local = tomorrow().and_hms_opt(h, min, 0).unwrap();
        portico::gate::Now {
            utc: chrono::TimeZone::from_utc_datetime(&chrono::Utc, &local),
            local,
        }
    };
    let scan = |station: &mut portico::gate::station::Station, code: &str, at| {
        let c = parser.parse(
            "scanner",
            code.as_bytes(),
            portico::input::credential::FormatSet::barcode_default(),
        );
        tokio::task::block_in_place(|| station.scan(&c, None, 1, at)).unwrap()
    };
    for (i, code) in codes.iter().enumerate() {
        let d = scan(&mut station, code, at(10, i as u32));
        assert_eq!(d.outcome, portico::gate::Outcome::Admit, "pass {i}: {d:?}");
    }
    let again = scan(&mut station, &codes[0], at(11, 0));
    assert_eq!(again.outcome, portico::gate::Outcome::Deny, "{again:?}");

    // The check-in reaches the hub like a gate's scan.
    let pushed = k.device.engine.push_once().await.unwrap();
    assert!(pushed.delivered >= 1, "{pushed:?}");
    assert_eq!(
        k.scalar::<i64>("SELECT count(*) FROM outbox WHERE kind = 'scan' AND state = 'delivered'"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_a_card_is_found_by_last_name_and_email() {
    let mut k = kiosk().await;
    let (m, who) = k
        .member(
            "M7000002",
            "Dual",
            1,
            tomorrow() + chrono::Duration::days(30),
        )
        .await;
    k.send(Event::Tap(Tap::Start(Purpose::CheckIn)));
    assert_eq!(
        k.send(Event::Tap(Tap::ByName)),
        Screen::CheckInName { problem: None }
    );
    k.type_in(Field::Last, &who.name.last.to_uppercase());
    let email = who
        .emails
        .iter()
        .find(|e| e.meta.active && e.meta.primary)
        .unwrap()
        .address
        .clone();
    k.type_in(Field::Email, &email);
    assert_eq!(
        k.send(Event::Tap(Tap::Next)),
        Screen::CheckInCard { problem: None }
    );
    assert_eq!(
        k.shell
            .flow()
            .session()
            .card
            .as_ref()
            .map(|c| c.membership_id.as_str()),
        Some(m.membership_id.as_str())
    );
    // The screen shows the membership, nothing of the person.
    let model = k.shell.model(Instant::now());
    let shown = format!("{:?}", model.card);
    assert!(
        !shown.contains(&who.name.first) && !shown.contains(&email),
        "{shown}"
    );

    // Checked in alone: nothing to print.
    k.send(Event::Tap(Tap::CheckIn));
    assert_eq!(
        k.settle_check_in(),
        Screen::CheckedIn {
            printed: Printed::All
        }
    );
    assert!(k.printer.printed().is_empty());
    assert_eq!(k.scalar::<i64>("SELECT party_admitted FROM scans"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_membership_is_offered_its_renewal_and_an_unknown_card_is_told_so() {
    let mut k = kiosk().await;
    let (m, _) = k
        .member(
            "M7000003",
            "Family",
            2,
            tomorrow() - chrono::Duration::days(10),
        )
        .await;
    let unknown = k.send(Event::Scanned {
        membership_id: "M7999999".into(),
    });
    assert_eq!(
        unknown,
        Screen::CheckInFind {
            problem: Some(portico::kiosk::checkout::CheckInProblem::NotFound)
        }
    );
    k.send(Event::Scanned {
        membership_id: m.membership_id.clone(),
    });
    let card = k.shell.model(Instant::now()).card.unwrap();
    assert_eq!((card.standing, card.renewable), (Standing::Expired, true));
    // No check-in on an expired membership.
    k.send(Event::Tap(Tap::CheckIn));
    assert_eq!(k.scalar::<i64>("SELECT count(*) FROM scans"), 0);
    assert_eq!(
        k.send(Event::Tap(Tap::Renew)),
        Screen::Details { problem: None }
    );
    let level = k.shell.flow().session().level.clone().unwrap();
    let product = k.shell.catalog().products.get(&level).unwrap();
    assert_eq!(
        product.membership.as_ref().map(|o| o.level.as_str()),
        Some("Family"),
        "the same level, from the kiosk's catalog"
    );
}

/// The request of the Find My Membership screen shown.
fn request_id(k: &Kiosk) -> String {
    use portico::find_membership::kiosk::Screen as F;
    match k.shell.flow().screen() {
        Screen::FindMembership(
            F::ChooseTarget { request_id, .. } | F::EnterCode { request_id, .. },
        ) => request_id.clone(),
        other => panic!("no request on {other:?}"),
    }
}

impl Kiosk {
    /// Lets a hub call finish.
    fn settle_hub(&mut self) -> Screen {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let waiting = matches!(
                self.shell.flow().screen(),
                Screen::FindMembership(
                    portico::find_membership::kiosk::Screen::Locating { .. }
                        | portico::find_membership::kiosk::Screen::Sending { .. }
                        | portico::find_membership::kiosk::Screen::Verifying { .. }
                )
            );
            if !waiting || Instant::now() > until {
                return self.shell.flow().screen().clone();
            }
            self.shell.pump(Duration::from_millis(100));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_verified_by_a_code_goes_on_to_check_in_and_the_hub_learns_it_once() {
    use portico::find_membership::kiosk::Screen as F;
    let mut k = kiosk().await;
    let (m, who) = k
        .member(
            "M7000004",
            "Family",
            2,
            tomorrow() + chrono::Duration::days(90),
        )
        .await;
    k.send(Event::Tap(Tap::Start(Purpose::CheckIn)));
    k.send(Event::Tap(Tap::VerifyByCode));
    k.type_in(Field::MemberId, &m.membership_id);
    k.send(Event::Tap(Tap::Next));
    let Screen::FindMembership(F::ChooseTarget { targets, .. }) = k.settle_hub() else {
        panic!("no targets: {:?}", k.shell.flow().screen());
    };
    // Only masked targets reach the screen.
    let email = &who.emails.iter().find(|e| e.meta.primary).unwrap().address;
    assert!(
        targets
            .iter()
            .all(|t| t.masked.contains('*') && &t.masked != email)
    );
    let request = request_id(&k);
    k.send(Event::Tap(Tap::Target(targets[0].index)));
    assert!(matches!(
        k.settle_hub(),
        Screen::FindMembership(F::EnterCode { .. })
    ));
    // A wrong code first: the tries left are told.
    let code = crate::common::kiosk::sent_code(&k.hub, &request);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    k.type_in(Field::Code, &wrong);
    k.send(Event::Tap(Tap::Next));
    assert!(matches!(
        k.settle_hub(),
        Screen::FindMembership(F::EnterCode {
            problem: Some(portico::find_membership::kiosk::CodeProblem::Wrong { attempts_left: 4 }),
            ..
        })
    ));
    k.type_in(Field::Code, &code);
    k.send(Event::Tap(Tap::Next));
    assert_eq!(k.settle_hub(), Screen::CheckInCard { problem: None });
    assert_eq!(
        k.shell
            .flow()
            .session()
            .card
            .as_ref()
            .map(|c| c.membership_id.clone()),
        Some(m.membership_id.clone())
    );
    // The verification is uploaded once and accepted by the hub.
    assert_eq!(
        k.scalar::<i64>("SELECT count(*) FROM outbox WHERE kind = 'reassociation'"),
        1
    );
    for _ in 0..2 {
        k.device.engine.push_once().await.unwrap();
    }
    assert_eq!(
        k.scalar::<String>("SELECT state FROM outbox WHERE kind = 'reassociation'"),
        "delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_out_of_reach_sends_the_member_to_the_desk_and_try_again_repeats_the_call() {
    use portico::find_membership::kiosk::Screen as F;
    let mut k = kiosk().await;
    let (m, _) = k
        .member(
            "M7000005",
            "Family",
            2,
            tomorrow() + chrono::Duration::days(90),
        )
        .await;
    let addr = k.hub_goes_away().await;
    k.send(Event::Tap(Tap::Start(Purpose::CheckIn)));
    k.send(Event::Tap(Tap::VerifyByCode));
    k.type_in(Field::MemberId, &m.membership_id);
    k.send(Event::Tap(Tap::Next));
    assert!(matches!(
        k.settle_hub(),
        Screen::FindMembership(F::Offline { .. })
    ));
    // Nothing was written: no verification, no check-in.
    assert_eq!(
        k.scalar::<i64>("SELECT count(*) FROM outbox WHERE kind = 'reassociation'"),
        0
    );
    // The hub is back: "Try again" locates the membership.
    let _back = portico::hub::HubServer::start(addr, k.hub.store.clone(), k.hub_tls())
        .await
        .unwrap();
    k.send(Event::Tap(Tap::Retry));
    assert!(matches!(
        k.settle_hub(),
        Screen::FindMembership(F::ChooseTarget { .. })
    ));
}

/// The kiosk tells a member whose guest passes did not all print to collect them at the desk:
/// there `portico kiosk reprint-passes` prints the passes that did not come out — the same
/// signed passes, none made anew — and `--all` prints every pass of the check-in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_passes_the_paper_ran_out_on_are_printed_again_at_the_desk() {
    use portico::kiosk::catalog::Lang;
    use portico::kiosk::printer::{EscPosPrinter, PrinterAddress, TicketPrinter};
    use portico::kiosk::receipt::{Letterhead, Paper};
    use portico::kiosk::runtime::{PassPrinting, print_passes};

    let mut k = kiosk().await;
    let m = k.checked_in_with_a_pass_owed("M7000006").await;
    let codes: Vec<(String, bool)> = {
        let db = k.device.engine.database();
        let conn = db.lock().unwrap();
        let mut st = conn
            .prepare("SELECT code, printed_at_ms IS NOT NULL FROM guest_passes ORDER BY ticket_id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        codes
            .iter()
            .map(|(_, printed)| *printed)
            .collect::<Vec<_>>(),
        [true, false]
    );

    let head = Letterhead {
        venue: "Riverside Zoo".into(),
        ..Letterhead::default()
    };
    let printer: Box<dyn TicketPrinter> = Box::new(EscPosPrinter::new(
        PrinterAddress::Tcp(k.printer.addr.to_string()),
        Duration::from_secs(5),
    ));
    let to = PassPrinting {
        printer: std::sync::Arc::new(std::sync::Mutex::new(printer)),
        letterhead: &head,
        paper: Paper::Mm80,
        lang: Lang::En,
    };
    let store = k.device.store.clone();
    let reprint = |again: bool| {
        tokio::task::block_in_place(|| {
            print_passes(&store, &to, &m.membership_id, tomorrow(), again, 1)
        })
    };
    // Still no paper: nothing printed, and the pass stays owed.
    assert_eq!(reprint(false), Ok((0, 1)));
    k.printer.refill();
    assert_eq!(reprint(false), Ok((1, 1)));
    let pieces = k.printer.printed();
    assert_eq!(pieces.len(), 2);
    assert!(
        pieces[1].0.iter().any(|b| matches!(
            b,
            portico::kiosk::escpos::Block::Qr { data, .. } if *data == codes[1].0
        )),
        "the pass that did not come out, with its own signed code"
    );
    assert_eq!(
        k.scalar::<i64>("SELECT count(*) FROM guest_passes WHERE printed_at_ms IS NOT NULL"),
        2
    );
    assert_eq!(reprint(false), Ok((0, 0)), "nothing is owed any more");
    assert_eq!(reprint(true), Ok((2, 2)));
    assert_eq!(
        k.scalar::<i64>("SELECT count(*) FROM guest_passes"),
        2,
        "printing again signs no new pass"
    );
    let unknown =
        tokio::task::block_in_place(|| print_passes(&store, &to, "M7999999", tomorrow(), false, 1));
    assert!(
        unknown
            .as_ref()
            .is_err_and(|e| e.contains("no guest passes for M7999999")),
        "{unknown:?}"
    );
}
