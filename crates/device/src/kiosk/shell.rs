//! The kiosk's shell: runs the checkout [`Flow`] and does what it asks — holds seats from the
//! kiosk's leases, looks members up and previews matches in the replica, checks the printer,
//! takes the payment and makes the order through the till, prints tickets and the receipt.
//!
//! One thread owns the shell (the kiosk's session thread). Events come in from the screen
//! (taps, keys), the scanners, a clock tick, and from the two workers a session may start: the
//! payment (as long as the visitor takes with their card; Cancel reaches the terminal
//! meanwhile) and the printing. [`KioskShell::handle`] takes one event, runs the flow and every
//! command that follows at once; [`KioskShell::pump`] waits for the next queued event.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use rusqlite::Connection;

use crate::clock::Clock;
use crate::find_membership::shell as fmm_shell;
use crate::intake::{Decision, IntakeConfig};
use crate::kiosk::catalog::{Catalog, Lang};
use crate::kiosk::check_ins;
use crate::kiosk::checkin::{self, CardLookup, MemberCard, MemberQuery};
use crate::kiosk::checkout::{
    ClockFault, Clocked, DayShift, VolunteerDay, VolunteerLookup, VolunteerQuery,
};
use crate::kiosk::checkout::{
    Command, Ctx, Event, Flow, FlowConfig, MatchPreview, MemberContext, MemberLookup,
    PaymentOutcome, Printed, PrinterProblem,
};
use crate::kiosk::escpos::PrintDoc;
use crate::kiosk::leases;
use crate::kiosk::order;
use crate::kiosk::orders::{self, CommittedOrder, Printout};
use crate::kiosk::pricing::{MemberBenefit, PriceKind};
use crate::kiosk::printer::{PrintReport, PrinterError, TicketPrinter};
use crate::kiosk::receipt::{
    Letterhead, Paper, ReceiptLine, ReceiptPrint, TicketPrint, guest_passes_doc, receipt_doc,
    tickets_doc,
};
use crate::kiosk::sale::{NotPaid, SaleError, Sales};
use crate::normalize::Normalizer;
use crate::replica;
use crate::volunteer::{EventProblem, OpenClock, VolunteerEvent};

mod technician;
pub use crate::technician::common::input_seen;
pub use technician::{SESSION_IDLE, TechParts};

/// What the workers send back.
enum Input {
    /// Whether the card terminal answered.
    TerminalChecked(bool),
    /// A technician's print job (test page, an order again).
    TechPrinted(Result<PrintReport, PrinterError>),
    /// A technician's printing of a check-in's guest passes again: their secrets, in order.
    TechPassesPrinted {
        secrets: Vec<String>,
        result: Result<PrintReport, PrinterError>,
    },
    Event(Event),
    Paid(Result<Result<CommittedOrder, NotPaid>, SaleError>),
    Printed {
        order_id: String,
        secrets: Vec<String>,
        pieces: usize,
        result: Result<PrintReport, PrinterError>,
    },
    PassesPrinted {
        secrets: Vec<String>,
        result: Result<PrintReport, PrinterError>,
    },
    /// The hub's answer to a Find My Membership call, with the call's request.
    Hub {
        answer: fmm_shell::HubAnswer,
        request_id: Option<String>,
    },
}

/// The hub, for Find My Membership's calls: its client and the runtime the calls run on (the
/// session thread is no tokio thread; a worker blocks on the call there).
#[derive(Clone)]
pub struct HubLink {
    pub client: crate::sync::HubClient,
    pub runtime: tokio::runtime::Handle,
}

/// The printer, shared with the printing worker.
pub type SharedPrinter = Arc<Mutex<Box<dyn TicketPrinter>>>;

/// Everything the shell works with.
pub struct ShellParts {
    pub flow: FlowConfig,
    pub catalog: Catalog,
    /// The till: payments, orders and signed tickets. `None` on a volunteer time clock, which
    /// sells nothing.
    pub sales: Option<Arc<Sales>>,
    /// The device database (its one writer) and the device's id.
    pub store: Arc<crate::replica::Store>,
    pub device_id: String,
    pub printer: Option<SharedPrinter>,
    pub paper: Paper,
    pub letterhead: Letterhead,
    /// A read connection to the device database.
    pub reader: Connection,
    pub normalizer: Normalizer,
    /// Intake's rules for the preview (as the venue configured them).
    pub intake: IntakeConfig,
    pub clock: Arc<dyn Clock>,
    pub zone: Option<chrono_tz::Tz>,
    /// Whether the hub answers now (orders are marked as sold offline otherwise).
    pub online: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Wakes the lease client (a visitor wants more seats than the kiosk holds).
    pub lease_poke: Option<Arc<tokio::sync::Notify>>,
    /// The hub for Find My Membership (none: the member is told to ask at the desk).
    pub hub: Option<HubLink>,
    /// The technician screen's PIN, cards, and what its pages read and do.
    pub tech: TechParts,
}

pub struct KioskShell {
    flow: Flow,
    parts: ShellParts,
    /// The seats the session holds: read by the lease client, which never gives them back.
    hold: Arc<Mutex<Option<(String, u32)>>>,
    tx: Sender<Input>,
    rx: Receiver<Input>,
    reference: Option<String>,
    order: Option<CommittedOrder>,
    /// The check-in just recorded, and its membership's level (printed on its passes).
    check_in: Option<(check_ins::Recorded, String)>,
    /// How the last print job went.
    pub last_print: Option<PrintReport>,
    tech: technician::TechState,
}

impl KioskShell {
    pub fn new(parts: ShellParts) -> Self {
        let (tx, rx) = channel();
        let service_mode = technician::saved_service_mode(&parts.reader);
        if service_mode {
            tracing::warn!(
                "the kiosk starts out of service (switched off on the technician screen)"
            );
        }
        Self {
            tech: technician::TechState::new(
                parts.clock.now(),
                service_mode,
                technician::last_pull(&parts.reader),
            ),
            flow: Flow::new(parts.flow, Instant::now()),
            parts,
            hold: Arc::new(Mutex::new(None)),
            tx,
            rx,
            reference: None,
            order: None,
            check_in: None,
            last_print: None,
        }
    }

    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    pub fn catalog(&self) -> &Catalog {
        &self.parts.catalog
    }

    /// What the screen shows now.
    pub fn model(&self, now: Instant) -> crate::screens::kiosk_view::KioskScreenModel {
        let reader = &self.parts.reader;
        let hold = self.session_holds();
        let free = move |slot: &str| free_seats(reader, slot, hold(slot));
        let mut model = crate::screens::kiosk_view::model(
            &self.flow,
            &self.parts.catalog,
            self.parts.clock.now(),
            self.now_local(),
            &free,
            now,
        );
        model.technician = self.tech_panel();
        model
    }

    /// The venue's name, as the receipt gives it.
    pub fn venue(&self) -> &str {
        &self.parts.letterhead.venue
    }

    /// Replaces the catalog (after a pull); a session under way keeps its prices until it
    /// reviews its basket again.
    pub fn set_catalog(&mut self, catalog: Catalog) {
        self.parts.catalog = catalog;
    }

    /// Seats held on screen per slot, for the lease client.
    pub fn session_holds(&self) -> Arc<dyn Fn(&str) -> u32 + Send + Sync> {
        let hold = self.hold.clone();
        Arc::new(
            move |slot: &str| match &*hold.lock().unwrap_or_else(|p| p.into_inner()) {
                Some((s, n)) if s == slot => *n,
                _ => 0,
            },
        )
    }

    /// Where the screen and the scanners send events.
    pub fn sender(&self) -> impl Fn(Event) + Send + Sync + 'static {
        let tx = Mutex::new(self.tx.clone());
        move |e| {
            let _ = tx
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .send(Input::Event(e));
        }
    }

    fn now_local(&self) -> NaiveDateTime {
        crate::gate::station::now_local(self.parts.clock.now(), self.parts.zone).local
    }

    /// Takes the next queued event (a worker's result, a tap) within `wait`; whether there
    /// was one.
    pub fn pump(&mut self, wait: Duration) -> bool {
        let Ok(input) = self.rx.recv_timeout(wait) else {
            return false;
        };
        let event = match input {
            Input::Event(e) => e,
            Input::Paid(result) => self.paid(result),
            Input::Printed {
                order_id,
                secrets,
                pieces,
                result,
            } => self.printed(&order_id, &secrets, pieces, result),
            Input::PassesPrinted { secrets, result } => self.passes_printed(&secrets, result),
            Input::Hub { answer, request_id } => self.hub_answered(answer, request_id),
            Input::TerminalChecked(reachable) => self.terminal_checked(reachable),
            Input::TechPrinted(result) => self.tech_printed(result),
            Input::TechPassesPrinted { secrets, result } => {
                self.tech_passes_printed(&secrets, result)
            }
        };
        self.handle(event, Instant::now());
        true
    }

    /// Runs one event through the flow, and every command that follows.
    pub fn handle(&mut self, event: Event, now: Instant) {
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            // The technician screen's events are the shell's; the clock also judges the
            // kiosk's health, which the flow hears when it changes.
            match event {
                Event::Technician(t) => {
                    self.technician(t);
                    continue;
                }
                Event::TechAction(a) => {
                    queue.extend(self.tech_action(a));
                    continue;
                }
                Event::InputSeen(seen) => {
                    self.input_seen(seen);
                    continue;
                }
                // Over the technician screen a scan is a scan test, not a visitor's card.
                Event::Scanned { .. } if self.technician_shows() => continue,
                Event::Tick => queue.extend(self.tech_tick()),
                _ => {}
            }
            let commands = {
                let reader = &self.parts.reader;
                let hold = self.session_holds();
                let free = move |slot: &str| free_seats(reader, slot, hold(slot));
                let ctx = Ctx {
                    catalog: &self.parts.catalog,
                    now: self.parts.clock.now(),
                    now_local: crate::gate::station::now_local(
                        self.parts.clock.now(),
                        self.parts.zone,
                    )
                    .local,
                    free_seats: &free,
                };
                self.flow.handle(event, now, &ctx)
            };
            for c in commands {
                if let Some(next) = self.execute(c) {
                    queue.push_back(next);
                }
            }
        }
    }

    fn execute(&mut self, command: Command) -> Option<Event> {
        match command {
            Command::SelectLanguage(_) => None,
            Command::SetHold { slot, seats } => Some(self.set_hold(slot, seats)),
            Command::LookupMember { membership_id } => {
                let today = self.now_local().date();
                Some(Event::Member(
                    member_lookup(&self.parts.reader, &membership_id, today).unwrap_or_else(|e| {
                        tracing::error!(error = %e, "member lookup failed");
                        MemberLookup::NotFound
                    }),
                ))
            }
            Command::PreviewMatch(visitor) => {
                let decision = crate::intake::shell::preview(
                    &self.parts.reader,
                    &self.parts.normalizer,
                    &self.parts.intake,
                    &visitor,
                    self.parts.clock.now(),
                );
                Some(Event::Matched(match decision {
                    Ok(Decision::Matched { lookup_id, .. }) => MatchPreview::One { lookup_id },
                    Ok(Decision::Ambiguous { .. }) => MatchPreview::Several,
                    Ok(_) => MatchPreview::None,
                    Err(e) => {
                        tracing::error!(error = %e, "matching preview failed");
                        MatchPreview::None
                    }
                }))
            }
            Command::StartPayment { .. } => self.start_payment(),
            Command::CancelPayment => {
                // On a thread of its own: a real terminal may take seconds to take it, and the
                // payment's own answer says what happened.
                if let (Some(r), Some(sales)) = (self.reference.clone(), self.parts.sales.clone()) {
                    let spawned = std::thread::Builder::new()
                        .name("kiosk-cancel".into())
                        .spawn(move || {
                            if let Err(e) = sales.cancel(&r) {
                                tracing::warn!(error = %e, "the terminal did not take the cancel");
                            }
                        });
                    if let Err(e) = spawned {
                        tracing::error!(error = %e, "cannot ask the terminal to cancel");
                    }
                }
                None
            }
            Command::CommitOrder => self.order.as_ref().map(|o| Event::Committed {
                order_no: o.order_no.clone(),
            }),
            Command::Print => self.print(),
            Command::FindMember(query) => {
                let today = self.now_local().date();
                let found = find_member(&self.parts.reader, &self.parts.normalizer, &query, today)
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "member lookup failed");
                        CardLookup::NotFound
                    });
                Some(Event::MemberCard(found))
            }
            Command::RecordCheckIn {
                membership_id,
                guests,
            } => Some(self.record_check_in(membership_id, guests)),
            Command::PrintPasses => self.print_passes(),
            Command::FindMembership(call) => self.ask_hub(call),
            Command::FindVolunteer(query) => Some(Event::Volunteer(self.find_volunteer(&query))),
            Command::ClockIn {
                volunteer,
                event_id,
                shift_id,
                at,
            } => Some(Event::Clocked(
                self.clock_in(volunteer, event_id, shift_id, at),
            )),
            Command::ClockOut { clock_id, closed } => {
                Some(Event::Clocked(self.clock_out(&clock_id, closed)))
            }
        }
    }

    fn clock(&self) -> crate::volunteer::ClockRules {
        self.parts.flow.clock
    }

    /// Finds the volunteer and their day; a check-out of theirs that never came is closed first.
    fn find_volunteer(&mut self, q: &VolunteerQuery) -> VolunteerLookup {
        let found = match q {
            VolunteerQuery::Badge(id) => replica::resolve(&self.parts.reader, id)
                .and_then(|r| replica::constituent(&self.parts.reader, &r.survivor))
                .map(|c| c.into_iter().map(|c| c.lookup_id).collect::<Vec<_>>()),
            VolunteerQuery::Name { last, last4, first } => {
                let n = &self.parts.normalizer;
                let first = first.as_deref().map(|f| n.name_key(f));
                replica::volunteer::by_name_and_phone(
                    &self.parts.reader,
                    &n.name_key(last),
                    first.as_deref(),
                    last4,
                    10,
                )
            }
        };
        let id = match found.as_deref() {
            Ok([one]) => one.clone(),
            Ok([]) => return VolunteerLookup::NotFound,
            Ok(_) => return VolunteerLookup::Several,
            Err(e) => {
                tracing::error!(error = %e, "volunteer lookup failed");
                return VolunteerLookup::NotFound;
            }
        };
        self.sweep_volunteer(&id);
        match self.volunteer_day(&id) {
            Ok(Some(day)) => VolunteerLookup::Found(Box::new(day)),
            Ok(None) => VolunteerLookup::NotFound,
            Err(e) => {
                tracing::error!(error = %e, "volunteer's day could not be read");
                VolunteerLookup::NotFound
            }
        }
    }

    fn volunteer_day(&self, id: &str) -> replica::Result<Option<VolunteerDay>> {
        let conn = &self.parts.reader;
        let Some(person) = replica::constituent(conn, id)? else {
            return Ok(None);
        };
        let now = self.now_local();
        let from = now.date().and_hms_opt(0, 0, 0).unwrap_or(now);
        let shifts =
            replica::volunteer::shifts_between(conn, from, from + chrono::Duration::days(1))?;
        // Each event of the day, read and judged once.
        let mut events: Vec<(VolunteerEvent, Option<EventProblem>)> = Vec::new();
        let mut mine = Vec::new();
        for s in shifts {
            let i = match events.iter().position(|(e, _)| e.event_id == s.event_id) {
                Some(i) => i,
                None => {
                    let Some(event) = replica::volunteer::event(conn, &s.event_id)? else {
                        continue;
                    };
                    let job_known = replica::volunteer::job_exists(conn, event.job.trim())?;
                    let problem = crate::volunteer::event_problem(&event, &|_| job_known);
                    events.push((event, problem));
                    events.len() - 1
                }
            };
            // Scheduled under this record, or under one since merged into it.
            let scheduled = s.volunteers.iter().any(|v| {
                v == id
                    || replica::resolve(conn, v)
                        .map(|r| r.survivor == id)
                        .unwrap_or(false)
            });
            if scheduled {
                let (event, problem) = events[i].clone();
                mine.push(DayShift {
                    shift: s,
                    event,
                    problem,
                });
            }
        }
        let open = crate::volunteer::clock::open_of(conn, id)?;
        let open_event = match &open {
            Some(o) => replica::volunteer::event(conn, &o.event_id)?,
            None => None,
        };
        Ok(Some(VolunteerDay {
            volunteer: id.to_owned(),
            first_name: person.name.first,
            shifts: mine,
            events,
            open,
            open_event,
        }))
    }

    /// Closes the check-outs that never came (flagged for approval): of one volunteer, or of
    /// everyone (`None`). Returns how many were closed.
    pub fn sweep_volunteer_clocks(&mut self) -> usize {
        let open = match crate::volunteer::clock::all_open(&self.parts.reader) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the open check-ins");
                return 0;
            }
        };
        let mut closed = 0;
        for o in open {
            if self.sweep_one(&o) {
                closed += 1;
            }
        }
        closed
    }

    fn sweep_volunteer(&mut self, volunteer: &str) {
        if let Ok(Some(o)) = crate::volunteer::clock::open_of(&self.parts.reader, volunteer) {
            self.sweep_one(&o);
        }
    }

    fn sweep_one(&mut self, o: &OpenClock) -> bool {
        let conn = &self.parts.reader;
        let shift_end = match &o.shift_id {
            Some(id) => match replica::volunteer::shift(conn, id) {
                Ok(Some(s)) => Some(s.end),
                // A shift the hub withdrew: its check-in is closed as a walk-in's.
                _ => None,
            },
            None => None,
        };
        let Some(closed) = crate::volunteer::sweep(o, shift_end, self.now_local(), &self.clock())
        else {
            return false;
        };
        tracing::info!(volunteer = %o.volunteer, clock = %o.clock_id, "missed check-out closed for approval");
        self.close_clock(o, closed).is_ok()
    }

    fn close_clock(
        &self,
        o: &OpenClock,
        closed: crate::volunteer::Closed,
    ) -> Result<Option<String>, replica::ReplicaError> {
        let event =
            replica::volunteer::event(&self.parts.reader, &o.event_id)?.ok_or_else(|| {
                replica::ReplicaError::Corrupt {
                    table: "volunteer_events",
                    detail: format!("no event {}", o.event_id),
                }
            })?;
        let (o, device) = (o.clone(), self.parts.device_id.clone());
        let now_ms = self.parts.clock.now().timestamp_millis();
        self.parts.store.write(move |tx| {
            crate::volunteer::clock::close(tx, &o, &event, &closed, &device, now_ms)
        })
    }

    fn clock_in(
        &mut self,
        volunteer: String,
        event_id: String,
        shift_id: Option<String>,
        at: chrono::NaiveDateTime,
    ) -> Result<Clocked, ClockFault> {
        let event = replica::volunteer::event(&self.parts.reader, &event_id)
            .ok()
            .flatten()
            .ok_or(ClockFault::NotSaved)?;
        let open = OpenClock {
            clock_id: uuid::Uuid::now_v7().to_string(),
            volunteer,
            event_id,
            shift_id,
            checked_in: at,
        };
        match self
            .parts
            .store
            .write(move |tx| crate::volunteer::clock::open(tx, &open))
        {
            Ok(()) => Ok(Clocked::In { event: event.name }),
            Err(e) => {
                tracing::error!(error = %e, "the check-in was not recorded");
                Err(ClockFault::NotSaved)
            }
        }
    }

    fn clock_out(
        &mut self,
        clock_id: &str,
        closed: crate::volunteer::Closed,
    ) -> Result<Clocked, ClockFault> {
        let open = self
            .flow
            .session()
            .volunteer
            .as_ref()
            .and_then(|d| d.open.clone())
            .filter(|o| o.clock_id == clock_id)
            .ok_or(ClockFault::NotSaved)?;
        let minutes = closed.minutes;
        match self.close_clock(&open, closed) {
            // Closed meanwhile by the sweep (for approval): these hours were not recorded.
            Ok(None) => Err(ClockFault::NotSaved),
            Ok(Some(_)) => Ok(Clocked::Out {
                event: self
                    .flow
                    .session()
                    .volunteer
                    .as_ref()
                    .and_then(|d| d.open_event.as_ref())
                    .map(|e| e.name.clone())
                    .unwrap_or_default(),
                minutes,
            }),
            Err(e) => {
                tracing::error!(error = %e, "the check-out was not recorded");
                Err(ClockFault::NotSaved)
            }
        }
    }

    /// Makes a Find My Membership call on a worker thread; the answer comes back through the
    /// queue.
    fn ask_hub(&mut self, call: crate::find_membership::Command) -> Option<Event> {
        use crate::find_membership::Input as F;
        let Some(hub) = self.parts.hub.clone() else {
            return Some(Event::FindMembership(F::HubUnreachable));
        };
        let request_id = match &call {
            crate::find_membership::Command::Verify { request_id, .. } => Some(request_id.clone()),
            _ => None,
        };
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new()
            .name("kiosk-hub-call".into())
            .spawn(move || {
                let answer = hub.runtime.block_on(fmm_shell::ask_hub(&hub.client, &call));
                let _ = tx.send(Input::Hub { answer, request_id });
            });
        match spawned {
            Ok(_) => None,
            Err(e) => {
                tracing::error!(error = %e, "cannot call the hub");
                Some(Event::FindMembership(F::HubUnreachable))
            }
        }
    }

    /// A verified membership is recorded (the `reassociation` upload, for this kiosk's
    /// session) before the flow goes on with it.
    fn hub_answered(&mut self, answer: fmm_shell::HubAnswer, request_id: Option<String>) -> Event {
        use crate::find_membership::Input as F;
        use crate::find_membership::kiosk::Checked;
        if let (F::Checked(Checked::Verified { lookup_id, .. }), Some(m), Some(request_id)) =
            (&answer.input, &answer.membership, request_id)
        {
            let payload = fmm_shell::ReassociationV1 {
                visitor: format!("kiosk:{}", self.parts.device_id),
                lookup_id: lookup_id.clone(),
                membership_id: m.membership_id.clone(),
                request_id,
                verified_at: self.parts.clock.now(),
            };
            match self
                .parts
                .store
                .write(move |tx| fmm_shell::queue_reassociation(tx, payload))
            {
                Ok(key) => tracing::info!(
                    membership_id = %m.membership_id,
                    outbox_key = %key,
                    "find-membership: verified at the kiosk"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "find-membership: the verification was not recorded")
                }
            }
        }
        Event::FindMembership(answer.input)
    }

    fn record_check_in(&mut self, membership_id: String, guests: u32) -> Event {
        self.check_in = None;
        let level = self
            .flow
            .session()
            .card
            .as_ref()
            .map(|c| c.level.clone())
            .unwrap_or_default();
        let Some(sales) = &self.parts.sales else {
            tracing::error!("a check-in on a kiosk that cannot sign guest passes");
            return Event::CheckInNotRecorded;
        };
        let c = check_ins::CheckIn {
            membership_id,
            guests,
            device_id: self.parts.device_id.clone(),
            gate: self.parts.device_id.clone(),
            at: self.parts.clock.now(),
            local: self.now_local(),
            offline: !(self.parts.online)(),
        };
        let signer = sales.signer.clone();
        let recorded = self.parts.store.write(move |tx| {
            let sign = |f: &crate::input::credential::signed_ticket::TicketFields| {
                signer.issue(f).map(|code| (signer.key_id(), code))
            };
            check_ins::record(tx, &c, &sign).map_err(|e| replica::ReplicaError::Corrupt {
                table: "guest_passes",
                detail: e.to_string(),
            })
        });
        match recorded {
            Ok(r) => {
                tracing::info!(
                    scan = r.scan_id,
                    key = %r.outbox_key,
                    guests = r.passes.len(),
                    "member checked in"
                );
                crate::metrics::scan("admit", checkin::CHECK_IN_REASON);
                let passes = u32::try_from(r.passes.len()).unwrap_or(u32::MAX);
                self.check_in = Some((r, level));
                Event::CheckInRecorded { passes }
            }
            Err(e) => {
                tracing::error!(error = %e, "the check-in could not be recorded");
                Event::CheckInNotRecorded
            }
        }
    }

    fn print_passes(&mut self) -> Option<Event> {
        let (recorded, level) = self.check_in.as_ref()?;
        let Some(printer) = self.parts.printer.clone() else {
            return Some(Event::Printed(Printed::NotAll));
        };
        let passes: Vec<(String, String)> = recorded
            .passes
            .iter()
            .map(|p| (p.code.clone(), p.secret.clone()))
            .collect();
        let secrets: Vec<String> = passes.iter().map(|(_, s)| s.clone()).collect();
        let doc = guest_passes_doc(
            &self.parts.letterhead,
            &passes,
            level,
            self.now_local().date(),
            self.parts.paper,
            self.flow.session().lang,
        );
        self.print_on_worker(printer, doc, move |result| Input::PassesPrinted {
            secrets,
            result,
        })
    }

    /// Prints `doc` on a worker thread (a printer may take its timeout); `done` makes the
    /// queue's input of its result.
    fn print_on_worker(
        &self,
        printer: SharedPrinter,
        doc: PrintDoc,
        done: impl FnOnce(Result<PrintReport, PrinterError>) -> Input + Send + 'static,
    ) -> Option<Event> {
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new()
            .name("kiosk-printing".into())
            .spawn(move || {
                let result = printer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .print(&doc);
                let _ = tx.send(done(result));
            });
        match spawned {
            Ok(_) => None,
            Err(_) => Some(Event::Printed(Printed::NotAll)),
        }
    }

    fn passes_printed(
        &mut self,
        secrets: &[String],
        result: Result<PrintReport, PrinterError>,
    ) -> Event {
        let report = print_report(result);
        self.last_print = Some(report);
        let all = report.printed >= secrets.len();
        let now_ms = self.parts.clock.now().timestamp_millis();
        if let Err(e) = crate::kiosk::runtime::mark_passes_printed(
            &self.parts.store,
            secrets,
            report.printed,
            now_ms,
        ) {
            tracing::error!(error = %e, "could not record which guest passes were printed");
        }
        Event::Printed(if all { Printed::All } else { Printed::NotAll })
    }

    /// The check-in just recorded, if any.
    pub fn check_in(&self) -> Option<&check_ins::Recorded> {
        self.check_in.as_ref().map(|(r, _)| r)
    }

    fn set_hold(&mut self, slot: String, seats: u32) -> Event {
        let free = free_seats(&self.parts.reader, &slot, 0);
        let held = seats.min(free);
        if seats > free
            && let Some(poke) = &self.parts.lease_poke
        {
            poke.notify_one();
        }
        *self.hold.lock().unwrap_or_else(|p| p.into_inner()) =
            (held > 0).then(|| (slot.clone(), held));
        Event::Held { seats: held, free }
    }

    fn start_payment(&mut self) -> Option<Event> {
        if let Some(problem) = self.printer_problem() {
            return Some(Event::PrinterNotReady(problem));
        }
        let Some(sales) = self.parts.sales.clone() else {
            tracing::error!("a payment on a kiosk that does not sell");
            return Some(Event::Payment(PaymentOutcome::TerminalFault));
        };
        let draft = match order::draft(
            self.flow.session(),
            &self.parts.catalog,
            self.now_local().date(),
        ) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "the order could not be drafted");
                return Some(Event::Payment(PaymentOutcome::TerminalFault));
            }
        };
        // From here the payment's intent holds the seats.
        *self.hold.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let reference = Sales::new_reference();
        self.reference = Some(reference.clone());
        self.order = None;
        let offline = !(self.parts.online)();
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new()
            .name("kiosk-payment".into())
            .spawn(move || {
                let _ = tx.send(Input::Paid(sales.pay_as(&reference, &draft, offline)));
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the payment");
            return Some(Event::Payment(PaymentOutcome::TerminalFault));
        }
        None
    }

    fn paid(&mut self, result: Result<Result<CommittedOrder, NotPaid>, SaleError>) -> Event {
        let reference = self.reference.clone().unwrap_or_default();
        Event::Payment(match result {
            Ok(Ok(order)) => {
                self.order = Some(order);
                PaymentOutcome::Approved { reference }
            }
            Ok(Err(NotPaid::Declined)) => PaymentOutcome::Declined,
            Ok(Err(NotPaid::CancelledByVisitor)) => PaymentOutcome::CancelledByVisitor,
            Ok(Err(NotPaid::TimedOut)) => PaymentOutcome::TimedOut,
            Ok(Err(NotPaid::TerminalFault)) => PaymentOutcome::TerminalFault,
            Err(e) => {
                // The payment's intent stays until it is settled with the terminal (at the
                // latest at the next start-up): never charged without an order.
                tracing::error!(error = %e, %reference, "the order could not be saved");
                PaymentOutcome::TerminalFault
            }
        })
    }

    /// Checks the printer on a worker thread (its status may take the printer's timeout); the
    /// answer comes back as [`Event::PrinterChecked`], so the welcome screen can say the kiosk
    /// cannot sell before a visitor starts.
    pub fn check_printer(&self) {
        let printer = self.parts.printer.clone();
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new()
            .name("kiosk-printer-check".into())
            .spawn(move || {
                let problem = printer_problem(printer.as_ref());
                let _ = tx.send(Input::Event(Event::PrinterChecked(problem)));
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot check the printer");
        }
    }

    fn printer_problem(&self) -> Option<PrinterProblem> {
        printer_problem(self.parts.printer.as_ref())
    }

    fn print(&mut self) -> Option<Event> {
        let order = self.order.clone()?;
        let printout = match orders::printout(&self.parts.reader, &order.order_no) {
            Ok(Some(p)) => p,
            Ok(None) | Err(_) => {
                tracing::error!(order = %order.order_no, "the order to print was not found");
                return Some(Event::Printed(Printed::NotAll));
            }
        };
        let Some(printer) = self.parts.printer.clone() else {
            return Some(Event::Printed(Printed::NotAll));
        };
        let (doc, secrets) = documents(
            &printout,
            &self.parts.catalog,
            &self.parts.letterhead,
            self.parts.paper,
        );
        let pieces = doc.cuts();
        let order_id = printout.order_id.clone();
        self.print_on_worker(printer, doc, move |result| Input::Printed {
            order_id,
            secrets,
            pieces,
            result,
        })
    }

    fn printed(
        &mut self,
        order_id: &str,
        secrets: &[String],
        pieces: usize,
        result: Result<PrintReport, PrinterError>,
    ) -> Event {
        let report = print_report(result);
        self.last_print = Some(report);
        // Tickets print first, then the receipt.
        let tickets: Vec<String> = secrets.iter().take(report.printed).cloned().collect();
        let receipt = report.printed >= pieces;
        let now_ms = self.parts.clock.now().timestamp_millis();
        let id = order_id.to_owned();
        let marked = self.parts.store.write(move |tx| {
            orders::mark_printed(tx, &id, &tickets, receipt, now_ms).map_err(|e| {
                replica::ReplicaError::Corrupt {
                    table: "orders",
                    detail: e.to_string(),
                }
            })
        });
        if let Err(e) = marked {
            tracing::error!(error = %e, "could not record what was printed");
        }
        Event::Printed(if receipt {
            Printed::All
        } else {
            Printed::NotAll
        })
    }

    /// The order just made, if any.
    pub fn order(&self) -> Option<&CommittedOrder> {
        self.order.as_ref()
    }
}

/// What the printer reported; a failure reads as nothing printed.
fn print_report(result: Result<PrintReport, PrinterError>) -> PrintReport {
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "printing failed");
        PrintReport {
            printed: 0,
            stopped: true,
        }
    })
}

/// Why `printer` cannot print now, if it cannot.
fn printer_problem(printer: Option<&SharedPrinter>) -> Option<PrinterProblem> {
    let Some(printer) = printer else {
        return Some(PrinterProblem::NoPrinter);
    };
    match printer.lock().unwrap_or_else(|p| p.into_inner()).status() {
        Err(e) => {
            tracing::warn!(error = %e, "printer not answering");
            Some(PrinterProblem::Offline)
        }
        Ok(s) if !s.online => Some(PrinterProblem::Offline),
        Ok(s) if s.cover_open => Some(PrinterProblem::CoverOpen),
        Ok(s) if s.paper_out => Some(PrinterProblem::PaperOut),
        Ok(_) => None,
    }
}

/// Seats of `slot` the kiosk can still hold for a visitor: leased, less sold, less held by
/// payments under way, less the `session` seats held on screen.
fn free_seats(reader: &Connection, slot: &str, session: u32) -> u32 {
    match leases::lease(reader, slot) {
        Ok(Some(l)) => l.book(session).free(),
        Ok(None) => 0,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the kiosk's leases");
            0
        }
    }
}

/// Finds the member a check-in asks for, on `today`: by a membership ID (or a member's Lookup
/// ID, through merges), or by last name with an email or phone (see
/// [`crate::kiosk::checkin::find_by_name`]).
pub fn find_member(
    conn: &Connection,
    n: &Normalizer,
    query: &MemberQuery,
    today: NaiveDate,
) -> replica::Result<CardLookup> {
    match query {
        MemberQuery::Id(id) => {
            let id = replica::resolve(conn, id)?.survivor;
            if let Some(m) = replica::membership(conn, &id)? {
                return Ok(CardLookup::Found(MemberCard::of(&m, today)));
            }
            let held = replica::memberships_of(conn, &id)?;
            Ok(
                match crate::gate::decision::choose_membership(&held, today, 0) {
                    Some((m, _)) => CardLookup::Found(MemberCard::of(m, today)),
                    None => CardLookup::NotFound,
                },
            )
        }
        MemberQuery::Name {
            last,
            email,
            phone,
            first,
        } => {
            use crate::matching::blocking::BlockingKey;
            let mut keys = Vec::new();
            if let Some(email) = n.email(email) {
                keys.push(BlockingKey::Email { email });
            }
            if let Some(phone) = n.phone(phone) {
                keys.push(BlockingKey::Phone { phone });
            }
            let candidates = replica::search::candidates(conn, &keys, None, NAME_CANDIDATES)?;
            let mut holders = Vec::with_capacity(candidates.len());
            for c in candidates {
                let held = replica::memberships_of(conn, &c.lookup_id)?;
                if !held.is_empty() {
                    holders.push((c, held));
                }
            }
            Ok(
                match checkin::find_by_name(
                    n,
                    last,
                    email,
                    phone,
                    first.as_deref(),
                    &holders,
                    today,
                ) {
                    checkin::NameSearch::One(m) => CardLookup::Found(MemberCard::of(m, today)),
                    checkin::NameSearch::None => CardLookup::NotFound,
                    checkin::NameSearch::Several => CardLookup::Several,
                },
            )
        }
    }
}

/// Records an email or phone may find for a name search (a shared family address finds a few;
/// more than this and the desk helps).
const NAME_CANDIDATES: usize = 50;

/// What the replica says of a membership ID, for a visit on `today`.
pub fn member_lookup(
    conn: &Connection,
    membership_id: &str,
    today: NaiveDate,
) -> replica::Result<MemberLookup> {
    let id = replica::resolve(conn, membership_id)?.survivor;
    let Some(m) = replica::membership(conn, &id)? else {
        return Ok(MemberLookup::NotFound);
    };
    Ok(match MemberBenefit::for_visit(&m, today) {
        Some(benefit) => MemberLookup::Found(MemberContext {
            membership_id: m.membership_id,
            level: m.level,
            benefit,
        }),
        None => MemberLookup::NotValid,
    })
}

/// The order's tickets not printed yet and its receipt, in the order's language; with the
/// tickets' secrets in print order.
pub fn documents(
    p: &Printout,
    catalog: &Catalog,
    head: &Letterhead,
    paper: Paper,
) -> (PrintDoc, Vec<String>) {
    let lang = if p.language == "es" {
        Lang::Es
    } else {
        Lang::En
    };
    let product = |id: &str| {
        catalog
            .products
            .get(id)
            .map_or_else(|| id.to_owned(), |p| p.names.get(lang).to_owned())
    };
    let category = |id: &Option<String>| {
        id.as_ref().map(|c| {
            catalog
                .categories
                .get(c)
                .map_or_else(|| c.clone(), |c| c.names.get(lang).to_owned())
        })
    };
    let unprinted: Vec<_> = p.tickets.iter().filter(|t| !t.printed).collect();
    let tickets: Vec<TicketPrint> = unprinted
        .iter()
        .map(|t| TicketPrint {
            product: product(&t.product_id),
            category: category(&t.category_id),
            validity: crate::input::credential::signed_ticket::decode(&t.code)
                .map(|u| u.claimed.fields.validity)
                .unwrap_or(crate::domain::TicketValidity::Open),
            order_no: p.order_no.clone(),
            code: t.code.clone(),
            secret: t.secret.clone(),
        })
        .collect();
    let mut doc = tickets_doc(head, &tickets, paper, lang);
    let mut taxes: Vec<(String, u32, i64)> = Vec::new();
    let mut included: Vec<(String, u32, i64)> = Vec::new();
    for l in p.lines.iter().filter(|l| l.rate_bp > 0) {
        let name = catalog
            .tax_rules
            .get(&l.tax_rule)
            .map_or_else(|| l.tax_rule.clone(), |t| t.names.get(lang).to_owned());
        let list = if l.inclusive {
            &mut included
        } else {
            &mut taxes
        };
        match list
            .iter_mut()
            .find(|(n, r, _)| *n == name && *r == l.rate_bp)
        {
            Some(t) => t.2 += l.tax,
            None => list.push((name, l.rate_bp, l.tax)),
        }
    }
    let amount = |l: &orders::LineRow| {
        if l.inclusive {
            l.gross
        } else {
            l.gross - l.tax
        }
    };
    let receipt = ReceiptPrint {
        order_no: p.order_no.clone(),
        when: NaiveDateTime::parse_from_str(&p.local_time, "%Y-%m-%dT%H:%M:%S").unwrap_or_default(),
        lines: p
            .lines
            .iter()
            .map(|l| ReceiptLine {
                quantity: l.quantity,
                name: match category(&l.category_id) {
                    Some(c) => format!("{} · {c}", product(&l.product_id)),
                    None => product(&l.product_id),
                },
                kind: match l.price_kind.as_str() {
                    "member" => PriceKind::Member,
                    "guest" => PriceKind::Guest,
                    _ => PriceKind::NonMember,
                },
                amount: amount(l),
            })
            .collect(),
        subtotal: p.lines.iter().map(amount).sum(),
        taxes,
        included,
        gross: p.gross,
        currency: p.currency.clone(),
        card: crate::kiosk::receipt::card_label(p.card_brand.as_deref(), p.last4.as_deref()),
        auth_code: p.auth_code.clone(),
        member_savings: 0,
        email: p.receipt_email.clone(),
    };
    doc.0.extend(receipt_doc(head, &receipt, paper, lang).0);
    (doc, unprinted.iter().map(|t| t.secret.clone()).collect())
}
