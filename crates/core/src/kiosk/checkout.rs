//! The kiosk's checkout as a state machine, sans-IO: what the visitor sees, what they did, and
//! what the shell must do next.
//!
//! ```text
//! Welcome ─tickets─▶ Slots ─slot or day pass─▶ Quantities ─next─▶ (AddOns) ─next─▶ AskMember ─no─▶ Details
//!    │                                                            └─yes─▶ MemberId ─found─▶ Details
//!    └─membership─▶ Levels ─level─▶ AskMember ─▶ …
//! Details ─next─▶ (match) ─one or none─▶ Review ─pay─▶ Paying ─approved─▶ Committing ─▶ Printing
//!                    └─several─▶ OneMoreDetail ─next─▶ (match) ─▶ Review        │        ├▶ Done
//!                                                                    declined ─▶ PaymentProblem
//!                                                                                    └▶ CollectAtDesk
//! ```
//!
//! Back goes one screen up and Cancel ends the session, on every screen but those of a payment
//! under way (there Cancel asks the terminal to cancel, and the terminal decides). A visitor
//! who stops touching the screen is asked "Still there?" after `idle_timeout`; if nobody
//! answers within `still_there`, the session ends. Ending a session forgets every piece of
//! personal data (one assignment: everything the visitor gave is in [`Session`]) and releases
//! every seat it held.
//!
//! The entry-times screen offers timed admissions, a seat held per ticket in the entry time
//! chosen, and day passes (a ticket valid any time on the day chosen, which holds no seat).
//!
//! A member who only wants to walk in checks in from the welcome screen (scan the card, type
//! the membership ID, or give a last name with an email or phone): see [`check_in`].
//!
//! Several matches are never silently picked: the visitor is asked for one more detail, once;
//! if that still leaves several, the order goes to a new record that the hub queues for staff.
//!
//! [`Flow::handle`] takes one [`Event`] and the time, and returns the [`Command`]s for the
//! shell, in order. Events that make no sense on the current screen change nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::catalog::{Admission, Catalog, Lang};
use super::checkin::{CardLookup, MemberCard, MemberQuery};
use super::keyboard::{self, Field, Key, Layout};
use super::out_of_order::OutOfOrder;
use super::pricing::{CartLine, MemberBenefit, PriceError, Quote, quote};
use crate::domain::{MinorUnits, PersonName, ProductKind};
use crate::find_membership::kiosk as fmm;
use crate::find_membership::{IdError, parse_id};
use crate::intake::MAX_FIELD_CHARS;
use crate::matching::{PostalAddress, VisitorDetails};
use crate::technician::TechEvent;
use crate::volunteer::{ClockRules, Closed};

/// Days, from today, whose entry times the kiosk sells.
pub const DAYS_AHEAD: u64 = 7;

/// The add-ons offered with tickets, in the catalog's order: on sale at `now`, with one price,
/// for the visit's day or for no day. One with entry times of its own (a feeding at 14:00)
/// is not offered: its seats would need their own choice and lease.
pub fn add_ons(catalog: &Catalog, now: DateTime<Utc>) -> Vec<&super::catalog::CatalogProduct> {
    catalog
        .for_sale(ProductKind::Addon, now)
        .into_iter()
        .filter(|p| p.flat.is_some() && matches!(p.admission, Admission::Dated | Admission::None))
        .collect()
}

/// Timings of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Untouched this long, the visitor is asked "Still there?".
    pub idle_timeout: Duration,
    /// The question's countdown: then the session ends.
    pub still_there: Duration,
    /// The "Thank you" screen returns to the welcome screen after this long.
    pub done_timeout: Duration,
    /// The language a new session starts in.
    pub default_lang: Lang,
    /// The volunteer time clock's rules.
    pub clock: ClockRules,
    /// What the kiosk offers its visitors.
    pub offer: Offer,
    /// The venue's last admission: day passes for today are sold until then (`None`: all
    /// day).
    pub last_admission: Option<chrono::NaiveTime>,
}

/// What a kiosk's screen offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Offer {
    /// Tickets, memberships, member check-in, Find My Membership and the volunteer time clock.
    #[default]
    Everything,
    /// The volunteer time clock alone (a device with the `volunteer` role and no other): a
    /// badge scanned on the welcome screen looks the volunteer up; nothing is sold, so the
    /// printer does not matter.
    VolunteerClock,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(90),
            still_there: Duration::from_secs(30),
            done_timeout: Duration::from_secs(20),
            default_lang: Lang::En,
            clock: ClockRules::default(),
            offer: Offer::Everything,
            last_admission: None,
        }
    }
}

/// What the visitor came to buy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Tickets,
    Membership,
    /// A member's check-in, without an order.
    CheckIn,
    /// A volunteer's time clock.
    Volunteer,
}

/// The visitor's details as typed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VisitorForm {
    pub first: String,
    pub last: String,
    pub email: String,
    pub phone: String,
    /// The visitor agreed to receive the receipt by email.
    pub receipt_by_email: bool,
}

/// The one more detail asked for when several records match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraDetail {
    Phone,
    Email,
    Postcode,
}

/// A membership found for the visitor, as the session uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberContext {
    pub membership_id: String,
    pub level: String,
    pub benefit: MemberBenefit,
}

/// What the replica says of a membership ID typed or scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberLookup {
    Found(MemberContext),
    /// Known, but not valid today.
    NotValid,
    NotFound,
}

/// What matching the visitor's details against the replica found (nothing is written yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchPreview {
    One { lookup_id: String },
    None,
    Several,
}

/// Who the order is for, as far as the kiosk can tell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Matched {
    #[default]
    NotYet,
    Record {
        lookup_id: String,
    },
    NewRecord,
    /// Still several after one more detail: a new record, queued for staff at the hub.
    NewRecordForReview,
}

/// The terminal's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    Approved {
        reference: String,
    },
    Declined,
    CancelledByVisitor,
    TimedOut,
    /// The terminal could not be reached or failed.
    TerminalFault,
}

/// How printing went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printed {
    All,
    /// The paper ran out or the printer failed: the order stands, the desk prints it.
    NotAll,
}

/// Everything a session holds about the visitor. [`Session::default`] holds nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Session {
    pub lang: Lang,
    pub purpose: Option<Purpose>,
    /// The day whose entry times are shown (today until the visitor picks another).
    pub day: Option<NaiveDate>,
    /// The product and slot of a ticket purchase.
    pub product: Option<String>,
    pub slot: Option<String>,
    /// Tickets per visitor category.
    pub quantities: BTreeMap<String, u32>,
    /// Add-ons (parking, a carousel ride) per product, for the tickets' day.
    pub add_ons: BTreeMap<String, u32>,
    /// Seats the kiosk holds for this session in `slot`.
    pub held: u32,
    /// The membership product of a membership purchase.
    pub level: Option<String>,
    pub member: Option<MemberContext>,
    pub form: VisitorForm,
    /// The field the on-screen keyboard types into, and its one-shot capitals.
    pub focus: Field,
    pub shift: bool,
    /// A membership ID being typed.
    pub typed_id: String,
    /// The one more detail being typed.
    pub typed_extra: String,
    /// A verification code being typed.
    pub typed_code: String,
    pub extra: Option<(ExtraDetail, String)>,
    pub matched: Matched,
    pub quote: Option<Quote>,
    pub payment_reference: Option<String>,
    pub order_no: Option<String>,
    /// The membership a check-in found, and the guests the member brings today.
    pub card: Option<MemberCard>,
    pub guests: u32,
    /// The volunteer identified, with their day.
    pub volunteer: Option<VolunteerDay>,
    /// The last four digits of the volunteer's phone, as typed.
    pub typed_last4: String,
}

impl Session {
    /// The basket, as [`quote`] prices it.
    pub fn cart(&self) -> Vec<CartLine> {
        match self.purpose {
            Some(Purpose::Tickets) => self
                .quantities
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(category, n)| CartLine {
                    product: self.product.clone().unwrap_or_default(),
                    category: Some(category.clone()),
                    slot: self.slot.clone(),
                    quantity: *n,
                })
                .chain(
                    self.add_ons
                        .iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(product, n)| CartLine {
                            product: product.clone(),
                            category: None,
                            slot: None,
                            quantity: *n,
                        }),
                )
                .collect(),
            Some(Purpose::Membership) => self
                .level
                .iter()
                .map(|level| CartLine {
                    product: level.clone(),
                    category: None,
                    slot: None,
                    quantity: 1,
                })
                .collect(),
            Some(Purpose::CheckIn | Purpose::Volunteer) | None => Vec::new(),
        }
    }

    fn tickets(&self) -> u32 {
        self.quantities.values().sum()
    }

    fn add_on_units(&self) -> u32 {
        self.add_ons.values().sum()
    }

    /// The details as matching takes them, with the one more detail if asked.
    pub fn visitor(&self) -> VisitorDetails {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let mut v = VisitorDetails {
            name: PersonName {
                title: None,
                first: self.form.first.trim().to_owned(),
                middle: None,
                last: self.form.last.trim().to_owned(),
                suffix: None,
            },
            email: some(&self.form.email),
            phone: some(&self.form.phone),
            address: None,
            birth_date: None,
        };
        match &self.extra {
            Some((ExtraDetail::Email, e)) => v.email = some(e),
            Some((ExtraDetail::Phone, p)) => v.phone = some(p),
            Some((ExtraDetail::Postcode, p)) => {
                v.address = Some(PostalAddress {
                    postcode: some(p),
                    ..PostalAddress::default()
                })
            }
            None => {}
        }
        v
    }
}

/// Why the visitor's details are not accepted yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormProblem {
    FirstNameMissing,
    LastNameMissing,
    /// Matching needs an email address or a phone number.
    EmailOrPhoneMissing,
    EmailNotValid,
    TooLong,
}

/// Why the quantities cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityProblem {
    NoneChosen,
    /// The kiosk has only this many seats left in the slot.
    OnlyLeft(u32),
    TooMany,
}

/// Why a membership ID was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberProblem {
    Id(IdError),
    NotFound,
    NotValid,
}

/// Why the payment did not go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentProblem {
    Declined,
    Cancelled,
    TimedOut,
    TerminalFault,
}

/// Why the kiosk cannot print an order's tickets now (so it does not take the payment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrinterProblem {
    PaperOut,
    CoverOpen,
    /// Off, unplugged, or not answering.
    Offline,
    /// The kiosk has no printer configured.
    NoPrinter,
}

/// The screen shown.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Screen {
    #[default]
    Welcome,
    Levels,
    Slots,
    Quantities {
        problem: Option<QuantityProblem>,
    },
    /// Add-ons for the visit (parking, a ride), when the kiosk sells any that day.
    AddOns {
        problem: Option<QuantityProblem>,
    },
    AskMember,
    MemberId {
        problem: Option<MemberProblem>,
    },
    Details {
        problem: Option<FormProblem>,
    },
    OneMoreDetail {
        detail: ExtraDetail,
    },
    /// Waiting for matching's answer.
    Matching,
    /// The basket could not be priced (the catalog changed under the session).
    Review {
        problem: Option<PriceError>,
    },
    Paying {
        cancelling: bool,
    },
    /// The printer cannot print the tickets: no payment was taken.
    CannotPrint(PrinterProblem),
    PaymentProblem(PaymentProblem),
    Committing,
    Printing,
    Done,
    CollectAtDesk,
    /// Member check-in: scan the card or type the membership ID.
    CheckInFind {
        problem: Option<CheckInProblem>,
    },
    /// Member check-in by last name and an email or a phone.
    CheckInName {
        problem: Option<CheckInProblem>,
    },
    /// Several members fit the name: their first name, please.
    CheckInFirst,
    /// Looking the member up.
    CheckInLooking {
        by: LookedUpBy,
    },
    /// The membership found: its standing, the guests to bring, check in (or renew).
    CheckInCard {
        problem: Option<CheckInProblem>,
    },
    /// Recording the check-in and printing the guest passes.
    CheckInSaving,
    /// Checked in; the guest passes printed, or to be collected at the desk.
    CheckedIn {
        printed: Printed,
    },
    /// Find My Membership: the member proves they hold a membership with a code sent to its
    /// email or phone; then the check-in goes on with it.
    FindMembership(fmm::Screen),
    /// The volunteer time clock: badge, or last name and the phone's last four digits.
    VolunteerFind {
        problem: Option<VolunteerProblem>,
    },
    /// Several volunteers fit: their first name, please.
    VolunteerFirst,
    VolunteerLooking {
        by: LookedUpBy,
    },
    /// Today's shifts and events, with check-in or check-out.
    VolunteerDay {
        problem: Option<VolunteerProblem>,
    },
    VolunteerSaving,
    /// Clocked in or out.
    VolunteerDone(Clocked),
}

/// What the visitor touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tap {
    Lang(Lang),
    Start(Purpose),
    Level(String),
    /// Entry times of another day.
    Day(NaiveDate),
    /// Entry times of another timed admission (an exhibit, a feeding), or a day pass.
    Product(String),
    Slot {
        product: String,
        slot: String,
    },
    /// A day pass: a ticket valid any time on `day`.
    AllDay {
        product: String,
        day: NaiveDate,
    },
    /// One more (`+1`) or one fewer (`-1`) ticket of a category.
    Quantity {
        category: String,
        delta: i32,
    },
    /// One more (`+1`) or one fewer (`-1`) of an add-on.
    AddOn {
        product: String,
        delta: i32,
    },
    IsMember(bool),
    MemberId(String),
    /// The whole form at once (a form filled in by other means than the keyboard).
    Details(VisitorForm),
    Extra(String),
    /// The keyboard types into another field.
    Focus(Field),
    /// A key of the on-screen keyboard.
    Key(Key),
    /// Receipt by email: yes or no.
    Consent(bool),
    /// The receipt-by-email box tapped: the answer turns over.
    ToggleConsent,
    Next,
    Back,
    Cancel,
    Pay,
    Retry,
    StillHere,
    Finish,
    /// Check-in: find me by my name instead.
    ByName,
    /// One more (`+1`) or one fewer (`-1`) guest today.
    Guests(i32),
    /// Check the member in.
    CheckIn,
    /// Renew the expired membership found.
    Renew,
    /// Check-in: verify my membership with a code instead (Find My Membership).
    VerifyByCode,
    /// Find My Membership: send the code to this masked email or phone.
    Target(u32),
    /// Volunteer: check in to a shift, or walk in to an event.
    ClockIn {
        event_id: String,
        shift_id: Option<String>,
    },
    /// Volunteer: check out.
    ClockOut,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Tap(Tap),
    /// A membership card or a volunteer's badge scanned at the kiosk: the number it carries
    /// (a membership ID, or the volunteer's Lookup ID).
    Scanned {
        membership_id: String,
    },
    /// The clock, a few times a second.
    Tick,
    /// The kiosk's answer to [`Command::SetHold`]: how many seats are held now.
    Held {
        seats: u32,
        free: u32,
    },
    Member(MemberLookup),
    Matched(MatchPreview),
    /// The answer to [`Command::StartPayment`] when the printer could not print: no payment
    /// was started.
    PrinterNotReady(PrinterProblem),
    /// The printer as checked between visitors: `None` ready, or why it cannot print.
    PrinterChecked(Option<PrinterProblem>),
    Payment(PaymentOutcome),
    Committed {
        order_no: String,
    },
    Printed(Printed),
    /// The answer to [`Command::FindMember`].
    MemberCard(CardLookup),
    /// The check-in and its guest passes are recorded.
    CheckInRecorded {
        passes: u32,
    },
    /// The check-in could not be recorded.
    CheckInNotRecorded,
    /// The hub's answer to [`Command::FindMembership`].
    FindMembership(fmm::Input),
    /// The answer to [`Command::FindVolunteer`].
    Volunteer(VolunteerLookup),
    /// The answer to [`Command::ClockIn`] and [`Command::ClockOut`].
    Clocked(Result<Clocked, ClockFault>),
    /// Why the kiosk cannot serve, as the shell judged its health (printer problems come as
    /// [`Event::PrinterChecked`]).
    OutOfOrder(Option<OutOfOrder>),
    /// The technician screen's events and actions: the shell's business, not the visitor's
    /// flow.
    Technician(TechEvent),
    TechAction(crate::screens::technician_view::TechAction),
    /// A reader's frame, for the technician screen's live scan test.
    InputSeen(InputSeen),
}

/// A reader's frame as the technician screen's scan test shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSeen {
    pub reader: String,
    /// The bytes as received, in hex.
    pub hex: String,
    /// The credential they parse to, in words.
    pub parsed: String,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    SelectLanguage(Lang),
    /// Hold this many seats of `slot` in all for the session (0 lets them go).
    SetHold {
        slot: String,
        seats: u32,
    },
    LookupMember {
        membership_id: String,
    },
    /// Match the session's details against the replica, writing nothing.
    PreviewMatch(Box<VisitorDetails>),
    /// Check the printer, then take the payment: answered by [`Event::PrinterNotReady`] or
    /// [`Event::Payment`].
    StartPayment {
        amount: MinorUnits,
        currency: String,
    },
    CancelPayment,
    /// Commit the order, its lines, payment, tickets and upload in one transaction (the till
    /// did, with the approval; the shell answers [`Event::Committed`]).
    CommitOrder,
    Print,
    /// Look a member up for a check-in (answered by [`Event::MemberCard`]).
    FindMember(MemberQuery),
    /// Record the check-in as an admitted scan of the membership, with a guest pass per guest,
    /// in one transaction (answered by [`Event::CheckInRecorded`]).
    RecordCheckIn {
        membership_id: String,
        guests: u32,
    },
    /// Print the guest passes just recorded (answered by [`Event::Printed`]).
    PrintPasses,
    /// Ask the hub (answered by [`Event::FindMembership`]). A verified membership is recorded
    /// by the shell (the `reassociation` upload) before it answers.
    FindMembership(fmm::Command),
    /// Look a volunteer up with their day (answered by [`Event::Volunteer`]); the shell first
    /// closes a check-out that never came.
    FindVolunteer(VolunteerQuery),
    /// Open a check-in at the time given (answered by [`Event::Clocked`]).
    ClockIn {
        volunteer: String,
        event_id: String,
        shift_id: Option<String>,
        at: NaiveDateTime,
    },
    /// Close the open check-in into a timesheet with its upload (answered by
    /// [`Event::Clocked`]).
    ClockOut {
        clock_id: String,
        closed: Closed,
    },
}

/// The time and the catalog a step is taken with.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub catalog: &'a Catalog,
    pub now: DateTime<Utc>,
    pub now_local: NaiveDateTime,
    /// Seats the kiosk has free in a slot, besides the session's own hold.
    pub free_seats: &'a dyn Fn(&str) -> u32,
}

/// The checkout of one kiosk: the screen, the "Still there?" question, and the session.
#[derive(Debug, Clone)]
pub struct Flow {
    cfg: FlowConfig,
    screen: Screen,
    session: Session,
    last_touch: Instant,
    /// The "Still there?" question is showing, until this instant.
    still_there_until: Option<Instant>,
    /// The printer's problem as last checked: the welcome screen says so instead of letting a
    /// visitor choose tickets they could not be given.
    printer: Option<PrinterProblem>,
    /// Why else the kiosk cannot serve (service mode, the hub, the terminal), as the shell
    /// last judged.
    health: Option<OutOfOrder>,
}

impl Flow {
    pub fn new(cfg: FlowConfig, now: Instant) -> Self {
        Self {
            cfg,
            screen: Screen::Welcome,
            session: Session {
                lang: cfg.default_lang,
                ..Session::default()
            },
            last_touch: now,
            still_there_until: None,
            printer: None,
            health: None,
        }
    }

    /// The flow's settings.
    pub fn config(&self) -> &FlowConfig {
        &self.cfg
    }

    /// The printer's problem as last checked, if it has one.
    pub fn printer_problem(&self) -> Option<PrinterProblem> {
        self.printer
    }

    /// Why the kiosk cannot serve now (sell, or anything at all), if it cannot.
    pub fn out_of_order(&self) -> Option<OutOfOrder> {
        self.health.or(self.printer.map(OutOfOrder::Printer))
    }

    /// Whether this kiosk offers the volunteer time clock alone.
    pub fn volunteers_only(&self) -> bool {
        self.cfg.offer == Offer::VolunteerClock
    }

    fn stopped(&self) -> bool {
        self.out_of_order()
            .is_some_and(OutOfOrder::stops_everything)
    }

    /// Whether day passes for `day` are sold at `now_local`: on the days ahead the screen
    /// shows, and for today until the venue's last admission.
    pub fn day_pass_sold_for(&self, day: NaiveDate, now_local: NaiveDateTime) -> bool {
        let past_last = day == now_local.date()
            && self
                .cfg
                .last_admission
                .is_some_and(|last| now_local.time() >= last);
        shown_ahead(day, now_local) && !past_last
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The "Still there?" countdown, when it shows: the time left.
    pub fn still_there(&self, now: Instant) -> Option<Duration> {
        self.still_there_until
            .map(|t| t.saturating_duration_since(now))
    }

    /// Whether the idle timeout watches this screen: not the welcome screen, and not while a
    /// payment, its order or its printing is under way.
    fn watched(&self) -> bool {
        !matches!(
            self.screen,
            Screen::Welcome
                | Screen::Paying { .. }
                | Screen::Committing
                | Screen::Printing
                | Screen::Matching
                | Screen::CheckInLooking { .. }
                | Screen::CheckInSaving
                | Screen::VolunteerLooking { .. }
                | Screen::VolunteerSaving
        ) && !matches!(&self.screen, Screen::FindMembership(f) if find_membership::waiting(f))
    }

    /// Ends the session: every detail forgotten, every seat let go.
    pub(super) fn end(&mut self, out: &mut Vec<Command>) {
        self.release_hold(out);
        if self.session.lang != self.cfg.default_lang {
            out.push(Command::SelectLanguage(self.cfg.default_lang));
        }
        self.session = Session {
            lang: self.cfg.default_lang,
            ..Session::default()
        };
        self.screen = Screen::Welcome;
        self.still_there_until = None;
    }

    pub fn handle(&mut self, event: Event, now: Instant, ctx: &Ctx<'_>) -> Vec<Command> {
        let mut out = Vec::new();
        match event {
            Event::Tick => self.tick(now, &mut out),
            Event::Tap(tap) => {
                self.last_touch = now;
                if self.still_there_until.take().is_some() && tap == Tap::StillHere {
                    return out;
                }
                self.tap(tap, ctx, &mut out);
            }
            Event::Scanned { .. } if self.screen == Screen::Welcome && self.stopped() => {}
            Event::Scanned { membership_id } => {
                self.last_touch = now;
                if self.volunteers_only() && self.screen == Screen::Welcome {
                    self.start_volunteer();
                }
                if self.check_in_scanned(&membership_id, &mut out)
                    || self.volunteer_scanned(&membership_id, &mut out)
                {
                    self.still_there_until = None;
                } else if matches!(self.screen, Screen::AskMember | Screen::MemberId { .. }) {
                    self.still_there_until = None;
                    if let Screen::MemberId { problem } = &mut self.screen {
                        *problem = None;
                    }
                    out.push(Command::LookupMember { membership_id });
                }
            }
            Event::Held { seats, free } => {
                if matches!(self.screen, Screen::Quantities { .. }) {
                    self.session.held = seats;
                    if self.session.tickets() > seats {
                        // The kiosk could not hold them all: back to what it holds.
                        self.trim_quantities(seats);
                        self.screen = Screen::Quantities {
                            problem: Some(QuantityProblem::OnlyLeft(free)),
                        };
                    }
                }
            }
            Event::Member(found) => {
                if matches!(self.screen, Screen::AskMember | Screen::MemberId { .. }) {
                    match found {
                        MemberLookup::Found(member) => {
                            self.session.member = Some(member);
                            self.show_details();
                        }
                        // A card scanned on "Are you a member?" lands here too: the
                        // keyboard then types the number.
                        MemberLookup::NotFound => {
                            self.screen = Screen::MemberId {
                                problem: Some(MemberProblem::NotFound),
                            };
                            self.focus(Field::MemberId);
                        }
                        MemberLookup::NotValid => {
                            self.screen = Screen::MemberId {
                                problem: Some(MemberProblem::NotValid),
                            };
                            self.focus(Field::MemberId);
                        }
                    }
                }
            }
            Event::Matched(preview) => {
                if self.screen == Screen::Matching {
                    self.matched(preview, ctx);
                }
            }
            // A volunteer clock sells nothing: its printer (if any) does not matter.
            Event::PrinterChecked(problem) => {
                self.printer = problem.filter(|_| !self.volunteers_only())
            }
            Event::OutOfOrder(reason) => self.health = reason,
            Event::Technician(_) | Event::TechAction(_) | Event::InputSeen(_) => {}
            Event::PrinterNotReady(problem) => {
                self.printer = Some(problem).filter(|_| !self.volunteers_only());
                if let Screen::Paying { .. } = self.screen {
                    self.last_touch = now;
                    self.screen = Screen::CannotPrint(problem);
                }
            }
            Event::Payment(outcome) => {
                // The printer was ready when the payment started.
                self.printer = None;
                if let Screen::Paying { .. } = self.screen {
                    let problem = match outcome {
                        PaymentOutcome::Approved { reference } => {
                            self.session.payment_reference = Some(reference);
                            self.screen = Screen::Committing;
                            out.push(Command::CommitOrder);
                            return out;
                        }
                        PaymentOutcome::Declined => PaymentProblem::Declined,
                        PaymentOutcome::CancelledByVisitor => PaymentProblem::Cancelled,
                        PaymentOutcome::TimedOut => PaymentProblem::TimedOut,
                        PaymentOutcome::TerminalFault => PaymentProblem::TerminalFault,
                    };
                    self.last_touch = now;
                    self.screen = Screen::PaymentProblem(problem);
                }
            }
            Event::Committed { order_no } => {
                if self.screen == Screen::Committing {
                    self.session.order_no = Some(order_no);
                    // The seats are sold now, no longer held by the session.
                    self.session.held = 0;
                    self.screen = Screen::Printing;
                    out.push(Command::Print);
                }
            }
            Event::MemberCard(_) | Event::CheckInRecorded { .. } | Event::CheckInNotRecorded => {
                self.check_in_event(event, now, &mut out)
            }
            Event::FindMembership(answer) => self.fmm_answer(answer, now, &mut out),
            Event::Volunteer(_) | Event::Clocked(_) => self.volunteer_event(event, now, &mut out),
            Event::Printed(printed) if self.screen == Screen::CheckInSaving => {
                self.check_in_event(Event::Printed(printed), now, &mut out)
            }
            Event::Printed(printed) => {
                if self.screen == Screen::Printing {
                    self.last_touch = now;
                    self.screen = match printed {
                        Printed::All => Screen::Done,
                        Printed::NotAll => Screen::CollectAtDesk,
                    };
                }
            }
        }
        out
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Command>) {
        let idle = now.saturating_duration_since(self.last_touch);
        if matches!(
            self.screen,
            Screen::Done
                | Screen::CollectAtDesk
                | Screen::CheckedIn { .. }
                | Screen::VolunteerDone(_)
        ) {
            if idle >= self.cfg.done_timeout {
                self.end(out);
            }
            return;
        }
        if !self.watched() {
            return;
        }
        match self.still_there_until {
            Some(until) if now >= until => self.end(out),
            Some(_) => {}
            None if idle >= self.cfg.idle_timeout => {
                self.still_there_until =
                    Some(self.last_touch + self.cfg.idle_timeout + self.cfg.still_there);
            }
            None => {}
        }
    }

    fn trim_quantities(&mut self, seats: u32) {
        let mut over = self.session.tickets().saturating_sub(seats);
        for n in self.session.quantities.values_mut().rev() {
            let cut = over.min(*n);
            *n -= cut;
            over -= cut;
        }
        self.session.quantities.retain(|_, n| *n > 0);
    }

    fn tap(&mut self, tap: Tap, ctx: &Ctx<'_>, out: &mut Vec<Command>) {
        use Screen as S;
        let screen = self.screen.clone();
        match (&screen, tap) {
            (_, Tap::Lang(lang)) if self.session.lang != lang => {
                self.session.lang = lang;
                out.push(Command::SelectLanguage(lang));
            }
            (_, Tap::Lang(_)) => {}
            (S::Paying { .. } | S::Committing | S::Printing | S::Matching, Tap::Back) => {}
            (S::Paying { cancelling: false }, Tap::Cancel) => {
                self.screen = S::Paying { cancelling: true };
                out.push(Command::CancelPayment);
            }
            (S::Paying { .. } | S::Committing | S::Printing | S::Matching, _) => {}
            (S::CheckInLooking { .. } | S::CheckInSaving, _) => {}
            (S::VolunteerLooking { .. } | S::VolunteerSaving, _) => {}
            (S::FindMembership(f), _) if find_membership::waiting(f) => {}
            (S::Welcome, Tap::Cancel | Tap::Back) => self.end(out),
            (_, Tap::Cancel) => self.end(out),
            (
                S::Done | S::CollectAtDesk | S::CheckedIn { .. } | S::VolunteerDone(_),
                Tap::Finish,
            ) => self.end(out),
            (S::Welcome, Tap::Start(_)) if self.stopped() => {}
            (S::Welcome, Tap::Start(Purpose::Volunteer)) => self.start_volunteer(),
            (S::Welcome, Tap::Start(_)) if self.volunteers_only() => {}
            (S::Welcome, Tap::Start(Purpose::CheckIn)) => self.start_check_in(),
            (S::Welcome, Tap::Start(_)) if self.out_of_order().is_some() => {}
            (S::Welcome, Tap::Start(purpose)) => {
                self.session.purpose = Some(purpose);
                self.screen = match purpose {
                    Purpose::Tickets => S::Slots,
                    Purpose::Membership | Purpose::CheckIn | Purpose::Volunteer => S::Levels,
                };
            }
            (S::Levels | S::Slots, Tap::Back) => self.end(out),
            (S::Levels, Tap::Level(level)) => {
                let on_sale = ctx
                    .catalog
                    .for_sale(ProductKind::Membership, ctx.now)
                    .iter()
                    .any(|p| p.id == level);
                if on_sale {
                    self.session.level = Some(level);
                    self.screen = S::AskMember;
                }
            }
            (S::Slots, Tap::Slot { product, slot }) => {
                let fits = ctx.catalog.products.get(&product).is_some_and(|p| {
                    p.on_sale(ctx.now)
                        && matches!(&p.admission, Admission::Timed { slot_group }
                            if ctx.catalog.slots.get(&slot).is_some_and(|s| &s.group == slot_group && s.open(ctx.now_local)))
                });
                if fits {
                    if self.session.slot.as_ref() != Some(&slot) {
                        self.release_hold(out);
                        self.session.quantities.clear();
                    }
                    self.session.product = Some(product);
                    self.session.slot = Some(slot);
                    self.screen = S::Quantities { problem: None };
                }
            }
            (S::Slots, Tap::AllDay { product, day })
                if self.day_pass_sold_for(day, ctx.now_local)
                    && day_pass(ctx.catalog, &product, ctx.now) =>
            {
                if self.session.product.as_ref() != Some(&product) || self.session.slot.is_some() {
                    self.release_hold(out);
                    self.session.quantities.clear();
                }
                self.session.product = Some(product);
                self.session.slot = None;
                self.session.day = Some(day);
                self.screen = S::Quantities { problem: None };
            }
            (S::Quantities { .. }, Tap::Quantity { category, delta }) => {
                self.quantity(category, delta, ctx, out)
            }
            (S::Quantities { .. }, Tap::Next) => {
                if self.session.tickets() == 0 {
                    self.screen = S::Quantities {
                        problem: Some(QuantityProblem::NoneChosen),
                    };
                } else if self.session.slot.is_none() || self.session.held >= self.session.tickets()
                {
                    // Only add-ons still offered stay in the basket.
                    let offered = add_ons(ctx.catalog, ctx.now);
                    self.session
                        .add_ons
                        .retain(|p, _| offered.iter().any(|o| &o.id == p));
                    self.screen = if offered.is_empty() {
                        S::AskMember
                    } else {
                        S::AddOns { problem: None }
                    };
                }
            }
            (S::AddOns { .. }, Tap::AddOn { product, delta }) => self.add_on(product, delta, ctx),
            (S::AddOns { .. }, Tap::Next) => self.screen = S::AskMember,
            (S::AddOns { .. }, Tap::Back) => self.screen = S::Quantities { problem: None },
            (S::Quantities { .. }, Tap::Back) => {
                self.release_hold(out);
                self.session.quantities.clear();
                self.session.add_ons.clear();
                self.screen = S::Slots;
            }
            (S::AskMember, Tap::IsMember(true)) => {
                self.screen = S::MemberId { problem: None };
                self.session.typed_id.clear();
                self.focus(Field::MemberId);
            }
            (S::AskMember, Tap::IsMember(false)) => {
                self.session.member = None;
                self.show_details();
            }
            (S::AskMember, Tap::Back) => {
                self.screen = match self.session.purpose {
                    Some(Purpose::Membership) => S::Levels,
                    _ if !add_ons(ctx.catalog, ctx.now).is_empty() => S::AddOns { problem: None },
                    _ => S::Quantities { problem: None },
                }
            }
            (S::MemberId { .. }, Tap::MemberId(raw)) => match parse_id(&raw) {
                Ok(id) => {
                    self.screen = S::MemberId { problem: None };
                    out.push(Command::LookupMember {
                        membership_id: id.to_owned(),
                    });
                }
                Err(e) => {
                    self.screen = S::MemberId {
                        problem: Some(MemberProblem::Id(e)),
                    }
                }
            },
            (S::MemberId { .. }, Tap::Back) => {
                self.session.member = None;
                self.screen = S::AskMember;
            }
            (S::Details { .. }, Tap::Details(form)) => {
                self.session.form = form;
                self.session.extra = None;
                match form_problem(&self.session.form) {
                    Some(problem) => {
                        self.screen = S::Details {
                            problem: Some(problem),
                        };
                        let f = &self.session.form;
                        let field = match problem {
                            FormProblem::FirstNameMissing => Field::First,
                            FormProblem::LastNameMissing => Field::Last,
                            FormProblem::EmailOrPhoneMissing | FormProblem::EmailNotValid => {
                                Field::Email
                            }
                            FormProblem::TooLong if f.first.chars().count() > MAX_FIELD_CHARS => {
                                Field::First
                            }
                            FormProblem::TooLong if f.last.chars().count() > MAX_FIELD_CHARS => {
                                Field::Last
                            }
                            FormProblem::TooLong if f.email.chars().count() > MAX_FIELD_CHARS => {
                                Field::Email
                            }
                            FormProblem::TooLong => Field::Phone,
                        };
                        self.focus(field);
                    }
                    None => {
                        self.screen = S::Matching;
                        out.push(Command::PreviewMatch(Box::new(self.session.visitor())));
                    }
                }
            }
            (S::Details { .. }, Tap::Back) => {
                self.session.member = None;
                self.screen = S::AskMember;
            }
            (&S::OneMoreDetail { detail }, Tap::Extra(text)) => {
                if text.trim().is_empty() || text.chars().count() > MAX_FIELD_CHARS {
                    return;
                }
                self.session.extra = Some((detail, text));
                self.screen = S::Matching;
                out.push(Command::PreviewMatch(Box::new(self.session.visitor())));
            }
            (S::OneMoreDetail { .. }, Tap::Back) => {
                self.session.matched = Matched::NotYet;
                self.show_details();
            }
            (S::Review { problem: None }, Tap::Pay) => {
                if let Some(q) = &self.session.quote {
                    self.screen = S::Paying { cancelling: false };
                    out.push(Command::StartPayment {
                        amount: q.gross,
                        currency: q.currency.clone(),
                    });
                }
            }
            (S::Review { .. }, Tap::Back) => {
                self.session.matched = Matched::NotYet;
                self.session.extra = None;
                self.session.quote = None;
                self.show_details();
            }
            (S::PaymentProblem(_) | S::CannotPrint(_), Tap::Retry | Tap::Back) => self.review(ctx),
            (S::Slots, Tap::Product(product)) => {
                let timed = ctx.catalog.products.get(&product).is_some_and(|p| {
                    p.on_sale(ctx.now) && matches!(p.admission, Admission::Timed { .. })
                });
                let offered = timed || day_pass(ctx.catalog, &product, ctx.now);
                if offered && self.session.product.as_ref() != Some(&product) {
                    self.release_hold(out);
                    self.session.quantities.clear();
                    self.session.slot = None;
                    self.session.product = Some(product);
                }
            }
            (S::Slots, Tap::Day(day)) if shown_ahead(day, ctx.now_local) => {
                self.session.day = Some(day);
            }
            (_, Tap::Focus(f)) if self.shows(f) => self.focus(f),
            (_, Tap::Key(key)) => self.key(&key),
            (S::Details { .. }, Tap::Consent(yes)) => self.session.form.receipt_by_email = yes,
            (S::Details { .. }, Tap::ToggleConsent) => {
                self.session.form.receipt_by_email = !self.session.form.receipt_by_email
            }
            (S::Details { .. }, Tap::Next) => {
                let form = self.session.form.clone();
                self.tap(Tap::Details(form), ctx, out);
            }
            (S::MemberId { .. }, Tap::Next) => {
                let id = self.session.typed_id.clone();
                self.tap(Tap::MemberId(id), ctx, out);
            }
            (S::OneMoreDetail { .. }, Tap::Next) => {
                let text = self.session.typed_extra.clone();
                self.tap(Tap::Extra(text), ctx, out);
            }
            (screen, tap) if screen.is_check_in() => self.check_in_tap(tap, ctx, out),
            (S::FindMembership(_), tap) => self.fmm_tap(tap, out),
            (screen, tap) if screen.is_volunteer() => self.volunteer_tap(tap, ctx, out),
            _ => {}
        }
    }

    /// The text of the field the keyboard types into.
    fn focused_text(&mut self) -> &mut String {
        let s = &mut self.session;
        match s.focus {
            Field::First => &mut s.form.first,
            Field::Last => &mut s.form.last,
            Field::Email => &mut s.form.email,
            Field::Phone => &mut s.form.phone,
            Field::MemberId => &mut s.typed_id,
            Field::Extra => &mut s.typed_extra,
            Field::Code => &mut s.typed_code,
            Field::Last4 => &mut s.typed_last4,
        }
    }

    /// The keyboard the focused field shows.
    pub fn layout(&self) -> Layout {
        match (self.session.focus, &self.screen) {
            (Field::Extra, Screen::OneMoreDetail { detail }) => match detail {
                ExtraDetail::Phone => Layout::Phone,
                ExtraDetail::Email => Layout::Email,
                ExtraDetail::Postcode => Layout::Id,
            },
            (f, _) => f.layout(),
        }
    }

    pub(super) fn focus(&mut self, field: Field) {
        self.session.focus = field;
        let layout = self.layout();
        let starts = keyboard::starts_word(self.focused_text());
        self.session.shift = layout == Layout::Letters && starts;
    }

    /// Whether the screen shows the keyboard (it has a field to type into).
    pub fn typing(&self) -> bool {
        self.shows(self.session.focus)
    }

    /// Whether the screen shows `field` (only such a field takes the keyboard).
    fn shows(&self, field: Field) -> bool {
        match &self.screen {
            Screen::Details { .. } => {
                matches!(
                    field,
                    Field::First | Field::Last | Field::Email | Field::Phone
                )
            }
            Screen::MemberId { .. } => field == Field::MemberId,
            Screen::OneMoreDetail { .. } => field == Field::Extra,
            Screen::CheckInFind { .. } => field == Field::MemberId,
            Screen::CheckInName { .. } => {
                matches!(field, Field::Last | Field::Email | Field::Phone)
            }
            Screen::CheckInFirst => field == Field::First,
            Screen::FindMembership(f) => find_membership::field(f) == Some(field),
            Screen::VolunteerFind { .. } => matches!(field, Field::Last | Field::Last4),
            Screen::VolunteerFirst => field == Field::First,
            _ => false,
        }
    }

    fn key(&mut self, key: &Key) {
        if !self.shows(self.session.focus) {
            return;
        }
        // A code has six digits, the end of a phone number four: no more are typed.
        let full = match self.session.focus {
            Field::Code => {
                self.session.typed_code.chars().count() >= crate::find_membership::code::CODE_DIGITS
            }
            Field::Last4 => self.session.typed_last4.chars().count() >= 4,
            _ => false,
        };
        if full && matches!(key, Key::Text(_)) {
            return;
        }
        let layout = self.layout();
        let mut shift = self.session.shift;
        keyboard::apply(self.focused_text(), key, layout, &mut shift);
        self.session.shift = shift;
    }

    /// Shows the details form, the keyboard on the first field still empty.
    pub(super) fn show_details(&mut self) {
        self.screen = Screen::Details { problem: None };
        let f = &self.session.form;
        let field = if f.first.trim().is_empty() {
            Field::First
        } else if f.last.trim().is_empty() {
            Field::Last
        } else {
            Field::Email
        };
        self.focus(field);
    }

    fn release_hold(&mut self, out: &mut Vec<Command>) {
        if let (Some(slot), true) = (&self.session.slot, self.session.held > 0) {
            out.push(Command::SetHold {
                slot: slot.clone(),
                seats: 0,
            });
            self.session.held = 0;
        }
    }

    fn quantity(&mut self, category: String, delta: i32, ctx: &Ctx<'_>, out: &mut Vec<Command>) {
        let Some(product) = self
            .session
            .product
            .as_ref()
            .and_then(|p| ctx.catalog.products.get(p))
        else {
            return;
        };
        // A timed admission's seats are held in its entry time; a day pass has no seats.
        let slot = match (&product.admission, &self.session.slot) {
            (Admission::Timed { .. }, None) => return,
            (_, slot) => slot.clone(),
        };
        if !product.prices.iter().any(|c| c.category == category) {
            return;
        }
        let (next, total) = step(
            &self.session.quantities,
            &category,
            delta,
            self.session.tickets(),
        );
        if delta > 0 && total + self.session.add_on_units() > super::pricing::MAX_UNITS {
            self.screen = Screen::Quantities {
                problem: Some(QuantityProblem::TooMany),
            };
            return;
        }
        if let Some(slot) = &slot {
            let free = (ctx.free_seats)(slot) + self.session.held;
            if total > free {
                self.screen = Screen::Quantities {
                    problem: Some(QuantityProblem::OnlyLeft(free)),
                };
                return;
            }
        }
        set_count(&mut self.session.quantities, category, next);
        self.screen = Screen::Quantities { problem: None };
        if let Some(slot) = slot
            && total != self.session.held
        {
            out.push(Command::SetHold { slot, seats: total });
        }
    }

    fn add_on(&mut self, product: String, delta: i32, ctx: &Ctx<'_>) {
        if !add_ons(ctx.catalog, ctx.now)
            .iter()
            .any(|p| p.id == product)
        {
            return;
        }
        let (next, add_on_units) = step(
            &self.session.add_ons,
            &product,
            delta,
            self.session.add_on_units(),
        );
        if delta > 0 && self.session.tickets() + add_on_units > super::pricing::MAX_UNITS {
            self.screen = Screen::AddOns {
                problem: Some(QuantityProblem::TooMany),
            };
            return;
        }
        set_count(&mut self.session.add_ons, product, next);
        self.screen = Screen::AddOns { problem: None };
    }

    fn matched(&mut self, preview: MatchPreview, ctx: &Ctx<'_>) {
        self.session.matched = match (preview, &self.session.extra) {
            (MatchPreview::One { lookup_id }, _) => Matched::Record { lookup_id },
            (MatchPreview::None, _) => Matched::NewRecord,
            (MatchPreview::Several, Some(_)) => Matched::NewRecordForReview,
            (MatchPreview::Several, None) => {
                let f = &self.session.form;
                let detail = if f.phone.trim().is_empty() {
                    ExtraDetail::Phone
                } else if f.email.trim().is_empty() {
                    ExtraDetail::Email
                } else {
                    ExtraDetail::Postcode
                };
                self.screen = Screen::OneMoreDetail { detail };
                self.session.typed_extra.clear();
                self.focus(Field::Extra);
                return;
            }
        };
        self.review(ctx);
    }

    /// Prices the basket and shows it.
    fn review(&mut self, ctx: &Ctx<'_>) {
        let benefit = self.session.member.as_ref().map(|m| m.benefit);
        match quote(
            &self.session.cart(),
            ctx.catalog,
            benefit,
            ctx.now,
            ctx.now_local,
        ) {
            Ok(q) => {
                self.session.quote = Some(q);
                self.screen = Screen::Review { problem: None };
            }
            Err(e) => {
                self.session.quote = None;
                self.screen = Screen::Review { problem: Some(e) };
            }
        }
    }
}

/// Whether any of `fields` is longer than a field may be.
fn form_too_long(fields: &[&String]) -> bool {
    fields.iter().any(|f| f.chars().count() > MAX_FIELD_CHARS)
}

/// What is wrong with the details, first thing first.
pub fn form_problem(form: &VisitorForm) -> Option<FormProblem> {
    if form_too_long(&[&form.first, &form.last, &form.email, &form.phone]) {
        return Some(FormProblem::TooLong);
    }
    if form.first.trim().is_empty() {
        return Some(FormProblem::FirstNameMissing);
    }
    if form.last.trim().is_empty() {
        return Some(FormProblem::LastNameMissing);
    }
    let email = form.email.trim();
    if email.is_empty() && form.phone.trim().is_empty() {
        return Some(FormProblem::EmailOrPhoneMissing);
    }
    if !email.is_empty() {
        let ok = email.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
        if !ok || email.chars().any(char::is_whitespace) {
            return Some(FormProblem::EmailNotValid);
        }
    }
    if form.receipt_by_email && email.is_empty() {
        return Some(FormProblem::EmailNotValid);
    }
    None
}

mod check_in;
mod find_membership;
mod volunteer;
pub use check_in::{CheckInProblem, LookedUpBy};
pub use volunteer::{
    ClockFault, Clocked, DayShift, VolunteerDay, VolunteerLookup, VolunteerProblem, VolunteerQuery,
};

/// Whether `product` is a day pass on sale: a ticket valid any time on the day of the visit.
pub fn day_pass(catalog: &Catalog, product: &str, now: DateTime<Utc>) -> bool {
    catalog.products.get(product).is_some_and(|p| {
        p.kind == ProductKind::Ticket && p.on_sale(now) && p.admission == Admission::Dated
    })
}

/// Whether `day` is one of the days the entry-times screen shows: today and the
/// [`DAYS_AHEAD`] - 1 after it.
fn shown_ahead(day: NaiveDate, now_local: NaiveDateTime) -> bool {
    let today = now_local.date();
    day >= today && day < today + chrono::Days::new(DAYS_AHEAD)
}

/// `key`'s count after a − or + tap (never below zero), and the sum of `counts` with it.
fn step(counts: &BTreeMap<String, u32>, key: &str, delta: i32, sum: u32) -> (u32, u32) {
    let now = counts.get(key).copied().unwrap_or(0);
    let next = now.saturating_add_signed(delta);
    (next, sum - now + next)
}

/// Sets `key`'s count; a count of zero leaves the basket.
fn set_count(counts: &mut BTreeMap<String, u32>, key: String, n: u32) {
    if n == 0 {
        counts.remove(&key);
    } else {
        counts.insert(key, n);
    }
}

#[cfg(test)]
mod tests;
