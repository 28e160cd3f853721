//! Constituent intake: a visitor gives their details at a kiosk (or the portal, or access
//! control) and the device either associates them with a constituent it already knows or
//! creates a new one, offline, and tells the hub.
//!
//! The CRM integration's rules (seeds 000, 001 and 003):
//!
//! * "XTruLink automatically associates Kiosk customers and/or Portal Users with matching
//!   constituent records in Altru (if they exist) when sufficient criteria is met (name and
//!   email match OR name and phone match). Without sufficient information, a new record will be
//!   created." Several matching records are ambiguous: a person chooses, nothing is picked
//!   silently.
//! * In scored mode, "If matching constituents qualify for automatic updates (their match
//!   confidence score is above the top threshold), Altru applies these rules automatically";
//!   in "the middle range" they go to manual review (the hub's review queue); below it, a new
//!   record is created.
//! * The update rules apply to matched incoming records (kiosk visitor details), not to
//!   explicit edits ([`rules_apply`] with [`UpdateSource::MatchedIncoming`]).
//!
//! This module is the sans-IO core: [`decide`] takes the visitor, the candidates the shell
//! found in the replica (pending local records included), the configuration, a fresh local id
//! and the time, and returns a [`Plan`]: the [`Decision`] and the [`Effect`]s to persist.
//! The store's `intake::shell` does the lookups and writes the effects in one transaction;
//! its `intake::remap` rewrites local references when the hub assigns a Lookup ID or merges
//! records.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Constituent, ConstituentStatus, LookupId};
use crate::matching::explain::explain_scored;
use crate::matching::{
    FieldScore, MatchConfig, MatchMode, MatchOutcome, ScoreThresholds, ScoredOutcome,
    VisitorDetails, scored_match, strict_match,
};
use crate::normalize::Normalizer;
use crate::update_rules::{
    Change, IncomingDetails, UpdateMode, UpdateSource, VisitorContactTypes,
    apply_update_rules_with, rules_apply,
};

/// Prefix of the ids a device gives the constituents it creates before the hub has assigned
/// them a Lookup ID (`L-` then a UUID v7). CRM Lookup IDs never start with it.
pub const LOCAL_ID_PREFIX: &str = "L-";

/// Longest text field (a name part, email, phone, address line) taken from a visitor; the hub
/// rejects longer ones, so the device refuses them before anything is written.
pub const MAX_FIELD_CHARS: usize = 200;

/// The first of the visitor's fields longer than [`MAX_FIELD_CHARS`], if any.
pub fn oversized_field(v: &VisitorDetails) -> Option<&'static str> {
    let n = &v.name;
    let a = v.address.as_ref();
    let fields = [
        ("name", Some(n.first.as_str())),
        ("name", Some(n.last.as_str())),
        ("name", n.title.as_deref()),
        ("name", n.middle.as_deref()),
        ("name", n.suffix.as_deref()),
        ("email", v.email.as_deref()),
        ("phone", v.phone.as_deref()),
        ("address", a.map(|a| a.line1.as_str())),
        ("address", a.and_then(|a| a.line2.as_deref())),
        ("address", a.map(|a| a.city.as_str())),
        ("address", a.and_then(|a| a.region.as_deref())),
        ("address", a.and_then(|a| a.postcode.as_deref())),
        ("address", a.map(|a| a.country.as_str())),
    ];
    fields
        .into_iter()
        .find(|(_, s)| s.is_some_and(|s| s.chars().count() > MAX_FIELD_CHARS))
        .map(|(what, _)| what)
}

/// Whether `id` is a device-made local id rather than a CRM Lookup ID.
pub fn is_local_id(id: &str) -> bool {
    id.starts_with(LOCAL_ID_PREFIX)
}

/// A local id: `L-` and a UUID v7 the caller made (time-ordered, unique across devices; the
/// clock and the randomness are the shell's).
pub fn local_id(v7: uuid::Uuid) -> String {
    format!("{LOCAL_ID_PREFIX}{v7}")
}

/// How the device does intake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeConfig {
    /// Strict (the integration's rule) or scored (the CRM's 95/70 bands).
    pub matching: MatchConfig,
    /// CRM contact types given to what the visitor types.
    pub contact_types: VisitorContactTypes,
    /// Most candidates fetched from the replica for one visitor.
    pub candidate_limit: usize,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            matching: MatchConfig::default(),
            contact_types: VisitorContactTypes::default(),
            candidate_limit: 50,
        }
    }
}

impl IntakeConfig {
    /// Scored matching with the CRM's default thresholds (95 automatic, 70 review).
    pub fn scored() -> Self {
        Self {
            matching: MatchConfig {
                mode: MatchMode::Scored(ScoreThresholds::default()),
                ..MatchConfig::default()
            },
            ..Self::default()
        }
    }

    /// Intake with the given matching (a device's `[matching] mode` and thresholds).
    pub fn with_matching(matching: MatchConfig) -> Self {
        Self {
            matching,
            ..Self::default()
        }
    }
}

/// How a match was made, as sent upstream so the hub can judge it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchInfo {
    /// `strict` or `scored`.
    pub mode: MatchModeName,
    /// 0–100; a strict match counts as 100.
    pub confidence: u8,
    /// Whether the device found the match good enough for automatic updates.
    pub automatic: bool,
    /// The thresholds used in scored mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<ScoreThresholds>,
}

/// The matching rule's name on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchModeName {
    Strict,
    Scored,
}

/// Payload of a `new_constituent` outbox row (version 1): a constituent created on the device,
/// pending until the hub answers with its Lookup ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConstituentV1 {
    pub first_name: String,
    pub last_name: String,
    /// The device's id for the record until the hub assigns a Lookup ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    /// Everything the visitor gave (name parts, email, phone, address, birth date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<VisitorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_types: Option<VisitorContactTypes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

/// Payload of a `visitor_update` outbox row (version 1): a visitor who matched a constituent,
/// with their details, so the hub can apply the update rules (or queue a review) itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorUpdateV1 {
    /// The matched constituent: a Lookup ID, or a local id the hub mapped from an earlier
    /// `new_constituent` of the same device.
    pub lookup_id: String,
    pub visitor: VisitorDetails,
    #[serde(default)]
    pub contact_types: VisitorContactTypes,
    #[serde(rename = "match")]
    pub match_info: MatchInfo,
    pub seen_at: DateTime<Utc>,
}

/// What intake decided for a visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The visitor is this constituent; the update rules were applied to the replica.
    Matched {
        lookup_id: LookupId,
        /// The constituent is one this device created and the hub has not confirmed yet.
        pending: bool,
        confidence: u8,
        automatic: bool,
        /// Every effect of the update rules (including entries already present).
        changes: Vec<Change>,
    },
    /// Scored mode's middle range: the hub queues the match for staff; nothing is applied.
    Review {
        lookup_id: LookupId,
        score: u8,
        /// Staff-readable, one line per field.
        explanation: String,
        fields: Vec<FieldScore>,
    },
    /// Several constituents match: a person must choose (or the visitor gives more details).
    /// Nothing is written.
    Ambiguous { candidates: Vec<LookupId> },
    /// No constituent matches: a new pending record was created under a local id.
    Created { local_id: LookupId },
    /// The visitor gave no first or last name: nothing can be matched or created.
    Incomplete { missing: String },
    /// A field is longer than [`MAX_FIELD_CHARS`]: nothing is matched or written.
    Refused { reason: String },
}

/// A write the shell performs, in order, inside one transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Insert a new pending constituent (its `lookup_id` is a local id).
    InsertPending(Constituent),
    /// Replace the stored constituent with this one (optimistic update rules); `pending`
    /// tells whether it is still a local record.
    UpdateConstituent {
        constituent: Constituent,
        pending: bool,
    },
    /// Queue an upstream row.
    Enqueue(Box<crate::upstream::Upstream>),
}

/// The decision and the writes that carry it out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub decision: Decision,
    pub effects: Vec<Effect>,
}

/// Decides what to do with `visitor` given the replica's `candidates` (pending local records
/// included). `local_id` is used only when a record is created; `now` dates the changes.
///
/// Pure: no database, no clock.
pub fn decide(
    visitor: &VisitorDetails,
    candidates: &[Constituent],
    n: &Normalizer,
    config: &IntakeConfig,
    local_id: &str,
    now: DateTime<Utc>,
) -> Plan {
    let today = now.date_naive();
    if let Some(field) = oversized_field(visitor) {
        return Plan {
            decision: Decision::Refused {
                reason: format!("{field} longer than {MAX_FIELD_CHARS} characters"),
            },
            effects: Vec::new(),
        };
    }
    let missing: Vec<&str> = [
        ("first name", &visitor.name.first),
        ("last name", &visitor.name.last),
    ]
    .into_iter()
    .filter(|(_, v)| n.name_key(v).is_empty())
    .map(|(what, _)| what)
    .collect();
    if !missing.is_empty() {
        return Plan {
            decision: Decision::Incomplete {
                missing: missing.join(" and "),
            },
            effects: Vec::new(),
        };
    }
    match config.matching.mode {
        MatchMode::Strict => match strict_match(visitor, candidates, n) {
            MatchOutcome::Matched(hit) => {
                let info = MatchInfo {
                    mode: MatchModeName::Strict,
                    confidence: 100,
                    automatic: true,
                    thresholds: None,
                };
                matched(visitor, candidates, &hit.lookup_id, info, n, config, now)
            }
            MatchOutcome::Ambiguous(hits) => ambiguous_or_create(
                hits.into_iter().map(|h| h.lookup_id),
                visitor,
                n,
                config,
                local_id,
                today,
                now,
            ),
            MatchOutcome::NoMatch => create(visitor, n, config, local_id, today, now),
        },
        MatchMode::Scored(thresholds) => match scored_match(visitor, candidates, n, &thresholds) {
            ScoredOutcome::Automatic(best) => {
                let info = MatchInfo {
                    mode: MatchModeName::Scored,
                    confidence: best.score,
                    automatic: true,
                    thresholds: Some(thresholds),
                };
                matched(visitor, candidates, &best.lookup_id, info, n, config, now)
            }
            // Several candidates above the top threshold: never a silent pick.
            ScoredOutcome::Review { best, contenders }
                if best.score > thresholds.automatic_above =>
            {
                ambiguous_or_create(
                    std::iter::once(best.lookup_id).chain(
                        contenders
                            .into_iter()
                            .filter(|c| c.score > thresholds.automatic_above)
                            .map(|c| c.lookup_id),
                    ),
                    visitor,
                    n,
                    config,
                    local_id,
                    today,
                    now,
                )
            }
            ScoredOutcome::Review { best, .. } => {
                let info = MatchInfo {
                    mode: MatchModeName::Scored,
                    confidence: best.score,
                    automatic: false,
                    thresholds: Some(thresholds),
                };
                let payload = VisitorUpdateV1 {
                    lookup_id: best.lookup_id.clone(),
                    visitor: visitor.clone(),
                    contact_types: config.contact_types.clone(),
                    match_info: info,
                    seen_at: now,
                };
                Plan {
                    effects: vec![enqueue(payload)],
                    decision: Decision::Review {
                        explanation: explain_scored(&best),
                        lookup_id: best.lookup_id,
                        score: best.score,
                        fields: best.fields,
                    },
                }
            }
            ScoredOutcome::NoMatch => create(visitor, n, config, local_id, today, now),
        },
    }
}

fn enqueue(payload: impl crate::upstream::Payload) -> Effect {
    Effect::Enqueue(Box::new(payload.into_upstream()))
}

/// Several constituents match: ask (nothing written) or, when the venue configured it,
/// create a new record and let the hub queue the possible duplicates for staff.
fn ambiguous_or_create(
    ids: impl Iterator<Item = LookupId>,
    visitor: &VisitorDetails,
    n: &Normalizer,
    config: &IntakeConfig,
    local_id: &str,
    today: chrono::NaiveDate,
    now: DateTime<Utc>,
) -> Plan {
    match config.matching.on_ambiguous {
        crate::matching::OnAmbiguous::Ask => ambiguous(ids),
        crate::matching::OnAmbiguous::Create => create(visitor, n, config, local_id, today, now),
    }
}

fn ambiguous(ids: impl Iterator<Item = LookupId>) -> Plan {
    let mut candidates: Vec<LookupId> = ids.collect();
    candidates.sort();
    candidates.dedup();
    Plan {
        decision: Decision::Ambiguous { candidates },
        effects: Vec::new(),
    }
}

fn matched(
    visitor: &VisitorDetails,
    candidates: &[Constituent],
    lookup_id: &str,
    info: MatchInfo,
    n: &Normalizer,
    config: &IntakeConfig,
    now: DateTime<Utc>,
) -> Plan {
    let pending = is_local_id(lookup_id);
    let mut effects = Vec::new();
    let mut changes = Vec::new();
    // "Constituent update rules are applied when ... it matches an existing constituent":
    // kiosk visitor details that matched are such an incoming record.
    if rules_apply(UpdateSource::MatchedIncoming)
        && let Some(existing) = candidates.iter().find(|c| c.lookup_id == lookup_id)
    {
        let incoming = IncomingDetails::from_visitor(visitor, &config.contact_types);
        let (updated, all) = apply_update_rules_with(
            existing,
            &incoming,
            UpdateMode::Automatic,
            now.date_naive(),
            n,
        );
        if all.iter().any(Change::alters_record) {
            effects.push(Effect::UpdateConstituent {
                constituent: updated,
                pending,
            });
        }
        changes = all;
    }
    let payload = VisitorUpdateV1 {
        lookup_id: lookup_id.to_owned(),
        visitor: visitor.clone(),
        contact_types: config.contact_types.clone(),
        match_info: info.clone(),
        seen_at: now,
    };
    effects.push(enqueue(payload));
    Plan {
        decision: Decision::Matched {
            lookup_id: lookup_id.to_owned(),
            pending,
            confidence: info.confidence,
            automatic: info.automatic,
            changes,
        },
        effects,
    }
}

/// The record a visitor becomes when nothing matches: their name, and their email, phone and
/// address as the update rules add them to a record that has none ("If the existing
/// constituent has no phone numbers, the primary phone number in the batch is always
/// primary"), so unusable entries (placeholder emails, numbers that do not normalise) are left
/// out exactly as they would be on an update.
pub fn new_record(
    visitor: &VisitorDetails,
    n: &Normalizer,
    types: &VisitorContactTypes,
    lookup_id: &str,
    today: NaiveDate,
) -> Constituent {
    let empty = Constituent {
        lookup_id: lookup_id.to_owned(),
        name: visitor.name.clone(),
        birth_date: None,
        status: ConstituentStatus::Active,
        historical_names: Vec::new(),
        emails: Vec::new(),
        phones: Vec::new(),
        addresses: Vec::new(),
    };
    let incoming = IncomingDetails {
        name: None,
        ..IncomingDetails::from_visitor(visitor, types)
    };
    let (record, _) = apply_update_rules_with(&empty, &incoming, UpdateMode::Automatic, today, n);
    record
}

fn create(
    visitor: &VisitorDetails,
    n: &Normalizer,
    config: &IntakeConfig,
    local_id: &str,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Plan {
    let record = new_record(visitor, n, &config.contact_types, local_id, today);
    let payload = NewConstituentV1 {
        first_name: visitor.name.first.clone(),
        last_name: visitor.name.last.clone(),
        local_id: Some(local_id.to_owned()),
        visitor: Some(visitor.clone()),
        contact_types: Some(config.contact_types.clone()),
        created_at: Some(now),
    };
    Plan {
        decision: Decision::Created {
            local_id: local_id.to_owned(),
        },
        effects: vec![Effect::InsertPending(record), enqueue(payload)],
    }
}

#[cfg(test)]
mod tests;
