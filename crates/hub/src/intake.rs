//! Constituent intake on the hub: what happens to the `new_constituent` and `visitor_update`
//! rows devices upload.
//!
//! * **`new_constituent`**: the hub first matches the visitor against its own records with the
//!   strict rule, "name and email match OR name and phone match" (seeds 000/001), so a visitor
//!   created offline at two devices, or already known to the CRM, does not become two records.
//!   One match: the hub answers with that record's Lookup ID (and applies the update rules to
//!   it, as for any matched incoming record). No match: it creates the record under a new
//!   Lookup ID (`8-` and eight digits, as the CRM's), published on the constituents feed.
//!   Several matches: never a silent pick; the record is created and the possible duplicate is
//!   queued for staff.
//! * **`visitor_update`**: the hub judges the match again against its own record and applies
//!   the CRM's update rules (seed 003) when it qualifies for automatic updates; "If matching
//!   constituents qualify for manual review (their match confidence score falls in the middle
//!   range)", the visitor's details go to the review queue instead, visible to staff.
//!
//! Matching keys (the blocking keys of every constituent: normalised emails and phones, names,
//! postcodes, with the default normaliser) are kept in `match_keys`, brought up to date from the
//! constituents feed's sequence before each use, so seeding and feed writes pay nothing for it.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::store::{Result, Seq, put};
use portico_core::domain::{Constituent, ConstituentStatus};
use portico_core::intake::{
    MAX_FIELD_CHARS, MatchModeName, NewConstituentV1, VisitorUpdateV1, new_record, oversized_field,
};
use portico_core::matching::blocking::{BlockingKey, constituent_keys, visitor_keys};
use portico_core::matching::scored::{NamePrune, probe_keys};
use portico_core::matching::{
    MatchMode, MatchOutcome, VisitorDetails, score_candidate, strict_match,
};
use portico_core::normalize::Normalizer;
use portico_core::protocol::{ConstituentDto, MergeDto, Resource, ReviewItemDto, UploadRow};
use portico_core::update_rules::{
    Change, IncomingDetails, UpdateMode, UpdateSource, VisitorContactTypes,
    apply_update_rules_with, rules_apply,
};

/// Tables of hub-side intake.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS intake_created (
    idempotency_key TEXT PRIMARY KEY,
    device_id       TEXT NOT NULL,
    local_id        TEXT,
    lookup_id       TEXT NOT NULL,
    created         INTEGER NOT NULL,
    at              TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS intake_created_local ON intake_created(device_id, local_id);
CREATE TABLE IF NOT EXISTS match_keys (
    key       TEXT NOT NULL,
    lookup_id TEXT NOT NULL,
    PRIMARY KEY (key, lookup_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS match_keys_by_lookup ON match_keys(lookup_id);
CREATE TABLE IF NOT EXISTS review_queue (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    lookup_id       TEXT NOT NULL,
    reason          TEXT NOT NULL,
    score           INTEGER NOT NULL,
    visitor         TEXT NOT NULL,
    contact_types   TEXT NOT NULL,
    explanation     TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'approved', 'rejected')),
    created_at      TEXT NOT NULL,
    resolved_at     TEXT
);
CREATE INDEX IF NOT EXISTS review_queue_status ON review_queue(status, id);
"#;

/// Most candidates matched for one visitor.
const MAX_CANDIDATES: usize = 50;
/// Longest merge chain followed.
const MAX_MERGE_HOPS: usize = 32;

/// Applies the intake side of an uploaded row, inside the ingest transaction.
/// `Ok(Ok(Some(id)))`: accepted, answering with a Lookup ID; `Ok(Ok(None))`: accepted (or not
/// an intake row); `Ok(Err(reason))`: rejected.
pub fn apply(
    tx: &Connection,
    seq: &mut Seq,
    device_id: &str,
    row: &UploadRow,
    now: DateTime<Utc>,
) -> Result<std::result::Result<Option<String>, String>> {
    match (row.kind.as_str(), row.version) {
        ("new_constituent", 1) => new_constituent(tx, seq, device_id, row, now),
        ("visitor_update", 1) => {
            visitor_update(tx, seq, device_id, row, now).map(|r| r.map(|()| None))
        }
        ("order", 2) => super::orders::apply(tx, seq, device_id, row, now),
        _ => Ok(Ok(None)),
    }
}

/// The Lookup ID answered for an earlier `new_constituent` row with this key (for a replay).
pub fn answer_for(tx: &Connection, idempotency_key: &str) -> Result<Option<String>> {
    Ok(tx
        .prepare_cached("SELECT lookup_id FROM intake_created WHERE idempotency_key = ?1")?
        .query_row([idempotency_key], |r| r.get(0))
        .optional()?)
}

fn new_constituent(
    tx: &Connection,
    seq: &mut Seq,
    device_id: &str,
    row: &UploadRow,
    now: DateTime<Utc>,
) -> Result<std::result::Result<Option<String>, String>> {
    let p: NewConstituentV1 = match serde_json::from_value(row.payload.clone()) {
        Ok(p) => p,
        Err(e) => return Ok(Err(format!("new_constituent payload: {e}"))),
    };
    let mut visitor = p.visitor.clone().unwrap_or_default();
    if visitor.name.first.trim().is_empty() {
        visitor.name.first = p.first_name.clone();
    }
    if visitor.name.last.trim().is_empty() {
        visitor.name.last = p.last_name.clone();
    }
    if let Some(what) = oversized_field(&visitor) {
        return Ok(Err(format!(
            "new_constituent {what} longer than {MAX_FIELD_CHARS} characters"
        )));
    }
    let n = Normalizer::default();
    if n.name_key(&visitor.name.first).is_empty() || n.name_key(&visitor.name.last).is_empty() {
        return Ok(Err("new_constituent needs first_name and last_name".into()));
    }
    if let Some(local_id) = p.local_id.as_deref()
        && let Some(known) = tx
            .prepare_cached(
                "SELECT lookup_id FROM intake_created WHERE device_id = ?1 AND local_id = ?2",
            )?
            .query_row(params![device_id, local_id], |r| r.get::<_, String>(0))
            .optional()?
    {
        return Ok(Ok(Some(known)));
    }
    let types = p.contact_types.clone().unwrap_or_default();
    // Dated by the visit, never after the hub's own time.
    let now = p.created_at.map_or(now, |at| at.min(now));
    let strict: Vec<BlockingKey> = visitor_keys(&visitor, &n)
        .into_iter()
        .filter(BlockingKey::is_strict)
        .collect();
    let candidates = candidates(tx, &strict, None, &n)?;
    let (lookup_id, created) = match strict_match(&visitor, &candidates, &n) {
        MatchOutcome::Matched(hit) => {
            if let Some(existing) = candidates.iter().find(|c| c.lookup_id == hit.lookup_id) {
                update_automatically(tx, seq, existing, &visitor, &types, &n, now)?;
            }
            tracing::info!(
                device = device_id,
                lookup_id = %hit.lookup_id,
                local_id = p.local_id.as_deref().unwrap_or(""),
                "new constituent matched an existing record"
            );
            (hit.lookup_id, false)
        }
        MatchOutcome::Ambiguous(hits) => {
            let id = create(tx, seq, &visitor, &types, &n, now)?;
            let ids: Vec<String> = hits.iter().map(|h| h.lookup_id.clone()).collect();
            let explanation = vec![format!(
                "created as {id}: name and email or phone also match {}",
                ids.join(", ")
            )];
            for candidate in &ids {
                queue_review(
                    tx,
                    row,
                    device_id,
                    candidate,
                    "ambiguous",
                    100,
                    &visitor,
                    &types,
                    &explanation,
                    now,
                )?;
            }
            tracing::warn!(
                device = device_id,
                lookup_id = %id,
                candidates = ids.len(),
                "new constituent matched several records; created and queued for review"
            );
            (id, true)
        }
        MatchOutcome::NoMatch => {
            let id = create(tx, seq, &visitor, &types, &n, now)?;
            tracing::info!(device = device_id, lookup_id = %id, "new constituent created");
            (id, true)
        }
    };
    tx.prepare_cached(
        "INSERT INTO intake_created (idempotency_key, device_id, local_id, lookup_id, created, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        row.idempotency_key,
        device_id,
        p.local_id,
        lookup_id,
        created,
        now.to_rfc3339()
    ])?;
    Ok(Ok(Some(lookup_id)))
}

/// Creates the record under the next Lookup ID and publishes it on the feed.
fn create(
    tx: &Connection,
    seq: &mut Seq,
    visitor: &VisitorDetails,
    types: &VisitorContactTypes,
    n: &Normalizer,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = next_lookup_id(tx)?;
    let record = new_record(visitor, n, types, &id, now.date_naive());
    save(tx, seq, record)?;
    Ok(id)
}

fn save(tx: &Connection, seq: &mut Seq, c: Constituent) -> Result<()> {
    let dto = ConstituentDto::from(c);
    put(
        tx,
        seq,
        Resource::Constituents,
        &dto.lookup_id,
        Some(&serde_json::to_string(&dto)?),
    )
}

/// The CRM's format, `8-` and eight digits, one above the highest ever used (deleted records
/// keep their id).
fn next_lookup_id(tx: &Connection) -> Result<String> {
    let top: Option<String> = tx
        .prepare_cached(
            "SELECT key FROM records WHERE resource = 'constituents' AND key >= '8-'
               AND key < '8.' AND key GLOB '8-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
             ORDER BY key DESC LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?;
    let next = top
        .and_then(|k| k.get(2..).and_then(|d| d.parse::<u64>().ok()))
        .map_or(10_000_000, |n| n + 1);
    Ok(format!("8-{next:08}"))
}

/// Where `match_keys` is up to in the constituents feed. A new name re-indexes every record
/// (the keys of an earlier build were only emails and phones).
const INDEX_MARK: &str = "match_index_v2_seq";

/// Brings `match_keys` up to the constituents feed's latest change.
fn catch_up_index(tx: &Connection, n: &Normalizer) -> Result<()> {
    let mark: i64 = tx
        .prepare_cached(&format!(
            "SELECT value FROM hub_meta WHERE key = '{INDEX_MARK}'"
        ))?
        .query_row([], |r| r.get::<_, String>(0))
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let changed: Vec<(i64, String, Option<String>)> = tx
        .prepare_cached(
            "SELECT seq, key, CASE WHEN deleted THEN NULL ELSE doc END FROM records
             WHERE resource = 'constituents' AND seq > ?1 ORDER BY seq",
        )?
        .query_map([mark], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let Some(last) = changed.last().map(|c| c.0) else {
        return Ok(());
    };
    for (_, key, doc) in &changed {
        tx.prepare_cached("DELETE FROM match_keys WHERE lookup_id = ?1")?
            .execute([key])?;
        let Some(c) = doc
            .as_deref()
            .and_then(|d| serde_json::from_str::<ConstituentDto>(d).ok())
        else {
            continue;
        };
        if c.status == ConstituentStatus::Merged {
            continue;
        }
        let keys = constituent_keys(&Constituent::from(c), n)
            .into_iter()
            .map(|k| k.index_key());
        let mut st =
            tx.prepare_cached("INSERT OR IGNORE INTO match_keys (key, lookup_id) VALUES (?1, ?2)")?;
        for k in keys {
            st.execute(params![k, key])?;
        }
    }
    tx.prepare_cached(&format!(
        "INSERT INTO hub_meta (key, value) VALUES ('{INDEX_MARK}', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value"
    ))?
    .execute([last.to_string()])?;
    Ok(())
}

/// What `portico hub match` shows: the decision for `visitor` against the hub's records under
/// `config` (nothing is written but the match index brought up to date), with every candidate
/// the device would weigh: those sharing the visitor's email or phone, and in scored mode those
/// found by name that could still reach the review threshold.
pub fn explain(
    store: &crate::store::HubStore,
    visitor: &VisitorDetails,
    config: &portico_core::intake::IntakeConfig,
    now: DateTime<Utc>,
) -> Result<portico_core::matching::report::MatchReport> {
    let n = Normalizer::default();
    let (keys, prune) = match &config.matching.mode {
        MatchMode::Strict => (
            visitor_keys(visitor, &n)
                .into_iter()
                .filter(BlockingKey::is_strict)
                .collect(),
            None,
        ),
        MatchMode::Scored(t) => (
            probe_keys(visitor, &n, t),
            Some(NamePrune::new(visitor, &n, t)),
        ),
    };
    let found = store.write(|tx, _| candidates(tx, &keys, prune.as_ref(), &n))?;
    Ok(portico_core::matching::report::report(
        visitor, &found, &n, config, now,
    ))
}

/// Most records a name key may list before the ones worth weighing are picked from them.
const MAX_NAME_HITS: i64 = 5_000;

/// The hub's constituents under `keys`: every record a contact key finds, and of those a name
/// key finds, the ones `prune` keeps (all, without it). At most [`MAX_CANDIDATES`].
fn candidates(
    tx: &Connection,
    keys: &[BlockingKey],
    prune: Option<&NamePrune>,
    n: &Normalizer,
) -> Result<Vec<Constituent>> {
    catch_up_index(tx, n)?;
    let mut out: Vec<Constituent> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for key in keys {
        let limit = if key.is_strict() {
            MAX_CANDIDATES as i64
        } else {
            MAX_NAME_HITS
        };
        let found: Vec<String> = tx
            .prepare_cached("SELECT lookup_id FROM match_keys WHERE key = ?1 LIMIT ?2")?
            .query_map(params![key.index_key(), limit], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in found {
            if out.len() >= MAX_CANDIDATES {
                return Ok(out);
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            // A record a name key lists is weighed from its names and birth date before its
            // whole document is read.
            if let (false, Some(p)) = (key.is_strict(), prune) {
                let Some((first, last, birth)) = glance(tx, &id)? else {
                    continue;
                };
                if !p.record(&n.name_key(&first), &n.name_key(&last), birth) {
                    continue;
                }
            }
            let Some(c) = load(tx, &id)? else { continue };
            if c.status != ConstituentStatus::Merged {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// A constituent's first and last name and birth date, read from its document by SQLite.
fn glance(
    tx: &Connection,
    lookup_id: &str,
) -> Result<Option<(String, String, Option<chrono::NaiveDate>)>> {
    let row: Option<(Option<String>, Option<String>, Option<String>)> = tx
        .prepare_cached(
            "SELECT json_extract(doc, '$.name.first'), json_extract(doc, '$.name.last'),
                    json_extract(doc, '$.birth_date')
             FROM records WHERE resource = 'constituents' AND key = ?1 AND deleted = 0",
        )?
        .query_row([lookup_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.map(|(first, last, birth)| {
        (
            first.unwrap_or_default(),
            last.unwrap_or_default(),
            birth.and_then(|b| b.parse().ok()),
        )
    }))
}

fn load(tx: &Connection, lookup_id: &str) -> Result<Option<Constituent>> {
    let doc: Option<String> = tx
        .prepare_cached(
            "SELECT doc FROM records WHERE resource = 'constituents' AND key = ?1 AND deleted = 0",
        )?
        .query_row([lookup_id], |r| r.get(0))
        .optional()?;
    Ok(doc
        .map(|d| serde_json::from_str::<ConstituentDto>(&d))
        .transpose()?
        .map(Constituent::from))
}

/// A device's id for a constituent to the hub's current Lookup ID: local ids through the
/// device's earlier `new_constituent` rows, then merges to their survivor. Returns every id
/// passed through (the survivor last), or `None` for an unknown local id or an endless chain.
pub(crate) fn resolve(tx: &Connection, device_id: &str, id: &str) -> Result<Option<Vec<String>>> {
    let first = if portico_core::intake::is_local_id(id) {
        match tx
            .prepare_cached(
                "SELECT lookup_id FROM intake_created WHERE device_id = ?1 AND local_id = ?2",
            )?
            .query_row(params![device_id, id], |r| r.get::<_, String>(0))
            .optional()?
        {
            Some(found) => found,
            None => return Ok(None),
        }
    } else {
        id.to_owned()
    };
    let mut chain = vec![first];
    for _ in 0..MAX_MERGE_HOPS {
        let current = chain.last().cloned().unwrap_or_default();
        let merge: Option<String> = tx
            .prepare_cached(
                "SELECT doc FROM records WHERE resource = 'merges' AND key = ?1 AND deleted = 0",
            )?
            .query_row([&current], |r| r.get(0))
            .optional()?;
        match merge.and_then(|d| serde_json::from_str::<MergeDto>(&d).ok()) {
            Some(m) if !chain.contains(&m.survivor_id) => chain.push(m.survivor_id),
            Some(_) => return Ok(None),
            None => return Ok(Some(chain)),
        }
    }
    Ok(None)
}

/// "If matching constituents qualify for automatic updates ... Altru applies these rules
/// automatically": the update rules for a matched incoming record, birth date included.
fn update_automatically(
    tx: &Connection,
    seq: &mut Seq,
    existing: &Constituent,
    visitor: &VisitorDetails,
    types: &VisitorContactTypes,
    n: &Normalizer,
    now: DateTime<Utc>,
) -> Result<usize> {
    update_with(
        tx,
        seq,
        existing,
        visitor,
        types,
        n,
        UpdateMode::Automatic,
        now,
    )
}

#[allow(clippy::too_many_arguments)]
fn update_with(
    tx: &Connection,
    seq: &mut Seq,
    existing: &Constituent,
    visitor: &VisitorDetails,
    types: &VisitorContactTypes,
    n: &Normalizer,
    mode: UpdateMode,
    now: DateTime<Utc>,
) -> Result<usize> {
    if !rules_apply(UpdateSource::MatchedIncoming) {
        return Ok(0);
    }
    let incoming = IncomingDetails::from_visitor(visitor, types);
    let (updated, changes) =
        apply_update_rules_with(existing, &incoming, mode, now.date_naive(), n);
    let altered = changes.iter().filter(|c| c.alters_record()).count();
    if altered > 0 {
        save(tx, seq, updated)?;
        tracing::info!(
            lookup_id = %existing.lookup_id,
            changes = altered,
            mode = ?mode,
            "update rules applied to a matched visitor's record"
        );
    }
    Ok(altered)
}

fn visitor_update(
    tx: &Connection,
    seq: &mut Seq,
    device_id: &str,
    row: &UploadRow,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(), String>> {
    let p: VisitorUpdateV1 = match serde_json::from_value(row.payload.clone()) {
        Ok(p) => p,
        Err(e) => return Ok(Err(format!("visitor_update payload: {e}"))),
    };
    if let Some(what) = oversized_field(&p.visitor) {
        return Ok(Err(format!(
            "visitor_update {what} longer than {MAX_FIELD_CHARS} characters"
        )));
    }
    let Some(chain) = resolve(tx, device_id, &p.lookup_id)? else {
        return Ok(Err(format!(
            "constituent {} is unknown to the hub (for a local id: its new_constituent row \
             was not accepted)",
            p.lookup_id
        )));
    };
    let target = chain.last().cloned().unwrap_or_default();
    let Some(existing) = load(tx, &target)? else {
        return Ok(Err(format!("no constituent {target}")));
    };
    if existing.status == ConstituentStatus::Merged {
        return Ok(Err(format!("constituent {target} was merged away")));
    }
    let n = Normalizer::default();
    let thresholds = p.match_info.thresholds.unwrap_or_default();
    let scored = score_candidate(&p.visitor, &existing, &n, &thresholds);
    let mut explanation: Vec<String> = scored.fields.iter().map(ToString::to_string).collect();
    if scored.held_at.is_some() {
        explanation.push(portico_core::matching::report::HELD.to_owned());
    }
    // The hub judges the match against its own record, with the device's rule.
    let band = match p.match_info.mode {
        MatchModeName::Strict => {
            // The device matched the record it knew; when the CRM has merged that record
            // into this one since (before or after the device rewrote its reference), the
            // merged record's details still identify the survivor's person.
            let mut judged = vec![existing.clone()];
            let merged_in: Vec<String> = tx
                .prepare_cached(
                    "SELECT key FROM records WHERE resource = 'merges' AND deleted = 0
                       AND json_extract(doc, '$.survivor_id') = ?1",
                )?
                .query_map([&target], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let before_merge = chain[..chain.len().saturating_sub(1)]
                .iter()
                .chain(merged_in.iter().filter(|id| !chain.contains(id)));
            for id in before_merge {
                if let Some(mut before) = load(tx, id)? {
                    before.status = ConstituentStatus::Active;
                    judged.push(before);
                }
            }
            let matches = judged.iter().any(|c| {
                matches!(
                    strict_match(&p.visitor, std::slice::from_ref(c), &n),
                    MatchOutcome::Matched(_)
                )
            });
            (!matches).then_some("no_longer_matches")
        }
        MatchModeName::Scored => {
            let t = thresholds;
            if scored.score > t.automatic_above {
                None
            } else if scored.score >= t.review_from {
                Some("middle_range")
            } else {
                Some("below_review_threshold")
            }
        }
    };
    // The rules date their changes by the visit (a device may upload hours later), never
    // after the hub's own time.
    let day = p.seen_at.min(now);
    match band {
        None => {
            update_automatically(tx, seq, &existing, &p.visitor, &p.contact_types, &n, day)?;
        }
        Some(reason) => {
            queue_review(
                tx,
                row,
                device_id,
                &target,
                reason,
                scored.score,
                &p.visitor,
                &p.contact_types,
                &explanation,
                now,
            )?;
            tracing::info!(
                device = device_id,
                lookup_id = %target,
                score = scored.score,
                reason,
                "visitor details queued for review"
            );
        }
    }
    Ok(Ok(()))
}

#[allow(clippy::too_many_arguments)]
fn queue_review(
    tx: &Connection,
    row: &UploadRow,
    device_id: &str,
    lookup_id: &str,
    reason: &str,
    score: u8,
    visitor: &VisitorDetails,
    types: &VisitorContactTypes,
    explanation: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO review_queue (idempotency_key, device_id, lookup_id, reason, score,
         visitor, contact_types, explanation, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        row.idempotency_key,
        device_id,
        lookup_id,
        reason,
        score,
        serde_json::to_string(visitor)?,
        serde_json::to_string(types)?,
        serde_json::to_string(explanation)?,
        now.to_rfc3339()
    ])?;
    Ok(())
}

/// The review queue, oldest first; `open_only` leaves out resolved items.
pub fn review_queue(c: &Connection, open_only: bool) -> Result<Vec<ReviewItemDto>> {
    let mut st = c.prepare_cached(
        "SELECT id, status, reason, lookup_id, score, visitor, explanation, device_id,
                idempotency_key, created_at, resolved_at
         FROM review_queue WHERE (?1 = 0 OR status = 'open') ORDER BY id",
    )?;
    let rows = st
        .query_map([open_only], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u8>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, Option<String>>(10)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let time = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| super::StoreError::Invalid(format!("review_queue time {s:?}: {e}")))
    };
    rows.into_iter()
        .map(
            |(
                id,
                status,
                reason,
                lookup_id,
                score,
                visitor,
                explanation,
                device_id,
                key,
                at,
                done,
            )| {
                Ok(ReviewItemDto {
                    id,
                    status,
                    reason,
                    lookup_id,
                    score,
                    visitor: serde_json::from_str(&visitor)?,
                    explanation: serde_json::from_str(&explanation)?,
                    device_id,
                    idempotency_key: key,
                    created_at: time(&at)?,
                    resolved_at: done.as_deref().map(time).transpose()?,
                })
            },
        )
        .collect()
}

/// Staff resolve an open item. Approving applies the update rules as a reviewed match ("Use my
/// organization's rules": every rule but the birth date, which "update[s] only when
/// constituents qualify for automatic updates"); rejecting changes nothing. Returns the
/// changes applied.
pub fn resolve_review(
    tx: &Connection,
    seq: &mut Seq,
    id: i64,
    approve: bool,
    now: DateTime<Utc>,
) -> Result<Vec<Change>> {
    let item: Option<(String, String, String)> = tx
        .prepare_cached(
            "SELECT lookup_id, visitor, contact_types FROM review_queue
             WHERE id = ?1 AND status = 'open'",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((lookup_id, visitor, types)) = item else {
        return Err(super::StoreError::NotFound(format!(
            "no open review item {id}"
        )));
    };
    let mut applied = Vec::new();
    if approve {
        let visitor: VisitorDetails = serde_json::from_str(&visitor)?;
        let types: VisitorContactTypes = serde_json::from_str(&types)?;
        let target = resolve(tx, "", &lookup_id)?
            .and_then(|chain| chain.last().cloned())
            .unwrap_or(lookup_id);
        let existing = load(tx, &target)?
            .ok_or_else(|| super::StoreError::NotFound(format!("no constituent {target}")))?;
        let n = Normalizer::default();
        let incoming = IncomingDetails::from_visitor(&visitor, &types);
        let (updated, changes) = apply_update_rules_with(
            &existing,
            &incoming,
            UpdateMode::Review,
            now.date_naive(),
            &n,
        );
        if changes.iter().any(Change::alters_record) {
            save(tx, seq, updated)?;
        }
        applied = changes;
    }
    tx.prepare_cached("UPDATE review_queue SET status = ?2, resolved_at = ?3 WHERE id = ?1")?
        .execute(params![
            id,
            if approve { "approved" } else { "rejected" },
            now.to_rfc3339()
        ])?;
    tracing::info!(id, approve, changes = applied.len(), "review item resolved");
    Ok(applied)
}

/// A person from outside the devices (the volunteer system's hourly import), known there as
/// `local_id` of `source`: the first time, matched or created exactly as a device's
/// `new_constituent` is (several matches: created and queued for staff); after that, the same
/// record again (through merges), with the CRM's update rules applied to it. Returns the Lookup
/// ID and whether the record was created now; `Err` for details intake cannot take.
pub(crate) fn intake_external(
    tx: &Connection,
    seq: &mut Seq,
    source: &str,
    local_id: &str,
    visitor: &VisitorDetails,
    types: &VisitorContactTypes,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(String, bool), String>> {
    let known: Option<String> = tx
        .prepare_cached(
            "SELECT lookup_id FROM intake_created WHERE device_id = ?1 AND local_id = ?2",
        )?
        .query_row(params![source, local_id], |r| r.get(0))
        .optional()?;
    if let Some(first) = known {
        let survivor = resolve(tx, source, &first)?
            .and_then(|chain| chain.last().cloned())
            .unwrap_or(first);
        if let Some(existing) = load(tx, &survivor)? {
            update_automatically(
                tx,
                seq,
                &existing,
                visitor,
                types,
                &Normalizer::default(),
                now,
            )?;
        }
        return Ok(Ok((survivor, false)));
    }
    let payload = NewConstituentV1 {
        first_name: visitor.name.first.clone(),
        last_name: visitor.name.last.clone(),
        local_id: Some(local_id.to_owned()),
        visitor: Some(visitor.clone()),
        contact_types: Some(types.clone()),
        created_at: None,
    };
    let row = UploadRow {
        idempotency_key: format!("{source}:{local_id}"),
        kind: "new_constituent".into(),
        version: 1,
        payload: serde_json::to_value(&payload)?,
        created_at: now,
    };
    match new_constituent(tx, seq, source, &row, now)? {
        Ok(Some(id)) => {
            let created: bool = tx
                .prepare_cached("SELECT created FROM intake_created WHERE idempotency_key = ?1")?
                .query_row([&row.idempotency_key], |r| r.get(0))
                .optional()?
                .unwrap_or(false);
            Ok(Ok((id, created)))
        }
        Ok(None) => Ok(Err("no record was made".into())),
        Err(reason) => Ok(Err(reason)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::HubStore;
    use portico_core::protocol::RowStatus;

    fn store() -> (tempfile::TempDir, HubStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        (dir, store)
    }

    fn row(key: &str, kind: &str, payload: serde_json::Value) -> UploadRow {
        UploadRow {
            idempotency_key: key.into(),
            kind: kind.into(),
            version: 1,
            payload,
            created_at: Utc::now(),
        }
    }

    fn create(key: &str, local: &str, email: &str) -> UploadRow {
        row(
            key,
            "new_constituent",
            json!({"first_name": "Ada", "last_name": "Byron", "local_id": local,
                   "visitor": {"name": {"first": "Ada", "last": "Byron"}, "email": email}}),
        )
    }

    #[test]
    fn new_lookup_ids_follow_the_highest_ever_used_in_the_crms_format() {
        let (_d, store) = store();
        let blank = |id: &str| ConstituentDto::named(id, "A", "B");
        let next = |s: &HubStore| s.write(|tx, _| next_lookup_id(tx)).unwrap();
        assert_eq!(next(&store), "8-10000000");
        for id in ["8-10000005", "8-abc", "9-99999999"] {
            store
                .upsert(Resource::Constituents, id, &blank(id))
                .unwrap();
        }
        store.delete(Resource::Constituents, "8-10000005").unwrap();
        assert_eq!(next(&store), "8-10000006", "a deleted id is never reused");
    }

    /// "Name and email match": a second device's (or a resent) new constituent with the same
    /// name and email answers with the record already created, never a second one.
    #[test]
    fn rule_name_and_email_match_returns_the_existing_lookup_id() {
        let (_d, store) = store();
        let now = Utc::now();
        let a = store
            .ingest("kiosk-1", &[create("k1", "L-1", "ada@byron.net")], now)
            .unwrap();
        let b = store
            .ingest("kiosk-2", &[create("k2", "L-2", "ADA@byron.net")], now)
            .unwrap();
        let again = store
            .ingest("kiosk-1", &[create("k3", "L-1", "other@byron.net")], now)
            .unwrap();
        let replay = store
            .ingest("kiosk-1", &[create("k1", "L-1", "ada@byron.net")], now)
            .unwrap();
        let id = a[0].lookup_id.clone().unwrap();
        assert_eq!(b[0].lookup_id.as_deref(), Some(id.as_str()));
        assert_eq!(again[0].lookup_id.as_deref(), Some(id.as_str()));
        assert_eq!(replay[0].status, RowStatus::Duplicate);
        assert_eq!(replay[0].lookup_id.as_deref(), Some(id.as_str()));
        assert_eq!(store.count(Resource::Constituents).unwrap(), 1);
    }

    #[test]
    fn hostile_or_unresolvable_rows_are_rejected_with_a_reason() {
        let (_d, store) = store();
        let long = "x".repeat(500);
        let cases = [
            row(
                "h1",
                "new_constituent",
                json!({"first_name": "A", "last_name": "B", "visitor": "nope"}),
            ),
            row(
                "h2",
                "new_constituent",
                json!({"first_name": long, "last_name": "B"}),
            ),
            row(
                "h3",
                "new_constituent",
                json!({"first_name": "!!!", "last_name": "B"}),
            ),
            row(
                "h4",
                "visitor_update",
                json!({"lookup_id": "L-unknown", "visitor": {"name": {"first": "A", "last": "B"}},
                       "match": {"mode": "strict", "confidence": 100, "automatic": true},
                       "seen_at": "2026-11-01T09:00:00Z"}),
            ),
            row(
                "h5",
                "visitor_update",
                json!({"lookup_id": "8-404", "visitor": {"name": {"first": "A", "last": "B"}},
                       "match": {"mode": "strict", "confidence": 100, "automatic": true},
                       "seen_at": "2026-11-01T09:00:00Z"}),
            ),
            row(
                "h6",
                "visitor_update",
                json!({"lookup_id": "8-404", "visitor": {"name": 7}}),
            ),
            row("h7", "visitor_update", json!({"visitor": {}})),
        ];
        let results = store.ingest("kiosk-1", &cases, Utc::now()).unwrap();
        for (r, c) in results.iter().zip(&cases) {
            assert_eq!(r.status, RowStatus::Rejected, "{c:?}");
            assert!(r.reason.as_deref().is_some_and(|s| !s.is_empty()));
            assert_eq!(r.lookup_id, None);
        }
        assert_eq!(store.count(Resource::Constituents).unwrap(), 0);
        assert_eq!(store.inbox_total().unwrap(), 0);
    }
}
