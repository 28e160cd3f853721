//! The gate's scan log in the device database: every decided scan with its outbox row, the
//! changes to it afterwards (a use given back, a party size settled), and the use history a
//! decision reads back from it.
//!
//! A [`Write`] is one unit of work for the database's writer: a business change and its
//! outbox row, committed in one transaction ([`apply`]). The tables come from the versioned
//! migrations (`replica::schema`, V6).

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::facts::{PriorAdmission, UseHistory};
use super::passage::ScanId;
use crate::outbox::Queued;
use crate::replica;

/// How far back admissions are read for the per-day and anti-passback rules (two local days
/// cover any time zone).
pub const RECENT_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(2);

/// How the scan log writes a venue-local time.
pub const LOCAL_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f";

/// A scan as the scan log stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRow {
    pub id: ScanId,
    pub use_key: Option<String>,
    pub credential_kind: String,
    pub gate: String,
    pub direction: String,
    pub outcome: String,
    pub reason_code: String,
    pub party_requested: u32,
    pub party_admitted: u32,
    pub uses_burned: u32,
    pub at_ms: i64,
    pub local_time: String,
}

/// One unit of work for the writer: a business change and its outbox row, committed together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A decided scan.
    Scan { row: ScanRow, outbox: Queued },
    /// An admission's use given back: the row is marked annulled.
    Annul { scan: ScanId, outbox: Queued },
    /// The people an admission let in, as settled after the decision.
    Party {
        scan: ScanId,
        party_admitted: u32,
        outbox: Queued,
    },
}

/// Applies `write` inside the writer's transaction. An annulment or a party change that
/// changes nothing (already annulled, the same party) queues no outbox row.
pub fn apply(tx: &Connection, write: &Write) -> replica::Result<()> {
    match write {
        Write::Scan { row, outbox } => {
            tx.prepare_cached(
                "INSERT INTO scans (id, use_key, credential_kind, gate, direction, outcome,
                 reason_code, party_requested, party_admitted, uses_burned, at_ms,
                 local_time, outbox_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                row.id,
                row.use_key,
                row.credential_kind,
                row.gate,
                row.direction,
                row.outcome,
                row.reason_code,
                row.party_requested,
                row.party_admitted,
                row.uses_burned,
                row.at_ms,
                row.local_time,
                outbox.idempotency_key,
            ])?;
            outbox.insert(tx)?;
        }
        Write::Annul { scan, outbox } => {
            let changed = tx
                .prepare_cached("UPDATE scans SET annulled = 1 WHERE id = ?1 AND annulled = 0")?
                .execute([scan])?;
            if changed == 1 {
                outbox.insert(tx)?;
            }
        }
        Write::Party {
            scan,
            party_admitted,
            outbox,
        } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE scans SET party_admitted = ?2
                     WHERE id = ?1 AND annulled = 0 AND party_admitted <> ?2",
                )?
                .execute(params![scan, party_admitted])?;
            if changed == 1 {
                outbox.insert(tx)?;
            }
        }
    }
    Ok(())
}

/// The id the next scan gets (ids are never reused: the fold keeps the newest scan).
pub fn next_id(conn: &Connection) -> replica::Result<ScanId> {
    Ok(
        conn.query_row("SELECT coalesce(max(id), 0) + 1 FROM scans", [], |r| {
            r.get(0)
        })?,
    )
}

/// What the scan log holds for one use key at `now`: the lifetime burn (its tally of folded
/// scans, see [`super::retention`], plus its scans), the entry admissions of the last
/// [`RECENT_WINDOW`], and the last exit. Annulled admissions do not count.
pub fn history(conn: &Connection, key: &str, now: DateTime<Utc>) -> replica::Result<UseHistory> {
    let uses_total: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(uses_burned), 0)
                    + coalesce((SELECT uses_burned FROM scan_tallies WHERE use_key = ?1), 0)
             FROM scans WHERE use_key = ?1 AND outcome = 'admit' AND annulled = 0",
        )?
        .query_row([key], |r| r.get(0))?;
    let since = (now - RECENT_WINDOW).timestamp_millis();
    let admissions = conn
        .prepare_cached(
            "SELECT at_ms, local_time, gate, party_admitted FROM scans
             WHERE use_key = ?1 AND outcome = 'admit' AND direction = 'entry'
               AND annulled = 0 AND at_ms >= ?2",
        )?
        .query_map(params![key, since], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter_map(|(at, local, gate, uses)| {
            Some(PriorAdmission {
                at: DateTime::from_timestamp_millis(at)?,
                local: NaiveDateTime::parse_from_str(&local, LOCAL_TIME_FORMAT).ok()?,
                gate,
                uses,
            })
        })
        .collect();
    let last_exit: Option<i64> = conn
        .prepare_cached(
            "SELECT max(at_ms) FROM scans
             WHERE use_key = ?1 AND outcome = 'admit' AND direction = 'exit'",
        )?
        .query_row([key], |r| r.get(0))
        .optional()?
        .flatten();
    Ok(UseHistory {
        uses_total: u32::try_from(uses_total).unwrap_or(u32::MAX),
        admissions,
        last_exit: last_exit.and_then(DateTime::from_timestamp_millis),
    })
}

/// How many scans the log holds, and the oldest one's time (for status).
pub fn stats(conn: &Connection) -> replica::Result<(u64, Option<DateTime<Utc>>, u64)> {
    let (scans, oldest): (i64, Option<i64>) =
        conn.query_row("SELECT count(*), min(at_ms) FROM scans", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let tallies: i64 = conn.query_row("SELECT count(*) FROM scan_tallies", [], |r| r.get(0))?;
    Ok((
        scans as u64,
        oldest.and_then(DateTime::from_timestamp_millis),
        tallies as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::store::Store;

    fn scan(id: ScanId, key: &str, at_ms: i64) -> Write {
        Write::Scan {
            row: ScanRow {
                id,
                use_key: Some(key.into()),
                credential_kind: "ticket".into(),
                gate: "North".into(),
                direction: "entry".into(),
                outcome: "admit".into(),
                reason_code: "admitted".into(),
                party_requested: 1,
                party_admitted: 1,
                uses_burned: 1,
                at_ms,
                local_time: "2026-09-21T10:00:00".into(),
            },
            outbox: queued(
                crate::outbox::kinds::SCAN,
                serde_json::json!({"credential": key, "decision": "admit"}),
            ),
        }
    }

    /// An outbox row of `kind` with `payload`, read as this build's type of it.
    fn queued(kind: (&'static str, u32), payload: serde_json::Value) -> Queued {
        let row = crate::upstream::Upstream::decode(kind.0, kind.1, &payload).unwrap();
        Queued::new(&row, 0).unwrap()
    }

    fn annulment() -> Queued {
        queued(
            crate::outbox::kinds::SCAN_ANNULMENT,
            serde_json::json!({"scan_key": "k", "reason": "no_passage"}),
        )
    }

    fn count(store: &Store, sql: &str) -> i64 {
        store
            .reader()
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_scan_commits_with_its_outbox_row_and_a_refused_one_leaves_neither() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("device.db")).unwrap();
        let write = |w: Write| store.write_urgent(move |tx| apply(tx, &w));
        write(scan(1, "ticket:T1", 1_790_000_000_000)).unwrap();
        // The same row id again: the database refuses it, and its outbox row goes with it.
        assert!(write(scan(1, "ticket:T1", 1_790_000_000_000)).is_err());
        let annul = || Write::Annul {
            scan: 1,
            outbox: annulment(),
        };
        write(annul()).unwrap();
        // Annulled once: the second changes nothing and sends nothing.
        write(annul()).unwrap();
        assert_eq!(count(&store, "SELECT count(*) FROM scans"), 1);
        assert_eq!(count(&store, "SELECT annulled FROM scans WHERE id = 1"), 1);
        assert_eq!(count(&store, "SELECT count(*) FROM outbox"), 2);
        assert_eq!(next_id(&store.reader().unwrap()).unwrap(), 2);
    }

    #[test]
    fn history_counts_admissions_not_annulled_with_the_folded_tally() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("device.db")).unwrap();
        let now = DateTime::from_timestamp_millis(1_790_000_000_000).unwrap();
        let old = now - chrono::TimeDelta::days(5);
        for (id, at) in [(1, old), (2, now), (3, now)] {
            let w = scan(id, "ticket:T1", at.timestamp_millis());
            store.write_urgent(move |tx| apply(tx, &w)).unwrap();
        }
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO scan_tallies (use_key, uses_burned, last_at_ms) VALUES ('ticket:T1', 4, 0)",
                    [],
                )?;
                apply(
                    tx,
                    &Write::Annul {
                        scan: 3,
                        outbox: annulment(),
                    },
                )
            })
            .unwrap();
        let h = history(&store.reader().unwrap(), "ticket:T1", now).unwrap();
        assert_eq!(
            h.uses_total,
            4 + 2,
            "the tally and two admissions; the annulled one gives back"
        );
        assert_eq!(h.admissions.len(), 1, "only the recent one not annulled");
        assert_eq!(
            history(&store.reader().unwrap(), "ticket:T9", now).unwrap(),
            UseHistory::default()
        );
    }
}
