//! `portico bench scan`: gate decisions on a large replica.
//!
//! (a) decision latency, credential in → decision made and relay commanded, alone and while a
//! 10,000-change delta is being applied; (b) durability latency, credential in → scan and outbox
//! row durable (synced in the gate's scan journal, from which the writer commits them into the
//! scan log with `synchronous=FULL`), beside this disk's own fsync latency measured in the same
//! run; (c) sustained durable throughput; (d) the hourly scan-log fold beside a scanning
//! gate; (e) the first scans after a reboot (the database's files out of the page cache), with
//! and without the device's start-up read of the file.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::domain::{MembershipStatus, TicketStatus};
use crate::gate::RawGateSection;
use crate::gate::retention;
use crate::gate::station::Station;
use crate::hub::seed;
use crate::input::credential::{Credential, CredentialKind};
use crate::normalize::Normalizer;
use crate::protocol::{Change, MembershipDto, TicketDto, ValidityDto};
use crate::replica::residency::{self, Warmed};
use crate::replica::{self, Applier};

pub struct ScanBenchOptions {
    pub constituents: usize,
    pub tickets: usize,
    pub scans: usize,
    pub dir: Option<std::path::PathBuf>,
    /// Measure this replica (built by an earlier run with `--dir`) instead of building one.
    /// Its scan log and outbox are emptied first, so runs compare.
    pub replica: Option<std::path::PathBuf>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

/// Scans timed after each simulated reboot.
const REBOOT_SCANS: usize = 1_000;

/// When the device's start-up read of its database runs, in the after-a-reboot phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartUpRead {
    None,
    Beside,
    Before,
}

/// The ratio of two [`summary`]s' p99s (the first over the second).
fn p99_ratio(a: &serde_json::Value, b: &serde_json::Value) -> f64 {
    a["p99_us"].as_f64().unwrap_or(0.0) / b["p99_us"].as_f64().unwrap_or(1.0).max(1e-9)
}

fn summary(mut v: Vec<Duration>) -> serde_json::Value {
    v.sort();
    json!({ "n": v.len(), "p50_us": percentile(&v, 0.50), "p99_us": percentile(&v, 0.99), "max_us": percentile(&v, 1.0) })
}

fn membership_id(i: usize) -> String {
    format!("M{:07}", 1_000_000 + i)
}

/// Writes the replica directly (the sync path is measured by `bench sync`).
fn build_replica(path: &Path, constituents: usize, tickets: usize, today: NaiveDate) -> Result<()> {
    let mut conn = replica::open(path)?;
    let applier = Applier::new(Normalizer::default());
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    const BATCH: usize = 50_000;
    let mut i = 0;
    while i < constituents {
        let end = (i + BATCH).min(constituents);
        let tx = conn.transaction()?;
        let people: Vec<_> = (i..end)
            .map(|k| {
                let c = seed::constituent(&mut rng, k, today);
                Change::Upsert {
                    key: c.lookup_id.clone(),
                    data: c,
                    changed: None,
                }
            })
            .collect();
        applier.constituents(&tx, &people)?;
        let memberships: Vec<_> = (i..end)
            .map(|k| {
                let expiry = today + chrono::Duration::days(rng.random_range(-60..300));
                let m = MembershipDto {
                    membership_id: membership_id(k),
                    level: "Family".into(),
                    status: if expiry < today {
                        MembershipStatus::Lapsed
                    } else {
                        MembershipStatus::Active
                    },
                    start: expiry - chrono::Duration::days(365),
                    expiry,
                    members: vec![seed::lookup_id(k)],
                    guest_allowance: 2,
                };
                Change::Upsert {
                    key: m.membership_id.clone(),
                    data: m,
                    changed: None,
                }
            })
            .collect();
        applier.memberships(&tx, &memberships)?;
        tx.commit()?;
        i = end;
    }
    let mut t = 0;
    while t < tickets {
        let end = (t + BATCH).min(tickets);
        let tx = conn.transaction()?;
        let batch: Vec<_> = (t..end)
            .map(|_| {
                let ticket = TicketDto {
                    secret: seed::ticket_secret(&mut rng),
                    product_id: "p-adult".into(),
                    validity: ValidityDto::Date { date: today },
                    uses_allowed: 1,
                    status: TicketStatus::Valid,
                    holder: None,
                };
                Change::Upsert {
                    key: ticket.secret.clone(),
                    data: ticket,
                    changed: None,
                }
            })
            .collect();
        applier.tickets(&tx, &batch)?;
        tx.commit()?;
        t = end;
    }
    Ok(())
}

/// Credentials the bench scans: membership IDs and ticket secrets spread over the replica.
struct Sampled {
    memberships: Vec<String>,
    secrets: Vec<String>,
}

fn sample_credentials(conn: &rusqlite::Connection) -> Result<Sampled> {
    // Up to 200,000 keys spread evenly over the whole table, so the scans touch every part
    // of its b-tree.
    let column = |table: &str, key: &str| -> Result<Vec<String>> {
        let count: i64 =
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        let every = usize::try_from(count / 200_000).unwrap_or(0).max(1);
        let mut stmt = conn.prepare(&format!("SELECT {key} FROM {table}"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut keys = Vec::with_capacity(200_000);
        for (i, row) in rows.enumerate() {
            let row = row?;
            if i % every == 0 && keys.len() < 200_000 {
                keys.push(row);
            }
        }
        Ok(keys)
    };
    Ok(Sampled {
        memberships: column("memberships", "membership_id")?,
        secrets: column("tickets", "secret")?,
    })
}

/// The disk's own durable-write latency: a 4 KiB overwrite and fdatasync, as a commit needs,
/// in a file beside the database. Probes are taken between the scans, so both see the same
/// moments of this (shared, noisy) machine.
struct FsyncProbe {
    file: std::fs::File,
    path: std::path::PathBuf,
    next: u64,
}

impl FsyncProbe {
    const BLOCKS: u64 = 64;

    fn create(dir: &Path) -> Result<Self> {
        use std::os::unix::fs::FileExt;
        let path = dir.join("fsync-probe");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        // Allocated and written once, so probes overwrite like the WAL does.
        file.write_all_at(&vec![0u8; (Self::BLOCKS * 4096) as usize], 0)?;
        file.sync_all()?;
        Ok(Self {
            file,
            path,
            next: 0,
        })
    }

    fn probe(&mut self) -> Result<Duration> {
        use std::os::unix::fs::FileExt;
        let block = [0x5au8; 4096];
        let t = Instant::now();
        self.file
            .write_all_at(&block, (self.next % Self::BLOCKS) * 4096)?;
        self.file.sync_data()?;
        self.next += 1;
        Ok(t.elapsed())
    }
}

impl Drop for FsyncProbe {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The scan journal's own write on this disk, with nothing to record: a 4 KiB synchronous
/// (`O_DSYNC`, direct where the file system allows) overwrite, in a journal of its own beside
/// the database. The second reference for durability: what the disk charges for the write the
/// gate makes, where [`FsyncProbe`] is what it charges for an overwrite and `fdatasync`.
struct JournalProbe {
    journal: crate::gate::scan_journal::ScanJournal,
    path: std::path::PathBuf,
    seq: u64,
}

impl JournalProbe {
    fn create(dir: &Path) -> Result<Self> {
        let path = dir.join("journal-probe");
        let _ = std::fs::remove_file(&path);
        let (mut journal, records) = crate::gate::scan_journal::ScanJournal::open(&path)?;
        journal.prepare(&records)?;
        Ok(Self {
            journal,
            path,
            seq: 0,
        })
    }

    fn probe(&mut self) -> Result<Duration> {
        self.seq += 1;
        let t = Instant::now();
        self.journal.append(self.seq, b"", self.seq - 1)?;
        Ok(t.elapsed())
    }
}

impl Drop for JournalProbe {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// SQLite's own floor on this disk: a one-row insert into an empty table of a small database
/// beside the replica, opened as the device opens its database (WAL, `synchronous=FULL`, the
/// WAL write buffer, a background checkpointer), committed `n` times, each followed by a disk
/// probe. Returns (commit, probe) latencies.
fn sqlite_commit_floor(dir: &Path, n: usize) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let path = dir.join("floor.db");
    let remove = || {
        for file in replica::database_files(&path) {
            let _ = std::fs::remove_file(file);
        }
    };
    remove();
    let mut conn = replica::open(&path)?;
    conn.execute_batch("CREATE TABLE one_row (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")?;
    let checkpointer = replica::Checkpointer::spawn(&path)?;
    let mut probe = FsyncProbe::create(dir)?;
    let (mut commits, mut probes) = (Vec::with_capacity(n), Vec::with_capacity(n));
    // As for the scans: a warm-up first, untimed.
    for i in 0..(n + 2_000) {
        let t = Instant::now();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.prepare_cached("INSERT INTO one_row (id, v) VALUES (?1, zeroblob(200))")?
            .execute([i as i64])?;
        tx.commit()?;
        let commit = t.elapsed();
        let disk = probe.probe()?;
        if i >= 2_000 {
            commits.push(commit);
            probes.push(disk);
        }
    }
    drop(probe);
    drop(checkpointer);
    drop(conn);
    remove();
    Ok((commits, probes))
}

pub fn run(opts: ScanBenchOptions) -> Result<serde_json::Value> {
    let tmp;
    let dir = match opts.dir.clone() {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("portico-bench-scan")
                .tempdir()?;
            tmp.path().to_owned()
        }
    };
    let today = Utc::now().date_naive();
    let (db, credentials) = match &opts.replica {
        Some(existing) => {
            let conn = replica::open(existing)?;
            conn.execute_batch(
                "DROP TABLE IF EXISTS scans; DROP TABLE IF EXISTS scan_tallies; DELETE FROM outbox;
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )?;
            (existing.clone(), sample_credentials(&conn)?)
        }
        None => {
            let db = dir.join("portico.db");
            for file in replica::database_files(&db) {
                let _ = std::fs::remove_file(file);
            }
            eprintln!(
                "building a replica of {} constituents, {} memberships, {} tickets…",
                opts.constituents, opts.constituents, opts.tickets
            );
            let t = Instant::now();
            build_replica(&db, opts.constituents, opts.tickets, today)?;
            eprintln!("built in {:.0}s", t.elapsed().as_secs_f64());
            let credentials = sample_credentials(&replica::open(&db)?)?;
            (db, credentials)
        }
    };
    let constituents: usize = replica::open(&db)?
        .query_row("SELECT count(*) FROM constituents", [], |r| {
            r.get::<_, i64>(0)
        })?
        .try_into()?;
    let tickets: usize = replica::open(&db)?
        .query_row("SELECT count(*) FROM tickets", [], |r| r.get::<_, i64>(0))?
        .try_into()?;
    let Sampled {
        memberships: membership_ids,
        secrets,
    } = credentials;
    anyhow::ensure!(
        !membership_ids.is_empty() && constituents > 0,
        "the replica has no memberships to scan"
    );

    let gate = crate::gate::validate(RawGateSection::default())
        .map_err(|p| anyhow::anyhow!("gate policy: {p:?}"))?;
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let open_station = |gate: crate::gate::GatePolicyConfig| -> Result<Station> {
        let relay = crate::gate::relay::SimulatedOutput::new(clock.clone());
        Ok(Station::open(
            &db,
            "bench-gate",
            gate,
            Box::new(relay),
            Arc::new(|| true),
        )?)
    };
    // As `portico run` does when it starts: the database file read into the page cache (so
    // the station maps it, see `gate::mapped_reads`).
    residency::warm(&db)?;
    let mut station = open_station(gate.clone())?;
    // As on a running device: commits never checkpoint; this thread does, beside them.
    let _checkpointer = replica::Checkpointer::spawn(&db)?;

    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let next_credential = |rng: &mut ChaCha8Rng| -> Credential {
        let kind = match rng.random_range(0..10) {
            0..=4 => CredentialKind::Membership {
                membership_id: membership_ids[rng.random_range(0..membership_ids.len())].clone(),
            },
            5..=8 if !secrets.is_empty() => CredentialKind::TicketSecret {
                secret: secrets[rng.random_range(0..secrets.len())].clone(),
            },
            _ => CredentialKind::TicketSecret {
                secret: seed::ticket_secret(rng),
            },
        };
        Credential {
            reader: "bench".into(),
            raw: Vec::new(),
            kind,
        }
    };
    let now = || crate::gate::station::now_local(Utc::now(), None);
    // One scan, timed to the relay command and to the scan being durable: synced in the
    // journal, or (when the journal could not take it) committed to the scan log.
    let durable_scan = |station: &mut Station,
                        c: &Credential,
                        not_journaled: &mut u64|
     -> Result<(Duration, Duration, Option<Duration>, &'static str)> {
        let t = Instant::now();
        let decided = station.admit(c, None, 1, now())?;
        let class = match (&c.kind, decided.decision.reason.code()) {
            (_, "unknown") => "unknown",
            (CredentialKind::Membership { .. }, _) => "membership",
            _ => "ticket",
        };
        let durable = match decided.durable {
            Some(d) => d,
            None if decided.write.is_none() => t.elapsed(),
            None => {
                station.wait_recorded(&decided)?;
                *not_journaled += 1;
                t.elapsed()
            }
        };
        Ok((decided.commanded, durable, decided.journal_write, class))
    };

    // Warm up the way a running gate is: page cache filled, and the WAL file grown to its
    // limit once and started over (a running device overwrites it instead of growing it).
    for _ in 0..2_000 {
        let c = next_credential(&mut rng);
        station.scan(&c, None, 1, now())?;
    }
    // Then everything else's unwritten data (a build just finished, the replica's own
    // migration) reaches the disk, as it long has on a gate that is taking scans: the timed
    // scans and the disk probes beside them should not queue behind unrelated write-back.
    station.flush()?;
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };

    // (a) + (b): each scan timed to the relay command and to the commit.
    let mut decision = Vec::with_capacity(opts.scans);
    let mut durable = Vec::with_capacity(opts.scans);
    // The part of durability after the relay command: building the rows and committing them.
    let mut recording = Vec::with_capacity(opts.scans);
    // Of the recording, the journal's write itself, and what came before it (the rows built
    // and encoded).
    let mut scan_journal_write = Vec::with_capacity(opts.scans);
    let mut building = Vec::with_capacity(opts.scans);
    // The decision latency of each kind of credential: a membership card (membership, members,
    // merges), a ticket barcode (one ticket), a barcode the replica does not hold.
    let mut by_class: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    let mut probe = FsyncProbe::create(db.parent().unwrap_or(&dir))?;
    let mut journal_probe = JournalProbe::create(db.parent().unwrap_or(&dir))?;
    let mut fsync = Vec::with_capacity(opts.scans);
    let mut journal_write = Vec::with_capacity(opts.scans);
    let mut not_journaled = 0u64;
    for i in 0..opts.scans {
        let c = next_credential(&mut rng);
        let (commanded, elapsed, written, class) =
            durable_scan(&mut station, &c, &mut not_journaled)?;
        by_class.entry(class).or_default().push(commanded);
        durable.push(elapsed);
        recording.push(elapsed.saturating_sub(commanded));
        if let Some(w) = written {
            scan_journal_write.push(w);
            building.push(elapsed.saturating_sub(commanded).saturating_sub(w));
        }
        decision.push(commanded);
        // Both references after every scan, taking turns at going first.
        if i % 2 == 0 {
            fsync.push(probe.probe()?);
            journal_write.push(journal_probe.probe()?);
        } else {
            journal_write.push(journal_probe.probe()?);
            fsync.push(probe.probe()?);
        }
    }
    let journal_direct = journal_probe.journal.direct();
    drop(probe);
    drop(journal_probe);
    station.flush()?;

    // (a) while a 10,000-change delta is applied by the feed writer's own connection.
    let writer_db = db.clone();
    let n = constituents;
    let writer = std::thread::spawn(move || -> Result<Duration> {
        // As the device's sync engine does.
        crate::priority::lower_this_thread();
        let mut conn = replica::open(&writer_db)?;
        let applier = Applier::new(Normalizer::default());
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let t = Instant::now();
        // Like the device's feed writer: pages folded into one transaction until a scan
        // waits for the lock, then a commit at the end of the page and a pause.
        let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut mark = replica::lock_wait_mark();
        for chunk in 0..5 {
            let page: Vec<_> = (0..2_000)
                .map(|_| {
                    let k = rng.random_range(0..n);
                    let mut c = seed::constituent(&mut rng, k, today);
                    c.lookup_id = seed::lookup_id(k);
                    Change::Upsert {
                        key: c.lookup_id.clone(),
                        data: c,
                        changed: None,
                    }
                })
                .collect();
            applier.constituents(&tx, &page)?;
            if chunk < 4 && replica::lock_wanted_since(mark) {
                tx.commit()?;
                std::thread::sleep(replica::WRITER_GAP);
                tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                mark = replica::lock_wait_mark();
            }
        }
        tx.commit()?;
        Ok(t.elapsed())
    });
    let mut during_sync = Vec::new();
    // As the device does: each scan is decided and handed to the writer without waiting for
    // its commit (which waits for the feed writer to step aside).
    let mut last = None;
    while !writer.is_finished() {
        let c = next_credential(&mut rng);
        let decided = station.admit(&c, None, 1, now())?;
        during_sync.push(decided.commanded);
        last = Some(decided);
    }
    let delta_ended = Instant::now();
    if let Some(last) = &last {
        station.wait_recorded(last)?;
    }
    let queue_drained = delta_ended.elapsed();
    let delta_time = writer
        .join()
        .map_err(|_| anyhow::anyhow!("delta writer panicked"))??;

    // (c) sustained: back to back for a few seconds, every scan durable (journaled) before the
    // next is taken; the time includes the writer committing the last of them.
    let window = Duration::from_secs(5);
    let t = Instant::now();
    let mut sustained = 0u64;
    while t.elapsed() < window {
        let c = next_credential(&mut rng);
        durable_scan(&mut station, &c, &mut not_journaled)?;
        sustained += 1;
    }
    station.flush()?;
    let per_sec = sustained as f64 / t.elapsed().as_secs_f64();

    // (d) the hourly scan-log fold, as the device's housekeeping runs it on its own
    // connection, over every scan so far (all delivered upstream, all before the cutoff), while
    // the gate goes on scanning; its new scans are not yet delivered, so they stay.
    replica::open(&db)?.execute(
        "UPDATE outbox SET state = 'delivered', delivered_at = ?1 WHERE state = 'pending'",
        [Utc::now().timestamp_millis()],
    )?;
    let fold_db = db.clone();
    let folder = std::thread::spawn(move || -> Result<(retention::Compaction, Duration)> {
        crate::priority::lower_this_thread();
        let mut conn = replica::open(&fold_db)?;
        let cutoff = retention::Cutoff::before(
            Utc::now() + chrono::TimeDelta::days(1),
            Duration::ZERO,
            |t| crate::gate::station::now_local(t, None).local,
        );
        let t = Instant::now();
        let done = retention::compact(&mut conn, cutoff, usize::MAX)?;
        Ok((done, t.elapsed()))
    });
    let mut decision_fold = Vec::new();
    let mut durable_fold = Vec::new();
    while !folder.is_finished() {
        let c = next_credential(&mut rng);
        let (commanded, durable, _, _) = durable_scan(&mut station, &c, &mut not_journaled)?;
        durable_fold.push(durable);
        decision_fold.push(commanded);
    }
    station.flush()?;
    let (folded, fold_time) = folder
        .join()
        .map_err(|_| anyhow::anyhow!("scan-log fold panicked"))??;

    // The reference for (b)'s ratio: what SQLite's commit alone costs beside this disk's sync.
    let (floor_commits, floor_probes) =
        sqlite_commit_floor(db.parent().unwrap_or(&dir), opts.scans)?;
    let floor = summary(floor_commits);
    let floor_fs = summary(floor_probes);
    let floor_ratio = p99_ratio(&floor, &floor_fs);

    // (e) After a reboot: the database's files out of the page cache and a new station, three
    // times: scanning with nothing cached; scanning while the start-up read runs beside the
    // station, as `portico run` does it (its own thread, nice 10, idle I/O class); and scanning
    // after the read.
    drop(station);
    let mut after_reboot = |read: StartUpRead| -> Result<(Vec<Duration>, Option<Warmed>)> {
        let [main, wal, _] = replica::database_files(&db);
        for p in [main, wal] {
            if p.exists() {
                residency::evict(&p)?;
            }
        }
        let mut warmed = match read {
            StartUpRead::Before => Some(residency::warm(&db)?),
            _ => None,
        };
        let reader = (read == StartUpRead::Beside).then(|| {
            let db = db.clone();
            std::thread::spawn(move || {
                crate::priority::lower_this_thread();
                crate::priority::idle_io_this_thread();
                residency::warm(&db)
            })
        });
        let mut station = open_station(gate.clone())?;
        let mut decisions = Vec::with_capacity(REBOOT_SCANS);
        while decisions.len() < REBOOT_SCANS || reader.as_ref().is_some_and(|r| !r.is_finished()) {
            let c = next_credential(&mut rng);
            decisions.push(station.scan_timed(&c, None, 1, now())?.1);
        }
        if let Some(reader) = reader {
            let done = reader
                .join()
                .map_err(|_| anyhow::anyhow!("start-up read panicked"))??;
            warmed = Some(done);
        }
        Ok((decisions, warmed))
    };
    let (cold, _) = after_reboot(StartUpRead::None)?;
    let (beside, read_beside) = after_reboot(StartUpRead::Beside)?;
    let read_beside = read_beside.context("the start-up read ran")?;
    let (warm, warmed) = after_reboot(StartUpRead::Before)?;
    let warmed = warmed.context("the start-up read ran")?;

    let dec = summary(decision);
    let dur = summary(durable);
    let fs = summary(fsync);
    let during = summary(during_sync);
    let ratio = p99_ratio(&dur, &fs);
    let jw = summary(journal_write);
    let ratio_to_journal_write = p99_ratio(&dur, &jw);
    std::io::stderr().flush().ok();
    Ok::<_, anyhow::Error>(json!({
        "benchmark": "scan",
        "constituents": constituents,
        "memberships": constituents,
        "tickets": tickets,
        "decision_latency": dec,
        "decision_latency_by_credential": by_class
            .into_iter()
            .map(|(class, samples)| (class.to_owned(), summary(samples)))
            .collect::<serde_json::Map<_, _>>(),
        "decision_latency_during_delta_sync": during,
        // Scans decided during the delta are committed by the writer between feed pages; this
        // is how long after the delta's last page the last of them was on disk.
        "scans_during_delta_sync": during["n"],
        "queued_scans_committed_after_delta_ms": queue_drained.as_secs_f64() * 1e3,
        "delta_sync_changes": 10_000,
        "delta_sync_seconds": delta_time.as_secs_f64(),
        "durability_latency": dur,
        "recording_latency": summary(recording),
        // The recording split: rows built and encoded, then the journal's own write of them.
        "recording_building_latency": summary(building),
        "recording_journal_write_latency": summary(scan_journal_write),
        "disk_fsync_latency": fs,
        "durability_p99_to_fsync_p99": ratio,
        // The second reference: the journal's own write (4 KiB, O_DSYNC, direct when
        // `journal_direct`) with nothing to record, taken after every scan beside the fsync
        // probe.
        "journal_write_latency": jw,
        "journal_direct": journal_direct,
        "durability_p99_to_journal_write_p99": ratio_to_journal_write,
        // Scans the journal could not take (full, or failing): durable once committed, and
        // timed to that commit.
        "scans_not_journaled": not_journaled,
        // SQLite's floor: a one-row commit to a small database, with its own disk probes.
        "sqlite_one_row_commit_latency": floor,
        "sqlite_one_row_commit_disk_fsync_latency": floor_fs,
        "sqlite_one_row_commit_p99_to_fsync_p99": floor_ratio,
        "sustained_durable_scans_per_sec": per_sec,
        "scan_log_fold": {
            "scans_folded": folded.folded,
            "ticket_tallies": folded.tallied,
            "spent_tickets": folded.spent,
            "kept_unsent": folded.kept_unsent,
            "seconds": fold_time.as_secs_f64(),
            "scans_per_sec": folded.folded as f64 / fold_time.as_secs_f64().max(1e-9),
        },
        "decision_latency_during_fold": summary(decision_fold),
        "durability_latency_during_fold": summary(durable_fold),
        // The first scans after a reboot, with and without the device's start-up read.
        "after_reboot": {
            "decision_latency_cold": summary(cold),
            "start_up_read": {
                "seconds": warmed.took.as_secs_f64(),
                "read_mb": warmed.read_bytes as f64 / 1e6,
                "file_mb": warmed.after.file_bytes as f64 / 1e6,
                "resident_before_percent": warmed.before.percent(),
                "resident_after_percent": warmed.after.percent(),
            },
            "decision_latency_after_start_up_read": summary(warm),
            "decision_latency_during_start_up_read": summary(beside),
            "start_up_read_beside_the_gate_seconds": read_beside.took.as_secs_f64(),
        },
        "targets": {
            "decision_p99_us_max": 1000.0,
            "decision_during_sync_p99_us_max": 2000.0,
            "durability_to_fsync_ratio_max": 1.5,
            "sustained_scans_per_sec_min": 2000.0
        },
        "pass": {
            "decision": dec["p99_us"].as_f64().is_some_and(|p| p <= 1000.0),
            "decision_during_sync": during["p99_us"].as_f64().is_some_and(|p| p <= 2000.0),
            "durability": ratio <= 1.5,
            "throughput": per_sec >= 2000.0
        }
    }))
    .context("scan bench")
}
