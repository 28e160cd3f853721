//! Scan-log retention: how long a gate keeps each scan, and what it keeps of the older ones.
//!
//! A gate answers every scan from its scan log. Left alone the log grows by every visitor of
//! every day, and so would every lookup of a much-used credential. So scans older than
//! `gate.scan_log_retention` (30 days unless configured) are *folded*: the uses an old admission
//! burned are added to its credential's row in `scan_tallies`, and the scan row is deleted, in
//! one transaction. A decision reads a credential's lifetime burn as its tally plus its scans,
//! so folding changes no decision:
//! - the per-day limit, re-entry and anti-passback rules read only the last
//!   [`RECENT_WINDOW`](super::scan_log::RECENT_WINDOW) (two days) of admissions and exits, and the
//!   retention is never shorter than [`MIN_RETENTION`];
//! - a ticket's lifetime uses are the tally plus what is left in the log;
//! - a ticket whose day or time slot ended before the cutoff can never be admitted again (it is
//!   refused as expired or outside its slot before its uses are counted), so its uses need no
//!   tally at all; only open-dated tickets, offline-signed ones (whose validity the replica does
//!   not hold) and credentials the replica no longer knows keep one.
//!
//! Never folded: a scan whose own outbox row has not been delivered (a gate offline for a month
//! keeps every scan until the hub has it; a dead-lettered one stays beside its dead letter), and
//! the scan with the highest id (it carries the id sequence, so a scan id is never handed out
//! twice).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{Connection, params};

use crate::domain::TicketValidity;
use crate::replica::{self, Store};

/// How long scans are kept by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The shortest retention a gate accepts: the two days of recent admissions a decision reads,
/// plus the longest time-slot tolerance (one day).
pub const MIN_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);
/// The longest retention a gate accepts: ten years, of 365.25 days as `humantime` counts
/// them (so a problem report says "10years").
pub const MAX_RETENTION: Duration = Duration::from_secs(10 * 31_557_600);

/// Scans examined per writer job, so the fold never holds the writer for long: a gate's scan
/// that arrives meanwhile waits for one batch (a few milliseconds).
pub const BATCH: usize = 100;

/// Scans recorded before this moment may be folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoff {
    pub at: DateTime<Utc>,
    /// The same moment in the venue's local time (ticket days and slots are local).
    pub local: NaiveDateTime,
}

impl Cutoff {
    /// The cutoff `keep` before `now`; `to_local` gives the venue's local time of an instant.
    pub fn before(
        now: DateTime<Utc>,
        keep: Duration,
        to_local: impl Fn(DateTime<Utc>) -> NaiveDateTime,
    ) -> Self {
        let keep = chrono::TimeDelta::from_std(keep).unwrap_or(chrono::TimeDelta::MAX);
        let at = now
            .checked_sub_signed(keep)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Self {
            at,
            local: to_local(at),
        }
    }
}

/// Whether a ticket with this validity is refused, whatever its uses, by every scan after
/// `cutoff` + [`MIN_RETENTION`]: its day is before the cutoff's day, or its slot ended before
/// the cutoff (a slot's tolerance after its end is at most a day). Open tickets never are.
pub fn validity_spent(validity: &TicketValidity, cutoff: NaiveDateTime) -> bool {
    match validity {
        TicketValidity::Open => false,
        TicketValidity::Date { date } => *date < cutoff.date(),
        TicketValidity::Slot { end, .. } => *end < cutoff,
    }
}

/// What one compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compaction {
    /// Scan rows folded and deleted.
    pub folded: u64,
    /// Tally rows written or increased.
    pub tallied: u64,
    /// Credentials whose folded uses needed no tally (their validity is spent).
    pub spent: u64,
    /// Old scans kept because their outbox row has not been delivered.
    pub kept_unsent: u64,
    /// The fold stopped at its limit with older scans still to look at.
    pub more: bool,
}

/// One old scan as the fold reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OldScan {
    id: i64,
    use_key: Option<String>,
    /// An admission not annulled.
    counted: bool,
    burned: u32,
    at_ms: i64,
    unsent: bool,
}

/// Folds the scans older than `cutoff` (see the module documentation), [`BATCH`] scans per
/// writer job, stopping once it has folded `limit` (so a first fold of a long log is spread
/// over several calls: [`Compaction::more`] says another is due).
pub fn compact(store: &Store, cutoff: Cutoff, limit: usize) -> replica::Result<Compaction> {
    let mut done = Compaction::default();
    let mut after = 0_i64;
    loop {
        let (batch, last, finished) = store.write(move |tx| fold_batch(tx, cutoff, after))?;
        after = last;
        done.folded += batch.folded;
        done.tallied += batch.tallied;
        done.spent += batch.spent;
        done.kept_unsent += batch.kept_unsent;
        if finished {
            return Ok(done);
        }
        // Scans kept for the hub do not count: a gate offline for weeks must not make every
        // call stop at the same unsent scans.
        if done.folded >= limit as u64 {
            done.more = true;
            return Ok(done);
        }
    }
}

/// One batch of the fold, in the writer's transaction: the scans after id `after`. Returns
/// what it did, the last id it looked at, and whether the fold is finished.
fn fold_batch(
    tx: &Connection,
    cutoff: Cutoff,
    after: i64,
) -> replica::Result<(Compaction, i64, bool)> {
    let mut done = Compaction::default();
    let cutoff_ms = cutoff.at.timestamp_millis();
    let rows = tx
        .prepare_cached(
            "SELECT s.id, s.use_key, s.outcome = 'admit' AND s.annulled = 0, s.uses_burned,
                    s.at_ms,
                    EXISTS (SELECT 1 FROM outbox o
                            WHERE o.idempotency_key = s.outbox_key AND o.state <> 'delivered')
             FROM scans s
             WHERE s.id > ?1 AND s.id < (SELECT max(id) FROM scans)
             ORDER BY s.id LIMIT ?2",
        )?
        .query_map(params![after, BATCH as i64], |r| {
            Ok(OldScan {
                id: r.get(0)?,
                use_key: r.get(1)?,
                counted: r.get(2)?,
                burned: r.get(3)?,
                at_ms: r.get(4)?,
                unsent: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let read = rows.len();
    // The log is in time order: the first scan inside the retention ends the fold.
    let old: Vec<_> = rows
        .into_iter()
        .take_while(|s| s.at_ms < cutoff_ms)
        .collect();
    let reached_kept = old.len() < read;
    let last = old.last().map_or(after, |s| s.id);
    let mut tallies: BTreeMap<&str, (u32, i64)> = BTreeMap::new();
    for scan in &old {
        if scan.unsent {
            done.kept_unsent += 1;
            continue;
        }
        if let (true, Some(key), 1..) = (scan.counted, scan.use_key.as_deref(), scan.burned) {
            let t = tallies.entry(key).or_default();
            t.0 = t.0.saturating_add(scan.burned);
            t.1 = t.1.max(scan.at_ms);
        }
        tx.prepare_cached("DELETE FROM scans WHERE id = ?1")?
            .execute([scan.id])?;
        done.folded += 1;
    }
    for (key, (burned, last_at_ms)) in tallies {
        if spent(tx, key, cutoff.local)? {
            tx.prepare_cached("DELETE FROM scan_tallies WHERE use_key = ?1")?
                .execute([key])?;
            done.spent += 1;
        } else {
            tx.prepare_cached(
                "INSERT INTO scan_tallies (use_key, uses_burned, last_at_ms)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (use_key) DO UPDATE SET
                     uses_burned = uses_burned + excluded.uses_burned,
                     last_at_ms = max(last_at_ms, excluded.last_at_ms)",
            )?
            .execute(params![key, burned, last_at_ms])?;
            done.tallied += 1;
        }
    }
    Ok((done, last, reached_kept || read < BATCH))
}

/// Whether the credential behind `use_key` is a replica ticket whose validity is spent.
fn spent(conn: &Connection, use_key: &str, cutoff: NaiveDateTime) -> rusqlite::Result<bool> {
    let Some(secret) = use_key.strip_prefix("ticket:") else {
        return Ok(false);
    };
    match replica::ticket(conn, secret) {
        Ok(Some(ticket)) => Ok(validity_spent(&ticket.validity, cutoff)),
        Ok(None) => Ok(false),
        Err(replica::ReplicaError::Sqlite(e)) => Err(e),
        // A row the replica cannot read is no proof of anything: keep the tally.
        Err(_) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use rusqlite::OptionalExtension;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    #[test]
    fn a_ticket_is_spent_once_its_day_or_slot_ended_before_the_cutoff() {
        let cutoff = at("2026-10-20T09:00");
        let day = |d: &str| TicketValidity::Date {
            date: NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap(),
        };
        let slot = |s: &str, e: &str| TicketValidity::Slot {
            start: at(s),
            end: at(e),
        };
        let cases = [
            (TicketValidity::Open, false, "open tickets are never spent"),
            (day("2026-10-19"), true, "the day before the cutoff's day"),
            (day("2026-10-20"), false, "the cutoff's own day is not over"),
            (day("2026-11-01"), false, "a day after the cutoff"),
            (
                slot("2026-10-20T07:00", "2026-10-20T08:59"),
                true,
                "slot ended before",
            ),
            (
                slot("2026-10-20T08:00", "2026-10-20T09:00"),
                false,
                "slot ends at the cutoff",
            ),
            (
                slot("2026-10-21T08:00", "2026-10-21T09:00"),
                false,
                "slot after the cutoff",
            ),
        ];
        for (validity, spent, why) in cases {
            assert_eq!(
                validity_spent(&validity, cutoff),
                spent,
                "{why}: {validity:?}"
            );
        }
    }

    /// A scan log of `n` scans, one a minute from `start_ms`, cycling over four credentials:
    /// an open ticket admitted (one use), the same ticket's admission annulled, a member's
    /// admission, a denial. Every scan's outbox row is delivered except those in `unsent`.
    fn log(n: i64, start_ms: i64, unsent: &[i64]) -> (tempfile::TempDir, Store, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gate.db");
        let store = Store::open(&path).unwrap();
        let conn = replica::open(&path).unwrap();
        for id in 1..=n {
            let (key, outcome, annulled, burned) = match id % 4 {
                0 => ("ticket:OPEN", "admit", 0, 1),
                1 => ("ticket:OPEN", "admit", 1, 1),
                2 => ("membership:M1", "admit", 0, 0),
                _ => ("ticket:OPEN", "deny", 0, 0),
            };
            conn.execute(
                "INSERT INTO scans (id, use_key, credential_kind, gate, direction, outcome,
                 reason_code, party_requested, party_admitted, uses_burned, at_ms, local_time,
                 annulled, outbox_key)
                 VALUES (?1, ?2, 'ticket', 'North', 'entry', ?3, 'x', 1, 1, ?4, ?5,
                         '2026-01-01T00:00:00', ?6, 'key-' || ?1)",
                params![id, key, outcome, burned, start_ms + id * 60_000, annulled],
            )
            .unwrap();
            let state = if unsent.contains(&id) {
                "pending"
            } else {
                "delivered"
            };
            conn.execute(
                "INSERT INTO outbox (kind, version, payload, idempotency_key, created_at,
                 next_attempt_at, state) VALUES ('scan', 1, '{}', 'key-' || ?1, 0, 0, ?2)",
                params![id, state],
            )
            .unwrap();
        }
        (dir, store, conn)
    }

    fn cutoff_ms(ms: i64) -> Cutoff {
        let at = DateTime::from_timestamp_millis(ms).unwrap();
        Cutoff {
            at,
            local: at.naive_utc(),
        }
    }

    #[test]
    fn a_long_log_is_folded_in_batches_into_the_same_totals() {
        let n = (BATCH as i64) * 2 + 517;
        let (_dir, store, conn) = log(n, 0, &[7]);
        let counted = |conn: &Connection| -> i64 {
            conn.query_row(
                "SELECT coalesce(sum(uses_burned), 0) FROM scans
                 WHERE use_key = 'ticket:OPEN' AND outcome = 'admit' AND annulled = 0",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        let tally = |conn: &Connection, key: &str| -> Option<i64> {
            conn.query_row(
                "SELECT uses_burned FROM scan_tallies WHERE use_key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .unwrap()
        };
        let before = counted(&conn);
        // Everything up to the last 100 minutes is older than the cutoff.
        let done = compact(&store, cutoff_ms((n - 100) * 60_000), usize::MAX).unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM scans", [], |r| r.get(0))
            .unwrap();
        // Scans 1..n-101 are old; scan 7 waits for the hub.
        assert_eq!(done.kept_unsent, 1);
        assert_eq!(done.folded, (n - 101 - 1) as u64);
        assert!(!done.more);
        assert_eq!(left, n - done.folded as i64);
        let open_tally = tally(&conn, "ticket:OPEN").expect("a tally for the open ticket");
        assert_eq!(
            open_tally + counted(&conn),
            before,
            "the ticket's lifetime uses"
        );
        assert_eq!(
            tally(&conn, "membership:M1"),
            None,
            "a member burns no uses"
        );
        // Once the rest are old too, all but the newest go; the totals still add up.
        let again = compact(&store, cutoff_ms((n + 10) * 60_000), usize::MAX).unwrap();
        assert_eq!(again.folded, 100);
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM scans ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(ids, [7, n]);
        let open_tally = tally(&conn, "ticket:OPEN").expect("a tally for the open ticket");
        assert_eq!(open_tally + counted(&conn), before);
    }

    #[test]
    fn a_fold_stops_at_its_limit_and_the_next_call_goes_on() {
        let n = (BATCH as i64) * 5;
        // The first three batches' worth wait for the hub: they neither fold nor count.
        let unsent: Vec<i64> = (1..=3 * BATCH as i64).collect();
        let (_dir, store, conn) = log(n, 0, &unsent);
        let cutoff = cutoff_ms((n + 10) * 60_000);
        // Each call's folded count, calling again while the fold says there is more.
        let calls = |store: &Store| -> Vec<u64> {
            let mut calls = Vec::new();
            loop {
                let done = compact(store, cutoff, 2 * BATCH).unwrap();
                calls.push(done.folded);
                if !done.more {
                    return calls;
                }
            }
        };
        // Past the unsent ones, one call folds the rest (all but the newest scan): fewer than
        // its limit, since the unsent scans did not count.
        let b = BATCH as u64;
        assert_eq!(calls(&store), [2 * b - 1]);
        let left: i64 = conn
            .query_row("SELECT count(*) FROM scans", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 3 * BATCH as i64 + 1);
        // Without unsent scans, two batches a call.
        let (_dir, store, _conn) = log(n, 0, &[]);
        assert_eq!(calls(&store), [2 * b, 2 * b, b - 1]);
    }

    #[test]
    fn an_empty_scan_log_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("kiosk.db")).unwrap();
        let done = compact(&store, cutoff_ms(1_000), usize::MAX).unwrap();
        assert_eq!(done, Compaction::default());
    }

    #[test]
    fn the_cutoff_is_the_retention_before_now_in_both_clocks() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .unwrap()
            .to_utc();
        let c = Cutoff::before(now, MIN_RETENTION, |t| {
            t.naive_utc() + chrono::TimeDelta::hours(1)
        });
        assert_eq!(c.at.to_rfc3339(), "2026-11-19T12:00:00+00:00");
        assert_eq!(c.local, at("2026-11-19T13:00"));
        // A retention beyond the calendar saturates instead of panicking.
        let far = Cutoff::before(now, Duration::MAX, |t| t.naive_utc());
        assert_eq!(far.at, DateTime::<Utc>::MIN_UTC);
    }
}
