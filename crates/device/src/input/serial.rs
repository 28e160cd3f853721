//! Serial reader: one thread per serial input, blocking reads with a timeout, framing and
//! parsing on the thread, events out through an [`EventSink`].
//!
//! The port is opened by path, so a `/dev/serial/by-id/…` link keeps pointing at the scanner
//! whatever ttyUSB number it gets. Unplugging shows up as a read error or hang-up: the reader
//! reports [`DeviceState::Disconnected`], drops any partial frame, and tries to open the path
//! again with exponential backoff (sleeping, never spinning) until the device is back.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{DataBits, SerialPort, StopBits, TTYPort};

use super::config::{FlowControl, Parity, SerialSettings};
use super::credential::{CredentialParser, FormatSet};
use super::event::{Backoff, DeviceState, Disconnected, EventSink, InputEvent, StopSignal};
use super::framer::{DropReason, FramingConfig, SerialFramer};
use super::pipeline::Pipeline;

/// Longest a read blocks before the thread checks the stop signal.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A connection that lasted this long resets the reconnect backoff.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(1);

/// Everything a serial reader thread needs.
#[derive(Debug, Clone)]
pub struct SerialInput {
    pub name: String,
    pub settings: SerialSettings,
    pub framing: FramingConfig,
    pub formats: FormatSet,
    pub double_scan_window: Duration,
    pub backoff: Backoff,
}

/// Starts the reader thread for one serial input.
pub fn spawn_serial<S: EventSink>(
    input: SerialInput,
    parser: Arc<CredentialParser>,
    sink: S,
    stop: StopSignal,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("serial:{}", input.name))
        .spawn(move || {
            let reader = SerialReader::new(input, parser, sink, stop);
            reader.run();
        })
}

struct SerialReader<S> {
    name: String,
    settings: SerialSettings,
    framer: SerialFramer,
    pipeline: Pipeline,
    sink: S,
    stop: StopSignal,
    backoff: Backoff,
    origin: Instant,
    last_state: Option<DeviceState>,
}

impl<S: EventSink> SerialReader<S> {
    fn new(input: SerialInput, parser: Arc<CredentialParser>, sink: S, stop: StopSignal) -> Self {
        Self {
            pipeline: Pipeline::new(
                input.name.clone(),
                parser,
                input.formats,
                input.double_scan_window,
            ),
            name: input.name,
            settings: input.settings,
            framer: SerialFramer::new(input.framing),
            sink,
            stop,
            backoff: input.backoff,
            origin: Instant::now(),
            last_state: None,
        }
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn report(&mut self, state: DeviceState) -> Result<(), Disconnected> {
        if self.last_state.as_ref() == Some(&state) {
            return Ok(());
        }
        match &state {
            DeviceState::Disconnected { error } => {
                tracing::warn!(reader = %self.name, "serial input disconnected: {error}")
            }
            other => tracing::info!(reader = %self.name, "serial input {other}"),
        }
        self.last_state = Some(state.clone());
        self.sink.send_event(InputEvent::State {
            reader: self.name.clone(),
            state,
            at: Instant::now(),
        })
    }

    fn run(mut self) {
        let _ = self.run_inner();
        let _ = self.report(DeviceState::Stopped);
    }

    fn run_inner(&mut self) -> Result<(), Disconnected> {
        while !self.stop.is_stopped() {
            match open_port(&self.settings) {
                Ok(port) => {
                    let connected_at = Instant::now();
                    self.report(DeviceState::Connected {
                        device: describe_path(&self.settings.path),
                        grabbed: true,
                        warning: None,
                    })?;
                    let error = self.read_until_error(port)?;
                    let mut outs = Vec::new();
                    let now = self.now();
                    self.framer.abort(DropReason::Incomplete, now, &mut outs);
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

    /// Reads until the port fails (returns the reason) or stop is requested (returns `None`).
    fn read_until_error(&mut self, mut port: TTYPort) -> Result<Option<String>, Disconnected> {
        let mut buf = [0u8; 1024];
        let mut outs = Vec::new();
        loop {
            if self.stop.is_stopped() {
                return Ok(None);
            }
            let now = self.now();
            let timeout = self
                .framer
                .next_deadline()
                .map_or(POLL_INTERVAL, |d| d.saturating_sub(now))
                .clamp(Duration::from_millis(1), POLL_INTERVAL);
            if let Err(e) = port.set_timeout(timeout) {
                return Ok(Some(format!("cannot set timeout: {e}")));
            }
            match port.read(&mut buf) {
                Ok(0) => return Ok(Some("device closed (end of file)".to_owned())),
                Ok(n) => {
                    let now = self.now();
                    self.framer.push(now, &buf[..n], &mut outs);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    let now = self.now();
                    self.framer.poll(now, &mut outs);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Ok(Some(read_error_text(&e))),
            }
            self.pipeline.send_all(&mut outs, &self.sink)?;
        }
    }
}

fn read_error_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::BrokenPipe => "device hung up (unplugged?)".to_owned(),
        _ => format!("read failed: {e}"),
    }
}

/// The path, and where a symlink such as `/dev/serial/by-id/…` points.
fn describe_path(path: &Path) -> String {
    match std::fs::canonicalize(path) {
        Ok(real) if real != path => format!("{} -> {}", path.display(), real.display()),
        _ => path.display().to_string(),
    }
}

/// Opens the port with the configured line settings (exclusive access).
pub fn open_port(s: &SerialSettings) -> Result<TTYPort, String> {
    let path = s.path.to_string_lossy();
    let data_bits = match s.data_bits {
        5 => DataBits::Five,
        6 => DataBits::Six,
        7 => DataBits::Seven,
        _ => DataBits::Eight,
    };
    let parity = match s.parity {
        Parity::None => serialport::Parity::None,
        Parity::Odd => serialport::Parity::Odd,
        Parity::Even => serialport::Parity::Even,
    };
    let stop_bits = if s.stop_bits == 2 {
        StopBits::Two
    } else {
        StopBits::One
    };
    let flow = match s.flow_control {
        FlowControl::None => serialport::FlowControl::None,
        FlowControl::Software => serialport::FlowControl::Software,
        FlowControl::Hardware => serialport::FlowControl::Hardware,
    };
    serialport::new(path.as_ref(), s.baud)
        .data_bits(data_bits)
        .parity(parity)
        .stop_bits(stop_bits)
        .flow_control(flow)
        .timeout(POLL_INTERVAL)
        .open_native()
        .map_err(|e| format!("cannot open {path}: {e}"))
}
