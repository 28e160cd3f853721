//! In-memory benchmark of the matching core: synthetic constituents, a blocking index in a
//! `HashMap`, and the latency of strict and scored matching over random visitor queries.
//!
//! Deterministic for a given `(n, seed)` apart from the timings. The replica-backed benchmark
//! measures the same path with storage in the loop.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::domain::{
    Address, Constituent, ConstituentStatus, ContactMeta, Email, PersonName, Phone,
};
use crate::matching::blocking::{constituent_keys, visitor_keys};
use crate::matching::{
    MatchOutcome, PostalAddress, ScoreThresholds, ScoredOutcome, VisitorDetails, scored,
    strict_match_refs,
};
use crate::normalize::Normalizer;

/// Number of visitor queries [`run`] times.
pub const QUERIES: usize = 10_000;

/// SplitMix64: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const FIRST: &[&str] = &[
    "Michael",
    "William",
    "Robert",
    "Elizabeth",
    "James",
    "John",
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "David",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Nancy",
    "Daniel",
    "Matthew",
    "Anthony",
    "Margaret",
    "Andrew",
    "Zoë",
    "José",
    "Renée",
    "Søren",
    "Siobhán",
    "Chloé",
    "François",
    "Jürgen",
    "Aoife",
    "Liam",
    "Olivia",
    "Emma",
    "Noah",
    "Ava",
    "Sophia",
    "Isabella",
    "Mia",
    "Amelia",
    "Harper",
    "Evelyn",
    "Benjamin",
    "Samuel",
    "Henry",
    "Alexander",
    "Victoria",
    "Rebecca",
    "Katherine",
    "Christopher",
    "Nicholas",
];

/// Surnames: the hub's synthetic data uses the same list.
use crate::hub::seed::LAST;

const NICK: &[(&str, &str)] = &[
    ("Michael", "Mike"),
    ("William", "Bill"),
    ("Robert", "Bob"),
    ("Elizabeth", "Liz"),
    ("James", "Jim"),
    ("Richard", "Rick"),
    ("Joseph", "Joe"),
    ("Thomas", "Tom"),
    ("Daniel", "Dan"),
    ("Katherine", "Kate"),
];

/// Syllables for the long tail of surnames beyond the common ones.
const SYLLABLES: &[&str] = &[
    "ab", "bel", "car", "dor", "en", "fal", "gar", "hol", "ir", "jen", "kas", "lin", "mor", "nov",
    "os", "pet", "quin", "ros", "sten", "tor", "ul", "ver", "wick", "yar", "zel",
];

/// A surname: common ones for a third of people, a long tail for the rest, as in real data.
fn surname(rng: &mut Rng) -> String {
    if rng.chance(33) {
        return rng.pick(LAST).to_owned();
    }
    let mut s: String = (0..2 + rng.below(2)).map(|_| rng.pick(SYLLABLES)).collect();
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

const DOMAINS: &[&str] = &["example.net", "mail.test", "museum.test", "zoo.test"];
const STREETS: &[&str] = &[
    "High", "Main", "Oak", "Maple", "Church", "Park", "Elm", "Mill",
];

fn meta(kind: &str, primary: bool, active: bool) -> ContactMeta {
    ContactMeta {
        kind: kind.to_owned(),
        primary,
        active,
        start: None,
        end: None,
    }
}

fn phone_digits(rng: &mut Rng) -> String {
    format!(
        "{}{:02}{:07}",
        2 + rng.below(8),
        rng.below(100),
        rng.below(10_000_000)
    )
}

fn constituent(i: usize, rng: &mut Rng) -> Constituent {
    let first = rng.pick(FIRST);
    let last = surname(rng);
    let local: String = format!("{first}.{last}")
        .chars()
        .filter(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_lowercase();
    let mut emails = vec![Email {
        address: format!("{local}{i}@{}", rng.pick(DOMAINS)),
        meta: meta("Email", true, true),
    }];
    if rng.chance(20) {
        emails.push(Email {
            address: format!("{local}.old{i}@{}", rng.pick(DOMAINS)),
            meta: meta("Email", false, false),
        });
    }
    let mut phones = vec![Phone {
        number: phone_digits(rng),
        meta: meta("Home", true, true),
    }];
    if rng.chance(30) {
        phones.push(Phone {
            number: phone_digits(rng),
            meta: meta("Mobile", false, true),
        });
    }
    let addresses = vec![Address {
        line1: format!("{} {} Street", 1 + rng.below(999), rng.pick(STREETS)),
        line2: None,
        city: "Springfield".to_owned(),
        region: Some("IL".to_owned()),
        postcode: Some(format!("{:05}", rng.below(100_000))),
        country: "US".to_owned(),
        meta: meta("Home", true, true),
    }];
    let birth_date = rng.chance(60).then(|| {
        NaiveDate::from_ymd_opt(1940 + rng.below(65) as i32, 1 + rng.below(12) as u32, 1)
            .unwrap_or_default()
    });
    Constituent {
        lookup_id: format!("8-{:08}", 10_000_000 + i),
        name: PersonName {
            first: first.to_owned(),
            last,
            ..PersonName::default()
        },
        birth_date,
        status: if rng.chance(2) {
            ConstituentStatus::Merged
        } else {
            ConstituentStatus::Active
        },
        historical_names: Vec::new(),
        emails,
        phones,
        addresses,
    }
}

/// National-format variants of a US number the way visitors type them.
fn reformat_phone(digits: &str, rng: &mut Rng) -> String {
    let (a, b, c) = (&digits[..3], &digits[3..6], &digits[6..]);
    match rng.below(4) {
        0 => format!("({a}) {b}-{c}"),
        1 => format!("{a}.{b}.{c}"),
        2 => format!("+1 {a} {b} {c}"),
        _ => format!("1-{a}-{b}-{c} x12"),
    }
}

fn query(people: &[Constituent], rng: &mut Rng) -> VisitorDetails {
    let roll = rng.below(100);
    if roll < 25 {
        let first = rng.pick(FIRST);
        let last = surname(rng);
        return VisitorDetails {
            name: PersonName {
                first: first.to_owned(),
                last,
                ..PersonName::default()
            },
            email: Some(format!(
                "visitor{}@{}",
                rng.next() % 1_000_000,
                rng.pick(DOMAINS)
            )),
            phone: Some(phone_digits(rng)),
            address: None,
            birth_date: None,
        };
    }
    let c = &people[rng.below(people.len())];
    let mut first = c.name.first.clone();
    if roll < 40
        && let Some((_, nick)) = NICK.iter().find(|(formal, _)| *formal == first)
    {
        first = (*nick).to_owned();
    }
    let email = (roll < 85).then(|| c.emails[0].address.to_uppercase());
    let phone = (roll >= 60).then(|| reformat_phone(&c.phones[0].number, rng));
    let address = roll.is_multiple_of(3).then(|| PostalAddress {
        line1: c.addresses[0].line1.replace("Street", "St."),
        postcode: c.addresses[0].postcode.clone(),
        country: "US".to_owned(),
        ..PostalAddress::default()
    });
    VisitorDetails {
        name: PersonName {
            first,
            last: c.name.last.to_uppercase(),
            ..PersonName::default()
        },
        email,
        phone,
        address,
        birth_date: c.birth_date.filter(|_| roll.is_multiple_of(2)),
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentiles(mut samples: Vec<Duration>) -> Value {
    samples.sort_unstable();
    let at = |p: f64| {
        let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
        micros(samples[i])
    };
    let mean = samples.iter().map(|d| micros(*d)).sum::<f64>() / samples.len() as f64;
    json!({ "p50_us": at(0.50), "p99_us": at(0.99), "mean_us": mean, "max_us": at(1.0) })
}

fn candidates<'a>(
    index: &HashMap<String, Vec<u32>>,
    people: &'a [Constituent],
    keys: impl Iterator<Item = String>,
) -> Vec<&'a Constituent> {
    let mut ids: Vec<u32> = keys
        .filter_map(|k| index.get(&k))
        .flatten()
        .copied()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter().map(|i| &people[i as usize]).collect()
}

/// Builds `n` synthetic constituents from `seed`, indexes them by blocking key, and times
/// strict and scored matching (blocking included) over [`QUERIES`] visitor queries.
pub fn run(n: usize, seed: u64) -> Value {
    run_queries(n, seed, QUERIES)
}

/// [`run`] with a chosen number of queries.
pub fn run_queries(n: usize, seed: u64, queries: usize) -> Value {
    let norm = Normalizer::default();
    let mut rng = Rng(seed);
    let started = Instant::now();
    let people: Vec<Constituent> = (0..n.max(1)).map(|i| constituent(i, &mut rng)).collect();
    let built = started.elapsed();

    let started = Instant::now();
    let mut index: HashMap<String, Vec<u32>> = HashMap::new();
    for (i, c) in people.iter().enumerate() {
        for key in constituent_keys(c, &norm) {
            index.entry(key.index_key()).or_default().push(i as u32);
        }
    }
    let indexed = started.elapsed();

    let visitors: Vec<VisitorDetails> = (0..queries).map(|_| query(&people, &mut rng)).collect();
    let thresholds = ScoreThresholds::default();

    let (mut matched, mut ambiguous, mut no_match) = (0u64, 0u64, 0u64);
    let mut strict_times = Vec::with_capacity(queries);
    let mut strict_candidates = 0usize;
    for v in &visitors {
        let t = Instant::now();
        let keys = visitor_keys(v, &norm);
        let found = candidates(
            &index,
            &people,
            keys.iter().filter(|k| k.is_strict()).map(|k| k.index_key()),
        );
        let outcome = strict_match_refs(v, &found, &norm);
        strict_times.push(t.elapsed());
        strict_candidates += found.len();
        match outcome {
            MatchOutcome::Matched(_) => matched += 1,
            MatchOutcome::Ambiguous(_) => ambiguous += 1,
            MatchOutcome::NoMatch => no_match += 1,
        }
    }

    let (mut automatic, mut review, mut scored_none) = (0u64, 0u64, 0u64);
    let mut scored_times = Vec::with_capacity(queries);
    let mut scored_candidates = 0usize;
    for v in &visitors {
        let t = Instant::now();
        let keys = visitor_keys(v, &norm);
        let found = candidates(&index, &people, keys.iter().map(|k| k.index_key()));
        let outcome = scored::scored_match_refs(v, &found, &norm, &thresholds);
        scored_times.push(t.elapsed());
        scored_candidates += found.len();
        match outcome {
            ScoredOutcome::Automatic(_) => automatic += 1,
            ScoredOutcome::Review { .. } => review += 1,
            ScoredOutcome::NoMatch => scored_none += 1,
        }
    }

    let q = queries.max(1) as f64;
    json!({
        "constituents": people.len(),
        "seed": seed,
        "queries": queries,
        "build_ms": built.as_secs_f64() * 1e3,
        "index_ms": indexed.as_secs_f64() * 1e3,
        "index_keys": index.len(),
        "strict": {
            "latency": if queries > 0 { percentiles(strict_times) } else { Value::Null },
            "mean_candidates": strict_candidates as f64 / q,
            "matched": matched,
            "ambiguous": ambiguous,
            "no_match": no_match,
        },
        "scored": {
            "latency": if queries > 0 { percentiles(scored_times) } else { Value::Null },
            "mean_candidates": scored_candidates as f64 / q,
            "automatic": automatic,
            "review": review,
            "no_match": scored_none,
        },
    })
}
