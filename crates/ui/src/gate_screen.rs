//! The gate screen's adapter: copies a [`GateScreenModel`] into the Slint component and routes
//! the component's callbacks (party size, confirm) to the [`GateView`] controller.
//!
//! # Threads
//!
//! Slint components live on the thread that created them, and a real window's event loop owns
//! that thread (the main thread); tokio runs on its own threads beside it. Code on another
//! thread never touches the component directly:
//! - [`post_model`] sends a finished model to the event loop through
//!   [`slint::Weak::upgrade_in_event_loop`];
//! - [`run_gate_window`] takes a channel of [`GateInput`]s, which the event loop drains into the
//!   controller.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use slint::ComponentHandle;

use super::UiError;
use super::gate_view::{GateMode, GateScreenModel, GateView, PartyConfirmed, ResultView};
use super::generated::{GateState, GateWindow};
use super::technician_panel::PanelTap;
use portico_core::screens::technician_view::TechPanel;

/// Copies every field of the model into the component's properties.
pub fn apply(window: &GateWindow, m: &GateScreenModel) {
    window.set_state(match m.mode {
        GateMode::Ready => GateState::Ready,
        GateMode::Admit => GateState::Admit,
        GateMode::Deny => GateState::Deny,
    });
    window.set_gate_name(m.gate_name.as_str().into());
    window.set_prompt(m.prompt.as_str().into());
    window.set_clock(m.clock.as_str().into());
    window.set_result_text(m.result_text.as_str().into());
    window.set_announcement(m.announcement.as_str().into());
    window.set_headline(m.headline.as_str().into());
    window.set_visitor_name(m.visitor_name.as_str().into());
    window.set_level(m.level.as_str().into());
    window.set_guests_text(m.guests_text.as_str().into());
    window.set_party_text(m.party_text.as_str().into());
    window.set_reason(m.reason.as_str().into());
    window.set_note(m.note.as_str().into());
    window.set_staff_hint(m.staff_hint.as_str().into());
    window.set_staff_label(m.staff_label.as_str().into());
    window.set_party_label(m.party_label.as_str().into());
    window.set_confirm_label(m.confirm_label.as_str().into());
    window.set_offline(m.offline);
    window.set_offline_text(m.offline_text.as_str().into());
    window.set_show_party_controls(m.show_party_controls);
    window.set_party_size(i32::try_from(m.party_size).unwrap_or(i32::MAX));
    window.set_can_party_minus(m.can_party_minus);
    window.set_can_party_plus(m.can_party_plus);
}

/// Shows `model` on the component behind `weak` from any thread: the copy runs on the Slint
/// event loop. Fails only when the event loop is not running; a component that no longer
/// exists is skipped silently.
pub fn post_model(weak: slint::Weak<GateWindow>, model: GateScreenModel) -> Result<(), UiError> {
    weak.upgrade_in_event_loop(move |window| apply(&window, &model))?;
    Ok(())
}

type ConfirmListener = Box<dyn FnMut(PartyConfirmed)>;
type TechListener = Box<dyn FnMut(PanelTap)>;

/// The gate screen: the Slint component and its controller, on the UI thread.
pub struct GateScreen {
    window: GateWindow,
    view: Rc<RefCell<GateView>>,
    on_confirm: Rc<RefCell<Option<ConfirmListener>>>,
    on_technician: Rc<RefCell<Option<TechListener>>>,
    /// The technician panel over the screen, while it shows.
    technician: RefCell<Option<TechPanel>>,
}

impl GateScreen {
    /// Creates the component (on the current Slint platform) and wires its callbacks.
    pub fn new(view: GateView) -> Result<Self, UiError> {
        let window = GateWindow::new()?;
        let screen = Self {
            window,
            view: Rc::new(RefCell::new(view)),
            on_confirm: Rc::new(RefCell::new(None)),
            on_technician: Rc::new(RefCell::new(None)),
            technician: RefCell::new(None),
        };
        screen.wire();
        screen.refresh();
        Ok(screen)
    }

    fn wire(&self) {
        let press = |act: fn(&mut GateView, Instant) -> bool| {
            let weak = self.window.as_weak();
            let view = Rc::clone(&self.view);
            move || {
                let Some(window) = weak.upgrade() else { return };
                if act(&mut view.borrow_mut(), Instant::now()) {
                    apply(&window, &view.borrow().model());
                }
            }
        };
        self.window.on_party_plus(press(GateView::party_plus));
        self.window.on_party_minus(press(GateView::party_minus));

        let weak = self.window.as_weak();
        let view = Rc::clone(&self.view);
        let listener = Rc::clone(&self.on_confirm);
        self.window.on_confirm(move || {
            let Some(window) = weak.upgrade() else { return };
            let confirmed = view.borrow_mut().confirm(Instant::now());
            apply(&window, &view.borrow().model());
            if let (Some(confirmed), Some(listener)) = (confirmed, listener.borrow_mut().as_mut()) {
                listener(confirmed);
            }
        });

        let listener = Rc::clone(&self.on_technician);
        let panel: Rc<dyn Fn(PanelTap)> = Rc::new(move |tap| {
            if let Some(listener) = listener.borrow_mut().as_mut() {
                listener(tap);
            }
        });
        crate::technician_panel::wire_technician!(&self.window, panel);
    }

    /// Calls `f` with the technician panel's taps (the device's technician screen takes them).
    pub fn on_technician(&self, f: impl FnMut(PanelTap) + 'static) {
        *self.on_technician.borrow_mut() = Some(Box::new(f));
    }

    /// Shows the technician panel over the gate screen, or hides it (`None`).
    pub fn show_technician(&self, panel: Option<TechPanel>) {
        let window = &self.window;
        let before = self.technician.replace(panel.clone());
        crate::technician_panel::apply_technician!(
            window,
            panel.as_ref(),
            before.as_ref(),
            |items: Vec<_>| window.set_tech_rows(slint::ModelRc::new(slint::VecModel::from(items)))
        );
    }

    /// The Slint component (for showing it, or for tests).
    pub fn window(&self) -> &GateWindow {
        &self.window
    }

    /// Calls `f` when staff confirm a party size (the shell records the admission).
    pub fn on_confirm(&self, f: impl FnMut(PartyConfirmed) + 'static) {
        *self.on_confirm.borrow_mut() = Some(Box::new(f));
    }

    /// Runs `f` on the controller, then shows the resulting model.
    pub fn update<R>(&self, f: impl FnOnce(&mut GateView) -> R) -> R {
        let r = f(&mut self.view.borrow_mut());
        self.refresh();
        r
    }

    /// The current model.
    pub fn model(&self) -> GateScreenModel {
        self.view.borrow().model()
    }

    pub fn show_result(&self, result: ResultView, now: Instant) {
        self.update(|v| v.show_result(result, now));
    }

    pub fn set_offline(&self, offline: bool, queued: u64) {
        self.update(|v| v.set_offline(offline, queued));
    }

    pub fn set_clock(&self, text: impl Into<String>) {
        self.update(|v| v.set_clock(text));
    }

    /// Advances time; returns whether the screen went back to Ready.
    pub fn tick(&self, now: Instant) -> bool {
        let back = self.view.borrow_mut().tick(now);
        if back {
            self.refresh();
        }
        back
    }

    /// Handles one input from the shell.
    pub fn handle(&self, input: GateInput, now: Instant) {
        match input {
            GateInput::Show(result) => self.show_result(result, now),
            GateInput::ShowScan { result, scan } => {
                self.update(|v| v.show_scan_result(result, Some(scan), now));
            }
            GateInput::Connectivity { offline, queued } => self.set_offline(offline, queued),
            GateInput::Technician(panel) => self.show_technician(panel),
        }
    }

    fn refresh(&self) {
        apply(&self.window, &self.view.borrow().model());
    }
}

/// What the shell tells a running gate screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateInput {
    /// An admission decision to show.
    Show(ResultView),
    /// A decision to show, with the scan log row it was recorded under.
    ShowScan { result: ResultView, scan: i64 },
    /// Connectivity and the number of uploads waiting.
    Connectivity { offline: bool, queued: u64 },
    /// The technician panel over the screen (`None`: hidden).
    Technician(Option<TechPanel>),
}

/// How often the window's event loop drains inputs and advances the controller's timers.
const POLL: Duration = Duration::from_millis(50);

/// Opens the gate screen in a real window (X11 desktop or DRM/KMS, per the build's features)
/// and runs the Slint event loop on the calling thread, which must be the main thread, until
/// the window closes.
///
/// The shell sends [`GateInput`]s on `inputs` from any thread (a tokio task can use a
/// `std::sync::mpsc::Sender`); `on_confirm` receives the party sizes staff confirm, and
/// `on_technician` the technician panel's taps. When no display is available the function
/// returns [`UiError::NoDisplay`] instead of failing inside the backend.
pub fn run_gate_window(
    view: GateView,
    inputs: Receiver<GateInput>,
    on_confirm: impl FnMut(PartyConfirmed) + 'static,
    on_technician: impl FnMut(PanelTap) + 'static,
) -> Result<(), UiError> {
    check_display()?;
    let lang = view.language();
    let screen = Rc::new(GateScreen::new(view)?);
    screen.on_confirm(on_confirm);
    screen.on_technician(on_technician);

    let timer = slint::Timer::default();
    let polled = Rc::clone(&screen);
    let mut last_clock = String::new();
    crate::liveness::expect(super::host::SCREEN_BEAT);
    timer.start(slint::TimerMode::Repeated, POLL, move || {
        crate::liveness::beat(super::host::SCREEN_BEAT);
        let now = Instant::now();
        loop {
            match inputs.try_recv() {
                Ok(input) => polled.handle(input, now),
                Err(TryRecvError::Empty) => break,
                // The shell has gone: keep showing the last state; the window stays usable.
                Err(TryRecvError::Disconnected) => break,
            }
        }
        let clock = super::gate_view::clock_text(chrono::Local::now().naive_local(), lang);
        if clock != last_clock {
            polled.set_clock(clock.clone());
            last_clock = clock;
        }
        polled.tick(now);
    });

    let ran = screen.window().run();
    crate::liveness::forget(super::host::SCREEN_BEAT);
    ran?;
    Ok(())
}

/// Whether this build can open a window on this machine; a clear error instead of a backend
/// panic or an obscure connection failure.
pub fn check_display() -> Result<(), UiError> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if cfg!(feature = "desktop") && set("DISPLAY") {
        return Ok(());
    }
    if cfg!(feature = "kms") && has_drm_card() {
        return Ok(());
    }
    let mut tried = Vec::new();
    if cfg!(feature = "desktop") {
        tried.push(if set("WAYLAND_DISPLAY") {
            "WAYLAND_DISPLAY is set but DISPLAY is not (the desktop backend needs X11 or XWayland)"
        } else {
            "DISPLAY is not set (no X server)"
        });
    }
    if cfg!(feature = "kms") {
        tried.push("no /dev/dri/card* device (no DRM/KMS display)");
    }
    if tried.is_empty() {
        tried.push("this build has no window backend (enable the `desktop` or `kms` feature)");
    }
    Err(UiError::NoDisplay(tried.join("; ")))
}

fn has_drm_card() -> bool {
    std::fs::read_dir("/dev/dri").is_ok_and(|dir| {
        dir.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("card"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_display_is_a_clear_error() {
        // Only meaningful where there is no display, as on build machines.
        let no_x = std::env::var_os("DISPLAY").is_none_or(|v| v.is_empty());
        if no_x && !(cfg!(feature = "kms") && has_drm_card()) {
            let err = check_display().unwrap_err();
            assert!(matches!(err, UiError::NoDisplay(_)));
            assert!(err.to_string().starts_with("no display: "), "{err}");
        }
    }
}
