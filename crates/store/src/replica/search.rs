//! Finding constituents in the replica: the staff search (by Lookup ID, or first and/or last
//! name, prefix, case- and accent-insensitive, paged) and the candidate probes that feed
//! matching.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::{Result, query};
use crate::domain::{Constituent, ConstituentStatus, PersonName};
use crate::matching::blocking::BlockingKey;
use crate::matching::scored::first_names_compatible;
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
/// `first_name` is the visitor's first name as typed. A surname key finds everyone of that
/// surname and initial (thousands for a common name in a large replica); of those only the
/// ones whose first name could score (equal, a nickname, an initial, or similar: see
/// [`first_names_compatible`]) are loaded. The others cannot reach the review threshold
/// without a shared email or phone, and those are found by the email and phone keys.
pub fn candidates(
    conn: &Connection,
    n: &Normalizer,
    keys: &[BlockingKey],
    first_name: Option<&str>,
    limit: usize,
) -> Result<Vec<Constituent>> {
    let first = first_name.map(|f| n.name_key(f)).filter(|f| !f.is_empty());
    // Row ids straight from the indexes (no table access until a candidate is loaded).
    let mut ids: Vec<i64> = Vec::new();
    let push = |ids: &mut Vec<i64>, found: Vec<i64>| {
        for id in found {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    };
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
            BlockingKey::LastNameInitial { last, initial } => {
                let lo = initial.to_string();
                let mut st = conn.prepare_cached(
                    "SELECT id, first_norm FROM constituents INDEXED BY constituents_name
                     WHERE last_norm = ?1 AND first_norm >= ?2 AND first_norm < ?3",
                )?;
                let mut rows = st.query(params![last, lo, prefix_end(&lo)])?;
                let mut found = Vec::new();
                while let Some(r) = rows.next()? {
                    let theirs: String = r.get(1)?;
                    if first
                        .as_deref()
                        .is_none_or(|f| first_names_compatible(f, &theirs))
                    {
                        found.push(r.get(0)?);
                        if found.len() >= limit {
                            break;
                        }
                    }
                }
                found
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
