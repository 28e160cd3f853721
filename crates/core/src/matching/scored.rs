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
//! | last name | equal / equal to a former last name / Jaro-Winkler ≥ 0.95 / ≥ 0.90 | 25 / 20 / 18 / 12 |
//! | first name | equal / nickname / Jaro-Winkler ≥ 0.95 / ≥ 0.90 / initial only / different | 20 / 16 / 12 / 8 / 5 / −25 |
//! | both names | first and last name swapped | 16 + 20 |
//! | email | equal to an active email / to an inactive one | 35 / 15 |
//! | phone | equal to an active phone / to an inactive one | 30 / 12 |
//! | address | street equal (or the same number on a street spelt within Jaro-Winkler 0.90) + postcode + city | 12 (8) + 8 + 5 |
//! | birth date | equal / a typo apart (one digit, or day and month swapped) / different | 30 / 12 / −30 |
//!
//! The sum is clamped to 0..=100. Exact name with email and phone, with email and birth date,
//! or with birth date and the whole address scores 100; exact name with only email scores 80
//! and with only the whole address 70 (review); name alone never reaches review.
//!
//! **Only agreeing names are updated automatically.** The CRM's automatic update replaces the
//! record's name with the incoming one, so a record whose names merely resemble the visitor's
//! (similar, an initial, swapped) is held at the top threshold, in the review band, however
//! much else agrees: a household sharing email, phone and address (Daniel and Daniela) goes to
//! a person, and a typo never overwrites a correct name.

use serde::{Deserialize, Serialize};

use super::nicknames;
use super::{VisitorDetails, is_candidate};
use crate::domain::{Address, Constituent, LookupId};
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
    Similar { percent: u8 },
    /// One side gave only an initial and it agrees.
    Initial,
    /// The visitor's first name is the record's last name and the other way round.
    Swapped,
    /// A typo apart: one digit differs, or day and month are swapped.
    Typo,
    /// Equal to one of the constituent's active entries.
    EqualActive,
    /// Equal only to an inactive (ended) entry.
    EqualInactive,
    /// The parts of the record's best-agreeing address that agree with the visitor's.
    AddressParts {
        street: Street,
        postcode: bool,
        city: bool,
    },
    /// Both sides known, and they disagree.
    Different,
    /// Not given by the visitor or not on the record: no evidence either way.
    Missing,
}

/// How an address's street line compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Street {
    Equal,
    /// The same house number on a street spelt alike (Jaro-Winkler ≥ 0.90).
    Similar,
    Different,
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
    /// Set when the names only resemble the record's (similar, an initial, swapped) and the
    /// evidence would otherwise pass the top threshold: the score is held at the threshold,
    /// so a person reviews it rather than an automatic update overwriting the record's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_at: Option<u8>,
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
const LAST_SIMILAR_HIGH: i32 = 18;
const LAST_SIMILAR_LOW: i32 = 12;
const LAST_SWAPPED: i32 = 20;
const FIRST_EQUAL: i32 = 20;
const FIRST_NICKNAME: i32 = 16;
const FIRST_SIMILAR_HIGH: i32 = 12;
const FIRST_SIMILAR_LOW: i32 = 8;
const FIRST_INITIAL: i32 = 5;
const FIRST_SWAPPED: i32 = 16;
const FIRST_DIFFERENT: i32 = -25;
const EMAIL_ACTIVE: i32 = 35;
const EMAIL_INACTIVE: i32 = 15;
const PHONE_ACTIVE: i32 = 30;
const PHONE_INACTIVE: i32 = 12;
const STREET_EQUAL: i32 = 12;
const STREET_SIMILAR: i32 = 8;
const POSTCODE_EQUAL: i32 = 8;
const CITY_EQUAL: i32 = 5;
const ADDRESS_MAX: i32 = STREET_EQUAL + POSTCODE_EQUAL + CITY_EQUAL;
const BIRTH_EQUAL: i32 = 30;
const BIRTH_TYPO: i32 = 12;
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
    city: Option<String>,
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
            city: address
                .map(|a| n.name_key(&a.city))
                .filter(|c| !c.is_empty()),
            birth_date: v.birth_date,
        }
    }

    fn has_address(&self) -> bool {
        self.line1.is_some() || self.postcode.is_some() || self.city.is_some()
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

/// Whether the visitor's first and last names are the record's the other way round.
fn swapped(first: &str, last: &str, their_first: &str, their_last: &str) -> bool {
    !first.is_empty()
        && !last.is_empty()
        && first != their_first
        && first == their_last
        && last == their_first
}

/// Last-name evidence from the normalised keys alone (former names aside).
fn last_evidence(first: &str, last: &str, their_first: &str, their_last: &str) -> (i32, Reason) {
    if last.is_empty() || their_last.is_empty() {
        return (0, Reason::Missing);
    }
    if last == their_last {
        return (LAST_EQUAL, Reason::Equal);
    }
    if swapped(first, last, their_first, their_last) {
        return (LAST_SWAPPED, Reason::Swapped);
    }
    let sim = strsim::jaro_winkler(last, their_last);
    let similar = Reason::Similar {
        percent: percent(sim),
    };
    if sim >= SIMILAR_HIGH {
        (LAST_SIMILAR_HIGH, similar)
    } else if sim >= SIMILAR_LOW {
        (LAST_SIMILAR_LOW, similar)
    } else {
        (0, Reason::Different)
    }
}

fn score_last(q: &Query, c: &Constituent, n: &Normalizer) -> FieldScore {
    let f = |p, r| fs(Field::LastName, p, LAST_EQUAL, r);
    let theirs = n.name_key(&c.name.last);
    let (points, reason) = last_evidence(&q.first, &q.last, &n.name_key(&c.name.first), &theirs);
    if points < LAST_FORMER
        && !q.last.is_empty()
        && c.historical_names
            .iter()
            .any(|h| n.name_key(&h.name.last) == q.last)
    {
        return f(LAST_FORMER, Reason::FormerName);
    }
    f(points, reason)
}

/// What kinds of key a visitor's details make worth probing, and which: every email and phone
/// key; the exact-name keys only when a record found by name alone could reach the review
/// threshold; the misspelt-name keys (first name + last initial, swapped names) only when a
/// record whose names merely resemble the visitor's could. A record that shares no email or
/// phone with the visitor earns at most the name points plus the address and birth-date points
/// the visitor gave: 45 for exact names (38 for resembling ones: a first name equal, a last
/// name similar), + 25 with an address, + 30 with a birth date. When that is below `review_from` the key can only load records that end up "no match".
pub fn probe_keys(
    v: &VisitorDetails,
    n: &Normalizer,
    thresholds: &ScoreThresholds,
) -> Vec<super::blocking::BlockingKey> {
    let q = Query::new(v, n);
    let mut rest = 0;
    if q.has_address() {
        rest += ADDRESS_MAX;
    }
    if q.birth_date.is_some() {
        rest += BIRTH_EQUAL;
    }
    let review = i32::from(thresholds.review_from);
    let exact = LAST_EQUAL + FIRST_EQUAL + rest >= review;
    let resembling = FIRST_EQUAL + LAST_SIMILAR_HIGH + rest >= review;
    let mut keys = super::blocking::visitor_keys(v, n);
    keys.retain(|k| match k.reach() {
        super::blocking::Reach::Contact => true,
        super::blocking::Reach::ExactName => exact,
        super::blocking::Reach::ResemblingName => resembling,
    });
    keys
}

/// Which records found by a name key are worth loading: those that could still reach the
/// review threshold with no shared email or phone (a record sharing one is found by the contact
/// keys). The bound is exact for what the name index holds, the names, and for the birth date,
/// read by row id; the address is assumed to agree in full. Former names are not counted: the
/// name keys look up current names only.
#[derive(Debug, Clone)]
pub struct NamePrune {
    first: String,
    last: String,
    birth_date: Option<chrono::NaiveDate>,
    address_max: i32,
    review_from: i32,
}

impl NamePrune {
    pub fn new(v: &VisitorDetails, n: &Normalizer, thresholds: &ScoreThresholds) -> Self {
        let q = Query::new(v, n);
        Self {
            address_max: if q.has_address() { ADDRESS_MAX } else { 0 },
            first: q.first,
            last: q.last,
            birth_date: q.birth_date,
            review_from: i32::from(thresholds.review_from),
        }
    }

    fn name_points(&self, their_first: &str, their_last: &str) -> i32 {
        first_evidence(&self.first, &self.last, their_first, their_last).0
            + last_evidence(&self.first, &self.last, their_first, their_last).0
    }

    /// Whether a record with these (normalised) names could reach review, whatever its birth
    /// date.
    pub fn names(&self, their_first: &str, their_last: &str) -> bool {
        let birth = if self.birth_date.is_some() {
            BIRTH_EQUAL
        } else {
            0
        };
        self.name_points(their_first, their_last) + self.address_max + birth >= self.review_from
    }

    /// Whether the visitor gave a birth date, so a record's is worth reading before loading it.
    pub fn weighs_birth_date(&self) -> bool {
        self.birth_date.is_some()
    }

    /// Whether a record with these names and this birth date could reach review.
    pub fn record(
        &self,
        their_first: &str,
        their_last: &str,
        their_birth: Option<chrono::NaiveDate>,
    ) -> bool {
        let birth = match (self.birth_date, their_birth) {
            (Some(a), Some(b)) if a == b => BIRTH_EQUAL,
            (Some(a), Some(b)) if a_typo_apart(a, b) => BIRTH_TYPO,
            (Some(_), Some(_)) => BIRTH_DIFFERENT,
            _ => 0,
        };
        self.name_points(their_first, their_last) + self.address_max + birth >= self.review_from
    }
}

/// First-name evidence from the normalised keys.
fn first_evidence(first: &str, last: &str, their_first: &str, their_last: &str) -> (i32, Reason) {
    if first.is_empty() || their_first.is_empty() {
        return (0, Reason::Missing);
    }
    if first == their_first {
        return (FIRST_EQUAL, Reason::Equal);
    }
    if nicknames::are_variants(first, their_first) {
        return (FIRST_NICKNAME, Reason::Nickname);
    }
    if swapped(first, last, their_first, their_last) {
        return (FIRST_SWAPPED, Reason::Swapped);
    }
    let (short, long) = if first.chars().count() <= their_first.chars().count() {
        (first, their_first)
    } else {
        (their_first, first)
    };
    if short.chars().count() == 1 {
        return if long.starts_with(short) {
            (FIRST_INITIAL, Reason::Initial)
        } else {
            (FIRST_DIFFERENT, Reason::Different)
        };
    }
    let sim = strsim::jaro_winkler(first, their_first);
    let similar = Reason::Similar {
        percent: percent(sim),
    };
    if sim >= SIMILAR_HIGH {
        (FIRST_SIMILAR_HIGH, similar)
    } else if sim >= SIMILAR_LOW {
        (FIRST_SIMILAR_LOW, similar)
    } else {
        (FIRST_DIFFERENT, Reason::Different)
    }
}

fn score_first(q: &Query, c: &Constituent, n: &Normalizer) -> FieldScore {
    let (points, reason) = first_evidence(
        &q.first,
        &q.last,
        &n.name_key(&c.name.first),
        &n.name_key(&c.name.last),
    );
    fs(Field::FirstName, points, FIRST_EQUAL, reason)
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

/// The house numbers of a normalised street line, and its words without them.
fn street_parts(line: &str) -> (Vec<&str>, String) {
    let (numbers, words): (Vec<&str>, Vec<&str>) = line
        .split(' ')
        .filter(|w| !w.is_empty())
        .partition(|w| w.chars().any(|c| c.is_ascii_digit()));
    (numbers, words.join(" "))
}

fn compare_street(ours: &str, theirs: &str) -> Street {
    if ours == theirs {
        return Street::Equal;
    }
    let (our_numbers, our_words) = street_parts(ours);
    let (their_numbers, their_words) = street_parts(theirs);
    if our_numbers == their_numbers
        && !our_words.is_empty()
        && !their_words.is_empty()
        && strsim::jaro_winkler(&our_words, &their_words) >= SIMILAR_LOW
    {
        Street::Similar
    } else {
        Street::Different
    }
}

/// One of the record's addresses against the visitor's: its points, and which parts agree.
fn address_parts(q: &Query, a: &Address, n: &Normalizer) -> Option<(i32, Reason)> {
    let postcode = a.postcode.as_deref().and_then(|p| n.postcode(p));
    let line = Some(n.address_line(&a.line1)).filter(|l| !l.is_empty());
    let city = Some(n.name_key(&a.city)).filter(|c| !c.is_empty());
    let comparable = (q.postcode.is_some() && postcode.is_some())
        || (q.line1.is_some() && line.is_some())
        || (q.city.is_some() && city.is_some());
    if !comparable {
        return None;
    }
    let street = match (&q.line1, &line) {
        (Some(ours), Some(theirs)) => compare_street(ours, theirs),
        _ => Street::Different,
    };
    let postcode = q.postcode.is_some() && q.postcode == postcode;
    let city = q.city.is_some() && q.city == city;
    let points = match street {
        Street::Equal => STREET_EQUAL,
        Street::Similar => STREET_SIMILAR,
        Street::Different => 0,
    } + if postcode { POSTCODE_EQUAL } else { 0 }
        + if city { CITY_EQUAL } else { 0 };
    Some((
        points,
        Reason::AddressParts {
            street,
            postcode,
            city,
        },
    ))
}

fn score_address(q: &Query, c: &Constituent, n: &Normalizer) -> FieldScore {
    let f = |p, r| fs(Field::Address, p, ADDRESS_MAX, r);
    if !q.has_address() {
        return f(0, Reason::Missing);
    }
    let best = c
        .addresses
        .iter()
        .filter_map(|a| address_parts(q, a, n))
        .max_by_key(|(points, _)| *points);
    match best {
        Some((0, _)) => f(0, Reason::Different),
        Some((points, reason)) => f(points, reason),
        None => f(0, Reason::Missing),
    }
}

/// One digit apart, or the day and month swapped.
fn a_typo_apart(a: chrono::NaiveDate, b: chrono::NaiveDate) -> bool {
    use chrono::Datelike;
    let digits = |d: chrono::NaiveDate| d.format("%Y%m%d").to_string();
    let (da, db) = (digits(a), digits(b));
    let differing = da.chars().zip(db.chars()).filter(|(x, y)| x != y).count();
    differing == 1 || (a.year() == b.year() && a.month() == b.day() && a.day() == b.month())
}

fn score_birth(q: &Query, c: &Constituent) -> FieldScore {
    let f = |p, r| fs(Field::BirthDate, p, BIRTH_EQUAL, r);
    match (q.birth_date, c.birth_date) {
        (Some(a), Some(b)) if a == b => f(BIRTH_EQUAL, Reason::Equal),
        (Some(a), Some(b)) if a_typo_apart(a, b) => f(BIRTH_TYPO, Reason::Typo),
        (Some(_), Some(_)) => f(BIRTH_DIFFERENT, Reason::Different),
        _ => f(0, Reason::Missing),
    }
}

/// Whether a name field's evidence only resembles the record's.
fn resembles(f: &FieldScore) -> bool {
    matches!(
        f.reason,
        Reason::Similar { .. } | Reason::Initial | Reason::Swapped
    )
}

fn score_with(
    q: &Query,
    c: &Constituent,
    n: &Normalizer,
    thresholds: &ScoreThresholds,
) -> ScoredCandidate {
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
    let mut score = total.clamp(0, 100) as u8;
    let mut held_at = None;
    let names_resemble = fields
        .iter()
        .filter(|f| matches!(f.field, Field::FirstName | Field::LastName))
        .any(resembles);
    if names_resemble && score > thresholds.automatic_above {
        score = thresholds.automatic_above;
        held_at = Some(score);
    }
    ScoredCandidate {
        lookup_id: c.lookup_id.clone(),
        score,
        fields,
        held_at,
    }
}

/// Scores one constituent against a visitor, with each field's part; `thresholds` hold a
/// record whose names only resemble the visitor's at the top one. Merged status is not
/// considered here (see [`scored_match`]).
pub fn score_candidate(
    visitor: &VisitorDetails,
    candidate: &Constituent,
    n: &Normalizer,
    thresholds: &ScoreThresholds,
) -> ScoredCandidate {
    score_with(&Query::new(visitor, n), candidate, n, thresholds)
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
        let s = score_with(&q, c, n, thresholds);
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
