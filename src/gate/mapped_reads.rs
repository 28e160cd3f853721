//! When the station reads the database file through a memory map.
//!
//! A lookup's leaf page is read where it lies in the page cache rather than copied in by a
//! `pread` per page: in alternated runs of the scan benchmark, decision p50 34–37 µs against
//! 48–54 µs and p99 88–119 µs against 138–209 µs. But a mapped page that is not in memory is
//! read by a page fault, which reads ahead around it and holds up the lookup far longer than a
//! `pread` of the one page: with the file just evicted (as after a reboot) the benchmark's
//! decision p99 was 18 ms mapped against 1 ms with `pread`. So the station maps the file only
//! once (almost) all of it is in the page cache — at once when it opens on a resident file,
//! otherwise as soon as the device's start-up read has brought it in — and reads with `pread`
//! until then. A device whose memory cannot hold the file never maps it.
//!
//! The price of mapping: a disk error while reading a mapped page stops the process
//! (`SIGBUS`; systemd starts it again) where a `pread` would have failed the one lookup.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rusqlite::Connection;

use crate::replica::residency::{self, Residency};

/// How much of the file the station maps: all of it up to SQLite's own ceiling (just under
/// 2 GiB) on a 64-bit device, a quarter of a 32-bit one's address space otherwise.
pub const MMAP_BYTES: i64 = if cfg!(target_pointer_width = "64") {
    0x7fff_0000
} else {
    1 << 30
};

/// How much of the file must be in the page cache before it is mapped, percent.
pub const RESIDENT_PERCENT: f64 = 95.0;

/// How often a station that does not map yet looks at the file's residency again.
const POLL: Duration = Duration::from_secs(2);

/// Whether a file this resident is worth mapping. Pure.
pub fn worth_mapping(r: Residency) -> bool {
    r.percent() >= RESIDENT_PERCENT
}

/// The station's side: whether its connection maps the file yet, and the flag a watcher
/// thread raises when it should.
pub struct MappedReads {
    ready: Arc<AtomicBool>,
    mapped: bool,
}

impl MappedReads {
    /// Looks at the file at `db` now; if it is not resident enough, a background thread looks
    /// again every [`POLL`] until it is, or until the station is dropped.
    pub fn watch(db: &Path) -> Self {
        let ready = Arc::new(AtomicBool::new(resident_enough(db)));
        if !ready.load(Ordering::Relaxed) {
            spawn_watcher(db.to_owned(), Arc::downgrade(&ready));
        }
        Self {
            ready,
            mapped: false,
        }
    }

    /// Whether the connection reads through the map.
    pub fn mapped(&self) -> bool {
        self.mapped
    }

    /// Turns the map on for `conn` once the file is resident. Call it between transactions;
    /// it costs one atomic load once done or while waiting. A connection that refuses the map
    /// goes on reading with `pread` (a scan never fails for it).
    pub fn apply(&mut self, conn: &Connection) {
        if self.mapped || !self.ready.load(Ordering::Relaxed) {
            return;
        }
        match conn.pragma_update(None, "mmap_size", MMAP_BYTES) {
            Ok(()) => {
                self.mapped = true;
                tracing::info!(
                    map_mib = MMAP_BYTES >> 20,
                    "database file in memory; lookups read it through a memory map"
                );
            }
            Err(e) => {
                // Not asked again: the flag stays down.
                self.ready.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, "cannot map the database file; lookups use pread");
            }
        }
    }
}

fn resident_enough(db: &Path) -> bool {
    match residency::resident(db) {
        Ok(r) => worth_mapping(r),
        Err(e) => {
            tracing::debug!(error = %e, "database residency unknown; lookups use pread");
            false
        }
    }
}

fn spawn_watcher(db: PathBuf, ready: Weak<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("map-when-resident".into())
        .spawn(move || {
            loop {
                std::thread::sleep(POLL);
                // The station is gone: nothing to tell.
                let Some(flag) = ready.upgrade() else { return };
                if resident_enough(&db) {
                    flag.store(true, Ordering::Relaxed);
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot watch the database's residency; lookups use pread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_mapped_only_once_almost_all_of_it_is_in_memory() {
        let mib = 1 << 20;
        let cases = [
            // (file, resident, mapped)
            (100 * mib, 0, false),
            (100 * mib, 50 * mib, false),
            (100 * mib, 94 * mib, false),
            (100 * mib, 95 * mib, true),
            (100 * mib, 100 * mib, true),
            // An empty file has nothing to wait for.
            (0, 0, true),
        ];
        for (file_bytes, resident_bytes, want) in cases {
            let r = Residency {
                file_bytes,
                resident_bytes,
            };
            assert_eq!(worth_mapping(r), want, "{r:?}");
        }
    }

    #[test]
    fn a_resident_file_is_mapped_at_the_first_transaction_and_a_missing_one_never() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.db");
        let conn = crate::replica::open(&db).unwrap();
        let mmap = |conn: &Connection| -> i64 {
            conn.pragma_query_value(None, "mmap_size", |r| r.get(0))
                .unwrap()
        };
        // Just written, so all in the page cache.
        let mut reads = MappedReads::watch(&db);
        assert!(!reads.mapped());
        assert_eq!(mmap(&conn), 0);
        reads.apply(&conn);
        assert!(reads.mapped());
        assert_eq!(mmap(&conn), MMAP_BYTES);

        let other = crate::replica::open(&dir.path().join("other.db")).unwrap();
        let mut reads = MappedReads::watch(&dir.path().join("missing.db"));
        reads.apply(&other);
        assert!(!reads.mapped());
        assert_eq!(mmap(&other), 0);
    }
}
