//! The station's memory of credential uses: the [`UseHistory`] each decision needs, kept in
//! memory so that
//! - a credential this gate has never recorded needs no scan-log query at all (the set of
//!   recorded use keys is loaded once, as 64-bit hashes);
//! - a credential seen before is answered from memory after its first lookup;
//! - a scan decided but not yet committed by the writer already counts for the next scan.
//!
//! The scan log in SQLite stays the record; this is a cache of it plus the writes still in
//! flight. An entry is only dropped once the writer has committed everything recorded into it,
//! so reloading it from the database gives the same answer.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, NaiveDateTime, Utc};

use super::facts::{PriorAdmission, UseHistory};
use super::passage::ScanId;
use super::policy::ScanDirection;

/// Use keys rewritten in a transaction not yet known to have committed.
static REWRITES_PENDING: AtomicBool = AtomicBool::new(false);
/// Bumped each time committed rewrites of use keys are published.
static REWRITES: AtomicU64 = AtomicU64::new(0);

/// Called inside a transaction that rewrites `scans.use_key` (a remapped local id).
pub fn rewrites_pending() {
    REWRITES_PENDING.store(true, Ordering::SeqCst);
}

/// Called after a transaction commits: publishes any rewrites it made, so a station reloads
/// its memory of uses before its next decision.
pub fn publish_rewrites() {
    if REWRITES_PENDING.swap(false, Ordering::SeqCst) {
        REWRITES.fetch_add(1, Ordering::SeqCst);
    }
}

/// How many times committed rewrites were published in this process.
pub fn rewrites() -> u64 {
    REWRITES.load(Ordering::SeqCst)
}

/// How far back admissions are kept for the per-day and anti-passback rules (two local days
/// cover any time zone).
pub const RECENT_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(2);

/// Entries kept before committed ones are dropped.
const DEFAULT_CAPACITY: usize = 50_000;

/// One admission of a credential, as the scan log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedUse {
    pub scan: ScanId,
    pub at: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub gate: String,
    pub direction: ScanDirection,
    /// People admitted.
    pub party: u32,
    /// Uses burned (0 for a re-entry, an exit or a member).
    pub burned: u32,
}

/// What the scan log holds for one use key: its lifetime burn and its recent admissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredHistory {
    pub uses_total: u32,
    /// Entry admissions within [`RECENT_WINDOW`], not annulled.
    pub recent: Vec<RecordedUse>,
    pub last_exit: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Entry {
    stored: StoredHistory,
    /// The writer sequence number of the last change recorded here (0: none since loading).
    last_write: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct UseLog {
    known: HashSet<u64>,
    entries: HashMap<String, Entry>,
    capacity: usize,
}

fn key_hash(key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

impl UseLog {
    /// A log over a scan log holding these use keys.
    pub fn new<'a>(recorded_keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self::with_capacity(recorded_keys, DEFAULT_CAPACITY)
    }

    pub fn with_capacity<'a>(
        recorded_keys: impl IntoIterator<Item = &'a str>,
        capacity: usize,
    ) -> Self {
        Self {
            known: recorded_keys.into_iter().map(key_hash).collect(),
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Use keys with an entry in memory.
    pub fn cached(&self) -> usize {
        self.entries.len()
    }

    /// The history of `key` at `now`. `load` reads the scan log; it is only called for a key the
    /// log holds and memory does not.
    pub fn history<E>(
        &mut self,
        key: &str,
        now: DateTime<Utc>,
        load: impl FnOnce() -> Result<StoredHistory, E>,
    ) -> Result<UseHistory, E> {
        let entry = self.entry(key, load)?;
        let since = now - RECENT_WINDOW;
        Ok(UseHistory {
            uses_total: entry.stored.uses_total,
            admissions: entry
                .stored
                .recent
                .iter()
                .filter(|u| u.direction == ScanDirection::Entry && u.at >= since)
                .map(|u| PriorAdmission {
                    at: u.at,
                    local: u.local,
                    gate: u.gate.clone(),
                    uses: u.party,
                })
                .collect(),
            last_exit: entry.stored.last_exit,
        })
    }

    fn entry<E>(
        &mut self,
        key: &str,
        load: impl FnOnce() -> Result<StoredHistory, E>,
    ) -> Result<&mut Entry, E> {
        if !self.entries.contains_key(key) {
            let stored = if self.known.contains(&key_hash(key)) {
                load()?
            } else {
                StoredHistory::default()
            };
            self.entries.insert(
                key.to_owned(),
                Entry {
                    stored,
                    last_write: 0,
                },
            );
        }
        // Just inserted when missing.
        Ok(self
            .entries
            .get_mut(key)
            .unwrap_or_else(|| unreachable!("entry inserted above")))
    }

    /// The key's history (loaded if needed), about to change by write `seq`: kept in memory
    /// until that write is committed.
    fn written<E>(
        &mut self,
        key: &str,
        seq: u64,
        load: impl FnOnce() -> Result<StoredHistory, E>,
    ) -> Result<&mut StoredHistory, E> {
        let entry = self.entry(key, load)?;
        entry.last_write = seq;
        Ok(&mut entry.stored)
    }

    /// An admission decided at this gate, handed to the writer as write `seq`. The key's
    /// history must have been read (with [`UseLog::history`]) for this scan.
    pub fn record<E>(
        &mut self,
        key: &str,
        recorded: RecordedUse,
        seq: u64,
        load: impl FnOnce() -> Result<StoredHistory, E>,
    ) -> Result<(), E> {
        let s = self.written(key, seq, load)?;
        s.uses_total = s.uses_total.saturating_add(recorded.burned);
        match recorded.direction {
            ScanDirection::Exit => {
                s.last_exit = Some(s.last_exit.map_or(recorded.at, |e| e.max(recorded.at)));
            }
            ScanDirection::Entry => {
                let since = recorded.at - RECENT_WINDOW;
                s.recent.retain(|u| u.at >= since);
                s.recent.push(recorded);
            }
        }
        self.known.insert(key_hash(key));
        Ok(())
    }

    /// A use given back (nobody went through): the admission no longer counts.
    pub fn annul<E>(
        &mut self,
        key: &str,
        scan: ScanId,
        seq: u64,
        load: impl FnOnce() -> Result<StoredHistory, E>,
    ) -> Result<(), E> {
        let s = self.written(key, seq, load)?;
        if let Some(i) = s.recent.iter().position(|u| u.scan == scan) {
            let gone = s.recent.remove(i);
            s.uses_total = s.uses_total.saturating_sub(gone.burned);
        }
        Ok(())
    }

    /// The number of people an admission let in changed (staff confirmed the party size, or a
    /// guest did not go through).
    pub fn set_party<E>(
        &mut self,
        key: &str,
        scan: ScanId,
        party: u32,
        seq: u64,
        load: impl FnOnce() -> Result<StoredHistory, E>,
    ) -> Result<(), E> {
        let s = self.written(key, seq, load)?;
        if let Some(u) = s.recent.iter_mut().find(|u| u.scan == scan) {
            u.party = party;
        }
        Ok(())
    }

    /// Drops entries whose writes are all committed (`committed`: the writer's last committed
    /// sequence number) once more than the capacity are held.
    pub fn trim(&mut self, committed: u64) {
        if self.entries.len() > self.capacity {
            self.entries.retain(|_, e| e.last_write > committed);
        }
    }

    /// Forgets every entry and takes a fresh set of recorded keys (after use keys were
    /// rewritten in the scan log). Call only when every write is committed.
    pub fn reset<'a>(&mut self, recorded_keys: impl IntoIterator<Item = &'a str>) {
        self.entries.clear();
        self.known = recorded_keys.into_iter().map(key_hash).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Never = std::convert::Infallible;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + min * 60, 0).expect("valid")
    }

    fn admission(scan: ScanId, min: i64, burned: u32) -> RecordedUse {
        RecordedUse {
            scan,
            at: at(min),
            local: at(min).naive_utc(),
            gate: "North".into(),
            direction: ScanDirection::Entry,
            party: 1,
            burned,
        }
    }

    fn never_loaded() -> Result<StoredHistory, Never> {
        panic!("the scan log was read for a key it does not hold")
    }

    #[test]
    fn a_key_the_log_never_recorded_is_not_looked_up() {
        let mut log = UseLog::new(["ticket:a"]);
        let h = log
            .history("ticket:b", at(0), never_loaded)
            .expect("no load");
        assert_eq!(h, UseHistory::default());
    }

    #[test]
    fn a_recorded_key_is_loaded_once_then_served_from_memory() {
        let mut log = UseLog::new(["ticket:a"]);
        let mut loads = 0;
        for _ in 0..3 {
            let h = log
                .history("ticket:a", at(10), || {
                    loads += 1;
                    Ok::<_, Never>(StoredHistory {
                        uses_total: 1,
                        recent: vec![admission(7, 0, 1)],
                        last_exit: None,
                    })
                })
                .expect("loads");
            assert_eq!(h.uses_total, 1);
            assert_eq!(h.admissions.len(), 1);
        }
        assert_eq!(loads, 1);
    }

    #[test]
    fn an_uncommitted_admission_counts_for_the_next_scan() {
        let mut log = UseLog::new(std::iter::empty());
        log.history("ticket:a", at(0), never_loaded).expect("empty");
        log.record("ticket:a", admission(1, 0, 1), 1, never_loaded)
            .expect("recorded");
        let h = log
            .history("ticket:a", at(1), never_loaded)
            .expect("cached");
        assert_eq!(h.uses_total, 1);
        assert_eq!(h.last_admission().map(|a| a.at), Some(at(0)));
    }

    #[test]
    fn an_annulled_admission_gives_its_use_back() {
        let mut log = UseLog::new(std::iter::empty());
        log.record("ticket:a", admission(1, 0, 1), 1, never_loaded)
            .expect("recorded");
        log.annul("ticket:a", 1, 2, never_loaded).expect("annulled");
        let h = log
            .history("ticket:a", at(1), never_loaded)
            .expect("cached");
        assert_eq!(h.uses_total, 0);
        assert!(h.admissions.is_empty());
    }

    #[test]
    fn admissions_older_than_the_window_are_not_reported() {
        let mut log = UseLog::new(std::iter::empty());
        log.record("ticket:a", admission(1, 0, 1), 1, never_loaded)
            .expect("recorded");
        let later = at(0) + RECENT_WINDOW + chrono::TimeDelta::minutes(1);
        let h = log
            .history("ticket:a", later, never_loaded)
            .expect("cached");
        assert!(h.admissions.is_empty());
        assert_eq!(h.uses_total, 1, "the lifetime count keeps the burn");
    }

    #[test]
    fn only_committed_entries_are_dropped_when_over_capacity() {
        let mut log = UseLog::with_capacity(std::iter::empty(), 1);
        log.record("ticket:a", admission(1, 0, 1), 1, never_loaded)
            .expect("recorded");
        log.record("ticket:b", admission(2, 0, 1), 2, never_loaded)
            .expect("recorded");
        log.trim(1);
        assert_eq!(log.cached(), 1, "b's write is still in flight");
        // a is gone from memory, but the log knows it holds it: it is loaded again.
        let mut loaded = false;
        log.history("ticket:a", at(1), || {
            loaded = true;
            Ok::<_, Never>(StoredHistory::default())
        })
        .expect("reloaded");
        assert!(loaded);
    }
}
