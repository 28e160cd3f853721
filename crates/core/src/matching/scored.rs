//! Scored matching: per-field evidence summed into a 0–100 confidence, with the CRM's bands.
//!
//! "If matching constituents qualify for automatic updates (their match confidence score is
//! above the top threshold), Altru applies these rules automatically"; "If matching
//! constituents qualify for manual review (their match confidence score falls in the middle
//! range)" a person resolves them. Below the lower threshold a new record is created.
//!
//! # Points
//!
//! | field | evidence | points |
//! |---|---|---|
//! | last name | equal / equal to a former last name / Jaro-Winkler ≥ 0.95 / ≥ 0.90 | 25 / 20 / 15 / 8 |
//! | first name | equal / nickname / Jaro-Winkler ≥ 0.95 / initial only / different (Jaro-Winkler < 0.90) | 20 / 16 / 5 / 5 / −25 |
//! | email | equal to an active email / to an inactive one | 35 / 15 |
//! | phone | equal to an active phone / to an inactive one | 30 / 12 |
//! | address | postcode and first line equal / postcode only | 10 / 5 |
//! | birth date | equal / both known and different | 20 / −30 |
//!
//! The sum is clamped to 0..=100. Exact name with email and phone, or with email and birth
//! date, scores 100; exact name with only email scores 80 (review); name alone never reaches
//! review. Email, phone and last name together (a household sharing its contacts) earn 90 at
//! most, so a first name that is merely similar (Daniel, Daniela) never reaches the automatic
//! band without further evidence, and a different first name counts against the match.

use serde::{Deserialize, Serialize};

use super::nicknames;
use super::{VisitorDetails, is_candidate};
use crate::domain::{Constituent, LookupId};
use crate::normalize::Normalizer;

/// The CRM's two thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreThresholds {
    /// Scores strictly above this qualify for automatic updates ("above the top threshold").
    pub automatic_above: u8,
    /// Scores from this one up to the top threshold go to manual review; below it, no match.
    pub review_from: u8,
}

impl Default for ScoreThresholds {
    /// The CRM's defaults: 95 and 70.
    fn default() -> Self {
        Self {
            automatic_above: 95,
            review_from: 70,
        }
    }
}

/// The fields scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    FirstName,
    LastName,
    Email,
    Phone,
    Address,
    BirthDate,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstName => "first name",
            Self::LastName => "last name",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Address => "address",
            Self::BirthDate => "birth date",
        }
    }
}

/// Why a field earned its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// Equal after normalisation.
    Equal,
    /// Equal to one of the constituent's historical names.
    FormerName,
    /// Known variants of one given name (Bill, William).
    Nickname,
    /// Jaro-Winkler similarity, in percent.
    Similar {
        percent: u8,
    },
    /// One side gave only an initial and it agrees.
    Initial,
    /// Equal to one of the constituent's active entries.
    EqualActive,
    /// Equal only to an inactive (ended) entry.
    EqualInactive,
    PostcodeAndLine,
    PostcodeOnly,
    /// Both sides known, and they disagree.
    Different,
    /// Not given by the visitor or not on the record: no evidence either way.
    Missing,
}

/// One field's part in a confidence score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldScore {
    pub field: Field,
    /// Points earned; negative for evidence against the match.
    pub points: i32,
    /// Most points the field can earn.
    pub max: i32,
    pub reason: Reason,
}

/// A candidate with its confidence and the explanation of each field's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoredCandidate {
    pub lookup_id: LookupId,
    /// 0–100.
    pub score: u8,
    pub fields: Vec<FieldScore>,
}

/// Result of scored matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ScoredOutcome {
    /// Exactly one candidate scores above the top threshold: update it automatically.
    Automatic(ScoredCandidate),
    /// The best candidate needs a person: it is in the middle range, or several candidates are
    /// above the top threshold. `contenders` are the other candidates from the review
    /// threshold up, best first.
    Review {
        best: ScoredCandidate,
        contenders: Vec<ScoredCandidate>,
    },
    /// Nothing reaches the review threshold: create a new record.
    NoMatch,
}

const LAST_EQUAL: i32 = 25;
const LAST_FORMER: i32 = 20;
const LAST_SIMILAR_HIGH: i32 = 15;
const LAST_SIMILAR_LOW: i32 = 8;
const FIRST_EQUAL: i32 = 20;
const FIRST_NICKNAME: i32 = 16;
const FIRST_SIMILAR_HIGH: i32 = 5;
const FIRST_SIMILAR_LOW: i32 = 0;
const FIRST_INITIAL: i32 = 5;
const FIRST_DIFFERENT: i32 = -25;
const EMAIL_ACTIVE: i32 = 35;
const EMAIL_INACTIVE: i32 = 15;
const PHONE_ACTIVE: i32 = 30;
const PHONE_INACTIVE: i32 = 12;
const ADDRESS_FULL: i32 = 10;
const ADDRESS_POSTCODE: i32 = 5;
const BIRTH_EQUAL: i32 = 20;
const BIRTH_DIFFERENT: i32 = -30;

const SIMILAR_HIGH: f64 = 0.95;
const SIMILAR_LOW: f64 = 0.90;

/// The visitor's normalised fields, computed once per query.
struct Query {
    first: String,
    last: String,
    email: Option<String>,
    phone: Option<String>,
    postcode: Option<String>,
    line1: Option<String>,
    birth_date: Option<chrono::NaiveDate>,
}

impl Query {
    fn new(v: &VisitorDetails, n: &Normalizer) -> Self {
        let address = v.address.as_ref();
        Self {
            first: n.name_key(&v.name.first),
            last: n.name_key(&v.name.last),
            email: v.email.as_deref().and_then(|e| n.email(e)),
            phone: v.phone.as_deref().and_then(|p| n.phone(p)),
            postcode: address
                .and_then(|a| a.postcode.as_deref())
                .and_then(|p| n.postcode(p)),
            line1: address
                .map(|a| n.address_line(&a.line1))
                .filter(|l| !l.is_empty()),
            birth_date: v.birth_date,
        }
    }
}

fn fs(field: Field, points: i32, max: i32, reason: Reason) -> FieldScore {
    FieldScore {
        field,
        points,
        max,
        reason,
    }
}

fn percent(sim: f64) -> u8 {
    (sim * 100.0).floor().clamp(0.0, 100.0) as u8
}

fn score_last(q: &Query, c: &Constituent, n: &Normalizer) -> FieldScore {
    let f = |p, r| fs(Field::LastName, p, LAST_EQUAL, r);
    let theirs = n.name_key(&c.name.last);
    if q.last.is_empty() || theirs.is_empty() {
        return f(0, Reason::Missing);
    }
    if q.last == theirs {
        return f(LAST_EQUAL, Reason::Equal);
    }
    if c.historical_names
        .iter()
        .any(|h| n.name_key(&h.name.last) == q.last)
    {
        return f(LAST_FORMER, Reason::FormerName);
    }
    let sim = strsim::jaro_winkler(&q.last, &theirs);
    if sim >= SIMILAR_HIGH {
        f(
            LAST_SIMILAR_HIGH,
            Reason::Similar {
                percent: percent(sim),
            },
        )
    } else if sim >= SIMILAR_LOW {
        f(
            LAST_SIMILAR_LOW,
            Reason::Similar {
                percent: percent(sim),
            },
        )
    } else {
        f(0, Reason::Different)
    }
}

/// The keys worth probing for a visitor in scored mode: every email and phone key, and the
/// surname key only when a record found by name alone could reach the review threshold. A
/// record that shares no email or phone with the visitor earns at most the name points plus
/// the address and birth-date points the visitor gave (45, 55, 65 or 75); when that is below
/// `review_from` the surname key can only load records that end up "no match".
pub fn probe_keys(
    v: &VisitorDetails,
    n: &Normalizer,
    thresholds: &ScoreThresholds,
) -> Vec<super::blocking::BlockingKey> {
    let q = Query::new(v, n);
    let mut best_without_contact = LAST_EQUAL + FIRST_EQUAL;
    if q.line1.is_some() || q.postcode.is_some() {
        best_without_contact += ADDRESS_FULL;
    }
    if q.birth_date.is_some() {
        best_without_contact += BIRTH_EQUAL;
    }
    let mut keys = super::blocking::visitor_keys(v, n);
    if best_without_contact < i32::from(thresholds.review_from) {
        keys.retain(|k| k.is_strict());
    }
    keys
}

/// Whether two normalised first names can earn first-name points (equal, nicknames of each
/// other, an initial of the other, or similar): the complement is the penalised "different".
pub fn first_names_compatible(a: &str, b: &str) -> bool {
    if a == b || nicknames::are_variants(a, b) {
        return true;
    }
    let (short, long) = if a.chars().count() <= b.chars().count() {
        (a, b)
    } else {
        (b, a)
    };
    if short.chars().count() == 1 {
        return long.starts_with(short);
    }
    strsim::jaro_winkler(a, b) >= SIMILAR_LOW
}

fn score_first(q: &Query, c: &Constituent, n: &Normalizer) -> FieldScore {
    let f = |p, r| fs(Field::FirstName, p, FIRST_EQUAL, r);
    let theirs = n.name_key(&c.name.first);
    if q.first.is_empty() || theirs.is_empty() {
        return f(0, Reason::Missing);
    }
    if q.first == theirs {
        return f(FIRST_EQUAL, Reason::Equal);
    }
    if nicknames::are_variants(&q.first, &theirs) {
        return f(FIRST_NICKNAME, Reason::Nickname);
    }
    let (short, long) = if q.first.chars().count() <= theirs.chars().count() {
        (&q.first, &theirs)
    } else {
        (&theirs, &q.first)
    };
    if short.chars().count() == 1 {
        return if long.starts_with(short.as_str()) {
            f(FIRST_INITIAL, Reason::Initial)
        } else {
            f(FIRST_DIFFERENT, Reason::Different)
        };
    }
    let sim = strsim::jaro_winkler(&q.first, &theirs);
    if sim >= SIMILAR_HIGH {
        f(
            FIRST_SIMILAR_HIGH,
            Reason::Similar {
                percent: percent(sim),
            },
        )
    } else if sim >= SIMILAR_LOW {
        f(
            FIRST_SIMILAR_LOW,
            Reason::Similar {
                percent: percent(sim),
            },
        )
    } else {
        f(FIRST_DIFFERENT, Reason::Different)
    }
}

/// Points for a key equal to an active entry, or else to an inactive one.
fn score_key<'a>(
    field: Field,
    want: Option<&str>,
    entries: impl Iterator<Item = (Option<String>, bool)> + 'a,
    active_points: i32,
    inactive_points: i32,
) -> FieldScore {
    let Some(want) = want else {
        return fs(field, 0, active_points, Reason::Missing);
    };
    let mut any = false;
    let mut inactive_hit = false;
    for (key, active) in entries {
        let Some(key) = key else { continue };
        any = true;
        if key == want {
            if active {
                return fs(field, active_points, active_points, Reason::EqualActive);
            }
            inactive_hit = true;
        }
    }
    if inactive_hit {
        fs(field, inactive_points, active_points, Reason::EqualInactive)
    } else if any {
        fs(field, 0, active_points, Reason::Different)
    } else {
        fs(field, 0, active_points, Reason::Missing)
    }
}

fn score_address(q: &Query, c: &Constituent, n: &Normalizer) -> FieldScore {
    let f = |p, r| fs(Field::Address, p, ADDRESS_FULL, r);
    let Some(pc) = q.postcode.as_deref() else {
        return f(0, Reason::Missing);
    };
    let mut any = false;
    let mut postcode_only = false;
    for a in &c.addresses {
        let Some(theirs) = a.postcode.as_deref().and_then(|p| n.postcode(p)) else {
            continue;
        };
        any = true;
        if theirs == pc {
            if q.line1.as_deref() == Some(n.address_line(&a.line1).as_str()) {
                return f(ADDRESS_FULL, Reason::PostcodeAndLine);
            }
            postcode_only = true;
        }
    }
    if postcode_only {
        f(ADDRESS_POSTCODE, Reason::PostcodeOnly)
    } else if any {
        f(0, Reason::Different)
    } else {
        f(0, Reason::Missing)
    }
}

fn score_birth(q: &Query, c: &Constituent) -> FieldScore {
    let f = |p, r| fs(Field::BirthDate, p, BIRTH_EQUAL, r);
    match (q.birth_date, c.birth_date) {
        (Some(a), Some(b)) if a == b => f(BIRTH_EQUAL, Reason::Equal),
        (Some(_), Some(_)) => f(BIRTH_DIFFERENT, Reason::Different),
        _ => f(0, Reason::Missing),
    }
}

fn score_with(q: &Query, c: &Constituent, n: &Normalizer) -> ScoredCandidate {
    let fields = vec![
        score_first(q, c, n),
        score_last(q, c, n),
        score_key(
            Field::Email,
            q.email.as_deref(),
            c.emails
                .iter()
                .map(|e| (n.email(&e.address), e.meta.active)),
            EMAIL_ACTIVE,
            EMAIL_INACTIVE,
        ),
        score_key(
            Field::Phone,
            q.phone.as_deref(),
            c.phones.iter().map(|p| (n.phone(&p.number), p.meta.active)),
            PHONE_ACTIVE,
            PHONE_INACTIVE,
        ),
        score_address(q, c, n),
        score_birth(q, c),
    ];
    let total: i32 = fields.iter().map(|f| f.points).sum();
    ScoredCandidate {
        lookup_id: c.lookup_id.clone(),
        score: total.clamp(0, 100) as u8,
        fields,
    }
}

/// Scores one constituent against a visitor, with each field's part. Merged status is not
/// considered here (see [`scored_match`]).
pub fn score_candidate(
    visitor: &VisitorDetails,
    candidate: &Constituent,
    n: &Normalizer,
) -> ScoredCandidate {
    score_with(&Query::new(visitor, n), candidate, n)
}

/// Scores every non-merged candidate and places the best in the CRM's bands.
pub fn scored_match(
    visitor: &VisitorDetails,
    candidates: &[Constituent],
    n: &Normalizer,
    thresholds: &ScoreThresholds,
) -> ScoredOutcome {
    scored_match_iter(visitor, candidates.iter(), n, thresholds)
}

/// [`scored_match`] over borrowed candidates.
pub fn scored_match_refs(
    visitor: &VisitorDetails,
    candidates: &[&Constituent],
    n: &Normalizer,
    thresholds: &ScoreThresholds,
) -> ScoredOutcome {
    scored_match_iter(visitor, candidates.iter().copied(), n, thresholds)
}

fn scored_match_iter<'a>(
    visitor: &VisitorDetails,
    candidates: impl Iterator<Item = &'a Constituent>,
    n: &Normalizer,
    thresholds: &ScoreThresholds,
) -> ScoredOutcome {
    let q = Query::new(visitor, n);
    let mut scored: Vec<ScoredCandidate> = Vec::new();
    for c in candidates.filter(|c| is_candidate(c)) {
        if scored.iter().any(|s| s.lookup_id == c.lookup_id) {
            continue;
        }
        let s = score_with(&q, c, n);
        if s.score >= thresholds.review_from {
            scored.push(s);
        }
    }
    scored.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.lookup_id.cmp(&b.lookup_id))
    });
    let mut ranked = scored.into_iter();
    let Some(best) = ranked.next() else {
        return ScoredOutcome::NoMatch;
    };
    let contenders: Vec<ScoredCandidate> = ranked.collect();
    let another_automatic = contenders
        .first()
        .is_some_and(|c| c.score > thresholds.automatic_above);
    if best.score > thresholds.automatic_above && !another_automatic {
        ScoredOutcome::Automatic(best)
    } else {
        ScoredOutcome::Review { best, contenders }
    }
}
