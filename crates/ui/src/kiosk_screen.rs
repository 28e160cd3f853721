//! The kiosk screen's adapter: copies a [`KioskScreenModel`] into the Slint component and turns
//! the component's callbacks into the checkout flow's [`Event`]s.
//!
//! The component reports taps by position in its lists (the third entry time, the second
//! category); [`KioskScreen`] keeps the model last shown to turn a position back into the
//! product, slot, category or key it showed. Everything else is the flow's business.

use std::rc::Rc;
use std::sync::{Arc, Mutex};

use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use portico_core::find_membership::kiosk as fmm;
use portico_core::find_membership::{Channel, IdError, mask::MaskedTarget};
use portico_core::kiosk::catalog::Lang;
use portico_core::kiosk::checkin::Standing;
use portico_core::kiosk::checkout::{
    CheckInProblem, Clocked, Event, ExtraDetail, FormProblem, MemberProblem, PaymentProblem,
    Printed, PrinterProblem, Purpose, QuantityProblem, Screen, Tap, VolunteerProblem,
};
use portico_core::kiosk::keyboard::{COLUMNS, Field, KeyCap, Layout};
use portico_core::kiosk::out_of_order::OutOfOrder;
use portico_core::kiosk::pricing::PriceKind;
use portico_core::screens::kiosk_view::KioskScreenModel;
use portico_core::screens::technician_view::TechPanel;

use super::UiError;
use super::generated::{
    DayItem, KProblem, KScreen, KeyItem, KeyRow, KioskWindow, LineItem, Offer, ProductItem,
    QtyItem, ShiftItem, SlotItem, TargetItem, WalkInItem,
};
use portico_core::volunteer::ShiftState;

fn list<T: Clone + 'static>(items: Vec<T>) -> ModelRc<T> {
    ModelRc::new(VecModel::from(items))
}

/// Shows `items` in the list `current`: row by row when the list keeps its length (only the
/// rows that changed are drawn again), or as a new list through `set`.
fn update<T: Clone + PartialEq + 'static>(
    current: ModelRc<T>,
    items: Vec<T>,
    set: impl FnOnce(ModelRc<T>),
) {
    use slint::Model;
    if let Some(rows) = current.as_any().downcast_ref::<VecModel<T>>()
        && rows.row_count() == items.len()
    {
        for (i, item) in items.into_iter().enumerate() {
            if rows.row_data(i).as_ref() != Some(&item) {
                rows.set_row_data(i, item);
            }
        }
        return;
    }
    set(list(items));
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The language tag the screen's translations use.
pub fn lang_tag(lang: Lang) -> &'static str {
    lang.tag()
}

/// Switches the screens' words to `lang` (Slint's bundled translations; English is the
/// markup's own).
pub fn select_language(lang: Lang) {
    let tag = match lang {
        Lang::En => "",
        Lang::Es => "es",
    };
    if let Err(e) = slint::select_bundled_translation(tag) {
        tracing::error!(error = %e, "cannot switch the screen's language");
    }
}

fn screen_of(s: &Screen) -> (KScreen, KProblem, u32) {
    use KProblem as P;
    let none = |k| (k, P::None, 0);
    match s {
        Screen::Welcome => none(KScreen::Welcome),
        Screen::Levels => none(KScreen::Levels),
        Screen::Slots => none(KScreen::Slots),
        Screen::Quantities { problem } | Screen::AddOns { problem } => {
            let k = if matches!(s, Screen::AddOns { .. }) {
                KScreen::AddOns
            } else {
                KScreen::Quantities
            };
            match problem {
                None => none(k),
                Some(QuantityProblem::NoneChosen) => (k, P::NoTickets, 0),
                Some(QuantityProblem::OnlyLeft(n)) => (k, P::OnlyLeft, *n),
                Some(QuantityProblem::TooMany) => (k, P::TooMany, 0),
            }
        }
        Screen::AskMember => none(KScreen::AskMember),
        Screen::MemberId { problem } => (
            KScreen::MemberId,
            match problem {
                None => P::None,
                Some(MemberProblem::Id(
                    IdError::Empty | IdError::TooLong | IdError::BadCharacter,
                )) => P::IdFormat,
                Some(MemberProblem::NotFound) => P::NotFound,
                Some(MemberProblem::NotValid) => P::NotValid,
            },
            0,
        ),
        Screen::Details { problem } => (
            KScreen::Details,
            match problem {
                None => P::None,
                Some(FormProblem::FirstNameMissing) => P::FirstMissing,
                Some(FormProblem::LastNameMissing) => P::LastMissing,
                Some(FormProblem::EmailOrPhoneMissing) => P::EmailOrPhone,
                Some(FormProblem::EmailNotValid) => P::EmailNotValid,
                Some(FormProblem::TooLong) => P::TooLong,
            },
            0,
        ),
        Screen::OneMoreDetail { .. } => none(KScreen::OneMore),
        Screen::Matching => none(KScreen::Matching),
        Screen::Review { problem } => (
            KScreen::Review,
            if problem.is_some() {
                P::NotOnSale
            } else {
                P::None
            },
            0,
        ),
        Screen::Paying { .. } => none(KScreen::Paying),
        Screen::CannotPrint(p) => (
            KScreen::CannotPrint,
            match p {
                PrinterProblem::PaperOut => P::PaperOut,
                PrinterProblem::CoverOpen => P::CoverOpen,
                PrinterProblem::Offline => P::PrinterOffline,
                PrinterProblem::NoPrinter => P::NoPrinter,
            },
            0,
        ),
        Screen::PaymentProblem(p) => (
            KScreen::PaymentProblem,
            match p {
                PaymentProblem::Declined => P::Declined,
                PaymentProblem::Cancelled => P::Cancelled,
                PaymentProblem::TimedOut => P::TimedOut,
                PaymentProblem::TerminalFault => P::TerminalFault,
            },
            0,
        ),
        Screen::Committing => none(KScreen::Committing),
        Screen::Printing => none(KScreen::Printing),
        Screen::Done => none(KScreen::Done),
        Screen::CollectAtDesk => none(KScreen::Collect),
        Screen::CheckInFind { problem } => (KScreen::CheckinFind, check_in_problem(*problem), 0),
        Screen::CheckInName { problem } => (KScreen::CheckinName, check_in_problem(*problem), 0),
        Screen::CheckInFirst => none(KScreen::CheckinFirst),
        Screen::CheckInLooking { .. } => none(KScreen::CheckinLooking),
        Screen::CheckInCard { problem } => (KScreen::CheckinCard, check_in_problem(*problem), 0),
        Screen::CheckInSaving => none(KScreen::CheckinSaving),
        Screen::CheckedIn { .. } => none(KScreen::CheckedIn),
        Screen::FindMembership(f) => find_membership_screen(f),
        Screen::VolunteerFind { problem } => (
            KScreen::VolunteerFind,
            volunteer_problem(problem.as_ref()),
            0,
        ),
        Screen::VolunteerFirst => none(KScreen::VolunteerFirst),
        Screen::VolunteerLooking { .. } => none(KScreen::VolunteerLooking),
        Screen::VolunteerDay { problem } => (
            KScreen::VolunteerDay,
            volunteer_problem(problem.as_ref()),
            0,
        ),
        Screen::VolunteerSaving => none(KScreen::VolunteerSaving),
        Screen::VolunteerDone(_) => none(KScreen::VolunteerDone),
    }
}

fn volunteer_problem(p: Option<&VolunteerProblem>) -> KProblem {
    use KProblem as P;
    match p {
        None => P::None,
        Some(VolunteerProblem::NotFound) => P::NoVolunteer,
        Some(VolunteerProblem::Several) => P::SeveralVolunteers,
        Some(VolunteerProblem::LastNameMissing) => P::LastMissing,
        Some(VolunteerProblem::Last4Missing) => P::Last4Missing,
        Some(VolunteerProblem::TooEarly { .. }) => P::TooEarly,
        Some(VolunteerProblem::Over) => P::ShiftOver,
        Some(VolunteerProblem::SeeStaff(_)) => P::SeeStaff,
        Some(VolunteerProblem::StaffNeeded) => P::StaffNeeded,
        Some(VolunteerProblem::AlreadyIn) => P::AlreadyIn,
        Some(VolunteerProblem::NotSaved) => P::NotSaved,
    }
}

fn find_membership_screen(f: &fmm::Screen) -> (KScreen, KProblem, u32) {
    use KProblem as P;
    match f {
        fmm::Screen::EnterId { problem } => (
            KScreen::FmmId,
            if problem.is_some() {
                P::IdFormat
            } else {
                P::None
            },
            0,
        ),
        fmm::Screen::NotFound => (KScreen::FmmId, P::FmmNotFound, 0),
        fmm::Screen::Locating { .. }
        | fmm::Screen::Sending { .. }
        | fmm::Screen::Verifying { .. }
        | fmm::Screen::Verified { .. } => (KScreen::FmmWait, P::None, 0),
        fmm::Screen::ChooseTarget { .. } => (KScreen::FmmTargets, P::None, 0),
        fmm::Screen::Expired { .. } => (KScreen::FmmTargets, P::CodeExpired, 0),
        fmm::Screen::EnterCode { problem, .. } => match problem {
            None => (KScreen::FmmCode, P::None, 0),
            Some(fmm::CodeProblem::Invalid(_)) => (KScreen::FmmCode, P::CodeFormat, 0),
            Some(fmm::CodeProblem::Wrong { attempts_left }) => {
                (KScreen::FmmCode, P::CodeWrong, *attempts_left)
            }
        },
        fmm::Screen::Locked => (KScreen::FmmLocked, P::None, 0),
        fmm::Screen::Offline { .. } => (KScreen::FmmOffline, P::None, 0),
    }
}

/// The masked emails and phones a Find My Membership screen offers, and the one the code went
/// to.
fn fmm_targets(screen: &Screen) -> (&[MaskedTarget], Option<&MaskedTarget>) {
    match screen {
        Screen::FindMembership(
            fmm::Screen::ChooseTarget { targets, .. } | fmm::Screen::Expired { targets, .. },
        ) => (targets, None),
        Screen::FindMembership(fmm::Screen::EnterCode {
            targets, sent_to, ..
        }) => (targets, Some(sent_to)),
        _ => (&[], None),
    }
}

fn target_item(t: &MaskedTarget) -> TargetItem {
    TargetItem {
        sms: t.channel == Channel::Sms,
        masked: t.masked.as_str().into(),
    }
}

fn check_in_problem(p: Option<CheckInProblem>) -> KProblem {
    use KProblem as P;
    match p {
        None => P::None,
        Some(CheckInProblem::Id(_)) => P::IdFormat,
        Some(CheckInProblem::NotFound) => P::NoMember,
        Some(CheckInProblem::Several) => P::SeveralMembers,
        Some(CheckInProblem::LastNameMissing) => P::LastMissing,
        Some(CheckInProblem::EmailOrPhoneMissing) => P::EmailOrPhone,
        Some(CheckInProblem::FirstNameMissing) => P::FirstMissing,
        Some(CheckInProblem::TooLong) => P::TooLong,
        Some(CheckInProblem::NotSaved) => P::NotSaved,
    }
}

/// The keyboard's rows with each key's first column; and the grid's width in columns.
fn key_rows(rows: &[Vec<KeyCap>], layout: Option<Layout>) -> (Vec<KeyRow>, u8) {
    let columns = match layout {
        Some(Layout::Phone | Layout::Digits) => 3,
        _ => COLUMNS,
    };
    let rows = rows
        .iter()
        .map(|row| {
            let used: u8 = row.iter().map(|k| k.span).sum();
            // Rows shorter than the grid are centred.
            let mut col = f32::from(columns.saturating_sub(used)) / 2.;
            let keys: Vec<KeyItem> = row
                .iter()
                .map(|k| {
                    let item = KeyItem {
                        label: k.label.as_str().into(),
                        col,
                        span: i32::from(k.span),
                    };
                    col += f32::from(k.span);
                    item
                })
                .collect();
            KeyRow { keys: list(keys) }
        })
        .collect();
    (rows, columns)
}

/// Copies every field of the model into the component's properties, and switches the words'
/// language when the model's differs from the one shown. With the model `before` shown, a
/// list that did not change is left as it is (its items are not made again).
pub fn apply(
    window: &KioskWindow,
    m: &KioskScreenModel,
    venue: &str,
    before: Option<&KioskScreenModel>,
) {
    let changed =
        |same: fn(&KioskScreenModel, &KioskScreenModel) -> bool| before.is_none_or(|b| !same(b, m));
    let tag = lang_tag(m.lang);
    if window.get_lang() != tag {
        select_language(m.lang);
        window.set_lang(tag.into());
    }
    let (screen, problem, number) = screen_of(&m.screen);
    window.set_out_of_order(m.out_of_order.map_or(0, |o| match o {
        OutOfOrder::Printer(PrinterProblem::PaperOut) => 1,
        OutOfOrder::Printer(PrinterProblem::CoverOpen) => 2,
        OutOfOrder::Printer(PrinterProblem::Offline) => 3,
        OutOfOrder::Printer(PrinterProblem::NoPrinter) => 4,
        OutOfOrder::TerminalUnreachable => 5,
        OutOfOrder::HubUnreachable => 6,
        OutOfOrder::ServiceMode => 7,
        OutOfOrder::NotReady => 8,
    }));
    window.set_volunteers_only(m.volunteers_only);
    window.set_out_of_order_code(m.out_of_order.map_or("", |o| o.code()).into());
    apply_technician(
        window,
        m.technician.as_ref(),
        before.and_then(|b| b.technician.as_ref()),
    );
    window.set_screen(screen);
    window.set_problem(problem);
    window.set_problem_number(int(number));
    window.set_venue(venue.into());
    window.set_still_there(m.still_there_secs.is_some());
    window.set_still_there_secs(
        m.still_there_secs
            .map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX)),
    );
    if changed(|a, b| a.levels == b.levels) {
        window.set_levels(list(
            m.levels
                .iter()
                .map(|o| Offer {
                    name: o.name.as_str().into(),
                    price: o.price.as_str().into(),
                    guests: int(o.guests),
                })
                .collect(),
        ));
    }
    window.set_day(m.day.as_str().into());
    if changed(|a, b| a.days == b.days) {
        update(
            window.get_days(),
            m.days
                .iter()
                .map(|d| {
                    let (weekday, date) = d.label.split_once(' ').unwrap_or((d.label.as_str(), ""));
                    DayItem {
                        weekday: weekday.into(),
                        date: date.into(),
                        chosen: d.chosen,
                    }
                })
                .collect(),
            |l| window.set_days(l),
        );
    }
    if changed(|a, b| a.slots == b.slots) {
        update(
            window.get_slots(),
            m.slots
                .iter()
                .map(|s| SlotItem {
                    time: s.time.as_str().into(),
                    name: s.name.as_str().into(),
                    free: int(s.free),
                    chosen: s.chosen,
                    all_day: s.slot.is_none(),
                })
                .collect(),
            |l| window.set_slots(l),
        );
    }
    if changed(|a, b| a.quantities == b.quantities) {
        update(
            window.get_quantities(),
            m.quantities
                .iter()
                .map(|q| QtyItem {
                    name: q.name.as_str().into(),
                    price: q.price.as_str().into(),
                    count: int(q.count),
                })
                .collect(),
            |l| window.set_quantities(l),
        );
    }
    window.set_tickets(int(m.tickets));
    window.set_summary(m.summary.as_str().into());
    window.set_is_member(m.member.is_some());
    let (level, guests) = m.member.clone().unwrap_or_default();
    window.set_member_level(level.as_str().into());
    window.set_member_guests(int(guests));
    window.set_first(m.first.as_str().into());
    window.set_last(m.last.as_str().into());
    window.set_email(m.email.as_str().into());
    window.set_phone(m.phone.as_str().into());
    window.set_typed_id(m.typed_id.as_str().into());
    window.set_typed_extra(m.typed_extra.as_str().into());
    window.set_focused_field(match m.focus {
        Field::First => 0,
        Field::Last => 1,
        Field::Email => 2,
        Field::Phone => 3,
        Field::MemberId => 4,
        Field::Extra => 5,
        Field::Code => 6,
        Field::Last4 => 7,
    });
    window.set_consent(m.receipt_by_email);
    window.set_extra_kind(match m.screen {
        Screen::OneMoreDetail {
            detail: ExtraDetail::Email,
        } => 1,
        Screen::OneMoreDetail {
            detail: ExtraDetail::Postcode,
        } => 2,
        _ => 0,
    });
    if changed(|a, b| a.keys == b.keys && a.layout == b.layout) {
        let (rows, columns) = key_rows(&m.keys, m.layout);
        window.set_keys(list(rows));
        window.set_key_columns(i32::from(columns));
    }
    if changed(|a, b| a.products == b.products) {
        update(
            window.get_products(),
            m.products
                .iter()
                .map(|p| ProductItem {
                    name: p.name.as_str().into(),
                    chosen: p.chosen,
                })
                .collect(),
            |l| window.set_products(l),
        );
    }
    if changed(|a, b| a.lines == b.lines) {
        window.set_lines(list(
            m.lines
                .iter()
                .map(|l| LineItem {
                    quantity: int(l.quantity),
                    name: l.name.as_str().into(),
                    kind: match l.kind {
                        PriceKind::NonMember => 0,
                        PriceKind::Member => 1,
                        PriceKind::Guest => 2,
                    },
                    amount: l.amount.as_str().into(),
                })
                .collect(),
        ));
    }
    window.set_tax(m.tax.as_str().into());
    window.set_tax_included(m.tax_included);
    window.set_total(m.total.as_str().into());
    window.set_savings(m.savings.clone().unwrap_or_default().as_str().into());
    window.set_order_no(m.order_no.clone().unwrap_or_default().as_str().into());
    window.set_cancelling(matches!(m.screen, Screen::Paying { cancelling: true }));
    let card = m.card.clone();
    window.set_card_level(card.as_ref().map_or("", |c| c.level.as_str()).into());
    window.set_card_standing(card.as_ref().map_or(0, |c| match c.standing {
        Standing::Active => 0,
        Standing::Expired => 1,
        Standing::NotYetStarted => 2,
        Standing::Inactive => 3,
    }));
    window.set_card_expiry(card.as_ref().map_or("", |c| c.expiry.as_str()).into());
    window.set_card_allowance(card.as_ref().map_or(0, |c| int(c.guest_allowance)));
    window.set_guests(card.as_ref().map_or(0, |c| int(c.guests)));
    window.set_card_renewable(card.as_ref().is_some_and(|c| c.renewable));
    window.set_typed_code(m.typed_code.as_str().into());
    let (targets, sent_to) = fmm_targets(&m.screen);
    if changed(|a, b| fmm_targets(&a.screen) == fmm_targets(&b.screen)) {
        window.set_fmm_targets(list(targets.iter().map(target_item).collect()));
        window.set_fmm_sent_to(sent_to.map(target_item).unwrap_or_default());
    }
    window.set_typed_last4(m.typed_last4.as_str().into());
    window.set_problem_time(
        match &m.screen {
            Screen::VolunteerDay {
                problem: Some(VolunteerProblem::TooEarly { opens_at }),
            } => opens_at.format("%H:%M").to_string(),
            _ => String::new(),
        }
        .as_str()
        .into(),
    );
    let v = m.volunteer.as_ref();
    window.set_volunteer_name(v.map_or("", |v| v.first_name.as_str()).into());
    if changed(|a, b| a.volunteer == b.volunteer) {
        window.set_volunteer_shifts(list(
            v.map(|v| {
                v.shifts
                    .iter()
                    .map(|s| ShiftItem {
                        time: s.time.as_str().into(),
                        event: s.event.as_str().into(),
                        state: match s.state {
                            ShiftState::Later { .. } => 0,
                            ShiftState::Open => 1,
                            ShiftState::CheckedIn { .. } => 2,
                            ShiftState::Over => 3,
                            ShiftState::Problem(_) => 4,
                        },
                        opens: match s.state {
                            ShiftState::Later { opens_at } => {
                                opens_at.format("%H:%M").to_string().as_str().into()
                            }
                            _ => SharedString::new(),
                        },
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ));
        window.set_volunteer_walk_ins(list(
            v.map(|v| {
                v.walk_ins
                    .iter()
                    .map(|w| WalkInItem {
                        name: w.name.as_str().into(),
                        problem: w.problem,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ));
    }
    let open = v.and_then(|v| v.open.clone());
    window.set_volunteer_checked_in(open.is_some());
    let (open_event, since) = open.unwrap_or_default();
    window.set_volunteer_open_event(open_event.as_str().into());
    window.set_volunteer_open_since(since.as_str().into());
    let (out, event, minutes) = match &m.screen {
        Screen::VolunteerDone(Clocked::In { event }) => (false, event.clone(), 0),
        Screen::VolunteerDone(Clocked::Out { event, minutes }) => (true, event.clone(), *minutes),
        _ => (false, String::new(), 0),
    };
    window.set_volunteer_out(out);
    window.set_volunteer_done_event(event.as_str().into());
    window.set_volunteer_done_hours(int(minutes / 60));
    window.set_volunteer_done_minutes(int(minutes % 60));
    window.set_passes_printed(!matches!(
        m.screen,
        Screen::CheckedIn {
            printed: Printed::NotAll
        }
    ));
}

/// The technician panel over the screen (hidden when `None`).
fn apply_technician(window: &KioskWindow, t: Option<&TechPanel>, before: Option<&TechPanel>) {
    crate::technician_panel::apply_technician!(window, t, before, |items| update(
        window.get_tech_rows(),
        items,
        |l| window.set_tech_rows(l)
    ));
}

/// Where the screen's events go (the kiosk's session, or a test).
pub type EventSink = Rc<dyn Fn(Event)>;

/// The kiosk screen: the Slint component, the model it shows, and where its taps go.
pub struct KioskScreen {
    window: KioskWindow,
    shown: Shown,
    venue: String,
}

impl KioskScreen {
    /// Creates the component (on the current Slint platform) and wires its callbacks to `sink`.
    pub fn new(venue: &str, sink: EventSink) -> Result<Self, UiError> {
        let window = KioskWindow::new()?;
        let screen = Self {
            window,
            shown: Shown::default(),
            venue: venue.to_owned(),
        };
        wire(&screen.window, &screen.shown, sink);
        apply(&screen.window, &KioskScreenModel::default(), venue, None);
        Ok(screen)
    }

    pub fn window(&self) -> &KioskWindow {
        &self.window
    }

    /// Shows `model`.
    pub fn show(&self, model: &KioskScreenModel) {
        let before = lock(&self.shown).clone();
        apply(&self.window, model, &self.venue, Some(&before));
        *lock(&self.shown) = model.clone();
    }

    /// What the screen shows now.
    pub fn shown(&self) -> KioskScreenModel {
        lock(&self.shown).clone()
    }

    /// A handle for showing models from another thread ([`post_model`]).
    pub fn poster(&self) -> ModelPoster {
        ModelPoster {
            weak: self.window.as_weak(),
            shown: self.shown.clone(),
            venue: self.venue.clone(),
        }
    }
}

/// The model last shown, for turning a tapped position back into what it showed.
type Shown = Arc<Mutex<KioskScreenModel>>;

fn lock(shown: &Shown) -> std::sync::MutexGuard<'_, KioskScreenModel> {
    shown.lock().unwrap_or_else(|p| p.into_inner())
}

fn wire(window: &KioskWindow, shown: &Shown, sink: EventSink) {
    let tap = {
        let sink = sink.clone();
        move |t: Tap| sink(Event::Tap(t))
    };
    macro_rules! simple {
        ($setter:ident, $tap:expr) => {{
            let tap = tap.clone();
            window.$setter(move || tap($tap));
        }};
    }
    simple!(on_start_tickets, Tap::Start(Purpose::Tickets));
    simple!(on_start_membership, Tap::Start(Purpose::Membership));
    simple!(on_next, Tap::Next);
    simple!(on_back, Tap::Back);
    simple!(on_cancel, Tap::Cancel);
    simple!(on_pay, Tap::Pay);
    simple!(on_retry, Tap::Retry);
    simple!(on_still_here, Tap::StillHere);
    simple!(on_finish, Tap::Finish);
    simple!(on_start_check_in, Tap::Start(Purpose::CheckIn));
    simple!(on_by_name, Tap::ByName);
    simple!(on_check_in, Tap::CheckIn);
    simple!(on_renew, Tap::Renew);
    simple!(on_verify_by_code, Tap::VerifyByCode);
    simple!(on_start_volunteer, Tap::Start(Purpose::Volunteer));
    simple!(on_clock_out, Tap::ClockOut);
    {
        use crate::technician_panel::PanelTap;
        let s = sink.clone();
        let panel: Rc<dyn Fn(PanelTap)> = Rc::new(move |t| {
            s(match t {
                PanelTap::Event(e) => Event::Technician(e),
                PanelTap::Action(a) => Event::TechAction(a),
            })
        });
        crate::technician_panel::wire_technician!(window, panel);
    }
    {
        let (tap, shown) = (tap.clone(), shown.clone());
        window.on_shift_in(move |i| {
            let t = usize::try_from(i).ok().and_then(|i| {
                let shown = lock(&shown);
                let s = shown.volunteer.as_ref()?.shifts.get(i)?;
                Some(Tap::ClockIn {
                    event_id: s.event_id.clone(),
                    shift_id: Some(s.shift_id.clone()),
                })
            });
            if let Some(t) = t {
                tap(t);
            }
        });
    }
    {
        let (tap, shown) = (tap.clone(), shown.clone());
        window.on_walk_in(move |i| {
            let t = usize::try_from(i).ok().and_then(|i| {
                let shown = lock(&shown);
                let w = shown.volunteer.as_ref()?.walk_ins.get(i)?;
                Some(Tap::ClockIn {
                    event_id: w.event_id.clone(),
                    shift_id: None,
                })
            });
            if let Some(t) = t {
                tap(t);
            }
        });
    }
    {
        let (tap, shown) = (tap.clone(), shown.clone());
        window.on_fmm_target(move |i| {
            let target = usize::try_from(i).ok().and_then(|i| {
                let shown = lock(&shown);
                fmm_targets(&shown.screen).0.get(i).map(|t| t.index)
            });
            if let Some(t) = target {
                tap(Tap::Target(t));
            }
        });
    }
    {
        let (tap, shown) = (tap.clone(), shown.clone());
        window.on_fmm_send_again(move || {
            let sent = fmm_targets(&lock(&shown).screen).1.map(|t| t.index);
            if let Some(t) = sent {
                tap(Tap::Target(t));
            }
        });
    }
    {
        let tap = tap.clone();
        window.on_guests_changed(move |d| tap(Tap::Guests(d)));
    }
    {
        let tap = tap.clone();
        window.on_lang_chosen(move |tag: SharedString| {
            tap(Tap::Lang(if tag == "es" { Lang::Es } else { Lang::En }))
        });
    }
    {
        let tap = tap.clone();
        window.on_member(move |yes| tap(Tap::IsMember(yes)));
    }
    {
        let tap = tap.clone();
        window.on_consent_toggled(move || tap(Tap::ToggleConsent));
    }
    {
        let tap = tap.clone();
        window.on_focus_field(move |i| {
            let field = match i {
                0 => Field::First,
                1 => Field::Last,
                2 => Field::Email,
                7 => Field::Last4,
                _ => Field::Phone,
            };
            tap(Tap::Focus(field))
        });
    }
    let at = |i: i32| usize::try_from(i).ok();
    {
        let (tap, shown) = (tap.clone(), shown.clone());
        window.on_level(move |i| {
            let product = at(i).and_then(|i| lock(&shown).levels.get(i).map(|o| o.product.clone()));
            if let Some(p) = product {
                tap(Tap::Level(p));
            }
        });
    }
    {
        let (tap, shown) = (tap.clone(), shown.clone());
        window.on_product_chosen(move |i| {
            let product =
                at(i).and_then(|i| lock(&shown).products.get(i).map(|p| p.product.clone()));
            if let Some(p) = product {
                tap(Tap::Product(p));
            }
        });
    }
    {
        let (tap, shown) = (tap.clone(), shown.clone());
        window.on_day_chosen(move |i| {
            let day = at(i).and_then(|i| lock(&shown).days.get(i).map(|d| d.date));
            if let Some(d) = day {
                tap(Tap::Day(d));
            }
        });
    }
    {
        let (tap, shown) = (tap.clone(), shown.clone());
        window.on_slot(move |i| {
            let slot = at(i).and_then(|i| {
                lock(&shown).slots.get(i).map(|s| match &s.slot {
                    Some(slot) => Tap::Slot {
                        product: s.product.clone(),
                        slot: slot.clone(),
                    },
                    None => Tap::AllDay {
                        product: s.product.clone(),
                        day: s.day,
                    },
                })
            });
            if let Some(t) = slot {
                tap(t);
            }
        });
    }
    {
        let (tap, shown) = (tap.clone(), shown.clone());
        window.on_quantity(move |i, delta| {
            // A row is a visitor category, or on the add-ons screen an add-on.
            let row = at(i).and_then(|i| {
                let shown = lock(&shown);
                let add_ons = matches!(shown.screen, Screen::AddOns { .. });
                shown
                    .quantities
                    .get(i)
                    .map(|q| (q.category.clone(), add_ons))
            });
            match row {
                Some((product, true)) => tap(Tap::AddOn { product, delta }),
                Some((category, false)) => tap(Tap::Quantity { category, delta }),
                None => {}
            }
        });
    }
    {
        let (tap, shown) = (tap.clone(), shown.clone());
        window.on_key(move |r, c| {
            let key = at(r)
                .zip(at(c))
                .and_then(|(r, c)| lock(&shown).keys.get(r)?.get(c).map(|k| k.key.clone()));
            if let Some(k) = key {
                tap(Tap::Key(k));
            }
        });
    }
}

/// Shows models on a kiosk screen from any thread.
#[derive(Clone)]
pub struct ModelPoster {
    weak: slint::Weak<KioskWindow>,
    shown: Shown,
    venue: String,
}

impl ModelPoster {
    /// Shows `model`: the copy runs on the Slint event loop. Fails only when the event loop is
    /// not running; a window that no longer exists is skipped.
    pub fn post(&self, model: KioskScreenModel) -> Result<(), UiError> {
        let (shown, venue) = (self.shown.clone(), self.venue.clone());
        self.weak.upgrade_in_event_loop(move |window| {
            let before = lock(&shown).clone();
            apply(&window, &model, &venue, Some(&before));
            *lock(&shown) = model;
        })?;
        Ok(())
    }
}
