use chrono::TimeZone;

use super::*;
use crate::kiosk::catalog::{CatalogProduct, Category, CategoryPrice, Slot, TaxRule, Text};

pub(super) fn local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

pub(super) fn catalog() -> Catalog {
    let product = |id: &str, kind, admission, prices: Vec<CategoryPrice>, flat| CatalogProduct {
        id: id.into(),
        kind,
        names: Text::new(id, ""),
        admission,
        prices,
        flat,
        tax_rule: "sales".into(),
        currency: "USD".into(),
        sale_from: None,
        sale_until: None,
        member_benefit: kind == ProductKind::Ticket,
        ticket_uses: 0,
        membership: None,
        sort: 0,
    };
    let price = |category: &str, non_member, guest| CategoryPrice {
        category: category.into(),
        non_member,
        member: 0,
        guest: Some(guest),
    };
    let timed = product(
        "TIMED",
        ProductKind::Ticket,
        Admission::Timed {
            slot_group: "zoo".into(),
        },
        vec![price("adult", 2400, 1200), price("child", 1400, 700)],
        None,
    );
    let family = product(
        "MEM-FAM",
        ProductKind::Membership,
        Admission::None,
        vec![],
        Some((12500, 11500)),
    );
    let slot = |id: &str, start: &str| Slot {
        id: id.into(),
        group: "zoo".into(),
        start: local(start),
        end: local(start) + chrono::Duration::minutes(30),
        capacity: 150,
        sales_close: local(start),
    };
    Catalog {
        products: [timed, family]
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect(),
        categories: ["adult", "child"]
            .into_iter()
            .enumerate()
            .map(|(i, id)| {
                let c = Category {
                    id: id.into(),
                    names: Text::new(id, ""),
                    sort: i as i32,
                };
                (c.id.clone(), c)
            })
            .collect(),
        tax_rules: [TaxRule {
            id: "sales".into(),
            names: Text::new("Sales tax", "Impuesto"),
            rate_bp: 825,
            inclusive: false,
        }]
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect(),
        slots: [
            slot("zoo@10:00", "2026-12-06 10:00"),
            slot("zoo@09:00", "2026-12-06 09:00"),
        ]
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect(),
    }
}

/// A kiosk with `free` seats in every slot (its session's hold included), at 09:30 on the
/// visit day.
pub(super) struct Kiosk {
    pub(super) flow: Flow,
    pub(super) catalog: Catalog,
    free: u32,
    start: Instant,
    at: Duration,
}

impl Kiosk {
    pub(super) fn new(free: u32) -> Self {
        let start = Instant::now();
        Self {
            flow: Flow::new(FlowConfig::default(), start),
            catalog: catalog(),
            free,
            start,
            at: Duration::ZERO,
        }
    }

    pub(super) fn send(&mut self, event: Event) -> Vec<Command> {
        // The kiosk's seats in the slot, less what this session holds.
        let (free, held) = (self.free, self.flow.session().held);
        let free_seats = move |_: &str| free.saturating_sub(held);
        let ctx = Ctx {
            catalog: &self.catalog,
            now: Utc.with_ymd_and_hms(2026, 12, 6, 14, 30, 0).unwrap(),
            now_local: local("2026-12-06 09:30"),
            free_seats: &free_seats,
        };
        self.flow.handle(event, self.start + self.at, &ctx)
    }

    pub(super) fn tap(&mut self, tap: Tap) -> Vec<Command> {
        self.send(Event::Tap(tap))
    }

    /// Moves the clock on by `secs` and ticks.
    pub(super) fn wait(&mut self, secs: u64) -> Vec<Command> {
        self.at += Duration::from_secs(secs);
        self.send(Event::Tick)
    }

    /// The kiosk's clock now.
    pub(super) fn now(&self) -> Instant {
        self.start + self.at
    }

    pub(super) fn screen(&self) -> &Screen {
        self.flow.screen()
    }
}

fn jane() -> VisitorForm {
    VisitorForm {
        first: "Jane".into(),
        last: "Doe".into(),
        email: "jane@example.org".into(),
        phone: String::new(),
        receipt_by_email: true,
    }
}

/// Matching asked for Jane's details as typed.
fn jane_preview() -> Command {
    Command::PreviewMatch(Box::new(
        Session {
            form: jane(),
            ..Session::default()
        }
        .visitor(),
    ))
}

fn hold(seats: u32) -> Command {
    Command::SetHold {
        slot: "zoo@10:00".into(),
        seats,
    }
}

fn qty(category: &str, delta: i32) -> Tap {
    Tap::Quantity {
        category: category.into(),
        delta,
    }
}

/// Welcome → two adults and a child in the 10:00 slot, each hold answered → "are you a member?".
fn to_ask_member(k: &mut Kiosk) {
    k.tap(Tap::Start(Purpose::Tickets));
    k.tap(Tap::Slot {
        product: "TIMED".into(),
        slot: "zoo@10:00".into(),
    });
    for (category, seats) in [("adult", 1), ("adult", 2), ("child", 3)] {
        assert_eq!(k.tap(qty(category, 1)), vec![hold(seats)]);
        k.send(Event::Held {
            seats,
            free: k.free - seats,
        });
    }
    k.tap(Tap::Next);
    assert_eq!(k.screen(), &Screen::AskMember);
}

/// Each step: what happens, the screen after it, the commands it gives the shell.
type Step = (Event, Screen, Vec<Command>);

fn walk(k: &mut Kiosk, what: &str, steps: Vec<Step>) {
    for (i, (event, screen, commands)) in steps.into_iter().enumerate() {
        let got = k.send(event.clone());
        assert_eq!(k.screen(), &screen, "{what}, step {i}: {event:?}");
        assert_eq!(got, commands, "{what}, step {i}: {event:?}");
    }
}

fn tap(t: Tap) -> Event {
    Event::Tap(t)
}

/// The visitor is no member and gives their details; matching is asked.
fn as_non_member() -> Vec<Step> {
    vec![
        (
            tap(Tap::IsMember(false)),
            Screen::Details { problem: None },
            vec![],
        ),
        (
            tap(Tap::Details(jane())),
            Screen::Matching,
            vec![jane_preview()],
        ),
    ]
}

fn matched(preview: MatchPreview) -> Step {
    (
        Event::Matched(preview),
        Screen::Review { problem: None },
        vec![],
    )
}

fn pay(amount: MinorUnits) -> Step {
    let start = Command::StartPayment {
        amount,
        currency: "USD".into(),
    };
    (
        tap(Tap::Pay),
        Screen::Paying { cancelling: false },
        vec![start],
    )
}

fn approved(reference: &str) -> Step {
    let outcome = PaymentOutcome::Approved {
        reference: reference.into(),
    };
    (
        Event::Payment(outcome),
        Screen::Committing,
        vec![Command::CommitOrder],
    )
}

fn committed() -> Step {
    let order_no = "K1-00001".into();
    (
        Event::Committed { order_no },
        Screen::Printing,
        vec![Command::Print],
    )
}

fn refused(outcome: PaymentOutcome, problem: PaymentProblem) -> Step {
    (
        Event::Payment(outcome),
        Screen::PaymentProblem(problem),
        vec![],
    )
}

fn member_id(problem: Option<MemberProblem>) -> Screen {
    Screen::MemberId { problem }
}

fn lookup(id: &str) -> Vec<Command> {
    vec![Command::LookupMember {
        membership_id: id.into(),
    }]
}

/// Jane's details with the one more detail she was asked for.
fn with_phone(phone: &str) -> Command {
    let mut visitor = Session {
        form: jane(),
        ..Session::default()
    }
    .visitor();
    visitor.phone = Some(phone.into());
    Command::PreviewMatch(Box::new(visitor))
}

#[test]
fn the_paths_through_a_ticket_purchase() {
    use MatchPreview as M;
    use PaymentOutcome as P;
    let one = |id: &str| M::One {
        lookup_id: id.into(),
    };
    let phone = ExtraDetail::Phone;
    let paths: Vec<(&str, Vec<Step>, Matched)> = vec![
        (
            "a non-member pays and prints",
            [
                as_non_member(),
                vec![matched(M::None), pay(6712), approved("pay-1"), committed()],
            ]
            .concat(),
            Matched::NewRecord,
        ),
        (
            "the paper runs out: the order stands, the desk prints",
            [
                as_non_member(),
                vec![
                    matched(one("8-10001")),
                    pay(6712),
                    approved("pay-1"),
                    committed(),
                ],
                vec![(
                    Event::Printed(Printed::NotAll),
                    Screen::CollectAtDesk,
                    vec![],
                )],
            ]
            .concat(),
            Matched::Record {
                lookup_id: "8-10001".into(),
            },
        ),
        (
            "a declined card, then another that goes through",
            [
                as_non_member(),
                vec![matched(M::None), pay(6712)],
                vec![(tap(Tap::Back), Screen::Paying { cancelling: false }, vec![])],
                vec![refused(P::Declined, PaymentProblem::Declined)],
                vec![(tap(Tap::Retry), Screen::Review { problem: None }, vec![])],
                vec![pay(6712), approved("pay-2")],
            ]
            .concat(),
            Matched::NewRecord,
        ),
        (
            "the visitor cancels at the terminal; the terminal decides",
            [
                as_non_member(),
                vec![matched(M::None), pay(6712)],
                vec![
                    (
                        tap(Tap::Cancel),
                        Screen::Paying { cancelling: true },
                        vec![Command::CancelPayment],
                    ),
                    (
                        tap(Tap::Cancel),
                        Screen::Paying { cancelling: true },
                        vec![],
                    ),
                ],
                vec![refused(P::CancelledByVisitor, PaymentProblem::Cancelled)],
            ]
            .concat(),
            Matched::NewRecord,
        ),
        (
            "the terminal fails",
            [
                as_non_member(),
                vec![
                    matched(M::None),
                    pay(6712),
                    refused(P::TerminalFault, PaymentProblem::TerminalFault),
                ],
            ]
            .concat(),
            Matched::NewRecord,
        ),
        (
            "the printer has no paper: no payment is taken until it has",
            [
                as_non_member(),
                vec![
                    matched(M::None),
                    pay(6712),
                    (
                        Event::PrinterNotReady(PrinterProblem::PaperOut),
                        Screen::CannotPrint(PrinterProblem::PaperOut),
                        vec![],
                    ),
                    (tap(Tap::Retry), Screen::Review { problem: None }, vec![]),
                    pay(6712),
                    approved("PAY-7"),
                ],
            ]
            .concat(),
            Matched::NewRecord,
        ),
        (
            "a member's card pays for two; the child is a guest (700 + 58 tax)",
            vec![
                (tap(Tap::IsMember(true)), member_id(None), vec![]),
                (
                    tap(Tap::MemberId("M 1!".into())),
                    member_id(Some(MemberProblem::Id(IdError::BadCharacter))),
                    vec![],
                ),
                (
                    tap(Tap::MemberId(" M-2001 ".into())),
                    member_id(None),
                    lookup("M-2001"),
                ),
                (
                    Event::Member(MemberLookup::NotFound),
                    member_id(Some(MemberProblem::NotFound)),
                    vec![],
                ),
                (
                    Event::Scanned {
                        membership_id: "M-2002".into(),
                    },
                    member_id(None),
                    lookup("M-2002"),
                ),
                (
                    Event::Member(MemberLookup::Found(family())),
                    Screen::Details { problem: None },
                    vec![],
                ),
                (
                    tap(Tap::Details(jane())),
                    Screen::Matching,
                    vec![jane_preview()],
                ),
                matched(one("8-10001")),
                pay(758),
            ],
            Matched::Record {
                lookup_id: "8-10001".into(),
            },
        ),
        (
            "a lapsed membership is refused, and the visitor goes on as a non-member",
            vec![
                (tap(Tap::IsMember(true)), member_id(None), vec![]),
                (
                    tap(Tap::MemberId("M-3".into())),
                    member_id(None),
                    lookup("M-3"),
                ),
                (
                    Event::Member(MemberLookup::NotValid),
                    member_id(Some(MemberProblem::NotValid)),
                    vec![],
                ),
                (tap(Tap::Back), Screen::AskMember, vec![]),
                (
                    tap(Tap::IsMember(false)),
                    Screen::Details { problem: None },
                    vec![],
                ),
            ],
            Matched::NotYet,
        ),
        (
            "several records match: one more detail, and then one",
            [
                as_non_member(),
                vec![
                    (
                        Event::Matched(M::Several),
                        Screen::OneMoreDetail { detail: phone },
                        vec![],
                    ),
                    (
                        tap(Tap::Extra("  ".into())),
                        Screen::OneMoreDetail { detail: phone },
                        vec![],
                    ),
                    (
                        tap(Tap::Extra("+1 555 0100".into())),
                        Screen::Matching,
                        vec![with_phone("+1 555 0100")],
                    ),
                    matched(one("8-10002")),
                ],
            ]
            .concat(),
            Matched::Record {
                lookup_id: "8-10002".into(),
            },
        ),
        (
            "still several after one more detail: never a silent pick",
            [
                as_non_member(),
                vec![
                    (
                        Event::Matched(M::Several),
                        Screen::OneMoreDetail { detail: phone },
                        vec![],
                    ),
                    (
                        tap(Tap::Extra("+1 555 0100".into())),
                        Screen::Matching,
                        vec![with_phone("+1 555 0100")],
                    ),
                    matched(M::Several),
                ],
            ]
            .concat(),
            Matched::NewRecordForReview,
        ),
    ];
    for (what, steps, who) in paths {
        let mut k = Kiosk::new(40);
        to_ask_member(&mut k);
        walk(&mut k, what, steps);
        assert_eq!(k.flow.session().matched, who, "{what}");
    }

    // "Thank you" returns to the welcome screen by itself, and the seats just sold are not let
    // go as if they were still held.
    let mut k = Kiosk::new(40);
    to_ask_member(&mut k);
    let done = (Event::Printed(Printed::All), Screen::Done, vec![]);
    let steps = [
        as_non_member(),
        vec![
            matched(M::None),
            pay(6712),
            approved("pay-1"),
            committed(),
            done,
        ],
    ]
    .concat();
    walk(&mut k, "to done", steps);
    assert_eq!(k.wait(19), vec![]);
    assert_eq!(k.screen(), &Screen::Done);
    assert_eq!(k.wait(1), vec![]);
    assert_eq!(k.screen(), &Screen::Welcome);
    assert_eq!(k.flow.session(), &Session::default());
}

fn family() -> MemberContext {
    MemberContext {
        membership_id: "M-2002".into(),
        level: "Family".into(),
        benefit: MemberBenefit {
            covered: 2,
            guests: 2,
        },
    }
}

/// From "are you a member?": no, Jane's details, no record matches → the review.
fn to_review(k: &mut Kiosk) {
    to_ask_member(k);
    for e in [
        tap(Tap::IsMember(false)),
        tap(Tap::Details(jane())),
        Event::Matched(MatchPreview::None),
    ] {
        k.send(e);
    }
    assert_eq!(k.screen(), &Screen::Review { problem: None });
}

#[test]
fn back_goes_one_screen_up_and_cancel_ends_the_session_everywhere_but_a_payment() {
    use Screen as S;
    /// Where the visitor starts: the welcome screen, "are you a member?" or the review.
    #[derive(Clone, Copy)]
    enum From {
        Welcome,
        AskMember,
        Review,
    }
    // (the screen, where from, what leads there, where Back leads)
    let cases: Vec<(&str, From, Vec<Event>, Screen)> = vec![
        (
            "slots",
            From::Welcome,
            vec![tap(Tap::Start(Purpose::Tickets))],
            S::Welcome,
        ),
        (
            "levels",
            From::Welcome,
            vec![tap(Tap::Start(Purpose::Membership))],
            S::Welcome,
        ),
        (
            "ask member (membership)",
            From::Welcome,
            vec![
                tap(Tap::Start(Purpose::Membership)),
                tap(Tap::Level("MEM-FAM".into())),
            ],
            S::Levels,
        ),
        (
            "ask member (tickets)",
            From::AskMember,
            vec![],
            S::Quantities { problem: None },
        ),
        (
            "member id",
            From::AskMember,
            vec![tap(Tap::IsMember(true))],
            S::AskMember,
        ),
        (
            "details",
            From::AskMember,
            vec![tap(Tap::IsMember(false))],
            S::AskMember,
        ),
        (
            "one more detail",
            From::AskMember,
            vec![
                tap(Tap::IsMember(false)),
                tap(Tap::Details(jane())),
                Event::Matched(MatchPreview::Several),
            ],
            S::Details { problem: None },
        ),
        ("review", From::Review, vec![], S::Details { problem: None }),
        (
            "payment problem",
            From::Review,
            vec![tap(Tap::Pay), Event::Payment(PaymentOutcome::TimedOut)],
            S::Review { problem: None },
        ),
        (
            "cannot print",
            From::Review,
            vec![
                tap(Tap::Pay),
                Event::PrinterNotReady(PrinterProblem::CoverOpen),
            ],
            S::Review { problem: None },
        ),
    ];
    let reach = |from: From, events: &[Event]| {
        let mut k = Kiosk::new(40);
        match from {
            From::Welcome => {}
            From::AskMember => to_ask_member(&mut k),
            From::Review => to_review(&mut k),
        }
        for e in events {
            k.send(e.clone());
        }
        k
    };
    for (what, from, events, back) in cases {
        let mut k = reach(from, &events);
        k.tap(Tap::Back);
        assert_eq!(k.screen(), &back, "back from {what}");

        let mut k = reach(from, &events);
        let held = k.flow.session().held;
        let commands = k.tap(Tap::Cancel);
        assert_eq!(k.screen(), &S::Welcome, "cancel on {what}");
        assert_eq!(k.flow.session(), &Session::default(), "cancel on {what}");
        let released = if held > 0 { vec![hold(0)] } else { vec![] };
        assert_eq!(commands, released, "cancel on {what}");
    }

    // A payment under way: Back does nothing, Cancel asks the terminal (tested above); once
    // approved, nothing the visitor touches undoes the order.
    let mut k = reach(From::Review, &[tap(Tap::Pay)]);
    k.send(Event::Payment(PaymentOutcome::Approved {
        reference: "pay-1".into(),
    }));
    for t in [
        Tap::Back,
        Tap::Cancel,
        Tap::Pay,
        Tap::Start(Purpose::Tickets),
    ] {
        assert_eq!(k.tap(t.clone()), vec![], "{t:?}");
        assert_eq!(k.screen(), &S::Committing, "{t:?}");
    }
}

#[test]
fn seats_are_held_as_quantities_change_and_never_beyond_what_the_kiosk_has() {
    let mut k = Kiosk::new(3);
    k.tap(Tap::Start(Purpose::Tickets));
    // A closed slot or an unknown product is not taken.
    k.tap(Tap::Slot {
        product: "TIMED".into(),
        slot: "zoo@09:00".into(),
    });
    assert_eq!(k.screen(), &Screen::Slots);
    k.tap(Tap::Slot {
        product: "MEM-FAM".into(),
        slot: "zoo@10:00".into(),
    });
    assert_eq!(k.screen(), &Screen::Slots);
    k.tap(Tap::Slot {
        product: "TIMED".into(),
        slot: "zoo@10:00".into(),
    });
    assert_eq!(k.tap(Tap::Next), vec![]);
    assert_eq!(
        k.screen(),
        &Screen::Quantities {
            problem: Some(QuantityProblem::NoneChosen)
        }
    );
    assert_eq!(
        k.tap(qty("senior", 1)),
        vec![],
        "a category the product does not price"
    );
    assert_eq!(k.tap(qty("adult", 2)), vec![hold(2)]);
    // Next waits for the hold to be confirmed.
    k.tap(Tap::Next);
    assert_ne!(k.screen(), &Screen::AskMember);
    k.send(Event::Held { seats: 2, free: 1 });
    assert_eq!(k.tap(qty("child", 1)), vec![hold(3)]);
    // The kiosk has 3 seats: a fourth is refused on the spot.
    k.send(Event::Held { seats: 3, free: 0 });
    assert_eq!(k.tap(qty("child", 1)), vec![]);
    assert_eq!(
        k.screen(),
        &Screen::Quantities {
            problem: Some(QuantityProblem::OnlyLeft(3))
        }
    );
    assert_eq!(k.tap(qty("adult", -1)), vec![hold(2)]);
    // Another kiosk's sale took a seat meanwhile: the kiosk could hold only one.
    k.send(Event::Held { seats: 1, free: 0 });
    assert_eq!(k.flow.session().quantities.values().sum::<u32>(), 1);
    assert_eq!(
        k.screen(),
        &Screen::Quantities {
            problem: Some(QuantityProblem::OnlyLeft(0))
        }
    );
    // Back to the slots lets the seats go.
    assert_eq!(k.tap(Tap::Back), vec![hold(0)]);
    assert!(k.flow.session().quantities.is_empty());
}

#[test]
fn an_idle_session_is_asked_still_there_and_then_forgotten_with_its_seats() {
    // Untouched for 90 s: the question; a touch keeps everything.
    let mut k = Kiosk::new(40);
    to_review(&mut k);
    k.tap(Tap::Lang(Lang::Es));
    assert_eq!(k.wait(89), vec![]);
    assert_eq!(k.flow.still_there(k.start + k.at), None);
    assert_eq!(k.wait(1), vec![]);
    assert_eq!(
        k.flow.still_there(k.start + k.at),
        Some(Duration::from_secs(30))
    );
    assert_eq!(k.tap(Tap::StillHere), vec![]);
    assert_eq!(k.flow.still_there(k.start + k.at), None);
    assert_eq!(k.screen(), &Screen::Review { problem: None });

    // Nobody answers: after the countdown every detail and every seat is gone.
    assert_eq!(k.wait(90), vec![]);
    assert_eq!(k.wait(29), vec![]);
    assert_eq!(k.screen(), &Screen::Review { problem: None });
    assert_eq!(k.wait(1), vec![hold(0), Command::SelectLanguage(Lang::En)]);
    assert_eq!(k.screen(), &Screen::Welcome);
    assert_eq!(k.flow.session(), &Session::default());
    let everything = format!("{:?}", k.flow);
    for typed in ["Jane", "Doe", "jane@example.org", "zoo@10:00", "adult"] {
        assert!(
            !everything.contains(typed),
            "{typed} outlived the session: {everything}"
        );
    }

    // While paying, nobody is timed out.
    let mut k = Kiosk::new(40);
    to_review(&mut k);
    k.tap(Tap::Pay);
    assert_eq!(k.wait(600), vec![]);
    assert_eq!(k.screen(), &Screen::Paying { cancelling: false });
    assert_eq!(k.flow.still_there(k.start + k.at), None);
}

#[test]
fn a_member_renews_at_the_member_price() {
    let mut k = Kiosk::new(40);
    k.tap(Tap::Start(Purpose::Membership));
    k.tap(Tap::Level("NOT-SOLD".into()));
    assert_eq!(k.screen(), &Screen::Levels);
    k.tap(Tap::Level("MEM-FAM".into()));
    k.tap(Tap::IsMember(true));
    k.tap(Tap::MemberId("M-2002".into()));
    k.send(Event::Member(MemberLookup::Found(family())));
    k.tap(Tap::Details(jane()));
    k.send(Event::Matched(MatchPreview::One {
        lookup_id: "8-10001".into(),
    }));
    let cmds = k.tap(Tap::Pay);
    // 11,500 plus 8.25 % tax (948.75, rounded up).
    assert_eq!(
        cmds,
        vec![Command::StartPayment {
            amount: 12449,
            currency: "USD".into()
        }]
    );
}

#[test]
fn details_are_checked_before_matching() {
    let form = |first: &str, last: &str, email: &str, phone: &str, receipt: bool| VisitorForm {
        first: first.into(),
        last: last.into(),
        email: email.into(),
        phone: phone.into(),
        receipt_by_email: receipt,
    };
    let long = "x".repeat(MAX_FIELD_CHARS + 1);
    let cases = [
        (form("Jane", "Doe", "jane@example.org", "", true), None),
        (form("Jane", "Doe", "", "+1 555 0100", false), None),
        (
            form(" ", "Doe", "jane@example.org", "", false),
            Some(FormProblem::FirstNameMissing),
        ),
        (
            form("Jane", "", "jane@example.org", "", false),
            Some(FormProblem::LastNameMissing),
        ),
        (
            form("Jane", "Doe", "", " ", false),
            Some(FormProblem::EmailOrPhoneMissing),
        ),
        (
            form("Jane", "Doe", "jane@", "", false),
            Some(FormProblem::EmailNotValid),
        ),
        (
            form("Jane", "Doe", "jane@example.", "", false),
            Some(FormProblem::EmailNotValid),
        ),
        (
            form("Jane", "Doe", "ja ne@example.org", "", false),
            Some(FormProblem::EmailNotValid),
        ),
        (
            form("Jane", "Doe", "", "+1 555 0100", true),
            Some(FormProblem::EmailNotValid),
        ),
        (
            form(&long, "Doe", "jane@example.org", "", false),
            Some(FormProblem::TooLong),
        ),
    ];
    for (f, want) in cases {
        assert_eq!(form_problem(&f), want, "{f:?}");
    }
    // A form with a problem stays on the screen and matches nothing.
    let mut k = Kiosk::new(40);
    to_ask_member(&mut k);
    k.tap(Tap::IsMember(false));
    let cmds = k.tap(Tap::Details(form(
        "Jane",
        "",
        "jane@example.org",
        "",
        false,
    )));
    assert_eq!(cmds, vec![]);
    assert_eq!(
        k.screen(),
        &Screen::Details {
            problem: Some(FormProblem::LastNameMissing)
        }
    );
}

/// Types `text` on the on-screen keyboard, one key per character, as the screen shows it.
fn type_keys(k: &mut Kiosk, text: &str) {
    use crate::kiosk::keyboard::Key;
    for c in text.chars() {
        let key = match c {
            ' ' => Key::Space,
            '<' => Key::Backspace,
            c => Key::Text(c.to_string()),
        };
        k.tap(Tap::Key(key));
    }
}

#[test]
fn details_are_typed_on_the_keyboard_into_the_session_and_wiped_with_it() {
    use crate::kiosk::keyboard::{Field, Layout};
    let mut k = Kiosk::new(40);
    to_ask_member(&mut k);
    k.tap(Tap::IsMember(false));
    assert_eq!(
        k.flow.session().focus,
        Field::First,
        "the first empty field"
    );
    assert_eq!(k.flow.layout(), Layout::Letters);
    type_keys(&mut k, "Jane");
    // A key on a screen without a field types nothing.
    k.tap(Tap::Focus(Field::MemberId));
    assert_eq!(k.flow.session().focus, Field::First);
    k.tap(Tap::Focus(Field::Last));
    type_keys(&mut k, "Doex<");
    k.tap(Tap::Focus(Field::Email));
    assert_eq!(k.flow.layout(), Layout::Email);
    type_keys(&mut k, "jane@example.org");
    k.tap(Tap::Consent(true));
    assert_eq!(k.flow.session().form, jane());
    assert_eq!(k.tap(Tap::Next), vec![jane_preview()]);
    assert_eq!(k.screen(), &Screen::Matching);

    // Several records: the keyboard opens on the one more detail, as a phone pad.
    k.send(Event::Matched(MatchPreview::Several));
    assert_eq!(
        k.screen(),
        &Screen::OneMoreDetail {
            detail: ExtraDetail::Phone
        }
    );
    assert_eq!(
        (k.flow.session().focus, k.flow.layout()),
        (Field::Extra, Layout::Phone)
    );
    type_keys(&mut k, "555 0100");
    assert_eq!(k.tap(Tap::Next), vec![with_phone("5550100")]);

    // A missing field takes the keyboard to it.
    let mut k = Kiosk::new(40);
    to_ask_member(&mut k);
    k.tap(Tap::IsMember(false));
    type_keys(&mut k, "Jane");
    k.tap(Tap::Next);
    assert_eq!(
        (k.screen(), k.flow.session().focus),
        (
            &Screen::Details {
                problem: Some(FormProblem::LastNameMissing)
            },
            Field::Last
        )
    );
    k.wait(200);
    k.wait(40);
    assert_eq!(k.screen(), &Screen::Welcome);
    assert_eq!(
        k.flow.session(),
        &Session::default(),
        "nothing typed is left"
    );
}

#[test]
fn a_membership_id_is_typed_and_looked_up_on_next() {
    let mut k = Kiosk::new(40);
    to_ask_member(&mut k);
    k.tap(Tap::IsMember(true));
    assert_eq!(
        k.flow.layout(),
        crate::kiosk::keyboard::Layout::Id,
        "digits and capitals"
    );
    type_keys(&mut k, "M-1001");
    assert_eq!(k.tap(Tap::Next), lookup("M-1001"));
}

#[test]
fn entry_times_of_another_day_within_the_week() {
    let mut k = Kiosk::new(40);
    k.tap(Tap::Start(Purpose::Tickets));
    let today = local("2026-12-06 09:30").date();
    for (day, shown) in [
        (
            today + chrono::Days::new(3),
            Some(today + chrono::Days::new(3)),
        ),
        (
            today + chrono::Days::new(DAYS_AHEAD),
            Some(today + chrono::Days::new(3)),
        ),
        (
            today - chrono::Days::new(1),
            Some(today + chrono::Days::new(3)),
        ),
        (today, Some(today)),
    ] {
        k.tap(Tap::Day(day));
        assert_eq!(k.flow.session().day, shown, "tapped {day}");
    }
}

#[test]
fn a_kiosk_that_cannot_print_takes_no_visitor_until_its_printer_is_ready() {
    let mut k = Kiosk::new(40);
    k.send(Event::PrinterChecked(Some(PrinterProblem::PaperOut)));
    assert_eq!(k.flow.printer_problem(), Some(PrinterProblem::PaperOut));
    k.tap(Tap::Start(Purpose::Tickets));
    assert_eq!(k.screen(), &Screen::Welcome, "no visitor starts");
    k.send(Event::PrinterChecked(None));
    k.tap(Tap::Start(Purpose::Tickets));
    assert_eq!(k.screen(), &Screen::Slots);

    // Found out at the payment: the kiosk is out of service until a check or a payment says
    // the printer is ready again.
    let mut k = Kiosk::new(40);
    to_review(&mut k);
    k.tap(Tap::Pay);
    k.send(Event::PrinterNotReady(PrinterProblem::CoverOpen));
    assert_eq!(k.flow.printer_problem(), Some(PrinterProblem::CoverOpen));
    k.tap(Tap::Retry);
    k.tap(Tap::Pay);
    k.send(Event::Payment(PaymentOutcome::Declined));
    assert_eq!(k.flow.printer_problem(), None);
}

#[test]
fn an_out_of_order_kiosk_stops_sales_or_everything_as_its_reason_requires() {
    use crate::kiosk::out_of_order::OutOfOrder;
    // (reason, sales start, check-in starts, a scanned card starts a check-in)
    let cases = [
        (None, true, true, true),
        (Some(OutOfOrder::TerminalUnreachable), false, true, true),
        (
            Some(OutOfOrder::Printer(PrinterProblem::PaperOut)),
            false,
            true,
            true,
        ),
        (Some(OutOfOrder::HubUnreachable), false, false, false),
        (Some(OutOfOrder::ServiceMode), false, false, false),
        (Some(OutOfOrder::NotReady), false, false, false),
    ];
    for (reason, sells, checks_in, scans) in cases {
        let fresh = || {
            let mut k = Kiosk::new(40);
            match reason {
                Some(OutOfOrder::Printer(p)) => k.send(Event::PrinterChecked(Some(p))),
                r => k.send(Event::OutOfOrder(r)),
            };
            assert_eq!(k.flow.out_of_order(), reason);
            k
        };
        let mut k = fresh();
        k.tap(Tap::Start(Purpose::Tickets));
        assert_eq!(k.screen() == &Screen::Slots, sells, "{reason:?} tickets");
        let mut k = fresh();
        k.tap(Tap::Start(Purpose::Membership));
        assert_eq!(
            k.screen() == &Screen::Levels,
            sells,
            "{reason:?} membership"
        );
        let mut k = fresh();
        k.tap(Tap::Start(Purpose::CheckIn));
        assert_eq!(
            k.screen() != &Screen::Welcome,
            checks_in,
            "{reason:?} check-in"
        );
        let mut k = fresh();
        k.tap(Tap::Start(Purpose::Volunteer));
        assert_eq!(
            k.screen() != &Screen::Welcome,
            checks_in,
            "{reason:?} volunteer"
        );
        let mut k = fresh();
        k.send(Event::Scanned {
            membership_id: "M-1001".into(),
        });
        assert_eq!(k.screen() != &Screen::Welcome, scans, "{reason:?} card");
    }
    // Back in order: the kiosk sells again.
    let mut k = Kiosk::new(40);
    k.send(Event::OutOfOrder(Some(OutOfOrder::ServiceMode)));
    k.send(Event::OutOfOrder(None));
    k.tap(Tap::Start(Purpose::Tickets));
    assert_eq!(k.screen(), &Screen::Slots);
}

#[test]
fn the_keyboard_always_types_into_a_field_the_screen_shows() {
    use crate::kiosk::keyboard::{Field, Key, Layout};
    // A scanned card the replica does not know: the number is typed on the ID keys.
    let mut k = Kiosk::new(40);
    to_ask_member(&mut k);
    k.send(Event::Scanned {
        membership_id: "M-404".into(),
    });
    k.send(Event::Member(MemberLookup::NotFound));
    assert_eq!(
        (k.flow.session().focus, k.flow.layout()),
        (Field::MemberId, Layout::Id)
    );
    type_keys(&mut k, "M-1001");
    assert_eq!(k.flow.session().typed_id, "M-1001");
    assert_eq!(k.flow.session().form.first, "", "nothing typed into a name");

    // Back from the one more detail, and from the review: the keyboard is on the form again.
    for back_from_review in [false, true] {
        let mut k = Kiosk::new(40);
        to_ask_member(&mut k);
        k.tap(Tap::IsMember(false));
        k.tap(Tap::Details(jane()));
        k.send(Event::Matched(MatchPreview::Several));
        if back_from_review {
            type_keys(&mut k, "5550100");
            k.tap(Tap::Next);
            k.send(Event::Matched(MatchPreview::One {
                lookup_id: "C-1".into(),
            }));
            assert_eq!(k.screen(), &Screen::Review { problem: None });
        }
        k.tap(Tap::Back);
        assert!(matches!(k.screen(), Screen::Details { .. }));
        assert_eq!(k.flow.session().focus, Field::Email, "{back_from_review}");
        k.tap(Tap::Key(Key::Backspace));
        assert_eq!(k.flow.session().form.email, "jane@example.or");
    }

    // Keys on a screen without a field change nothing.
    let mut k = Kiosk::new(40);
    k.tap(Tap::Key(Key::Text("x".into())));
    assert_eq!(k.flow.session(), &Kiosk::new(40).flow.session().clone());
}

#[test]
fn the_receipt_box_turns_over_with_each_tap() {
    let mut k = Kiosk::new(40);
    to_ask_member(&mut k);
    k.tap(Tap::IsMember(false));
    for want in [true, false, true] {
        k.tap(Tap::ToggleConsent);
        assert_eq!(k.flow.session().form.receipt_by_email, want);
    }
}

/// The zoo's add-ons: parking and a ride for the day, a feeding with entry times of its own,
/// and a ride no longer on sale.
fn with_add_ons(k: &mut Kiosk) {
    let add_on = |id: &str, admission, sort, until| CatalogProduct {
        id: id.into(),
        kind: ProductKind::Addon,
        names: Text::new(id, ""),
        admission,
        prices: vec![],
        flat: Some((1000, 0)),
        tax_rule: "sales".into(),
        currency: "USD".into(),
        sale_from: None,
        sale_until: until,
        member_benefit: false,
        ticket_uses: 1,
        membership: None,
        sort,
    };
    let gone = Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    for p in [
        add_on("PARKING", Admission::Dated, 2, None),
        add_on("CAROUSEL", Admission::Dated, 1, None),
        add_on(
            "GIRAFFE",
            Admission::Timed {
                slot_group: "giraffe".into(),
            },
            0,
            None,
        ),
        add_on("PONY", Admission::Dated, 0, gone),
    ] {
        k.catalog.products.insert(p.id.clone(), p);
    }
}

/// One adult ticket at 10:00 chosen, with add-ons on sale: on to "Anything else?".
fn to_add_ons(k: &mut Kiosk) {
    with_add_ons(k);
    k.tap(Tap::Start(Purpose::Tickets));
    k.tap(Tap::Slot {
        product: "TIMED".into(),
        slot: "zoo@10:00".into(),
    });
    k.tap(qty("adult", 1));
    k.send(Event::Held { seats: 1, free: 39 });
    k.tap(Tap::Next);
}

#[test]
fn add_ons_come_after_the_quantities_and_join_the_basket() {
    let mut k = Kiosk::new(40);
    to_add_ons(&mut k);
    assert_eq!(k.screen(), &Screen::AddOns { problem: None });
    let offered: Vec<_> = add_ons(
        &k.catalog,
        Utc.with_ymd_and_hms(2026, 12, 6, 14, 30, 0).unwrap(),
    )
    .iter()
    .map(|p| p.id.clone())
    .collect();
    assert_eq!(
        offered,
        ["CAROUSEL", "PARKING"],
        "no timed add-on, none off sale"
    );

    // (tap, add-ons in the session after it, screen after it)
    let add = |product: &str, delta| Tap::AddOn {
        product: product.into(),
        delta,
    };
    type Step<'a> = (Tap, Vec<(&'a str, u32)>, Screen);
    let steps: Vec<Step> = vec![
        (
            add("PARKING", 1),
            vec![("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (
            add("PARKING", 1),
            vec![("PARKING", 2)],
            Screen::AddOns { problem: None },
        ),
        (
            add("PARKING", -1),
            vec![("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (
            add("GIRAFFE", 1),
            vec![("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (
            add("PONY", 1),
            vec![("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (
            add("TIMED", 1),
            vec![("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (
            add("CAROUSEL", 99),
            vec![("PARKING", 1)],
            Screen::AddOns {
                problem: Some(QuantityProblem::TooMany),
            },
        ),
        (
            add("CAROUSEL", 1),
            vec![("CAROUSEL", 1), ("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (
            add("CAROUSEL", -1),
            vec![("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        // 97 rides, a parking and an adult: the 99 one order holds, counted on both screens.
        (
            add("CAROUSEL", 97),
            vec![("CAROUSEL", 97), ("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (
            Tap::Back,
            vec![("CAROUSEL", 97), ("PARKING", 1)],
            Screen::Quantities { problem: None },
        ),
        (
            qty("adult", 1),
            vec![("CAROUSEL", 97), ("PARKING", 1)],
            Screen::Quantities {
                problem: Some(QuantityProblem::TooMany),
            },
        ),
        (
            Tap::Next,
            vec![("CAROUSEL", 97), ("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (
            add("CAROUSEL", -97),
            vec![("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (
            Tap::Back,
            vec![("PARKING", 1)],
            Screen::Quantities { problem: None },
        ),
        (
            Tap::Next,
            vec![("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (Tap::Next, vec![("PARKING", 1)], Screen::AskMember),
        (
            Tap::Back,
            vec![("PARKING", 1)],
            Screen::AddOns { problem: None },
        ),
        (Tap::Next, vec![("PARKING", 1)], Screen::AskMember),
    ];
    for (i, (tap, add_ons, screen)) in steps.into_iter().enumerate() {
        k.tap(tap);
        let now: Vec<(&str, u32)> = k
            .flow
            .session()
            .add_ons
            .iter()
            .map(|(p, n)| (p.as_str(), *n))
            .collect();
        assert_eq!(now, add_ons, "step {i}");
        assert_eq!(k.screen(), &screen, "step {i}");
    }
    assert_eq!(
        k.flow.session().cart(),
        vec![
            CartLine {
                product: "TIMED".into(),
                category: Some("adult".into()),
                slot: Some("zoo@10:00".into()),
                quantity: 1,
            },
            CartLine {
                product: "PARKING".into(),
                category: None,
                slot: None,
                quantity: 1,
            },
        ]
    );
    // Walking away forgets the add-ons with everything else.
    k.tap(Tap::Cancel);
    assert_eq!(k.flow.session(), &Session::default());
}

#[test]
fn without_add_ons_on_sale_the_quantities_lead_straight_to_are_you_a_member() {
    let mut k = Kiosk::new(40);
    to_ask_member(&mut k);
    k.tap(Tap::Back);
    assert_eq!(k.screen(), &Screen::Quantities { problem: None });
    k.tap(Tap::AddOn {
        product: "PARKING".into(),
        delta: 1,
    });
    assert!(k.flow.session().add_ons.is_empty());
}

#[test]
fn an_add_on_no_longer_offered_leaves_the_basket_and_going_back_to_the_times_empties_it() {
    let mut k = Kiosk::new(40);
    to_add_ons(&mut k);
    for product in ["PARKING", "CAROUSEL"] {
        k.tap(Tap::AddOn {
            product: product.into(),
            delta: 1,
        });
    }
    k.tap(Tap::Back);
    // The car park closes its sale while the visitor looks at the quantities.
    k.catalog.products.remove("PARKING");
    k.tap(Tap::Next);
    assert_eq!(k.screen(), &Screen::AddOns { problem: None });
    assert_eq!(
        k.flow.session().add_ons,
        [("CAROUSEL".to_owned(), 1)].into()
    );
    k.tap(Tap::Back);
    k.tap(Tap::Back);
    assert_eq!(k.screen(), &Screen::Slots);
    assert!(k.flow.session().add_ons.is_empty());
}

/// The zoo's day pass: valid any time on the day of the visit, priced per category.
fn with_day_pass(k: &mut Kiosk) {
    let mut day = k.catalog.products["TIMED"].clone();
    day.id = "DAY".into();
    day.admission = Admission::Dated;
    day.sort = 1;
    k.catalog.products.insert(day.id.clone(), day);
}

#[test]
fn a_day_pass_is_for_a_day_the_visitor_chooses_and_holds_no_seats() {
    // No seat left in any entry time: a day pass needs none.
    let mut k = Kiosk::new(0);
    with_day_pass(&mut k);
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    let all_day = |product: &str, d: u32| Tap::AllDay {
        product: product.into(),
        day: day(d),
    };
    k.tap(Tap::Start(Purpose::Tickets));
    // Yesterday, a week ahead, a timed admission or an unknown product: nothing happens.
    for tap in [
        all_day("DAY", 5),
        all_day("DAY", 13),
        all_day("TIMED", 8),
        all_day("NOPE", 8),
    ] {
        k.tap(tap.clone());
        assert_eq!(k.screen(), &Screen::Slots, "{tap:?}");
    }
    k.tap(all_day("DAY", 8));
    assert_eq!(k.screen(), &Screen::Quantities { problem: None });
    assert_eq!(
        (
            k.flow.session().product.as_deref(),
            k.flow.session().slot.as_deref(),
            k.flow.session().day
        ),
        (Some("DAY"), None, Some(day(8)))
    );
    assert_eq!(k.tap(qty("adult", 1)), vec![], "no seats to hold");
    assert_eq!(k.tap(qty("child", 1)), vec![]);
    assert_eq!(k.screen(), &Screen::Quantities { problem: None });
    k.tap(Tap::Next);
    assert_eq!(k.screen(), &Screen::AskMember, "no hold to wait for");
    assert_eq!(
        k.flow
            .session()
            .cart()
            .iter()
            .map(|l| (l.product.as_str(), l.slot.as_deref(), l.quantity))
            .collect::<Vec<_>>(),
        [("DAY", None, 1), ("DAY", None, 1)]
    );
    // Back to the entry times and on to a timed admission: the day pass leaves the basket.
    k.tap(Tap::Back);
    k.tap(Tap::Back);
    assert_eq!(k.screen(), &Screen::Slots);
    k.free = 40;
    k.tap(Tap::Slot {
        product: "TIMED".into(),
        slot: "zoo@10:00".into(),
    });
    assert!(k.flow.session().quantities.is_empty());
    assert_eq!(k.tap(qty("adult", 1)), vec![hold(1)]);
    k.send(Event::Held { seats: 1, free: 39 });
    // … and back to the day pass: the timed seat is let go.
    assert_eq!(k.tap(Tap::Back), vec![hold(0)]);
    assert_eq!(k.tap(Tap::Product("DAY".into())), vec![]);
    assert_eq!(
        (
            k.flow.session().product.as_deref(),
            k.flow.session().slot.as_deref()
        ),
        (Some("DAY"), None)
    );
}

#[test]
fn todays_day_passes_are_sold_until_the_last_admission() {
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    // (last admission, now, day asked) → sold
    let cases = [
        (None, "2026-12-06 09:30", 6, true),
        (None, "2026-12-06 23:59", 6, true),
        (Some("16:30"), "2026-12-06 16:29", 6, true),
        (Some("16:30"), "2026-12-06 16:30", 6, false),
        (Some("16:30"), "2026-12-06 17:00", 7, true),
        (Some("16:30"), "2026-12-06 09:30", 5, false),
        (Some("16:30"), "2026-12-06 09:30", 12, true),
        (Some("16:30"), "2026-12-06 09:30", 13, false),
    ];
    for (last, now, d, want) in cases {
        let flow = Flow::new(
            FlowConfig {
                last_admission: last
                    .map(|t| chrono::NaiveTime::parse_from_str(t, "%H:%M").unwrap()),
                ..FlowConfig::default()
            },
            Instant::now(),
        );
        assert_eq!(
            flow.day_pass_sold_for(day(d), local(now)),
            want,
            "{last:?} {now} day {d}"
        );
    }
    // Past the last admission (the test kiosk's clock reads 09:30), today's pass is refused.
    let mut k = Kiosk::new(40);
    with_day_pass(&mut k);
    k.flow = Flow::new(
        FlowConfig {
            last_admission: Some(chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap()),
            ..FlowConfig::default()
        },
        k.now(),
    );
    k.tap(Tap::Start(Purpose::Tickets));
    k.tap(Tap::AllDay {
        product: "DAY".into(),
        day: day(6),
    });
    assert_eq!(k.screen(), &Screen::Slots);
    k.tap(Tap::AllDay {
        product: "DAY".into(),
        day: day(7),
    });
    assert_eq!(k.screen(), &Screen::Quantities { problem: None });
}
