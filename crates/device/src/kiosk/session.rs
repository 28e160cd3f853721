//! The kiosk's session thread under `portico run`: the shell with its checkout flow, fed by the
//! screen's taps and a clock tick, showing each new screen model on whatever display is
//! attached (a window, or nothing).
//!
//! The thread owns the shell. Taps arrive on the device's kiosk inbox (a channel any thread
//! may send to), pass into the shell's own queue, and each one is handled at once; the clock
//! ticks four times a second for the idle timeout. After anything happens the thread computes
//! the screen's model and, if it changed, hands it to the display. Between visitors (on the
//! welcome screen) the catalog is read again from the replica once a minute, so a price or a
//! slot the hub changed reaches the screen, and the printer is checked every 30 seconds and
//! whenever a visitor leaves, so a kiosk out of paper says so before the next one starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::config::{DeviceConfig, KioskConfig};
use crate::kiosk::catalog::Catalog;
use crate::kiosk::checkout::{DAYS_AHEAD, Event, Screen};
use crate::kiosk::sale::Sales;
use crate::kiosk::shell::{KioskShell, ShellParts};
use crate::replica::Store;
use crate::screens::kiosk_view::KioskScreenModel;

/// Where the kiosk's screen models go (a window's poster).
pub type KioskDisplay = Arc<dyn Fn(KioskScreenModel) + Send + Sync>;

/// The display slot: empty until a window attaches.
pub type DisplaySlot = Arc<Mutex<Option<KioskDisplay>>>;

const TICK: Duration = Duration::from_millis(250);
const CATALOG_REFRESH: Duration = Duration::from_secs(60);
/// How often the printer is checked between visitors.
const PRINTER_CHECK: Duration = Duration::from_secs(30);

/// The catalog the kiosk sells from today: its products and the slots of the days on sale.
pub fn load_catalog(
    store: &Store,
    clock: &dyn Clock,
    zone: Option<chrono_tz::Tz>,
) -> Result<Catalog, crate::replica::ReplicaError> {
    let today = crate::gate::station::now_local(clock.now(), zone)
        .local
        .date();
    let last = today + chrono::Days::new(DAYS_AHEAD);
    let conn = store.reader()?;
    Ok(crate::replica::catalog::load_catalog(&conn, today, last)?.catalog)
}

/// The shell's parts for a device's `[kiosk]` section.
pub fn shell_parts(
    cfg: &DeviceConfig,
    kiosk: &KioskConfig,
    store: Arc<Store>,
    sales: Option<Arc<Sales>>,
    clock: Arc<dyn Clock>,
    online: Arc<dyn Fn() -> bool + Send + Sync>,
    lease_poke: Option<Arc<tokio::sync::Notify>>,
) -> Result<ShellParts, crate::replica::ReplicaError> {
    let catalog = load_catalog(&store, clock.as_ref(), cfg.timezone)?;
    Ok(ShellParts {
        flow: kiosk.flow(cfg.offer()),
        catalog,
        printer: crate::kiosk::runtime::printer(kiosk),
        paper: kiosk.printer.as_ref().map(|p| p.paper).unwrap_or_default(),
        letterhead: kiosk.letterhead.clone(),
        reader: store.reader()?,
        normalizer: cfg.normalizer.clone(),
        // The preview asks one more detail when several records match (the till, after that,
        // makes a new record for staff to review).
        intake: crate::intake::IntakeConfig {
            matching: cfg.matching,
            ..crate::intake::IntakeConfig::default()
        },
        clock,
        zone: cfg.timezone,
        online,
        lease_poke,
        hub: hub_link(cfg),
        tech: crate::kiosk::shell::TechParts {
            pin_file: kiosk.technician.pin_file.clone(),
            cards: kiosk.technician.cards.clone(),
            offline_limit: kiosk.offline_limit,
            device_id: cfg.device_id.clone(),
            roles: cfg.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            readers: cfg.inputs.inputs.iter().map(|i| i.name.clone()).collect(),
            terminal_kind: kiosk.terminal.kind_name().to_owned(),
            // The sync engine's, when the kiosk runs beside one (`portico run`).
            link: None,
            sync_now: None,
        },
        sales,
        device_id: cfg.device_id.clone(),
        store,
    })
}

/// The hub for Find My Membership's calls, when the kiosk runs on a tokio runtime and its
/// client can be made.
fn hub_link(cfg: &DeviceConfig) -> Option<crate::kiosk::shell::HubLink> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    match crate::sync::HubClient::new(&cfg.upstream) {
        Ok(client) => Some(crate::kiosk::shell::HubLink { client, runtime }),
        Err(e) => {
            tracing::warn!(error = %e, "no hub client for Find My Membership");
            None
        }
    }
}

/// What the screen shows when the kiosk's session could not start (no signing key yet, no
/// catalog): the out-of-order screen.
pub fn out_of_service_model(lang: crate::kiosk::catalog::Lang) -> KioskScreenModel {
    KioskScreenModel {
        lang,
        out_of_order: Some(crate::kiosk::out_of_order::OutOfOrder::NotReady),
        ..KioskScreenModel::default()
    }
}

/// The running session thread.
pub struct SessionThread {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SessionThread {
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the session thread: `inbox` carries the screen's events; models go to `display`.
pub fn spawn(
    mut shell: KioskShell,
    inbox: Receiver<Event>,
    display: DisplaySlot,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    zone: Option<chrono_tz::Tz>,
) -> std::io::Result<SessionThread> {
    let stop = Arc::new(AtomicBool::new(false));
    // Taps go straight into the shell's own queue, which the session thread waits on.
    let into_shell = shell.sender();
    let forward_stop = stop.clone();
    std::thread::Builder::new()
        .name("kiosk-inbox".into())
        .spawn(move || {
            while !forward_stop.load(Ordering::SeqCst) {
                match inbox.recv_timeout(Duration::from_millis(500)) {
                    Ok(e) => into_shell(e),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        })?;
    let session_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name("kiosk-session".into())
        .spawn(move || {
            let mut shown: Option<KioskScreenModel> = None;
            let mut had_display = false;
            let mut last_tick = Instant::now();
            let mut last_catalog = Instant::now();
            // Checked at once: a kiosk that starts without paper says so on its first screen.
            shell.check_printer();
            shell.check_terminal();
            let mut last_printer = Instant::now();
            while !session_stop.load(Ordering::SeqCst) {
                crate::liveness::beat("kiosk session");
                shell.pump(TICK);
                let now = Instant::now();
                if now.duration_since(last_tick) >= TICK {
                    shell.handle(Event::Tick, now);
                    last_tick = now;
                }
                // Between visitors: every 30 s, and as soon as a visitor has gone (their
                // printing may have emptied the roll).
                let welcome = shell.flow().screen() == &Screen::Welcome;
                let visitor_left =
                    welcome && shown.as_ref().is_some_and(|m| m.screen != Screen::Welcome);
                if welcome && (visitor_left || now.duration_since(last_printer) >= PRINTER_CHECK) {
                    last_printer = now;
                    shell.check_printer();
                    shell.check_terminal();
                }
                if shell.flow().screen() == &Screen::Welcome
                    && now.duration_since(last_catalog) >= CATALOG_REFRESH
                {
                    last_catalog = now;
                    // Check-outs that never came are closed (for approval) as their time passes.
                    shell.sweep_volunteer_clocks();
                    match load_catalog(&store, clock.as_ref(), zone) {
                        Ok(c) => shell.set_catalog(c),
                        Err(e) => tracing::warn!(error = %e, "kiosk catalog not reloaded"),
                    }
                }
                let model = shell.model(now);
                let show = display.lock().unwrap_or_else(|p| p.into_inner()).clone();
                // A display attached since the last model gets the current one at once.
                if shown.as_ref() != Some(&model) || (show.is_some() && !had_display) {
                    if let Some(show) = &show {
                        show(model.clone());
                    }
                    shown = Some(model);
                }
                had_display = show.is_some();
            }
            crate::liveness::forget("kiosk session");
        })?;
    Ok(SessionThread {
        stop,
        thread: Some(thread),
    })
}
