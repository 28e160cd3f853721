//! The kiosk screen drawn off-screen on the calling thread, frame by frame, the way a display
//! with Slint's software renderer draws it: only what changed is redrawn into a kept buffer.
//! For measuring how long a tap takes to reach the screen, and for a technician's picture of
//! what a kiosk shows (`portico kiosk screenshot`).
//!
//! It installs a Slint platform on the calling thread, which must have none yet (a fresh
//! thread): one [`OffscreenKiosk`] per thread.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, Rgb8Pixel};

use portico_core::kiosk::checkout::Event;
use portico_core::screens::kiosk_view::KioskScreenModel;

use super::headless::{MAX_SIDE, RgbImage};
use super::{KioskScreen, KioskWindow, UiError};

struct OnePlatform {
    window: Rc<MinimalSoftwareWindow>,
    start: Instant,
}

impl Platform for OnePlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.window.clone())
    }

    fn duration_since_start(&self) -> std::time::Duration {
        self.start.elapsed()
    }
}

/// A kiosk screen rendered into memory; its taps are queued for the caller.
pub struct OffscreenKiosk {
    screen: KioskScreen,
    window: Rc<MinimalSoftwareWindow>,
    buffer: Vec<Rgb8Pixel>,
    width: u32,
    height: u32,
    taps: Rc<RefCell<VecDeque<Event>>>,
}

impl OffscreenKiosk {
    /// Makes the screen at `width`×`height` pixels on this thread.
    pub fn new(venue: &str, width: u32, height: u32) -> Result<Self, UiError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(UiError::InvalidSize {
                width,
                height,
                max: MAX_SIDE,
            });
        }
        let window = MinimalSoftwareWindow::new(RepaintBufferType::ReusedBuffer);
        slint::platform::set_platform(Box::new(OnePlatform {
            window: window.clone(),
            start: Instant::now(),
        }))
        .map_err(|e| UiError::Renderer(format!("cannot set the Slint platform: {e}")))?;
        let taps: Rc<RefCell<VecDeque<Event>>> = Rc::default();
        let sink = taps.clone();
        let screen = KioskScreen::new(venue, Rc::new(move |e| sink.borrow_mut().push_back(e)))?;
        screen.window().show()?;
        window.set_size(slint::PhysicalSize::new(width, height));
        Ok(Self {
            screen,
            window,
            buffer: vec![Rgb8Pixel::default(); width as usize * height as usize],
            width,
            height,
            taps,
        })
    }

    /// The component, to tap it (its callbacks are what a touch on a button runs).
    pub fn window(&self) -> &KioskWindow {
        self.screen.window()
    }

    /// The events the screen sent since the last call.
    pub fn take_events(&self) -> Vec<Event> {
        self.taps.borrow_mut().drain(..).collect()
    }

    pub fn show(&self, model: &KioskScreenModel) {
        self.screen.show(model);
    }

    pub fn shown(&self) -> KioskScreenModel {
        self.screen.shown()
    }

    /// Draws what changed since the last frame; whether anything was drawn.
    pub fn draw(&mut self) -> bool {
        slint::platform::update_timers_and_animations();
        let width = self.width as usize;
        let buffer = &mut self.buffer;
        self.window.draw_if_needed(|renderer| {
            renderer.render(buffer, width);
        })
    }

    /// The last frame drawn.
    pub fn picture(&self) -> RgbImage {
        RgbImage {
            width: self.width,
            height: self.height,
            pixels: self.buffer.iter().flat_map(|p| [p.r, p.g, p.b]).collect(),
        }
    }
}
