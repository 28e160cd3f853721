//! The scanner and card-reader input layer.
//!
//! Gates and kiosks read keyboard-wedge barcode scanners (evdev), serial barcode scanners, and
//! magstripe and RFID card readers. This module turns their bytes and key events into typed
//! [`Credential`]s:
//!
//! ```text
//! serial port ──bytes──▶ SerialFramer ─┐
//!                                      ├─ frames ─▶ CredentialParser ─▶ Deduper ─▶ InputEvent
//! event node ──events─▶ KeyDecoder ────┘
//! ```
//!
//! Decoding ([`framer`], [`keydecoder`], [`credential`], [`dedupe`]) is pure: time is an
//! input and idle-gap ends are driven by `poll(now)`. Device I/O ([`serial`], [`evdev`]) runs one
//! thread per input with blocking reads and a timeout, reconnects with backoff, and sends
//! [`InputEvent`]s to an [`EventSink`] (std or tokio channel sender).
//!
//! Start readers from a validated configuration with [`spawn_inputs`]; stop them with the
//! [`StopSignal`].

pub mod config;
pub mod evdev;
pub mod event;
pub mod pipeline;
pub mod scan_test;
pub mod serial;

pub use portico_core::input::{credential, dedupe, framer, fuzz_entry, keydecoder, keymap};

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use config::{InputSource, InputSpec, Problem, RawInputsConfig, ValidatedInputs, validate};
pub use credential::{Credential, CredentialKind, CredentialParser, CredentialRules, Unrecognized};
pub use event::{Backoff, DeviceState, EventSink, InputEvent, Scan, StopSignal};
pub use scan_test::run_scan_test;

/// Starts the reader thread of one input.
pub fn spawn_input<S: EventSink>(
    spec: &InputSpec,
    parser: Arc<CredentialParser>,
    double_scan_window: Duration,
    sink: S,
    stop: StopSignal,
) -> io::Result<JoinHandle<()>> {
    match &spec.source {
        InputSource::Serial(settings) => serial::spawn_serial(
            serial::SerialInput {
                name: spec.name.clone(),
                settings: settings.clone(),
                framing: spec.framing.clone(),
                formats: spec.formats,
                double_scan_window,
                backoff: Backoff::default(),
            },
            parser,
            sink,
            stop,
        ),
        InputSource::Evdev(settings) => evdev::spawn_key_reader(
            evdev::KeyInput {
                name: spec.name.clone(),
                layout: settings.layout,
                framing: spec.framing.clone(),
                formats: spec.formats,
                double_scan_window,
                backoff: evdev::default_backoff(),
            },
            evdev::EvdevOpener {
                selector: settings.selector.clone(),
                grab: settings.grab,
            },
            parser,
            sink,
            stop,
        ),
    }
}

/// Starts a reader thread for every enabled input. Events from all of them go to `sink`.
///
/// Signal `stop` to end them (each ends within about 100 ms), then join the handles. If a
/// thread cannot be started the error is returned; signal `stop` to end those already running.
pub fn spawn_inputs<S: EventSink + Clone>(
    config: &ValidatedInputs,
    sink: S,
    stop: &StopSignal,
) -> io::Result<Vec<JoinHandle<()>>> {
    let parser = Arc::new(CredentialParser::new(config.credentials.clone()));
    config
        .inputs
        .iter()
        .filter(|i| i.enabled)
        .map(|spec| {
            spawn_input(
                spec,
                Arc::clone(&parser),
                config.double_scan_window,
                sink.clone(),
                stop.clone(),
            )
        })
        .collect()
}
