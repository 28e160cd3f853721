//! Double-scan suppression: the same code from the same reader within the window counts once.
//!
//! Pure: time is an input. The window slides: each repeat restarts it, so a card held on a
//! reader that re-reads it every few hundred milliseconds counts once until it is taken away
//! for longer than the window. A different code, or the same code on another reader, always
//! counts. A window of zero disables suppression.

use std::collections::HashMap;
use std::time::Duration;

/// Default suppression window.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(1500);

/// Entries kept before stale ones are pruned.
const PRUNE_AT: usize = 256;

#[derive(Debug, Clone)]
pub struct Deduper {
    window: Duration,
    /// reader → code → time last seen.
    seen: HashMap<String, HashMap<Vec<u8>, Duration>>,
    entries: usize,
}

impl Deduper {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            seen: HashMap::new(),
            entries: 0,
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Records a scan of `code` on `reader` at `now`; returns whether it counts (`false` for a
    /// repeat within the window).
    pub fn admit(&mut self, reader: &str, code: &[u8], now: Duration) -> bool {
        if self.window.is_zero() {
            return true;
        }
        if self.entries >= PRUNE_AT {
            self.prune(now);
        }
        let window = self.window;
        let per_reader = match self.seen.get_mut(reader) {
            Some(m) => m,
            None => self.seen.entry(reader.to_owned()).or_default(),
        };
        match per_reader.get_mut(code) {
            Some(last) => {
                let repeat = now >= *last && now - *last < window;
                *last = now;
                !repeat
            }
            None => {
                per_reader.insert(code.to_vec(), now);
                self.entries += 1;
                true
            }
        }
    }

    /// Forgets entries older than the window.
    pub fn prune(&mut self, now: Duration) {
        let window = self.window;
        let mut entries = 0;
        self.seen.retain(|_, codes| {
            codes.retain(|_, last| now < *last || now - *last < window);
            entries += codes.len();
            !codes.is_empty()
        });
        self.entries = entries;
    }

    /// Number of remembered (reader, code) pairs.
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
}

impl Default for Deduper {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW)
    }
}
