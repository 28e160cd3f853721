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
use super::generated::GateWindow;

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
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(UiError::InvalidSize {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    let (reply, answer) = mpsc::channel();
    let request = Request {
        model: model.clone(),
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

struct Request {
    model: GateScreenModel,
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

/// A Slint platform whose only window is an off-screen software-rendered one.
struct HeadlessPlatform {
    window: Rc<MinimalSoftwareWindow>,
    start: std::time::Instant,
}

impl Platform for HeadlessPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.window.clone())
    }

    fn duration_since_start(&self) -> std::time::Duration {
        self.start.elapsed()
    }
}

fn render_thread(requests: mpsc::Receiver<Request>) {
    let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    // Slint's font stack can panic on a broken machine font setup (fontconfig installed with
    // no fonts at all). Such a panic is turned into an error for this and every later request:
    // the renderer's state is not trusted after it.
    let mut state = guarded(|| setup(window.clone())).and_then(|r| r);
    for request in requests {
        let result = match &state {
            Ok(component) => guarded(|| render(&window, component, &request)),
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

fn setup(window: Rc<MinimalSoftwareWindow>) -> Result<GateWindow, String> {
    let platform = HeadlessPlatform {
        window,
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
    let component = GateWindow::new().map_err(|e| format!("cannot create the gate screen: {e}"))?;
    component
        .show()
        .map_err(|e| format!("cannot show the gate screen: {e}"))?;
    Ok(component)
}

fn render(window: &MinimalSoftwareWindow, component: &GateWindow, request: &Request) -> RgbImage {
    let (width, height) = (request.width, request.height);
    apply(component, &request.model);
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
