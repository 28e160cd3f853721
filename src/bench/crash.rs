//! `portico bench crash`: the device killed with SIGKILL at random moments while it scans,
//! pulls deltas and uploads, then checked for lost and duplicated scans.
//!
//! The hub and the device are real `portico` processes on loopback TLS. Ticket codes go into a
//! pseudo-terminal the device reads as a serial scanner, about twenty a second; the hub's
//! constituents change several times a second and the device is asked to pull them; uploads
//! run every 100 ms. The device is killed at a random moment between 0.15 s and 2.5 s after
//! each start, then started again. After the last start the device drains its outbox, stops,
//! and pulls once more. Then:
//!
//! - at most one code a kill was read and never recorded (the scan in flight);
//! - every scan the device acknowledged (its log line "scan recorded", written only after the
//!   commit) is at the hub, exactly once;
//! - no ticket fed once was recorded twice (at the hub or in the device's outbox);
//! - `PRAGMA integrity_check` is ok on both databases;
//! - the replica equals the hub record for record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::json;

use crate::hub::{HubDir, HubStore, seed};
use crate::protocol::{ConstituentDto, MembershipDto, ProductDto, Resource, TicketDto};
use crate::replica;

pub struct CrashBenchOptions {
    pub kills: u32,
    pub constituents: usize,
    pub seed: u64,
    pub dir: Option<PathBuf>,
}

/// How long after a start the device is killed: a random moment in this range, so kills land
/// in the start-up (migrations, hello, first pull) as well as in steady scanning.
const KILL_AFTER: std::ops::Range<u64> = 150..2_500;
/// One code every this often: about twenty scans a second, twenty times a busy turnstile.
const SCAN_EVERY: Duration = Duration::from_millis(50);
/// The hub's constituents change this often (a few each time), and the device is asked to pull.
const CHURN_EVERY: Duration = Duration::from_millis(300);
const DEVICE_ID: &str = "crash-gate";

pub fn run(opts: CrashBenchOptions) -> Result<serde_json::Value> {
    let (dir, _tmp) = super::work_dir(opts.dir.as_deref(), "crash")?;
    let started = Instant::now();
    let exe = std::env::current_exe()?;

    // The hub: seeded, with a token for the device, serving in its own process.
    let hub_dir = HubDir::new(dir.join("hub"));
    hub_dir.init(&["localhost".into(), "127.0.0.1".into()])?;
    for file in replica::database_files(&hub_dir.database()) {
        let _ = std::fs::remove_file(file);
    }
    let store = Arc::new(HubStore::open(&hub_dir.database())?);
    let today = chrono::Utc::now().date_naive();
    let mut spec = seed::SeedSpec::new(opts.constituents, opts.seed, today);
    // Enough tickets that no code is ever fed twice.
    spec.tickets = Some(6_000 + opts.kills as usize * 60);
    seed::seed(&store, &spec)?;
    let codes: Vec<String> = store
        .all::<TicketDto>(Resource::Tickets)?
        .into_iter()
        .map(|t| t.secret)
        .collect();
    let token = store.add_device(DEVICE_ID)?;
    crate::hub::write_private(&dir.join("device.token"), token.as_bytes())?;
    let port = super::sync::free_port()?;
    let hub_log = std::fs::File::create(dir.join("hub.log"))?;
    let mut hub = Command::new(&exe)
        .args(["--log-format", "text", "hub", "serve", "--dir"])
        .arg(&hub_dir.root)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(hub_log)
        .spawn()
        .context("starting the hub")?;
    let outcome = (|| {
        super::sync::wait_listening(port, &mut hub)?;
        campaign(&opts, &dir, &exe, port, &store, &codes, started)
    })();
    let _ = hub.kill();
    let _ = hub.wait();
    outcome
}

/// The device under test: its config, and its process while it runs.
struct DeviceUnderTest {
    exe: PathBuf,
    config: PathBuf,
    database: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl DeviceUnderTest {
    fn start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.exe)
            .args(["--log-format", "json", "run", "--headless", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the device")?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no shutdown path runs.
    fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, and the device's own orderly stop.
    fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            rustix::process::kill_process(
                rustix::process::Pid::from_child(&child),
                rustix::process::Signal::TERM,
            )?;
            let status = child.wait()?;
            if !status.success() {
                bail!(
                    "the device stopped with {status}; see {}",
                    self.log.display()
                );
            }
        }
        Ok(())
    }

    /// Asks the running device to pull now (a device still starting does not answer).
    fn ask_to_pull(&self, rt: &tokio::runtime::Runtime) {
        let _ = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(500),
                crate::status::ask(&self.socket, &crate::status::Request::Sync),
            )
            .await
        });
    }
}

fn campaign(
    opts: &CrashBenchOptions,
    dir: &Path,
    exe: &Path,
    port: u16,
    store: &Arc<HubStore>,
    codes: &[String],
    started: Instant,
) -> Result<serde_json::Value> {
    let scanner = PtyScanner::new().context("making a pseudo-terminal scanner")?;
    let config = dir.join("device.toml");
    std::fs::write(&config, device_config(port, &scanner.path))?;
    let cfg = crate::config::load(&config)?;
    let mut device = DeviceUnderTest {
        exe: exe.to_owned(),
        database: cfg.database_path(),
        socket: cfg.status_socket.clone(),
        config,
        log: dir.join("device.log"),
        child: None,
    };
    let _ = std::fs::remove_file(&device.log);
    for file in replica::database_files(&device.database) {
        let _ = std::fs::remove_file(file);
    }

    // Codes go in about twenty a second, whether or not the device is up (the pty holds them).
    let stop = Arc::new(AtomicBool::new(false));
    let fed = Arc::new(Mutex::new(0usize));
    let feeder = {
        let (stop, fed, codes) = (stop.clone(), fed.clone(), codes.to_vec());
        let mut scanner = scanner;
        std::thread::spawn(move || {
            for code in codes {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if scanner.write(format!("{code}\r").as_bytes()).is_ok() {
                    *fed.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                }
                std::thread::sleep(SCAN_EVERY);
            }
            scanner
        })
    };
    // Meanwhile the CRM changes constituents, and the device is asked to pull them.
    let churn_stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (stop, store, population) = (churn_stop.clone(), store.clone(), opts.constituents);
        std::thread::spawn(move || -> Result<u64> {
            let mut changed = 0u64;
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                changed += seed::mutate(&store, 20, population, round)?.len() as u64;
                std::thread::sleep(CHURN_EVERY);
            }
            Ok(changed)
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut moments = Vec::with_capacity(opts.kills as usize);
    for kill in 0..opts.kills {
        device.start()?;
        let after = Duration::from_millis(rng.random_range(KILL_AFTER));
        let up = Instant::now();
        while up.elapsed() < after {
            std::thread::sleep(Duration::from_millis(100).min(after.saturating_sub(up.elapsed())));
            if up.elapsed() < after {
                device.ask_to_pull(&rt);
            }
        }
        device.kill()?;
        moments.push(after.as_millis() as u64);
        if (kill + 1) % 10 == 0 {
            eprintln!("{} kills", kill + 1);
        }
    }

    // The last start: the device comes up, takes what is still in the pty, and drains its
    // outbox; then it stops in order and pulls once more.
    device.start()?;
    stop.store(true, Ordering::Relaxed);
    let scanner = feeder
        .join()
        .map_err(|_| anyhow::anyhow!("feeder panicked"))?;
    churn_stop.store(true, Ordering::Relaxed);
    let changed = churn
        .join()
        .map_err(|_| anyhow::anyhow!("churn panicked"))??;
    let acknowledged_before_drain = acknowledged(&device.log)?.len();
    wait_drained(&device, &rt)?;
    device.stop()?;
    drop(scanner);
    let sync = Command::new(exe)
        .args(["--log-format", "text", "sync", "--config"])
        .arg(&device.config)
        .env("RUST_LOG", "warn")
        .output()?;
    if !sync.status.success() {
        bail!(
            "the final sync failed: {}",
            String::from_utf8_lossy(&sync.stderr)
        );
    }

    // The verdict.
    let acknowledged = acknowledged(&device.log)?;
    let hub_db = read_only(&HubDir::new(dir.join("hub")).database())?;
    let at_hub = hub_scans(&hub_db)?;
    let hub_keys: HashSet<&str> = at_hub.iter().map(|(k, _)| k.as_str()).collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|k| !hub_keys.contains(k.as_str()))
        .collect();
    let mut per_ticket: HashMap<&str, u64> = HashMap::new();
    for (_, credential) in &at_hub {
        *per_ticket.entry(credential.as_str()).or_default() += 1;
    }
    let duplicated_at_hub: u64 = per_ticket.values().map(|n| n - 1).sum();
    let device_db = read_only(&device.database)?;
    let duplicated_in_outbox: i64 = device_db.query_row(
        "SELECT count(*) - count(DISTINCT json_extract(payload, '$.credential'))
           FROM outbox WHERE kind = 'scan'",
        [],
        |r| r.get(0),
    )?;
    let recorded: HashSet<String> = device_db
        .prepare("SELECT idempotency_key FROM outbox WHERE kind = 'scan'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let not_uploaded = recorded
        .iter()
        .filter(|k| !hub_keys.contains(k.as_str()))
        .count();
    let undelivered: i64 = device_db.query_row(
        "SELECT count(*) FROM outbox WHERE state != 'delivered'",
        [],
        |r| r.get(0),
    )?;
    let kept_aside: i64 =
        device_db.query_row("SELECT count(*) FROM kept_aside", [], |r| r.get(0))?;
    let integrity_device = replica::pragma_text(&device_db, "integrity_check")?;
    let integrity_hub = replica::pragma_text(&hub_db, "integrity_check")?;
    let differences = replica_differences(store, &device_db)?;
    let fed = *fed.lock().unwrap_or_else(|p| p.into_inner());

    moments.sort_unstable();
    let lost_n = lost.len() as u64;
    let duplicated = duplicated_at_hub + duplicated_in_outbox.max(0) as u64;
    let fed_not_recorded = fed.saturating_sub(recorded.len());
    Ok(json!({
        "benchmark": "crash",
        "seed": opts.seed,
        "constituents": opts.constituents,
        "kills": opts.kills,
        "kill_after_ms": {
            "min": moments.first(),
            "median": moments.get(moments.len() / 2),
            "max": moments.last(),
        },
        "scans_fed": fed,
        "scans_recorded": recorded.len(),
        // Codes the device read but never committed: at most the one in flight at each kill.
        "fed_not_recorded": fed_not_recorded,
        "acknowledged": acknowledged.len(),
        "acknowledged_before_drain": acknowledged_before_drain,
        "at_hub": at_hub.len(),
        "lost": lost_n,
        "lost_keys": lost.iter().take(5).collect::<Vec<_>>(),
        "duplicated": duplicated,
        "duplicated_at_hub": duplicated_at_hub,
        "duplicated_in_outbox": duplicated_in_outbox,
        "recorded_not_at_hub": not_uploaded,
        "outbox_undelivered": undelivered,
        "kept_aside": kept_aside,
        "hub_changes_during_campaign": changed,
        "integrity_check_device": integrity_device,
        "integrity_check_hub": integrity_hub,
        "replica_equals_hub": differences.is_empty(),
        "replica_differences": differences.iter().take(5).collect::<Vec<_>>(),
        "seconds": started.elapsed().as_secs_f64(),
        "targets": { "kills_min": 100, "lost_max": 0, "duplicated_max": 0 },
        "pass": {
            "kills": opts.kills >= 100,
            "lost": lost_n == 0,
            "duplicated": duplicated == 0,
            "integrity": integrity_device == "ok" && integrity_hub == "ok",
            "replica": differences.is_empty(),
            "uploaded": not_uploaded == 0 && undelivered == 0,
            "crash_window": fed_not_recorded <= opts.kills as usize,
        },
    }))
}

/// A serial scanner made of a pseudo-terminal: codes written to the master are read by the
/// device from the slave's path. The slave stays open here, so codes written while the device
/// is down wait for it.
struct PtyScanner {
    master: serialport::TTYPort,
    _slave: serialport::TTYPort,
    path: PathBuf,
}

impl PtyScanner {
    fn new() -> Result<Self> {
        use serialport::SerialPort;
        let (mut master, slave) = serialport::TTYPort::pair()?;
        master.set_timeout(Duration::from_secs(2))?;
        let path = slave
            .name()
            .context("the pseudo-terminal has no name")?
            .into();
        Ok(Self {
            master,
            _slave: slave,
            path,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.master.write_all(bytes)?;
        self.master.flush()
    }
}

/// The device's config: a gate reading the pty as a serial scanner, uploading every 100 ms.
fn device_config(port: u16, scanner: &Path) -> String {
    format!(
        r#"[device]
id = "{DEVICE_ID}"
roles = ["gate"]
data_dir = "device"

[upstream]
url = "https://localhost:{port}"
ca_cert = "hub/ca.pem"
token_file = "device.token"

[sync]
pull_interval = "10s"
upload_interval = "100ms"
retry_base = "100ms"

[gate]
name = "Crash gate"
direction = "entry"

[[inputs]]
name = "scanner"
kind = "serial"
path = "{}"
terminator = "cr"
"#,
        scanner.display()
    )
}

/// The outbox keys of the scans the device logged as recorded, in order.
fn acknowledged(log: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(log).with_context(|| format!("reading {}", log.display()))?;
    let mut keys = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        // A line cut short by SIGKILL is no acknowledgement.
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line?) else {
            continue;
        };
        let fields = &entry["fields"];
        if fields["message"] == "scan recorded"
            && let Some(key) = fields["key"].as_str()
        {
            keys.push(key.to_owned());
        }
    }
    Ok(keys)
}

/// Waits until the device has uploaded every scan it recorded and logs no new scans.
fn wait_drained(device: &DeviceUnderTest, rt: &tokio::runtime::Runtime) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = (usize::MAX, i64::MAX);
    let mut steady = 0;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        device.ask_to_pull(rt);
        let Ok(db) = read_only(&device.database) else {
            continue;
        };
        let pending: i64 = db
            .query_row(
                "SELECT count(*) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(i64::MAX);
        let now = (acknowledged(&device.log)?.len(), pending);
        steady = if now == last && pending == 0 {
            steady + 1
        } else {
            0
        };
        last = now;
        // Two seconds with nothing new and nothing pending.
        if steady >= 8 {
            return Ok(());
        }
    }
    bail!("the device did not drain its outbox within two minutes")
}

fn read_only(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// Every scan at the hub: its idempotency key and the credential it was of.
fn hub_scans(hub: &Connection) -> Result<Vec<(String, String)>> {
    Ok(hub
        .prepare(
            "SELECT idempotency_key, json_extract(payload, '$.credential')
               FROM inbox WHERE kind = 'scan'",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Where the replica differs from the hub: every constituent, membership and ticket compared
/// as the protocol's records, and the counts of everything else. Empty when they are equal.
pub fn replica_differences(hub: &HubStore, conn: &Connection) -> Result<Vec<String>> {
    let mut differences = Vec::new();
    let hub_constituents = hub.all_docs(Resource::Constituents)?;
    let ids = replica::lookup_ids(conn)?;
    if ids.len() != hub_constituents.len() {
        differences.push(format!(
            "constituents: {} in the replica, {} at the hub",
            ids.len(),
            hub_constituents.len()
        ));
    }
    let (mut emails, mut phones, mut addresses) = (0, 0, 0);
    for (key, doc) in &hub_constituents {
        let want: ConstituentDto = serde_json::from_str(doc)?;
        emails += want.emails.len() as u64;
        phones += want.phones.len() as u64;
        addresses += want.addresses.len() as u64;
        match replica::constituent(conn, key)?.map(ConstituentDto::from) {
            None => differences.push(format!("constituent {key} missing")),
            Some(got) if got != want => {
                differences.push(format!("constituent {key} differs"));
            }
            Some(_) => {}
        }
    }
    let memberships = hub.all_docs(Resource::Memberships)?;
    for (key, doc) in &memberships {
        let want: MembershipDto = serde_json::from_str(doc)?;
        match replica::membership(conn, key)?.map(MembershipDto::from) {
            None => differences.push(format!("membership {key} missing")),
            Some(got) if got != want => {
                differences.push(format!("membership {key} differs"));
            }
            Some(_) => {}
        }
    }
    for (key, doc) in hub.all_docs(Resource::Tickets)? {
        let want: TicketDto = serde_json::from_str(&doc)?;
        match replica::ticket(conn, &key)?.map(TicketDto::from) {
            None => differences.push(format!("ticket {key} missing")),
            Some(got) if got != want => {
                differences.push(format!("ticket {key} differs"));
            }
            Some(_) => {}
        }
    }
    // A product's sale document arrives as the hub published it.
    for (key, doc) in hub.all_docs(Resource::Catalog)? {
        let want: ProductDto = serde_json::from_str(&doc)?;
        let got: Option<Option<String>> = conn
            .query_row(
                "SELECT sale FROM products WHERE product_id = ?1",
                [&key],
                |r| r.get(0),
            )
            .optional()?;
        let got = got.map(|s| s.map(|s| serde_json::from_str::<serde_json::Value>(&s)));
        match got {
            None => differences.push(format!("product {key} missing")),
            Some(Some(Ok(v))) if Some(&v) == want.sale.as_ref() => {}
            Some(None) if want.sale.is_none() => {}
            Some(_) => differences.push(format!("product {key}'s sale document differs")),
        }
    }
    let counts = replica::counts(conn)?;
    let expected = BTreeMap::from([
        (
            "memberships",
            (counts.memberships, memberships.len() as u64),
        ),
        ("tickets", (counts.tickets, hub.count(Resource::Tickets)?)),
        ("products", (counts.products, hub.count(Resource::Catalog)?)),
        ("merges", (counts.merges, hub.count(Resource::Merges)?)),
        (
            "categories",
            (counts.categories, hub.count(Resource::Categories)?),
        ),
        (
            "tax_rules",
            (counts.tax_rules, hub.count(Resource::TaxRules)?),
        ),
        ("slots", (counts.slots, hub.count(Resource::Slots)?)),
        (
            "signing_keys",
            (counts.signing_keys, hub.count(Resource::SigningKeys)?),
        ),
        ("emails", (counts.emails, emails)),
        ("phones", (counts.phones, phones)),
        ("addresses", (counts.addresses, addresses)),
    ]);
    for (what, (replica, hub)) in expected {
        if replica != hub {
            differences.push(format!(
                "{what}: {replica} in the replica, {hub} at the hub"
            ));
        }
    }
    Ok(differences)
}
