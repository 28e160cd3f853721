//! evdev reader: keyboard-wedge scanners read straight from their event node.
//!
//! The device sits behind [`KeySource`] / [`KeySourceOpener`] so the reader loop, decoding and
//! hotplug handling are the same for a real event node ([`EvdevOpener`]) and for recorded
//! `input_event` streams. The real device is grabbed (`EVIOCGRAB`) so scans never reach the
//! kiosk UI. A device that is not present yet is looked for again with backoff (each attempt
//! rescans `/dev/input`); one that disappears is reported and looked for again.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use evdev::raw_stream::RawDevice;

use super::config::DeviceSelector;
use super::credential::{CredentialParser, FormatSet};
use super::event::{Backoff, DeviceState, Disconnected, EventSink, InputEvent, StopSignal};
use super::framer::FramingConfig;
use super::keydecoder::{KeyDecoder, RawInputEvent};
use super::keymap::Layout;
use super::pipeline::Pipeline;

/// Longest a read blocks before the thread checks the stop signal.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A connection that lasted this long resets the reconnect backoff.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(1);

/// A source of key events.
pub trait KeySource: Send {
    /// Waits up to `timeout` for events and appends them to `out`; returns with nothing
    /// appended on timeout. An error means the device is gone.
    fn read_events(&mut self, timeout: Duration, out: &mut Vec<RawInputEvent>) -> io::Result<()>;
}

/// An opened key source and what to report about it.
pub struct Opened {
    pub source: Box<dyn KeySource>,
    pub device: String,
    pub grabbed: bool,
    pub warning: Option<String>,
}

/// Finds and opens the device for a key reader.
pub trait KeySourceOpener: Send + 'static {
    fn open(&mut self) -> Result<Opened, String>;
}

/// Identity of an event device, for matching against a [`DeviceSelector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub path: PathBuf,
    pub name: String,
    pub vendor: u16,
    pub product: u16,
}

/// Whether a device matches a selector. Paths compare after resolving symlinks.
pub fn selector_matches(sel: &DeviceSelector, id: &DeviceIdentity) -> bool {
    match sel {
        DeviceSelector::Path(p) => {
            let want = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            let have = std::fs::canonicalize(&id.path).unwrap_or_else(|_| id.path.clone());
            want == have
        }
        DeviceSelector::VendorProduct { vendor, product } => {
            id.vendor == *vendor && id.product == *product
        }
        DeviceSelector::Name(n) => id.name.to_lowercase().contains(&n.to_lowercase()),
    }
}

/// Opens real event devices.
#[derive(Debug, Clone)]
pub struct EvdevOpener {
    pub selector: DeviceSelector,
    pub grab: bool,
}

fn identity(path: &Path, dev: &RawDevice) -> DeviceIdentity {
    let id = dev.input_id();
    DeviceIdentity {
        path: path.to_path_buf(),
        name: dev.name().unwrap_or_default().to_owned(),
        vendor: id.vendor(),
        product: id.product(),
    }
}

fn types_enter(dev: &RawDevice) -> bool {
    dev.supported_keys()
        .is_some_and(|k| k.contains(evdev::KeyCode::KEY_ENTER))
}

impl KeySourceOpener for EvdevOpener {
    fn open(&mut self) -> Result<Opened, String> {
        let (path, mut dev) = match &self.selector {
            DeviceSelector::Path(p) => {
                let dev =
                    RawDevice::open(p).map_err(|e| format!("cannot open {}: {e}", p.display()))?;
                (p.clone(), dev)
            }
            sel => {
                // A scanner often has several event nodes (keyboard, consumer keys, HID POS):
                // prefer one that can type Enter.
                let mut matches: Vec<(PathBuf, RawDevice)> = evdev::raw_stream::enumerate()
                    .filter(|(path, dev)| selector_matches(sel, &identity(path, dev)))
                    .collect();
                matches.sort_by_key(|(path, dev)| (!types_enter(dev), path.clone()));
                matches
                    .into_iter()
                    .next()
                    .ok_or_else(|| format!("no input device matches {sel}"))?
            }
        };
        let id = identity(&path, &dev);
        let device = format!(
            "{} ({} {:04x}:{:04x})",
            path.display(),
            id.name,
            id.vendor,
            id.product
        );
        let (grabbed, warning) = if self.grab {
            match dev.grab() {
                Ok(()) => (true, None),
                Err(e) => (false, Some(format!("exclusive grab failed: {e}"))),
            }
        } else {
            (false, None)
        };
        Ok(Opened {
            source: Box::new(EvdevSource { dev }),
            device,
            grabbed,
            warning,
        })
    }
}

/// A real event device.
pub struct EvdevSource {
    dev: RawDevice,
}

impl KeySource for EvdevSource {
    fn read_events(&mut self, timeout: Duration, out: &mut Vec<RawInputEvent>) -> io::Result<()> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&self.dev, PollFlags::IN)];
        let timeout = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if fds[0]
            .revents()
            .intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL)
        {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "device removed",
            ));
        }
        for ev in self.dev.fetch_events()? {
            let time = ev
                .timestamp()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            out.push(RawInputEvent::new(
                time,
                ev.event_type().0,
                ev.code(),
                ev.value(),
            ));
        }
        Ok(())
    }
}

/// Everything a key reader thread needs.
#[derive(Debug, Clone)]
pub struct KeyInput {
    pub name: String,
    pub layout: Layout,
    pub framing: FramingConfig,
    pub formats: FormatSet,
    pub double_scan_window: Duration,
    pub backoff: Backoff,
}

/// Default backoff for finding key devices: a scanner plugged in is picked up within 2 s.
pub fn default_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(2))
}

/// Starts the reader thread for a key input with the given opener.
pub fn spawn_key_reader<O: KeySourceOpener, S: EventSink>(
    input: KeyInput,
    opener: O,
    parser: Arc<CredentialParser>,
    sink: S,
    stop: StopSignal,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("evdev:{}", input.name))
        .spawn(move || {
            let mut r = KeyReader {
                pipeline: Pipeline::new(
                    input.name.clone(),
                    parser,
                    input.formats,
                    input.double_scan_window,
                ),
                decoder: KeyDecoder::new(input.layout, input.framing),
                name: input.name,
                opener,
                sink,
                stop,
                backoff: input.backoff,
                last_state: None,
                clock: None,
            };
            let _ = r.run();
            let _ = r.report(DeviceState::Stopped);
        })
}

struct KeyReader<O, S> {
    name: String,
    opener: O,
    decoder: KeyDecoder,
    pipeline: Pipeline,
    sink: S,
    stop: StopSignal,
    backoff: Backoff,
    last_state: Option<DeviceState>,
    /// Time of the last event in the event clock, and when it was read.
    clock: Option<(Duration, Instant)>,
}

impl<O: KeySourceOpener, S: EventSink> KeyReader<O, S> {
    fn report(&mut self, state: DeviceState) -> Result<(), Disconnected> {
        if self.last_state.as_ref() == Some(&state) {
            return Ok(());
        }
        match &state {
            DeviceState::Disconnected { error } => {
                tracing::warn!(reader = %self.name, "key input disconnected: {error}")
            }
            other => tracing::info!(reader = %self.name, "key input {other}"),
        }
        self.last_state = Some(state.clone());
        self.sink.send_event(InputEvent::State {
            reader: self.name.clone(),
            state,
            at: Instant::now(),
        })
    }

    /// "Now" in the event clock: the last event's time plus the time since it was read. This
    /// works whatever clock the device (or a recording) stamps events with.
    fn now(&self) -> Option<Duration> {
        self.clock.map(|(t, at)| t + at.elapsed())
    }

    fn run(&mut self) -> Result<(), Disconnected> {
        while !self.stop.is_stopped() {
            match self.opener.open() {
                Ok(opened) => {
                    let connected_at = Instant::now();
                    self.report(DeviceState::Connected {
                        device: opened.device,
                        grabbed: opened.grabbed,
                        warning: opened.warning,
                    })?;
                    let error = self.read_until_error(opened.source)?;
                    let mut outs = Vec::new();
                    let now = self.now().unwrap_or_default();
                    self.decoder.abort(now, &mut outs);
                    self.pipeline.send_all(&mut outs, &self.sink)?;
                    // A device that stayed up resets the backoff; one that fails straight after
                    // opening keeps backing off instead of flapping.
                    if connected_at.elapsed() >= HEALTHY_AFTER {
                        self.backoff.reset();
                    }
                    match error {
                        Some(error) => self.report(DeviceState::Disconnected { error })?,
                        None => return Ok(()),
                    }
                }
                Err(error) => self.report(DeviceState::Disconnected { error })?,
            }
            if self.stop.wait_timeout(self.backoff.next_delay()) {
                break;
            }
        }
        Ok(())
    }

    fn read_until_error(
        &mut self,
        mut source: Box<dyn KeySource>,
    ) -> Result<Option<String>, Disconnected> {
        let mut events = Vec::new();
        let mut outs = Vec::new();
        loop {
            if self.stop.is_stopped() {
                return Ok(None);
            }
            let timeout = match (self.decoder.next_deadline(), self.now()) {
                (Some(d), Some(now)) => d.saturating_sub(now),
                _ => POLL_INTERVAL,
            }
            .clamp(Duration::from_millis(1), POLL_INTERVAL);
            events.clear();
            if let Err(e) = source.read_events(timeout, &mut events) {
                return Ok(Some(format!("read failed: {e}")));
            }
            if let Some(last) = events.last() {
                self.clock = Some((last.time, Instant::now()));
            }
            for ev in &events {
                self.decoder.push(*ev, &mut outs);
            }
            if let Some(now) = self.now() {
                self.decoder.poll(now, &mut outs);
            }
            self.pipeline.send_all(&mut outs, &self.sink)?;
        }
    }
}
