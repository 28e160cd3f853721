//! The visitor kiosk's screens: a whole purchase driven through the real Slint component by its
//! accessible labels (Slint's testing backend) against a real shell (replica, leases, simulated
//! terminal, loopback printer); touch targets and contrast measured on every screen; every word
//! translated; every screen rendered in both languages and both orientations.
//!
//! Set `PORTICO_SCREENSHOTS_DIR` to also write the renders there (the documentation's
//! screenshots are made this way: `PORTICO_SCREENSHOTS_DIR=docs/screenshots`).

#![cfg(all(feature = "ui", feature = "hub"))]

mod common;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use i_slint_backend_testing::{ElementHandle, ElementQuery};
use portico::find_membership::kiosk as fmm;
use portico::find_membership::{Channel, mask::MaskedTarget};
use portico::kiosk::catalog::{Catalog, Lang};
use portico::kiosk::checkin::{CardLookup, MemberCard, Standing};
use portico::kiosk::checkout::Flow;
use portico::kiosk::checkout::{Clocked, DayShift, VolunteerDay, VolunteerLookup};
use portico::kiosk::checkout::{
    Ctx, Event, ExtraDetail, FlowConfig, MatchPreview, MemberContext, MemberLookup, PaymentOutcome,
    Printed, PrinterProblem, Purpose, Screen, Session, Tap,
};
use portico::kiosk::keyboard::{Field, Key};
use portico::kiosk::out_of_order::OutOfOrder;
use portico::kiosk::pricing::MemberBenefit;
use portico::screens::kiosk_view::{KioskScreenModel, model};
use portico::screens::technician_view::{self, TechFacts, TechPanel};
use portico::technician::Page;
use portico::ui::{KioskPalette, KioskScreen, render_kiosk_rgb};
use slint::ComponentHandle;
use slint::platform::PointerEventButton;

thread_local! {
    static BACKEND: Cell<bool> = const { Cell::new(false) };
}

fn backend() {
    BACKEND.with(|done| {
        if !done.replace(true) {
            i_slint_backend_testing::init_no_event_loop();
        }
    });
}

/// Events the screen sent, waiting for the test to hand them to the shell or the flow.
type Queue = Rc<RefCell<VecDeque<Event>>>;

fn screen(width: f32, height: f32) -> (KioskScreen, Queue) {
    backend();
    let queue: Queue = Rc::default();
    let sink = queue.clone();
    let screen = KioskScreen::new(
        "Riverside Zoo",
        Rc::new(move |e| sink.borrow_mut().push_back(e)),
    )
    .expect("kiosk screen");
    screen
        .window()
        .window()
        .set_size(slint::LogicalSize::new(width, height));
    screen.window().show().expect("show");
    (screen, queue)
}

fn find(s: &KioskScreen, label: &str) -> Vec<ElementHandle> {
    ElementHandle::find_by_accessible_label(s.window(), label).collect()
}

fn one(s: &KioskScreen, label: &str) -> ElementHandle {
    let mut found = find(s, label);
    assert_eq!(found.len(), 1, "elements labelled {label:?}");
    found.remove(0)
}

fn click(s: &KioskScreen, label: &str) {
    one(s, label).mock_single_click(PointerEventButton::Left);
}

fn title(s: &KioskScreen) -> String {
    one(s, "title").accessible_value().unwrap().to_string()
}

// ----- a whole purchase through the screen -----------------------------------------------

struct Driven {
    k: common::kiosk::Kiosk,
    screen: KioskScreen,
    queue: Queue,
}

impl Driven {
    /// Hands what the screen sent to the shell, lets its workers finish, shows the result.
    fn settle(&mut self) {
        loop {
            let next = self.queue.borrow_mut().pop_front();
            let Some(e) = next else { break };
            self.k.shell.handle(e, Instant::now());
        }
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until
            && matches!(
                self.k.shell.flow().screen(),
                Screen::Paying { .. }
                    | Screen::Committing
                    | Screen::Printing
                    | Screen::CheckInSaving
                    | Screen::VolunteerSaving
                    | Screen::FindMembership(
                        fmm::Screen::Locating { .. }
                            | fmm::Screen::Sending { .. }
                            | fmm::Screen::Verifying { .. }
                    )
            )
        {
            self.k.shell.pump(Duration::from_millis(100));
        }
        self.screen.show(&self.k.shell.model(Instant::now()));
    }

    fn click(&mut self, label: &str) {
        click(&self.screen, label);
        self.settle();
    }

    /// Types on the on-screen keyboard, key by key, as shown (capitals when it shows them).
    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let label = if c == ' ' {
                "key ␣".to_owned()
            } else {
                let shown = self.screen.shown();
                let caps: Vec<String> = shown
                    .keys
                    .iter()
                    .flatten()
                    .map(|k| k.label.clone())
                    .collect();
                let want = c.to_string();
                let cap = caps
                    .iter()
                    .find(|l| **l == want)
                    .or_else(|| {
                        caps.iter()
                            .find(|l| l.to_lowercase() == want.to_lowercase())
                    })
                    .unwrap_or_else(|| panic!("no key for {c:?} in {caps:?}"));
                format!("key {cap}")
            };
            self.click(&label);
        }
    }

    fn value(&self, label: &str) -> String {
        one(&self.screen, label)
            .accessible_value()
            .unwrap_or_default()
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_buys_tickets_through_the_screen_by_its_labels() {
    let k = common::kiosk::kiosk().await;
    let (screen, queue) = screen(1080., 1920.);
    let mut d = Driven { k, screen, queue };
    d.settle();
    assert_eq!(title(&d.screen), "Welcome to Riverside Zoo");

    d.click("Buy tickets");
    assert_eq!(title(&d.screen), "Choose a day and an entry time");
    d.click("10:00–10:30 Timed entry");
    assert_eq!(title(&d.screen), "How many tickets?");
    d.click("One more Adult");
    d.click("One more Adult");
    d.click("One more Child (3–17)");
    assert_eq!(d.value("count Adult"), "2");
    assert_eq!(d.value("count Child (3–17)"), "1");
    assert_eq!(d.k.shell.flow().session().held, 3, "three seats held");
    d.click("Continue");
    assert_eq!(title(&d.screen), "Anything else for your visit?");
    d.click("Add Parking");
    assert_eq!(d.value("count Parking"), "1");
    d.click("Continue");
    assert_eq!(title(&d.screen), "Are you a member?");
    d.click("No, continue");
    assert_eq!(title(&d.screen), "Your details");

    // The keyboard types into the first name; the other fields take it when tapped.
    d.type_text("ana");
    assert_eq!(d.value("First name"), "Ana", "a capital to start a name");
    click(&d.screen, "Last name");
    d.settle();
    d.type_text("ruiz");
    click(&d.screen, "Email");
    d.settle();
    d.type_text("ana.ruiz@example.org");
    d.click("Email me my receipt");
    assert_eq!(
        one(&d.screen, "Email me my receipt").accessible_checked(),
        Some(true)
    );
    d.click("Continue");
    assert_eq!(title(&d.screen), "Check your order");
    // Two adults and a child ($62.00) and parking ($10.00), with 8.25 % tax on each line.
    assert_eq!(d.value("total"), "$77.95");
    assert_eq!(d.value("buyer"), "For Ana Ruiz · ana.ruiz@example.org");

    d.click("Pay $77.95");
    assert_eq!(title(&d.screen), "Thank you!");
    assert_eq!(d.value("order number"), "K1-00001");
    let printed = d.k.printer.printed();
    assert_eq!(
        printed.len(),
        5,
        "three tickets, a parking pass and a receipt"
    );
    // The ticket and the receipt as the printer received them, drawn on 80 mm paper.
    for (doc, name) in [(&printed[0], "ticket"), (&printed[4], "receipt")] {
        let img = portico::ui::render_paper_rgb(doc, portico::kiosk::receipt::Paper::Mm80).unwrap();
        assert_eq!(img.width, 576);
        assert!(img.height > 400, "{name}: {} px long", img.height);
        let dark = img.pixels.chunks(3).filter(|p| p[0] < 60).count();
        assert!(dark > 1000, "{name}: nothing printed ({dark} dark pixels)");
        if let Some(dir) = std::env::var_os("PORTICO_SCREENSHOTS_DIR") {
            let dir = PathBuf::from(dir).join("kiosk");
            std::fs::create_dir_all(&dir).unwrap();
            img.write_png(&dir.join(format!("printed-{name}.png")))
                .unwrap();
        }
    }
    d.click("Finish");
    assert_eq!(title(&d.screen), "Welcome to Riverside Zoo");
    assert_eq!(d.k.shell.flow().session(), &Session::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_picks_a_day_pass_for_a_day_through_the_screen_by_its_labels() {
    let k = common::kiosk::kiosk().await;
    let (screen, queue) = screen(1920., 1080.);
    let mut d = Driven { k, screen, queue };
    d.settle();
    d.click("Buy tickets");
    d.click("Day pass");
    // The week's third day, as its chip reads.
    let third = d.screen.shown().days[2].clone();
    d.click(&third.label);
    d.click("Any time Day pass");
    assert_eq!(title(&d.screen), "How many tickets?");
    d.click("One more Adult");
    assert_eq!(d.value("count Adult"), "1");
    let session = d.k.shell.flow().session();
    assert_eq!(
        (
            session.product.as_deref(),
            session.slot.as_deref(),
            session.day,
            session.held
        ),
        (Some("DAY"), None, Some(third.date), 0),
        "a day pass for the day chosen, holding no seat"
    );
    assert!(
        d.value("summary").starts_with("Day pass · "),
        "{}",
        d.value("summary")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_speaks_spanish_and_forgets_the_visitor_when_they_walk_away() {
    let k = common::kiosk::kiosk().await;
    let (screen, queue) = screen(1920., 1080.);
    let mut d = Driven { k, screen, queue };
    d.settle();
    d.click("Español");
    assert_eq!(title(&d.screen), "Bienvenido a Riverside Zoo");
    d.click("Comprar entradas");
    d.click("10:00–10:30 Entrada con horario");
    d.click("Una entrada más: Adulto");
    d.click("Continuar");
    assert_eq!(title(&d.screen), "¿Algo más para su visita?");
    d.click("Continuar");
    d.click("No, continuar");
    assert_eq!(title(&d.screen), "Sus datos");
    d.type_text("zeb");
    assert_eq!(d.value("Nombre"), "Zeb");

    // Nobody touches the screen: "Still there?", then the session is gone, screen and all.
    let start = Instant::now();
    d.k.shell
        .handle(Event::Tick, start + Duration::from_secs(95));
    d.screen
        .show(&d.k.shell.model(start + Duration::from_secs(95)));
    assert!(d.screen.window().get_still_there());
    assert!(d.value("countdown").contains("segundos"));
    d.k.shell
        .handle(Event::Tick, start + Duration::from_secs(200));
    d.screen
        .show(&d.k.shell.model(start + Duration::from_secs(200)));
    let w = d.screen.window();
    assert_eq!(
        title(&d.screen),
        "Welcome to Riverside Zoo",
        "back in English"
    );
    for typed in [w.get_first(), w.get_last(), w.get_email(), w.get_phone()] {
        assert_eq!(typed, "");
    }
    assert_eq!(w.get_tickets(), 0);
    assert!(!w.get_still_there());
    assert_eq!((d.k.shell.session_holds())(&common::kiosk::slot()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_checks_in_with_a_guest_through_the_screen_by_its_labels() {
    let mut k = common::kiosk::kiosk().await;
    let tomorrow = common::kiosk::tomorrow();
    let (m, _) = k
        .member(
            "M7000010",
            "Family",
            2,
            tomorrow + chrono::Duration::days(60),
        )
        .await;
    let (screen, queue) = screen(1080., 1920.);
    let mut d = Driven { k, screen, queue };
    d.settle();
    d.click("Member check-in");
    assert_eq!(title(&d.screen), "Member check-in");
    // The number typed on the ID keyboard; a wrong one first.
    d.type_text("M7000011");
    d.click("Find my membership");
    assert!(
        d.value("problem")
            .starts_with("We could not find a membership"),
        "{}",
        d.value("problem")
    );
    d.click("key ⌫");
    d.type_text("0");
    assert_eq!(d.value("Membership number"), m.membership_id);
    d.click("Find my membership");
    assert_eq!(title(&d.screen), "Welcome back!");
    assert_eq!(d.value("membership level"), "Family membership");
    assert!(d.value("membership standing").starts_with("Active until"));
    assert_eq!(d.value("guests"), "0");
    d.click("One guest more");
    assert_eq!(d.value("guests"), "1");
    d.click("Check in and print 1 guest pass");
    assert_eq!(title(&d.screen), "Enjoy your visit!");
    assert!(d.value("outcome").contains("guest passes from the printer"));
    assert_eq!(d.k.printer.printed().len(), 1, "one guest pass");
    d.click("Finish");
    assert_eq!(title(&d.screen), "Welcome to Riverside Zoo");
    assert_eq!(d.k.shell.flow().session(), &Session::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_verifies_their_membership_with_a_code_through_the_screen() {
    let mut k = common::kiosk::kiosk().await;
    let tomorrow = common::kiosk::tomorrow();
    let (m, _) = k
        .member(
            "M7000030",
            "Family",
            2,
            tomorrow + chrono::Duration::days(60),
        )
        .await;
    let (screen, queue) = screen(1920., 1080.);
    let mut d = Driven { k, screen, queue };
    d.settle();
    d.click("Member check-in");
    d.click("Verify with a code sent to my email or phone");
    assert_eq!(title(&d.screen), "Verify your membership");
    d.type_text(&m.membership_id);
    d.click("Continue");
    assert_eq!(title(&d.screen), "Where should we send your code?");
    let email_button = find(&d.screen, "")
        .into_iter()
        .chain(
            ElementQuery::from_root(d.screen.window())
                .match_descendants()
                .match_accessible_role(i_slint_backend_testing::AccessibleRole::Button)
                .find_all(),
        )
        .filter_map(|e| e.accessible_label())
        .find(|l| l.starts_with("Email to "))
        .expect("the masked email offered")
        .to_string();
    assert!(email_button.contains('*'), "{email_button}");
    d.click(&email_button);
    assert_eq!(title(&d.screen), "Enter your code");
    let request = match d.k.shell.flow().screen() {
        Screen::FindMembership(fmm::Screen::EnterCode { request_id, .. }) => request_id.clone(),
        other => panic!("{other:?}"),
    };
    let code = common::kiosk::sent_code(&d.k.hub, &request);
    d.type_text(&code);
    assert_eq!(d.value("Code"), code);
    d.click("Check the code");
    assert_eq!(title(&d.screen), "Welcome back!");
    d.click("Start over");
    assert_eq!(title(&d.screen), "Welcome to Riverside Zoo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_clocks_in_and_out_through_the_screen() {
    use chrono::TimeZone;
    let k = common::kiosk::kiosk().await;
    let tomorrow = common::kiosk::tomorrow();
    let v = k
        .hub
        .store
        .all::<portico::protocol::ConstituentDto>(portico::protocol::Resource::Constituents)
        .unwrap()
        .into_iter()
        .filter(|c| c.status == portico::domain::ConstituentStatus::Active)
        .find(|c| {
            c.phones.iter().any(|p| p.meta.active)
                && c.name.last.chars().all(|c| c.is_ascii_alphabetic())
        })
        .unwrap();
    let who = [v.lookup_id.clone()];
    k.hub
        .store
        .write(|tx, seq| portico::hub::volunteers::publish(tx, seq, tomorrow, 1, &who))
        .unwrap();
    k.device.engine.pull_all(None).await.unwrap();
    let set = |h, m| {
        let local = tomorrow.and_hms_opt(h, m, 0).unwrap();
        k.clock.set(
            chrono::Local
                .from_local_datetime(&local)
                .earliest()
                .unwrap()
                .with_timezone(&chrono::Utc),
        );
    };
    set(8, 0);
    let digits: String = v
        .phones
        .iter()
        .find(|p| p.meta.active)
        .unwrap()
        .number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let last4 = digits[digits.len() - 4..].to_owned();
    let clock = k.clock.clone();
    let (screen, queue) = screen(1080., 1920.);
    let mut d = Driven { k, screen, queue };
    d.settle();
    let find = |d: &mut Driven| {
        d.click("Volunteers");
        assert_eq!(title(&d.screen), "Volunteer time clock");
        d.type_text(&v.name.last);
        click(&d.screen, "Last 4 digits of your phone");
        d.settle();
        d.type_text(&last4);
        d.click("Continue");
        assert_eq!(title(&d.screen), format!("Hello, {}!", v.name.first));
    };
    find(&mut d);
    d.click("Check in to Garden Crew Morning 07:00–11:00");
    assert_eq!(title(&d.screen), "Thank you for volunteering!");
    assert_eq!(
        d.value("outcome"),
        "You are checked in to Garden Crew Morning."
    );
    d.click("Finish");
    // 10:40: back to check out.
    let local = tomorrow.and_hms_opt(10, 40, 0).unwrap();
    clock.set(
        chrono::Local
            .from_local_datetime(&local)
            .earliest()
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    find(&mut d);
    assert!(
        d.value("checked in")
            .starts_with("You are checked in to Garden Crew Morning since 08:00")
    );
    d.click("Check out");
    assert_eq!(
        d.value("outcome"),
        "You are checked out of Garden Crew Morning: 2 h 45 min."
    );
    d.click("Finish");
    assert_eq!(title(&d.screen), "Welcome to Riverside Zoo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_holds_the_corner_types_wrong_pins_until_locked_then_the_right_one() {
    use slint::platform::WindowEvent;
    let k = common::kiosk::kiosk().await;
    let clock = k.clock.clone();
    let (screen, queue) = screen(1080., 1920.);
    let mut d = Driven { k, screen, queue };
    d.settle();
    assert!(find(&d.screen, "technician").is_empty(), "hidden");
    // The top left corner, held: a tap is not enough, three seconds are.
    let corner = slint::LogicalPosition::new(20., 20.);
    let handle = d.screen.window().clone_strong();
    let window = handle.window();
    let press = || {
        window.dispatch_event(WindowEvent::PointerPressed {
            position: corner,
            button: PointerEventButton::Left,
        })
    };
    let release = || {
        window.dispatch_event(WindowEvent::PointerReleased {
            position: corner,
            button: PointerEventButton::Left,
        })
    };
    press();
    i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(1000));
    release();
    d.settle();
    assert!(
        find(&d.screen, "technician").is_empty(),
        "a tap does not open it"
    );
    press();
    i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(3100));
    release();
    d.settle();
    assert_eq!(d.value("technician"), "Technician");
    assert_eq!(d.value("PIN"), "Type the PIN");
    let enter = |d: &mut Driven, pin: &str| {
        for c in pin.chars() {
            d.click(&c.to_string());
        }
        d.click("OK");
        assert!(
            d.k.shell.pump(Duration::from_secs(30)),
            "the PIN is checked"
        );
        d.settle();
    };
    d.click("1");
    d.click("2");
    assert_eq!(d.value("PIN"), "● ●");
    d.click("⌫");
    d.click("⌫");
    for _ in 0..4 {
        enter(&mut d, "111000");
        assert_eq!(d.value("problem"), "That PIN is not right.");
    }
    enter(&mut d, "111000");
    assert_eq!(d.value("locked"), "The PIN pad opens again in 30 seconds.");
    assert!(find(&d.screen, "OK").is_empty(), "no pad while locked");
    clock.advance(chrono::TimeDelta::seconds(30));
    d.k.shell.handle(Event::Tick, Instant::now());
    d.settle();
    enter(&mut d, common::kiosk::TECHNICIAN_PIN);
    // The status page, from the device's database.
    assert_eq!(d.value("Hub"), "answering");
    d.click("Service");
    d.click("Take out of service");
    assert!(d.value("notice").starts_with("Out of service"));
    d.click("Close");
    assert!(find(&d.screen, "technician").is_empty());
    assert_eq!(title(&d.screen), "Sorry, this kiosk is out of order");
    assert_eq!(d.value("code"), "S1");
}

// ----- every screen, as data --------------------------------------------------------------

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()
}

fn now_local() -> NaiveDateTime {
    day().and_hms_opt(8, 0, 0).unwrap()
}

/// Walks a flow through every screen the visitor can see, in `lang`; the model of each, named.
fn every_screen(lang: Lang) -> Vec<(String, KioskScreenModel)> {
    let catalog: Catalog = portico::hub::catalog::seeded(day(), 7);
    let start = Instant::now();
    let free = |_: &str| 40;
    let ctx = Ctx {
        catalog: &catalog,
        now: chrono::Utc::now(),
        now_local: now_local(),
        free_seats: &free,
    };
    let mut out = Vec::new();
    let mut flow = Flow::new(FlowConfig::default(), start);
    let mut at = start;
    let go = |flow: &mut Flow, e: Event, at: Instant| {
        flow.handle(e, at, &ctx);
    };
    let shot = |flow: &Flow, name: &str, at: Instant, out: &mut Vec<(String, KioskScreenModel)>| {
        out.push((
            name.to_owned(),
            model(flow, &catalog, ctx.now, now_local(), &free, at),
        ));
    };
    let slot = portico::hub::catalog::slot_id("zoo", day().and_hms_opt(10, 0, 0).unwrap());
    let tap = |t: Tap| Event::Tap(t);

    go(&mut flow, tap(Tap::Lang(lang)), at);
    shot(&flow, "welcome", at, &mut out);
    go(
        &mut flow,
        Event::PrinterChecked(Some(PrinterProblem::PaperOut)),
        at,
    );
    shot(&flow, "welcome-out-of-paper", at, &mut out);
    go(&mut flow, Event::PrinterChecked(None), at);
    go(&mut flow, tap(Tap::Start(Purpose::Membership)), at);
    shot(&flow, "levels", at, &mut out);
    go(&mut flow, tap(Tap::Cancel), at);
    go(&mut flow, tap(Tap::Lang(lang)), at);
    go(&mut flow, tap(Tap::Start(Purpose::Tickets)), at);
    shot(&flow, "slots", at, &mut out);
    go(&mut flow, tap(Tap::Product("DAY".into())), at);
    shot(&flow, "slots-day-pass", at, &mut out);
    go(&mut flow, tap(Tap::Product("TIMED".into())), at);
    go(
        &mut flow,
        tap(Tap::Slot {
            product: "TIMED".into(),
            slot: slot.clone(),
        }),
        at,
    );
    for (category, n) in [("adult", 1), ("adult", 2), ("child", 3)] {
        go(
            &mut flow,
            tap(Tap::Quantity {
                category: category.into(),
                delta: 1,
            }),
            at,
        );
        go(
            &mut flow,
            Event::Held {
                seats: n,
                free: 40 - n,
            },
            at,
        );
    }
    shot(&flow, "quantities", at, &mut out);
    go(&mut flow, tap(Tap::Next), at);
    go(
        &mut flow,
        tap(Tap::AddOn {
            product: "PARKING".into(),
            delta: 1,
        }),
        at,
    );
    shot(&flow, "add-ons", at, &mut out);
    go(&mut flow, tap(Tap::Next), at);
    shot(&flow, "ask-member", at, &mut out);
    go(&mut flow, tap(Tap::IsMember(true)), at);
    for c in "M-9999".chars() {
        go(&mut flow, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    go(&mut flow, tap(Tap::Next), at);
    go(&mut flow, Event::Member(MemberLookup::NotFound), at);
    shot(&flow, "member-not-found", at, &mut out);
    go(&mut flow, tap(Tap::Back), at);
    go(&mut flow, tap(Tap::IsMember(true)), at);
    go(
        &mut flow,
        Event::Member(MemberLookup::Found(MemberContext {
            membership_id: "M-1001".into(),
            level: "Family".into(),
            benefit: MemberBenefit {
                covered: 2,
                guests: 2,
            },
        })),
        at,
    );
    for c in "María".chars() {
        go(&mut flow, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    go(&mut flow, tap(Tap::Focus(Field::Last)), at);
    for c in "Núñez".chars() {
        go(&mut flow, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    // Continue without an email or a phone: the form says what is missing.
    go(&mut flow, tap(Tap::Next), at);
    shot(&flow, "details-missing", at, &mut out);
    go(&mut flow, tap(Tap::Focus(Field::Email)), at);
    for c in "maria.nunez@example.org".chars() {
        go(&mut flow, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    go(&mut flow, tap(Tap::Consent(true)), at);
    shot(&flow, "details", at, &mut out);
    go(&mut flow, tap(Tap::Next), at);
    shot(&flow, "matching", at, &mut out);
    go(&mut flow, Event::Matched(MatchPreview::Several), at);
    assert_eq!(
        flow.screen(),
        &Screen::OneMoreDetail {
            detail: ExtraDetail::Phone
        }
    );
    for c in "5550100".chars() {
        go(&mut flow, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    shot(&flow, "one-more-detail", at, &mut out);
    go(&mut flow, tap(Tap::Next), at);
    go(
        &mut flow,
        Event::Matched(MatchPreview::One {
            lookup_id: "C-1".into(),
        }),
        at,
    );
    shot(&flow, "review", at, &mut out);
    go(&mut flow, tap(Tap::Pay), at);
    shot(&flow, "paying", at, &mut out);
    go(
        &mut flow,
        Event::PrinterNotReady(PrinterProblem::PaperOut),
        at,
    );
    shot(&flow, "cannot-print", at, &mut out);
    go(&mut flow, tap(Tap::Retry), at);
    go(&mut flow, tap(Tap::Pay), at);
    go(&mut flow, Event::Payment(PaymentOutcome::Declined), at);
    shot(&flow, "payment-declined", at, &mut out);
    go(&mut flow, tap(Tap::Retry), at);
    go(&mut flow, tap(Tap::Pay), at);
    go(
        &mut flow,
        Event::Payment(PaymentOutcome::Approved {
            reference: "R-1".into(),
        }),
        at,
    );
    shot(&flow, "committing", at, &mut out);
    go(
        &mut flow,
        Event::Committed {
            order_no: "K1-00042".into(),
        },
        at,
    );
    shot(&flow, "printing", at, &mut out);
    let mut collect = flow.clone();
    go(&mut flow, Event::Printed(Printed::All), at);
    shot(&flow, "done", at, &mut out);
    go(&mut collect, Event::Printed(Printed::NotAll), at);
    shot(&collect, "collect-at-desk", at, &mut out);

    // A member's check-in.
    let mut member = Flow::new(FlowConfig::default(), at);
    go(&mut member, tap(Tap::Lang(lang)), at);
    go(&mut member, tap(Tap::Start(Purpose::CheckIn)), at);
    for c in "M100".chars() {
        go(&mut member, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    shot(&member, "checkin-find", at, &mut out);
    go(&mut member, tap(Tap::Next), at);
    shot(&member, "checkin-looking", at, &mut out);
    go(&mut member, Event::MemberCard(CardLookup::NotFound), at);
    shot(&member, "checkin-not-found", at, &mut out);
    go(&mut member, tap(Tap::ByName), at);
    for c in "Núñez".chars() {
        go(&mut member, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    go(&mut member, tap(Tap::Focus(Field::Phone)), at);
    for c in "5125550101".chars() {
        go(&mut member, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    shot(&member, "checkin-by-name", at, &mut out);
    go(&mut member, tap(Tap::Next), at);
    go(&mut member, Event::MemberCard(CardLookup::Several), at);
    shot(&member, "checkin-first-name", at, &mut out);
    for c in "Eva".chars() {
        go(&mut member, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    go(&mut member, tap(Tap::Next), at);
    let card = |standing| {
        Event::MemberCard(CardLookup::Found(MemberCard {
            membership_id: "M100".into(),
            level: "Family".into(),
            standing,
            expiry: day() + chrono::Duration::days(120),
            guest_allowance: 2,
        }))
    };
    let mut expired = member.clone();
    let mut inactive = member.clone();
    go(&mut member, card(Standing::Active), at);
    go(&mut member, tap(Tap::Guests(1)), at);
    go(&mut member, tap(Tap::Guests(1)), at);
    shot(&member, "checkin-membership", at, &mut out);
    go(&mut expired, card(Standing::Expired), at);
    shot(&expired, "checkin-expired", at, &mut out);
    go(&mut inactive, card(Standing::Inactive), at);
    shot(&inactive, "checkin-not-active", at, &mut out);
    go(&mut member, tap(Tap::CheckIn), at);
    shot(&member, "checkin-saving", at, &mut out);
    go(&mut member, Event::CheckInRecorded { passes: 2 }, at);
    let mut at_desk = member.clone();
    go(&mut member, Event::Printed(Printed::All), at);
    shot(&member, "checked-in", at, &mut out);
    go(&mut at_desk, Event::Printed(Printed::NotAll), at);
    shot(&at_desk, "checked-in-passes-at-desk", at, &mut out);

    // Find My Membership.
    let mut verify = Flow::new(FlowConfig::default(), at);
    go(&mut verify, tap(Tap::Lang(lang)), at);
    go(&mut verify, tap(Tap::Start(Purpose::CheckIn)), at);
    go(&mut verify, tap(Tap::VerifyByCode), at);
    for c in "M100".chars() {
        go(&mut verify, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    shot(&verify, "fmm-membership-number", at, &mut out);
    go(&mut verify, tap(Tap::Next), at);
    shot(&verify, "fmm-waiting", at, &mut out);
    let mut not_found = verify.clone();
    go(
        &mut not_found,
        Event::FindMembership(fmm::Input::Located(fmm::Located::NotFound)),
        at,
    );
    shot(&not_found, "fmm-not-found", at, &mut out);
    let targets = vec![
        MaskedTarget {
            index: 0,
            channel: Channel::Email,
            masked: "m***@e***.org".into(),
        },
        MaskedTarget {
            index: 1,
            channel: Channel::Sms,
            masked: "***-***-0101".into(),
        },
    ];
    go(
        &mut verify,
        Event::FindMembership(fmm::Input::Located(fmm::Located::Found {
            request_id: "r1".into(),
            targets: targets.clone(),
        })),
        at,
    );
    shot(&verify, "fmm-where-to-send", at, &mut out);
    let mut offline = verify.clone();
    go(&mut verify, tap(Tap::Target(1)), at);
    go(&mut offline, tap(Tap::Target(1)), at);
    go(
        &mut offline,
        Event::FindMembership(fmm::Input::HubUnreachable),
        at,
    );
    shot(&offline, "fmm-hub-unreachable", at, &mut out);
    go(
        &mut verify,
        Event::FindMembership(fmm::Input::Sent(fmm::Sent::Sent {
            target: targets[1].clone(),
            expires_at: chrono::Utc::now(),
            attempts_left: 5,
        })),
        at,
    );
    for c in "123".chars() {
        go(&mut verify, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    shot(&verify, "fmm-code", at, &mut out);
    for c in "456".chars() {
        go(&mut verify, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    go(&mut verify, tap(Tap::Next), at);
    let mut expired = verify.clone();
    let mut locked = verify.clone();
    go(
        &mut verify,
        Event::FindMembership(fmm::Input::Checked(fmm::Checked::WrongCode {
            attempts_left: 3,
        })),
        at,
    );
    shot(&verify, "fmm-wrong-code", at, &mut out);
    go(
        &mut expired,
        Event::FindMembership(fmm::Input::Checked(fmm::Checked::Expired)),
        at,
    );
    shot(&expired, "fmm-code-expired", at, &mut out);
    go(
        &mut locked,
        Event::FindMembership(fmm::Input::Checked(fmm::Checked::Locked)),
        at,
    );
    shot(&locked, "fmm-locked", at, &mut out);

    // The volunteer time clock (the flow's clock reads 08:00).
    let mut vol = Flow::new(FlowConfig::default(), at);
    go(&mut vol, tap(Tap::Lang(lang)), at);
    go(&mut vol, tap(Tap::Start(Purpose::Volunteer)), at);
    for c in "Ruiz".chars() {
        go(&mut vol, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    go(&mut vol, tap(Tap::Focus(Field::Last4)), at);
    for c in "01".chars() {
        go(&mut vol, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    shot(&vol, "volunteer-find", at, &mut out);
    go(&mut vol, tap(Tap::Next), at);
    shot(&vol, "volunteer-last4-missing", at, &mut out);
    for c in "23".chars() {
        go(&mut vol, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    go(&mut vol, tap(Tap::Next), at);
    go(&mut vol, Event::Volunteer(VolunteerLookup::Several), at);
    shot(&vol, "volunteer-first-name", at, &mut out);
    for c in "Ana".chars() {
        go(&mut vol, tap(Tap::Key(Key::Text(c.to_string()))), at);
    }
    go(&mut vol, tap(Tap::Next), at);
    let ev = |id: &str, name: &str, job: &str| portico::volunteer::VolunteerEvent {
        event_id: id.into(),
        name: name.into(),
        job: job.into(),
    };
    let ushers = ev("EV-USHERS", "Winter Lights Ushers", "Event Support");
    let garden = ev("EV-GARDEN", "Garden Crew Morning", "Garden Crew");
    let festival = ev(
        "EV-FESTIVAL",
        "Summer Family Festival Weekend Volunteers",
        "Event Support",
    );
    let long = Some(portico::volunteer::EventProblem::NameTooLong { chars: 41 });
    let shift = |id: &str, e: &portico::volunteer::VolunteerEvent, h: u32, len: i64| {
        portico::volunteer::Shift {
            shift_id: id.into(),
            event_id: e.event_id.clone(),
            start: day().and_hms_opt(h, 0, 0).unwrap(),
            end: day().and_hms_opt(h, 0, 0).unwrap() + chrono::Duration::hours(len),
            volunteers: vec!["8-1".into()],
        }
    };
    let volunteer_day = |open: Option<portico::volunteer::OpenClock>| VolunteerDay {
        volunteer: "8-1".into(),
        first_name: "Ana".into(),
        shifts: vec![
            DayShift {
                shift: shift("S7", &garden, 7, 4),
                event: garden.clone(),
                problem: None,
            },
            DayShift {
                shift: shift("S13", &ushers, 13, 4),
                event: ushers.clone(),
                problem: None,
            },
            DayShift {
                shift: shift("SF", &festival, 10, 6),
                event: festival.clone(),
                problem: long.clone(),
            },
        ],
        events: vec![
            (garden.clone(), None),
            (ushers.clone(), None),
            (festival.clone(), long.clone()),
            (
                ev("EV-ANIMALS", "Animal Care Helpers", "Animal Care Aide"),
                None,
            ),
            (
                ev("EV-DOLPHIN", "Dolphin Show Helpers", "Dolphin Trainer"),
                Some(portico::volunteer::EventProblem::UnknownJob {
                    job: "Dolphin Trainer".into(),
                }),
            ),
        ],
        open_event: open.as_ref().map(|_| garden.clone()),
        open,
    };
    let mut checked_in = vol.clone();
    go(
        &mut vol,
        Event::Volunteer(VolunteerLookup::Found(Box::new(volunteer_day(None)))),
        at,
    );
    shot(&vol, "volunteer-day", at, &mut out);
    go(
        &mut vol,
        tap(Tap::ClockIn {
            event_id: "EV-USHERS".into(),
            shift_id: Some("S13".into()),
        }),
        at,
    );
    shot(&vol, "volunteer-too-early", at, &mut out);
    go(
        &mut vol,
        tap(Tap::ClockIn {
            event_id: "EV-FESTIVAL".into(),
            shift_id: Some("SF".into()),
        }),
        at,
    );
    shot(&vol, "volunteer-see-staff", at, &mut out);
    go(
        &mut vol,
        tap(Tap::ClockIn {
            event_id: "EV-GARDEN".into(),
            shift_id: Some("S7".into()),
        }),
        at,
    );
    shot(&vol, "volunteer-saving", at, &mut out);
    go(
        &mut vol,
        Event::Clocked(Ok(Clocked::In {
            event: "Garden Crew Morning".into(),
        })),
        at,
    );
    shot(&vol, "volunteer-checked-in", at, &mut out);
    go(
        &mut checked_in,
        Event::Volunteer(VolunteerLookup::Found(Box::new(volunteer_day(Some(
            portico::volunteer::OpenClock {
                clock_id: "C1".into(),
                volunteer: "8-1".into(),
                event_id: "EV-GARDEN".into(),
                shift_id: Some("S7".into()),
                checked_in: day().and_hms_opt(6, 5, 0).unwrap(),
            },
        ))))),
        at,
    );
    shot(&checked_in, "volunteer-day-checked-in", at, &mut out);
    go(&mut checked_in, tap(Tap::ClockOut), at);
    go(
        &mut checked_in,
        Event::Clocked(Ok(Clocked::Out {
            event: "Garden Crew Morning".into(),
            minutes: 120,
        })),
        at,
    );
    shot(&checked_in, "volunteer-checked-out", at, &mut out);

    // Out of order: only the sales (the card terminal), or everything.
    for (reason, name) in [
        (OutOfOrder::TerminalUnreachable, "welcome-terminal-down"),
        (OutOfOrder::HubUnreachable, "out-of-order-hub"),
        (OutOfOrder::ServiceMode, "out-of-order-service"),
    ] {
        let mut ooo = Flow::new(FlowConfig::default(), at);
        go(&mut ooo, tap(Tap::Lang(lang)), at);
        go(&mut ooo, Event::OutOfOrder(Some(reason)), at);
        shot(&ooo, name, at, &mut out);
    }

    // A volunteer time clock alone: its own welcome screen.
    let mut clock = Flow::new(
        FlowConfig {
            offer: portico::kiosk::checkout::Offer::VolunteerClock,
            ..FlowConfig::default()
        },
        at,
    );
    go(&mut clock, tap(Tap::Lang(lang)), at);
    shot(&clock, "volunteer-clock-welcome", at, &mut out);

    // The technician screen over the welcome screen.
    let welcome = out[0].1.clone();
    let over = |panel: TechPanel| KioskScreenModel {
        technician: Some(panel),
        ..welcome.clone()
    };
    out.push((
        "technician-pin".into(),
        over(TechPanel::Pin {
            typed: 4,
            wrong: false,
        }),
    ));
    out.push((
        "technician-pin-wrong".into(),
        over(TechPanel::Pin {
            typed: 0,
            wrong: true,
        }),
    ));
    out.push((
        "technician-locked".into(),
        over(TechPanel::Locked { secs: 240 }),
    ));
    let facts = technician_facts();
    for (page, name, notice) in [
        (Page::Status, "status", ""),
        (Page::Inputs, "inputs", ""),
        (Page::Relay, "relay", ""),
        (Page::Printer, "printer", "Printed."),
        (Page::Terminal, "terminal", ""),
        (Page::Service, "service", ""),
        (Page::Volunteers, "volunteers", ""),
    ] {
        let (rows, actions) = technician_view::page(page, &facts, chrono::Utc::now());
        out.push((
            format!("technician-{name}"),
            over(TechPanel::Page {
                page,
                rows,
                actions,
                notice: notice.into(),
            }),
        ));
    }

    // "Still there?" over the quantities screen.
    let mut idle = Flow::new(FlowConfig::default(), at);
    go(&mut idle, tap(Tap::Lang(lang)), at);
    go(&mut idle, tap(Tap::Start(Purpose::Tickets)), at);
    at += Duration::from_secs(100);
    go(&mut idle, Event::Tick, at);
    shot(&idle, "still-there", at, &mut out);
    out
}

/// What a kiosk's technician pages show, made up: offline for a while, two uploads refused,
/// a scan on the test, the printer out of paper, a volunteer event the clock refuses.
fn technician_facts() -> TechFacts {
    let now = chrono::Utc::now();
    TechFacts {
        device_id: "kiosk-lobby-1".into(),
        version: "0.1.0".into(),
        online: false,
        hub_silent_for: Some(Duration::from_secs(2 * 3600 + 600)),
        last_pull: Some(now - chrono::TimeDelta::minutes(130)),
        last_push: Some(now - chrono::TimeDelta::minutes(131)),
        outbox_waiting: 14,
        dead_letters: 2,
        constituents: 48_210,
        memberships: 12_977,
        tickets: 3_402,
        disk: Some((9 << 30, 14 << 30)),
        readers: vec![
            (
                "lobby-scanner".into(),
                Some(portico::kiosk::checkout::InputSeen {
                    reader: "lobby-scanner".into(),
                    hex: "4d 2d 31 30 30 31".into(),
                    parsed: "membership M-1001".into(),
                }),
            ),
            ("card-reader".into(), None),
        ],
        printer: Some(Some(PrinterProblem::PaperOut)),
        last_order: Some("K1-00042".into()),
        last_passes: Some(technician_view::LastPasses {
            membership_id: "M1000042".into(),
            passes: 2,
            printed: 1,
        }),
        terminal: Some(technician_view::TerminalFacts {
            kind: "simulated".into(),
            reachable: true,
            payments: [
                ("Mon 10:42", "$67.12", "completed"),
                ("Mon 10:31", "$22.00", "failed"),
            ]
            .map(|(at, amount, outcome)| technician_view::PaymentLine {
                at: at.into(),
                amount: amount.into(),
                outcome: outcome.into(),
            })
            .to_vec(),
            to_refund: 0,
        }),
        has_service_mode: true,
        out_of_order: Some(OutOfOrder::Printer(PrinterProblem::PaperOut)),
        event_problems: vec![(
            "Summer Festival Information Desk Volunteers".into(),
            "the event name is longer than 30 characters".into(),
        )],
        ..TechFacts::default()
    }
}

/// Shows `m` on `s` and flushes the layout.
fn show(s: &KioskScreen, m: &KioskScreenModel) {
    s.show(m);
    slint::platform::update_timers_and_animations();
}

#[test]
fn every_touch_target_is_at_least_44_px_and_on_screen_in_both_orientations() {
    let mut checked = 0;
    for (w, h) in [(1080., 1920.), (1920., 1080.)] {
        let (s, _) = screen(w, h);
        for lang in [Lang::En, Lang::Es] {
            for (name, m) in every_screen(lang) {
                show(&s, &m);
                let mut targets = Vec::new();
                for role in [
                    i_slint_backend_testing::AccessibleRole::Button,
                    i_slint_backend_testing::AccessibleRole::TextInput,
                    i_slint_backend_testing::AccessibleRole::Checkbox,
                ] {
                    targets.extend(
                        ElementQuery::from_root(s.window())
                            .match_descendants()
                            .match_accessible_role(role)
                            .find_all(),
                    );
                }
                assert!(!targets.is_empty(), "{name}: nothing to touch");
                // No target hides another (a button pushed under the navigation bar), except
                // under the "Still there?" question and the technician screen, which cover the
                // whole screen, and on the
                // pages that scroll (clipped) under the bars: the entry times' grid and the
                // volunteer's day.
                let scrolls = name.starts_with("slots")
                    || [
                        "volunteer-day",
                        "volunteer-day-checked-in",
                        "volunteer-too-early",
                        "volunteer-see-staff",
                    ]
                    .contains(&name.as_str());
                let rects: Vec<_> = targets
                    .iter()
                    .map(|t| {
                        let (size, at) = (t.size(), t.absolute_position());
                        let label = t.accessible_label().unwrap_or_default();
                        (label, at.x, at.y, at.x + size.width, at.y + size.height)
                    })
                    .collect();
                for (i, a) in rects.iter().enumerate() {
                    // (An element the query finds twice is one target.)
                    for b in rects[i + 1..].iter().filter(|b| *b != a) {
                        let overlap = a.1 < b.3 - 0.5
                            && b.1 < a.3 - 0.5
                            && a.2 < b.4 - 0.5
                            && b.2 < a.4 - 0.5;
                        assert!(
                            name == "still-there"
                                || name.starts_with("technician")
                                || scrolls
                                || !overlap,
                            "{name} {w}×{h} {lang:?}: {:?} and {:?} overlap",
                            a.0,
                            b.0
                        );
                    }
                }
                for t in targets {
                    let (size, at) = (t.size(), t.absolute_position());
                    let label = t.accessible_label().unwrap_or_default();
                    assert!(
                        size.width >= 44. && size.height >= 44.,
                        "{name} {w}×{h} {lang:?}: {label:?} is {size:?}"
                    );
                    assert!(
                        at.x >= 0.
                            && at.y >= 0.
                            && at.x + size.width <= w + 0.5
                            && at.y + size.height <= h + 0.5,
                        "{name} {w}×{h} {lang:?}: {label:?} at {at:?} size {size:?} is off screen"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "{checked} targets");
}

/// WCAG 2 relative luminance of an sRGB colour.
fn luminance(c: slint::Color) -> f64 {
    let lin = |v: u8| {
        let v = f64::from(v) / 255.;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c.red()) + 0.7152 * lin(c.green()) + 0.0722 * lin(c.blue())
}

fn contrast(a: slint::Color, b: slint::Color) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn every_text_colour_has_at_least_4_5_to_1_contrast_on_its_backgrounds() {
    let (s, _) = screen(1080., 1920.);
    let p = s.window().global::<KioskPalette>();
    let pairs = [
        ("ink on page", p.get_ink(), p.get_page()),
        ("ink on card", p.get_ink(), p.get_card()),
        ("muted on page", p.get_muted(), p.get_page()),
        ("muted on card", p.get_muted(), p.get_card()),
        ("on-dark on bar", p.get_on_dark(), p.get_bar()),
        ("on-dark on primary", p.get_on_dark(), p.get_primary()),
        (
            "on-dark on pressed primary",
            p.get_on_dark(),
            p.get_primary_pressed(),
        ),
        ("ink on pressed", p.get_ink(), p.get_pressed()),
        ("primary on card", p.get_primary(), p.get_card()),
        ("problem on problem-bg", p.get_problem(), p.get_problem_bg()),
        ("problem on card", p.get_problem(), p.get_card()),
        (
            "disabled text on disabled",
            p.get_disabled_text(),
            p.get_disabled(),
        ),
    ];
    for (what, fg, bg) in pairs {
        let ratio = contrast(fg, bg);
        assert!(ratio >= 4.5, "{what}: {ratio:.2}:1");
    }
    // The check itself: black on white is 21:1, a colour on itself 1:1.
    let (black, white) = (
        slint::Color::from_rgb_u8(0, 0, 0),
        slint::Color::from_rgb_u8(255, 255, 255),
    );
    assert!((contrast(black, white) - 21.).abs() < 0.01);
    assert!((contrast(white, white) - 1.).abs() < 0.01);
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `@tr("…")` messages of a `.slint` source.
fn messages(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("@tr(\"") {
        let tail = &rest[i + 5..];
        let mut msg = String::new();
        let mut chars = tail.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => msg.extend(chars.next()),
                '"' => break,
                c => msg.push(c),
            }
        }
        out.push(msg);
        rest = &tail[1..];
    }
    out
}

/// msgid → msgstr of a `.po` file (single-line entries, as ours are).
fn po(src: &str) -> BTreeMap<String, String> {
    let unq = |s: &str| {
        s.trim()
            .trim_matches('"')
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
    };
    let mut out = BTreeMap::new();
    let mut id = None;
    for line in src.lines() {
        if let Some(v) = line.strip_prefix("msgid ") {
            id = Some(unq(v));
        } else if let Some(v) = line.strip_prefix("msgstr ")
            && let Some(k) = id.take()
            && !k.is_empty()
        {
            out.insert(k, unq(v));
        }
    }
    out
}

#[test]
fn every_word_on_the_kiosk_is_translated_into_spanish() {
    let es =
        po(&std::fs::read_to_string(repo("ui/translations/es/LC_MESSAGES/portico-ui.po")).unwrap());
    let mut all = Vec::new();
    for file in ["ui/kiosk.slint", "ui/kiosk-parts.slint"] {
        let src = std::fs::read_to_string(repo(file)).unwrap();
        all.extend(messages(&src));
        // No words straight in the markup: a string with letters is an `@tr`, unless the
        // line is not shown (imports, fonts, accessible labels, language tags).
        let unseen = [
            "import ",
            "//",
            "accessible-label:",
            "default-font-family:",
            "root.lang ==",
            "lang-chosen(\"",
        ];
        for (n, line) in src.lines().enumerate() {
            let t = line.trim();
            if unseen.iter().any(|u| t.contains(u)) {
                continue;
            }
            let words = t
                .split('"')
                .skip(1)
                .step_by(2)
                .any(|lit| lit.chars().any(char::is_alphabetic));
            assert!(
                !words || t.contains("@tr(\""),
                "{file}:{}: untranslated words: {t}",
                n + 1
            );
        }
    }
    assert!(all.len() > 60, "{} messages", all.len());
    for msg in &all {
        let tr = es
            .get(msg)
            .unwrap_or_else(|| panic!("no Spanish for {msg:?}"));
        assert!(!tr.trim().is_empty(), "empty Spanish for {msg:?}");
        assert_eq!(
            tr.matches("{}").count(),
            msg.matches("{}").count(),
            "the Spanish of {msg:?} drops or adds a placeholder"
        );
    }
    // The checker finds what it should.
    assert_eq!(
        messages(r#"text: @tr("A \"b\"") + @tr("C");"#),
        ["A \"b\"", "C"]
    );
}

#[test]
fn every_screen_renders_in_both_languages_and_orientations() {
    let dir = std::env::var_os("PORTICO_SCREENSHOTS_DIR").map(|d| PathBuf::from(d).join("kiosk"));
    if let Some(d) = &dir {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut welcome = Vec::new();
    for lang in [Lang::En, Lang::Es] {
        let screens = every_screen(lang);
        assert_eq!(screens.len(), 66);
        for (w, h, orientation) in [(540, 960, "portrait"), (960, 540, "landscape")] {
            for (name, m) in &screens {
                let img = render_kiosk_rgb(m, "Riverside Zoo", w, h).unwrap();
                // The venue's bar runs along the top of every screen (dimmed under "Still
                // there?").
                if name != "still-there" {
                    assert_eq!(img.pixel(1, 1), [0x12, 0x37, 0x2a], "{name}");
                }
                if name == "welcome" {
                    welcome.push(img.clone());
                }
                if let Some(d) = &dir {
                    let tag = portico::ui::kiosk_screen::lang_tag(lang);
                    img.write_png(&d.join(format!("{name}-{tag}-{orientation}.png")))
                        .unwrap();
                }
            }
        }
    }
    // English and Spanish draw different words on the same screen.
    assert_ne!(
        welcome[0].pixels, welcome[2].pixels,
        "portrait welcome EN vs ES"
    );
    assert_ne!(
        welcome[1].pixels, welcome[3].pixels,
        "landscape welcome EN vs ES"
    );
}
