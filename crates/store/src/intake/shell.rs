//! The device side of intake: look the visitor up in the replica, [`decide`](super::decide),
//! and write the decision's effects (a pending constituent, the optimistic update-rule
//! changes, the upstream rows) in one job of the database's writer, so the lookup and the
//! writes see the same replica and a second visit of the same person finds the first.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::{Decision, Effect, IntakeConfig, decide, local_id};
use crate::matching::blocking::visitor_keys;
use crate::matching::scored::NamePrune;
use crate::matching::{MatchMode, VisitorDetails};
use crate::normalize::Normalizer;
use crate::outbox;
use crate::protocol::ConstituentDto;
use crate::replica::{Applier, ReplicaError, Store, search};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the visitor's record could not be written")]
    Database(#[from] ReplicaError),
}

/// What intake did for one visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeOutcome {
    pub decision: Decision,
    /// Idempotency keys of the rows queued for the hub, in order.
    pub outbox_keys: Vec<String>,
}

impl IntakeOutcome {
    /// The constituent the visitor is now associated with on this device (a Lookup ID, or a
    /// local id for a record created here), when there is one.
    pub fn constituent(&self) -> Option<&str> {
        match &self.decision {
            Decision::Matched { lookup_id, .. } => Some(lookup_id),
            Decision::Created { local_id } => Some(local_id),
            Decision::Review { .. }
            | Decision::Ambiguous { .. }
            | Decision::Incomplete { .. }
            | Decision::Refused { .. } => None,
        }
    }
}

/// Runs intake for `visitor` on the device database: lookup, decision and writes in one job
/// of the database's writer.
pub fn intake(
    store: &Store,
    n: &Normalizer,
    config: &IntakeConfig,
    visitor: &VisitorDetails,
    now: DateTime<Utc>,
) -> Result<IntakeOutcome, IntakeError> {
    let (n, config, visitor) = (n.clone(), config.clone(), visitor.clone());
    let (outcome, candidates) = store.write(move |tx| intake_in(tx, &n, &config, &visitor, now))?;
    log(&outcome.decision, candidates);
    Ok(outcome)
}

/// What intake would decide for `visitor`, on a read connection, writing nothing: the kiosk's
/// preview before payment (a visitor who walks away leaves no record).
pub fn preview(
    conn: &Connection,
    n: &Normalizer,
    config: &IntakeConfig,
    visitor: &VisitorDetails,
    now: DateTime<Utc>,
) -> Result<Decision, ReplicaError> {
    let candidates = candidates_for(conn, n, config, visitor)?;
    Ok(decide(visitor, &candidates, n, config, "preview", now).decision)
}

/// What `portico match` shows: intake's decision for `visitor` against the replica (nothing is
/// written), with every candidate weighed and explained.
pub fn explain(
    conn: &Connection,
    n: &Normalizer,
    config: &IntakeConfig,
    visitor: &VisitorDetails,
    now: DateTime<Utc>,
) -> Result<crate::matching::report::MatchReport, ReplicaError> {
    let candidates = candidates_for(conn, n, config, visitor)?;
    Ok(crate::matching::report::report(
        visitor,
        &candidates,
        n,
        config,
        now,
    ))
}

/// The replica's records that may be `visitor`: those sharing the keys the configured mode
/// probes.
fn candidates_for(
    conn: &Connection,
    n: &Normalizer,
    config: &IntakeConfig,
    visitor: &VisitorDetails,
) -> Result<Vec<crate::domain::Constituent>, ReplicaError> {
    let keys = match &config.matching.mode {
        // A strict match always shares an email or a phone.
        MatchMode::Strict => {
            let mut keys = visitor_keys(visitor, n);
            keys.retain(|k| k.is_strict());
            keys
        }
        MatchMode::Scored(thresholds) => {
            crate::matching::scored::probe_keys(visitor, n, thresholds)
        }
    };
    let prune = match &config.matching.mode {
        MatchMode::Strict => None,
        MatchMode::Scored(thresholds) => Some(NamePrune::new(visitor, n, thresholds)),
    };
    search::candidates(conn, &keys, prune.as_ref(), config.candidate_limit.max(1))
}

/// Intake inside the caller's write transaction (the writer's job, or a kiosk order's); also
/// returns how many candidates were weighed.
pub fn intake_in(
    tx: &Connection,
    n: &Normalizer,
    config: &IntakeConfig,
    visitor: &VisitorDetails,
    now: DateTime<Utc>,
) -> Result<(IntakeOutcome, usize), ReplicaError> {
    let candidates = candidates_for(tx, n, config, visitor)?;
    let local_id = local_id(uuid::Uuid::now_v7());
    let plan = decide(visitor, &candidates, n, config, &local_id, now);

    let applier = Applier::new(n.clone());
    let mut outbox_keys = Vec::new();
    for effect in &plan.effects {
        match effect {
            Effect::InsertPending(c) => {
                applier.write_local_constituent(tx, &ConstituentDto::from(c.clone()), true)?;
            }
            Effect::UpdateConstituent {
                constituent,
                pending,
            } => {
                applier.write_local_constituent(
                    tx,
                    &ConstituentDto::from(constituent.clone()),
                    *pending,
                )?;
            }
            Effect::Enqueue(row) => {
                outbox_keys.push(outbox::enqueue(tx, row, now.timestamp_millis())?);
            }
        }
    }
    Ok((
        IntakeOutcome {
            decision: plan.decision,
            outbox_keys,
        },
        candidates.len(),
    ))
}

fn log(decision: &Decision, candidates: usize) {
    match decision {
        Decision::Matched {
            lookup_id,
            pending,
            confidence,
            automatic,
            changes,
        } => tracing::info!(
            lookup_id = %lookup_id,
            pending,
            confidence,
            automatic,
            changes = changes.iter().filter(|c| c.alters_record()).count(),
            "visitor matched a constituent"
        ),
        Decision::Review {
            lookup_id, score, ..
        } => tracing::info!(
            lookup_id = %lookup_id,
            score,
            "visitor match needs review; queued for the hub"
        ),
        Decision::Ambiguous { candidates: ids } => tracing::info!(
            candidates = ids.len(),
            "visitor matches several constituents; nothing picked"
        ),
        Decision::Created { local_id } => tracing::info!(
            local_id = %local_id,
            candidates,
            "no constituent matched; pending record created"
        ),
        Decision::Incomplete { missing } => {
            tracing::info!(missing = %missing, "visitor details incomplete")
        }
        Decision::Refused { reason } => {
            tracing::warn!(reason = %reason, "visitor details refused")
        }
    }
}
