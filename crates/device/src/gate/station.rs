//! The gate's shell: scan → lookup → decide → relay → the scan and its outbox row committed in
//! one transaction → the next scan. The decision itself is [`decide`](super::decide); this
//! module does the I/O around it.
//!
//! The station reads through a read-only connection of its own (WAL: readers never wait for
//! the writer) and hands every write to the database's writer as an urgent job, which goes
//! ahead of any feed chunk still waiting. The relay runs on its own thread: a pulse never holds
//! up the commit. A scan is committed before the next one is looked up, so the scan log is the
//! only record of uses a decision reads.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::passage::{AnnulReason, PassageEffect, PassageEvent, PassageTracker, ScanId};
use super::relay::{GpioSensor, PassageSensor, SensorError, SimulatedSensor};
use super::scan_log::{self, LOCAL_TIME_FORMAT, ScanRow, Write};
use super::{
    Decision, Effect, Facts, Found, GateOutput, LookupPlan, MergeHop, Now, Person, ScanDirection,
    ScanRecord, TicketOrigin, UseHistory, decide,
};
use crate::domain::{Ticket, TicketStatus};
use crate::gate::config::{GatePolicyConfig, SensorConfig};
use crate::input::credential::Credential;
use crate::outbox;
use crate::replica::{self, Store};
use crate::upstream::{PartyChange, Payload, ScanAnnulmentV1, ScanPartyV1, ScanV1};

#[derive(Debug, thiserror::Error)]
pub enum StationError {
    #[error(transparent)]
    Replica(#[from] replica::ReplicaError),
    #[error("scan log: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("passage sensor: {0}")]
    Sensor(#[from] SensorError),
    #[error("block list {path}: {message}")]
    Revocations { path: String, message: String },
    #[error("scan {scan} could not be recorded after {tries} tries")]
    NotRecorded {
        scan: ScanId,
        tries: u32,
        #[source]
        source: replica::ReplicaError,
    },
    #[error("no admission {scan} waiting for its party size at this gate")]
    NoAdmission { scan: ScanId },
}

/// Commands for the relay thread.
enum RelayCommand {
    /// An admission's pulse: reported to the passage tracker.
    Pulse(Duration),
    /// The technician's test pulse: reported to the technician page only.
    Test(Duration),
}

/// The relay and the passage sensor as the technician screen shows them, kept up to date by
/// the relay thread and the station.
pub type SharedRelayFacts = Arc<std::sync::Mutex<crate::screens::technician_view::RelayFacts>>;

/// Owns the relay on a thread of its own and reports each opening (or failure to open) back
/// to the station's passage tracker, in command order.
pub struct RelayWorker {
    tx: mpsc::Sender<RelayCommand>,
    facts: SharedRelayFacts,
}

impl RelayWorker {
    pub fn spawn(mut output: Box<dyn GateOutput>, events: mpsc::Sender<PassageEvent>) -> Self {
        let (tx, rx) = mpsc::channel::<RelayCommand>();
        let facts = SharedRelayFacts::default();
        lock(&facts).relay = output.describe();
        let tested = facts.clone();
        std::thread::Builder::new()
            .name("gate-relay".into())
            .spawn(move || {
                while let Ok(command) = rx.recv() {
                    let (d, test) = match command {
                        RelayCommand::Pulse(d) => (d, false),
                        RelayCommand::Test(d) => (d, true),
                    };
                    let pulsed = output.pulse(d);
                    if let Err(e) = &pulsed {
                        tracing::error!(relay = %output.describe(), test, error = %e, "relay pulse failed");
                    }
                    if test {
                        tracing::info!(ok = pulsed.is_ok(), "relay test pulse");
                        lock(&tested).last_test =
                            Some((Utc::now(), pulsed.map_err(|e| e.to_string())));
                        continue;
                    }
                    let event = match pulsed {
                        Ok(()) => PassageEvent::RelayOpened,
                        Err(e) => PassageEvent::RelayFailed {
                            error: e.to_string(),
                        },
                    };
                    let _ = events.send(event);
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the relay thread"));
        Self { tx, facts }
    }

    pub fn pulse(&self, d: Duration) -> bool {
        if self.tx.send(RelayCommand::Pulse(d)).is_err() {
            tracing::error!("relay thread is gone; turnstile not opened");
            return false;
        }
        true
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The technician's hold on a gate's relay: a test pulse, and what the relay and the passage
/// sensor have done.
#[derive(Clone)]
pub struct RelayTester {
    tx: mpsc::Sender<RelayCommand>,
    facts: SharedRelayFacts,
    pulse: Duration,
}

impl RelayTester {
    /// Pulses the relay once, as an admission would (after any pulse already commanded). No
    /// admission is recorded; the result shows in [`RelayTester::facts`].
    pub fn test(&self) -> bool {
        self.tx.send(RelayCommand::Test(self.pulse)).is_ok()
    }

    pub fn facts(&self) -> crate::screens::technician_view::RelayFacts {
        lock(&self.facts).clone()
    }
}

/// Watches the passage sensor on a thread of its own until the station goes.
fn spawn_sensor(
    mut sensor: Box<dyn PassageSensor>,
    events: mpsc::Sender<PassageEvent>,
    stop: Arc<AtomicBool>,
) {
    let spawned = std::thread::Builder::new()
        .name("gate-passage".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match sensor.wait_passage(Duration::from_millis(200)) {
                    Ok(true) => {
                        if events.send(PassageEvent::PassageDetected).is_err() {
                            break;
                        }
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "passage sensor failed; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the passage sensor thread");
    }
}

/// A scan decided by [`Station::admit`], its effects carried out and its row committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub decision: Decision,
    /// The scan log row, when the scan is recorded (every decided credential is).
    pub scan: Option<ScanId>,
    /// Credential in → the scan and its outbox row committed (`None`: nothing recorded).
    pub durable: Option<Duration>,
    /// Of `durable`, the writer's job: waiting for the job running before it, the insert and
    /// the commit with its sync.
    pub commit: Option<Duration>,
    /// Credential in → decision made and relay commanded.
    pub commanded: Duration,
}

/// What the station remembers of a recent admission: enough to annul it or settle its party.
#[derive(Debug, Clone)]
struct Admitted {
    scan: ScanId,
    outbox_key: String,
    gate: String,
    /// People let in so far.
    party: u32,
    /// The most the membership allows (member plus guests); 0 when no party can be chosen.
    party_max: u32,
    revision: u32,
    annulled: bool,
}

/// The station's page cache, KiB.
const STATION_CACHE_KIB: i64 = 64 * 1024;
/// Admissions remembered for annulment and party confirmation.
const RECENT_ADMISSIONS: usize = 256;
/// A write the database refuses for a moment (the disk full for an instant, another process
/// holding the lock) is tried again this many times, this far apart, before the scan is
/// reported as not recorded.
const RECORD_TRIES: u32 = 5;
const RECORD_RETRY_PAUSE: Duration = Duration::from_millis(200);

/// One gate: its policy, its database connections and its relay.
pub struct Station {
    /// For reads only (`query_only`): every write goes through `store`'s writer.
    conn: Connection,
    store: Arc<Store>,
    /// Told each time a write is committed (the device then uploads).
    on_recorded: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Told when a kiosk's ticket names a signing key this gate has not received (the device
    /// then pulls the feeds at once), at most once every [`KEY_ASKED_EVERY`].
    on_unknown_key: Option<Arc<dyn Fn() + Send + Sync>>,
    unknown_key_told: std::cell::Cell<Option<std::time::Instant>>,
    recent: VecDeque<Admitted>,
    /// Relay openings for guests (negative ids) → the admission they belong to.
    guest_pulses: HashMap<ScanId, ScanId>,
    next_guest_pulse: ScanId,
    gate: GatePolicyConfig,
    device_id: String,
    relay: RelayWorker,
    online: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Follows each admission from the relay opening to a passage (or none).
    passage: PassageTracker,
    events: mpsc::Receiver<PassageEvent>,
    events_tx: mpsc::Sender<PassageEvent>,
    sensor_stop: Arc<AtomicBool>,
    /// The id the next scan row gets: known before the commit, so the passage tracker can
    /// follow an admission whose relay moved first.
    next_scan: i64,
}

/// How often at most a gate pulls because of a kiosk key it has not received.
pub const KEY_ASKED_EVERY: Duration = Duration::from_secs(10);

impl Drop for Station {
    fn drop(&mut self) {
        self.sensor_stop.store(true, Ordering::Relaxed);
    }
}

impl Station {
    /// Opens the station on the device database. Entries of the configured block-list file
    /// join the policy's inline list.
    pub fn open(
        store: Arc<Store>,
        device_id: &str,
        mut gate: GatePolicyConfig,
        output: Box<dyn GateOutput>,
        online: Arc<dyn Fn() -> bool + Send + Sync>,
    ) -> Result<Self, StationError> {
        let conn = store.reader()?;
        // Room for the inner pages of every lookup index (a million memberships and five
        // million tickets need about 20 MiB), so a decision reads at most the leaf pages.
        conn.pragma_update(None, "cache_size", -STATION_CACHE_KIB)?;
        if let Some(path) = &gate.revocation_file {
            let text = std::fs::read_to_string(path).map_err(|e| StationError::Revocations {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let keys = crate::gate::config::parse_revocation_list(&text).map_err(|message| {
                StationError::Revocations {
                    path: path.display().to_string(),
                    message: format!("{message:?}"),
                }
            })?;
            gate.policy.revoked.extend(keys);
        }
        tracing::info!(gate = %gate.policy.gate_id, blocked = gate.policy.revoked.len(), "gate ready");
        let next_scan = scan_log::next_id(&conn)?;
        let (events_tx, events) = mpsc::channel();
        Ok(Self {
            conn,
            store,
            on_recorded: None,
            on_unknown_key: None,
            unknown_key_told: std::cell::Cell::new(None),
            recent: VecDeque::with_capacity(RECENT_ADMISSIONS),
            guest_pulses: HashMap::new(),
            next_guest_pulse: -1,
            passage: PassageTracker::new(gate.passage_config()),
            gate,
            device_id: device_id.to_owned(),
            relay: RelayWorker::spawn(output, events_tx.clone()),
            online,
            events,
            events_tx,
            sensor_stop: Arc::new(AtomicBool::new(false)),
            next_scan,
        })
    }

    /// Starts watching the passage sensor. With `[gate.passage] sensor` configured, an
    /// admission is confirmed by a passage and annulled when none comes within the timeout.
    pub fn attach_sensor(&mut self, sensor: Box<dyn PassageSensor>) {
        lock(&self.relay.facts).sensor = Some((0, None));
        spawn_sensor(sensor, self.events_tx.clone(), self.sensor_stop.clone());
    }

    /// Opens the configured passage sensor and attaches it; a simulated one is returned so
    /// the demo and tests can report people going through.
    pub fn attach_configured_sensor(&mut self) -> Result<Option<SimulatedSensor>, StationError> {
        match &self.gate.passage.sensor {
            SensorConfig::None => Ok(None),
            SensorConfig::Gpio(input) => {
                let sensor = GpioSensor::open(input.clone())?;
                self.attach_sensor(Box::new(sensor));
                Ok(None)
            }
            SensorConfig::Simulated => {
                let sensor = SimulatedSensor::new();
                self.attach_sensor(Box::new(sensor.clone()));
                Ok(Some(sensor))
            }
        }
    }

    /// The technician's hold on this gate's relay (a test pulse, the relay's and the sensor's
    /// facts), for the technician screen's thread.
    pub fn relay_tester(&self) -> RelayTester {
        RelayTester {
            tx: self.relay.tx.clone(),
            facts: self.relay.facts.clone(),
            pulse: self.gate.policy.relay_pulse,
        }
    }

    /// Admissions whose passage is still open (waiting for the relay or for someone to go
    /// through).
    pub fn awaiting_passage(&self) -> usize {
        self.passage.pending().count()
    }

    /// When [`Station::pump`] must run next for a waiting admission's timeout.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.passage.next_deadline()
    }

    /// Feeds the relay's and the sensor's reports and the time to the passage tracker and
    /// carries out what it says. Scans call this first; the gate loop also calls it while
    /// idle so a timeout is noticed without a scan.
    pub fn pump(&mut self, now: DateTime<Utc>) -> Result<(), StationError> {
        self.passage_events(now)
    }

    /// The passage sensor's and the relay's events so far, and the passage timeouts due.
    fn passage_events(&mut self, now: DateTime<Utc>) -> Result<(), StationError> {
        while let Ok(event) = self.events.try_recv() {
            if event == PassageEvent::PassageDetected
                && let Some((n, last)) = &mut lock(&self.relay.facts).sensor
            {
                *n += 1;
                *last = Some(now);
            }
            let effects = self.passage.handle(event, now);
            self.carry_out(effects, now)?;
        }
        let effects = self.passage.handle(PassageEvent::Tick, now);
        self.carry_out(effects, now)
    }

    fn carry_out(
        &mut self,
        effects: Vec<PassageEffect>,
        now: DateTime<Utc>,
    ) -> Result<(), StationError> {
        for effect in effects {
            match effect {
                PassageEffect::OpenRelay { pulse, scan } => {
                    if !self.relay.pulse(pulse) {
                        let effects = self.passage.handle(
                            PassageEvent::RelayFailed {
                                error: "relay thread is gone".into(),
                            },
                            now,
                        );
                        self.carry_out(effects, now)?;
                    }
                    tracing::trace!(scan, "relay commanded");
                }
                PassageEffect::ConfirmUse { scan } => {
                    self.guest_pulses.remove(&scan);
                    tracing::debug!(scan, "passage confirmed");
                }
                PassageEffect::AnnulUse { scan, reason } => match self.guest_pulses.remove(&scan) {
                    Some(parent) => self.guest_missing(parent, now)?,
                    None => self.annul(scan, reason, now)?,
                },
                PassageEffect::UnexpectedPassage => tracing::warn!(
                    gate = %self.gate.policy.gate_id,
                    "passage with no admission waiting (tailgating?)"
                ),
                PassageEffect::ReportFault { error } => tracing::error!(
                    gate = %self.gate.policy.gate_id,
                    error = %error,
                    "the turnstile did not open"
                ),
            }
        }
        Ok(())
    }

    fn admitted_mut(&mut self, scan: ScanId) -> Option<&mut Admitted> {
        self.recent.iter_mut().find(|a| a.scan == scan)
    }

    /// Gives an admission's use back: the scan row is marked annulled (so the ticket is not
    /// burned here) and the hub is told, in one transaction.
    fn annul(
        &mut self,
        scan: ScanId,
        reason: AnnulReason,
        now: DateTime<Utc>,
    ) -> Result<(), StationError> {
        let device_id = self.device_id.clone();
        let Some(admitted) = self.admitted_mut(scan).filter(|a| !a.annulled) else {
            tracing::warn!(
                scan,
                "annulment for an admission this gate no longer remembers"
            );
            return Ok(());
        };
        admitted.annulled = true;
        let (scan_key, gate) = (admitted.outbox_key.clone(), admitted.gate.clone());
        let payload = ScanAnnulmentV1 {
            scan_key,
            reason,
            device_id,
            gate,
            at: Some(now),
        };
        let outbox = outbox::Queued::new(&payload.into_upstream(), now.timestamp_millis())?;
        self.write(scan, Write::Annul { scan, outbox })?;
        tracing::warn!(
            gate = %self.gate.policy.gate_id,
            scan,
            reason = ?reason,
            "use annulled: the gate opened but nobody went through"
        );
        Ok(())
    }

    /// Staff chose how many people enter on a membership admission (the gate screen shows the
    /// allowance). The turnstile opens once more for each guest beyond those already let in,
    /// and the new party size is recorded with its outbox row. Returns the party as settled.
    pub fn confirm_party(
        &mut self,
        scan: ScanId,
        party: u32,
        now: DateTime<Utc>,
    ) -> Result<super::PartySettlement, StationError> {
        self.pump(now)?;
        let (admitted, party_max) = self
            .recent
            .iter()
            .find(|a| a.scan == scan && !a.annulled && a.party_max > 0)
            .map(|a| (a.party, a.party_max))
            .ok_or(StationError::NoAdmission { scan })?;
        let settled = super::settle_party(admitted, party_max, party);
        for _ in 0..settled.guest_openings {
            let pulse = self.next_guest_pulse;
            self.next_guest_pulse -= 1;
            self.guest_pulses.insert(pulse, scan);
            let effects = self
                .passage
                .handle(PassageEvent::Admitted { scan: pulse }, now);
            self.carry_out(effects, now)?;
        }
        if settled.party_admitted != admitted {
            self.record_party(
                scan,
                settled.party_admitted,
                PartyChange::ConfirmedByStaff,
                now,
            )?;
        }
        tracing::info!(
            gate = %self.gate.policy.gate_id,
            scan,
            party = settled.party_admitted,
            guests_let_in = settled.guest_openings,
            "party size confirmed by staff"
        );
        Ok(settled)
    }

    /// A guest's opening passed with nobody going through: the party is one smaller.
    fn guest_missing(&mut self, parent: ScanId, now: DateTime<Utc>) -> Result<(), StationError> {
        let Some(party) = self
            .recent
            .iter()
            .find(|a| a.scan == parent && !a.annulled)
            .map(|a| a.party)
        else {
            return Ok(());
        };
        tracing::warn!(gate = %self.gate.policy.gate_id, scan = parent, "a guest did not go through");
        self.record_party(
            parent,
            party.saturating_sub(1).max(1),
            PartyChange::GuestDidNotPass,
            now,
        )
    }

    fn record_party(
        &mut self,
        scan: ScanId,
        party: u32,
        reason: PartyChange,
        now: DateTime<Utc>,
    ) -> Result<(), StationError> {
        let device_id = self.device_id.clone();
        let Some(admitted) = self.admitted_mut(scan) else {
            return Ok(());
        };
        admitted.party = party;
        admitted.revision += 1;
        let payload = ScanPartyV1 {
            scan_key: admitted.outbox_key.clone(),
            party_admitted: party,
            revision: admitted.revision,
            reason,
            device_id,
            gate: admitted.gate.clone(),
            at: Some(now),
        };
        let outbox = outbox::Queued::new(&payload.into_upstream(), now.timestamp_millis())?;
        self.write(
            scan,
            Write::Party {
                scan,
                party_admitted: party,
                outbox,
            },
        )?;
        Ok(())
    }

    pub fn policy(&self) -> &GatePolicyConfig {
        &self.gate
    }

    /// Looks up what the replica knows about the credential, for deciding: a membership's
    /// holder is left out (`holder: None`), since it is only shown; [`Station::admit`] reads it
    /// once the scan is durable (see [`Decision::greet`]).
    ///
    /// Every lookup of one scan reads the same snapshot, in one read transaction: one set of
    /// WAL read locks (each a pair of `fcntl` calls) instead of one per query, and a feed page
    /// committed in between cannot pair a membership with members from a later state.
    pub fn facts(
        &mut self,
        credential: &Credential,
        now: DateTime<Utc>,
    ) -> Result<Facts, StationError> {
        if !self.conn.is_autocommit() {
            return self.look_up(credential, now);
        }
        self.conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
        let facts = self.look_up(credential, now);
        // Ends the read transaction; it wrote nothing, so there is nothing to lose.
        let ended = self.conn.prepare_cached("COMMIT")?.execute([]);
        if ended.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let facts = facts?;
        ended?;
        Ok(facts)
    }

    fn look_up(
        &mut self,
        credential: &Credential,
        now: DateTime<Utc>,
    ) -> Result<Facts, StationError> {
        let plan = LookupPlan::for_credential(&credential.kind);
        let mut facts = Facts::default();
        let mut survivor = None;
        if let Some(id) = plan.resolve_id() {
            let r = replica::resolve(&self.conn, id)?;
            if r.via_merge() {
                facts.merge = Some(MergeHop {
                    requested: r.requested.clone(),
                    survivor: r.survivor.clone(),
                });
            }
            survivor = Some(r.survivor);
        }
        facts.found = match &plan {
            LookupPlan::Membership { membership_id } => {
                let id = survivor.as_deref().unwrap_or(membership_id);
                match replica::membership(&self.conn, id)? {
                    Some(membership) => Found::Membership {
                        membership,
                        holder: None,
                    },
                    None => Found::Nothing,
                }
            }
            LookupPlan::Constituent { lookup_id } => {
                let id = survivor.as_deref().unwrap_or(lookup_id);
                match replica::constituent_name(&self.conn, id)? {
                    Some(name) => Found::Constituent {
                        memberships: replica::memberships_of(&self.conn, id)?,
                        constituent: Person {
                            lookup_id: id.to_owned(),
                            name,
                        },
                    },
                    None => Found::Nothing,
                }
            }
            LookupPlan::Ticket { secret } => match replica::ticket(&self.conn, secret)? {
                Some(ticket) => Found::Ticket {
                    ticket,
                    origin: TicketOrigin::Replica,
                },
                None => Found::Nothing,
            },
            LookupPlan::SignedTicket { ticket } => Found::Ticket {
                ticket: self.unless_revoked(ticket.clone())?,
                origin: TicketOrigin::Signed,
            },
            LookupPlan::KioskTicket { text, key_id, .. } => {
                match self.kiosk_ticket(text, *key_id)? {
                    Some(ticket) => Found::Ticket {
                        ticket,
                        origin: TicketOrigin::Signed,
                    },
                    None => Found::Nothing,
                }
            }
            LookupPlan::Nothing => Found::Nothing,
        };
        if let Some(key) = plan.history_key(survivor.as_deref()) {
            facts.history = self.history(&key, now)?;
        }
        Ok(facts)
    }

    /// A signed ticket as the hub last said of it: revoked when the hub published it revoked
    /// (a refund), as it is otherwise.
    fn unless_revoked(&self, mut ticket: Ticket) -> Result<Ticket, StationError> {
        if let Some(known) = replica::ticket(&self.conn, &ticket.secret)?
            && known.status == TicketStatus::Revoked
        {
            ticket.status = TicketStatus::Revoked;
        }
        Ok(ticket)
    }

    /// A kiosk-signed ticket checked with the key the hub delivered for `key_id`: `None` when
    /// the key has not arrived or the signature does not verify; revoked with its key.
    fn kiosk_ticket(&self, text: &str, key_id: u16) -> Result<Option<Ticket>, StationError> {
        let Some(key) = replica::catalog::signing_key(&self.conn, key_id)? else {
            self.ask_for_key(key_id);
            return Ok(None);
        };
        let verified = crate::input::credential::signed_ticket::public_key(&key.public_key)
            .and_then(|vk| {
                crate::input::credential::signed_ticket::decode(text)
                    .and_then(|u| u.verify_with(&vk))
                    .ok()
            });
        let Some(signed) = verified else {
            return Ok(None);
        };
        let mut ticket = self.unless_revoked(signed.to_ticket())?;
        if key.revoked {
            ticket.status = TicketStatus::Revoked;
        }
        Ok(Some(ticket))
    }

    /// A membership's holder, through any merges, as the gate greets them.
    fn person(&self, lookup_id: &str) -> Result<Option<Person>, StationError> {
        let r = replica::resolve(&self.conn, lookup_id)?;
        Ok(
            replica::constituent_name(&self.conn, &r.survivor)?.map(|name| Person {
                lookup_id: r.survivor,
                name,
            }),
        )
    }

    /// The credential's uses as the scan log records them.
    fn history(&mut self, key: &str, now: DateTime<Utc>) -> Result<UseHistory, StationError> {
        Ok(scan_log::history(&self.conn, key, now)?)
    }

    /// Decides one scan and carries out its effects; the scan and its outbox row are committed
    /// when it returns. Returns the decision (for the screen).
    pub fn scan(
        &mut self,
        credential: &Credential,
        direction: Option<ScanDirection>,
        party: u32,
        now: Now,
    ) -> Result<Decision, StationError> {
        self.scan_timed(credential, direction, party, now)
            .map(|(d, _)| d)
    }

    /// [`Station::scan`], also returning how long it took from the credential to the relay
    /// being commanded (the commit comes after).
    pub fn scan_timed(
        &mut self,
        credential: &Credential,
        direction: Option<ScanDirection>,
        party: u32,
        now: Now,
    ) -> Result<(Decision, Duration), StationError> {
        let decided = self.admit(credential, direction, party, now)?;
        Ok((decided.decision, decided.commanded))
    }

    /// Decides one scan and carries out its effects: the relay is commanded as soon as the
    /// decision is made, then the scan with its outbox row is committed by the writer, ahead
    /// of any other job waiting, before this returns (so the next scan's lookups see it).
    ///
    /// Order matters: a visitor must not wait for the disk, so the relay moves first. A crash
    /// between the relay command and the commit loses the scan in flight (the visitor went
    /// in, the use is not recorded); see `docs/ARCHITECTURE.md`.
    pub fn admit(
        &mut self,
        credential: &Credential,
        direction: Option<ScanDirection>,
        party: u32,
        now: Now,
    ) -> Result<Decided, StationError> {
        let started = std::time::Instant::now();
        self.passage_events(now.utc)?;
        let facts = self.facts(credential, now.utc)?;
        let direction = direction.unwrap_or_else(|| self.gate.policy.direction.default_scan());
        let mut decision = decide(&super::Scan {
            credential: &credential.kind,
            facts: &facts,
            policy: &self.gate.policy,
            direction,
            party,
            now,
        });
        let scan_id = self.next_scan;
        for effect in &decision.effects {
            if let Effect::PulseRelay { .. } = effect {
                // The tracker commands the pulse (the policy's length) and follows it.
                let effects = self
                    .passage
                    .handle(PassageEvent::Admitted { scan: scan_id }, now.utc);
                self.carry_out(effects, now.utc)?;
            }
        }
        let commanded = started.elapsed();
        let (scan, commit) = match decision.scan_record() {
            Some(record) => {
                self.next_scan += 1;
                let party_max = match &facts.found {
                    Found::Membership { membership, .. } => {
                        membership.guest_allowance.saturating_add(1)
                    }
                    _ => 0,
                };
                let commit = self.persist(scan_id, credential, record, party_max)?;
                (Some(scan_id), Some(commit))
            }
            None => (None, None),
        };
        let durable = commit.map(|_| started.elapsed());
        tracing::debug!(
            gate = %self.gate.policy.gate_id,
            reader = %credential.reader,
            outcome = ?decision.outcome,
            reason = %decision.reason.code(),
            party = decision.party.admitted,
            "scan decided"
        );
        // Only now the membership holder's name, for the screen: the turnstile and the scan
        // did not need it.
        if let Found::Membership { membership, .. } = &facts.found
            && let Some(first) = membership.members.first()
        {
            match self.person(first) {
                Ok(Some(holder)) => decision.greet(&holder),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(membership = %membership.membership_id, error = %e, "holder's name not shown");
                }
            }
        }
        Ok(Decided {
            decision,
            scan,
            durable,
            commit,
            commanded,
        })
    }

    /// Commits a write through the database's writer, ahead of any job waiting, trying again
    /// a few times when the database refuses it for a moment. Returns how long the writer
    /// took.
    fn write(&mut self, scan: ScanId, write: Write) -> Result<Duration, StationError> {
        let write = Arc::new(write);
        let mut tries = 0;
        loop {
            tries += 1;
            let started = std::time::Instant::now();
            let job = write.clone();
            match self.store.write_urgent(move |tx| scan_log::apply(tx, &job)) {
                Ok(()) => {
                    if let Some(f) = &self.on_recorded {
                        f();
                    }
                    return Ok(started.elapsed());
                }
                Err(e) if tries < RECORD_TRIES && (e.is_disk_full() || e.is_busy()) => {
                    tracing::warn!(scan, error = %e, "scan not recorded yet; trying again");
                    std::thread::sleep(RECORD_RETRY_PAUSE);
                }
                Err(source) => {
                    tracing::error!(
                        scan,
                        write = ?write,
                        error = %crate::error_text::of(&source),
                        "scan NOT recorded"
                    );
                    return Err(StationError::NotRecorded {
                        scan,
                        tries,
                        source,
                    });
                }
            }
        }
    }

    /// Calls `f` each time a write of this station is committed (on the station's thread).
    pub fn on_recorded(&mut self, f: Arc<dyn Fn() + Send + Sync>) {
        self.on_recorded = Some(f);
    }

    /// Calls `f` when a kiosk's ticket names a signing key this gate has not received: a
    /// kiosk registered since the gate last pulled. The device pulls at once, so the visitor's
    /// next scan finds the key instead of waiting for the next scheduled pull. At most once
    /// every [`KEY_ASKED_EVERY`], whatever a scanner sends.
    pub fn on_unknown_key(&mut self, f: Arc<dyn Fn() + Send + Sync>) {
        self.on_unknown_key = Some(f);
    }

    fn ask_for_key(&self, key_id: u16) {
        let Some(f) = &self.on_unknown_key else {
            return;
        };
        let now = std::time::Instant::now();
        if self
            .unknown_key_told
            .get()
            .is_some_and(|told| now.duration_since(told) < KEY_ASKED_EVERY)
        {
            return;
        }
        self.unknown_key_told.set(Some(now));
        tracing::info!(
            key_id,
            "a kiosk's ticket of a key this gate has not received: pulling now"
        );
        f();
    }

    /// Builds the scan's row and outbox row and commits them; remembers an admission for a
    /// later annulment or party change. Returns how long the commit took.
    fn persist(
        &mut self,
        id: ScanId,
        credential: &Credential,
        r: &ScanRecord,
        party_max: u32,
    ) -> Result<Duration, StationError> {
        let decision = r.outcome.as_str();
        let payload = ScanV1 {
            credential: r
                .use_key
                .clone()
                .unwrap_or_else(|| credential.kind.name().to_owned()),
            decision: decision.to_owned(),
            reason_code: r.reason_code.to_owned(),
            reason: r.reason.plain_words(),
            device_id: self.device_id.clone(),
            gate: r.gate.clone(),
            direction: r.direction,
            party_requested: r.party.requested,
            party_admitted: r.party.admitted,
            uses_burned: r.uses_burned,
            at: Some(r.at),
            local: Some(r.local),
            offline: !(self.online)(),
            nonce: uuid::Uuid::now_v7().to_string(),
        };
        let outbox = outbox::Queued::new(&payload.into_upstream(), r.at.timestamp_millis())?;
        let outbox_key = outbox.idempotency_key.clone();
        let row = ScanRow {
            id,
            use_key: r.use_key.clone(),
            credential_kind: r.credential_kind.into(),
            gate: r.gate.clone(),
            direction: direction_name(r.direction).into(),
            outcome: decision.into(),
            reason_code: r.reason_code.into(),
            party_requested: r.party.requested,
            party_admitted: r.party.admitted,
            uses_burned: r.uses_burned,
            at_ms: r.at.timestamp_millis(),
            local_time: r.local.format(LOCAL_TIME_FORMAT).to_string(),
        };
        let commit = self.write(id, Write::Scan { row, outbox })?;
        // Logged only once the scan and its upload are on disk: a scan this line names is
        // never lost (the crash benchmark holds the device to it).
        tracing::info!(gate = %r.gate, scan = id, key = %outbox_key, outcome = decision, "scan recorded");
        if r.outcome == super::Outcome::Admit {
            if self.recent.len() == RECENT_ADMISSIONS {
                self.recent.pop_front();
            }
            self.recent.push_back(Admitted {
                scan: id,
                outbox_key,
                gate: r.gate.clone(),
                party: r.party.admitted,
                party_max: if r.direction == ScanDirection::Entry {
                    party_max
                } else {
                    0
                },
                revision: 0,
                annulled: false,
            });
        }
        Ok(commit)
    }

    /// Outbox rows not yet delivered to the hub (for the screen's offline indicator).
    pub fn pending_uploads(&self) -> u64 {
        outbox::pending_count(&self.conn).unwrap_or(0)
    }

    /// Scans recorded at this device (for status and tests).
    pub fn scan_count(&self) -> Result<u64, StationError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM scans", [], |r| r.get::<_, i64>(0))? as u64)
    }
}

fn direction_name(d: ScanDirection) -> &'static str {
    match d {
        ScanDirection::Entry => "entry",
        ScanDirection::Exit => "exit",
    }
}

/// The venue's local time for an instant: in `zone` (`device.timezone`), or by the system's
/// time zone when none is configured.
pub fn now_local(utc: DateTime<Utc>, zone: Option<chrono_tz::Tz>) -> Now {
    let local = match zone {
        Some(zone) => utc.with_timezone(&zone).naive_local(),
        None => utc.with_timezone(&chrono::Local).naive_local(),
    };
    Now { utc, local }
}

/// The instant of a venue-local time: in `zone`, or by the system's time zone when none is
/// configured (the earlier of two at a clock change; a time a clock change skipped reads as
/// if it were UTC).
pub fn utc_of(local: chrono::NaiveDateTime, zone: Option<chrono_tz::Tz>) -> DateTime<Utc> {
    use chrono::TimeZone;
    let found = match zone {
        Some(zone) => zone
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
        None => chrono::Local
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    };
    found.unwrap_or_else(|| Utc.from_utc_datetime(&local))
}
