//! Opening the gate window from async code while Slint owns the main thread.
//!
//! The binary's `main` installs the host ([`install`]) and then serves window requests on the
//! main thread ([`serve`]) while tokio runs the command on its worker threads. A task that
//! wants the screen calls [`open_gate_window`]: the request crosses to the main thread, which
//! runs the Slint event loop until the window closes, then reports back. Results reach the
//! window through the returned sender; the window's event loop drains it.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::UiError;
use super::gate_screen::{GateInput, check_display, run_gate_window};
use super::gate_view::GateView;

/// A request for the main thread: show a screen until its window closes.
pub enum WindowRequest {
    /// The gate's result screen.
    Gate {
        view: Box<GateView>,
        on_confirm: Box<dyn FnMut(super::PartyConfirmed) + Send>,
        on_technician: Box<dyn FnMut(super::technician_panel::PanelTap) + Send>,
        inputs: Receiver<GateInput>,
        closed: tokio::sync::oneshot::Sender<Result<(), UiError>>,
    },
    /// The visitor kiosk: taps go to `taps`; the poster for its models comes back on `poster`.
    Kiosk {
        venue: String,
        taps: Sender<portico_core::kiosk::checkout::Event>,
        poster: Sender<super::ModelPoster>,
        closed: tokio::sync::oneshot::Sender<Result<(), UiError>>,
    },
}

static HOST: OnceLock<Mutex<Sender<WindowRequest>>> = OnceLock::new();

/// Makes this process able to open windows; returns the requests for [`serve`]. Call once,
/// on the main thread, before starting the command.
pub fn install() -> Option<Receiver<WindowRequest>> {
    let (tx, rx) = channel();
    HOST.set(Mutex::new(tx)).ok().map(|()| rx)
}

/// Runs window requests on the calling (main) thread until `finished` returns true.
pub fn serve(requests: &Receiver<WindowRequest>, finished: impl Fn() -> bool) {
    loop {
        match requests.recv_timeout(Duration::from_millis(50)) {
            Ok(WindowRequest::Gate {
                view,
                mut on_confirm,
                on_technician,
                inputs,
                closed,
            }) => {
                let confirm = move |party: super::PartyConfirmed| {
                    tracing::info!(party = party.party_size, scan = ?party.scan, "party size confirmed by staff");
                    on_confirm(party);
                };
                let result = run_gate_window(*view, inputs, confirm, on_technician);
                let _ = closed.send(result);
            }
            Ok(WindowRequest::Kiosk {
                venue,
                taps,
                poster,
                closed,
            }) => {
                let _ = closed.send(run_kiosk_window(&venue, taps, &poster));
            }
            Err(RecvTimeoutError::Timeout) => {
                if finished() {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Closes any open window (its event loop ends, so [`serve`] can return): for when the
/// command that asked for it has finished. Harmless when none is open.
pub fn close_windows() {
    if WINDOW_REQUESTED.load(std::sync::atomic::Ordering::SeqCst) {
        let _ = slint::invoke_from_event_loop(|| {
            let _ = slint::quit_event_loop();
        });
    }
}

/// Whether any window was asked for (only then is there an event loop to end).
static WINDOW_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// An open gate window: send it results; `closed` resolves when staff close it.
pub struct GateWindowHandle {
    pub inputs: Sender<GateInput>,
    pub closed: tokio::sync::oneshot::Receiver<Result<(), UiError>>,
}

/// Sends a window request to the main thread, when this machine has a display and this
/// process hosts windows.
fn request(req: WindowRequest) -> Result<(), UiError> {
    check_display()?;
    let host = HOST
        .get()
        .ok_or_else(|| UiError::NoDisplay("this process does not host windows".into()))?;
    WINDOW_REQUESTED.store(true, std::sync::atomic::Ordering::SeqCst);
    host.lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(req)
        .map_err(|_| UiError::NoDisplay("the window host has stopped".into()))
}

/// Asks the main thread to open the gate window. Fails with [`UiError::NoDisplay`] when this
/// machine has no display (or this process has no window host): the caller runs headless.
/// `on_confirm` receives the party sizes staff confirm on it (on the main thread).
pub fn open_gate_window(
    view: GateView,
    on_confirm: impl FnMut(super::PartyConfirmed) + Send + 'static,
    on_technician: impl FnMut(super::technician_panel::PanelTap) + Send + 'static,
) -> Result<GateWindowHandle, UiError> {
    let (inputs_tx, inputs) = channel();
    let (closed_tx, closed) = tokio::sync::oneshot::channel();
    request(WindowRequest::Gate {
        view: Box::new(view),
        on_confirm: Box::new(on_confirm),
        on_technician: Box::new(on_technician),
        inputs,
        closed: closed_tx,
    })?;
    Ok(GateWindowHandle {
        inputs: inputs_tx,
        closed,
    })
}

/// A display for [`crate::device::Device::attach_gate_display`] that forwards the running
/// gate's decisions and connectivity to a window opened with [`open_gate_window`].
pub fn device_display(inputs: Sender<GateInput>) -> crate::device::GateDisplay {
    use crate::device::GateDisplayEvent;
    std::sync::Arc::new(move |event| {
        let input = match event {
            GateDisplayEvent::Decided { screen, scan } => {
                let result = super::gate_view::result_view(&screen);
                match scan {
                    Some(scan) => GateInput::ShowScan { result, scan },
                    None => GateInput::Show(result),
                }
            }
            GateDisplayEvent::Connectivity { online, queued } => GateInput::Connectivity {
                offline: !online,
                queued,
            },
            GateDisplayEvent::Technician(panel) => GateInput::Technician(panel),
        };
        // A closed window is not an error for the gate: it keeps deciding.
        let _ = inputs.send(input);
    })
}

/// The gate view for a device's `[gate]` section.
pub fn gate_view_for(gate: &crate::gate::GatePolicyConfig) -> GateView {
    GateView::new(
        gate.policy.gate_id.clone(),
        super::gate_view::GateTimeouts {
            result: gate.policy.result_display,
            ..Default::default()
        },
    )
    .in_language(gate.policy.language)
}

/// Runs the kiosk window on this (the main) thread until it closes: its taps go to `taps`,
/// and its poster is handed back through `poster` once the window exists.
fn run_kiosk_window(
    venue: &str,
    taps: Sender<portico_core::kiosk::checkout::Event>,
    poster: &Sender<super::ModelPoster>,
) -> Result<(), UiError> {
    check_display()?;
    crate::liveness::expect(SCREEN_BEAT);
    let taps = Mutex::new(taps);
    let screen = super::KioskScreen::new(
        venue,
        std::rc::Rc::new(move |e| {
            // A stopped session is not the window's problem: the tap is dropped.
            let _ = taps.lock().unwrap_or_else(|p| p.into_inner()).send(e);
        }),
    )?;
    let _ = poster.send(screen.poster());
    // The event loop beats while it runs: its first beat comes once the window is drawn.
    let beat = slint::Timer::default();
    beat.start(slint::TimerMode::Repeated, Duration::from_secs(1), || {
        crate::liveness::beat(SCREEN_BEAT)
    });
    slint::Timer::single_shot(Duration::ZERO, || crate::liveness::beat(SCREEN_BEAT));
    let ran = slint::ComponentHandle::run(screen.window());
    crate::liveness::forget(SCREEN_BEAT);
    ran?;
    Ok(())
}

/// The screen's name for the watchdog ([`crate::liveness`]).
pub const SCREEN_BEAT: &str = "screen";

/// Asks the main thread to open the kiosk window, and attaches it to `device`'s kiosk session.
/// Fails with [`UiError::NoDisplay`] when there is no display (the kiosk then sells nothing:
/// it has no screen). The returned receiver resolves when the window is closed.
pub fn attach_kiosk_window(
    device: &crate::device::Device,
) -> Result<tokio::sync::oneshot::Receiver<Result<(), UiError>>, UiError> {
    let kiosk = device
        .config
        .kiosk_screen()
        .ok_or_else(|| UiError::NoDisplay("this device has no kiosk or volunteer role".into()))?;
    let (poster_tx, poster_rx) = channel();
    let (closed_tx, closed) = tokio::sync::oneshot::channel();
    request(WindowRequest::Kiosk {
        venue: kiosk.letterhead.venue.clone(),
        taps: device.kiosk_events(),
        poster: poster_tx,
        closed: closed_tx,
    })?;
    // The window is made on the main thread; its poster comes back as soon as it exists.
    let poster = poster_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| UiError::NoDisplay("the kiosk window did not open".into()))?;
    device.attach_kiosk_display(std::sync::Arc::new(move |model| {
        if let Err(e) = poster.post(model) {
            tracing::debug!(error = %e, "kiosk window gone");
        }
    }));
    Ok(closed)
}

/// Opens the device's screen: the kiosk window for a kiosk, the gate window for a gate, when
/// this build has a window backend and the machine a display; otherwise says why it runs
/// headless. The returned receiver resolves when the window is closed.
pub fn attach_window(
    device: &crate::device::Device,
) -> Result<tokio::sync::oneshot::Receiver<Result<(), UiError>>, UiError> {
    if device.config.kiosk_screen().is_some() {
        return attach_kiosk_window(device);
    }
    attach_gate_window(device)
}

/// Opens the gate window for `device` when it is a gate and there is a display.
pub fn attach_gate_window(
    device: &crate::device::Device,
) -> Result<tokio::sync::oneshot::Receiver<Result<(), UiError>>, UiError> {
    let gate = device
        .config
        .gate
        .as_ref()
        .filter(|_| device.config.roles.contains(&crate::config::Role::Gate))
        .ok_or_else(|| UiError::NoDisplay("this device has no gate role".into()))?;
    let commands = device.gate_commands();
    let technician = device.gate_technician();
    let handle = open_gate_window(
        gate_view_for(gate),
        move |party| {
            if let Some(scan) = party.scan {
                let _ = commands.send(crate::device::GateCommand::ConfirmParty {
                    scan,
                    party: party.party_size,
                });
            }
        },
        move |tap| {
            use super::technician_panel::PanelTap;
            use crate::gate::technician::TechInput;
            // A gate that stopped is not the window's problem: the tap is dropped.
            let _ = technician.send(match tap {
                PanelTap::Event(e) => TechInput::Event(e),
                PanelTap::Action(a) => TechInput::Action(a),
            });
        },
    )?;
    device.attach_gate_display(device_display(handle.inputs));
    Ok(handle.closed)
}
