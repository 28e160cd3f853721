//! The kiosk's side of seat leases: asks the hub for seats of the slots about to be sold, gives
//! back what it will not sell, and takes the hub's view of what it holds.
//!
//! Each check (every `check_interval`, and when a visitor wants more seats than are free):
//! 1. sends again every call written down and not answered (a lost reply, a restart);
//! 2. reads the hub's leases (`GET /v1/leases`) into the database;
//! 3. for every slot of the kiosk's groups starting within `lead`, and every slot it holds
//!    seats of, runs [`plan`]: more seats when few are free, every free seat back once sales
//!    close, recalled seats back;
//! 4. writes each call down, sends it, and records the reply.
//!
//! With the hub out of reach the kiosk keeps selling from what it holds; the next check
//! catches up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use rusqlite::Connection;

use crate::clock::Clock;
use crate::kiosk::capacity::{LeaseAction, LeasePolicy, plan};
use crate::kiosk::leases::{self as db, LeaseOp, OpKind};
use crate::replica::Store;
use crate::sync::{HubClient, SyncError};

/// When and how much a kiosk asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    pub policy: LeasePolicy,
    /// Slots starting within this long are leased ahead.
    pub lead: Duration,
    /// Time between checks.
    pub check_interval: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            policy: LeasePolicy::default(),
            lead: Duration::from_secs(3 * 3600),
            check_interval: Duration::from_secs(60),
        }
    }
}

/// What one check did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseCheck {
    /// Calls sent again (their first reply was not received).
    pub resent: u32,
    pub granted: u32,
    pub returned: u32,
    /// Calls the hub refused (an unknown slot).
    pub refused: u32,
}

/// Seats visitors hold on screen, per slot (not in the database: they go with the session).
pub type SessionHolds<'a> = &'a (dyn Fn(&str) -> u32 + Sync);

pub struct LeaseClient {
    client: HubClient,
    store: Arc<Store>,
    reader: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    zone: Option<chrono_tz::Tz>,
    settings: LeaseSettings,
    /// Slot groups of the timed admissions this kiosk sells.
    groups: Vec<String>,
}

impl LeaseClient {
    pub fn new(
        client: HubClient,
        store: Arc<Store>,
        reader: Arc<Mutex<Connection>>,
        clock: Arc<dyn Clock>,
        zone: Option<chrono_tz::Tz>,
        settings: LeaseSettings,
        groups: Vec<String>,
    ) -> Self {
        Self {
            client,
            store,
            reader,
            clock,
            zone,
            settings,
            groups,
        }
    }

    fn now_local(&self) -> NaiveDateTime {
        crate::gate::station::now_local(self.clock.now(), self.zone).local
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> crate::replica::Result<T> + Send + 'static,
    ) -> Result<T, SyncError> {
        let db = self.reader.clone();
        tokio::task::spawn_blocking(move || f(&db.lock().unwrap_or_else(|p| p.into_inner())))
            .await
            .map_err(|e| SyncError::Local(e.to_string()))?
            .map_err(SyncError::from)
    }

    /// Sends a call written down and records the answer: granted and returned seats, or a
    /// refusal. A link failure leaves the call to be sent again.
    async fn send(&self, op: &LeaseOp, check: &mut LeaseCheck) -> Result<(), SyncError> {
        let reply = match op.kind {
            OpKind::Request => self.client.lease_request(&op.request).await,
            OpKind::Return => self.client.lease_return(&op.request).await,
        };
        let now_ms = self.now_ms();
        match reply {
            Ok(reply) => {
                check.granted += reply.granted;
                check.returned += reply.returned;
                tracing::info!(
                    slot = %reply.lease.slot_id,
                    granted = reply.granted,
                    returned = reply.returned,
                    seats = reply.lease.seats,
                    "seat lease answered"
                );
                self.store
                    .write_async(move |tx| db::answered(tx, &reply, now_ms))
                    .await?;
                Ok(())
            }
            Err(SyncError::Rejected { status, message }) if (400..500).contains(&status) => {
                tracing::warn!(slot = %op.request.slot_id, status, %message, "seat lease refused");
                check.refused += 1;
                let id = op.request.request_id.clone();
                self.store
                    .write_async(move |tx| db::refused(tx, &id))
                    .await?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// One check (see the module's steps).
    pub async fn check(&self, session: SessionHolds<'_>) -> Result<LeaseCheck, SyncError> {
        let mut check = LeaseCheck::default();
        for op in self.read(db::unanswered).await? {
            check.resent += 1;
            self.send(&op, &mut check).await?;
        }
        let hub = self.client.leases().await?;
        let now_ms = self.now_ms();
        self.store
            .write_async(move |tx| db::reconcile(tx, &hub, now_ms))
            .await?;

        let now = self.now_local();
        let until = now + chrono::Duration::from_std(self.settings.lead).unwrap_or_default();
        let groups = self.groups.clone();
        let (held, upcoming) = self
            .read(move |c| {
                Ok((
                    db::leases_in_play(c, now)?,
                    db::upcoming_slots(c, now, until, &groups)?,
                ))
            })
            .await?;
        let mut steps: Vec<(String, NaiveDateTime, LeaseAction)> = Vec::new();
        for l in &held {
            let open = now < l.sales_close;
            if let Some(a) = plan(
                &self.settings.policy,
                &l.book(session(&l.slot_id)),
                open,
                l.recall,
            ) && (matches!(a, LeaseAction::Return(_))
                || upcoming.iter().any(|(s, _)| *s == l.slot_id))
            {
                steps.push((l.slot_id.clone(), l.sales_close, a));
            }
        }
        for (slot, close) in upcoming {
            if held.iter().all(|l| l.slot_id != slot)
                && let Some(a) = plan(&self.settings.policy, &Default::default(), true, 0)
            {
                steps.push((slot, close, a));
            }
        }
        for (slot, close, action) in steps {
            self.act(&slot, close, action, &mut check).await?;
        }
        Ok(check)
    }

    /// Asks for `wanted` seats of a slot beyond what is free, now (a visitor is waiting):
    /// the shortfall and a batch besides. The seats granted.
    pub async fn top_up(
        &self,
        slot: &str,
        sales_close: NaiveDateTime,
        shortfall: u32,
    ) -> Result<u32, SyncError> {
        let mut check = LeaseCheck::default();
        let seats = shortfall + self.settings.policy.batch;
        self.act(slot, sales_close, LeaseAction::Request(seats), &mut check)
            .await?;
        Ok(check.granted)
    }

    async fn act(
        &self,
        slot: &str,
        sales_close: NaiveDateTime,
        action: LeaseAction,
        check: &mut LeaseCheck,
    ) -> Result<(), SyncError> {
        let id = uuid::Uuid::now_v7().to_string();
        let slot = slot.to_owned();
        let now_ms = self.now_ms();
        let op = self
            .store
            .write_async(move |tx| match action {
                LeaseAction::Request(n) => {
                    db::begin_request(tx, &id, &slot, n, sales_close, now_ms)
                }
                LeaseAction::Return(n) => db::begin_return(tx, &id, &slot, n, now_ms),
            })
            .await?;
        self.send(&op, check).await
    }

    /// Checks every `check_interval`, and at once when `poke` is notified, until `stop`.
    pub async fn run(
        self: Arc<Self>,
        poke: Arc<tokio::sync::Notify>,
        session: Arc<dyn Fn(&str) -> u32 + Send + Sync>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            match self.check(&*session).await {
                Ok(c) if c != LeaseCheck::default() => {
                    tracing::info!(?c, "seat leases checked")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "seat leases not checked; selling from what is held")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.check_interval) => {}
                _ = poke.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }
}
