//! The gate's shell: scan → lookup → decide → persist the scan and its outbox row in one
//! transaction → relay. The decision itself is [`decide`](super::decide); this module does the
//! I/O around it.
//!
//! The station has its own connection to the device database, so scans keep flowing while a
//! sync writes (WAL: readers never wait, and a scan's small write waits at most for one feed
//! transaction). The relay runs on its own thread: a pulse never holds up the next scan.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{
    Decision, Effect, Facts, Found, GateOutput, LookupPlan, MergeHop, Now, PriorAdmission,
    ScanDirection, ScanRecord, TicketOrigin, UseHistory, decide,
};
use crate::gate::config::GatePolicyConfig;
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

/// Owns the relay on a thread of its own.
pub struct RelayWorker {
    tx: mpsc::Sender<RelayCommand>,
}

impl RelayWorker {
    pub fn spawn(mut output: Box<dyn GateOutput>) -> Self {
        let (tx, rx) = mpsc::channel::<RelayCommand>();
        std::thread::Builder::new()
            .name("gate-relay".into())
            .spawn(move || {
                while let Ok(RelayCommand::Pulse(d)) = rx.recv() {
                    if let Err(e) = output.pulse(d) {
                        tracing::error!(relay = %output.describe(), error = %e, "relay pulse failed");
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the relay thread"));
        Self { tx }
    }

    pub fn pulse(&self, d: Duration) {
        if self.tx.send(RelayCommand::Pulse(d)).is_err() {
            tracing::error!("relay thread is gone; turnstile not opened");
        }
    }
}

/// One gate: its policy, its database connection and its relay.
pub struct Station {
    conn: Connection,
    gate: GatePolicyConfig,
    device_id: String,
    relay: RelayWorker,
    online: Arc<dyn Fn() -> bool + Send + Sync>,
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
        Ok(Self {
            conn,
            gate,
            device_id: device_id.to_owned(),
            relay: RelayWorker::spawn(output),
            online,
        })
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
        for effect in &decision.effects {
            if let Effect::PulseRelay { duration } = effect {
                self.relay.pulse(*duration);
            }
        }
        let commanded = started.elapsed();
        if let Some(record) = decision.scan_record() {
            self.persist(credential, record)?;
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

    fn persist(&mut self, credential: &Credential, r: &ScanRecord) -> Result<(), StationError> {
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
            "INSERT INTO scans (use_key, credential_kind, gate, direction, outcome, reason_code,
             party_requested, party_admitted, uses_burned, at_ms, local_time, outbox_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
            key
        ])?;
        tx.commit()?;
        Ok(())
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
