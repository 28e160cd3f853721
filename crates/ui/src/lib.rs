//! The device's screens: Slint markup in the repository's `ui/`, compiled by `build.rs`, and
//! their Rust side.
//!
//! Each screen is split the same way:
//! - a **controller** ([`gate_view`], in the core crate): a pure state machine whose output is
//!   a plain model struct, tested without rendering;
//! - a thin **adapter** ([`gate_screen`]): copies the model into the Slint component's
//!   properties and routes the component's callbacks to the controller;
//! - **headless rendering** ([`headless`]): the same component drawn by the software renderer
//!   into a PNG, with the fonts embedded in the markup, for tests, documentation and demos.
//!
//! Threads: Slint owns the thread that runs its event loop (the main thread for a real window);
//! tokio runs beside it. Other threads reach the screen only through the event loop
//! ([`gate_screen::post_model`], or the input channel of [`gate_screen::run_gate_window`]).

pub mod gate_screen;
pub mod headless;
pub mod host;
pub mod kiosk_screen;
pub mod offscreen;
pub mod paper;
pub mod technician_panel;

use portico_device::{config, device, gate, liveness};

pub use portico_core::screens::gate_view;

#[allow(clippy::all, clippy::pedantic, missing_docs, unused_qualifications)]
mod generated {
    slint::include_modules!();
}

pub use gate_screen::{GateInput, GateScreen, apply, post_model, run_gate_window};
pub use gate_view::{
    GateMode, GateScreenModel, GateTimeouts, GateView, PartyConfirmed, ResultView,
};
pub use generated::{GateState, GateWindow, KProblem, KScreen, KioskPalette, KioskWindow};
pub use headless::{
    RgbImage, render_gate_png, render_gate_rgb, render_gate_technician_rgb, render_kiosk_png,
    render_kiosk_rgb, render_paper_png, render_paper_rgb,
};
pub use kiosk_screen::{KioskScreen, ModelPoster};

/// Errors of the screens.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No display to open a window on (no X server, no DRM device).
    #[error("no display: {0}")]
    NoDisplay(String),
    /// Slint could not create the platform, window or event loop.
    #[error("display backend: {0}")]
    Platform(#[from] slint::PlatformError),
    /// The event loop is not running (or has quit).
    #[error("event loop: {0}")]
    EventLoop(#[from] slint::EventLoopError),
    /// A render size of zero or beyond the renderer's limit.
    #[error("invalid render size {width}×{height} (1 to {max} pixels per side)")]
    InvalidSize { width: u32, height: u32, max: u32 },
    /// The headless renderer could not start or stopped.
    #[error("headless renderer: {0}")]
    Renderer(String),
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("encoding {path}: {source}")]
    Png {
        path: String,
        source: png::EncodingError,
    },
}
