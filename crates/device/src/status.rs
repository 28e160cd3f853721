//! The device's status: what `portico status` prints. A running device answers on a Unix
//! socket (one JSON line per request), so technicians can ask without touching the database.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::outbox::{self, OutboxStats};
use crate::protocol::Resource;
use crate::sync::{LinkStatus, SyncEngine};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CursorAge {
    pub resource: String,
    pub cursor: String,
    pub updated_at: Option<DateTime<Utc>>,
    pub age_secs: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeadLetter {
    pub id: i64,
    pub kind: String,
    pub reason: String,
    pub attempts: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusReport {
    pub device_id: String,
    pub roles: Vec<String>,
    pub now: DateTime<Utc>,
    pub link: LinkStatus,
    pub cursors: Vec<CursorAge>,
    pub outbox: OutboxStats,
    pub dead_letters: Vec<DeadLetter>,
    pub constituents: u64,
    pub memberships: u64,
    pub tickets: u64,
    /// A gate's scan log (absent on a device that never ran a gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_log: Option<ScanLogStats>,
    /// A kiosk's sales (absent on a device that never sold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kiosk: Option<KioskStats>,
    /// The volunteer time clock (absent where no volunteer events were ever pulled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volunteers: Option<VolunteerStats>,
    /// The database's size and the room left beside it (absent when the file system could not
    /// be asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// Records and files this build cannot read back, kept aside (never deleted): see
    /// [`crate::replica::keep_aside`] and [`crate::replica::store::keep_aside_unreadable`].
    #[serde(default)]
    pub kept_aside: Vec<String>,
}

/// The time clock's state, and the events it cannot clock into.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct VolunteerStats {
    /// Volunteers checked in now.
    pub checked_in: u64,
    pub timesheets: u64,
    /// Timesheets the clock closed itself (a check-out that never came), for staff to approve.
    pub to_approve: u64,
    /// Events the CRM would refuse (configuration problems for the venue's volunteer office):
    /// event name and why.
    pub event_problems: Vec<(String, String)>,
}

/// What a kiosk has sold and holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct KioskStats {
    pub orders: u64,
    pub tickets: u64,
    /// Orders whose tickets or receipt did not all print (`portico kiosk reprint`).
    pub not_printed: u64,
    /// Payments begun and not settled yet (settled at the next start, or `portico kiosk
    /// settle`).
    pub unsettled_payments: u64,
    /// Payments the terminal would not give back, with no order: staff refund them by hand.
    pub to_refund_by_hand: u64,
    /// Seats leased from the hub for slots still on sale, and of them sold here.
    pub seats_leased: u64,
    pub seats_sold: u64,
    /// The signing key's id, once the hub registered it.
    pub signing_key: Option<u16>,
}

/// Below this share of free space the status says so in capitals: scans, orders and new
/// records all need room to be recorded.
pub const LOW_SPACE_PERCENT: f64 = 10.0;

/// The device database's files and the file system that holds them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Storage {
    pub database_bytes: u64,
    pub wal_bytes: u64,
    /// Space an unprivileged process may still use.
    pub free_bytes: u64,
    pub total_bytes: u64,
}

impl Storage {
    /// Of the file system holding `database`; `None` for an in-memory or unreadable one.
    pub fn of(database: &Path) -> Option<Self> {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let database_bytes = std::fs::metadata(database).ok()?.len();
        let [_, wal, _] = crate::replica::database_files(database);
        let dir = database.parent().filter(|d| !d.as_os_str().is_empty());
        let (free_bytes, total_bytes) = free_space(dir.unwrap_or(Path::new(".")))?;
        Some(Self {
            database_bytes,
            wal_bytes: size(&wal),
            free_bytes,
            total_bytes,
        })
    }

    pub fn free_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        self.free_bytes as f64 * 100.0 / self.total_bytes as f64
    }
}

/// (available, total) bytes of the file system holding `dir`.
fn free_space(dir: &Path) -> Option<(u64, u64)> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some((st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize))
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// What a gate's scan log holds: the scans kept (see `gate::retention`) and the tickets whose
/// older uses were folded into a tally.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScanLogStats {
    pub scans: u64,
    pub oldest: Option<DateTime<Utc>>,
    pub tallies: u64,
}

/// Builds the report from the database and the engine's link status.
pub fn report(
    conn: &Connection,
    device_id: &str,
    roles: Vec<String>,
    link: LinkStatus,
    now: DateTime<Utc>,
) -> crate::replica::Result<StatusReport> {
    let mut cursors = Vec::new();
    for r in Resource::ALL {
        let row: Option<(String, String)> = conn
            .prepare_cached("SELECT cursor, updated_at FROM sync_cursors WHERE resource = ?1")?
            .query_row([r.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
            .ok();
        let (cursor, updated_at) = match row {
            Some((c, u)) => (
                c,
                DateTime::parse_from_rfc3339(&u)
                    .ok()
                    .map(|d| d.with_timezone(&Utc)),
            ),
            None => (String::new(), None),
        };
        cursors.push(CursorAge {
            resource: r.as_str().to_owned(),
            cursor,
            age_secs: updated_at.map(|u| (now - u).num_seconds()),
            updated_at,
        });
    }
    let stats = outbox::stats(conn)?;
    let dead_letters = outbox::dead_letters(conn, 20)?
        .into_iter()
        .map(|r| DeadLetter {
            id: r.id,
            kind: r.kind,
            reason: r.dead_reason.unwrap_or_default(),
            attempts: r.attempts,
        })
        .collect();
    let count = |t: &str| -> rusqlite::Result<u64> {
        conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
    };
    Ok(StatusReport {
        device_id: device_id.to_owned(),
        now,
        link,
        cursors,
        outbox: stats,
        dead_letters,
        constituents: count("constituents")?,
        memberships: count("memberships")?,
        tickets: count("tickets")?,
        scan_log: {
            let (scans, oldest, tallies) = crate::gate::scan_log::stats(conn)?;
            (roles.iter().any(|r| r == "gate") || scans > 0).then_some(ScanLogStats {
                scans,
                oldest,
                tallies,
            })
        },
        kiosk: {
            let kiosk = roles.iter().any(|r| r == "kiosk");
            let c = crate::kiosk::orders::counts(conn).map_err(|e| {
                crate::replica::ReplicaError::Corrupt {
                    table: "orders",
                    detail: e.to_string(),
                }
            })?;
            (kiosk || c.orders > 0)
                .then(|| -> crate::replica::Result<KioskStats> {
                    let one = |sql: &str| -> rusqlite::Result<u64> {
                        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                            .map(|n| n as u64)
                    };
                    let local = crate::gate::station::now_local(now, None)
                        .local
                        .format("%Y-%m-%dT%H:%M:%S")
                        .to_string();
                    let (leased, sold) = conn.query_row(
                        "SELECT coalesce(sum(l.seats), 0),
                            coalesce(sum(l.pruned_seats
                                + (SELECT coalesce(sum(o.seats), 0) FROM order_lines o
                                   WHERE o.slot_id = l.slot_id)), 0)
                     FROM leases l WHERE l.sales_close > ?1",
                        [&local],
                        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
                    )?;
                    Ok(KioskStats {
                        orders: c.orders,
                        tickets: c.tickets,
                        not_printed: one(
                            "SELECT count(*) FROM orders WHERE print_state != 'printed'",
                        )?,
                        unsettled_payments: c.intents_started,
                        to_refund_by_hand: c.to_refund_by_hand,
                        seats_leased: leased,
                        seats_sold: sold,
                        signing_key: conn
                            .query_row(
                                "SELECT value FROM kiosk_state WHERE key = 'signing_key_id'",
                                [],
                                |r| r.get::<_, String>(0),
                            )
                            .ok()
                            .and_then(|v| v.parse().ok()),
                    })
                })
                .transpose()?
        },
        volunteers: {
            let events = crate::replica::volunteer::events(conn)?;
            if events.is_empty() {
                None
            } else {
                let mut event_problems = Vec::new();
                for e in &events {
                    let job_known = crate::replica::volunteer::job_exists(conn, e.job.trim())?;
                    if let Some(p) = crate::volunteer::event_problem(e, &|_| job_known) {
                        event_problems.push((e.name.clone(), p.words()));
                    }
                }
                Some(VolunteerStats {
                    checked_in: count("volunteer_clock")?,
                    timesheets: count("timesheets")?,
                    to_approve: conn.query_row(
                        "SELECT count(*) FROM timesheets WHERE needs_approval IS NOT NULL",
                        [],
                        |r| r.get::<_, i64>(0).map(|n| n as u64),
                    )?,
                    event_problems,
                })
            }
        },
        storage: conn.path().and_then(|p| Storage::of(Path::new(p))),
        kept_aside: {
            let mut kept = crate::replica::kept_aside_records(conn)?;
            if let Some(p) = conn.path() {
                kept.extend(
                    crate::replica::store::kept_aside(Path::new(p))
                        .into_iter()
                        .map(|f| format!("file {f}")),
                );
            }
            kept
        },
        roles,
    })
}

/// Human-readable rendering for the terminal.
pub fn render(r: &StatusReport) -> String {
    let mut s = String::new();
    let when = |t: Option<DateTime<Utc>>| {
        t.map_or("never".to_owned(), |t| {
            format!(
                "{} ({} ago)",
                t.format("%Y-%m-%d %H:%M:%S UTC"),
                ago((r.now - t).num_seconds())
            )
        })
    };
    s.push_str(&format!(
        "device      {}  roles: {}\n",
        r.device_id,
        r.roles.join(", ")
    ));
    let state = if r.link.unauthorized {
        "UNAUTHORISED (hub refuses the device token)"
    } else if r.link.incompatible {
        "INCOMPATIBLE (nothing is synced until fixed; see last error)"
    } else if r.link.online {
        "online"
    } else if r.link.unreachable {
        "OFFLINE (hub unreachable; retrying)"
    } else if r.link.last_error.is_some() {
        "FAILING (retrying; see last error)"
    } else {
        "OFFLINE"
    };
    s.push_str(&format!("hub link    {state}\n"));
    if let Some(hub) = &r.link.hub_id {
        s.push_str(&format!("hub         {hub}\n"));
    }
    s.push_str(&format!("last sync   {}\n", when(r.link.last_pull_ok)));
    s.push_str(&format!("last upload {}\n", when(r.link.last_push_ok)));
    s.push_str(&format!("last purge  {}\n", when(r.link.last_purge)));
    if let Some(e) = &r.link.last_error {
        s.push_str(&format!("last error  {e}\n"));
    }
    s.push_str(&format!(
        "replica     {} constituents, {} memberships, {} tickets\n",
        r.constituents, r.memberships, r.tickets
    ));
    s.push_str("cursors\n");
    for c in &r.cursors {
        s.push_str(&format!(
            "  {:<16} {}\n",
            c.resource,
            c.age_secs.map_or("never synced".to_owned(), |a| format!(
                "updated {} ago",
                ago(a)
            ))
        ));
    }
    s.push_str(&format!(
        "outbox      {} pending, {} delivered, {} dead-lettered\n",
        r.outbox.pending, r.outbox.delivered, r.outbox.dead
    ));
    for d in &r.dead_letters {
        s.push_str(&format!(
            "  dead #{} {} after {} attempt(s): {}\n",
            d.id, d.kind, d.attempts, d.reason
        ));
    }
    if let Some(log) = &r.scan_log {
        let since = log.oldest.map_or(String::new(), |t| {
            format!(" since {}", t.format("%Y-%m-%d %H:%M UTC"))
        });
        s.push_str(&format!(
            "scan log    {} scans{since}, {} ticket tallies of older uses\n",
            log.scans, log.tallies
        ));
    }
    if let Some(k) = &r.kiosk {
        s.push_str(&format!(
            "kiosk       {} orders, {} tickets; signing key {}\n",
            k.orders,
            k.tickets,
            k.signing_key
                .map_or("NOT REGISTERED (the kiosk cannot sell)".to_owned(), |id| id
                    .to_string())
        ));
        s.push_str(&format!(
            "  seats     {} leased for slots still on sale, {} of them sold here\n",
            k.seats_leased, k.seats_sold
        ));
        if k.not_printed > 0 {
            s.push_str(&format!(
                "  PRINTING  {} order(s) not fully printed: portico kiosk orders, then reprint\n",
                k.not_printed
            ));
        }
        if k.unsettled_payments > 0 {
            s.push_str(&format!(
                "  PAYMENTS  {} not settled with the terminal: portico kiosk settle\n",
                k.unsettled_payments
            ));
        }
        if k.to_refund_by_hand > 0 {
            s.push_str(&format!(
                "  REFUNDS   {} payment(s) the terminal would not give back: refund by hand, \
                 see portico kiosk settle\n",
                k.to_refund_by_hand
            ));
        }
    }
    if let Some(v) = &r.volunteers {
        s.push_str(&format!(
            "volunteers  {} checked in now, {} timesheets ({} to approve)\n",
            v.checked_in, v.timesheets, v.to_approve
        ));
        for (event, why) in &v.event_problems {
            s.push_str(&format!(
                "  EVENT     {event:?} cannot be clocked into: {why}\n"
            ));
        }
    }
    if let Some(st) = &r.storage {
        let low = if st.free_percent() < LOW_SPACE_PERCENT {
            "  LOW DISK SPACE"
        } else {
            ""
        };
        s.push_str(&format!(
            "storage     database {} (+ {} WAL), {} free of {} ({:.0}%){low}\n",
            bytes(st.database_bytes),
            bytes(st.wal_bytes),
            bytes(st.free_bytes),
            bytes(st.total_bytes),
            st.free_percent()
        ));
    }
    if !r.kept_aside.is_empty() {
        s.push_str(&format!(
            "kept aside  {} record(s) or file(s) this build cannot read, never deleted:\n",
            r.kept_aside.len()
        ));
        for f in &r.kept_aside {
            s.push_str(&format!("  {f}\n"));
        }
    }
    s
}

fn ago(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..=89 => format!("{secs}s"),
        90..=5399 => format!("{}m", secs / 60),
        5400..=172_799 => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d", secs / 86_400),
    }
}

/// A request to a running device over its socket: one line, either a plain word (`status`,
/// `sync`, `push`) or this enum as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Status,
    /// Start a pull now.
    Sync,
    /// Start an upload now.
    Push,
    /// The outbox rows in `listing`, oldest first.
    OutboxList {
        listing: outbox::Listing,
        limit: usize,
    },
    /// Put dead letters back in the queue (logged by the device, row by row).
    OutboxRequeue(outbox::Requeue),
}

impl Request {
    /// The line that carries this request.
    pub fn line(&self) -> String {
        match self {
            Request::Status => "status".into(),
            Request::Sync => "sync".into(),
            Request::Push => "push".into(),
            other => serde_json::to_string(other).unwrap_or_default(),
        }
    }

    fn parse(line: &str) -> Result<Self, String> {
        match line.trim() {
            "status" => Ok(Request::Status),
            "sync" => Ok(Request::Sync),
            "push" => Ok(Request::Push),
            json if json.starts_with('{') => {
                serde_json::from_str(json).map_err(|e| format!("bad request: {e}"))
            }
            other => Err(format!("unknown request {other:?}")),
        }
    }
}

fn error_reply(message: impl std::fmt::Display) -> String {
    serde_json::json!({"error": message.to_string()}).to_string()
}

/// Carries out one request against the running device.
async fn answer(engine: &Arc<SyncEngine>, line: &str) -> String {
    let request = match Request::parse(line) {
        Ok(r) => r,
        Err(e) => return error_reply(e),
    };
    let e = engine.clone();
    let on_db = |f: Box<dyn FnOnce(&Connection) -> String + Send>| async move {
        tokio::task::spawn_blocking(move || {
            let db = e.database();
            let conn = db.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        .unwrap_or_else(error_reply)
    };
    match request {
        Request::Status => {
            let engine = engine.clone();
            on_db(Box::new(move |conn| {
                let cfg = engine.config();
                report(
                    conn,
                    &cfg.device_id,
                    cfg.roles.iter().map(|r| r.as_str().to_owned()).collect(),
                    engine.link_status(),
                    engine.now(),
                )
                .map(|r| serde_json::to_string(&r).unwrap_or_default())
                .unwrap_or_else(error_reply)
            }))
            .await
        }
        Request::Sync => {
            engine.pull_now.notify_one();
            r#"{"ok":true}"#.to_owned()
        }
        Request::Push => {
            engine.push_now.notify_one();
            r#"{"ok":true}"#.to_owned()
        }
        Request::OutboxList { listing, limit } => {
            on_db(Box::new(move |conn| {
                match outbox::list(conn, listing, limit) {
                    Ok(rows) => serde_json::to_string(&rows).unwrap_or_default(),
                    Err(e) => error_reply(e),
                }
            }))
            .await
        }
        Request::OutboxRequeue(which) => {
            let now = engine.now().timestamp_millis();
            let reply = match engine
                .store()
                .write_async(move |tx| outbox::requeue(tx, &which, now))
                .await
            {
                Ok(done) => serde_json::to_string(&done).unwrap_or_default(),
                Err(e) => error_reply(e),
            };
            engine.push_now.notify_one();
            reply
        }
    }
}

/// Answers requests ([`Request`]) on `path` until the task is dropped.
pub async fn serve(
    path: &Path,
    engine: Arc<SyncEngine>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        // Only ever a socket is removed: the path might name any file by mistake.
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; set device.status_socket to a free path",
                    path.display()
                ),
            ));
        }
        // A stale socket from a previous run: removed only if nobody answers on it.
        if UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another portico answers on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let engine = engine.clone();
            tokio::spawn(async move {
                let (rd, mut wr) = stream.into_split();
                let mut lines = BufReader::new(rd).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = answer(&engine, &line).await;
                    if wr.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    }))
}

/// Asks a running device; the reply is one line of JSON.
pub async fn ask(path: &Path, request: &Request) -> std::io::Result<String> {
    ask_line(path, &request.line()).await
}

/// Sends one request line as it is (see [`Request`]).
pub async fn ask_line(path: &Path, line: &str) -> std::io::Result<String> {
    let stream = UnixStream::connect(path).await?;
    let (rd, mut wr) = stream.into_split();
    wr.write_all(format!("{line}\n").as_bytes()).await?;
    let mut lines = BufReader::new(rd).lines();
    lines.next_line().await?.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "device closed the connection",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status socket path that names some other file (the database, say, by a slip in the
    /// config) is refused, and the file is left alone.
    #[tokio::test]
    async fn the_status_socket_never_replaces_a_file_that_is_not_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("portico.db");
        std::fs::write(&victim, b"precious").unwrap();
        let store = Arc::new(crate::replica::Store::open(&dir.path().join("d.db")).unwrap());
        let cfg = "[device]\nid = \"g\"\nroles = [\"kiosk\"]\ndata_dir = \".\"\n[upstream]\nurl = \"https://localhost:1\"\nca_cert = \"ca.pem\"\ntoken_file = \"t\"\n[kiosk]\n";
        let pki = crate::tls::generate_pki("CA", &["localhost".into()]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), pki.ca_cert_pem).unwrap();
        std::fs::write(dir.path().join("t"), b"t0ken").unwrap();
        std::fs::set_permissions(
            dir.path().join("t"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        std::fs::write(dir.path().join("d.toml"), cfg).unwrap();
        let config = crate::config::load(&dir.path().join("d.toml")).unwrap();
        let engine = Arc::new(
            SyncEngine::new(Arc::new(config), store, Arc::new(crate::clock::SystemClock)).unwrap(),
        );
        let err = serve(&victim, engine).await.unwrap_err();
        assert!(err.to_string().contains("is not a socket"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn sizes_read_as_a_technician_writes_them() {
        let cases = [
            (0, "0 B"),
            (999, "999 B"),
            (1_000, "1.0 KB"),
            (803_139_584, "803.1 MB"),
            (252_000_000_000, "252.0 GB"),
        ];
        for (n, text) in cases {
            assert_eq!(bytes(n), text, "{n}");
        }
    }

    #[test]
    fn storage_names_the_database_the_wal_and_the_room_left() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("portico.db");
        std::fs::write(&db, vec![0u8; 8192]).unwrap();
        std::fs::write(dir.path().join("portico.db-wal"), vec![0u8; 4096]).unwrap();
        let st = Storage::of(&db).expect("a real file system");
        assert_eq!((st.database_bytes, st.wal_bytes), (8192, 4096));
        assert!(
            st.total_bytes > 0 && st.free_bytes <= st.total_bytes,
            "{st:?}"
        );
        assert!(Storage::of(&dir.path().join("missing.db")).is_none());

        let mut report = StatusReport {
            device_id: "gate-1".into(),
            roles: vec!["gate".into()],
            now: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            link: LinkStatus::default(),
            cursors: Vec::new(),
            outbox: OutboxStats::default(),
            dead_letters: Vec::new(),
            constituents: 0,
            memberships: 0,
            tickets: 0,
            scan_log: None,
            kiosk: None,
            volunteers: Some(VolunteerStats {
                checked_in: 2,
                timesheets: 14,
                to_approve: 1,
                event_problems: vec![(
                    "Dolphin Show Helpers".into(),
                    "job \"Dolphin Trainer\" does not exist in the CRM".into(),
                )],
            }),
            storage: Some(Storage {
                database_bytes: 803_139_584,
                wal_bytes: 4_120_000,
                free_bytes: 49_000_000_000,
                total_bytes: 252_000_000_000,
            }),
            kept_aside: Vec::new(),
        };
        let text = render(&report);
        assert!(
            text.contains(
                "volunteers  2 checked in now, 14 timesheets (1 to approve)\n  EVENT     \
                 \"Dolphin Show Helpers\" cannot be clocked into: job \
                 \"Dolphin Trainer\" does not exist in the CRM\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "storage     database 803.1 MB (+ 4.1 MB WAL), 49.0 GB free of 252.0 GB (19%)\n"
            ),
            "{text}"
        );
        report.scan_log = Some(ScanLogStats {
            scans: 120,
            oldest: None,
            tallies: 4,
        });
        assert!(
            render(&report).contains("scan log    120 scans, 4 ticket tallies of older uses\n"),
            "{}",
            render(&report)
        );
        report.storage.as_mut().unwrap().free_bytes = 20_000_000_000;
        assert!(
            render(&report).contains("(8%)  LOW DISK SPACE"),
            "{}",
            render(&report)
        );
        report.kept_aside = vec!["file portico.db.scan-journal-North".into()];
        assert!(
            render(&report).contains("kept aside  1 record(s) or file(s) this build cannot read")
                && render(&report).contains("  file portico.db.scan-journal-North\n"),
            "{}",
            render(&report)
        );
    }
}
