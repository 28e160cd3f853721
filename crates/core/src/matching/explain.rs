//! Explanations of matching results, for staff screens, logs and support.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::VisitorDetails;
use super::scored::{FieldScore, Reason, ScoredCandidate, Street};
use super::strict::{StrictVerdict, VisitorKeys, verdict};
use crate::domain::{Constituent, LookupId};
use crate::normalize::Normalizer;

/// Why one candidate does or does not satisfy the strict rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrictReport {
    pub lookup_id: LookupId,
    pub verdict: StrictVerdict,
}

/// The strict rule's verdict on every candidate, in the order given.
pub fn explain_strict(
    visitor: &VisitorDetails,
    candidates: &[Constituent],
    n: &Normalizer,
) -> Vec<StrictReport> {
    let keys = VisitorKeys::new(visitor, n);
    candidates
        .iter()
        .map(|c| StrictReport {
            lookup_id: c.lookup_id.clone(),
            verdict: verdict(&keys, c, n),
        })
        .collect()
}

impl std::fmt::Display for StrictVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Matches(super::MatchKey::Email) => "name and email match",
            Self::Matches(super::MatchKey::Phone) => "name and phone match",
            Self::Matches(super::MatchKey::EmailAndPhone) => "name, email and phone match",
            Self::Merged => "merged record: never a candidate",
            Self::VisitorLacksKeys => "visitor gave no full name, or no usable email or phone",
            Self::FirstNameDiffers => "first name differs",
            Self::LastNameDiffers => "last name differs",
            Self::NoActiveEmailOrPhoneAgrees => "name matches but no active email or phone does",
        })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Equal => f.write_str("equal"),
            Self::FormerName => f.write_str("equal to a former name"),
            Self::Nickname => f.write_str("nickname of the same name"),
            Self::Similar { percent } => write!(f, "{percent}% similar"),
            Self::Initial => f.write_str("initial agrees"),
            Self::Swapped => f.write_str("first and last name swapped"),
            Self::Typo => f.write_str("a typo apart (one digit, or day and month swapped)"),
            Self::EqualActive => f.write_str("equal to an active entry"),
            Self::EqualInactive => f.write_str("equal to an inactive entry"),
            Self::AddressParts {
                street,
                postcode,
                city,
            } => {
                let mut agree: Vec<&str> = Vec::new();
                if *street == Street::Equal {
                    agree.push("street");
                }
                if *postcode {
                    agree.push("postcode");
                }
                if *city {
                    agree.push("city");
                }
                let listed = match agree.as_slice() {
                    [] => String::new(),
                    [one] => format!("{one} agrees"),
                    [init @ .., last] => format!("{} and {last} agree", init.join(", ")),
                };
                match (*street == Street::Similar, listed.is_empty()) {
                    (true, true) => f.write_str("street spelt alike"),
                    (true, false) => write!(f, "street spelt alike; {listed}"),
                    (false, _) => f.write_str(&listed),
                }
            }
            Self::Different => f.write_str("different"),
            Self::Missing => f.write_str("missing on one side: no evidence either way"),
        }
    }
}

impl std::fmt::Display for FieldScore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {:+}/{} ({})",
            self.field.as_str(),
            self.points,
            self.max,
            self.reason
        )
    }
}

/// The total, one line per field, and why the score is held, if it is:
/// `"8-1001: 80/100\n  first name: +20/20 (equal)\n…"`.
pub fn explain_scored(candidate: &ScoredCandidate) -> String {
    let mut out = format!("{}: {}/100", candidate.lookup_id, candidate.score);
    for field in &candidate.fields {
        let _ = write!(out, "\n  {field}");
    }
    if candidate.held_at.is_some() {
        let _ = write!(out, "\n  {}", super::report::HELD);
    }
    out
}
