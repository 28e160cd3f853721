//! Shared test support for the input-layer integration tests: recorded key streams,
//! pseudo-terminal "scanners" behind a stable symlink, and event waiting.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use portico::input::InputEvent;
use portico::input::keydecoder::{EV_KEY, EV_SYN, RawInputEvent, SYN_REPORT};
use serialport::{SerialPort, TTYPort};

/// Builds a recorded key stream in the kernel's 24-byte `input_event` format, the way a
/// scanner's events appear on its event node (each key change followed by SYN_REPORT).
pub struct Recording {
    t: Duration,
    step: Duration,
    pub bytes: Vec<u8>,
}

impl Recording {
    pub fn new() -> Self {
        Self {
            t: Duration::new(1_763_800_000, 0),
            step: Duration::from_millis(2),
            bytes: Vec::new(),
        }
    }

    fn ev(&mut self, kind: u16, code: u16, value: i32) {
        self.bytes
            .extend_from_slice(&RawInputEvent::new(self.t, kind, code, value).to_bytes());
    }

    /// Key down (1), up (0) or repeat (2), then SYN_REPORT; advances time.
    pub fn key(&mut self, code: u16, value: i32) -> &mut Self {
        self.ev(EV_KEY, code, value);
        self.ev(EV_SYN, SYN_REPORT, 0);
        self.t += self.step;
        self
    }

    /// Press and release.
    pub fn tap(&mut self, code: u16) -> &mut Self {
        self.key(code, 1).key(code, 0)
    }

    /// Tap while holding modifiers.
    pub fn chord(&mut self, mods: &[u16], code: u16) -> &mut Self {
        for m in mods {
            self.key(*m, 1);
        }
        self.tap(code);
        for m in mods.iter().rev() {
            self.key(*m, 0);
        }
        self
    }

    /// A raw event (e.g. MSC_SCAN, SYN_DROPPED).
    pub fn raw(&mut self, kind: u16, code: u16, value: i32) -> &mut Self {
        self.ev(kind, code, value);
        self
    }

    pub fn pause(&mut self, d: Duration) -> &mut Self {
        self.t += d;
        self
    }

    pub fn time(&self) -> Duration {
        self.t
    }
}

/// A pseudo-terminal standing in for a serial scanner, reachable through a symlink (as
/// `/dev/serial/by-id/…` is) that can be re-pointed to simulate unplug and replug.
pub struct PtyScanner {
    pub master: Option<TTYPort>,
    pub link: PathBuf,
    _dir: tempfile::TempDir,
}

impl PtyScanner {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("usb-Acme_Scanner_1234-if00");
        let mut s = Self {
            master: None,
            link,
            _dir: dir,
        };
        s.plug();
        s
    }

    /// Creates a new pty and points the link at its slave.
    pub fn plug(&mut self) {
        let (master, slave) = TTYPort::pair().expect("pty pair");
        let path = slave.name().expect("slave name");
        drop(slave);
        let _ = std::fs::remove_file(&self.link);
        std::os::unix::fs::symlink(&path, &self.link).expect("symlink");
        self.master = Some(master);
    }

    /// Closes the master (the device goes away) and removes the link.
    pub fn unplug(&mut self) {
        self.master = None;
        let _ = std::fs::remove_file(&self.link);
    }

    pub fn write(&mut self, bytes: &[u8]) {
        let m = self.master.as_mut().expect("plugged in");
        m.write_all(bytes).expect("write to pty");
        m.flush().expect("flush pty");
    }

    pub fn path(&self) -> &Path {
        &self.link
    }
}

/// Waits for the first event matching `pred`, returning it; panics with the events seen on
/// timeout.
pub fn wait_for(
    rx: &Receiver<InputEvent>,
    timeout: Duration,
    mut pred: impl FnMut(&InputEvent) -> bool,
) -> InputEvent {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) if pred(&ev) => return ev,
            Ok(ev) => seen.push(ev),
            Err(_) => panic!("timed out; events seen: {seen:#?}"),
        }
    }
}

/// Collects events for `d`.
pub fn collect_for(rx: &Receiver<InputEvent>, d: Duration) -> Vec<InputEvent> {
    let deadline = Instant::now() + d;
    let mut out = Vec::new();
    while let Ok(ev) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        out.push(ev);
    }
    out
}

/// The raw frames of the scans among `events`.
pub fn scan_texts(events: &[InputEvent]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            InputEvent::Scan(s) => Some(s.credential.raw.clone()),
            _ => None,
        })
        .collect()
}

/// A deterministic Ed25519 signing key for tests.
pub fn test_signing_key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}
