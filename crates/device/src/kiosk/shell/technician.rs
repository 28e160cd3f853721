//! The technician screen behind the kiosk's: the core's [`Technician`] state machine, the PIN
//! checked on a worker (Argon2id takes a moment; the lock-out is kept in the database), the
//! pages' facts gathered from the database and the sync engine, and the actions a page offers.
//! Also the kiosk's health: service mode (kept across restarts), the hub's silence and the card
//! terminal, judged by the core into the out-of-order reason the visitor screen shows.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{Input, KioskShell};
use crate::kiosk::checkout::{Event, InputSeen};
use crate::kiosk::escpos::{Block, PrintDoc};
use crate::kiosk::out_of_order::{Health, OutOfOrder, judge};
use crate::replica;
use crate::screens::technician_view::{
    LastPasses, PaymentLine, TechAction, TechFacts, TechPanel, TerminalFacts, panel,
};
use crate::sync::LinkStatus;
use crate::technician::common::FACTS_REFRESH;
pub use crate::technician::common::SESSION_IDLE;
use crate::technician::{TechCommand, TechEvent, TechScreen, Technician};

const SERVICE_MODE_KEY: &str = "service_mode";

/// What the technician screen works with.
#[derive(Clone, Default)]
pub struct TechParts {
    /// The PIN's hash (`kiosk.technician_pin_file`); none: no PIN opens the pages.
    pub pin_file: Option<PathBuf>,
    /// Cards that open the PIN pad (`kiosk.technician_cards`).
    pub cards: Vec<String>,
    /// How long the hub may be silent before the kiosk is out of order (`None`: for ever).
    pub offline_limit: Option<Duration>,
    pub device_id: String,
    pub roles: Vec<String>,
    /// The configured readers, for the scan test.
    pub readers: Vec<String>,
    pub terminal_kind: String,
    /// The sync engine's view of the link.
    pub link: Option<Arc<dyn Fn() -> LinkStatus + Send + Sync>>,
    /// Asks the sync engine to pull and upload now.
    pub sync_now: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// The technician screen's state in the shell.
pub(super) struct TechState {
    pub machine: Technician,
    pub facts: TechFacts,
    facts_at: Option<Instant>,
    pub notice: String,
    /// The last frame of each reader since the screen opened.
    seen: BTreeMap<String, InputSeen>,
    pub service_mode: bool,
    terminal_unreachable: bool,
    /// The last time the hub was heard before this run's own contacts: the replica's last
    /// pull (kept across restarts), or the start for a device that never pulled.
    heard_before: DateTime<Utc>,
    judged: Option<OutOfOrder>,
}

impl TechState {
    pub fn new(now: DateTime<Utc>, service_mode: bool, last_pull: Option<DateTime<Utc>>) -> Self {
        Self {
            machine: Technician::new(now, SESSION_IDLE),
            facts: TechFacts::default(),
            facts_at: None,
            notice: String::new(),
            seen: BTreeMap::new(),
            service_mode,
            terminal_unreachable: false,
            heard_before: last_pull.map_or(now, |t| t.min(now)),
            judged: None,
        }
    }
}

/// When the replica last took a page from the hub (kept across restarts), if ever.
pub(super) fn last_pull(conn: &rusqlite::Connection) -> Option<DateTime<Utc>> {
    let t: Option<String> = conn
        .query_row("SELECT max(updated_at) FROM sync_cursors", [], |r| r.get(0))
        .ok()
        .flatten();
    t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Service mode as last switched (kept in the device database).
pub(super) fn saved_service_mode(conn: &rusqlite::Connection) -> bool {
    conn.query_row(
        "SELECT value FROM kiosk_state WHERE key = ?1",
        [SERVICE_MODE_KEY],
        |r| r.get::<_, String>(0),
    )
    .is_ok_and(|v| v == "on")
}

impl KioskShell {
    /// The technician panel over the visitor's screen, while it shows.
    pub(super) fn tech_panel(&self) -> Option<TechPanel> {
        panel(
            &self.tech.machine,
            &self.tech.facts,
            &self.tech.notice,
            self.parts.clock.now(),
        )
    }

    /// Whether the technician screen covers the visitor's.
    pub fn technician_shows(&self) -> bool {
        self.tech.machine.screen() != &TechScreen::Closed
    }

    /// Why the kiosk cannot serve now, as last judged.
    pub fn out_of_order(&self) -> Option<OutOfOrder> {
        self.flow.out_of_order()
    }

    /// Takes a technician event.
    pub(super) fn technician(&mut self, event: TechEvent) {
        let now = self.parts.clock.now();
        let opened = self.tech.machine.screen() == &TechScreen::Closed;
        if let Some(TechCommand::CheckPin(pin)) = self.tech.machine.handle(event, now) {
            self.check_pin(pin, now);
        }
        if opened && self.tech.machine.screen() != &TechScreen::Closed {
            // A new session: the scan test starts empty, nothing left from the last one.
            self.tech.seen.clear();
            self.tech.notice.clear();
            tracing::info!("technician screen opened");
        }
        if matches!(self.tech.machine.screen(), TechScreen::Open { .. }) {
            self.tech.facts_at = None;
            self.refresh_facts();
        }
    }

    fn check_pin(&self, pin: String, now: DateTime<Utc>) {
        let tx = self.tx.clone();
        crate::technician::common::check_pin(
            self.parts.store.clone(),
            self.parts.tech.pin_file.clone(),
            pin,
            now,
            move |answer| {
                let _ = tx.send(Input::Event(Event::Technician(TechEvent::Pin(answer))));
            },
        );
    }

    /// A reader's frame: kept for the scan test.
    pub(super) fn input_seen(&mut self, seen: InputSeen) {
        self.tech.seen.insert(seen.reader.clone(), seen);
        if matches!(
            self.tech.machine.screen(),
            TechScreen::Open {
                page: crate::technician::Page::Inputs
            }
        ) {
            self.tech.facts_at = None;
            self.refresh_facts();
        }
    }

    /// The clock: the technician's timeouts, an open page's facts, and the kiosk's health.
    pub(super) fn tech_tick(&mut self) -> Option<Event> {
        let now = self.parts.clock.now();
        self.tech.machine.handle(TechEvent::Tick, now);
        if matches!(self.tech.machine.screen(), TechScreen::Open { .. }) {
            self.refresh_facts();
        }
        let judged = judge(&self.health(now), self.parts.tech.offline_limit);
        crate::metrics::kiosk(crate::metrics::KioskHealth {
            // A volunteer time clock sells nothing: it has neither.
            printer_ready: self
                .parts
                .sales
                .as_ref()
                .map(|_| self.parts.printer.is_some() && self.flow.printer_problem().is_none()),
            terminal_reachable: self
                .parts
                .sales
                .as_ref()
                .map(|_| !self.tech.terminal_unreachable),
            out_of_order: judged,
        });
        (judged != self.tech.judged).then(|| {
            match judged {
                Some(o) => tracing::warn!(code = o.code(), reason = o.words(), "out of order"),
                None if self.tech.judged.is_some() => tracing::info!("back in order"),
                None => {}
            }
            self.tech.judged = judged;
            // Printer problems reach the flow as printer checks; the rest as this.
            Event::OutOfOrder(judged.filter(|o| !matches!(o, OutOfOrder::Printer(_))))
        })
    }

    fn link(&self) -> Option<LinkStatus> {
        self.parts.tech.link.as_ref().map(|l| l())
    }

    fn health(&self, now: DateTime<Utc>) -> Health {
        let hub_silent_for = self.link().filter(|l| !l.online).map(|l| {
            let last = [l.last_pull_ok, l.last_push_ok]
                .into_iter()
                .flatten()
                .max()
                .map_or(self.tech.heard_before, |t| t.max(self.tech.heard_before));
            (now - last).to_std().unwrap_or_default()
        });
        Health {
            service_mode: self.tech.service_mode,
            not_ready: false,
            hub_silent_for,
            terminal_unreachable: self.tech.terminal_unreachable,
            printer: self.flow.printer_problem(),
        }
    }

    /// Asks the card terminal whether it answers, on a worker.
    pub fn check_terminal(&self) {
        let Some(terminal) = self.parts.sales.as_ref().map(|s| s.terminal.clone()) else {
            return;
        };
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new()
            .name("kiosk-terminal-check".into())
            .spawn(move || {
                let reachable = match terminal.ping() {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "card terminal not answering");
                        false
                    }
                };
                let _ = tx.send(Input::TerminalChecked(reachable));
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot check the card terminal");
        }
    }

    pub(super) fn terminal_checked(&mut self, reachable: bool) -> Event {
        self.tech.terminal_unreachable = !reachable;
        Event::Tick
    }

    fn refresh_facts(&mut self) {
        if self
            .tech
            .facts_at
            .is_some_and(|t| t.elapsed() < FACTS_REFRESH)
        {
            return;
        }
        self.tech.facts_at = Some(Instant::now());
        match self.gather_facts() {
            Ok(f) => self.tech.facts = f,
            Err(e) => {
                tracing::error!(error = %e, "technician screen: the device database cannot be read");
                self.tech.notice = format!("The device database cannot be read: {e}");
            }
        }
    }

    fn gather_facts(&self) -> replica::Result<TechFacts> {
        let now = self.parts.clock.now();
        let t = &self.parts.tech;
        let health = self.health(now);
        let common = crate::technician::common::facts(crate::technician::common::Sources {
            reader: &self.parts.reader,
            device_id: &t.device_id,
            roles: &t.roles,
            readers: &t.readers,
            seen: &self.tech.seen,
            link: self.link(),
            hub_silent_for: health.hub_silent_for,
            now,
        })?;
        let conn = &self.parts.reader;
        let last_order: Option<String> = conn
            .query_row(
                "SELECT order_no FROM orders ORDER BY created_at_ms DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .ok();
        let today = self.now_local().date();
        let last_passes = crate::kiosk::check_ins::passes_on(conn, today)
            .map_err(|e| replica::ReplicaError::Corrupt {
                table: "guest_passes",
                detail: e.to_string(),
            })?
            .into_iter()
            .next()
            .map(|c| LastPasses {
                printed: c.printed(),
                passes: c.passes.len(),
                membership_id: c.membership_id,
            });
        let payments: Vec<PaymentLine> = conn
            .prepare(
                "SELECT created_at_ms, amount, currency, state, outcome FROM payment_intents
                 ORDER BY created_at_ms DESC LIMIT 5",
            )?
            .query_map([], |r| {
                let at: i64 = r.get(0)?;
                let amount: i64 = r.get(1)?;
                let currency: String = r.get(2)?;
                let mut state: String = r.get(3)?;
                if r.get::<_, Option<String>>(4)?.as_deref()
                    == Some(crate::kiosk::orders::REFUND_BY_HAND)
                {
                    state = "not given back: refund by hand".into();
                }
                let at = DateTime::from_timestamp_millis(at).map_or_else(String::new, |t| {
                    crate::gate::station::now_local(t, self.parts.zone)
                        .local
                        .format("%a %H:%M")
                        .to_string()
                });
                Ok(PaymentLine {
                    at,
                    amount: crate::kiosk::money::format(amount, &currency),
                    outcome: state.replace('_', " "),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let to_refund = crate::kiosk::orders::refunds_waiting(conn)?;
        Ok(TechFacts {
            relay: None,
            printer: self
                .parts
                .printer
                .as_ref()
                .map(|_| self.flow.printer_problem()),
            last_order,
            last_passes,
            // A volunteer time clock takes no payments.
            terminal: self.parts.sales.as_ref().map(|_| TerminalFacts {
                kind: t.terminal_kind.clone(),
                reachable: !self.tech.terminal_unreachable,
                payments,
                to_refund,
            }),
            has_service_mode: true,
            service_mode: self.tech.service_mode,
            out_of_order: judge(&health, t.offline_limit),
            ..common
        })
    }

    /// Runs a page's action; what happened shows as the page's notice.
    pub(super) fn tech_action(&mut self, action: TechAction) -> Option<Event> {
        if !matches!(self.tech.machine.screen(), TechScreen::Open { .. }) {
            return None;
        }
        let now = self.parts.clock.now();
        // An action is a touch: the session stays open.
        self.tech.machine.handle(
            TechEvent::Page(match self.tech.machine.screen() {
                TechScreen::Open { page } => *page,
                _ => crate::technician::Page::Status,
            }),
            now,
        );
        tracing::info!(?action, "technician action");
        let mut follow = None;
        self.tech.notice = match action {
            TechAction::SyncNow => {
                crate::technician::common::sync_now(self.parts.tech.sync_now.as_ref())
            }
            TechAction::RequeueDeadLetters => crate::technician::common::requeue_refused(
                &self.parts.store,
                now,
                self.parts.tech.sync_now.as_ref(),
            ),
            TechAction::TestPage => match self.parts.printer.clone() {
                None => "No printer is configured.".to_owned(),
                Some(printer) => {
                    let doc = self.test_page(now);
                    self.print_on_worker(printer, doc, Input::TechPrinted);
                    "Printing a test page…".to_owned()
                }
            },
            TechAction::ReprintLastOrder => self.reprint_last_order(),
            TechAction::ReprintLastPasses => self.reprint_last_passes(),
            TechAction::PulseRelay => "This kiosk has no relay.".to_owned(),
            TechAction::ServiceOff | TechAction::ServiceOn => {
                let on = action == TechAction::ServiceOff;
                let value = if on { "on" } else { "off" };
                match self.parts.store.write(move |tx| {
                    tx.execute(
                        "INSERT OR REPLACE INTO kiosk_state (key, value) VALUES (?1, ?2)",
                        [SERVICE_MODE_KEY, value],
                    )?;
                    Ok(())
                }) {
                    Ok(()) => {
                        self.tech.service_mode = on;
                        follow = self.tech_tick();
                        if on {
                            "Out of service: visitors see the out-of-order screen (S1), also \
                             after a restart."
                                .to_owned()
                        } else {
                            "Back in service.".to_owned()
                        }
                    }
                    Err(e) => format!("Service mode not changed: {e}"),
                }
            }
        };
        self.tech.facts_at = None;
        self.refresh_facts();
        follow
    }

    pub(super) fn tech_printed(
        &mut self,
        result: Result<crate::kiosk::printer::PrintReport, crate::kiosk::printer::PrinterError>,
    ) -> Event {
        self.tech.notice = match result {
            Ok(r) if !r.stopped => "Printed.".to_owned(),
            Ok(_) => "The printer stopped before the end (paper?).".to_owned(),
            Err(e) => format!("Not printed: {e}"),
        };
        // The printer's state may have changed: check it again.
        self.check_printer();
        Event::Tick
    }

    pub(super) fn tech_passes_printed(
        &mut self,
        secrets: &[String],
        result: Result<crate::kiosk::printer::PrintReport, crate::kiosk::printer::PrinterError>,
    ) -> Event {
        let printed = result.as_ref().map_or(0, |r| r.printed);
        let now_ms = self.parts.clock.now().timestamp_millis();
        if let Err(e) =
            crate::kiosk::runtime::mark_passes_printed(&self.parts.store, secrets, printed, now_ms)
        {
            tracing::error!(error = %e, "could not record which guest passes were printed");
        }
        self.tech_printed(result)
    }

    /// Every guest pass of today's last check-in with passes, again.
    fn reprint_last_passes(&mut self) -> String {
        let Some(last) = self.tech.facts.last_passes.clone() else {
            return "No guest passes today.".to_owned();
        };
        let Some(printer) = self.parts.printer.clone() else {
            return "No printer is configured.".to_owned();
        };
        let to = crate::kiosk::runtime::PassPrinting {
            printer: printer.clone(),
            letterhead: &self.parts.letterhead,
            paper: self.parts.paper,
            lang: self.flow.config().default_lang,
        };
        let day = self.now_local().date();
        match crate::kiosk::runtime::passes_to_print(
            &self.parts.reader,
            &to,
            &last.membership_id,
            day,
            true,
        ) {
            Ok(Some((doc, secrets))) => {
                self.print_on_worker(printer, doc, move |result| Input::TechPassesPrinted {
                    secrets,
                    result,
                });
                format!("Printing the guest passes of {} again…", last.membership_id)
            }
            Ok(None) => "No guest passes today.".to_owned(),
            Err(e) => format!("Not printed: {e}"),
        }
    }

    fn reprint_last_order(&mut self) -> String {
        let Some(order_no) = self.tech.facts.last_order.clone() else {
            return "No order to print again.".to_owned();
        };
        let Some(printer) = self.parts.printer.clone() else {
            return "No printer is configured.".to_owned();
        };
        match crate::kiosk::orders::printout(&self.parts.reader, &order_no) {
            Ok(Some(p))
                if crate::kiosk::orders::refunded(&self.parts.reader, &p.order_id)
                    .unwrap_or(false) =>
            {
                format!("Order {order_no} was refunded: its tickets are not printed again.")
            }
            Ok(Some(mut p)) => {
                // Every ticket again, not only those the first job missed.
                for t in &mut p.tickets {
                    t.printed = false;
                }
                let (doc, _) = super::documents(
                    &p,
                    &self.parts.catalog,
                    &self.parts.letterhead,
                    self.parts.paper,
                );
                self.print_on_worker(printer, doc, Input::TechPrinted);
                format!("Printing order {order_no} again…")
            }
            Ok(None) => format!("Order {order_no} was not found."),
            Err(e) => format!("Order {order_no} cannot be read: {e}"),
        }
    }

    fn test_page(&self, now: DateTime<Utc>) -> PrintDoc {
        let local = crate::gate::station::now_local(now, self.parts.zone).local;
        let cols = self.parts.paper.columns();
        PrintDoc(vec![
            Block::title(self.parts.letterhead.venue.clone()),
            Block::centred("Printer test page"),
            Block::Feed(1),
            Block::text(format!("Device: {}", self.parts.tech.device_id)),
            Block::text(format!("Portico {}", env!("CARGO_PKG_VERSION"))),
            Block::text(local.format("%Y-%m-%d %H:%M").to_string()),
            Block::text("-".repeat(cols)),
            Block::text("ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"),
            Block::text("áéíóú ñ ü ¿? ¡!"),
            Block::Qr {
                data: format!("portico test {}", self.parts.tech.device_id),
                module: 6,
            },
            Block::Feed(2),
            Block::Cut,
        ])
    }
}
