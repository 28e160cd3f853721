//! The kiosk's shell driven by a visitor's taps, headless, with every real part: the replica a
//! hub filled, seat leases from that hub, the simulated card terminal and the loopback ESC/POS
//! printer. A purchase from the first tap to the printed receipt; a printer out of paper before
//! payment (no payment taken) and after it (the order stands, the visitor is sent to the desk);
//! and a visitor who walks away (every detail and every held seat gone).

use std::time::{Duration, Instant};

use crate::common::kiosk::{Kiosk, kiosk, slot};
use portico::kiosk::checkout::{Event, PrinterProblem, Purpose, Screen, Session, Tap, VisitorForm};
use portico::kiosk::orders;
use portico::kiosk::printer::{EscPosPrinter, PrinterAddress, TicketPrinter};
use portico::kiosk::receipt::{Letterhead, Paper};

impl Kiosk {
    fn tap(&mut self, t: Tap) -> &Screen {
        self.shell.handle(Event::Tap(t), Instant::now());
        self.shell.flow().screen()
    }

    /// Lets the payment and printing workers finish.
    fn settle(&mut self) -> &Screen {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until
            && matches!(
                self.shell.flow().screen(),
                Screen::Paying { .. } | Screen::Committing | Screen::Printing
            )
        {
            self.shell.pump(Duration::from_millis(100));
        }
        self.shell.flow().screen()
    }

    fn go_to_review(&mut self) {
        self.tap(Tap::Start(Purpose::Tickets));
        self.tap(Tap::Slot {
            product: "TIMED".into(),
            slot: slot(),
        });
        for category in ["adult", "adult", "child"] {
            self.tap(Tap::Quantity {
                category: category.into(),
                delta: 1,
            });
        }
        assert_eq!(self.shell.flow().session().held, 3);
        assert_eq!(self.tap(Tap::Next), &Screen::AddOns { problem: None });
        assert_eq!(self.tap(Tap::Next), &Screen::AskMember);
        self.tap(Tap::IsMember(false));
        let screen = self.tap(Tap::Details(ana(true)));
        assert_eq!(screen, &Screen::Review { problem: None });
    }

    /// Seats of the 10:00 entry time sold here (none without a lease).
    fn sold_in_slot(&self) -> u32 {
        let conn = self.device.engine.database();
        portico::kiosk::leases::lease(&conn.lock().unwrap(), &slot())
            .unwrap()
            .map_or(0, |l| l.sold)
    }

    /// Uploads what waits, and returns the hub's tickets of `product`.
    async fn hub_tickets(&self, product: &str) -> Vec<portico::protocol::TicketDto> {
        self.device.engine.push_once().await.unwrap();
        self.hub
            .store
            .all::<portico::protocol::TicketDto>(portico::protocol::Resource::Tickets)
            .unwrap()
            .into_iter()
            .filter(|t| t.product_id == product)
            .collect()
    }

    fn counts(&self) -> orders::OrderCounts {
        let conn = self.device.engine.database();
        orders::counts(&conn.lock().unwrap()).unwrap()
    }

    fn print_state(&self) -> String {
        let conn = self.device.engine.database();
        conn.lock()
            .unwrap()
            .query_row("SELECT print_state FROM orders", [], |r| r.get(0))
            .unwrap()
    }
}

/// Ana Ruiz's details, as she types them.
fn ana(receipt_by_email: bool) -> VisitorForm {
    VisitorForm {
        first: "Ana".into(),
        last: "Ruiz".into(),
        email: "ana.ruiz@example.org".into(),
        phone: String::new(),
        receipt_by_email,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_buys_three_timed_tickets_from_the_first_tap_to_the_receipt() {
    let mut k = kiosk().await;
    k.go_to_review();
    let q = k.shell.flow().session().quote.clone().unwrap();
    assert_eq!(q.gross, 6712);
    k.tap(Tap::Pay);
    assert_eq!(k.settle(), &Screen::Done);
    let order = k.shell.order().unwrap().clone();
    assert_eq!(order.order_no, "K1-00001");
    let c = k.counts();
    assert_eq!((c.orders, c.tickets, c.held_seats), (1, 3, 0));
    // Three tickets and the receipt came out, and the order says so.
    let printed = k.printer.printed();
    assert_eq!(printed.len(), 4);
    assert!(printed[..3].iter().all(|p| {
        p.0.iter()
            .any(|b| matches!(b, portico::kiosk::escpos::Block::Qr { .. }))
    }));
    assert_eq!(k.print_state(), "printed");
    // The seats are sold from the kiosk's lease; nothing is held for the session any more.
    let lease = {
        let conn = k.device.engine.database();
        portico::kiosk::leases::lease(&conn.lock().unwrap(), &slot())
            .unwrap()
            .unwrap()
    };
    assert_eq!((lease.sold, lease.intent_held), (3, 0));
    assert_eq!((k.shell.session_holds())(&slot()), 0);
    // What `portico status` says of the kiosk.
    let report = crate::common::kiosk::kiosk_status(&k.device);
    let kiosk = report.kiosk.clone().unwrap();
    assert_eq!(
        (
            kiosk.orders,
            kiosk.tickets,
            kiosk.not_printed,
            kiosk.unsettled_payments
        ),
        (1, 3, 0, 0)
    );
    assert_eq!(kiosk.seats_sold, 3);
    assert!(kiosk.seats_leased >= 10, "{kiosk:?}");
    assert_eq!(kiosk.signing_key, Some(32768));
    let text = portico::status::render(&report);
    assert!(
        text.contains("kiosk       1 orders, 3 tickets; signing key 32768"),
        "{text}"
    );
    assert_eq!(k.tap(Tap::Finish), &Screen::Welcome);
    assert_eq!(k.shell.flow().session(), &Session::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parking_bought_with_a_ticket_is_a_pass_for_the_visit_day_at_the_hub() {
    let mut k = kiosk().await;
    k.tap(Tap::Start(Purpose::Tickets));
    k.tap(Tap::Slot {
        product: "TIMED".into(),
        slot: slot(),
    });
    k.tap(Tap::Quantity {
        category: "adult".into(),
        delta: 1,
    });
    assert_eq!(k.tap(Tap::Next), &Screen::AddOns { problem: None });
    k.tap(Tap::AddOn {
        product: "PARKING".into(),
        delta: 1,
    });
    assert_eq!(k.tap(Tap::Next), &Screen::AskMember);
    k.tap(Tap::IsMember(false));
    let screen = k.tap(Tap::Details(ana(false)));
    assert_eq!(screen, &Screen::Review { problem: None });
    // An adult ($24.00 + $1.98 tax) and parking ($10.00 + $0.83 tax).
    let q = k.shell.flow().session().quote.clone().unwrap();
    assert_eq!(q.gross, 2400 + 198 + 1000 + 83);
    k.tap(Tap::Pay);
    assert_eq!(k.settle(), &Screen::Done);
    let c = k.counts();
    assert_eq!((c.orders, c.tickets), (1, 2));
    assert_eq!(k.printer.printed().len(), 3, "two tickets and the receipt");
    // One seat only: parking takes none of the entry time's.
    assert_eq!(k.sold_in_slot(), 1);

    let parking = k.hub_tickets("PARKING").await;
    assert_eq!(parking.len(), 1, "{parking:?}");
    assert_eq!(
        parking[0].validity,
        portico::protocol::ValidityDto::Date {
            date: crate::common::kiosk::tomorrow()
        },
        "for the day of the entry time bought with it"
    );
    assert_eq!(parking[0].uses_allowed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_pass_is_sold_for_the_day_chosen_without_touching_an_entry_times_seats() {
    let mut k = kiosk().await;
    let day = crate::common::kiosk::tomorrow() + chrono::Days::new(1);
    k.tap(Tap::Start(Purpose::Tickets));
    let screen = k.tap(Tap::AllDay {
        product: "DAY".into(),
        day,
    });
    assert_eq!(screen, &Screen::Quantities { problem: None });
    for category in ["adult", "child"] {
        k.tap(Tap::Quantity {
            category: category.into(),
            delta: 1,
        });
    }
    assert_eq!(
        k.shell.flow().session().held,
        0,
        "a day pass holds no seats"
    );
    assert_eq!(k.tap(Tap::Next), &Screen::AddOns { problem: None });
    assert_eq!(k.tap(Tap::Next), &Screen::AskMember);
    k.tap(Tap::IsMember(false));
    assert_eq!(
        k.tap(Tap::Details(ana(false))),
        &Screen::Review { problem: None }
    );
    k.tap(Tap::Pay);
    assert_eq!(k.settle(), &Screen::Done);
    let c = k.counts();
    assert_eq!((c.orders, c.tickets, c.held_seats), (1, 2, 0));
    assert_eq!(k.printer.printed().len(), 3, "two passes and the receipt");
    assert_eq!(k.sold_in_slot(), 0, "no entry time's seat sold");

    let passes = k.hub_tickets("DAY").await;
    assert_eq!(passes.len(), 2, "{passes:?}");
    for pass in passes {
        assert_eq!(
            pass.validity,
            portico::protocol::ValidityDto::Date { date: day },
            "valid on the day the visitor chose"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_out_of_paper_before_payment_takes_no_money_and_after_it_sends_the_visitor_to_the_desk()
 {
    let mut k = kiosk().await;
    k.go_to_review();
    k.printer.paper_for(0);
    assert_eq!(
        k.tap(Tap::Pay),
        &Screen::CannotPrint(PrinterProblem::PaperOut)
    );
    let c = k.counts();
    assert_eq!(
        (
            c.orders,
            c.intents_started + c.intents_failed + c.intents_completed
        ),
        (0, 0),
        "no payment was started"
    );
    // A new roll with room for one ticket: the order is paid and stands; one ticket out.
    k.printer.refill();
    k.printer.paper_for(1);
    assert_eq!(k.tap(Tap::Retry), &Screen::Review { problem: None });
    k.tap(Tap::Pay);
    assert_eq!(k.settle(), &Screen::CollectAtDesk);
    assert_eq!(k.counts().orders, 1);
    assert_eq!(k.printer.printed().len(), 1);
    assert_eq!(k.print_state(), "partial");
    assert_eq!(
        k.shell.last_print.map(|r| (r.printed, r.stopped)),
        Some((1, true))
    );
    // At the desk, with paper: the rest prints, and only the rest.
    k.printer.refill();
    let order_no = k.shell.order().unwrap().order_no.clone();
    let printout = {
        let conn = k.device.engine.database();
        orders::printout(&conn.lock().unwrap(), &order_no)
            .unwrap()
            .unwrap()
    };
    let (doc, secrets) = portico::kiosk::shell::documents(
        &printout,
        k.shell.catalog(),
        &Letterhead::default(),
        Paper::Mm80,
    );
    assert_eq!(secrets.len(), 2, "the two tickets not printed");
    let mut desk = EscPosPrinter::new(
        PrinterAddress::Tcp(k.printer.addr.to_string()),
        Duration::from_secs(5),
    );
    assert_eq!(desk.print(&doc).unwrap().printed, 3);
    assert_eq!(k.tap(Tap::Finish), &Screen::Welcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_who_walks_away_leaves_no_personal_data_and_no_held_seats() {
    let mut k = kiosk().await;
    k.tap(Tap::Start(Purpose::Tickets));
    k.tap(Tap::Slot {
        product: "TIMED".into(),
        slot: slot(),
    });
    for _ in 0..3 {
        k.tap(Tap::Quantity {
            category: "adult".into(),
            delta: 1,
        });
    }
    k.tap(Tap::Next);
    k.tap(Tap::Next);
    k.tap(Tap::IsMember(false));
    // Typed, but the phone is missing: the form stays with the visitor's words in it.
    k.tap(Tap::Details(VisitorForm {
        first: "Zebediah".into(),
        last: "Quillfeather".into(),
        email: String::new(),
        phone: String::new(),
        receipt_by_email: false,
    }));
    assert!(format!("{:?}", k.shell.flow()).contains("Quillfeather"));
    assert_eq!((k.shell.session_holds())(&slot()), 3);
    let touched = Instant::now();
    k.shell
        .handle(Event::Tick, touched + Duration::from_secs(91));
    assert!(
        k.shell
            .flow()
            .still_there(touched + Duration::from_secs(91))
            .is_some()
    );
    k.shell
        .handle(Event::Tick, touched + Duration::from_secs(121));
    assert_eq!(k.shell.flow().screen(), &Screen::Welcome);
    assert_eq!(k.shell.flow().session(), &Session::default());
    let shown = format!("{:?}", k.shell.flow());
    assert!(!shown.contains("Quillfeather") && !shown.contains("Zebediah"));
    assert_eq!((k.shell.session_holds())(&slot()), 0, "the seats went back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_becomes_a_member_at_the_kiosk_and_the_hub_makes_the_membership() {
    let mut k = kiosk().await;
    assert_eq!(k.tap(Tap::Start(Purpose::Membership)), &Screen::Levels);
    assert_eq!(k.tap(Tap::Level("MEM-FAM".into())), &Screen::AskMember);
    assert_eq!(
        k.tap(Tap::IsMember(false)),
        &Screen::Details { problem: None }
    );
    let screen = k.tap(Tap::Details(ana(false)));
    assert_eq!(screen, &Screen::Review { problem: None });
    assert_eq!(
        k.shell.flow().session().quote.as_ref().map(|q| q.gross),
        Some(12_500),
        "the family level, tax exempt"
    );
    k.tap(Tap::Pay);
    assert_eq!(k.settle(), &Screen::Done);
    // No ticket for a membership: the receipt alone prints.
    assert_eq!(k.counts().tickets, 0);
    assert_eq!(k.printer.printed().len(), 1);
    assert_eq!(k.print_state(), "printed");
    // At the hub the order makes the membership, for the new member's record.
    k.device.engine.push_once().await.unwrap();
    k.device.engine.push_once().await.unwrap();
    let memberships: Vec<portico::protocol::MembershipDto> = k
        .hub
        .store
        .all(portico::protocol::Resource::Memberships)
        .unwrap();
    let made: Vec<_> = memberships
        .iter()
        .filter(|m| m.membership_id.starts_with("M5"))
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(
        (
            made[0].level.as_str(),
            made[0].guest_allowance,
            made[0].members.len()
        ),
        ("Family", 2, 1)
    );
    assert!(
        made[0].members[0].starts_with("8-"),
        "the buyer's record as the hub knows it: {:?}",
        made[0].members
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_thread_takes_taps_from_the_inbox_and_shows_each_new_screen() {
    use portico::kiosk::session::{DisplaySlot, KioskDisplay};
    use portico::screens::kiosk_view::KioskScreenModel;
    use std::sync::{Arc, Mutex};

    let k = kiosk().await;
    let shown: Arc<Mutex<Vec<KioskScreenModel>>> = Arc::default();
    let seen = shown.clone();
    let display: KioskDisplay = Arc::new(move |m| seen.lock().unwrap().push(m));
    let slot_display: DisplaySlot = Arc::new(Mutex::new(Some(display)));
    let (taps, inbox) = std::sync::mpsc::channel();
    let session = portico::kiosk::session::spawn(
        k.shell,
        inbox,
        slot_display,
        k.device.store.clone(),
        Arc::new(portico::clock::SystemClock),
        None,
    )
    .unwrap();
    let wait_for = |want: &dyn Fn(&KioskScreenModel) -> bool| {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if shown.lock().unwrap().iter().any(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    };
    assert!(
        wait_for(&|m| m.screen == Screen::Welcome),
        "the welcome screen first"
    );
    taps.send(Event::Tap(Tap::Start(Purpose::Tickets))).unwrap();
    assert!(
        wait_for(&|m| m.screen == Screen::Slots && !m.slots.is_empty()),
        "the entry times after the tap"
    );
    // A model is shown once: the clock's ticks do not repeat an unchanged screen.
    std::thread::sleep(Duration::from_millis(600));
    let slots_shown = shown
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.screen == Screen::Slots)
        .count();
    assert_eq!(slots_shown, 1);
    session.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printer_is_checked_between_visitors_and_an_empty_roll_closes_the_kiosk_until_refilled()
{
    let mut k = kiosk().await;
    let check = |k: &mut Kiosk| {
        k.shell.check_printer();
        assert!(
            k.shell.pump(Duration::from_secs(10)),
            "the check's answer arrives"
        );
        k.shell.flow().printer_problem()
    };
    assert_eq!(check(&mut k), None);
    k.printer.paper_for(0);
    assert_eq!(check(&mut k), Some(PrinterProblem::PaperOut));
    assert_eq!(
        k.tap(Tap::Start(Purpose::Tickets)),
        &Screen::Welcome,
        "no visitor starts a purchase the kiosk could not print"
    );
    assert_eq!(
        k.shell.model(Instant::now()).out_of_order,
        Some(portico::kiosk::out_of_order::OutOfOrder::Printer(
            PrinterProblem::PaperOut
        )),
        "the welcome screen says why"
    );
    k.printer.refill();
    assert_eq!(check(&mut k), None);
    assert_eq!(k.tap(Tap::Start(Purpose::Tickets)), &Screen::Slots);
}
