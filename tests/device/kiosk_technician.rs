//! The technician screen behind a real kiosk shell (device database, PIN file, sync engine,
//! loopback printer, simulated terminal): the PIN with its lock-out kept across a restart, the
//! pages' rows from the database, the printer's test page and an order printed again, service
//! mode kept across a restart, and the out-of-order screen when the card terminal stops
//! answering.

use std::time::{Duration, Instant};

use crate::common::kiosk::{Kiosk, TECHNICIAN_PIN, kiosk, slot};
use portico::kiosk::checkout::{Event, Purpose, Screen, Tap, VisitorForm};
use portico::kiosk::out_of_order::OutOfOrder;
use portico::screens::technician_view::{TechAction, TechPanel};
use portico::technician::{CORNER_HOLD, Page, TechEvent};

impl Kiosk {
    fn tech(&mut self, e: TechEvent) -> Option<TechPanel> {
        self.shell.handle(Event::Technician(e), Instant::now());
        self.panel()
    }

    fn panel(&self) -> Option<TechPanel> {
        self.shell.model(Instant::now()).technician
    }

    /// Types `pin` on the pad and waits for the worker's answer.
    fn enter_pin(&mut self, pin: &str) -> Option<TechPanel> {
        for d in pin.bytes() {
            self.tech(TechEvent::Digit(d - b'0'));
        }
        self.tech(TechEvent::Submit);
        assert!(
            self.shell.pump(Duration::from_secs(30)),
            "the PIN's answer arrives"
        );
        self.panel()
    }

    fn tech_act(&mut self, a: TechAction) -> String {
        self.shell.handle(Event::TechAction(a), Instant::now());
        match self.panel() {
            Some(TechPanel::Page { notice, .. }) => notice,
            other => panic!("no page: {other:?}"),
        }
    }

    /// Waits for the technician's print job to end.
    fn wait_printed(&mut self) {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            self.shell.pump(Duration::from_millis(100));
            if let Some(TechPanel::Page { notice, .. }) = self.panel()
                && !notice.starts_with("Printing")
            {
                assert_eq!(notice, "Printed.");
                return;
            }
        }
        panic!("the print job did not end");
    }

    fn row(&self, label: &str) -> (String, bool) {
        let Some(TechPanel::Page { rows, .. }) = self.panel() else {
            panic!("no page");
        };
        rows.iter()
            .find(|r| r.label == label)
            .map(|r| (r.value.clone(), r.warn))
            .unwrap_or_else(|| panic!("no row {label:?} in {rows:?}"))
    }

    fn visitor(&mut self, t: Tap) -> Screen {
        self.shell.handle(Event::Tap(t), Instant::now());
        self.shell.flow().screen().clone()
    }

    fn tick_seconds(&mut self, secs: i64) {
        self.clock.advance(chrono::TimeDelta::seconds(secs));
        self.shell.handle(Event::Tick, Instant::now());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_pins_lock_the_pad_even_across_a_restart_and_the_right_one_opens_the_pages() {
    let mut k = kiosk().await;
    assert_eq!(k.panel(), None, "hidden");
    k.tech(TechEvent::CornerHeld(CORNER_HOLD));
    assert_eq!(
        k.panel(),
        Some(TechPanel::Pin {
            typed: 0,
            wrong: false
        })
    );
    for i in 0..4 {
        assert_eq!(
            k.enter_pin("111000"),
            Some(TechPanel::Pin {
                typed: 0,
                wrong: true
            }),
            "wrong PIN {i}"
        );
    }
    assert_eq!(k.enter_pin("111000"), Some(TechPanel::Locked { secs: 30 }));
    // A restart (or a pulled plug) does not open the pad again.
    k.restart();
    k.tech(TechEvent::TechnicianCard);
    assert_eq!(
        k.enter_pin(TECHNICIAN_PIN),
        Some(TechPanel::Locked { secs: 30 }),
        "even the right PIN waits"
    );
    k.tick_seconds(20);
    assert_eq!(k.panel(), Some(TechPanel::Locked { secs: 10 }));
    k.tick_seconds(10);
    assert!(matches!(k.panel(), Some(TechPanel::Pin { .. })));
    let Some(TechPanel::Page { page, .. }) = k.enter_pin(TECHNICIAN_PIN) else {
        panic!("the pages open");
    };
    assert_eq!(page, Page::Status);
    // The status page reads the device database and the sync engine.
    assert_eq!(k.row("Hub"), ("answering".into(), false));
    assert_eq!(k.row("Uploads refused by the hub"), ("0".into(), false));
    let (replica, _) = k.row("Replica");
    assert!(replica.starts_with("100 constituents"), "{replica}");
    // The scan test: the frame shows in hex beside its meaning, and starts no check-in.
    k.tech(TechEvent::Page(Page::Inputs));
    assert_eq!(
        k.row("lobby-scanner"),
        ("waiting for a scan…".into(), false)
    );
    let card = portico::input::credential::Credential {
        reader: "lobby-scanner".into(),
        raw: b"M-1001".to_vec(),
        kind: portico::input::credential::CredentialKind::Membership {
            membership_id: "M-1001".into(),
        },
    };
    k.shell.handle(
        Event::InputSeen(portico::kiosk::shell::input_seen(&card)),
        Instant::now(),
    );
    k.shell.handle(
        Event::Scanned {
            membership_id: "M-1001".into(),
        },
        Instant::now(),
    );
    assert_eq!(
        k.row("lobby-scanner"),
        ("4d 2d 31 30 30 31 → membership M-1001".into(), false)
    );
    assert_eq!(k.shell.flow().screen(), &Screen::Welcome);
    // Left alone five minutes, the session ends and the pages need the PIN again.
    k.tick_seconds(299);
    assert!(k.panel().is_some());
    k.tick_seconds(2);
    assert_eq!(k.panel(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printer_page_prints_a_test_page_and_the_last_order_again() {
    let mut k = kiosk().await;
    // A visitor buys one ticket.
    k.visitor(Tap::Start(Purpose::Tickets));
    k.visitor(Tap::Slot {
        product: "TIMED".into(),
        slot: slot(),
    });
    k.visitor(Tap::Quantity {
        category: "adult".into(),
        delta: 1,
    });
    k.visitor(Tap::Next);
    k.visitor(Tap::Next);
    k.visitor(Tap::IsMember(false));
    k.visitor(Tap::Details(VisitorForm {
        first: "Ana".into(),
        last: "Ruiz".into(),
        email: "ana.ruiz@example.org".into(),
        phone: String::new(),
        receipt_by_email: false,
    }));
    k.visitor(Tap::Pay);
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until && k.shell.flow().screen() != &Screen::Done {
        k.shell.pump(Duration::from_millis(100));
    }
    assert_eq!(k.shell.flow().screen(), &Screen::Done);
    let order_no = k.shell.order().unwrap().order_no.clone();
    let printed_before = k.printer.printed().len();
    k.visitor(Tap::Finish);

    k.tech(TechEvent::CornerHeld(CORNER_HOLD));
    k.enter_pin(TECHNICIAN_PIN);
    k.tech(TechEvent::Page(Page::Printer));
    assert_eq!(k.row("Printer"), ("ready".into(), false));
    assert_eq!(k.row("Last order"), (order_no.clone(), false));
    assert_eq!(k.tech_act(TechAction::TestPage), "Printing a test page…");
    k.wait_printed();
    assert_eq!(
        k.tech_act(TechAction::ReprintLastOrder),
        format!("Printing order {order_no} again…")
    );
    k.wait_printed();
    // The printer reads back each piece it cut: the ticket and the receipt, then the test
    // page, then the ticket and the receipt again.
    let printed = k.printer.printed();
    assert_eq!(printed_before, 2);
    let text = |d: &portico::kiosk::escpos::PrintDoc| format!("{d:?}");
    assert_eq!(printed.len(), 5, "a test page and the order again");
    assert!(text(&printed[2]).contains("Printer test page"));
    assert_eq!(
        printed[3..].iter().map(text).collect::<Vec<_>>(),
        printed[..2].iter().map(text).collect::<Vec<_>>(),
        "the same ticket and receipt as the first time"
    );
    // Out of paper: the page says so, and so does the visitor screen.
    k.printer.paper_for(0);
    k.shell.check_printer();
    // The page reads its facts again every two seconds.
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && k.row("Printer").0 == "ready" {
        k.shell.pump(Duration::from_millis(100));
        k.shell.handle(Event::Tick, Instant::now());
    }
    assert_eq!(
        k.row("Printer"),
        ("the printer is out of paper".into(), true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_mode_and_a_silent_card_terminal_put_the_kiosk_out_of_order() {
    let mut k = kiosk().await;
    assert_eq!(k.shell.out_of_order(), None);

    // The terminal stops answering: sales stop with code T1, members still check in.
    k.terminal.set_reachable(false);
    k.shell.check_terminal();
    assert!(k.shell.pump(Duration::from_secs(10)));
    assert_eq!(
        k.shell.out_of_order(),
        Some(OutOfOrder::TerminalUnreachable)
    );
    assert_eq!(
        k.shell
            .model(Instant::now())
            .out_of_order
            .map(OutOfOrder::code),
        Some("T1")
    );
    assert_eq!(k.visitor(Tap::Start(Purpose::Tickets)), Screen::Welcome);
    assert!(matches!(
        k.visitor(Tap::Start(Purpose::CheckIn)),
        Screen::CheckInFind { .. }
    ));
    k.visitor(Tap::Cancel);
    k.terminal.set_reachable(true);
    k.shell.check_terminal();
    assert!(k.shell.pump(Duration::from_secs(10)));
    assert_eq!(k.shell.out_of_order(), None);

    // A technician takes the kiosk out of service: nothing starts, even after a restart.
    k.tech(TechEvent::CornerHeld(CORNER_HOLD));
    k.enter_pin(TECHNICIAN_PIN);
    k.tech(TechEvent::Page(Page::Service));
    assert!(
        k.tech_act(TechAction::ServiceOff)
            .starts_with("Out of service")
    );
    assert_eq!(k.shell.out_of_order(), Some(OutOfOrder::ServiceMode));
    k.tech(TechEvent::Close);
    k.restart();
    assert_eq!(k.shell.out_of_order(), Some(OutOfOrder::ServiceMode));
    for purpose in [Purpose::Tickets, Purpose::CheckIn, Purpose::Volunteer] {
        assert_eq!(
            k.visitor(Tap::Start(purpose)),
            Screen::Welcome,
            "{purpose:?}"
        );
    }
    k.tech(TechEvent::TechnicianCard);
    k.enter_pin(TECHNICIAN_PIN);
    k.tech(TechEvent::Page(Page::Service));
    assert_eq!(k.tech_act(TechAction::ServiceOn), "Back in service.");
    assert_eq!(k.shell.out_of_order(), None);
    assert_eq!(k.visitor(Tap::Start(Purpose::Tickets)), Screen::Slots);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_silent_longer_than_the_limit_puts_the_kiosk_out_of_order_even_after_a_restart() {
    let mut k = kiosk().await;
    k.hub_goes_away().await;
    assert!(k.device.engine.pull_all(None).await.is_err());
    assert!(!k.device.engine.link_status().online);
    // Five hours after its last pull the kiosk still serves from what it knows...
    k.tick_seconds(5 * 3600);
    assert_eq!(k.shell.out_of_order(), None);
    // ...and after the six hours of kiosk.offline_limit it is out of order, everything stopped.
    k.tick_seconds(3600 + 1);
    assert_eq!(k.shell.out_of_order(), Some(OutOfOrder::HubUnreachable));
    assert_eq!(k.visitor(Tap::Start(Purpose::CheckIn)), Screen::Welcome);
    // A restart (the device opened again: its link status starts blank) does not forget how
    // long the hub has been silent: the last pull is on disk.
    k.device = k.dev.open(k.clock.clone());
    k.restart();
    assert_eq!(k.device.engine.link_status().last_pull_ok, None);
    k.tick_seconds(1);
    assert_eq!(k.shell.out_of_order(), Some(OutOfOrder::HubUnreachable));
}

/// A check-in whose guest passes did not all print shows on the printer page, and "Print the
/// last guest passes again" prints that check-in's passes (the same signed passes) and records
/// them printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printer_page_prints_the_last_guest_passes_again() {
    let mut k = kiosk().await;
    let m = k.checked_in_with_a_pass_owed("M7000005").await;
    k.visitor(Tap::Finish);
    k.printer.refill();

    k.tech(TechEvent::CornerHeld(CORNER_HOLD));
    k.enter_pin(TECHNICIAN_PIN);
    k.tech(TechEvent::Page(Page::Printer));
    let owed = format!("{}: 1 printed of 2", m.membership_id);
    assert_eq!(k.row("Last guest passes"), (owed, true));
    assert_eq!(
        k.tech_act(TechAction::ReprintLastPasses),
        format!("Printing the guest passes of {} again…", m.membership_id)
    );
    k.wait_printed();
    let printed = k.printer.printed();
    assert_eq!(printed.len(), 3, "the pass that printed, then both again");
    let text = |d: &portico::kiosk::escpos::PrintDoc| format!("{d:?}");
    assert_eq!(text(&printed[1]), text(&printed[0]), "the same signed pass");
    let all = format!("{}: 2 printed of 2", m.membership_id);
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && k.row("Last guest passes").0 != all {
        k.shell.pump(Duration::from_millis(100));
        k.shell.handle(Event::Tick, Instant::now());
    }
    assert_eq!(k.row("Last guest passes"), (all, false));
}
