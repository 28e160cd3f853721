//! A serial relay board: configured byte strings switch the relay on and off (e.g. the common
//! LC-USB boards take `A0 01 01 A2` / `A0 01 00 A1`).

use std::io::Write;
use std::time::Duration;

use serialport::SerialPort;

use super::{GateOutput, OutputState, RelayError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialRelaySettings {
    pub port: String,
    pub baud: u32,
    /// Bytes that close the relay contact (open the turnstile).
    pub open_bytes: Vec<u8>,
    /// Bytes that release the relay contact.
    pub close_bytes: Vec<u8>,
}

/// Parses a hex byte string: pairs of hex digits, optionally separated by spaces, `:` or `-`
/// (`"A0 01 01 A2"`, `"a00101a2"`).
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | '-' | '_'))
        .collect();
    if digits.is_empty() {
        return Err("no bytes".into());
    }
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{bad:?} is not a hex digit"));
    }
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

pub struct SerialRelay {
    settings: SerialRelaySettings,
    port: Box<dyn SerialPort>,
    state: OutputState,
}

impl SerialRelay {
    /// Opens the port by path (8N1, no flow control).
    pub fn open(settings: SerialRelaySettings) -> Result<Self, RelayError> {
        let port = serialport::new(&settings.port, settings.baud)
            .timeout(Duration::from_millis(500))
            .open()
            .map_err(|e| RelayError::Serial {
                port: settings.port.clone(),
                message: e.to_string(),
            })?;
        Ok(Self::with_port(settings, port))
    }

    /// Uses a port opened elsewhere.
    pub fn with_port(settings: SerialRelaySettings, port: Box<dyn SerialPort>) -> Self {
        Self {
            settings,
            port,
            state: OutputState::Closed,
        }
    }

    fn send(&mut self, open: bool) -> Result<(), RelayError> {
        let bytes = if open {
            &self.settings.open_bytes
        } else {
            &self.settings.close_bytes
        };
        let result = self.port.write_all(bytes).and_then(|()| self.port.flush());
        match result {
            Ok(()) => {
                self.state = if open {
                    OutputState::Open
                } else {
                    OutputState::Closed
                };
                Ok(())
            }
            Err(e) => {
                self.state = OutputState::Fault(e.to_string());
                Err(RelayError::Serial {
                    port: self.settings.port.clone(),
                    message: e.to_string(),
                })
            }
        }
    }
}

impl GateOutput for SerialRelay {
    fn open(&mut self) -> Result<(), RelayError> {
        self.send(true)
    }

    fn close(&mut self) -> Result<(), RelayError> {
        self.send(false)
    }

    fn state(&self) -> OutputState {
        self.state.clone()
    }

    fn describe(&self) -> String {
        format!(
            "serial relay {} at {} baud",
            self.settings.port, self.settings.baud
        )
    }
}
