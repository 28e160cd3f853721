//! Headless rendering: the gate screen drawn by Slint's software renderer into memory and
//! written as PNG, with no display and no system fonts (the fonts are embedded by the markup).
//!
//! Slint's platform is per thread and can be set only once, and the thread that asks for a
//! picture may already run another platform (a window, or the testing backend). So rendering
//! happens on one dedicated thread, started on first use, which installs a [`Platform`] backed
//! by a [`MinimalSoftwareWindow`] and keeps one gate component for every picture. Callers on
//! any thread send it a model and wait for the pixels.

use std::io::BufWriter;
use std::path::Path;
use std::rc::Rc;
use std::sync::OnceLock;
use std::sync::mpsc;

use slint::ComponentHandle;
use slint::Rgb8Pixel;
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};

use super::UiError;
use super::gate_screen::apply;
use super::gate_view::GateScreenModel;
use super::generated::{GateWindow, KioskWindow, PaperMetrics, PaperWindow};
use portico_core::screens::kiosk_view::KioskScreenModel;

/// Largest side of a rendered picture, in pixels.
pub const MAX_SIDE: u32 = 8192;

/// An 8-bit RGB picture, rows top to bottom, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// The colour at (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    /// Writes the picture as an 8-bit RGB PNG.
    pub fn write_png(&self, path: &Path) -> Result<(), UiError> {
        let shown = path.display().to_string();
        let file = std::fs::File::create(path).map_err(|source| UiError::Io {
            path: shown.clone(),
            source,
        })?;
        let mut encoder = png::Encoder::new(BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let png_error = |source| UiError::Png {
            path: shown.clone(),
            source,
        };
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&self.pixels).map_err(png_error)?;
        writer.finish().map_err(png_error)
    }
}

/// Renders the gate screen showing `model` at `width`×`height` pixels into a PNG at `path`.
pub fn render_gate_png(
    model: &GateScreenModel,
    width: u32,
    height: u32,
    path: &Path,
) -> Result<(), UiError> {
    render_gate_rgb(model, width, height)?.write_png(path)
}

/// Renders the gate screen showing `model` at `width`×`height` pixels into memory.
pub fn render_gate_rgb(
    model: &GateScreenModel,
    width: u32,
    height: u32,
) -> Result<RgbImage, UiError> {
    render_request(Screen::Gate(Box::new(model.clone()), None), width, height)
}

/// Renders the gate screen showing `model` under the technician panel `panel` at
/// `width`×`height` pixels into memory.
pub fn render_gate_technician_rgb(
    model: &GateScreenModel,
    panel: &portico_core::screens::technician_view::TechPanel,
    width: u32,
    height: u32,
) -> Result<RgbImage, UiError> {
    render_request(
        Screen::Gate(Box::new(model.clone()), Some(panel.clone())),
        width,
        height,
    )
}

/// Renders the kiosk screen showing `model` (with the venue's name) at `width`×`height`
/// pixels into memory.
pub fn render_kiosk_rgb(
    model: &KioskScreenModel,
    venue: &str,
    width: u32,
    height: u32,
) -> Result<RgbImage, UiError> {
    render_request(
        Screen::Kiosk(Box::new(model.clone()), venue.to_owned()),
        width,
        height,
    )
}

/// Renders the kiosk screen into a PNG at `path`.
pub fn render_kiosk_png(
    model: &KioskScreenModel,
    venue: &str,
    width: u32,
    height: u32,
    path: &Path,
) -> Result<(), UiError> {
    render_kiosk_rgb(model, venue, width, height)?.write_png(path)
}

/// Draws a print job (tickets, a receipt) as it comes out of the printer, on `paper`.
pub fn render_paper_rgb(
    doc: &portico_core::kiosk::escpos::PrintDoc,
    paper: portico_core::kiosk::receipt::Paper,
) -> Result<RgbImage, UiError> {
    // The height is the paper's length, found on the render thread.
    render_request(Screen::Paper(doc.clone()), paper.dots(), 1)
}

/// Draws a print job into a PNG at `path`.
pub fn render_paper_png(
    doc: &portico_core::kiosk::escpos::PrintDoc,
    paper: portico_core::kiosk::receipt::Paper,
    path: &Path,
) -> Result<(), UiError> {
    render_paper_rgb(doc, paper)?.write_png(path)
}

fn render_request(screen: Screen, width: u32, height: u32) -> Result<RgbImage, UiError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(UiError::InvalidSize {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    let (reply, answer) = mpsc::channel();
    let request = Request {
        screen,
        width,
        height,
        reply,
    };
    renderer()
        .send(request)
        .map_err(|_| UiError::Renderer("the renderer thread has stopped".into()))?;
    answer
        .recv()
        .map_err(|_| UiError::Renderer("the renderer thread has stopped".into()))?
}

enum Screen {
    /// The gate screen, with the technician panel over it when one is given.
    Gate(
        Box<GateScreenModel>,
        Option<portico_core::screens::technician_view::TechPanel>,
    ),
    Kiosk(Box<KioskScreenModel>, String),
    /// A print job on paper `width` dots wide (its length follows from its lines).
    Paper(portico_core::kiosk::escpos::PrintDoc),
}

struct Request {
    screen: Screen,
    width: u32,
    height: u32,
    reply: mpsc::Sender<Result<RgbImage, UiError>>,
}

/// The render thread's queue, started on first use.
fn renderer() -> &'static mpsc::Sender<Request> {
    static QUEUE: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        let spawned = std::thread::Builder::new()
            .name("gate-render".into())
            .spawn(move || render_thread(rx));
        if let Err(e) = spawned {
            // Requests will find the queue closed and report it.
            tracing::error!("cannot start the gate render thread: {e}");
        }
        tx
    })
}

/// A Slint platform whose windows are off-screen software-rendered ones; each component gets
/// its own, handed out in the order the components are made.
struct HeadlessPlatform {
    windows: std::cell::RefCell<Vec<Rc<MinimalSoftwareWindow>>>,
    start: std::time::Instant,
}

impl Platform for HeadlessPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        let mut free = self.windows.borrow_mut();
        if free.is_empty() {
            return Err(slint::PlatformError::Other(
                "no off-screen window left on the render thread".into(),
            ));
        }
        Ok(free.remove(0))
    }

    fn duration_since_start(&self) -> std::time::Duration {
        self.start.elapsed()
    }
}

/// The components the render thread draws, each with its window.
struct Components {
    gate: (GateWindow, Rc<MinimalSoftwareWindow>),
    kiosk: (KioskWindow, Rc<MinimalSoftwareWindow>),
    paper: (PaperWindow, Rc<MinimalSoftwareWindow>),
}

fn render_thread(requests: mpsc::Receiver<Request>) {
    // Slint's font stack can panic on a broken machine font setup (fontconfig installed with
    // no fonts at all). Such a panic is turned into an error for this and every later request:
    // the renderer's state is not trusted after it.
    let mut state = guarded(setup).and_then(|r| r);
    for request in requests {
        let result = match &state {
            Ok(components) => guarded(|| render(components, &request)),
            Err(e) => Err(e.clone()),
        };
        let result = result.map_err(|e| {
            state = Err(e.clone());
            UiError::Renderer(e)
        });
        // The caller may have given up waiting; nothing to do then.
        let _ = request.reply.send(result);
    }
}

/// Runs `f`, turning a panic into an error message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        format!("rendering failed ({what}); check the machine's font configuration")
    })
}

fn setup() -> Result<Components, String> {
    let gate_window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    let kiosk_window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    let paper_window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    let platform = HeadlessPlatform {
        windows: std::cell::RefCell::new(vec![
            gate_window.clone(),
            kiosk_window.clone(),
            paper_window.clone(),
        ]),
        start: std::time::Instant::now(),
    };
    match slint::platform::set_platform(Box::new(platform)) {
        Ok(()) => {}
        // Cannot happen on this thread, which sets it first; reported rather than assumed.
        Err(slint::platform::SetPlatformError::AlreadySet) => {
            return Err("a Slint platform is already set on the render thread".into());
        }
        Err(e) => return Err(format!("cannot set the Slint platform: {e}")),
    }
    let gate = GateWindow::new().map_err(|e| format!("cannot create the gate screen: {e}"))?;
    gate.show()
        .map_err(|e| format!("cannot show the gate screen: {e}"))?;
    let kiosk = KioskWindow::new().map_err(|e| format!("cannot create the kiosk screen: {e}"))?;
    kiosk
        .show()
        .map_err(|e| format!("cannot show the kiosk screen: {e}"))?;
    let paper = PaperWindow::new().map_err(|e| format!("cannot create the paper: {e}"))?;
    paper
        .show()
        .map_err(|e| format!("cannot show the paper: {e}"))?;
    Ok(Components {
        gate: (gate, gate_window),
        kiosk: (kiosk, kiosk_window),
        paper: (paper, paper_window),
    })
}

fn render(components: &Components, request: &Request) -> RgbImage {
    let (width, mut height) = (request.width, request.height);
    let window = match &request.screen {
        Screen::Paper(doc) => {
            let lines = super::paper::paper_lines(doc);
            let m = components.paper.0.global::<PaperMetrics>();
            height =
                super::paper::paper_height(&lines, m.get_line(), m.get_cut(), m.get_qr_margin())
                    .min(MAX_SIDE);
            components
                .paper
                .0
                .set_lines(slint::ModelRc::new(slint::VecModel::from(lines)));
            &components.paper.1
        }
        Screen::Gate(model, panel) => {
            let window = &components.gate.0;
            apply(window, model);
            crate::technician_panel::apply_technician!(
                window,
                panel.as_ref(),
                None::<&portico_core::screens::technician_view::TechPanel>,
                |items: Vec<_>| window
                    .set_tech_rows(slint::ModelRc::new(slint::VecModel::from(items)))
            );
            &components.gate.1
        }
        Screen::Kiosk(model, venue) => {
            super::kiosk_screen::apply(&components.kiosk.0, model, venue, None);
            &components.kiosk.1
        }
    };
    draw(window, width, height)
}

/// Draws `window` at `width`×`height` into memory.
pub(crate) fn draw(window: &MinimalSoftwareWindow, width: u32, height: u32) -> RgbImage {
    window.set_size(slint::PhysicalSize::new(width, height));
    window.request_redraw();
    slint::platform::update_timers_and_animations();

    let mut buffer = vec![Rgb8Pixel::default(); width as usize * height as usize];
    window.draw_if_needed(|renderer| {
        renderer.render(&mut buffer, width as usize);
    });
    RgbImage {
        width,
        height,
        pixels: buffer.iter().flat_map(|p| [p.r, p.g, p.b]).collect(),
    }
}
