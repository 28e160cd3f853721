//! The receipt printer: ESC/POS over TCP (port 9100, how most network thermal printers take
//! jobs), a USB printer device (`/dev/usb/lp0`) or a serial port.
//!
//! Before a payment the kiosk asks the printer how it is (`DLE EOT`: online, cover, paper); it
//! refuses to sell when it could not print. An order prints ticket by ticket, asking again
//! after each: paper that runs out halfway leaves the order standing and says how many
//! tickets came out, so the visitor is sent to the desk and the rest print again later.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::kiosk::escpos::{PrintDoc, PrinterStatus, encode, status_request};

/// Where the printer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterAddress {
    /// `host:port` of a network printer.
    Tcp(String),
    /// A USB printer's device file.
    Usb(PathBuf),
    Serial {
        path: PathBuf,
        baud: u32,
    },
}

impl std::fmt::Display for PrinterAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "tcp://{a}"),
            Self::Usb(p) => write!(f, "{}", p.display()),
            Self::Serial { path, baud } => write!(f, "{} at {baud} baud", path.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    #[error("the printer at {address} cannot be reached")]
    Unreachable {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the printer at {address} stopped answering")]
    Io {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// How a job went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrintReport {
    /// Pieces (tickets, the receipt) that came out whole.
    pub printed: usize,
    /// The paper ran out (or the cover opened) before the rest.
    pub stopped: bool,
}

/// A printer of tickets and receipts.
pub trait TicketPrinter: Send {
    fn status(&mut self) -> Result<PrinterStatus, PrinterError>;
    /// Prints the job's pieces in order, checking the printer after each.
    fn print(&mut self, doc: &PrintDoc) -> Result<PrintReport, PrinterError>;
}

trait Link: Read + Write + Send {}
impl<T: Read + Write + Send> Link for T {}

/// An ESC/POS printer.
pub struct EscPosPrinter {
    address: PrinterAddress,
    timeout: Duration,
}

impl EscPosPrinter {
    pub fn new(address: PrinterAddress, timeout: Duration) -> Self {
        Self { address, timeout }
    }

    fn shown(&self) -> String {
        self.address.to_string()
    }

    fn connect(&self) -> Result<Box<dyn Link>, PrinterError> {
        let unreachable = |source| PrinterError::Unreachable {
            address: self.shown(),
            source,
        };
        match &self.address {
            PrinterAddress::Tcp(addr) => {
                let target = addr
                    .to_socket_addrs()
                    .map_err(unreachable)?
                    .next()
                    .ok_or_else(|| {
                        unreachable(std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "the name has no address",
                        ))
                    })?;
                let s = TcpStream::connect_timeout(&target, self.timeout).map_err(unreachable)?;
                s.set_read_timeout(Some(self.timeout))
                    .map_err(unreachable)?;
                s.set_write_timeout(Some(self.timeout))
                    .map_err(unreachable)?;
                s.set_nodelay(true).map_err(unreachable)?;
                Ok(Box::new(s))
            }
            PrinterAddress::Usb(path) => Ok(Box::new(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(unreachable)?,
            )),
            PrinterAddress::Serial { path, baud } => {
                let port = serialport::new(path.to_string_lossy(), *baud)
                    .timeout(self.timeout)
                    .open()
                    .map_err(|e| unreachable(std::io::Error::other(e)))?;
                Ok(Box::new(port))
            }
        }
    }

    fn ask(&self, link: &mut dyn Link) -> Result<PrinterStatus, PrinterError> {
        let io = |source| PrinterError::Io {
            address: self.shown(),
            source,
        };
        let mut answers = [0u8; 3];
        for (i, n) in [1u8, 2, 4].into_iter().enumerate() {
            link.write_all(&status_request(n)).map_err(io)?;
            link.flush().map_err(io)?;
            let mut byte = [0u8; 1];
            link.read_exact(&mut byte).map_err(io)?;
            answers[i] = byte[0];
        }
        Ok(PrinterStatus::from_bytes(answers))
    }
}

impl TicketPrinter for EscPosPrinter {
    fn status(&mut self) -> Result<PrinterStatus, PrinterError> {
        let mut link = self.connect()?;
        self.ask(&mut *link)
    }

    fn print(&mut self, doc: &PrintDoc) -> Result<PrintReport, PrinterError> {
        let mut link = self.connect()?;
        let mut report = PrintReport::default();
        for piece in doc.pieces() {
            if !self.ask(&mut *link)?.can_print() {
                report.stopped = true;
                break;
            }
            link.write_all(&encode(&piece))
                .and_then(|()| link.flush())
                .map_err(|source| PrinterError::Io {
                    address: self.shown(),
                    source,
                })?;
            // The printer answers a status request once what came before it is printed; a
            // printer gone offline (an error, the cover opened) did not finish the piece.
            let after = self.ask(&mut *link)?;
            if !after.online || after.cover_open {
                report.stopped = true;
                break;
            }
            report.printed += 1;
        }
        Ok(report)
    }
}
