//! `portico bench sync`: initial sync of a large replica from a hub on loopback TLS, measured
//! against the `sqlite3` CLI importing the same rows from CSV in the same run, then a delta.
//!
//! The hub and the device run as separate `portico` processes (so the device's peak RSS is its
//! own); the reference import runs the same DDL as the replica.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::hub::{HubDir, HubStore, seed};
use crate::normalize::Normalizer;
use crate::protocol::{ConstituentDto, MembershipDto, Resource};

pub struct SyncBenchOptions {
    pub constituents: usize,
    pub changes: usize,
    pub dir: Option<PathBuf>,
}

/// Runs a child to completion; returns wall time and stdout.
fn measure(mut cmd: Command) -> Result<(Duration, String)> {
    let start = Instant::now();
    let out = cmd.output().context("spawning child")?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        bail!(
            "child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((elapsed, String::from_utf8_lossy(&out.stdout).into_owned()))
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until the hub child listens on `port`; fails if it exits or takes over 30 s.
pub(crate) fn wait_listening(port: u16, hub: &mut std::process::Child) -> Result<()> {
    let ready = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = hub.try_wait()? {
            bail!("the hub exited ({status}) before listening");
        }
        if ready.elapsed() > Duration::from_secs(30) {
            bail!("the hub did not start listening within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn csv_field(out: &mut Vec<u8>, v: Option<&str>) {
    if let Some(s) = v {
        if s.contains([',', '"', '\n', '\r']) {
            out.push(b'"');
            out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn csv_row(out: &mut Vec<u8>, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, *f);
    }
    out.push(b'\n');
}

fn csv_value(out: &mut Vec<u8>, v: &rusqlite::types::Value) {
    use rusqlite::types::Value;
    match v {
        Value::Null => {}
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Real(f) => out.extend_from_slice(f.to_string().as_bytes()),
        Value::Text(t) => csv_field(out, Some(t)),
        Value::Blob(_) => {}
    }
}

/// Writes the rows the device would store, one CSV per table, with the replica's own row
/// builder (same columns, same normalised keys). Returns row counts.
fn export_csv(store: &HubStore, dir: &Path, n: &Normalizer) -> Result<serde_json::Value> {
    use crate::replica::{KINDS, child_rows};
    let mut constituents = Vec::new();
    let mut children: Vec<Vec<u8>> = vec![Vec::new(); KINDS.len()];
    let mut counts = serde_json::Map::new();
    let mut n_constituents = 0u64;
    let mut n_children = [0u64; 4];
    let docs = store.all_docs(Resource::Constituents)?;
    for (i, (_, doc)) in docs.iter().enumerate() {
        let c: ConstituentDto = serde_json::from_str(doc)?;
        let id = (i + 1).to_string();
        let (first_norm, last_norm) = (n.name_key(&c.name.first), n.name_key(&c.name.last));
        let birth = c.birth_date.map(|d| d.to_string());
        let rows = child_rows(&c, n);
        csv_row(
            &mut constituents,
            &[
                Some(&id),
                Some(&c.lookup_id),
                c.name.title.as_deref(),
                Some(&c.name.first),
                c.name.middle.as_deref(),
                Some(&c.name.last),
                c.name.suffix.as_deref(),
                Some(&first_norm),
                Some(&last_norm),
                birth.as_deref(),
                Some(c.status.as_str()),
                Some("0"),
                // The unused fingerprint columns (0, as the device leaves them), then
                // `local_changes`.
                Some("0"),
                Some("0"),
                Some("0"),
                Some("0"),
                Some("0"),
            ],
        );
        n_constituents += 1;
        for (k, kind_rows) in rows.iter().enumerate() {
            for (position, row) in kind_rows.iter().enumerate() {
                let out = &mut children[k];
                out.extend_from_slice(id.as_bytes());
                out.push(b',');
                out.extend_from_slice(position.to_string().as_bytes());
                for v in row {
                    out.push(b',');
                    csv_value(out, v);
                }
                out.push(b'\n');
                n_children[k] += 1;
            }
        }
    }
    drop(docs);
    std::fs::write(dir.join("constituents.csv"), &constituents)?;
    counts.insert("constituents".into(), n_constituents.into());
    for (k, kind) in KINDS.iter().enumerate() {
        std::fs::write(dir.join(format!("{}.csv", kind.table)), &children[k])?;
        counts.insert(kind.table.into(), n_children[k].into());
    }
    let (mut memberships, mut members) = (Vec::new(), Vec::new());
    let (mut n_m, mut n_mm) = (0u64, 0u64);
    for (_, doc) in store.all_docs(Resource::Memberships)? {
        let m: MembershipDto = serde_json::from_str(&doc)?;
        let (start, expiry, guests) = (
            m.start.to_string(),
            m.expiry.to_string(),
            m.guest_allowance.to_string(),
        );
        csv_row(
            &mut memberships,
            &[
                Some(&m.membership_id),
                Some(&m.level),
                Some(m.status.as_str()),
                Some(&start),
                Some(&expiry),
                Some(&guests),
            ],
        );
        n_m += 1;
        for (pos, member) in m.members.iter().enumerate() {
            let pos = pos.to_string();
            csv_row(
                &mut members,
                &[Some(&m.membership_id), Some(member), Some(&pos)],
            );
            n_mm += 1;
        }
    }
    std::fs::write(dir.join("memberships.csv"), &memberships)?;
    std::fs::write(dir.join("membership_members.csv"), &members)?;
    counts.insert("memberships".into(), n_m.into());
    counts.insert("membership_members".into(), n_mm.into());
    Ok(serde_json::Value::Object(counts))
}

pub async fn run(opts: SyncBenchOptions) -> Result<serde_json::Value> {
    let (dir, _tmp) = super::work_dir(opts.dir.as_deref(), "sync")?;
    let exe = std::env::current_exe()?;
    let hub = HubDir::new(dir.join("hub"));
    hub.init(&["localhost".into(), "127.0.0.1".into()])?;
    let _ = std::fs::remove_file(hub.database());
    let store = Arc::new(HubStore::open(&hub.database())?);
    eprintln!("seeding {} constituents…", opts.constituents);
    let t = Instant::now();
    let mut spec = seed::SeedSpec::new(opts.constituents, 42, chrono::Utc::now().date_naive());
    spec.tickets = Some(0);
    let s = store.clone();
    let seeded = tokio::task::spawn_blocking(move || seed::seed(&s, &spec)).await??;
    eprintln!("seeded in {:.1}s", t.elapsed().as_secs_f64());

    // The reference: the sqlite3 CLI importing the same rows, with the replica's DDL.
    let normalizer = Normalizer::default();
    let ref_dir = dir.join("reference");
    std::fs::create_dir_all(&ref_dir)?;
    let rows = export_csv(&store, &ref_dir, &normalizer)?;
    let ref_db = ref_dir.join("reference.db");
    let _ = std::fs::remove_file(&ref_db);
    let mut script = String::from("PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\n");
    script.push_str(&crate::replica::schema::ddl());
    script.push_str("\n.mode csv\nBEGIN;\n");
    for table in [
        "constituents",
        "historical_names",
        "emails",
        "phones",
        "addresses",
        "memberships",
        "membership_members",
    ] {
        script.push_str(&format!(
            ".import {} {table}\n",
            ref_dir.join(format!("{table}.csv")).display()
        ));
    }
    script.push_str("COMMIT;\n");
    let script_path = ref_dir.join("import.sql");
    std::fs::write(&script_path, &script)?;
    let sqlite3 = {
        let mut cmd = Command::new("sqlite3");
        cmd.arg(&ref_db)
            .arg(format!(".read {}", script_path.display()));
        match measure(cmd) {
            Ok((elapsed, _)) => Some(elapsed),
            Err(e) => {
                eprintln!("sqlite3 reference unavailable: {e:#}");
                None
            }
        }
    };

    // The hub, in its own process.
    let device_dir = dir.join("device");
    let _ = std::fs::remove_dir_all(&device_dir);
    std::fs::create_dir_all(&device_dir)?;
    let token = store.add_device("demo-gate-1")?;
    crate::hub::write_private(&dir.join("device.token"), token.as_bytes())?;
    let port = free_port()?;
    let mut hub_proc = Command::new(&exe)
        .args(["hub", "serve", "--dir"])
        .arg(&hub.root)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting hub")?;
    if let Err(e) = wait_listening(port, &mut hub_proc) {
        let _ = hub_proc.kill();
        return Err(e);
    }

    let result = async {
        // The demo config with this hub's address; its [sync] page size applies.
        let url = format!("https://localhost:{port}");
        let cfg = crate::demo::write_device_config(&dir, &url, None)?;
        let sync_cmd = || {
            let mut c = Command::new(&exe);
            c.args(["sync", "--json", "--config"]).arg(&cfg.source).env("RUST_LOG", "warn");
            c
        };
        eprintln!("initial sync…");
        let (initial, out) = measure(sync_cmd())?;
        // The child's own high-water mark (`VmHWM`), as it reports it.
        let first: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
        let rss_kib = first["peak_rss_kib"].as_u64().context("sync did not report its peak RSS")?;
        eprintln!("initial sync {:.2}s, peak RSS {} MiB", initial.as_secs_f64(), rss_kib / 1024);

        // Delta: changes land on the hub while it serves; the device pulls them. First the
        // initial sync's gigabyte of writes reaches the disk, as it long has by the time a
        // 15-minute pull comes round: the delta's own fsync should not queue behind it.
        rustix::fs::sync();
        let s = store.clone();
        let (n, changes) = (opts.constituents, opts.changes);
        let changed = tokio::task::spawn_blocking(move || seed::mutate(&s, changes, n, 9)).await??;
        // The hub's own writes of those changes have long reached its disk too.
        rustix::fs::sync();
        let (delta_wall, out) = measure(sync_cmd())?;
        let inner: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
        let delta_secs = inner["seconds"].as_f64().unwrap_or(delta_wall.as_secs_f64());

        // The replica must hold what the hub holds.
        let conn = crate::replica::open(&cfg.database_path())?;
        let counts = crate::replica::counts(&conn)?;
        let initial_s = initial.as_secs_f64();
        let ratio = sqlite3.map(|t| initial_s / t.as_secs_f64());
        let rss_mib = rss_kib as f64 / 1024.0;
        Ok::<_, anyhow::Error>(json!({
            "benchmark": "sync",
            "constituents": opts.constituents,
            "seeded": seeded,
            "rows": rows,
            "replica": counts,
            "initial_sync_seconds": initial_s,
            "device_peak_rss_mib": rss_mib,
            "sqlite3_import_seconds": sqlite3.map(|t| t.as_secs_f64()),
            "ratio_to_sqlite3": ratio,
            "delta_changes": changed.len(),
            "delta_sync_seconds": delta_secs,
            "delta_sync_wall_seconds": delta_wall.as_secs_f64(),
            "targets": { "ratio_to_sqlite3_max": 2.0, "device_peak_rss_mib_max": 100.0, "delta_sync_seconds_max": 1.0 },
            "pass": {
                "ratio": ratio.map(|r| r <= 2.0),
                "rss": rss_mib <= 100.0,
                "delta": delta_secs <= 1.0,
            },
        }))
    }
    .await;
    let _ = hub_proc.kill();
    let _ = hub_proc.wait();
    std::io::stderr().flush().ok();
    result
}
