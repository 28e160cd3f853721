//! The gate's shell: scan → lookup → decide → persist the scan and its outbox row in one
//! transaction → relay. The decision itself is [`decide`](super::decide); this module does the
//! I/O around it.
//!
//! The station has its own connection to the device database, so scans keep flowing while a
//! sync writes (WAL: readers never wait, and a scan's small write waits at most for one feed
//! transaction). The relay runs on its own thread: a pulse never holds up the next scan.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::passage::{AnnulReason, PassageEffect, PassageEvent, PassageTracker, ScanId};
use super::relay::{GpioSensor, PassageSensor, SensorError, SimulatedSensor};
use super::{
    Decision, Effect, Facts, Found, GateOutput, LookupPlan, MergeHop, Now, PriorAdmission,
    ScanDirection, ScanRecord, TicketOrigin, UseHistory, decide,
};
use crate::gate::config::{GatePolicyConfig, SensorConfig};
use crate::input::credential::Credential;
use crate::outbox;
use crate::replica;

#[derive(Debug, thiserror::Error)]
pub enum StationError {
    #[error(transparent)]
    Replica(#[from] replica::ReplicaError),
    #[error("scan log: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
    #[error("passage sensor: {0}")]
    Sensor(#[from] SensorError),
    #[error("block list {path}: {message}")]
    Revocations { path: String, message: String },
}

/// Upstream payload of a scan (outbox kind `scan`, version 1).
#[derive(Debug, Clone, Serialize)]
pub struct ScanPayloadV1<'a> {
    /// The key the credential's uses are recorded under, or the kind for unknown ones.
    pub credential: String,
    pub decision: &'static str,
    pub reason_code: &'static str,
    pub reason: String,
    pub device_id: &'a str,
    pub gate: &'a str,
    pub direction: ScanDirection,
    pub party_requested: u32,
    pub party_admitted: u32,
    pub uses_burned: u32,
    pub at: DateTime<Utc>,
    pub local: NaiveDateTime,
    /// Decided while the hub was unreachable.
    pub offline: bool,
    /// Unique per scan, for the hub's duplicate-admission report.
    pub nonce: String,
}

/// Commands for the relay thread.
enum RelayCommand {
    Pulse(Duration),
}

/// Owns the relay on a thread of its own and reports each opening (or failure to open) back
/// to the station's passage tracker, in command order.
pub struct RelayWorker {
    tx: mpsc::Sender<RelayCommand>,
}

impl RelayWorker {
    pub fn spawn(mut output: Box<dyn GateOutput>, events: mpsc::Sender<PassageEvent>) -> Self {
        let (tx, rx) = mpsc::channel::<RelayCommand>();
        std::thread::Builder::new()
            .name("gate-relay".into())
            .spawn(move || {
                while let Ok(RelayCommand::Pulse(d)) = rx.recv() {
                    let event = match output.pulse(d) {
                        Ok(()) => PassageEvent::RelayOpened,
                        Err(e) => {
                            tracing::error!(relay = %output.describe(), error = %e, "relay pulse failed");
                            PassageEvent::RelayFailed {
                                error: e.to_string(),
                            }
                        }
                    };
                    let _ = events.send(event);
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the relay thread"));
        Self { tx }
    }

    pub fn pulse(&self, d: Duration) -> bool {
        if self.tx.send(RelayCommand::Pulse(d)).is_err() {
            tracing::error!("relay thread is gone; turnstile not opened");
            return false;
        }
        true
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

/// Upstream payload of a use given back (outbox kind `scan_annulment`, version 1): the gate
/// opened for an admission but nobody went through, or it never opened.
#[derive(Debug, Clone, Serialize)]
pub struct ScanAnnulmentV1<'a> {
    /// The idempotency key of the admitted scan's own outbox row.
    pub scan_key: String,
    pub reason: AnnulReason,
    pub device_id: &'a str,
    pub gate: String,
    pub at: DateTime<Utc>,
}

/// One gate: its policy, its database connection and its relay.
pub struct Station {
    conn: Connection,
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

impl Drop for Station {
    fn drop(&mut self) {
        self.sensor_stop.store(true, Ordering::Relaxed);
    }
}

/// The scan log, in the device database (created on first use).
const SCAN_LOG: &str = "
CREATE TABLE IF NOT EXISTS scans (
    id              INTEGER PRIMARY KEY,
    use_key         TEXT,
    credential_kind TEXT NOT NULL,
    gate            TEXT NOT NULL,
    direction       TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    reason_code     TEXT NOT NULL,
    party_requested INTEGER NOT NULL,
    party_admitted  INTEGER NOT NULL,
    uses_burned     INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    local_time      TEXT NOT NULL,
    annulled        INTEGER NOT NULL DEFAULT 0,
    outbox_key      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_by_key ON scans(use_key, at_ms);
";

impl Station {
    /// Opens the station on the device database at `db`. Entries of the configured block-list
    /// file join the policy's inline list.
    pub fn open(
        db: &Path,
        device_id: &str,
        mut gate: GatePolicyConfig,
        output: Box<dyn GateOutput>,
        online: Arc<dyn Fn() -> bool + Send + Sync>,
    ) -> Result<Self, StationError> {
        let conn = replica::open(db)?;
        conn.execute_batch(SCAN_LOG)?;
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
        let next_scan: i64 =
            conn.query_row("SELECT coalesce(max(id), 0) + 1 FROM scans", [], |r| {
                r.get(0)
            })?;
        let (events_tx, events) = mpsc::channel();
        Ok(Self {
            conn,
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
        while let Ok(event) = self.events.try_recv() {
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
                PassageEffect::ConfirmUse { scan } => tracing::debug!(scan, "passage confirmed"),
                PassageEffect::AnnulUse { scan, reason } => self.annul(scan, reason, now)?,
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

    /// Gives an admission's use back: the scan row is marked annulled (so the ticket is not
    /// burned here) and the hub is told, in one transaction.
    fn annul(
        &mut self,
        scan: ScanId,
        reason: AnnulReason,
        now: DateTime<Utc>,
    ) -> Result<(), StationError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let row: Option<(String, String)> = tx
            .prepare_cached("SELECT outbox_key, gate FROM scans WHERE id = ?1 AND annulled = 0")?
            .query_row([scan], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((scan_key, gate)) = row else {
            return Ok(());
        };
        tx.prepare_cached("UPDATE scans SET annulled = 1 WHERE id = ?1")?
            .execute([scan])?;
        let payload = ScanAnnulmentV1 {
            scan_key,
            reason,
            device_id: &self.device_id,
            gate,
            at: now,
        };
        outbox::enqueue(
            &tx,
            outbox::kinds::SCAN_ANNULMENT,
            &payload,
            now.timestamp_millis(),
        )?;
        tx.commit()?;
        tracing::warn!(
            gate = %self.gate.policy.gate_id,
            scan,
            reason = ?reason,
            "use annulled: the gate opened but nobody went through"
        );
        Ok(())
    }

    pub fn policy(&self) -> &GatePolicyConfig {
        &self.gate
    }

    /// Looks up what the replica knows about the credential.
    pub fn facts(
        &self,
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
                    Some(membership) => {
                        let holder = match membership.members.first() {
                            Some(first) => {
                                let r = replica::resolve(&self.conn, first)?;
                                replica::constituent(&self.conn, &r.survivor)?
                            }
                            None => None,
                        };
                        Found::Membership { membership, holder }
                    }
                    None => Found::Nothing,
                }
            }
            LookupPlan::Constituent { lookup_id } => {
                let id = survivor.as_deref().unwrap_or(lookup_id);
                match replica::constituent(&self.conn, id)? {
                    Some(constituent) => Found::Constituent {
                        memberships: replica::memberships_of(&self.conn, id)?,
                        constituent,
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
                ticket: ticket.clone(),
                origin: TicketOrigin::Signed,
            },
            LookupPlan::Nothing => Found::Nothing,
        };
        if let Some(key) = plan.history_key(survivor.as_deref()) {
            facts.history = self.history(&key, now)?;
        }
        Ok(facts)
    }

    /// The credential's uses as recorded at this device.
    fn history(&self, key: &str, now: DateTime<Utc>) -> Result<UseHistory, StationError> {
        let uses_total: i64 = self
            .conn
            .prepare_cached(
                "SELECT coalesce(sum(uses_burned), 0) FROM scans
                 WHERE use_key = ?1 AND outcome = 'admit' AND annulled = 0",
            )?
            .query_row([key], |r| r.get(0))?;
        let since = (now - chrono::Duration::days(2)).timestamp_millis();
        let admissions = self
            .conn
            .prepare_cached(
                "SELECT at_ms, local_time, gate, party_admitted FROM scans
                 WHERE use_key = ?1 AND outcome = 'admit' AND direction = 'entry'
                   AND annulled = 0 AND at_ms >= ?2",
            )?
            .query_map(params![key, since], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u32>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .filter_map(|(at, local, gate, uses)| {
                Some(PriorAdmission {
                    at: DateTime::from_timestamp_millis(at)?,
                    local: NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M:%S%.f").ok()?,
                    gate,
                    uses,
                })
            })
            .collect();
        let last_exit: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT max(at_ms) FROM scans
                 WHERE use_key = ?1 AND outcome = 'admit' AND direction = 'exit'",
            )?
            .query_row([key], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(UseHistory {
            uses_total: u32::try_from(uses_total).unwrap_or(u32::MAX),
            admissions,
            last_exit: last_exit.and_then(DateTime::from_timestamp_millis),
        })
    }

    /// Decides one scan and carries out its effects: the relay is commanded as soon as the
    /// decision is made, then the scan and its outbox row are committed together. Returns the
    /// decision (for the screen).
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
    ///
    /// Order matters: a visitor must not wait for the disk, so the relay moves first. A crash
    /// between the two loses at most the scan in flight (the visitor went in, the use is not
    /// recorded); see `docs/ARCHITECTURE.md`.
    pub fn scan_timed(
        &mut self,
        credential: &Credential,
        direction: Option<ScanDirection>,
        party: u32,
        now: Now,
    ) -> Result<(Decision, Duration), StationError> {
        let started = std::time::Instant::now();
        self.pump(now.utc)?;
        let facts = self.facts(credential, now.utc)?;
        let direction = direction.unwrap_or_else(|| self.gate.policy.direction.default_scan());
        let decision = decide(&super::Scan {
            credential: &credential.kind,
            facts: &facts,
            policy: &self.gate.policy,
            direction,
            party,
            now,
        });
        let scan_id = self.next_scan;
        self.next_scan += 1;
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
        if let Some(record) = decision.scan_record() {
            self.persist(scan_id, credential, record)?;
        }
        tracing::debug!(
            gate = %self.gate.policy.gate_id,
            reader = %credential.reader,
            outcome = ?decision.outcome,
            reason = %decision.reason.code(),
            party = decision.party.admitted,
            "scan decided"
        );
        Ok((decision, commanded))
    }

    fn persist(
        &mut self,
        id: ScanId,
        credential: &Credential,
        r: &ScanRecord,
    ) -> Result<(), StationError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let payload = ScanPayloadV1 {
            credential: r
                .use_key
                .clone()
                .unwrap_or_else(|| credential.kind.name().to_owned()),
            decision: match r.outcome {
                super::Outcome::Admit => "admit",
                super::Outcome::Deny => "deny",
            },
            reason_code: r.reason_code,
            reason: r.reason.plain_words(),
            device_id: &self.device_id,
            gate: &r.gate,
            direction: r.direction,
            party_requested: r.party.requested,
            party_admitted: r.party.admitted,
            uses_burned: r.uses_burned,
            at: r.at,
            local: r.local,
            offline: !(self.online)(),
            nonce: uuid::Uuid::now_v7().to_string(),
        };
        let key = outbox::enqueue(&tx, outbox::kinds::SCAN, &payload, r.at.timestamp_millis())?;
        tx.prepare_cached(
            "INSERT INTO scans (id, use_key, credential_kind, gate, direction, outcome,
             reason_code, party_requested, party_admitted, uses_burned, at_ms, local_time,
             outbox_key) VALUES (?13, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            r.use_key,
            r.credential_kind,
            r.gate,
            match r.direction {
                ScanDirection::Entry => "entry",
                ScanDirection::Exit => "exit",
            },
            payload.decision,
            r.reason_code,
            r.party.requested,
            r.party.admitted,
            r.uses_burned,
            r.at.timestamp_millis(),
            r.local.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
            key,
            id
        ])?;
        tx.commit()?;
        Ok(())
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

/// The venue's local time for an instant, by the system time zone.
pub fn now_local(utc: DateTime<Utc>) -> Now {
    Now {
        utc,
        local: utc.with_timezone(&chrono::Local).naive_local(),
    }
}
