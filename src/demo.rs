//! `portico demo`: a seeded hub and a device on embedded defaults, on loopback, with no
//! hardware. It walks through what a venue sees: the first sync, a merge in the CRM reaching
//! the device, gate decisions from a simulated scanner (the screen rendered headless to PNG),
//! uploads (one the CRM refuses), a kiosk purchase (tickets signed by the kiosk, printed on a
//! loopback printer, admitted at the gate), and the device status. With a display, the gate screen then
//! opens in a window and codes typed on the terminal are scanned by the running device.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::Utc;
use tokio::sync::watch;

use crate::config;
use crate::device::{Device, progress_observer};
use crate::hub::{HubDir, HubServer, HubStore, seed};
use crate::outbox;

pub const DEMO_CONFIG: &str = include_str!("../firmware-config/demo.toml");
const DEMO_URL: &str = "https://localhost:8443";

pub struct DemoOptions {
    pub dir: PathBuf,
    pub constituents: usize,
    pub seed: u64,
    /// Keep hub and device running until Ctrl-C after the walkthrough.
    pub serve: bool,
    /// Open the gate screen in a window when a display is available.
    pub window: bool,
    /// Go on from the databases a previous run left in `dir`; otherwise they are removed
    /// first, so every run tells the same story (the same ticket admitted once, then refused).
    pub resume: bool,
}

/// The databases a demo run leaves in `dir` (the hub's and the device's, each with its WAL and
/// shared-memory files), those that exist. Nothing else in `dir` is touched: the hub's CA and
/// certificates are kept, and a directory the demo did not make keeps its other files.
fn previous_run(dir: &Path) -> Vec<PathBuf> {
    let hub = HubDir::new(dir.join("hub")).database();
    let device = dir.join(demo_data_dir()).join("portico.db");
    [hub, device]
        .iter()
        .flat_map(|db| crate::replica::database_files(db))
        .filter(|p| p.exists())
        .collect()
}

/// The device's `data_dir` in the embedded demo config, relative to the demo's directory.
fn demo_data_dir() -> String {
    toml::from_str::<toml::Table>(DEMO_CONFIG)
        .ok()
        .and_then(|t| {
            t.get("device")?
                .get("data_dir")?
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "device".into())
}

/// Writes the demo's device config for a hub at `url` into `dir` and loads it; with the
/// kiosk's receipt printer at `printer` when one is given.
pub fn write_device_config(
    dir: &Path,
    url: &str,
    printer: Option<SocketAddr>,
) -> Result<config::DeviceConfig> {
    let mut text = DEMO_CONFIG.replace(DEMO_URL, url);
    if let Some(addr) = printer {
        text.push_str(&format!(
            "\n# The demo's loopback ESC/POS printer.\n[kiosk.printer]\nkind = \"tcp\"\naddress = \"{addr}\"\n"
        ));
    }
    let path = dir.join("demo.toml");
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    Ok(config::load(&path)?)
}

pub async fn run(opts: DemoOptions) -> Result<()> {
    let dir = &opts.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let hub_dir = HubDir::new(dir.join("hub"));
    println!("== Portico demo in {}", dir.display());
    let previous = previous_run(dir);
    if !previous.is_empty() {
        if opts.resume {
            println!("going on from the previous run's hub and device (--resume)");
        } else {
            for file in &previous {
                std::fs::remove_file(file)
                    .with_context(|| format!("removing the previous run's {}", file.display()))?;
            }
            println!(
                "starting over: the previous run's hub and device databases removed (--resume keeps them)"
            );
        }
    }

    // 1. The hub: a private CA, a seeded CRM replica, and a token for the device.
    hub_dir.init(&["localhost".into(), "127.0.0.1".into()])?;
    let store = Arc::new(HubStore::open(&hub_dir.database())?);
    if store.count(crate::protocol::Resource::Constituents)? == 0 {
        let spec = seed::SeedSpec::new(opts.constituents, opts.seed, Utc::now().date_naive());
        let s = store.clone();
        let report = tokio::task::spawn_blocking(move || seed::seed(&s, &spec)).await??;
        println!(
            "hub seeded: {} constituents, {} memberships, {} tickets, {} products, {} merges",
            report.constituents, report.memberships, report.tickets, report.products, report.merges
        );
    }
    let token = store.add_device("demo-gate-1")?;
    crate::hub::write_private(&dir.join("device.token"), token.as_bytes())?;
    let tls = crate::tls::server_config(&hub_dir.server_cert(), &hub_dir.server_key())?;
    let hub = HubServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), store.clone(), tls).await?;
    let url = format!("https://localhost:{}", hub.addr.port());
    println!(
        "hub listening on {url} (TLS, private CA {})",
        hub_dir.ca_cert().display()
    );

    // 2. The device, on the embedded demo config.
    // The kiosk's receipt printer: a loopback ESC/POS printer that reads its jobs back.
    let printer = crate::loopback_printer::LoopbackPrinter::start()?;
    let cfg = write_device_config(dir, &url, Some(printer.addr))?;
    println!("device config: {}", cfg.source.display());
    let device = Device::open_system(cfg)?;
    let engine = device.engine.clone();
    let hello = engine.hello().await?;
    println!(
        "hub {} says hello to device {} (protocol v{})",
        hello.hub_id, hello.device_id, hello.protocol
    );

    let t = std::time::Instant::now();
    let pulled = engine.pull_all(progress_observer()).await?;
    engine.maybe_purge().await?;
    println!(
        "sync: {} changes in {} pages, {:.2}s",
        pulled.upserts + pulled.deletes,
        pulled.pages,
        t.elapsed().as_secs_f64()
    );

    // 3. A merge in the CRM reaches the device at the next sync.
    //    The survivor holds a valid membership; the duplicate (made at a kiosk) does not.
    let (merged, survivor) = pick_merge(&store)?;
    store.merge(&merged, &survivor, Utc::now())?;
    engine.pull_all(None).await?;
    let resolved = {
        let db = engine.database();
        let conn = db.lock().unwrap_or_else(|p| p.into_inner());
        crate::replica::resolve(&conn, &merged)?
    };
    println!(
        "CRM merged {merged} into {survivor}; the device now resolves {} -> {}",
        resolved.requested, resolved.survivor
    );

    // 4. The gate: codes typed into a simulated serial scanner (a pseudo-terminal) go through
    //    the real framing, parsing, lookup and decision; the turnstile is simulated.
    gate_walkthrough(&engine, &store, &merged).await?;

    // 5. Uploads: the gate's scans, an order, and volunteer hours the CRM must refuse (event
    //    name over 30 characters).
    let volunteer = survivor.clone();
    engine.store().write(move |tx| {
        use crate::upstream::{OrderLineV1, OrderV1, Payload, TimesheetV1};
        let now = Utc::now();
        let order = OrderV1 {
            lines: vec![OrderLineV1 {
                product_id: "p-adult".into(),
                quantity: 2,
                unit_price: Some(2400),
            }],
            currency: Some("USD".into()),
            constituent: None,
        };
        outbox::enqueue(tx, &order.into_upstream(), now.timestamp_millis())?;
        let hours = TimesheetV1 {
            constituent: volunteer,
            event_name: "Summer Family Festival Weekend Volunteers".into(),
            job: "Event Support".into(),
            date: now.date_naive(),
            hours: 4.5,
        };
        outbox::enqueue(tx, &hours.into_upstream(), now.timestamp_millis())?;
        Ok(())
    })?;
    let pushed = engine.push_once().await?;
    println!(
        "uploaded: {} accepted, {} dead-lettered (kept, with the reason)",
        pushed.delivered, pushed.dead
    );

    // 6. The kiosk: a purchase from the first tap to the printed receipt, and the gate admits
    //    a ticket the kiosk signed.
    crate::demo_kiosk::walkthrough(&engine, &store, &printer).await?;

    // 7. What a technician sees. With a display, the gate screen opens in a window and the
    //    running device takes codes typed here, through a simulated scanner.
    #[cfg(feature = "ui")]
    let (device, window) = if opts.window {
        open_demo_window(device)?
    } else {
        (device, None)
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let device = Arc::new(device);
    let runner = {
        let rx = shutdown_rx.clone();
        let device = device.clone();
        tokio::spawn(async move { device.run(rx).await })
    };
    let socket = engine.config().status_socket.clone();
    let mut reply = None;
    for _ in 0..50 {
        if let Ok(r) = crate::status::ask(&socket, &crate::status::Request::Status).await {
            reply = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let report: crate::status::StatusReport =
        serde_json::from_str(&reply.context("device status socket did not answer")?)?;
    println!(
        "\n$ portico status --config {}\n{}",
        engine.config().source.display(),
        crate::status::render(&report)
    );

    #[cfg(feature = "ui")]
    if let Some(window) = window {
        println!(
            "\nThe gate screen is open. Type a code and Enter to scan it (try the codes above);\n\
             close the window or press Ctrl-C to finish."
        );
        tokio::select! {
            _ = window.closed => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        // Then the visitor kiosk, on the same running device.
        match crate::ui::host::attach_kiosk_window(&device) {
            Ok(closed) => {
                println!(
                    "\nThe kiosk screen is open: buy tickets as a visitor would (the card terminal \n\
                     approves, the loopback printer prints); close the window or press Ctrl-C to finish."
                );
                tokio::select! {
                    _ = closed => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => println!("(no kiosk window: {e})"),
        }
    }
    if opts.serve {
        println!("hub and device keep running; Ctrl-C stops them.");
        tokio::signal::ctrl_c().await?;
    }
    let _ = shutdown_tx.send(true);
    runner.await??;
    hub.shutdown().await;
    println!("demo finished.");
    Ok(())
}

/// The gate window of the demo and the simulated scanner that feeds it.
#[cfg(feature = "ui")]
struct DemoWindow {
    closed: tokio::sync::oneshot::Receiver<Result<(), crate::ui::UiError>>,
}

/// Reopens the device with a simulated serial scanner (a pseudo-terminal) whose codes come
/// from lines typed on the terminal, and opens its gate window. Without a display the device
/// is returned unchanged and the demo stays headless.
#[cfg(feature = "ui")]
fn open_demo_window(device: Device) -> Result<(Device, Option<DemoWindow>)> {
    use std::io::{BufRead, Write};

    let mut cfg = (*device.config).clone();
    if let Err(e) = crate::ui::gate_screen::check_display() {
        println!("\n(no gate window: {e}; the screens above were rendered headless)");
        return Ok((device, None));
    }
    let (mut master, slave, inputs) = pty_scanner("typed-codes", "")?;
    cfg.inputs = inputs;
    drop(device);
    let device = Device::open_system(cfg)?;
    let closed = match crate::ui::host::attach_gate_window(&device) {
        Ok(closed) => closed,
        Err(e) => {
            println!("\n(no gate window: {e})");
            return Ok((device, None));
        }
    };
    std::thread::Builder::new()
        .name("demo-keyboard".into())
        .spawn(move || {
            let _slave = slave;
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                let code = line.trim();
                if code.is_empty() {
                    continue;
                }
                if master.write_all(format!("{code}\r").as_bytes()).is_err() {
                    break;
                }
                let _ = master.flush();
            }
        })?;
    Ok((device, Some(DemoWindow { closed })))
}

/// Feeds a few codes through a pseudo-terminal scanner into the gate station and prints each
/// decision as the gate screen would show it.
async fn gate_walkthrough(
    engine: &Arc<crate::sync::SyncEngine>,
    store: &Arc<HubStore>,
    merged: &str,
) -> Result<()> {
    use std::io::Write;

    use serialport::SerialPort;

    use crate::gate::station::{Station, now_local};
    use crate::input::InputEvent;
    use crate::protocol::{MembershipDto, Resource, TicketDto, ValidityDto};

    let cfg = engine.config().clone();
    let Some(gate) = cfg.gate.clone() else {
        return Ok(());
    };
    let today = Utc::now().date_naive();
    let memberships: Vec<MembershipDto> = store.all(Resource::Memberships)?;
    let active = memberships.iter().find(|m| {
        m.status == crate::domain::MembershipStatus::Active
            && m.expiry > today
            && m.guest_allowance > 0
    });
    let lapsed = memberships
        .iter()
        .find(|m| m.status == crate::domain::MembershipStatus::Lapsed);
    let ticket = store
        .all::<TicketDto>(Resource::Tickets)?
        .into_iter()
        .find(|t| t.uses_allowed == 1 && t.validity == ValidityDto::Date { date: today });
    let mut codes: Vec<String> = Vec::new();
    codes.extend(active.map(|m| m.membership_id.clone()));
    codes.extend(lapsed.map(|m| m.membership_id.clone()));
    if let Some(t) = &ticket {
        codes.push(t.secret.clone());
        codes.push(t.secret.clone());
    }
    codes.push(merged.to_owned());
    codes.push("HELLO WORLD".to_owned());

    // Codes repeat on purpose (a ticket used twice): no double-scan suppression.
    let (mut master, slave, inputs) = pty_scanner("demo-scanner", "double_scan_window_ms = 0\n")?;
    let slave_path = slave.name().unwrap_or_default();
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = crate::input::StopSignal::new();
    let readers = crate::input::spawn_inputs(&inputs, tx, &stop)?;
    let relay = crate::gate::relay::SimulatedOutput::new(Arc::new(crate::clock::SystemClock));
    let mut station = Station::open(
        engine.store(),
        &cfg.device_id,
        gate,
        Box::new(relay.clone()),
        Arc::new(|| true),
    )?;
    println!(
        "\ngate \"{}\": scanning {} codes on a simulated serial scanner ({slave_path})",
        station.policy().policy.gate_id,
        codes.len()
    );
    #[cfg(feature = "ui")]
    let gate_name = station.policy().policy.gate_id.clone();
    #[cfg(feature = "ui")]
    let gate_lang = station.policy().policy.language;
    let decided =
        tokio::task::spawn_blocking(move || -> Result<(Vec<String>, Vec<crate::gate::Screen>)> {
            let mut lines = Vec::new();
            let mut screens = Vec::new();
            for code in &codes {
                master.write_all(format!("{code}\r").as_bytes())?;
                master.flush()?;
                let scan = loop {
                    match rx.recv_timeout(std::time::Duration::from_secs(5))? {
                        InputEvent::Scan(scan) => break scan,
                        _ => continue,
                    }
                };
                let d = station.scan(&scan.credential, None, 1, now_local(Utc::now(), None))?;
                let screen = d.effects.iter().find_map(|e| match e {
                    crate::gate::Effect::ShowScreen(s) => Some(s.clone()),
                    _ => None,
                });
                let verdict = if d.is_admit() { "ADMIT" } else { "DENY " };
                let mut line = format!("  {verdict} {code:<18} {}", d.reason.plain_words());
                if let Some(s) = screen {
                    screens.push(s.clone());
                    if let Some(name) = s.name {
                        line.push_str(&format!(" — {name}"));
                    }
                    if let Some(level) = s.membership_level {
                        line.push_str(&format!(
                            " ({level}, {} guest(s))",
                            s.guest_allowance.unwrap_or(0)
                        ));
                    }
                    for note in s.notes {
                        line.push_str(&format!(" [{note}]"));
                    }
                }
                lines.push(line);
            }
            stop.stop();
            for r in readers {
                let _ = r.join();
            }
            Ok((lines, screens))
        })
        .await??;
    let (lines, screens) = decided;
    #[cfg(not(feature = "ui"))]
    let _ = screens;
    for line in lines {
        println!("{line}");
    }
    // The gate screen as visitors saw the last admission and the last denial, rendered
    // headless (no display needed).
    #[cfg(feature = "ui")]
    for (admit, file) in [(true, "gate-admit.png"), (false, "gate-deny.png")] {
        let Some(screen) = screens
            .iter()
            .rev()
            .find(|s| (s.colour == crate::gate::Colour::Green) == admit)
        else {
            continue;
        };
        let mut view = crate::ui::gate_view::GateView::new(gate_name.clone(), Default::default())
            .in_language(gate_lang);
        view.show_result(
            crate::ui::gate_view::result_view(screen),
            std::time::Instant::now(),
        );
        let path = cfg.data_dir.parent().unwrap_or(&cfg.data_dir).join(file);
        match crate::ui::headless::render_gate_png(&view.model(), 800, 480, &path) {
            Ok(()) => println!("  gate screen written to {}", path.display()),
            Err(e) => println!("  gate screen not rendered: {e}"),
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    println!("  turnstile pulses: {}", relay.pulses().len());
    Ok(())
}

/// A simulated serial scanner: a pseudo-terminal pair (write codes into the master) and the
/// `[[inputs]]` that read its slave, with the demo's membership-card pattern and any further
/// `[credentials]` lines.
fn pty_scanner(
    name: &str,
    credentials: &str,
) -> Result<(
    serialport::TTYPort,
    serialport::TTYPort,
    crate::input::config::ValidatedInputs,
)> {
    use serialport::SerialPort;
    let (master, slave) = serialport::TTYPort::pair()?;
    let path = slave.name().unwrap_or_default();
    let inputs = crate::input::config::from_toml_str(&format!(
        "[[inputs]]\nname = \"{name}\"\nkind = \"serial\"\npath = \"{path}\"\nterminator = \"cr\"\n\n[credentials]\nmembership_regex = \"^M[0-9]{{7}}$\"\n{credentials}"
    ))
    .map_err(|e| anyhow::anyhow!("demo scanner config: {e:?}"))?;
    Ok((master, slave, inputs))
}

/// A constituent with a current membership (the survivor) and one without any (the duplicate).
fn pick_merge(store: &HubStore) -> Result<(String, String)> {
    use crate::protocol::{MembershipDto, Resource};
    let today = Utc::now().date_naive();
    let memberships: Vec<MembershipDto> = store.all(Resource::Memberships)?;
    let survivor = memberships
        .iter()
        .filter(|m| m.status == crate::domain::MembershipStatus::Active && m.expiry > today)
        .filter_map(|m| m.members.first().cloned())
        .nth(1)
        .unwrap_or_else(|| seed::lookup_id(4));
    let members: std::collections::HashSet<&String> =
        memberships.iter().flat_map(|m| &m.members).collect();
    let merged = (0..1000)
        .map(seed::lookup_id)
        .find(|id| {
            *id != survivor
                && !members.contains(id)
                && store
                    .constituent(id)
                    .ok()
                    .flatten()
                    .is_some_and(|c| c.status == crate::domain::ConstituentStatus::Active)
        })
        .unwrap_or_else(|| seed::lookup_id(3));
    Ok((merged, survivor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_run_finds_only_the_previous_runs_databases() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert!(previous_run(dir).is_empty(), "a fresh directory");
        std::fs::create_dir_all(dir.join("hub")).unwrap();
        std::fs::create_dir_all(dir.join(demo_data_dir())).unwrap();
        for f in [
            "hub/hub.db",
            "hub/hub.db-wal",
            "hub/ca.pem",
            "device/portico.db",
            "device/portico.db-shm",
            "notes.txt",
        ] {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        let mut found: Vec<String> = previous_run(dir)
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                "device/portico.db",
                "device/portico.db-shm",
                "hub/hub.db",
                "hub/hub.db-wal"
            ]
        );
    }
}
