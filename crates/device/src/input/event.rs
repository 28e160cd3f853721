//! What reader threads report, how they report it, and how they are stopped.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::credential::Credential;
use super::framer::{DropReason, FrameEnd};

/// The state of a reader's device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    /// Open and being read. `grabbed` tells whether the input reaches this reader only: an
    /// evdev device held with `EVIOCGRAB`; always `true` for serial ports, which are opened
    /// exclusively.
    Connected {
        device: String,
        grabbed: bool,
        /// A non-fatal problem while opening (e.g. the grab failed).
        warning: Option<String>,
    },
    /// Not open; the reader retries with backoff.
    Disconnected { error: String },
    /// The reader thread has ended.
    Stopped,
}

impl std::fmt::Display for DeviceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connected {
                device,
                grabbed,
                warning,
            } => {
                write!(f, "connected {device}")?;
                f.write_str(if *grabbed {
                    " (exclusive)"
                } else {
                    " (not grabbed: input also reaches other programs)"
                })?;
                if let Some(w) = warning {
                    write!(f, "; warning: {w}")?;
                }
                Ok(())
            }
            Self::Disconnected { error } => write!(f, "disconnected: {error}"),
            Self::Stopped => f.write_str("stopped"),
        }
    }
}

/// A frame that became a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub credential: Credential,
    /// When the reader finished the frame.
    pub at: Instant,
    /// Time from the frame's first byte (or key) to its last.
    pub span: Duration,
    pub ended_by: FrameEnd,
}

/// An event from a reader thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputEvent {
    State {
        reader: String,
        state: DeviceState,
        at: Instant,
    },
    /// A new scan: act on it.
    Scan(Box<Scan>),
    /// A repeat of a scan within the double-scan window: shown in diagnostics, not acted on.
    Repeat(Box<Scan>),
    /// A frame that was dropped before parsing.
    Dropped {
        reader: String,
        reason: DropReason,
        len: usize,
        at: Instant,
    },
}

impl InputEvent {
    pub fn reader(&self) -> &str {
        match self {
            Self::State { reader, .. } | Self::Dropped { reader, .. } => reader,
            Self::Scan(s) | Self::Repeat(s) => &s.credential.reader,
        }
    }
}

/// Where reader threads send events. Implemented for std and tokio channel senders; sending
/// fails only when the receiving side is gone, which stops the reader.
pub trait EventSink: Send + 'static {
    fn send_event(&self, ev: InputEvent) -> Result<(), Disconnected>;
}

/// The receiving side of an [`EventSink`] has gone away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

impl EventSink for std::sync::mpsc::Sender<InputEvent> {
    fn send_event(&self, ev: InputEvent) -> Result<(), Disconnected> {
        self.send(ev).map_err(|_| Disconnected)
    }
}

impl EventSink for std::sync::mpsc::SyncSender<InputEvent> {
    fn send_event(&self, ev: InputEvent) -> Result<(), Disconnected> {
        self.send(ev).map_err(|_| Disconnected)
    }
}

impl EventSink for tokio::sync::mpsc::UnboundedSender<InputEvent> {
    fn send_event(&self, ev: InputEvent) -> Result<(), Disconnected> {
        self.send(ev).map_err(|_| Disconnected)
    }
}

/// Blocks the reader thread while the channel is full. Call only from reader threads (plain
/// threads, never inside the async runtime).
impl EventSink for tokio::sync::mpsc::Sender<InputEvent> {
    fn send_event(&self, ev: InputEvent) -> Result<(), Disconnected> {
        self.blocking_send(ev).map_err(|_| Disconnected)
    }
}

/// A stop request shared between the owner and reader threads. Waiting on it sleeps (no
/// polling) and wakes at once when stop is requested.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<(Mutex<bool>, Condvar)>);

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stop(&self) {
        let (lock, cv) = &*self.0;
        let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
        *stopped = true;
        cv.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        let (lock, _) = &*self.0;
        *lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps up to `timeout`; returns `true` if stop was requested.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let (lock, cv) = &*self.0;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cv
            .wait_timeout_while(guard, timeout, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// Exponential reconnect backoff: `initial`, doubling up to `max`, reset on success.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay before the next attempt; doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_max_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let ds: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(ds, vec![100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }

    fn state(n: u8) -> InputEvent {
        InputEvent::State {
            reader: format!("r{n}"),
            state: DeviceState::Stopped,
            at: Instant::now(),
        }
    }

    #[test]
    fn channel_senders_are_sinks() {
        let (tx, rx) = std::sync::mpsc::channel();
        assert!(tx.send_event(state(1)).is_ok());
        assert_eq!(
            rx.recv().map(|e| e.reader().to_owned()),
            Ok("r1".to_owned())
        );
        drop(rx);
        assert_eq!(tx.send_event(state(2)), Err(Disconnected));

        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let t = std::thread::spawn(move || {
            let a = tx.send_event(state(3));
            let b = tx.send_event(state(4));
            (a, b)
        });
        let first = rx.blocking_recv().map(|e| e.reader().to_owned());
        let second = rx.blocking_recv().map(|e| e.reader().to_owned());
        assert_eq!(
            (first.as_deref(), second.as_deref()),
            (Some("r3"), Some("r4"))
        );
        assert_eq!(t.join().ok(), Some((Ok(()), Ok(()))));

        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        drop(rx);
        assert_eq!(tx.send_event(state(5)), Err(Disconnected));
    }

    #[test]
    fn stop_wakes_a_waiter() {
        let s = StopSignal::new();
        let s2 = s.clone();
        let t = std::thread::spawn(move || s2.wait_timeout(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        let start = Instant::now();
        s.stop();
        assert!(t.join().unwrap_or(false));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
