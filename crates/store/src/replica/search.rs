//! Finding constituents in the replica: the staff search (by Lookup ID, or first and/or last
//! name, prefix, case- and accent-insensitive, paged) and the candidate probes that feed
//! matching.

use std::collections::HashSet;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::{Result, query};
use crate::domain::{Constituent, ConstituentStatus, PersonName};
use crate::matching::blocking::BlockingKey;
use crate::matching::scored::NamePrune;
use crate::normalize::Normalizer;

/// What staff typed. Empty strings count as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    pub lookup_id: Option<String>,
    pub first: Option<String>,
    pub last: Option<String>,
}

/// Where the next page starts (keyset paging: stable while the replica changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchCursor {
    last: String,
    first: String,
    id: i64,
}

impl SearchCursor {
    /// The cursor as one opaque word, for `portico search --after`.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads back what [`Self::encode`] made.
    pub fn decode(s: &str) -> std::result::Result<Self, String> {
        use base64::Engine;
        let not_ours = || format!("{s:?} is not a cursor printed by `portico search`");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim())
            .map_err(|_| not_ours())?;
        serde_json::from_slice(&bytes).map_err(|_| not_ours())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub lookup_id: String,
    pub name: PersonName,
    pub status: ConstituentStatus,
    pub city: Option<String>,
    /// For a Lookup ID search that went through a merge: the id that was asked for.
    pub merged_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub next: Option<SearchCursor>,
}

/// Upper bound for a prefix range under SQLite's binary collation.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

fn clean(s: &Option<String>, n: &Normalizer) -> Option<String> {
    s.as_deref()
        .map(|s| n.name_key(s))
        .filter(|s| !s.is_empty())
}

/// Staff search. A Lookup ID search follows merges to the survivor; a name search matches
/// prefixes of the last and/or first name and never shows merged-away records. Hits come in
/// last-name order, or in first-name order when only a first name was typed.
pub fn search(
    conn: &Connection,
    n: &Normalizer,
    q: &SearchQuery,
    limit: usize,
    after: Option<&SearchCursor>,
) -> Result<SearchPage> {
    let limit = limit.clamp(1, 200);
    if let Some(id) = q
        .lookup_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let resolved = query::resolve(conn, id)?;
        let hits = query::constituent(conn, &resolved.survivor)?
            .filter(|c| c.status != ConstituentStatus::Merged)
            .map(|c| SearchHit {
                city: primary_city(&c),
                lookup_id: c.lookup_id,
                name: c.name,
                status: c.status,
                merged_from: resolved.via_merge().then(|| resolved.requested.clone()),
            })
            .into_iter()
            .collect();
        return Ok(SearchPage { hits, next: None });
    }
    let (first, last) = (clean(&q.first, n), clean(&q.last, n));
    if first.is_none() && last.is_none() {
        return Ok(SearchPage {
            hits: Vec::new(),
            next: None,
        });
    }
    let (l0, l1) = last
        .as_deref()
        .map_or((String::new(), "\u{10FFFF}".to_owned()), |l| {
            (l.to_owned(), prefix_end(l))
        });
    let (f0, f1) = first
        .as_deref()
        .map_or((String::new(), "\u{10FFFF}".to_owned()), |f| {
            (f.to_owned(), prefix_end(f))
        });
    let (ca, cb, ci) = after.map_or((String::new(), String::new(), -1), |c| {
        (c.last.clone(), c.first.clone(), c.id)
    });
    // Walk the index that the typed prefix narrows: last name first when given.
    let sql = if last.is_some() {
        "SELECT id, lookup_id, last_norm, first_norm FROM constituents INDEXED BY constituents_name
         WHERE last_norm >= ?1 AND last_norm < ?2 AND first_norm >= ?3 AND first_norm < ?4
           AND status != 'merged' AND lookup_id IS NOT NULL
           AND (last_norm, first_norm, id) > (?5, ?6, ?7)
         ORDER BY last_norm, first_norm, id LIMIT ?8"
    } else {
        // First name alone: in first-name order, the index's own, so a common prefix reads
        // one page of the index instead of sorting every match.
        "SELECT id, lookup_id, last_norm, first_norm FROM constituents INDEXED BY constituents_first_name
         WHERE last_norm >= ?1 AND last_norm < ?2 AND first_norm >= ?3 AND first_norm < ?4
           AND status != 'merged' AND lookup_id IS NOT NULL
           AND (first_norm, last_norm, id) > (?6, ?5, ?7)
         ORDER BY first_norm, last_norm, id LIMIT ?8"
    };
    let rows: Vec<(i64, String, String, String)> = conn
        .prepare_cached(sql)?
        .query_map(
            params![l0, l1, f0, f1, ca, cb, ci, (limit + 1) as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let more = rows.len() > limit;
    let mut hits = Vec::with_capacity(limit);
    let mut next = None;
    for (id, lookup_id, l, f) in rows.into_iter().take(limit) {
        if let Some(c) = query::constituent(conn, &lookup_id)? {
            hits.push(SearchHit {
                city: primary_city(&c),
                lookup_id: c.lookup_id,
                name: c.name,
                status: c.status,
                merged_from: None,
            });
        }
        next = Some(SearchCursor {
            last: l,
            first: f,
            id,
        });
    }
    Ok(SearchPage {
        hits,
        next: if more { next } else { None },
    })
}

fn primary_city(c: &Constituent) -> Option<String> {
    c.addresses
        .iter()
        .find(|a| a.meta.primary && a.meta.active)
        .or_else(|| c.addresses.first())
        .map(|a| a.city.clone())
}

/// The constituents that share at least one of `keys` (duplicates removed, merged-away records
/// left out), for matching. At most `limit` are returned.
///
/// The rows of the name indexes a visitor's name keys find, and which of them are worth
/// loading. A row found by several keys is judged once.
struct NameScan<'c> {
    conn: &'c Connection,
    prune: Option<&'c NamePrune>,
    limit: usize,
    judged: HashSet<i64>,
}

impl NameScan<'_> {
    /// Whether the record at `id` could reach review, given whether its names could.
    fn worth(&self, id: i64, their_first: &str, their_last: &str) -> Result<bool> {
        let Some(p) = self.prune else {
            return Ok(true);
        };
        if !p.weighs_birth_date() {
            return Ok(true);
        }
        let birth: Option<String> = self
            .conn
            .prepare_cached("SELECT birth_date FROM constituents WHERE id = ?1")?
            .query_row([id], |r| r.get(0))?;
        let birth = birth.and_then(|b| b.parse::<chrono::NaiveDate>().ok());
        Ok(p.record(their_first, their_last, birth))
    }

    /// The rows of `sql` (id, first and last name keys) worth loading, at most `limit`. The
    /// index hands rows over in name order, so the names' verdict is reused while they repeat.
    fn scan(&mut self, sql: &str, args: &[&str]) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(args))?;
        let mut found = Vec::new();
        let (mut first, mut last, mut names_ok) = (String::new(), String::new(), false);
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if !self.judged.insert(id) {
                continue;
            }
            let text = |i| -> rusqlite::Result<&str> {
                r.get_ref(i)?.as_str().map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        i,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })
            };
            let (their_first, their_last) = (text(1)?, text(2)?);
            if their_first != first || their_last != last {
                first.clear();
                first.push_str(their_first);
                last.clear();
                last.push_str(their_last);
                names_ok = self.prune.is_none_or(|p| p.names(&first, &last));
            }
            if names_ok && self.worth(id, &first, &last)? {
                found.push(id);
                if found.len() >= self.limit {
                    break;
                }
            }
        }
        Ok(found)
    }
}

/// A name key finds everyone of that surname and first initial, or of that first name and last
/// initial (thousands for a common name in a large replica). With `prune`, only the records that could
/// still reach the review threshold are loaded (see [`NamePrune`]): their names are judged
/// straight from the name index, their birth date read by row id when the visitor gave one.
/// The others cannot reach review without a shared email or phone, and those are found by the
/// email and phone keys.
pub fn candidates(
    conn: &Connection,
    keys: &[BlockingKey],
    prune: Option<&NamePrune>,
    limit: usize,
) -> Result<Vec<Constituent>> {
    // Row ids straight from the indexes (no table access until a candidate is loaded).
    let mut ids: Vec<i64> = Vec::new();
    let push = |ids: &mut Vec<i64>, found: Vec<i64>| {
        for id in found {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    };
    let mut names = NameScan {
        conn,
        prune,
        limit,
        judged: HashSet::new(),
    };
    const EXACT_LAST: &str = "SELECT id, first_norm, last_norm FROM constituents
         INDEXED BY constituents_name
         WHERE last_norm = ?1 AND first_norm >= ?2 AND first_norm < ?3";
    const EXACT_FIRST: &str = "SELECT id, first_norm, last_norm FROM constituents
         INDEXED BY constituents_first_name
         WHERE first_norm = ?1 AND last_norm >= ?2 AND last_norm < ?3";
    for key in keys {
        let found: Vec<i64> = match key {
            BlockingKey::Email { email } => conn
                .prepare_cached(
                    "SELECT DISTINCT constituent_id FROM emails WHERE address_norm = ?1 LIMIT ?2",
                )?
                .query_map(params![email, limit as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?,
            BlockingKey::Phone { phone } => conn
                .prepare_cached(
                    "SELECT DISTINCT constituent_id FROM phones WHERE number_norm = ?1 LIMIT ?2",
                )?
                .query_map(params![phone, limit as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?,
            BlockingKey::LastNameInitial { last, initial }
            | BlockingKey::SwappedNames { last, initial } => {
                let lo = initial.to_string();
                names.scan(EXACT_LAST, &[last, &lo, &prefix_end(&lo)])?
            }
            BlockingKey::FirstNameInitial { first, initial } => {
                let lo = initial.to_string();
                names.scan(EXACT_FIRST, &[first, &lo, &prefix_end(&lo)])?
            }
            // Postcodes are not indexed in the replica; the other keys find these records.
            BlockingKey::PostcodeLastName { .. } => Vec::new(),
        };
        push(&mut ids, found);
        if ids.len() >= limit {
            break;
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    // Records without a Lookup ID (none today) are skipped by the loader.
    for id in ids.into_iter().take(limit) {
        if let Some(c) = query::constituent_by_row(conn, id)?
            && c.status != ConstituentStatus::Merged
        {
            out.push(c);
        }
    }
    Ok(out)
}
