//! `portico bench scan`: gate decisions on a large replica.
//!
//! (a) decision latency, credential in → decision made and relay commanded, alone and while a
//! 10,000-change delta is applied through the database's writer as the sync engine applies it
//! (in jobs of at most [`crate::sync::engine::JOB_TIME`], each ending early when a scan waits); (b) durability latency, credential in →
//! the scan and its outbox row committed with `synchronous=FULL`, beside this disk's own fsync
//! latency measured in the same run, alone and during the delta; (c) sustained durable
//! throughput, scans back to back; (d) the hourly scan-log fold beside a scanning gate.
//!
//! Scans come back to back, faster than any gate sees visitors: on a virtual machine an idle
//! processor between scans makes every step slower (measured: scans 10 ms apart took twice
//! as long to decide and to commit, and the disk's own sync too), so back to back is the
//! steadier measurement.

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
use crate::replica::{self, Applier, Store};

pub struct ScanBenchOptions {
    pub constituents: usize,
    pub tickets: usize,
    pub scans: usize,
    pub dir: Option<std::path::PathBuf>,
    /// Measure this replica (built by an earlier run with `--dir`) instead of building one.
    /// Its scan log and outbox are emptied first, so runs compare.
    pub replica: Option<std::path::PathBuf>,
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

/// The ratio of two [`summary`]s' p99s (the first over the second).
pub(crate) fn p99_ratio(a: &serde_json::Value, b: &serde_json::Value) -> f64 {
    a["p99_us"].as_f64().unwrap_or(0.0) / b["p99_us"].as_f64().unwrap_or(1.0).max(1e-9)
}

pub(crate) fn summary(mut v: Vec<Duration>) -> serde_json::Value {
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
pub(crate) struct FsyncProbe {
    file: std::fs::File,
    path: std::path::PathBuf,
    next: u64,
}

impl FsyncProbe {
    const BLOCKS: u64 = 64;

    pub(crate) fn create(dir: &Path) -> Result<Self> {
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

    pub(crate) fn probe(&mut self) -> Result<Duration> {
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

/// SQLite's own floor on this disk: a one-row insert into an empty table of a small database
/// beside the replica, through a [`Store`] as the device writes (WAL, `synchronous=FULL`, one
/// writer thread, a background checkpointer), committed `n` times, each followed by a disk
/// probe. Returns (commit, probe) latencies.
fn sqlite_commit_floor(dir: &Path, n: usize) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let path = dir.join("floor.db");
    let remove = || {
        for file in replica::database_files(&path) {
            let _ = std::fs::remove_file(file);
        }
    };
    remove();
    let store = Store::open(&path)?;
    store.write(|tx| {
        Ok(tx.execute_batch("CREATE TABLE one_row (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")?)
    })?;
    let mut probe = FsyncProbe::create(dir)?;
    let (mut commits, mut probes) = (Vec::with_capacity(n), Vec::with_capacity(n));
    // As for the scans: a warm-up first, untimed.
    for i in 0..(n + 500) {
        let t = Instant::now();
        store.write_urgent(move |tx| {
            Ok(tx
                .prepare_cached("INSERT INTO one_row (id, v) VALUES (?1, zeroblob(200))")?
                .execute([i as i64])?)
        })?;
        let commit = t.elapsed();
        let disk = probe.probe()?;
        if i >= 500 {
            commits.push(commit);
            probes.push(disk);
        }
    }
    drop(probe);
    drop(store);
    remove();
    Ok((commits, probes))
}

pub fn run(opts: ScanBenchOptions) -> Result<serde_json::Value> {
    let (dir, _tmp) = super::work_dir(opts.dir.as_deref(), "scan")?;
    let today = Utc::now().date_naive();
    let (db, credentials) = match &opts.replica {
        Some(existing) => {
            let conn = replica::open(existing)?;
            conn.execute_batch(
                "DELETE FROM scans; DELETE FROM scan_tallies; DELETE FROM outbox;
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
    let count = |table: &str| -> Result<usize> {
        Ok(replica::open(&db)?
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })?
            .try_into()?)
    };
    let constituents = count("constituents")?;
    let tickets = count("tickets")?;
    let Sampled {
        memberships: membership_ids,
        secrets,
    } = credentials;
    anyhow::ensure!(
        !membership_ids.is_empty() && constituents > 0,
        "the replica has no memberships to scan"
    );

    // As a running device: one store (writer and checkpointer) for the database.
    let store = Arc::new(Store::open(&db)?);
    let gate = crate::gate::validate(RawGateSection::default())
        .map_err(|p| anyhow::anyhow!("gate policy: {p:?}"))?;
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let relay = crate::gate::relay::SimulatedOutput::new(clock.clone());
    let mut station = Station::open(
        store.clone(),
        "bench-gate",
        gate,
        Box::new(relay),
        Arc::new(|| true),
    )?;

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
    // One scan: (relay commanded, committed, the writer's part, the credential's class).
    let timed_scan = |station: &mut Station,
                      c: &Credential|
     -> Result<(Duration, Duration, Option<Duration>, &'static str)> {
        let t = Instant::now();
        let decided = station.admit(c, None, 1, now())?;
        let class = match (&c.kind, decided.decision.reason.code()) {
            (_, "unknown") => "unknown",
            (CredentialKind::Membership { .. }, _) => "membership",
            _ => "ticket",
        };
        let durable = decided.durable.unwrap_or_else(|| t.elapsed());
        Ok((decided.commanded, durable, decided.commit, class))
    };

    // Warm up the way a running gate is: page cache filled, the WAL file grown once.
    for _ in 0..2_000 {
        let c = next_credential(&mut rng);
        station.scan(&c, None, 1, now())?;
    }
    // Then everything else's unwritten data (a build just finished, the replica's own
    // migration) reaches the disk, as it long has on a gate that is taking scans: the timed
    // scans and the disk probes beside them should not queue behind unrelated write-back.
    let _ = std::process::Command::new("sync").status();

    // (a) + (b): each scan timed to the relay command and to the commit.
    let mut decision = Vec::with_capacity(opts.scans);
    let mut durable = Vec::with_capacity(opts.scans);
    let mut commits = Vec::with_capacity(opts.scans);
    // The decision latency of each kind of credential: a membership card (membership, members,
    // merges), a ticket barcode (one ticket), a barcode the replica does not hold.
    let mut by_class: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    let mut probe = FsyncProbe::create(db.parent().unwrap_or(&dir))?;
    let mut fsync = Vec::with_capacity(opts.scans);
    for _ in 0..opts.scans {
        let c = next_credential(&mut rng);
        let (commanded, elapsed, commit, class) = timed_scan(&mut station, &c)?;
        by_class.entry(class).or_default().push(commanded);
        durable.push(elapsed);
        commits.extend(commit);
        decision.push(commanded);
        fsync.push(probe.probe()?);
    }
    drop(probe);

    // (a) + (b) while a 10,000-change delta is applied, as the sync engine applies it: through
    // the writer in chunks, while the gate keeps scanning (its scans go ahead of the chunks
    // still waiting).
    let n = constituents;
    let delta_store = store.clone();
    let writer = std::thread::spawn(move || -> Result<(Duration, u32)> {
        let applier = Applier::new(Normalizer::default());
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let mut changes: Vec<_> = (0..10_000)
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
        let (t, mut done, mut jobs) = (Instant::now(), 0, 0);
        while done < changes.len() {
            let applier = applier.clone();
            let waiting = delta_store.others_waiting();
            let (back, now_done) = delta_store.write(move |tx| {
                let mut stats = replica::ApplyStats::default();
                let deadline = Instant::now() + crate::sync::engine::JOB_TIME;
                let waiting = || waiting.now();
                crate::sync::engine::apply_for_a_while(
                    &changes,
                    &mut done,
                    &mut stats,
                    deadline,
                    &waiting,
                    |p| applier.constituents(tx, p),
                )?;
                Ok((changes, done))
            })?;
            changes = back;
            done = now_done;
            jobs += 1;
        }
        Ok((t.elapsed(), jobs))
    });
    let mut decision_delta = Vec::new();
    let mut durable_delta = Vec::new();
    while !writer.is_finished() {
        let c = next_credential(&mut rng);
        let (commanded, elapsed, _, _) = timed_scan(&mut station, &c)?;
        decision_delta.push(commanded);
        durable_delta.push(elapsed);
    }
    let (delta_time, delta_jobs) = writer
        .join()
        .map_err(|_| anyhow::anyhow!("delta writer panicked"))??;

    // (c) sustained: back to back for a few seconds, every scan committed before the next.
    let window = Duration::from_secs(5);
    let t = Instant::now();
    let mut sustained = 0u64;
    while t.elapsed() < window {
        let c = next_credential(&mut rng);
        timed_scan(&mut station, &c)?;
        sustained += 1;
    }
    let per_sec = sustained as f64 / t.elapsed().as_secs_f64();

    // (d) the hourly scan-log fold, in the writer's small jobs as the device's housekeeping
    // runs it, over every scan so far (all delivered upstream, all before the cutoff), while
    // the gate goes on scanning; its new scans are not yet delivered, so they stay.
    let delivered_at = Utc::now().timestamp_millis();
    store.write(move |tx| {
        Ok(tx.execute(
            "UPDATE outbox SET state = 'delivered', delivered_at = ?1 WHERE state = 'pending'",
            [delivered_at],
        )?)
    })?;
    let fold_store = store.clone();
    let folder = std::thread::spawn(move || -> Result<(retention::Compaction, Duration)> {
        let cutoff = retention::Cutoff::before(
            Utc::now() + chrono::TimeDelta::days(1),
            Duration::ZERO,
            |t| crate::gate::station::now_local(t, None).local,
        );
        let t = Instant::now();
        let done = retention::compact(&fold_store, cutoff, usize::MAX)?;
        Ok((done, t.elapsed()))
    });
    let mut decision_fold = Vec::new();
    let mut durable_fold = Vec::new();
    while !folder.is_finished() {
        let c = next_credential(&mut rng);
        let (commanded, durable, _, _) = timed_scan(&mut station, &c)?;
        durable_fold.push(durable);
        decision_fold.push(commanded);
    }
    let (folded, fold_time) = folder
        .join()
        .map_err(|_| anyhow::anyhow!("scan-log fold panicked"))??;
    drop(station);

    // A reference beside (b)'s ratio: what SQLite's commit alone costs beside this disk's sync.
    let (floor_commits, floor_probes) =
        sqlite_commit_floor(db.parent().unwrap_or(&dir), opts.scans.min(3_000))?;
    let floor = summary(floor_commits);
    let floor_fs = summary(floor_probes);
    let floor_ratio = p99_ratio(&floor, &floor_fs);

    let dec = summary(decision);
    let dur = summary(durable);
    let fs = summary(fsync);
    let dec_delta = summary(decision_delta);
    let dur_delta = summary(durable_delta);
    let ratio = p99_ratio(&dur, &fs);
    std::io::stderr().flush().ok();
    let p99 = |v: &serde_json::Value| v["p99_us"].as_f64().unwrap_or(f64::MAX);
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
        "decision_latency_during_delta_sync": dec_delta,
        "durability_latency_during_delta_sync": dur_delta,
        "scans_during_delta_sync": dec_delta["n"],
        "delta_sync_changes": 10_000,
        "delta_sync_writer_jobs": delta_jobs,
        "delta_sync_job_ms_max": crate::sync::engine::JOB_TIME.as_secs_f64() * 1e3,
        "delta_sync_seconds": delta_time.as_secs_f64(),
        "durability_latency": dur,
        // The writer's part of it: the urgent job's wait, insert and commit.
        "commit_latency": summary(commits),
        "disk_fsync_latency": fs,
        "durability_p99_to_fsync_p99": ratio,
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
        "targets": {
            "decision_p99_us_max": 1000.0,
            "decision_during_delta_p99_us_max": 1000.0,
            "durability_to_fsync_p99_ratio_max": 2.0,
            "durability_during_delta_p99_us_max": 100_000.0,
            "sustained_scans_per_sec_min": 500.0
        },
        "pass": {
            "decision": p99(&dec) <= 1000.0,
            "decision_during_delta": p99(&dec_delta) <= 1000.0,
            "durability": ratio <= 2.0,
            "durability_during_delta": p99(&dur_delta) <= 100_000.0,
            "throughput": per_sec >= 500.0
        }
    }))
    .context("scan bench")
}
