//! What `portico match` shows staff: the decision intake would take for a visitor in the
//! configured mode (matched, ambiguous, review, new), every candidate weighed, and in scored
//! mode each field's part in the candidate's score, in plain words. Pure: the shell fetches the
//! candidates exactly as intake does and prints [`render`] or the report as JSON.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::scored::{ScoreThresholds, score_candidate};
use super::strict::{VisitorKeys, verdict as strict_verdict};
use super::{MatchMode, OnAmbiguous, VisitorDetails, is_candidate};
use crate::domain::Constituent;
use crate::intake::{self, IntakeConfig};
use crate::normalize::Normalizer;

/// The decision, as staff name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Verdict {
    /// The visitor is this record: the kiosk uses it and applies the update rules.
    Matched { lookup_id: String, automatic: bool },
    /// Several records fit: the kiosk asks for one more detail (or, as configured, makes a new
    /// record that staff compare with these at the hub).
    Ambiguous { candidates: Vec<String>, asks: bool },
    /// Scored mode's middle band: staff confirm the match at the hub.
    Review { lookup_id: String, score: u8 },
    /// No record fits: a new one is made.
    New,
    /// The details cannot be matched (no first or last name, a field too long).
    NotMatchable { why: String },
}

/// One field's part in a scored candidate's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldLine {
    pub field: String,
    pub points: i32,
    pub max: i32,
    /// Why, in words (`equal`, `nickname of the same name`, `87% similar`).
    pub why: String,
}

/// A record weighed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateLine {
    pub lookup_id: String,
    pub name: String,
    /// Scored mode: 0–100.
    pub score: Option<u8>,
    /// Strict mode: the rule's verdict; scored mode: the score's band.
    pub verdict: String,
    /// Scored mode: each field's part.
    pub fields: Vec<FieldLine>,
}

/// What `portico match` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchReport {
    /// `strict` or `scored`.
    pub mode: String,
    pub thresholds: Option<ScoreThresholds>,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The decision in a sentence.
    pub summary: String,
    /// Best first.
    pub candidates: Vec<CandidateLine>,
}

fn name_of(c: &Constituent) -> String {
    format!("{} {}", c.name.first, c.name.last)
        .trim()
        .to_owned()
}

/// The report for `visitor` against the `candidates` intake would fetch, under `config`.
pub fn report(
    visitor: &VisitorDetails,
    candidates: &[Constituent],
    n: &Normalizer,
    config: &IntakeConfig,
    now: DateTime<Utc>,
) -> MatchReport {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&Constituent> = candidates
        .iter()
        .filter(|c| is_candidate(c) && seen.insert(c.lookup_id.clone()))
        .collect();
    let decided = intake::decide(visitor, candidates, n, config, "new", now).decision;
    let verdict = match decided {
        intake::Decision::Matched {
            lookup_id,
            automatic,
            ..
        } => Verdict::Matched {
            lookup_id,
            automatic,
        },
        intake::Decision::Review {
            lookup_id, score, ..
        } => Verdict::Review { lookup_id, score },
        intake::Decision::Ambiguous { candidates } => Verdict::Ambiguous {
            candidates,
            asks: true,
        },
        intake::Decision::Created { .. } => {
            match ambiguous_created(visitor, &unique, n, config, now) {
                Some(candidates) => Verdict::Ambiguous {
                    candidates,
                    asks: false,
                },
                None => Verdict::New,
            }
        }
        intake::Decision::Incomplete { missing } => Verdict::NotMatchable {
            why: format!("no {missing} was given"),
        },
        intake::Decision::Refused { reason } => Verdict::NotMatchable { why: reason },
    };
    let (mode, thresholds, mut lines) = match &config.matching.mode {
        MatchMode::Strict => {
            let keys = VisitorKeys::new(visitor, n);
            let mut lines: Vec<(bool, CandidateLine)> = unique
                .iter()
                .map(|c| {
                    let v = strict_verdict(&keys, c, n);
                    let hit = matches!(v, super::strict::StrictVerdict::Matches(_));
                    (
                        hit,
                        CandidateLine {
                            lookup_id: c.lookup_id.clone(),
                            name: name_of(c),
                            score: None,
                            verdict: v.to_string(),
                            fields: Vec::new(),
                        },
                    )
                })
                .collect();
            lines.sort_by_key(|(hit, _)| !*hit);
            ("strict", None, lines.into_iter().map(|(_, l)| l).collect())
        }
        MatchMode::Scored(t) => {
            let lines: Vec<CandidateLine> = unique
                .iter()
                .map(|c| {
                    let s = score_candidate(visitor, c, n, t);
                    let verdict = match s.held_at {
                        Some(_) => format!("{}: {HELD}", band(s.score, t)),
                        None => band(s.score, t).to_owned(),
                    };
                    CandidateLine {
                        lookup_id: c.lookup_id.clone(),
                        name: name_of(c),
                        score: Some(s.score),
                        verdict,
                        fields: s
                            .fields
                            .iter()
                            .map(|f| FieldLine {
                                field: f.field.as_str().to_owned(),
                                points: f.points,
                                max: f.max,
                                why: f.reason.to_string(),
                            })
                            .collect(),
                    }
                })
                .collect();
            ("scored", Some(*t), lines)
        }
    };
    lines.sort_by_key(|c| std::cmp::Reverse(c.score));
    let summary = summary(&verdict, &unique, config);
    MatchReport {
        mode: mode.to_owned(),
        thresholds,
        verdict,
        summary,
        candidates: lines,
    }
}

/// Intake made a new record although several fit: the venue's `on_ambiguous = "create"`.
fn ambiguous_created(
    visitor: &VisitorDetails,
    candidates: &[&Constituent],
    n: &Normalizer,
    config: &IntakeConfig,
    now: DateTime<Utc>,
) -> Option<Vec<String>> {
    if config.matching.on_ambiguous != OnAmbiguous::Create {
        return None;
    }
    let strict = IntakeConfig {
        matching: super::MatchConfig {
            on_ambiguous: OnAmbiguous::Ask,
            ..config.matching
        },
        ..config.clone()
    };
    let owned: Vec<Constituent> = candidates.iter().map(|c| (*c).clone()).collect();
    match intake::decide(visitor, &owned, n, &strict, "new", now).decision {
        intake::Decision::Ambiguous { candidates } => Some(candidates),
        _ => None,
    }
}

/// Why a score is held at the top threshold ([`ScoredCandidate::held_at`]).
///
/// [`ScoredCandidate::held_at`]: super::scored::ScoredCandidate::held_at
pub const HELD: &str = "held at the top threshold, as the names only resemble the record's \
                        (an automatic update would overwrite its name)";

fn band(score: u8, t: &ScoreThresholds) -> &'static str {
    if score > t.automatic_above {
        "above the automatic threshold"
    } else if score >= t.review_from {
        "in the review band"
    } else {
        "below the review threshold: not a match"
    }
}

fn summary(v: &Verdict, candidates: &[&Constituent], config: &IntakeConfig) -> String {
    let who = |id: &str| {
        candidates
            .iter()
            .find(|c| c.lookup_id == id)
            .map_or_else(|| id.to_owned(), |c| format!("{id} ({})", name_of(c)))
    };
    match v {
        Verdict::Matched { lookup_id, .. } => format!(
            "Matched: the visitor is {}. The kiosk uses this record and applies the update \
             rules to it.",
            who(lookup_id)
        ),
        Verdict::Ambiguous { candidates, asks } => {
            let list: Vec<String> = candidates.iter().map(|c| who(c)).collect();
            if *asks {
                format!(
                    "Ambiguous: {} records fit ({}). The kiosk picks none: it asks the visitor \
                     for one more detail.",
                    candidates.len(),
                    list.join(", ")
                )
            } else {
                format!(
                    "Ambiguous: {} records fit ({}). The kiosk makes a new record, and staff \
                     compare it with these at the hub.",
                    candidates.len(),
                    list.join(", ")
                )
            }
        }
        Verdict::Review { lookup_id, score } => {
            let (top, low) = match config.matching.mode {
                MatchMode::Scored(t) => (t.automatic_above, t.review_from),
                MatchMode::Strict => (95, 70),
            };
            format!(
                "Review: {} scores {score} of 100, between {low} and {top}. Staff confirm the \
                 match at the hub; the record is not changed until they do.",
                who(lookup_id)
            )
        }
        Verdict::New => {
            "New: no record fits. The kiosk makes a new record, sent to the CRM with the order."
                .to_owned()
        }
        Verdict::NotMatchable { why } => {
            format!("Not matched: {why}. The kiosk asks for it before going on.")
        }
    }
}

/// The report as staff read it.
pub fn render(r: &MatchReport) -> String {
    let mut out = String::new();
    match r.thresholds {
        None => out.push_str(
            "Strict matching: first and last name plus an email or a phone, equal after \
             normalisation.\n",
        ),
        Some(t) => {
            let _ = writeln!(
                out,
                "Scored matching: above {} the record is updated at once; from {} to {} staff \
                 review it; below {} a new record is made.",
                t.automatic_above, t.review_from, t.automatic_above, t.review_from
            );
        }
    }
    let _ = writeln!(out, "{}", r.summary);
    if r.candidates.is_empty() {
        out.push_str("No record shares the visitor's email, phone or name.\n");
        return out;
    }
    let _ = writeln!(out, "Records weighed ({}), best first:", r.candidates.len());
    let width = r
        .candidates
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for c in &r.candidates {
        let score = c.score.map(|s| format!("{s:>3}/100  ")).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<10} {:<width$}  {score}{}",
            c.lookup_id, c.name, c.verdict
        );
        for f in &c.fields {
            let _ = writeln!(
                out,
                "      {:<11} {:>+4} of {:<3} {}",
                f.field, f.points, f.max, f.why
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PersonName;
    use crate::matching::MatchConfig;

    use crate::domain::testing::person;

    fn visitor(first: &str, last: &str, email: &str, phone: &str) -> VisitorDetails {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        VisitorDetails {
            name: PersonName {
                title: None,
                first: first.into(),
                middle: None,
                last: last.into(),
                suffix: None,
            },
            email: some(email),
            phone: some(phone),
            ..VisitorDetails::default()
        }
    }

    fn config(mode: MatchMode, on_ambiguous: OnAmbiguous) -> IntakeConfig {
        IntakeConfig {
            matching: MatchConfig { mode, on_ambiguous },
            ..IntakeConfig::default()
        }
    }

    /// Each decision kind, as staff read it (the explanation's snapshot).
    #[test]
    fn each_decision_kind_is_explained_in_words_with_every_candidate() {
        let n = Normalizer::default();
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 7, 10, 0, 0).unwrap();
        let ana = person(
            "8-1001",
            "Ana",
            "López",
            "ana@riverside-mail.com",
            "+1 617 253 1000",
        );
        let ana_twin = person("8-1002", "Ana", "Lopez", "ana@riverside-mail.com", "");
        let anna = person(
            "8-1003",
            "Anna",
            "Lopes",
            "anna.l@riverside-mail.com",
            "+1 617 253 1999",
        );
        let scored = MatchMode::Scored(ScoreThresholds::default());
        let cases: Vec<(&str, VisitorDetails, Vec<Constituent>, IntakeConfig, &str)> = vec![
            (
                "strict: matched",
                visitor("Ana", "Lopez", "ANA@Riverside-Mail.com", ""),
                vec![anna.clone(), ana.clone()],
                config(MatchMode::Strict, OnAmbiguous::Ask),
                "Strict matching: first and last name plus an email or a phone, equal after normalisation.
Matched: the visitor is 8-1001 (Ana López). The kiosk uses this record and applies the update rules to it.
Records weighed (2), best first:
  8-1001     Ana López   name and email match
  8-1003     Anna Lopes  first name differs
",
            ),
            (
                "strict: ambiguous, the visitor is asked",
                visitor("Ana", "Lopez", "ana@riverside-mail.com", ""),
                vec![ana.clone(), ana_twin.clone()],
                config(MatchMode::Strict, OnAmbiguous::Ask),
                "Strict matching: first and last name plus an email or a phone, equal after normalisation.
Ambiguous: 2 records fit (8-1001 (Ana López), 8-1002 (Ana Lopez)). The kiosk picks none: it asks the visitor for one more detail.
Records weighed (2), best first:
  8-1001     Ana López  name and email match
  8-1002     Ana Lopez  name and email match
",
            ),
            (
                "strict: ambiguous, a new record for staff",
                visitor("Ana", "Lopez", "ana@riverside-mail.com", ""),
                vec![ana.clone(), ana_twin.clone()],
                config(MatchMode::Strict, OnAmbiguous::Create),
                "Strict matching: first and last name plus an email or a phone, equal after normalisation.
Ambiguous: 2 records fit (8-1001 (Ana López), 8-1002 (Ana Lopez)). The kiosk makes a new record, and staff compare it with these at the hub.
Records weighed (2), best first:
  8-1001     Ana López  name and email match
  8-1002     Ana Lopez  name and email match
",
            ),
            (
                "strict: new",
                visitor("Ana", "Lopez", "other@riverside-mail.com", ""),
                vec![ana.clone()],
                config(MatchMode::Strict, OnAmbiguous::Ask),
                "Strict matching: first and last name plus an email or a phone, equal after normalisation.
New: no record fits. The kiosk makes a new record, sent to the CRM with the order.
Records weighed (1), best first:
  8-1001     Ana López  name matches but no active email or phone does
",
            ),
            (
                "not matchable",
                visitor("", "Lopez", "ana@riverside-mail.com", ""),
                vec![],
                config(MatchMode::Strict, OnAmbiguous::Ask),
                "Strict matching: first and last name plus an email or a phone, equal after normalisation.
Not matched: no first name was given. The kiosk asks for it before going on.
No record shares the visitor's email, phone or name.
",
            ),
        ];
        for (what, v, candidates, cfg, want) in cases {
            let r = report(&v, &candidates, &n, &cfg, now);
            assert_eq!(render(&r), want, "{what}");
        }

        // Scored: the same person by phone only is in the review band; with the email too,
        // above the automatic threshold. Each field's part is shown.
        let scored_cases = [
            (
                "scored: review",
                visitor("Ana", "Lopez", "", "(617) 253-1000"),
                "Scored matching: above 95 the record is updated at once; from 70 to 95 staff review it; below 70 a new record is made.
Review: 8-1001 (Ana López) scores 75 of 100, between 70 and 95. Staff confirm the match at the hub; the record is not changed until they do.
Records weighed (2), best first:
  8-1001     Ana López    75/100  in the review band
      first name   +20 of 20  equal
      last name    +25 of 25  equal
      email         +0 of 35  missing on one side: no evidence either way
      phone        +30 of 30  equal to an active entry
      address       +0 of 25  missing on one side: no evidence either way
      birth date    +0 of 30  missing on one side: no evidence either way
  8-1003     Anna Lopes   20/100  below the review threshold: not a match
      first name    +8 of 20  93% similar
      last name    +12 of 25  92% similar
      email         +0 of 35  missing on one side: no evidence either way
      phone         +0 of 30  different
      address       +0 of 25  missing on one side: no evidence either way
      birth date    +0 of 30  missing on one side: no evidence either way
",
            ),
            (
                "scored: matched",
                visitor("Ana", "Lopez", "ana@riverside-mail.com", "(617) 253-1000"),
                "Scored matching: above 95 the record is updated at once; from 70 to 95 staff review it; below 70 a new record is made.
Matched: the visitor is 8-1001 (Ana López). The kiosk uses this record and applies the update rules to it.
Records weighed (2), best first:
  8-1001     Ana López   100/100  above the automatic threshold
      first name   +20 of 20  equal
      last name    +25 of 25  equal
      email        +35 of 35  equal to an active entry
      phone        +30 of 30  equal to an active entry
      address       +0 of 25  missing on one side: no evidence either way
      birth date    +0 of 30  missing on one side: no evidence either way
  8-1003     Anna Lopes   20/100  below the review threshold: not a match
      first name    +8 of 20  93% similar
      last name    +12 of 25  92% similar
      email         +0 of 35  different
      phone         +0 of 30  different
      address       +0 of 25  missing on one side: no evidence either way
      birth date    +0 of 30  missing on one side: no evidence either way
",
            ),
        ];
        let mut last = None;
        for (what, v, want) in scored_cases {
            let r = report(
                &v,
                &[ana.clone(), anna.clone()],
                &n,
                &config(scored, OnAmbiguous::Ask),
                now,
            );
            assert_eq!(render(&r), want, "{what}");
            last = Some(r);
        }
        let r = last.unwrap();
        // The JSON for tools names the decision.
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["decision"], "matched");
        assert_eq!(json["mode"], "scored");
        assert!(
            json["candidates"][0]["fields"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        );
    }
}
