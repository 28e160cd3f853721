//! Properties of matching over generated visitors and candidates.

use crate::common::*;
use portico::domain::{Constituent, ConstituentStatus};
use portico::matching::blocking::{constituent_keys, visitor_keys};
use portico::matching::{
    MatchOutcome, ScoreThresholds, ScoredOutcome, VisitorDetails, score_candidate, scored_match,
    strict_match,
};
use portico::normalize::Normalizer;
use proptest::prelude::*;

const FIRSTS: &[&str] = &["Jane", "JANE", "Zoë", "Zoe", "John"];
const LASTS: &[&str] = &["Doe", "O'Brien", "OBrien", "Smith"];
const EMAILS: &[&str] = &["a@x.test", "A@X.test", "b@x.test", "noemail@x.test", "junk"];
const PHONES: &[&str] = &["555 123 4567", "+1 (555) 123-4567", "555 987 6543", "12"];

fn arb_visitor() -> impl Strategy<Value = VisitorDetails> {
    (
        prop::sample::select(FIRSTS),
        prop::sample::select(LASTS),
        prop::option::of(prop::sample::select(EMAILS)),
        prop::option::of(prop::sample::select(PHONES)),
    )
        .prop_map(|(f, l, e, p)| visitor(f, l, e, p))
}

fn arb_candidate(id: usize) -> impl Strategy<Value = Constituent> {
    (
        prop::sample::select(FIRSTS),
        prop::sample::select(LASTS),
        prop::collection::vec(
            (prop::sample::select(EMAILS), any::<bool>(), any::<bool>()),
            0..3,
        ),
        prop::collection::vec(
            (prop::sample::select(PHONES), any::<bool>(), any::<bool>()),
            0..3,
        ),
        prop::sample::select(vec![
            ConstituentStatus::Active,
            ConstituentStatus::Inactive,
            ConstituentStatus::Deceased,
            ConstituentStatus::Merged,
        ]),
    )
        .prop_map(move |(f, l, emails, phones, status)| {
            let mut c = person(&format!("8-{id}"), f, l);
            c.status = status;
            c.emails = emails
                .into_iter()
                .map(|(e, primary, active)| email(e, "Email", primary, active))
                .collect();
            c.phones = phones
                .into_iter()
                .map(|(p, primary, active)| phone(p, "Home", primary, active))
                .collect();
            c
        })
}

fn arb_candidates() -> impl Strategy<Value = Vec<Constituent>> {
    (
        arb_candidate(1),
        arb_candidate(2),
        arb_candidate(3),
        1usize..=3,
    )
        .prop_map(|(a, b, c, n)| vec![a, b, c].into_iter().take(n).collect())
}

/// Changes to fields the strict rule does not look at.
#[derive(Debug, Clone)]
struct Noise {
    middle: Option<&'static str>,
    title: Option<&'static str>,
    birth: bool,
    address: bool,
    status: ConstituentStatus,
    flip_primary: bool,
    kind: &'static str,
}

fn arb_noise() -> impl Strategy<Value = Noise> {
    (
        prop::option::of(prop::sample::select(vec!["Q", "Alice", "Marie-Thérèse"])),
        prop::option::of(prop::sample::select(vec!["Dr", "Ms"])),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![
            ConstituentStatus::Active,
            ConstituentStatus::Inactive,
            ConstituentStatus::Deceased,
        ]),
        any::<bool>(),
        prop::sample::select(vec!["Home", "Work", "Mobile"]),
    )
        .prop_map(
            |(middle, title, birth, address, status, flip_primary, kind)| Noise {
                middle,
                title,
                birth,
                address,
                status,
                flip_primary,
                kind,
            },
        )
}

fn add_noise(c: &Constituent, noise: &Noise) -> Constituent {
    let mut c = c.clone();
    c.name.middle = noise.middle.map(str::to_owned);
    c.name.title = noise.title.map(str::to_owned);
    c.birth_date = noise.birth.then(|| date(1970, 1, 1));
    c.addresses = if noise.address {
        vec![address("1 Elm St", "02134", "Home", true, true)]
    } else {
        Vec::new()
    };
    if c.status != ConstituentStatus::Merged {
        c.status = noise.status;
    }
    for e in &mut c.emails {
        e.meta.kind = noise.kind.to_owned();
        if noise.flip_primary {
            e.meta.primary = !e.meta.primary;
        }
    }
    for p in &mut c.phones {
        p.meta.kind = noise.kind.to_owned();
        if noise.flip_primary {
            p.meta.primary = !p.meta.primary;
        }
    }
    c
}

fn reference_strict(v: &VisitorDetails, c: &Constituent, n: &Normalizer) -> bool {
    if c.status == ConstituentStatus::Merged {
        return false;
    }
    let names = n.name_key(&v.name.first) == n.name_key(&c.name.first)
        && n.name_key(&v.name.last) == n.name_key(&c.name.last)
        && !n.name_key(&v.name.first).is_empty();
    let e = v.email.as_deref().and_then(|e| n.email(e));
    let p = v.phone.as_deref().and_then(|p| n.phone(p));
    let email = e.is_some()
        && c.emails
            .iter()
            .any(|x| x.meta.active && n.email(&x.address) == e);
    let phone = p.is_some()
        && c.phones
            .iter()
            .any(|x| x.meta.active && n.phone(&x.number) == p);
    names && (email || phone)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Addresses, birth date, middle name, title, contact types and primary flags, and the
    /// status of non-merged candidates do not change the strict outcome.
    #[test]
    fn strict_outcome_ignores_irrelevant_fields(
        v in arb_visitor(),
        cands in arb_candidates(),
        noise in prop::collection::vec(arb_noise(), 3),
        visitor_noise in arb_noise(),
    ) {
        let n = Normalizer::default();
        let before = strict_match(&v, &cands, &n);
        let noisy: Vec<Constituent> = cands.iter().zip(&noise).map(|(c, z)| add_noise(c, z)).collect();
        let mut noisy_visitor = v.clone();
        noisy_visitor.name.middle = visitor_noise.middle.map(str::to_owned);
        noisy_visitor.birth_date = visitor_noise.birth.then(|| date(1999, 9, 9));
        noisy_visitor.address = visitor_noise.address.then(|| postal("9 Oak Rd", "99999"));
        prop_assert_eq!(strict_match(&noisy_visitor, &noisy, &n), before);
    }

    /// The strict outcome agrees with a direct reading of the rule, and adding candidates that
    /// do not match never changes it.
    #[test]
    fn strict_outcome_follows_the_rule(v in arb_visitor(), cands in arb_candidates()) {
        let n = Normalizer::default();
        let matching: Vec<&str> = cands
            .iter()
            .filter(|c| reference_strict(&v, c, &n))
            .map(|c| c.lookup_id.as_str())
            .collect();
        let outcome = strict_match(&v, &cands, &n);
        match matching.len() {
            0 => prop_assert_eq!(&outcome, &MatchOutcome::NoMatch),
            1 => prop_assert!(matches!(&outcome, MatchOutcome::Matched(h) if h.lookup_id == matching[0])),
            _ => prop_assert!(matches!(&outcome, MatchOutcome::Ambiguous(h) if h.len() == matching.len())),
        }
        let mut more = cands.clone();
        let mut stranger = person("8-99", "Nobody", "Else");
        stranger.emails = vec![email("a@x.test", "Email", true, true)];
        more.push(stranger);
        prop_assert_eq!(strict_match(&v, &more, &n), outcome);
    }

    /// Every strict match shares a strict blocking key with the visitor, so probing those keys
    /// finds it.
    #[test]
    fn strict_matches_are_found_by_blocking(v in arb_visitor(), c in arb_candidate(1)) {
        let n = Normalizer::default();
        if let MatchOutcome::Matched(_) = strict_match(&v, std::slice::from_ref(&c), &n) {
            let theirs = constituent_keys(&c, &n);
            prop_assert!(visitor_keys(&v, &n).iter().any(|k| k.is_strict() && theirs.contains(k)));
        }
    }

    /// Scores stay within 0..=100 and the bands follow the score.
    #[test]
    fn scores_are_bounded_and_banded(v in arb_visitor(), cands in arb_candidates()) {
        let n = Normalizer::default();
        let t = ScoreThresholds::default();
        let best = cands
            .iter()
            .filter(|c| c.status != ConstituentStatus::Merged)
            .map(|c| score_candidate(&v, c, &n, &t).score)
            .max();
        for c in &cands {
            let s = score_candidate(&v, c, &n, &t);
            prop_assert!(s.score <= 100);
            let sum: i32 = s.fields.iter().map(|f| f.points).sum();
            prop_assert_eq!(i32::from(s.score), sum.clamp(0, 100));
        }
        match scored_match(&v, &cands, &n, &t) {
            ScoredOutcome::Automatic(b) => prop_assert!(b.score > t.automatic_above && Some(b.score) == best),
            ScoredOutcome::Review { best: b, .. } => prop_assert!(b.score >= t.review_from && Some(b.score) == best),
            ScoredOutcome::NoMatch => prop_assert!(best.is_none_or(|b| b < t.review_from)),
        }
    }

    /// A strict match is at least a review candidate in scored mode.
    #[test]
    fn strict_matches_reach_review_when_scored(v in arb_visitor(), c in arb_candidate(1)) {
        let n = Normalizer::default();
        if let MatchOutcome::Matched(_) = strict_match(&v, std::slice::from_ref(&c), &n) {
            prop_assert!(score_candidate(&v, &c, &n, &ScoreThresholds::default()).score >= 70);
        }
    }
}
