//! `portico bench match`: constituent matching and staff search against a real replica of a
//! million constituents, the way a kiosk runs them: blocking keys probed in SQLite, candidates
//! loaded with their contacts, then the pure strict or scored rule.
//!
//! The replica is built by seeding a hub store in-process and applying its feed pages with the
//! device's own `Applier` (no network: the sync benchmark measures that), or taken as given
//! with `--replica`. Visitors are drawn from the replica with a fixed seed, a quarter of each
//! kind: exact name with email and phone written differently (strict hit, scored automatic),
//! exact name with phone only (strict hit, scored review), a nickname or misspelt first name
//! with the email, the birth date and the home address as staff would type them at the desk
//! (strict no-match; scored: every name key probed, the misspelt-name ones too), and a known
//! name with a new email (no match).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::domain::Constituent;
use crate::hub::{HubStore, seed};
use crate::matching::blocking::visitor_keys;
use crate::matching::scored::{
    NamePrune, ScoreThresholds, ScoredOutcome, probe_keys, scored_match_refs,
};
use crate::matching::{MatchOutcome, VisitorDetails, strict_match_refs};
use crate::normalize::Normalizer;
use crate::protocol::{Change, ConstituentDto, MembershipDto, MergeDto, Resource};
use crate::replica::search::{SearchQuery, candidates, search};

/// Candidates loaded per visitor, as the kiosk's intake does.
pub const CANDIDATE_LIMIT: usize = 50;
/// Rows per staff search page.
pub const SEARCH_PAGE: usize = 20;

pub struct MatchBenchOptions {
    pub constituents: usize,
    pub queries: usize,
    /// An existing device database to measure instead of building one.
    pub replica: Option<PathBuf>,
    pub dir: Option<PathBuf>,
}

/// Seeds a hub store and applies its constituents, memberships and merges feeds to a fresh
/// replica at `db`. Returns the seconds it took.
fn build_replica(dir: &Path, db: &Path, constituents: usize) -> Result<f64> {
    let started = Instant::now();
    let store = HubStore::open(&dir.join("hub.db"))?;
    let mut spec = seed::SeedSpec::new(constituents, 42, chrono::Utc::now().date_naive());
    spec.tickets = Some(0);
    seed::seed(&store, &spec)?;
    apply_feeds(&store, db)?;
    Ok(started.elapsed().as_secs_f64())
}

/// Applies `store`'s constituents, memberships and merges feeds to a fresh replica at `db` with
/// the device's own `Applier`, as a sync would (without the network).
pub(crate) fn apply_feeds(store: &HubStore, db: &Path) -> Result<()> {
    let mut conn = crate::replica::open(db)?;
    let applier = crate::replica::Applier::new(Normalizer::default());
    for resource in [
        Resource::Constituents,
        Resource::Memberships,
        Resource::Merges,
    ] {
        let mut after = 0;
        loop {
            let page = store.feed_page(resource, after, 10_000)?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            macro_rules! apply {
                ($dto:ty, $f:ident) => {{
                    let changes = page
                        .entries
                        .iter()
                        .map(|e| {
                            Ok(match &e.doc {
                                Some(doc) => Change::Upsert {
                                    key: e.key.clone(),
                                    data: serde_json::from_str::<$dto>(doc)?,
                                    changed: None,
                                },
                                None => Change::Delete { key: e.key.clone() },
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    applier.$f(&tx, &changes)?;
                }};
            }
            match resource {
                Resource::Constituents => apply!(ConstituentDto, constituents),
                Resource::Memberships => apply!(MembershipDto, memberships),
                _ => apply!(MergeDto, merges),
            }
            tx.commit()?;
            match page.last_seq {
                Some(seq) if page.has_more => after = seq,
                _ => break,
            }
        }
    }
    crate::replica::checkpoint(&conn, "TRUNCATE")?;
    Ok(())
}

fn percentiles(mut samples: Vec<Duration>) -> Value {
    if samples.is_empty() {
        return Value::Null;
    }
    samples.sort_unstable();
    let at = |p: f64| {
        let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples[i].as_secs_f64() * 1e3
    };
    json!({ "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": at(1.0) })
}

fn international(national: &str) -> String {
    let digits: String = national.chars().filter(char::is_ascii_digit).collect();
    format!("+1 {digits}")
}

/// A visitor made from a replica record, of one of four kinds.
fn visitor(c: &Constituent, kind: usize, rng: &mut ChaCha8Rng) -> VisitorDetails {
    let mut v = VisitorDetails {
        name: c.name.clone(),
        ..Default::default()
    };
    let email = c.emails.iter().find(|e| e.meta.active).map(|e| &e.address);
    let phone = c.phones.iter().find(|p| p.meta.active).map(|p| &p.number);
    match kind {
        // The same person, email typed in capitals with stray spaces and phone in
        // international form.
        0 => {
            v.email = email.map(|e| format!("  {}  ", e.to_uppercase()));
            v.phone = phone.map(|p| international(p));
        }
        // The same person, phone only.
        1 => v.phone = phone.map(|p| international(p)),
        // A nickname or a slip in the first name, with the right email, birth date and address.
        2 => {
            let first = &c.name.first;
            v.name.first = match first.as_str() {
                "Michael" => "Mike".into(),
                "William" => "Bill".into(),
                "Robert" => "Bob".into(),
                "Elizabeth" => "Liz".into(),
                "James" => "Jim".into(),
                _ if first.chars().count() > 3 => {
                    let cut = rng.random_range(1..first.chars().count() - 1);
                    first
                        .chars()
                        .enumerate()
                        .filter(|(i, _)| *i != cut)
                        .map(|(_, ch)| ch)
                        .collect()
                }
                _ => first.clone(),
            };
            v.email = email.cloned();
            v.birth_date = c.birth_date;
            v.address = c.addresses.first().map(|a| crate::matching::PostalAddress {
                line1: a.line1.clone(),
                line2: a.line2.clone(),
                city: a.city.clone(),
                region: a.region.clone(),
                postcode: a.postcode.clone(),
                country: a.country.clone(),
            });
        }
        // A known name with an address the CRM has never seen.
        _ => v.email = Some(format!("visitor{}@example.net", rng.random::<u32>())),
    }
    v
}

pub fn run(opts: MatchBenchOptions) -> Result<Value> {
    let (dir, _tmp) = super::work_dir(opts.dir.as_deref(), "match")?;
    let (db, built) = match &opts.replica {
        Some(path) => (path.clone(), None),
        None => {
            let db = dir.join("replica.db");
            let _ = std::fs::remove_file(&db);
            eprintln!("building a replica of {} constituents…", opts.constituents);
            let secs = build_replica(&dir, &db, opts.constituents)?;
            eprintln!("built in {secs:.1}s");
            (db, Some(secs))
        }
    };
    let conn = crate::replica::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let n = Normalizer::default();
    let max_id: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM constituents", [], |r| {
        r.get(0)
    })?;
    let population: i64 = conn.query_row("SELECT count(*) FROM constituents", [], |r| r.get(0))?;
    anyhow::ensure!(max_id > 0, "the replica holds no constituents");

    // Visitors drawn from random replica records.
    let mut rng = ChaCha8Rng::seed_from_u64(0xC0FFEE);
    let mut visitors = Vec::with_capacity(opts.queries);
    let mut surnames = Vec::with_capacity(opts.queries);
    while visitors.len() < opts.queries {
        let id = rng.random_range(1..=max_id);
        let lookup: Option<String> = conn
            .query_row(
                "SELECT lookup_id FROM constituents WHERE id = ?1 AND status != 'merged'",
                [id],
                |r| r.get(0),
            )
            .ok();
        let Some(c) = lookup.and_then(|l| crate::replica::constituent(&conn, &l).ok().flatten())
        else {
            continue;
        };
        let kind = visitors.len() % 4;
        surnames.push((c.name.last.clone(), c.name.first.clone()));
        visitors.push((kind, visitor(&c, kind, &mut rng)));
    }

    let thresholds = ScoreThresholds::default();
    let (mut strict_times, mut scored_times, mut search_times) = (
        Vec::with_capacity(visitors.len()),
        Vec::with_capacity(visitors.len()),
        Vec::with_capacity(visitors.len()),
    );
    let mut strict_outcomes = [0u64; 3];
    let mut scored_outcomes = [0u64; 3];
    let (mut strict_candidates, mut scored_candidates, mut search_hits) = (0usize, 0usize, 0usize);
    for (_, v) in &visitors {
        let t = Instant::now();
        let mut keys = visitor_keys(v, &n);
        keys.retain(|k| k.is_strict());
        let found = candidates(&conn, &keys, None, CANDIDATE_LIMIT)?;
        let refs: Vec<&Constituent> = found.iter().collect();
        let outcome = strict_match_refs(v, &refs, &n);
        strict_times.push(t.elapsed());
        strict_candidates += found.len();
        strict_outcomes[match outcome {
            MatchOutcome::Matched(_) => 0,
            MatchOutcome::Ambiguous(_) => 1,
            MatchOutcome::NoMatch => 2,
        }] += 1;

        let t = Instant::now();
        let keys = probe_keys(v, &n, &thresholds);
        let prune = NamePrune::new(v, &n, &thresholds);
        let found = candidates(&conn, &keys, Some(&prune), CANDIDATE_LIMIT)?;
        let refs: Vec<&Constituent> = found.iter().collect();
        let outcome = scored_match_refs(v, &refs, &n, &thresholds);
        scored_times.push(t.elapsed());
        scored_candidates += found.len();
        scored_outcomes[match outcome {
            ScoredOutcome::Automatic(_) => 0,
            ScoredOutcome::Review { .. } => 1,
            ScoredOutcome::NoMatch => 2,
        }] += 1;
    }
    // Staff search: a last-name prefix (with a first initial every other time), and every
    // fourth query a first-name prefix alone.
    for (i, (last, first)) in surnames.iter().enumerate() {
        let prefix = |s: &str, k: usize| s.chars().take(k).collect::<String>();
        let q = match i % 4 {
            3 => SearchQuery {
                first: Some(prefix(first, 4)),
                ..Default::default()
            },
            k => SearchQuery {
                last: Some(prefix(last, 3)),
                first: (k % 2 == 1).then(|| prefix(first, 1)),
                ..Default::default()
            },
        };
        let t = Instant::now();
        let page = search(&conn, &n, &q, SEARCH_PAGE, None)?;
        search_times.push(t.elapsed());
        search_hits += page.hits.len();
    }

    let q = visitors.len().max(1) as f64;
    let p99 = |v: &Value| v["p99_ms"].as_f64().unwrap_or(f64::INFINITY);
    let (strict, scored, searched) = (
        percentiles(strict_times),
        percentiles(scored_times),
        percentiles(search_times),
    );
    Ok(json!({
        "benchmark": "match",
        "replica_constituents": population,
        "replica_built_seconds": built,
        "queries": visitors.len(),
        "candidate_limit": CANDIDATE_LIMIT,
        "strict": {
            "latency": strict,
            "mean_candidates": strict_candidates as f64 / q,
            "matched": strict_outcomes[0],
            "ambiguous": strict_outcomes[1],
            "no_match": strict_outcomes[2],
        },
        "scored": {
            "latency": scored,
            "mean_candidates": scored_candidates as f64 / q,
            "automatic": scored_outcomes[0],
            "review": scored_outcomes[1],
            "no_match": scored_outcomes[2],
        },
        "name_search": {
            "latency": searched,
            "page_size": SEARCH_PAGE,
            "mean_hits": search_hits as f64 / q,
        },
        "targets": { "strict_p99_ms_max": 0.3, "scored_p99_ms_max": 3.0, "name_search_p99_ms_max": 5.0 },
        "pass": {
            "strict": p99(&strict) <= 0.3,
            "scored": p99(&scored) <= 3.0,
            "name_search": p99(&searched) <= 5.0,
        },
    }))
}
