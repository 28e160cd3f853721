//! The strict rule: "name and email match OR name and phone match".
//!
//! A candidate matches when, after normalisation, its first and last names equal the visitor's
//! ([`Normalizer::name_key`]) and the visitor's email equals one of the candidate's **active**
//! emails, or the visitor's phone equals one of its **active** phones (primary or not). Middle
//! name, title, suffix, addresses, birth date and the status of a non-merged candidate play no
//! part. Merged constituents are never candidates. Several matching constituents give
//! [`MatchOutcome::Ambiguous`], never a silent pick; none gives [`MatchOutcome::NoMatch`] and the
//! caller creates a new record.

use serde::{Deserialize, Serialize};

use super::{VisitorDetails, is_candidate};
use crate::domain::{Constituent, LookupId};
use crate::normalize::Normalizer;

/// Which contact key agreed with the visitor's, beside the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    Email,
    Phone,
    EmailAndPhone,
}

/// A constituent that satisfies the strict rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrictHit {
    pub lookup_id: LookupId,
    pub via: MatchKey,
}

/// Result of strict matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MatchOutcome {
    /// Exactly one constituent matches.
    Matched(StrictHit),
    /// Several distinct constituents match (sorted by Lookup ID); a person must choose.
    Ambiguous(Vec<StrictHit>),
    /// No constituent matches: a new record is created.
    NoMatch,
}

/// The visitor's normalised keys, computed once per query.
pub(crate) struct VisitorKeys {
    pub first: String,
    pub last: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl VisitorKeys {
    pub(crate) fn new(v: &VisitorDetails, n: &Normalizer) -> Self {
        Self {
            first: n.name_key(&v.name.first),
            last: n.name_key(&v.name.last),
            email: v.email.as_deref().and_then(|e| n.email(e)),
            phone: v.phone.as_deref().and_then(|p| n.phone(p)),
        }
    }

    /// The strict rule needs a full name and at least one contact key.
    fn usable(&self) -> bool {
        !self.first.is_empty()
            && !self.last.is_empty()
            && (self.email.is_some() || self.phone.is_some())
    }
}

/// Why a candidate does or does not satisfy the strict rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrictVerdict {
    Matches(MatchKey),
    /// Merged-away record: never a candidate.
    Merged,
    /// The visitor gave no first or last name, or no usable email or phone.
    VisitorLacksKeys,
    FirstNameDiffers,
    LastNameDiffers,
    /// Names agree but no active email or phone does.
    NoActiveEmailOrPhoneAgrees,
}

pub(crate) fn verdict(keys: &VisitorKeys, c: &Constituent, n: &Normalizer) -> StrictVerdict {
    if !is_candidate(c) {
        return StrictVerdict::Merged;
    }
    if !keys.usable() {
        return StrictVerdict::VisitorLacksKeys;
    }
    if n.name_key(&c.name.first) != keys.first {
        return StrictVerdict::FirstNameDiffers;
    }
    if n.name_key(&c.name.last) != keys.last {
        return StrictVerdict::LastNameDiffers;
    }
    let email = keys.email.as_deref().is_some_and(|want| {
        c.emails
            .iter()
            .filter(|e| e.meta.active)
            .any(|e| n.email(&e.address).as_deref() == Some(want))
    });
    let phone = keys.phone.as_deref().is_some_and(|want| {
        c.phones
            .iter()
            .filter(|p| p.meta.active)
            .any(|p| n.phone(&p.number).as_deref() == Some(want))
    });
    match (email, phone) {
        (true, true) => StrictVerdict::Matches(MatchKey::EmailAndPhone),
        (true, false) => StrictVerdict::Matches(MatchKey::Email),
        (false, true) => StrictVerdict::Matches(MatchKey::Phone),
        (false, false) => StrictVerdict::NoActiveEmailOrPhoneAgrees,
    }
}

/// Applies the strict rule to `candidates` (whatever the replica's index probes returned).
pub fn strict_match(
    visitor: &VisitorDetails,
    candidates: &[Constituent],
    n: &Normalizer,
) -> MatchOutcome {
    strict_match_iter(visitor, candidates.iter(), n)
}

/// [`strict_match`] over borrowed candidates, for shells that hold them elsewhere.
pub fn strict_match_refs(
    visitor: &VisitorDetails,
    candidates: &[&Constituent],
    n: &Normalizer,
) -> MatchOutcome {
    strict_match_iter(visitor, candidates.iter().copied(), n)
}

fn strict_match_iter<'a>(
    visitor: &VisitorDetails,
    candidates: impl Iterator<Item = &'a Constituent>,
    n: &Normalizer,
) -> MatchOutcome {
    let keys = VisitorKeys::new(visitor, n);
    if !keys.usable() {
        return MatchOutcome::NoMatch;
    }
    let mut hits: Vec<StrictHit> = Vec::new();
    for c in candidates {
        if let StrictVerdict::Matches(via) = verdict(&keys, c, n) {
            // The same record probed by both email and phone is one candidate, not two.
            match hits.iter_mut().find(|h| h.lookup_id == c.lookup_id) {
                Some(h) => h.via = merge_keys(h.via, via),
                None => hits.push(StrictHit {
                    lookup_id: c.lookup_id.clone(),
                    via,
                }),
            }
        }
    }
    match hits.len() {
        0 => MatchOutcome::NoMatch,
        1 => MatchOutcome::Matched(hits.remove(0)),
        _ => {
            hits.sort_by(|a, b| a.lookup_id.cmp(&b.lookup_id));
            MatchOutcome::Ambiguous(hits)
        }
    }
}

fn merge_keys(a: MatchKey, b: MatchKey) -> MatchKey {
    if a == b { a } else { MatchKey::EmailAndPhone }
}
