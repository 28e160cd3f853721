//! A relay and a passage sensor on GPIO lines, through the Linux GPIO character device
//! (`/dev/gpiochipN`, uAPI v2, via `gpiocdev`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use gpiocdev::line::{Bias, EdgeDetection, Value};
use gpiocdev::request::{Config, Request};

use super::{GateOutput, OutputState, PassageSensor, RelayError, SensorError};

/// The consumer label the lines are requested under (shown by `gpioinfo`).
pub const CONSUMER: &str = "portico";

/// One GPIO line and how it is wired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioLine {
    pub chip: PathBuf,
    pub line: u32,
    /// The line is active (relay on, beam broken) when low.
    pub active_low: bool,
}

/// Passage-sensor input settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioInput {
    pub line: GpioLine,
    pub debounce: Duration,
    /// Pull-up / pull-down / none.
    pub bias: Option<Bias>,
}

/// The request configuration for a relay output: the line as an output, starting inactive.
pub fn output_config(line: &GpioLine) -> Config {
    let mut cfg = Config::default();
    cfg.on_chip(&line.chip)
        .with_line(line.line)
        .as_output(Value::Inactive);
    if line.active_low {
        cfg.as_active_low();
    }
    cfg
}

/// The request configuration for a passage sensor: an input with rising-edge events (the
/// transition to active) and the debounce period.
pub fn input_config(input: &GpioInput) -> Config {
    let mut cfg = Config::default();
    cfg.on_chip(&input.line.chip)
        .with_line(input.line.line)
        .as_input()
        .with_edge_detection(EdgeDetection::RisingEdge)
        .with_bias(input.bias);
    if input.line.active_low {
        cfg.as_active_low();
    }
    if !input.debounce.is_zero() {
        cfg.with_debounce_period(input.debounce);
    }
    cfg
}

fn describe_error(chip: &Path, e: &gpiocdev::Error) -> String {
    if !chip.exists() {
        return format!("no such GPIO chip ({e})");
    }
    e.to_string()
}

fn request(cfg: Config, chip: &Path) -> Result<Request, (PathBuf, String)> {
    Request::from_config(cfg)
        .with_consumer(CONSUMER)
        .request()
        .map_err(|e| (chip.to_owned(), describe_error(chip, &e)))
}

/// A relay on a GPIO output line.
pub struct GpioOutput {
    line: GpioLine,
    req: Request,
    state: OutputState,
}

impl GpioOutput {
    /// Requests the line. The error names the chip path.
    pub fn open(line: GpioLine) -> Result<Self, RelayError> {
        let req = request(output_config(&line), &line.chip)
            .map_err(|(chip, message)| RelayError::Gpio { chip, message })?;
        Ok(Self {
            line,
            req,
            state: OutputState::Closed,
        })
    }

    fn set(&mut self, value: Value) -> Result<(), RelayError> {
        match self.req.set_value(self.line.line, value) {
            Ok(()) => {
                self.state = match value {
                    Value::Active => OutputState::Open,
                    Value::Inactive => OutputState::Closed,
                };
                Ok(())
            }
            Err(e) => {
                self.state = OutputState::Fault(e.to_string());
                Err(RelayError::Gpio {
                    chip: self.line.chip.clone(),
                    message: e.to_string(),
                })
            }
        }
    }
}

impl GateOutput for GpioOutput {
    fn open(&mut self) -> Result<(), RelayError> {
        self.set(Value::Active)
    }

    fn close(&mut self) -> Result<(), RelayError> {
        self.set(Value::Inactive)
    }

    fn state(&self) -> OutputState {
        self.state.clone()
    }

    fn describe(&self) -> String {
        format!(
            "gpio {} line {}{}",
            self.line.chip.display(),
            self.line.line,
            if self.line.active_low {
                " (active low)"
            } else {
                ""
            }
        )
    }
}

/// A passage sensor on a GPIO input line.
pub struct GpioSensor {
    chip: PathBuf,
    req: Request,
}

impl GpioSensor {
    pub fn open(input: GpioInput) -> Result<Self, SensorError> {
        let chip = input.line.chip.clone();
        let req = request(input_config(&input), &chip)
            .map_err(|(chip, message)| SensorError::Gpio { chip, message })?;
        Ok(Self { chip, req })
    }
}

impl PassageSensor for GpioSensor {
    fn wait_passage(&mut self, timeout: Duration) -> Result<bool, SensorError> {
        let err = |e: gpiocdev::Error| SensorError::Gpio {
            chip: self.chip.clone(),
            message: e.to_string(),
        };
        if !self.req.wait_edge_event(timeout).map_err(err)? {
            return Ok(false);
        }
        let err = |e: gpiocdev::Error| SensorError::Gpio {
            chip: self.chip.clone(),
            message: e.to_string(),
        };
        self.req.read_edge_event().map_err(err)?;
        Ok(true)
    }
}
