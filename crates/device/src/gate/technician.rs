//! The technician screen on a gate's screen: the core's [`Technician`] state machine on a
//! thread of its own (the station thread decides scans and never waits for it), fed by the gate
//! window's taps and the station's scans, showing its panel over the gate screen.
//!
//! While the panel shows, the gate admits nobody: a scan goes to the scan test only, as on a
//! kiosk. The relay page pulses the turnstile's relay (no admission is recorded) and shows the
//! passage sensor's passages.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::TechnicianAccess;
use crate::gate::station::RelayTester;
use crate::kiosk::checkout::InputSeen;
use crate::replica::Store;
use crate::screens::technician_view::{TechAction, TechFacts, TechPanel, panel};
use crate::sync::LinkStatus;
use crate::technician::common::{self, FACTS_REFRESH, SESSION_IDLE};
use crate::technician::{TechCommand, TechEvent, TechScreen, Technician};

const TICK: Duration = Duration::from_millis(250);

/// What reaches the gate's technician screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TechInput {
    /// A tap on the panel, a corner held, a technician's card, a PIN's answer.
    Event(TechEvent),
    Action(TechAction),
    /// A reader's frame, for the scan test.
    Seen(InputSeen),
}

/// What the gate's technician screen works with.
pub struct GateTechParts {
    pub access: TechnicianAccess,
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub device_id: String,
    pub roles: Vec<String>,
    /// The configured readers, for the scan test.
    pub readers: Vec<String>,
    pub relay: RelayTester,
    /// The sync engine's view of the link, and a way to sync now.
    pub link: Arc<dyn Fn() -> LinkStatus + Send + Sync>,
    pub sync_now: Arc<dyn Fn() + Send + Sync>,
    /// Set while the panel shows: the station then admits nobody.
    pub open: Arc<AtomicBool>,
    /// Where the panel goes (`None`: hidden).
    pub show: Arc<dyn Fn(Option<TechPanel>) + Send + Sync>,
    /// Set when the gate stops: the thread ends.
    pub stop: Arc<AtomicBool>,
}

struct Session {
    parts: GateTechParts,
    machine: Technician,
    facts: TechFacts,
    facts_at: Option<Instant>,
    notice: String,
    seen: BTreeMap<String, InputSeen>,
    shown: Option<TechPanel>,
    tx: Sender<TechInput>,
}

/// Starts the gate's technician screen on a thread of its own; it ends when every sender of
/// `inbox` is gone. `tx` is a sender of the same inbox (PIN answers come back through it).
pub fn spawn(
    parts: GateTechParts,
    inbox: Receiver<TechInput>,
    tx: Sender<TechInput>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let now = parts.clock.now();
    let mut s = Session {
        parts,
        machine: Technician::new(now, SESSION_IDLE),
        facts: TechFacts::default(),
        facts_at: None,
        notice: String::new(),
        seen: BTreeMap::new(),
        shown: None,
        tx,
    };
    std::thread::Builder::new()
        .name("gate-technician".into())
        .spawn(move || {
            while !s.parts.stop.load(Ordering::SeqCst) {
                match inbox.recv_timeout(TICK) {
                    Ok(input) => s.handle(input),
                    Err(RecvTimeoutError::Timeout) => s.tick(),
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                s.show();
            }
        })
}

impl Session {
    fn handle(&mut self, input: TechInput) {
        let now = self.parts.clock.now();
        match input {
            TechInput::Event(event) => {
                let opened = self.machine.screen() == &TechScreen::Closed;
                if let Some(TechCommand::CheckPin(pin)) = self.machine.handle(event, now) {
                    let tx = self.tx.clone();
                    common::check_pin(
                        self.parts.store.clone(),
                        self.parts.access.pin_file.clone(),
                        pin,
                        now,
                        move |answer| {
                            let _ = tx.send(TechInput::Event(TechEvent::Pin(answer)));
                        },
                    );
                }
                if opened && self.machine.screen() != &TechScreen::Closed {
                    // A new session: the scan test starts empty, nothing left from the last.
                    self.seen.clear();
                    self.notice.clear();
                    tracing::info!("technician screen opened on the gate");
                }
                self.facts_at = None;
            }
            TechInput::Action(action) => self.act(action, now),
            TechInput::Seen(seen) => {
                self.seen.insert(seen.reader.clone(), seen);
                self.facts_at = None;
            }
        }
        self.refresh();
    }

    fn tick(&mut self) {
        self.machine.handle(TechEvent::Tick, self.parts.clock.now());
        self.refresh();
    }

    fn act(&mut self, action: TechAction, now: DateTime<Utc>) {
        let TechScreen::Open { page } = *self.machine.screen() else {
            return;
        };
        // An action is a touch: the session stays open.
        self.machine.handle(TechEvent::Page(page), now);
        tracing::info!(?action, "technician action on the gate");
        self.notice = match action {
            TechAction::SyncNow => common::sync_now(Some(&self.parts.sync_now)),
            TechAction::RequeueDeadLetters => {
                common::requeue_refused(&self.parts.store, now, Some(&self.parts.sync_now))
            }
            TechAction::PulseRelay if self.parts.relay.test() => {
                "Pulsing the relay: the turnstile should open once.".to_owned()
            }
            TechAction::PulseRelay => {
                "The relay's thread has stopped: restart the gate.".to_owned()
            }
            TechAction::TestPage | TechAction::ReprintLastOrder | TechAction::ReprintLastPasses => {
                "A gate has no printer.".to_owned()
            }
            TechAction::ServiceOff | TechAction::ServiceOn => {
                "A gate has no service mode.".to_owned()
            }
        };
        self.facts_at = None;
    }

    fn refresh(&mut self) {
        let open = matches!(self.machine.screen(), TechScreen::Open { .. });
        if !open || self.facts_at.is_some_and(|t| t.elapsed() < FACTS_REFRESH) {
            return;
        }
        self.facts_at = Some(Instant::now());
        match self.gather() {
            Ok(f) => self.facts = f,
            Err(e) => {
                tracing::error!(error = %e, "technician screen: the device database cannot be read");
                self.notice = format!("The device database cannot be read: {e}");
            }
        }
    }

    fn gather(&self) -> crate::replica::Result<TechFacts> {
        let now = self.parts.clock.now();
        let link = (self.parts.link)();
        let silent = [link.last_pull_ok, link.last_push_ok]
            .into_iter()
            .flatten()
            .max()
            .filter(|_| !link.online)
            .map(|last| (now - last).to_std().unwrap_or_default());
        let reader = self.parts.store.reader()?;
        let common = common::facts(common::Sources {
            reader: &reader,
            device_id: &self.parts.device_id,
            roles: &self.parts.roles,
            readers: &self.parts.readers,
            seen: &self.seen,
            link: Some(link),
            hub_silent_for: silent,
            now,
        })?;
        Ok(TechFacts {
            relay: Some(self.parts.relay.facts()),
            ..common
        })
    }

    fn show(&mut self) {
        let now = self.parts.clock.now();
        let p = panel(&self.machine, &self.facts, &self.notice, now);
        self.parts.open.store(p.is_some(), Ordering::SeqCst);
        if p != self.shown {
            self.shown = p.clone();
            (self.parts.show)(p);
        }
    }
}
