//! Key-event decoder: turns timestamped Linux `input_event` records into frames of text.
//!
//! Pure. Events come from the evdev reader, or from recordings in the kernel's own 24-byte
//! `struct input_event` format (see [`RawInputEvent::parse_records`]). Characters go through
//! the same [`SerialFramer`] rules as serial bytes: Enter, keypad Enter and Tab produce CR and
//! TAB, which end a code under the default [`Terminator::Any`](super::framer::Terminator::Any);
//! the idle gap is driven by [`KeyDecoder::poll`].
//!
//! Modifiers: Shift, CapsLock (inverts Shift on letter keys only), AltGr (right Alt), Ctrl.
//! Ctrl+letter gives the control character (Ctrl+D = EOT); Ctrl with the keys at the US
//! positions of `[ \ ] ^ _` gives ESC, FS, GS (29, the GS1 separator), RS and US on every
//! layout, as scanners send them. Left Alt held while typing keypad digits enters a character
//! by its decimal code on release (Alt+0029 = GS). Keypad keys type digits and operators
//! whatever the NumLock state. Key repeats are ignored; SYN_DROPPED drops the code in progress.

use std::time::Duration;

use super::framer::{DropReason, FramerOutput, FramingConfig, SerialFramer};
use super::keymap::{Keymap, Layout, code::*, compose, keypad_char};

/// Size of one `struct input_event` on 64-bit Linux.
pub const INPUT_EVENT_SIZE: usize = 24;

pub const EV_SYN: u16 = 0x00;
pub const EV_KEY: u16 = 0x01;
pub const SYN_REPORT: u16 = 0;
pub const SYN_DROPPED: u16 = 3;

/// One input event as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawInputEvent {
    /// Event time (seconds and microseconds of the kernel timestamp).
    pub time: Duration,
    pub kind: u16,
    pub code: u16,
    pub value: i32,
}

impl RawInputEvent {
    pub fn new(time: Duration, kind: u16, code: u16, value: i32) -> Self {
        Self {
            time,
            kind,
            code,
            value,
        }
    }

    /// Decodes one native-endian `struct input_event` (i64 sec, i64 usec, u16 type, u16 code,
    /// i32 value). Negative or out-of-range times clamp to zero microseconds.
    pub fn from_bytes(b: &[u8; INPUT_EVENT_SIZE]) -> Self {
        let mut i8b = [0u8; 8];
        i8b.copy_from_slice(&b[0..8]);
        let sec = i64::from_ne_bytes(i8b);
        i8b.copy_from_slice(&b[8..16]);
        let usec = i64::from_ne_bytes(i8b);
        let kind = u16::from_ne_bytes([b[16], b[17]]);
        let code = u16::from_ne_bytes([b[18], b[19]]);
        let value = i32::from_ne_bytes([b[20], b[21], b[22], b[23]]);
        let secs = u64::try_from(sec).unwrap_or(0);
        let micros = u32::try_from(usec.clamp(0, 999_999)).unwrap_or(0);
        Self {
            time: Duration::new(secs, micros * 1000),
            kind,
            code,
            value,
        }
    }

    /// Encodes this event as a native-endian `struct input_event`.
    pub fn to_bytes(&self) -> [u8; INPUT_EVENT_SIZE] {
        let mut b = [0u8; INPUT_EVENT_SIZE];
        let sec = i64::try_from(self.time.as_secs()).unwrap_or(i64::MAX);
        b[0..8].copy_from_slice(&sec.to_ne_bytes());
        b[8..16].copy_from_slice(&i64::from(self.time.subsec_micros()).to_ne_bytes());
        b[16..18].copy_from_slice(&self.kind.to_ne_bytes());
        b[18..20].copy_from_slice(&self.code.to_ne_bytes());
        b[20..24].copy_from_slice(&self.value.to_ne_bytes());
        b
    }

    /// Decodes a recording of consecutive records. A trailing partial record is ignored.
    pub fn parse_records(bytes: &[u8]) -> impl Iterator<Item = RawInputEvent> + '_ {
        bytes.chunks_exact(INPUT_EVENT_SIZE).map(|c| {
            let mut rec = [0u8; INPUT_EVENT_SIZE];
            rec.copy_from_slice(c);
            RawInputEvent::from_bytes(&rec)
        })
    }
}

/// Modifier and lock state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Mods {
    lshift: bool,
    rshift: bool,
    ctrl_l: bool,
    ctrl_r: bool,
    alt: bool,
    altgr: bool,
    caps: bool,
}

impl Mods {
    fn shift(&self) -> bool {
        self.lshift || self.rshift
    }
    fn ctrl(&self) -> bool {
        self.ctrl_l || self.ctrl_r
    }
}

/// Decodes key events for one device.
#[derive(Debug, Clone)]
pub struct KeyDecoder {
    keymap: Keymap,
    framer: SerialFramer,
    mods: Mods,
    /// Digits typed on the keypad while left Alt is held.
    alt_code: Option<u32>,
    dead: Option<char>,
}

impl KeyDecoder {
    pub fn new(layout: Layout, framing: FramingConfig) -> Self {
        Self {
            keymap: Keymap::new(layout),
            framer: SerialFramer::new(framing),
            mods: Mods::default(),
            alt_code: None,
            dead: None,
        }
    }

    pub fn layout(&self) -> Layout {
        self.keymap.layout()
    }

    /// Feeds one event. Completed or dropped frames are appended to `out`.
    pub fn push(&mut self, ev: RawInputEvent, out: &mut Vec<FramerOutput>) {
        let now = ev.time;
        match ev.kind {
            EV_SYN if ev.code == SYN_DROPPED => {
                self.mods = Mods {
                    caps: self.mods.caps,
                    ..Mods::default()
                };
                self.alt_code = None;
                self.dead = None;
                self.framer.abort(DropReason::EventsLost, now, out);
            }
            EV_KEY => self.key(now, ev.code, ev.value, out),
            _ => self.framer.poll(now, out),
        }
    }

    /// Feeds a recording of raw `input_event` records.
    pub fn push_records(&mut self, bytes: &[u8], out: &mut Vec<FramerOutput>) {
        for ev in RawInputEvent::parse_records(bytes) {
            self.push(ev, out);
        }
    }

    /// Ends a code on an idle gap (or drops a stale one) if `now` is late enough.
    pub fn poll(&mut self, now: Duration, out: &mut Vec<FramerOutput>) {
        self.framer.poll(now, out);
    }

    /// Same as [`poll`](Self::poll), returning what it produced.
    pub fn flush_if_idle(&mut self, now: Duration) -> Vec<FramerOutput> {
        self.framer.flush_if_idle(now)
    }

    /// When [`poll`](Self::poll) will next have something to do.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.framer.next_deadline()
    }

    /// Drops a partial code (the device went away).
    pub fn abort(&mut self, now: Duration, out: &mut Vec<FramerOutput>) {
        self.mods = Mods::default();
        self.alt_code = None;
        self.dead = None;
        self.framer.abort(DropReason::Incomplete, now, out);
    }

    fn key(&mut self, now: Duration, code: u16, value: i32, out: &mut Vec<FramerOutput>) {
        let pressed = match value {
            0 => false,
            1 => true,
            _ => return, // auto-repeat
        };
        match code {
            KEY_LEFTSHIFT => self.mods.lshift = pressed,
            KEY_RIGHTSHIFT => self.mods.rshift = pressed,
            KEY_LEFTCTRL => self.mods.ctrl_l = pressed,
            KEY_RIGHTCTRL => self.mods.ctrl_r = pressed,
            KEY_RIGHTALT => self.mods.altgr = pressed,
            KEY_LEFTALT => {
                self.mods.alt = pressed;
                if pressed {
                    self.alt_code = None;
                } else if let Some(v) = self.alt_code.take()
                    && let Some(c) = alt_code_char(v)
                {
                    self.emit(now, c, out);
                }
            }
            KEY_CAPSLOCK if pressed => self.mods.caps = !self.mods.caps,
            _ if pressed => self.press(now, code, out),
            _ => {}
        }
    }

    fn press(&mut self, now: Duration, code: u16, out: &mut Vec<FramerOutput>) {
        let m = self.mods;
        if let Some(c) = keypad_char(code) {
            if m.alt {
                if let Some(d) = c.to_digit(10) {
                    let v = self.alt_code.unwrap_or(0);
                    self.alt_code = Some(v.saturating_mul(10).saturating_add(d).min(0x10_FFFF));
                }
                return;
            }
            self.emit(now, c, out);
            return;
        }
        match code {
            KEY_ENTER | KEY_KPENTER => return self.emit_raw(now, '\r', out),
            KEY_TAB => return self.emit_raw(now, '\t', out),
            _ => {}
        }
        if m.ctrl() && !m.altgr {
            if let Some(c) = self.control_char(code) {
                self.emit_raw(now, c, out);
            }
            return;
        }
        let Some(k) = self.keymap.key(code).copied() else {
            self.framer.poll(now, out);
            return;
        };
        let caps_applies = m.caps && k.base.is_alphabetic() && k.base.to_uppercase().eq([k.shift]);
        let shift = m.shift() != caps_applies;
        let (c, dead_bit) = if m.altgr && k.altgr != '\0' {
            (k.altgr, 0b100)
        } else if shift {
            (k.shift, 0b010)
        } else {
            (k.base, 0b001)
        };
        if c == '\0' {
            return;
        }
        if k.dead & dead_bit != 0 {
            if let Some(prev) = self.dead.take() {
                // Two dead keys: the first is typed as itself.
                self.emit_raw(now, prev, out);
            }
            self.dead = Some(c);
            return;
        }
        self.emit(now, c, out);
    }

    /// The control character for Ctrl + key.
    fn control_char(&self, code: u16) -> Option<char> {
        let shift = self.mods.shift();
        match code {
            KEY_LEFTBRACE => Some('\u{1b}'),
            KEY_BACKSLASH => Some('\u{1c}'),
            KEY_RIGHTBRACE => Some('\u{1d}'),
            KEY_6 if shift => Some('\u{1e}'),
            KEY_MINUS if shift => Some('\u{1f}'),
            _ => {
                let k = self.keymap.key(code)?;
                let c = k.base;
                c.is_ascii_lowercase()
                    .then(|| char::from(c as u8 - b'a' + 1))
            }
        }
    }

    /// Emits a character, composing it with a pending dead key.
    fn emit(&mut self, now: Duration, c: char, out: &mut Vec<FramerOutput>) {
        if let Some(d) = self.dead.take() {
            if c == ' ' {
                return self.emit_raw(now, d, out);
            }
            if let Some(composed) = compose(d, c) {
                return self.emit_raw(now, composed, out);
            }
            self.emit_raw(now, d, out);
        }
        self.emit_raw(now, c, out);
    }

    fn emit_raw(&mut self, now: Duration, c: char, out: &mut Vec<FramerOutput>) {
        let mut buf = [0u8; 4];
        self.framer
            .push(now, c.encode_utf8(&mut buf).as_bytes(), out);
    }
}

/// The character for an Alt+keypad decimal code: 0–255 as Latin-1, above as Unicode.
fn alt_code_char(v: u32) -> Option<char> {
    char::from_u32(v)
}

/// Synthesises the key events a scanner set to `layout` sends for `text`, one press and
/// release per character with a SYN_REPORT after each, `step` apart, starting at `start`.
/// Characters the layout cannot type are skipped. CR, LF and TAB become Enter and Tab; GS
/// becomes Ctrl+]. Used by benchmarks and round-trip tests.
pub fn synthesize(
    layout: Layout,
    text: &str,
    start: Duration,
    step: Duration,
) -> Vec<RawInputEvent> {
    let keymap = Keymap::new(layout);
    let mut evs = Vec::with_capacity(text.len() * 8);
    let mut t = start;
    let key = |evs: &mut Vec<RawInputEvent>, t: Duration, code: u16, v: i32| {
        evs.push(RawInputEvent::new(t, EV_KEY, code, v));
        evs.push(RawInputEvent::new(t, EV_SYN, SYN_REPORT, 0));
    };
    for c in text.chars() {
        let (code, shift, altgr, ctrl) = match c {
            '\r' | '\n' => (KEY_ENTER, false, false, false),
            '\t' => (KEY_TAB, false, false, false),
            '\u{1d}' => (KEY_RIGHTBRACE, false, false, true),
            _ => match keymap.strokes_for(c) {
                Some((code, shift, altgr)) => (code, shift, altgr, false),
                None => continue,
            },
        };
        for (held, m) in [
            (ctrl, KEY_LEFTCTRL),
            (shift, KEY_LEFTSHIFT),
            (altgr, KEY_RIGHTALT),
        ] {
            if held {
                key(&mut evs, t, m, 1);
            }
        }
        key(&mut evs, t, code, 1);
        key(&mut evs, t, code, 0);
        for (held, m) in [
            (altgr, KEY_RIGHTALT),
            (shift, KEY_LEFTSHIFT),
            (ctrl, KEY_LEFTCTRL),
        ] {
            if held {
                key(&mut evs, t, m, 0);
            }
        }
        t += step;
    }
    evs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::framer::Frame;

    fn decode(layout: Layout, evs: &[RawInputEvent]) -> Vec<String> {
        let mut d = KeyDecoder::new(
            layout,
            FramingConfig {
                terminator: super::super::framer::Terminator::Any,
                ..FramingConfig::default()
            },
        );
        let mut out = Vec::new();
        for e in evs {
            d.push(*e, &mut out);
        }
        out.into_iter()
            .filter_map(|o| match o {
                FramerOutput::Frame(Frame { bytes, .. }) => String::from_utf8(bytes).ok(),
                FramerOutput::Dropped(_) => None,
            })
            .collect()
    }

    #[test]
    fn record_round_trip() {
        let e = RawInputEvent::new(Duration::new(1_700_000_000, 123_000), EV_KEY, 30, 1);
        assert_eq!(RawInputEvent::from_bytes(&e.to_bytes()), e);
    }

    #[test]
    fn synthesized_text_round_trips_on_every_layout() {
        let text = "HA112 test-9/x@\u{1d}01\r";
        for layout in Layout::ALL {
            let evs = synthesize(layout, text, Duration::ZERO, Duration::from_millis(1));
            assert_eq!(
                decode(layout, &evs),
                vec!["HA112 test-9/x@\u{1d}01"],
                "{layout:?}"
            );
        }
    }
}
