//! Serial framer: turns a timestamped byte stream into frames.
//!
//! Pure: the caller passes the time of each chunk (any monotonic clock, as a [`Duration`] since
//! an arbitrary origin) and drives idle-gap ends with [`SerialFramer::poll`]. The same framer
//! ends the codes that the keyboard decoder produces, so both kinds of reader share one set of
//! framing rules.
//!
//! Rules, in order of application:
//! - NUL, XON and XOFF bytes are line noise and are discarded wherever they occur.
//! - With `stx_etx`, only bytes between STX (0x02) and ETX (0x03) form a frame; anything
//!   outside is discarded. A new STX before ETX drops the partial frame.
//! - Otherwise the configured [`Terminator`] ends a frame, and/or an idle gap of at least
//!   `idle_gap` after the last byte does.
//! - Without an idle gap, a partial frame followed by [`INCOMPLETE_TIMEOUT`] of silence is
//!   dropped (noise on the line must not prefix the next scan).
//! - CR and LF at either end of a frame are trimmed; an empty frame is ignored.
//! - A frame longer than `max_frame_len` bytes is dropped whole with
//!   [`DropReason::Overlong`]; memory stays bounded while the rest of it is discarded.
//! - The configured prefix and suffix are removed when present.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Silence after which a partial frame without an idle-gap rule is dropped.
pub const INCOMPLETE_TIMEOUT: Duration = Duration::from_secs(1);

const STX: u8 = 0x02;
const ETX: u8 = 0x03;
const EOT: u8 = 0x04;
const TAB: u8 = 0x09;
const LF: u8 = 0x0A;
const CR: u8 = 0x0D;

/// The byte (or bytes) that end a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Terminator {
    /// Carriage return; a following LF is ignored.
    Cr,
    /// Line feed; a CR before it is trimmed.
    Lf,
    /// CR LF (ends on the LF; the CR is trimmed).
    Crlf,
    /// Horizontal tab.
    Tab,
    /// End of transmission (0x04).
    Eot,
    /// CR, LF or TAB: the keyboard default, where Enter and Tab both end a code.
    Any,
    /// No terminator: only the idle gap (or ETX) ends a frame.
    None,
}

impl Terminator {
    fn ends_with(self, b: u8) -> bool {
        match self {
            Self::Cr => b == CR,
            Self::Lf | Self::Crlf => b == LF,
            Self::Tab => b == TAB,
            Self::Eot => b == EOT,
            Self::Any => matches!(b, CR | LF | TAB),
            Self::None => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cr => "cr",
            Self::Lf => "lf",
            Self::Crlf => "crlf",
            Self::Tab => "tab",
            Self::Eot => "eot",
            Self::Any => "any",
            Self::None => "none",
        }
    }
}

/// How a byte or character stream is cut into frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingConfig {
    pub terminator: Terminator,
    /// Silence after the last byte that ends a frame (scanners with no suffix).
    pub idle_gap: Option<Duration>,
    /// Frames are wrapped in STX … ETX.
    pub stx_etx: bool,
    /// Removed from the start of a frame when present.
    pub strip_prefix: Vec<u8>,
    /// Removed from the end of a frame when present.
    pub strip_suffix: Vec<u8>,
    /// Longest accepted frame, in bytes, before stripping.
    pub max_frame_len: usize,
}

impl Default for FramingConfig {
    fn default() -> Self {
        Self {
            terminator: Terminator::Cr,
            idle_gap: None,
            stx_etx: false,
            strip_prefix: Vec::new(),
            strip_suffix: Vec::new(),
            max_frame_len: 512,
        }
    }
}

/// What ended a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameEnd {
    Terminator,
    Etx,
    IdleGap,
}

impl FrameEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Terminator => "terminator",
            Self::Etx => "etx",
            Self::IdleGap => "idle gap",
        }
    }
}

/// One complete frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Vec<u8>,
    /// Time of the first byte of the frame.
    pub first_at: Duration,
    /// Time of the last byte of the frame (before the terminator, if any arrived later).
    pub last_at: Duration,
    pub ended_by: FrameEnd,
}

/// Why a frame was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DropReason {
    /// Longer than the maximum frame length.
    Overlong { max: usize },
    /// A partial frame that never ended (silence, a new STX, or the device went away).
    Incomplete,
    /// The kernel reported lost input events (SYN_DROPPED) mid-code.
    EventsLost,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Overlong { max } => write!(f, "frame longer than the maximum of {max} bytes"),
            Self::Incomplete => f.write_str("incomplete frame (no end seen)"),
            Self::EventsLost => f.write_str("input events were lost mid-code"),
        }
    }
}

/// A dropped frame: the reason, how many bytes it had, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub reason: DropReason,
    pub len: usize,
    pub at: Duration,
}

/// Output of a framer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramerOutput {
    Frame(Frame),
    Dropped(Dropped),
}

/// Serial framer state. See the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct SerialFramer {
    cfg: FramingConfig,
    buf: Vec<u8>,
    /// Bytes counted in the current frame, including discarded overflow.
    seen: usize,
    first_at: Duration,
    last_at: Duration,
    in_stx: bool,
    /// Ignore one LF right after a CR-terminated frame.
    skip_lf: bool,
}

impl SerialFramer {
    pub fn new(cfg: FramingConfig) -> Self {
        let cap = cfg.max_frame_len.min(1024);
        Self {
            cfg,
            buf: Vec::with_capacity(cap),
            seen: 0,
            first_at: Duration::ZERO,
            last_at: Duration::ZERO,
            in_stx: false,
            skip_lf: false,
        }
    }

    pub fn config(&self) -> &FramingConfig {
        &self.cfg
    }

    /// Whether a partial frame is buffered.
    pub fn is_idle(&self) -> bool {
        self.seen == 0 && !self.in_stx
    }

    /// Feeds bytes received at `now`. Completed or dropped frames are appended to `out`.
    pub fn push(&mut self, now: Duration, bytes: &[u8], out: &mut Vec<FramerOutput>) {
        self.poll(now, out);
        for &b in bytes {
            self.push_byte(now, b, out);
        }
    }

    fn push_byte(&mut self, now: Duration, b: u8, out: &mut Vec<FramerOutput>) {
        if matches!(b, 0x00 | 0x11 | 0x13) {
            return;
        }
        let skip_lf = std::mem::take(&mut self.skip_lf);
        if self.cfg.stx_etx {
            match b {
                STX => {
                    if self.in_stx && self.seen > 0 {
                        self.drop_partial(DropReason::Incomplete, now, out);
                    }
                    self.reset();
                    self.in_stx = true;
                    self.first_at = now;
                    self.last_at = now;
                }
                ETX if self.in_stx => {
                    self.last_at = now;
                    self.finish(FrameEnd::Etx, out);
                }
                _ if self.in_stx => self.append(now, b),
                _ => {}
            }
            return;
        }
        if self.cfg.terminator.ends_with(b) {
            if self.seen > 0 {
                self.finish(FrameEnd::Terminator, out);
            }
            self.skip_lf = b == CR;
            return;
        }
        if b == LF && skip_lf {
            return;
        }
        self.append(now, b);
    }

    fn append(&mut self, now: Duration, b: u8) {
        if self.seen == 0 {
            self.first_at = now;
        }
        // A clock that steps back (wall-clock event times) never makes a frame end before it
        // starts.
        self.last_at = now.max(self.first_at);
        self.seen = self.seen.saturating_add(1);
        if self.buf.len() < self.cfg.max_frame_len {
            self.buf.push(b);
        }
    }

    /// Ends a frame on an idle gap, or drops a stale partial one, if `now` is late enough.
    pub fn poll(&mut self, now: Duration, out: &mut Vec<FramerOutput>) {
        if self.is_idle() {
            return;
        }
        let silent = now.saturating_sub(self.last_at);
        match self.cfg.idle_gap {
            Some(gap) if silent >= gap && !self.in_stx => self.finish(FrameEnd::IdleGap, out),
            Some(gap) if silent >= gap.max(INCOMPLETE_TIMEOUT) => {
                self.drop_partial(DropReason::Incomplete, now, out)
            }
            None if silent >= INCOMPLETE_TIMEOUT => {
                self.drop_partial(DropReason::Incomplete, now, out)
            }
            _ => {}
        }
    }

    /// Same as [`poll`](Self::poll), returning what it produced.
    pub fn flush_if_idle(&mut self, now: Duration) -> Vec<FramerOutput> {
        let mut out = Vec::new();
        self.poll(now, &mut out);
        out
    }

    /// The time at which [`poll`](Self::poll) will next have something to do.
    pub fn next_deadline(&self) -> Option<Duration> {
        if self.is_idle() {
            return None;
        }
        let wait = match self.cfg.idle_gap {
            Some(gap) if !self.in_stx => gap,
            Some(gap) => gap.max(INCOMPLETE_TIMEOUT),
            None => INCOMPLETE_TIMEOUT,
        };
        Some(self.last_at + wait)
    }

    /// Drops whatever partial frame is buffered (the device went away, events were lost).
    pub fn abort(&mut self, reason: DropReason, now: Duration, out: &mut Vec<FramerOutput>) {
        if self.seen > 0 {
            self.drop_partial(reason, now, out);
        }
        self.reset();
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.seen = 0;
        self.in_stx = false;
    }

    fn drop_partial(&mut self, reason: DropReason, now: Duration, out: &mut Vec<FramerOutput>) {
        out.push(FramerOutput::Dropped(Dropped {
            reason,
            len: self.seen,
            at: now,
        }));
        self.reset();
    }

    fn finish(&mut self, ended_by: FrameEnd, out: &mut Vec<FramerOutput>) {
        if self.seen > self.cfg.max_frame_len {
            let max = self.cfg.max_frame_len;
            let at = self.last_at;
            self.drop_partial(DropReason::Overlong { max }, at, out);
            return;
        }
        let mut bytes = std::mem::take(&mut self.buf);
        let first_at = self.first_at;
        let last_at = self.last_at;
        self.buf = Vec::with_capacity(bytes.len().max(16));
        self.reset();
        trim_frame(&mut bytes, &self.cfg.strip_prefix, &self.cfg.strip_suffix);
        if bytes.is_empty() {
            return;
        }
        out.push(FramerOutput::Frame(Frame {
            bytes,
            first_at,
            last_at,
            ended_by,
        }));
    }
}

/// Trims CR/LF at both ends, then the configured prefix and suffix.
fn trim_frame(bytes: &mut Vec<u8>, prefix: &[u8], suffix: &[u8]) {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(*b, CR | LF))
        .map_or(0, |i| i + 1);
    bytes.truncate(end);
    let start = bytes
        .iter()
        .position(|b| !matches!(*b, CR | LF))
        .unwrap_or(bytes.len());
    let mut start = start;
    if !prefix.is_empty() && bytes[start..].starts_with(prefix) {
        start += prefix.len();
    }
    if !suffix.is_empty() && bytes[start..].ends_with(suffix) {
        bytes.truncate(bytes.len() - suffix.len());
    }
    if start > 0 {
        bytes.drain(..start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn frames(out: &[FramerOutput]) -> Vec<Vec<u8>> {
        out.iter()
            .filter_map(|o| match o {
                FramerOutput::Frame(f) => Some(f.bytes.clone()),
                FramerOutput::Dropped(_) => None,
            })
            .collect()
    }

    #[test]
    fn cr_terminated_with_trailing_lf() {
        let mut f = SerialFramer::new(FramingConfig::default());
        let mut out = Vec::new();
        f.push(ms(0), b"ABC\r\nDEF\r\n", &mut out);
        assert_eq!(frames(&out), vec![b"ABC".to_vec(), b"DEF".to_vec()]);
    }

    #[test]
    fn prefix_and_suffix_are_stripped_when_present() {
        let cfg = FramingConfig {
            strip_prefix: b"]Q1".to_vec(),
            strip_suffix: b"#".to_vec(),
            ..FramingConfig::default()
        };
        let mut f = SerialFramer::new(cfg);
        let mut out = Vec::new();
        f.push(ms(0), b"]Q1HELLO#\rWORLD\r", &mut out);
        assert_eq!(frames(&out), vec![b"HELLO".to_vec(), b"WORLD".to_vec()]);
    }

    #[test]
    fn idle_gap_ends_frame_only_when_late_enough() {
        let cfg = FramingConfig {
            terminator: Terminator::None,
            idle_gap: Some(ms(50)),
            ..FramingConfig::default()
        };
        let mut f = SerialFramer::new(cfg);
        let mut out = Vec::new();
        f.push(ms(0), b"12", &mut out);
        f.push(ms(30), b"34", &mut out);
        assert_eq!(f.next_deadline(), Some(ms(80)));
        assert!(f.flush_if_idle(ms(79)).is_empty());
        let done = f.flush_if_idle(ms(80));
        assert_eq!(frames(&done), vec![b"1234".to_vec()]);
        assert_eq!(f.next_deadline(), None);
    }

    #[test]
    fn overlong_frame_is_dropped_and_next_frame_survives() {
        let cfg = FramingConfig {
            max_frame_len: 4,
            ..FramingConfig::default()
        };
        let mut f = SerialFramer::new(cfg);
        let mut out = Vec::new();
        f.push(ms(0), b"123456789\rOK\r", &mut out);
        assert_eq!(
            out[0],
            FramerOutput::Dropped(Dropped {
                reason: DropReason::Overlong { max: 4 },
                len: 9,
                at: ms(0)
            })
        );
        assert_eq!(frames(&out), vec![b"OK".to_vec()]);
    }

    #[test]
    fn stx_etx_discards_bytes_outside_frames() {
        let cfg = FramingConfig {
            stx_etx: true,
            terminator: Terminator::None,
            ..FramingConfig::default()
        };
        let mut f = SerialFramer::new(cfg);
        let mut out = Vec::new();
        f.push(
            ms(0),
            b"xx\x02AB\rC\x03\r\nyy\x02PART\x02NEXT\x03",
            &mut out,
        );
        assert_eq!(frames(&out), vec![b"AB\rC".to_vec(), b"NEXT".to_vec()]);
        assert!(out.contains(&FramerOutput::Dropped(Dropped {
            reason: DropReason::Incomplete,
            len: 4,
            at: ms(0)
        })));
    }

    #[test]
    fn clock_stepping_back_keeps_frame_times_ordered() {
        let mut f = SerialFramer::new(FramingConfig::default());
        let mut out = Vec::new();
        f.push(ms(500), b"AB", &mut out);
        f.push(ms(100), b"C\r", &mut out);
        match out.as_slice() {
            [FramerOutput::Frame(fr)] => {
                assert_eq!(fr.bytes, b"ABC");
                assert!(fr.first_at <= fr.last_at);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stale_partial_is_dropped_without_idle_gap() {
        let mut f = SerialFramer::new(FramingConfig::default());
        let mut out = Vec::new();
        f.push(ms(0), b"\xff\xfe", &mut out);
        f.push(ms(1500), b"GOOD\r", &mut out);
        assert!(matches!(
            out[0],
            FramerOutput::Dropped(Dropped {
                reason: DropReason::Incomplete,
                len: 2,
                ..
            })
        ));
        assert_eq!(frames(&out), vec![b"GOOD".to_vec()]);
    }
}
