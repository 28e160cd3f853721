//! A receipt printer on loopback, for the demo and the tests: it takes ESC/POS jobs over TCP
//! as a network thermal printer does (port 9100 on a real one), reads them back into
//! documents, and answers status requests (`DLE EOT`). It can be told to run out of paper
//! after a number of tickets, or to have its cover open.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::kiosk::escpos::{Decoded, PrintDoc, PrinterStatus, decode};

#[derive(Debug, Default)]
struct State {
    status: PrinterStatus,
    /// Pieces left on the roll (`None`: plenty).
    paper_for: Option<usize>,
    printed: Vec<PrintDoc>,
    /// Jobs that could not be read as ESC/POS, and why.
    garbled: Vec<String>,
}

/// A running loopback printer.
pub struct LoopbackPrinter {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl LoopbackPrinter {
    /// Listens on `127.0.0.1`, a free port.
    pub fn start() -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            status: PrinterStatus {
                online: true,
                ..PrinterStatus::default()
            },
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::Builder::new()
            .name("loopback-printer".into())
            .spawn(move || {
                while !st.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let s = s.clone();
                            let _ = std::thread::Builder::new()
                                .name("loopback-printer-job".into())
                                .spawn(move || serve(conn, &s));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            })?;
        Ok(Self { addr, state, stop })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pieces printed so far (tickets, receipts), in order.
    pub fn printed(&self) -> Vec<PrintDoc> {
        self.lock().printed.clone()
    }

    /// Jobs the printer could not read.
    pub fn garbled(&self) -> Vec<String> {
        self.lock().garbled.clone()
    }

    /// The paper runs out after `pieces` more pieces.
    pub fn paper_for(&self, pieces: usize) {
        let mut s = self.lock();
        s.paper_for = Some(pieces);
        s.status.paper_out = pieces == 0;
    }

    /// A new roll.
    pub fn refill(&self) {
        let mut s = self.lock();
        s.paper_for = None;
        s.status.paper_out = false;
        s.status.paper_near_end = false;
    }

    pub fn set_status(&self, f: impl FnOnce(&mut PrinterStatus)) {
        f(&mut self.lock().status);
    }
}

impl Drop for LoopbackPrinter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Reads one connection: prints what comes before each status request, answers it, and prints
/// the rest when the kiosk closes the connection.
fn serve(mut conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf: Vec<u8> = Vec::new();
    let mut done = 0;
    let mut chunk = [0u8; 4096];
    loop {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => 0,
            Ok(n) => n,
        };
        if n == 0 {
            handle(&mut conn, &buf[done..], state);
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        // Everything up to the last complete status request is whole.
        let upto = buf[done..]
            .windows(3)
            .rposition(|w| w[0] == 0x10 && w[1] == 0x04)
            .map(|i| done + i + 3);
        if let Some(end) = upto {
            handle(&mut conn, &buf[done..end], state);
            done = end;
        }
    }
}

fn handle(conn: &mut TcpStream, bytes: &[u8], state: &Mutex<State>) {
    if bytes.is_empty() {
        return;
    }
    let items = match decode(bytes) {
        Ok((items, _)) => items,
        Err(e) => {
            state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .garbled
                .push(e.to_string());
            return;
        }
    };
    for item in items {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        match item {
            Decoded::Doc(doc) => {
                for piece in doc.pieces() {
                    if !s.status.online || s.status.cover_open || s.status.paper_out {
                        continue;
                    }
                    s.printed.push(piece);
                    if let Some(left) = s.paper_for {
                        let left = left.saturating_sub(1);
                        s.paper_for = Some(left);
                        s.status.paper_near_end = left <= 2;
                        s.status.paper_out = left == 0;
                    }
                }
            }
            Decoded::StatusRequest(n) => {
                let bytes = s.status.to_bytes();
                let answer = match n {
                    1 => bytes[0],
                    2 => bytes[1],
                    _ => bytes[2],
                };
                drop(s);
                let _ = conn.write_all(&[answer]);
            }
        }
    }
}
