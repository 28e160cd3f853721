//! Constituent matching: does a visitor (kiosk customer, portal user, access-control guest)
//! correspond to a constituent already in the CRM?
//!
//! Sans-IO. The shell asks [`blocking::visitor_keys`] which normalised keys to probe, fetches
//! the constituents those probes find from the replica, and hands them here. Every function is
//! correct whatever candidates it is given: irrelevant ones simply do not match.
//!
//! Two modes, chosen by [`MatchConfig::mode`]:
//!
//! * [`strict`]: the CRM integration's rule, "name and email match OR name and phone match",
//!   exactly, against every active email and phone of a candidate;
//! * [`scored`]: per-field evidence summed into a 0–100 confidence, with the CRM's two
//!   thresholds (automatic update above the top one, manual review in the middle range).
//!
//! [`decide`] maps either outcome to what the shell does next.

pub mod blocking;
pub mod explain;
pub mod nicknames;
pub mod report;
pub mod scored;
pub mod strict;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{Constituent, ConstituentStatus, LookupId, PersonName};
use crate::normalize::Normalizer;
use crate::update_rules::UpdateMode;

pub use scored::{
    Field, FieldScore, Reason, ScoreThresholds, ScoredCandidate, ScoredOutcome, Street,
    score_candidate, scored_match,
};
pub use strict::{MatchKey, MatchOutcome, StrictHit, strict_match, strict_match_refs};

/// A postal address without CRM bookkeeping, as a visitor gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PostalAddress {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// What a visitor typed at a kiosk, into the portal, or gave at the gate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VisitorDetails {
    pub name: PersonName,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<PostalAddress>,
    pub birth_date: Option<NaiveDate>,
}

impl VisitorDetails {
    /// A visitor's details as staff type them (`portico match`'s flags): names, an email, a
    /// phone, a postcode; what is not given is absent.
    pub fn from_parts(
        first: Option<String>,
        last: Option<String>,
        email: Option<String>,
        phone: Option<String>,
        postcode: Option<String>,
    ) -> Self {
        Self {
            name: PersonName {
                title: None,
                first: first.unwrap_or_default(),
                middle: None,
                last: last.unwrap_or_default(),
                suffix: None,
            },
            email,
            phone,
            address: postcode.map(|p| PostalAddress {
                postcode: Some(p),
                ..PostalAddress::default()
            }),
            birth_date: None,
        }
    }
}

/// Which matching rule the venue uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum MatchMode {
    /// Name and email, or name and phone, match exactly (the integration's rule).
    Strict,
    /// Confidence score with the CRM's thresholds.
    Scored(ScoreThresholds),
}

/// What intake does when several constituents match (never a silent pick).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnAmbiguous {
    /// Ask the visitor for more details (or staff to choose); nothing is written.
    #[default]
    Ask,
    /// Create a new record; the hub queues the possible duplicates for staff.
    Create,
}

/// Matching settings (from the device config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchConfig {
    pub mode: MatchMode,
    #[serde(default)]
    pub on_ambiguous: OnAmbiguous,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            mode: MatchMode::Strict,
            on_ambiguous: OnAmbiguous::Ask,
        }
    }
}

/// What the shell does with a visitor after matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Associate the visitor with this constituent and apply the update rules in `mode`.
    UseExisting {
        lookup_id: LookupId,
        mode: UpdateMode,
    },
    /// A person must choose among these constituents (best first); nothing is picked silently.
    NeedsReview { candidates: Vec<LookupId> },
    /// No constituent matches: "Without sufficient information, a new record will be created."
    CreateNew,
}

/// Matches `visitor` against `candidates` with the configured rule and says what to do next.
///
/// A strict match is exact on name and a contact key, so it counts as qualifying for automatic
/// updates ([`UpdateMode::Automatic`]); several strict matches go to review.
pub fn decide(
    visitor: &VisitorDetails,
    candidates: &[Constituent],
    n: &Normalizer,
    config: &MatchConfig,
) -> Decision {
    match config.mode {
        MatchMode::Strict => match strict_match(visitor, candidates, n) {
            MatchOutcome::Matched(hit) => Decision::UseExisting {
                lookup_id: hit.lookup_id,
                mode: UpdateMode::Automatic,
            },
            MatchOutcome::Ambiguous(hits) => Decision::NeedsReview {
                candidates: hits.into_iter().map(|h| h.lookup_id).collect(),
            },
            MatchOutcome::NoMatch => Decision::CreateNew,
        },
        MatchMode::Scored(thresholds) => match scored_match(visitor, candidates, n, &thresholds) {
            ScoredOutcome::Automatic(best) => Decision::UseExisting {
                lookup_id: best.lookup_id,
                mode: UpdateMode::Automatic,
            },
            ScoredOutcome::Review { best, contenders } => Decision::NeedsReview {
                candidates: std::iter::once(best.lookup_id)
                    .chain(contenders.into_iter().map(|c| c.lookup_id))
                    .collect(),
            },
            ScoredOutcome::NoMatch => Decision::CreateNew,
        },
    }
}

/// Merged-away constituents are never candidates.
pub(crate) fn is_candidate(c: &Constituent) -> bool {
    c.status != ConstituentStatus::Merged
}
