//! The turnstile relay and the passage sensor: device I/O behind small traits, so the shell
//! drives a GPIO line, a serial relay board or a simulation the same way.

pub mod gpio;
pub mod serial;
pub mod simulated;

use std::path::PathBuf;
use std::time::Duration;

pub use gpio::{GpioLine, GpioOutput, GpioSensor};
pub use serial::{SerialRelay, SerialRelaySettings};
pub use simulated::{RecordedPulse, SimulatedOutput, SimulatedSensor};

/// What the output last did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputState {
    Closed,
    Open,
    /// The last operation failed; the message says how.
    Fault(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("GPIO chip {chip}: {message}")]
    Gpio { chip: PathBuf, message: String },
    #[error("serial relay {port}: {message}")]
    Serial { port: String, message: String },
    #[error("simulated relay fault: {0}")]
    Simulated(String),
}

/// A turnstile output: opens for a pulse, then closes.
pub trait GateOutput: Send {
    fn open(&mut self) -> Result<(), RelayError>;
    fn close(&mut self) -> Result<(), RelayError>;
    fn state(&self) -> OutputState;
    /// A short description for logs (`gpio /dev/gpiochip0 line 17`).
    fn describe(&self) -> String;

    /// Opens, holds for `duration`, closes. Blocks the calling thread for the pulse. If
    /// opening fails nothing else is tried; if closing fails the error is returned.
    fn pulse(&mut self, duration: Duration) -> Result<(), RelayError> {
        self.open()?;
        std::thread::sleep(duration);
        self.close()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error("GPIO chip {chip}: {message}")]
    Gpio { chip: PathBuf, message: String },
    #[error("passage sensor disconnected")]
    Disconnected,
}

/// A passage sensor (light barrier, turnstile rotation switch).
pub trait PassageSensor: Send {
    /// Waits up to `timeout` for one passage; `Ok(true)` when one was seen.
    fn wait_passage(&mut self, timeout: Duration) -> Result<bool, SensorError>;
}

/// Opens the configured turnstile output.
pub fn open_output(
    config: &crate::gate::config::RelayConfig,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
) -> Result<Box<dyn GateOutput>, RelayError> {
    use crate::gate::config::RelayConfig;
    Ok(match config {
        RelayConfig::Gpio(line) => Box::new(GpioOutput::open(line.clone())?),
        RelayConfig::Serial(settings) => Box::new(SerialRelay::open(settings.clone())?),
        RelayConfig::Simulated => Box::new(SimulatedOutput::new(clock)),
    })
}
