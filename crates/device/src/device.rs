//! Assembling a running device from its config: the database, the sync engine, the status
//! socket, and (for a terminal) the first-sync progress display.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::watch;

use crate::clock::{Clock, SystemClock};
use crate::config::DeviceConfig;
use crate::protocol::Resource;
use crate::sync::{Observer, SyncEngine, SyncError};

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Replica(#[from] crate::replica::ReplicaError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Gate(#[from] crate::gate::station::StationError),
    #[error("turnstile relay: {0}")]
    Relay(#[from] crate::gate::RelayError),
    #[error("scanners: {0}")]
    Inputs(std::io::Error),
    #[error("status socket {path}: {source}")]
    Socket {
        path: String,
        source: std::io::Error,
    },
    #[error("metrics address {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A device's long-lived parts.
pub struct Device {
    pub config: Arc<DeviceConfig>,
    pub engine: Arc<SyncEngine>,
    /// Where the running gate shows its decisions (a window), when one is attached.
    display: Mutex<Option<GateDisplay>>,
    /// Staff's commands for the running gate (from its screen), and their receiving end until
    /// the gate starts.
    commands: std::sync::mpsc::Sender<GateCommand>,
    commands_rx: Mutex<Option<std::sync::mpsc::Receiver<GateCommand>>>,
    /// The time every decision is made at (the system clock, or a test's).
    clock: Arc<dyn Clock>,
    /// The device database: its one writer, its checkpointer, read connections.
    pub store: Arc<crate::replica::Store>,
    /// The kiosk screen's taps for the kiosk's session, their receiving end until the session
    /// starts, and where the session shows its screens.
    kiosk_inbox: std::sync::mpsc::Sender<crate::kiosk::checkout::Event>,
    kiosk_inbox_rx: Mutex<Option<std::sync::mpsc::Receiver<crate::kiosk::checkout::Event>>>,
    kiosk_display: crate::kiosk::session::DisplaySlot,
    /// The gate screen's technician taps, and their receiving end until the gate starts.
    gate_tech: std::sync::mpsc::Sender<crate::gate::technician::TechInput>,
    gate_tech_rx: Mutex<Option<std::sync::mpsc::Receiver<crate::gate::technician::TechInput>>>,
}

impl Device {
    /// Opens the data directory and database and builds the engine (no network yet).
    pub fn open(config: DeviceConfig, clock: Arc<dyn Clock>) -> Result<Self, DeviceError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| DeviceError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = Arc::new(crate::replica::Store::open(&config.database_path())?);
        let config = Arc::new(config);
        let engine = Arc::new(SyncEngine::new(
            config.clone(),
            store.clone(),
            clock.clone(),
        )?);
        let (commands, commands_rx) = std::sync::mpsc::channel();
        let (kiosk_inbox, kiosk_inbox_rx) = std::sync::mpsc::channel();
        let (gate_tech, gate_tech_rx) = std::sync::mpsc::channel();
        Ok(Self {
            gate_tech,
            gate_tech_rx: Mutex::new(Some(gate_tech_rx)),
            kiosk_inbox,
            kiosk_inbox_rx: Mutex::new(Some(kiosk_inbox_rx)),
            kiosk_display: Arc::default(),
            config,
            engine,
            display: Mutex::new(None),
            commands,
            commands_rx: Mutex::new(Some(commands_rx)),
            clock,
            store,
        })
    }

    pub fn open_system(config: DeviceConfig) -> Result<Self, DeviceError> {
        Self::open(config, Arc::new(SystemClock))
    }

    /// Runs until `shutdown` turns true: status socket, pull and push loops, the gate, and
    /// the kiosk's background work (signing key, payments left unsettled, seat leases).
    pub async fn run(&self, shutdown: watch::Receiver<bool>) -> Result<(), DeviceError> {
        let socket = crate::status::serve(&self.config.status_socket, self.engine.clone())
            .await
            .map_err(|source| DeviceError::Socket {
                path: self.config.status_socket.display().to_string(),
                source,
            })?;
        tracing::info!(
            device = %self.config.device_id,
            hub = %self.config.upstream.url,
            socket = %self.config.status_socket.display(),
            "device running"
        );
        let metrics = match self.config.metrics {
            None => None,
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| DeviceError::Metrics { addr, source })?;
                tracing::info!(%addr, "metrics served at /metrics");
                Some(tokio::spawn(crate::metrics::serve(
                    listener,
                    self.engine.clone(),
                )))
            }
        };
        let gate = self.start_gate()?;
        let kiosk_scanners = self.start_kiosk_scanners()?;
        let screen = self
            .kiosk_inbox_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(|inbox| crate::kiosk::runtime::ScreenLink {
                inbox,
                display: self.kiosk_display.clone(),
            });
        let kiosk = crate::kiosk::runtime::start(
            &self.engine,
            self.clock.clone(),
            shutdown.clone(),
            screen,
        )
        .await;
        let reporter = tokio::spawn(crate::sync::report::run(
            self.engine.clone(),
            shutdown.clone(),
        ));
        self.engine.clone().run(shutdown, progress_observer()).await;
        reporter.abort();
        if let Some(gate) = gate {
            gate.stop();
        }
        if let Some(kiosk) = kiosk {
            kiosk.stop();
        }
        if let Some((stop, readers)) = kiosk_scanners {
            stop.stop();
            for r in readers {
                let _ = r.join();
            }
        }
        socket.abort();
        if let Some(m) = metrics {
            m.abort();
        }
        let _ = std::fs::remove_file(&self.config.status_socket);
        Ok(())
    }
}

/// The gate station's name for the watchdog ([`crate::liveness`]).
const STATION_BEAT: &str = "gate station";

/// What a running gate tells its screen.
#[derive(Debug, Clone)]
pub enum GateDisplayEvent {
    /// A decision to show (the decision core's screen effect), with the scan log row it is
    /// recorded under.
    Decided {
        screen: crate::gate::Screen,
        scan: Option<crate::gate::passage::ScanId>,
    },
    /// The hub's reachability and the uploads waiting, when either changes.
    Connectivity { online: bool, queued: u64 },
    /// The technician panel over the gate screen (`None`: hidden).
    Technician(Option<crate::screens::technician_view::TechPanel>),
}

/// What staff at the gate's screen ask of the running gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateCommand {
    /// Staff chose how many enter on the membership admission recorded as `scan`.
    ConfirmParty {
        scan: crate::gate::passage::ScanId,
        party: u32,
    },
}

/// Receives [`GateDisplayEvent`]s on the station thread; must not block.
pub type GateDisplay = Arc<dyn Fn(GateDisplayEvent) + Send + Sync>;

/// A running gate: scanner threads feeding the station thread.
pub struct GateRunner {
    stop: crate::input::StopSignal,
    readers: Vec<std::thread::JoinHandle<()>>,
    station: std::thread::JoinHandle<()>,
    /// Ends the technician screen's thread.
    technician_stop: Arc<std::sync::atomic::AtomicBool>,
}

impl GateRunner {
    pub fn stop(self) {
        self.technician_stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.stop.stop();
        for r in self.readers {
            let _ = r.join();
        }
        // The station ends when the readers' senders are gone.
        let _ = self.station.join();
    }
}

impl Device {
    /// Sends staff's commands (from a screen) to the running gate.
    pub fn gate_commands(&self) -> std::sync::mpsc::Sender<GateCommand> {
        self.commands.clone()
    }

    /// Where the gate screen sends its technician panel's taps.
    pub fn gate_technician(&self) -> std::sync::mpsc::Sender<crate::gate::technician::TechInput> {
        self.gate_tech.clone()
    }

    /// Where the kiosk screen sends the visitor's taps.
    pub fn kiosk_events(&self) -> std::sync::mpsc::Sender<crate::kiosk::checkout::Event> {
        self.kiosk_inbox.clone()
    }

    /// For a kiosk (or a volunteer time clock) that is not also a gate: its scanners' membership
    /// cards and badges go to the visitor's session ("Are you a member?" takes a scanned card
    /// as the typed number; a badge finds its volunteer).
    #[allow(clippy::type_complexity)]
    fn start_kiosk_scanners(
        &self,
    ) -> Result<Option<(crate::input::StopSignal, Vec<std::thread::JoinHandle<()>>)>, DeviceError>
    {
        use crate::config::Role;
        use crate::input::InputEvent;
        use crate::input::credential::CredentialKind;
        let roles = &self.config.roles;
        if self.config.kiosk_screen().is_none() || roles.contains(&Role::Gate) {
            return Ok(None);
        }
        let (tx, rx) = std::sync::mpsc::channel::<InputEvent>();
        let stop = crate::input::StopSignal::new();
        let mut readers = crate::input::spawn_inputs(&self.config.inputs, tx, &stop)
            .map_err(DeviceError::Inputs)?;
        let inbox = self.kiosk_inbox.clone();
        let cards = self
            .config
            .kiosk
            .as_ref()
            .map(|k| k.technician.cards.clone())
            .unwrap_or_default();
        let forward = std::thread::Builder::new()
            .name("kiosk-scans".into())
            .spawn(move || {
                use crate::kiosk::checkout::Event;
                for event in rx {
                    let InputEvent::Scan(scan) = event else {
                        continue;
                    };
                    // Every frame reaches the technician screen's scan test; a technician's
                    // card opens its PIN pad and is nothing else.
                    let _ = inbox.send(Event::InputSeen(crate::kiosk::shell::input_seen(
                        &scan.credential,
                    )));
                    if cards.contains(&scan.credential.raw_text()) {
                        let _ = inbox.send(Event::Technician(
                            crate::technician::TechEvent::TechnicianCard,
                        ));
                        continue;
                    }
                    match scan.credential.kind {
                        // A membership card, or a volunteer's badge (their Lookup ID).
                        CredentialKind::Membership { membership_id: id }
                        | CredentialKind::LookupId { lookup_id: id } => {
                            let _ = inbox
                                .send(crate::kiosk::checkout::Event::Scanned { membership_id: id });
                        }
                        _ => tracing::info!(
                            reader = %scan.credential.reader,
                            "a scan the kiosk does not use (not a membership card or badge)"
                        ),
                    }
                }
            })
            .map_err(DeviceError::Inputs)?;
        readers.push(forward);
        Ok(Some((stop, readers)))
    }

    /// Shows the kiosk's screens on `display` (before or while `run` runs).
    pub fn attach_kiosk_display(&self, display: crate::kiosk::session::KioskDisplay) {
        *self.kiosk_display.lock().unwrap_or_else(|p| p.into_inner()) = Some(display);
    }

    /// Shows the gate's decisions and connectivity on `display` (attach before `run`).
    pub fn attach_gate_display(&self, display: GateDisplay) {
        *self.display.lock().unwrap_or_else(|p| p.into_inner()) = Some(display);
    }

    /// For a gate: opens the relay and the station, starts the scanner readers, and decides
    /// every scan as it arrives. `None` when the device has no gate role.
    pub fn start_gate(&self) -> Result<Option<GateRunner>, DeviceError> {
        use crate::config::Role;
        use crate::input::InputEvent;
        let Some(gate) = self
            .config
            .gate
            .clone()
            .filter(|_| self.config.roles.contains(&Role::Gate))
        else {
            return Ok(None);
        };
        let output = crate::gate::relay::open_output(&gate.relay, self.clock.clone())?;
        let engine = self.engine.clone();
        let online = Arc::new(move || engine.link_status().online);
        let mut station = crate::gate::station::Station::open(
            self.store.clone(),
            &self.config.device_id,
            gate,
            output,
            online,
        )?;
        station.attach_configured_sensor()?;
        // Scans reach the outbox when the writer commits them (after the journal): upload then.
        let uploads = self.engine.clone();
        station.on_recorded(Arc::new(move || uploads.push_now.notify_one()));
        // A kiosk registered since the last pull: fetch its key now, not at the next pull.
        let pulls = self.engine.clone();
        station.on_unknown_key(Arc::new(move || pulls.pull_now.notify_one()));
        let (tx, rx) = std::sync::mpsc::channel::<InputEvent>();
        let stop = crate::input::StopSignal::new();
        let readers = crate::input::spawn_inputs(&self.config.inputs, tx, &stop)
            .map_err(DeviceError::Inputs)?;
        let push = self.engine.clone();
        let display = self
            .display
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let link = self.engine.clone();
        let clock = self.clock.clone();
        let zone = self.config.timezone;
        let commands = self
            .commands_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let technician = self.start_gate_technician(&station, display.clone())?;
        let technician_stop = technician.stop.clone();
        let station = std::thread::Builder::new()
            .name("gate-station".into())
            .spawn(move || {
                use std::sync::mpsc::RecvTimeoutError;
                let mut shown_link = None;
                let mut checked = std::time::Instant::now() - std::time::Duration::from_secs(1);
                loop {
                    if let Some(display) = &display
                        && checked.elapsed() >= std::time::Duration::from_secs(1)
                    {
                        checked = std::time::Instant::now();
                        let now = (link.link_status().online, station.pending_uploads());
                        if shown_link != Some(now) {
                            shown_link = Some(now);
                            display(GateDisplayEvent::Connectivity {
                                online: now.0,
                                queued: now.1,
                            });
                        }
                    }
                    for command in commands.iter().flat_map(|c| c.try_iter()) {
                        match command {
                            GateCommand::ConfirmParty { scan, party } => {
                                if let Err(e) = station.confirm_party(scan, party, clock.now()) {
                                    tracing::warn!(scan, party, error = %e, "party size not recorded");
                                }
                                push.push_now.notify_one();
                            }
                        }
                    }
                    crate::liveness::beat(STATION_BEAT);
                    // Wake at least every 50 ms so a passage timeout (or staff's party choice)
                    // is handled without a scan.
                    let event = match rx.recv_timeout(std::time::Duration::from_millis(50)) {
                        Ok(event) => event,
                        Err(RecvTimeoutError::Timeout) => {
                            if let Err(e) = station.pump(clock.now()) {
                                tracing::error!(error = %e, "passage bookkeeping failed");
                            }
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => {
                            crate::liveness::forget(STATION_BEAT);
                            break;
                        }
                    };
                    match event {
                        // Every frame reaches the technician screen's scan test; a technician's
                        // card opens its PIN pad; while the panel shows, nobody is admitted.
                        InputEvent::Scan(scan) if technician.intercepts(&scan.credential) => {}
                        InputEvent::Scan(scan) => {
                            let now = crate::gate::station::now_local(clock.now(), zone);
                            // The scan is committed by the station's writer; the next scan does
                            // not wait for it.
                            match station.admit(&scan.credential, None, 1, now) {
                                Ok(decided) => {
                                    crate::metrics::scan(
                                        decided.decision.outcome.as_str(),
                                        decided.decision.reason.code(),
                                    );
                                    if let Some(display) = &display {
                                        let screen = decided.decision.effects.into_iter().find_map(|e| match e {
                                            crate::gate::Effect::ShowScreen(s) => Some(s),
                                            _ => None,
                                        });
                                        if let Some(screen) = screen {
                                            display(GateDisplayEvent::Decided {
                                                screen,
                                                scan: decided.scan,
                                            });
                                        }
                                    }
                                }
                                Err(e) => {
                                    crate::metrics::scan("deny", "not_recorded");
                                    tracing::error!(error = %e, "scan could not be recorded; denied");
                                }
                            }
                        }
                        InputEvent::State { reader, state, .. } => {
                            tracing::info!(reader = %reader, state = ?state, "scanner state");
                        }
                        InputEvent::Dropped { reader, reason, .. } => {
                            tracing::warn!(reader = %reader, reason = %reason, "frame dropped");
                        }
                        InputEvent::Repeat(_) => {}
                    }
                }
            })
            .map_err(DeviceError::Inputs)?;
        Ok(Some(GateRunner {
            stop,
            readers,
            station,
            technician_stop,
        }))
    }

    /// The gate screen's technician pages, on a thread of their own, when the gate has a
    /// screen.
    fn start_gate_technician(
        &self,
        station: &crate::gate::station::Station,
        display: Option<GateDisplay>,
    ) -> Result<GateTechnicianLink, DeviceError> {
        use std::sync::atomic::AtomicBool;
        let mut link = GateTechnicianLink {
            to: None,
            cards: station.policy().technician.cards.clone(),
            open: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let inbox = self
            .gate_tech_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        // Without a screen there is no technician screen: scans go straight to the station.
        let (Some(display), Some(inbox)) = (display, inbox) else {
            return Ok(link);
        };
        link.to = Some(self.gate_tech.clone());
        let (status, sync) = (self.engine.clone(), self.engine.clone());
        let parts = crate::gate::technician::GateTechParts {
            access: station.policy().technician.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
            device_id: self.config.device_id.clone(),
            roles: self
                .config
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            readers: self
                .config
                .inputs
                .inputs
                .iter()
                .map(|i| i.name.clone())
                .collect(),
            relay: station.relay_tester(),
            link: Arc::new(move || status.link_status()),
            sync_now: Arc::new(move || {
                sync.pull_now.notify_one();
                sync.push_now.notify_one();
            }),
            open: link.open.clone(),
            show: Arc::new(move |panel| display(GateDisplayEvent::Technician(panel))),
            stop: link.stop.clone(),
        };
        crate::gate::technician::spawn(parts, inbox, self.gate_tech.clone())
            .map_err(DeviceError::Inputs)?;
        Ok(link)
    }
}

/// The station thread's side of the gate's technician screen.
struct GateTechnicianLink {
    /// The technician screen's inbox; `None` when the gate has no screen.
    to: Option<std::sync::mpsc::Sender<crate::gate::technician::TechInput>>,
    cards: Vec<String>,
    /// Set while the technician panel shows.
    open: Arc<std::sync::atomic::AtomicBool>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl GateTechnicianLink {
    /// Shows `credential` to the scan test; whether it is the technician's rather than a
    /// visitor's (a technician's card, or any scan while the panel shows).
    fn intercepts(&self, credential: &crate::input::credential::Credential) -> bool {
        use crate::gate::technician::TechInput;
        use std::sync::atomic::Ordering;
        let card = self.cards.contains(&credential.raw_text());
        // Without a screen the scan test has no one to show to (and a card opens nothing).
        if let Some(to) = &self.to {
            let _ = to.send(TechInput::Seen(crate::technician::common::input_seen(
                credential,
            )));
            if card {
                let _ = to.send(TechInput::Event(
                    crate::technician::TechEvent::TechnicianCard,
                ));
            }
        }
        if card {
            return true;
        }
        let open = self.open.load(Ordering::SeqCst);
        if open {
            tracing::info!(reader = %credential.reader, "scan taken by the technician's scan test");
        }
        open
    }
}

/// Progress bars for a sync when stderr is a terminal; `None` (structured logs only) otherwise.
pub fn progress_observer() -> Option<Observer> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let multi = MultiProgress::new();
    let bars: Mutex<Vec<(Resource, ProgressBar)>> = Mutex::new(Vec::new());
    let style = ProgressStyle::with_template(
        "{prefix:>13} [{bar:40.cyan/blue}] {pos}/{len} ({per_sec}, {eta} left)",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    Some(Arc::new(move |resource, applied, total| {
        // Only a first sync announces a total; deltas are small and just logged.
        let Some(total) = total else { return };
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        let bar = match bars.iter().find(|(r, _)| *r == resource) {
            Some((_, b)) => b.clone(),
            None => {
                let b = multi.add(ProgressBar::new(total));
                b.set_style(style.clone());
                b.set_prefix(resource.as_str());
                bars.push((resource, b.clone()));
                b
            }
        };
        bar.set_position(applied.min(total));
        if applied >= total {
            bar.finish();
        }
    }))
}
