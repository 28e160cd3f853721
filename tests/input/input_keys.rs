//! Key-event decoding from recorded `input_event` streams, and the key reader's hotplug
//! handling with a recorded device behind the `KeySource` trait.

use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::input_common::{Recording, wait_for};
use portico::input::config::DeviceSelector;
use portico::input::credential::{CredentialKind, FormatSet};
use portico::input::evdev::{
    DeviceIdentity, KeyInput, KeySource, KeySourceOpener, Opened, selector_matches,
    spawn_key_reader,
};
use portico::input::framer::{DropReason, FrameEnd, FramerOutput, FramingConfig, Terminator};
use portico::input::keydecoder::{EV_SYN, KeyDecoder, RawInputEvent, SYN_DROPPED};
use portico::input::keymap::Layout;
use portico::input::{
    Backoff, CredentialParser, CredentialRules, DeviceState, InputEvent, StopSignal,
};

// Linux key codes, spelled out here independently of the library's table.
const KEY_1: u16 = 2;
const KEY_2: u16 = 3;
const KEY_3: u16 = 4;
const KEY_0: u16 = 11;
const KEY_Q: u16 = 16;
const KEY_W: u16 = 17;
const KEY_E: u16 = 18;
const KEY_Y: u16 = 21;
const KEY_RIGHTBRACE: u16 = 27;
const KEY_ENTER: u16 = 28;
const KEY_LEFTCTRL: u16 = 29;
const KEY_A: u16 = 30;
const KEY_D: u16 = 32;
const KEY_H: u16 = 35;
const KEY_APOSTROPHE: u16 = 40;
const KEY_GRAVE: u16 = 41;
const KEY_LEFTSHIFT: u16 = 42;
const KEY_Z: u16 = 44;
const KEY_TAB: u16 = 15;
const KEY_LEFTALT: u16 = 56;
const KEY_SPACE: u16 = 57;
const KEY_CAPSLOCK: u16 = 58;
const KEY_LEFTBRACE: u16 = 26;
const KEY_KP7: u16 = 71;
const KEY_KP4: u16 = 75;
const KEY_KP1: u16 = 79;
const KEY_KP0: u16 = 82;
const KEY_KP2: u16 = 80;
const KEY_KP9: u16 = 73;
const KEY_KPDOT: u16 = 83;
const KEY_KPMINUS: u16 = 74;
const KEY_KPENTER: u16 = 96;
const KEY_RIGHTALT: u16 = 100;
const SHIFT: &[u16] = &[KEY_LEFTSHIFT];
const ALTGR: &[u16] = &[KEY_RIGHTALT];

fn framing() -> FramingConfig {
    FramingConfig {
        terminator: Terminator::Any,
        ..FramingConfig::default()
    }
}

fn decode_with(layout: Layout, framing: FramingConfig, rec: &Recording) -> Vec<FramerOutput> {
    let mut d = KeyDecoder::new(layout, framing);
    let mut out = Vec::new();
    d.push_records(&rec.bytes, &mut out);
    out
}

fn decode(layout: Layout, rec: &Recording) -> Vec<String> {
    decode_with(layout, framing(), rec)
        .into_iter()
        .filter_map(|o| match o {
            FramerOutput::Frame(f) => Some(String::from_utf8(f.bytes).expect("utf-8")),
            FramerOutput::Dropped(_) => None,
        })
        .collect()
}

/// "HA112" typed by a scanner set to AZERTY: digits need Shift, A is where Q is on QWERTY.
fn azerty_ha112() -> Recording {
    let mut r = Recording::new();
    r.chord(SHIFT, KEY_H)
        .chord(SHIFT, KEY_Q)
        .chord(SHIFT, KEY_1)
        .chord(SHIFT, KEY_1)
        .chord(SHIFT, KEY_2)
        .tap(KEY_ENTER);
    r
}

#[test]
fn azerty_scanner_decodes_on_azerty_input() {
    let rec = azerty_ha112();
    assert_eq!(decode(Layout::Fr, &rec), vec!["HA112"]);
    // The same stream read as US shows why the layout must match the scanner.
    assert_eq!(decode(Layout::Us, &rec), vec!["HQ!!@"]);
}

#[test]
fn layout_tables_from_recorded_streams() {
    struct Case {
        layout: Layout,
        build: fn(&mut Recording),
        want: &'static str,
    }
    let cases = [
        Case {
            layout: Layout::Us,
            build: |r| {
                r.chord(SHIFT, KEY_2)
                    .tap(KEY_Q)
                    .chord(SHIFT, KEY_APOSTROPHE)
                    .tap(KEY_Y);
            },
            want: "@q\"y",
        },
        Case {
            layout: Layout::Uk,
            build: |r| {
                r.chord(SHIFT, KEY_2)
                    .chord(SHIFT, KEY_APOSTROPHE)
                    .chord(SHIFT, KEY_3);
            },
            want: "\"@£",
        },
        Case {
            layout: Layout::Uk,
            build: |r| {
                r.chord(ALTGR, 5);
            },
            want: "€",
        },
        Case {
            // QWERTZ: Y and Z swapped, Shift+7 is '/', '@' is AltGr+Q.
            layout: Layout::De,
            build: |r| {
                r.tap(KEY_Z)
                    .tap(KEY_Y)
                    .chord(SHIFT, 8)
                    .chord(ALTGR, KEY_Q)
                    .chord(SHIFT, KEY_0);
            },
            want: "yz/@=",
        },
        Case {
            // AZERTY: unshifted top row is punctuation, '@' is AltGr+à (KEY_0).
            layout: Layout::Fr,
            build: |r| {
                r.tap(KEY_1)
                    .tap(KEY_2)
                    .tap(KEY_A)
                    .tap(KEY_W)
                    .chord(ALTGR, KEY_0);
            },
            want: "&éqz@",
        },
        Case {
            layout: Layout::De,
            build: |r| {
                r.chord(ALTGR, KEY_E)
                    .tap(KEY_APOSTROPHE)
                    .chord(SHIFT, KEY_LEFTBRACE);
            },
            want: "€äÜ",
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let mut r = Recording::new();
        (c.build)(&mut r);
        r.tap(KEY_ENTER);
        assert_eq!(
            decode(c.layout, &r),
            vec![c.want],
            "case {i} ({:?})",
            c.layout
        );
    }
}

#[test]
fn shift_and_capslock() {
    let mut r = Recording::new();
    // CapsLock on: letters upper-case, Shift inverts back, digits unaffected.
    r.tap(KEY_CAPSLOCK)
        .tap(KEY_A)
        .chord(SHIFT, KEY_Q)
        .tap(KEY_1)
        .tap(KEY_CAPSLOCK)
        .tap(KEY_A)
        .tap(KEY_ENTER);
    assert_eq!(decode(Layout::Us, &r), vec!["Aq1a"]);

    // On AZERTY CapsLock does not turn the top row into digits.
    let mut r = Recording::new();
    r.tap(KEY_CAPSLOCK).tap(KEY_Q).tap(KEY_2).tap(KEY_ENTER);
    assert_eq!(decode(Layout::Fr, &r), vec!["Aé"]);

    // On QWERTZ CapsLock upper-cases umlauts.
    let mut r = Recording::new();
    r.tap(KEY_CAPSLOCK).tap(KEY_APOSTROPHE).tap(KEY_ENTER);
    assert_eq!(decode(Layout::De, &r), vec!["Ä"]);
}

#[test]
fn keypad_keys_and_kp_enter() {
    for layout in Layout::ALL {
        let mut r = Recording::new();
        r.tap(KEY_KP7)
            .tap(KEY_KP4)
            .tap(KEY_KPDOT)
            .tap(KEY_KP1)
            .tap(KEY_KPMINUS)
            .tap(KEY_KP0)
            .tap(KEY_KPENTER);
        assert_eq!(decode(layout, &r), vec!["74.1-0"], "{layout:?}");
    }
}

#[test]
fn group_separator_from_ctrl_bracket_and_alt_code() {
    // Ctrl+] (GS) between GS1 elements, on every layout (scanners send the US key position).
    for layout in Layout::ALL {
        let mut r = Recording::new();
        r.chord(&[KEY_LEFTCTRL], KEY_RIGHTBRACE)
            .tap(KEY_1)
            .chord(&[KEY_LEFTCTRL], KEY_RIGHTBRACE)
            .tap(KEY_ENTER);
        let out = decode(layout, &r);
        let digit_one = if layout == Layout::Fr { "&" } else { "1" };
        assert_eq!(out, vec![format!("\u{1d}{digit_one}\u{1d}")], "{layout:?}");
    }
    // Alt + keypad 0 0 2 9 = GS; Ctrl+D = EOT.
    let mut r = Recording::new();
    r.key(KEY_LEFTALT, 1)
        .tap(KEY_KP0)
        .tap(KEY_KP0)
        .tap(KEY_KP2)
        .tap(KEY_KP9)
        .key(KEY_LEFTALT, 0)
        .chord(&[KEY_LEFTCTRL], KEY_D)
        .tap(KEY_ENTER);
    assert_eq!(decode(Layout::Us, &r), vec!["\u{1d}\u{4}"]);
}

#[test]
fn dead_keys_compose_or_type_themselves() {
    // DE: ^ is dead; ^ then space types '^'; ´ then e composes 'é'.
    let mut r = Recording::new();
    r.tap(KEY_GRAVE)
        .tap(KEY_SPACE)
        .tap(13)
        .tap(KEY_E)
        .tap(KEY_ENTER);
    assert_eq!(decode(Layout::De, &r), vec!["^é"]);
    // FR: ^ then e gives ê; ^ then x gives "^x".
    let mut r = Recording::new();
    r.tap(KEY_LEFTBRACE)
        .tap(KEY_E)
        .tap(KEY_LEFTBRACE)
        .tap(45)
        .tap(KEY_ENTER);
    assert_eq!(decode(Layout::Fr, &r), vec!["ê^x"]);
}

#[test]
fn enter_tab_and_idle_gap_end_codes() {
    let mut r = Recording::new();
    r.tap(KEY_1).tap(KEY_TAB).tap(KEY_2).tap(KEY_ENTER);
    assert_eq!(decode(Layout::Us, &r), vec!["1", "2"]);

    // No suffix: the idle gap ends the code, driven by poll(now).
    let mut r = Recording::new();
    r.tap(KEY_1).tap(KEY_2).tap(KEY_3);
    let cfg = FramingConfig {
        terminator: Terminator::None,
        idle_gap: Some(Duration::from_millis(40)),
        ..FramingConfig::default()
    };
    let mut d = KeyDecoder::new(Layout::Us, cfg);
    let mut out = Vec::new();
    d.push_records(&r.bytes, &mut out);
    assert!(out.is_empty());
    // The gap runs from the last character, typed on the press of KEY_3.
    let last = r.time() - Duration::from_millis(4);
    assert_eq!(d.next_deadline(), Some(last + Duration::from_millis(40)));
    assert!(d.flush_if_idle(last + Duration::from_millis(39)).is_empty());
    let done = d.flush_if_idle(last + Duration::from_millis(40));
    match done.as_slice() {
        [FramerOutput::Frame(f)] => {
            assert_eq!(f.bytes, b"123");
            assert_eq!(f.ended_by, FrameEnd::IdleGap);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn repeats_and_other_events_are_ignored_and_syn_dropped_discards() {
    let mut r = Recording::new();
    // Auto-repeat (value 2) and MSC_SCAN events do not type anything.
    r.key(KEY_1, 1)
        .key(KEY_1, 2)
        .key(KEY_1, 2)
        .key(KEY_1, 0)
        .raw(4, 4, 0x7001e)
        .tap(KEY_ENTER);
    assert_eq!(decode(Layout::Us, &r), vec!["1"]);

    let mut r = Recording::new();
    r.tap(KEY_1)
        .key(KEY_LEFTSHIFT, 1)
        .raw(EV_SYN, SYN_DROPPED, 0)
        .tap(KEY_2)
        .tap(KEY_ENTER);
    let out = decode_with(Layout::Us, framing(), &r);
    assert!(matches!(
        &out[0],
        FramerOutput::Dropped(d) if d.reason == DropReason::EventsLost && d.len == 1
    ));
    // Shift was reset with the lost events: '2', not '@'.
    assert!(matches!(&out[1], FramerOutput::Frame(f) if f.bytes == b"2"));
}

#[test]
fn recorded_timestamps_are_kept() {
    let mut r = Recording::new();
    let start = r.time();
    r.tap(KEY_1)
        .pause(Duration::from_millis(10))
        .tap(KEY_2)
        .tap(KEY_ENTER);
    match decode_with(Layout::Us, framing(), &r).as_slice() {
        [FramerOutput::Frame(f)] => {
            assert_eq!(f.first_at, start);
            assert_eq!(f.last_at - f.first_at, Duration::from_millis(14));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn selectors_match_by_vendor_product_and_name() {
    let id = DeviceIdentity {
        path: "/dev/input/event7".into(),
        name: "Honeywell Imaging 1900 Keyboard".into(),
        vendor: 0x0c2e,
        product: 0x0b61,
    };
    let vp = DeviceSelector::VendorProduct {
        vendor: 0x0c2e,
        product: 0x0b61,
    };
    assert!(selector_matches(&vp, &id));
    assert!(!selector_matches(
        &DeviceSelector::VendorProduct {
            vendor: 0x0c2e,
            product: 0x0b62
        },
        &id
    ));
    assert!(selector_matches(
        &DeviceSelector::Name("honeywell".into()),
        &id
    ));
    assert!(!selector_matches(
        &DeviceSelector::Name("zebra".into()),
        &id
    ));
    assert!(selector_matches(
        &DeviceSelector::Path("/dev/input/event7".into()),
        &id
    ));
}

/// A recorded device: reads raw `input_event` bytes from a channel; a closed channel is an
/// unplugged device.
struct RecordedSource(Receiver<Vec<u8>>);

impl KeySource for RecordedSource {
    fn read_events(&mut self, timeout: Duration, out: &mut Vec<RawInputEvent>) -> io::Result<()> {
        match self.0.recv_timeout(timeout) {
            Ok(bytes) => {
                out.extend(RawInputEvent::parse_records(&bytes));
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => Err(io::Error::from_raw_os_error(19)),
        }
    }
}

/// Devices that will be "plugged in", in order; none present means "no device matches".
#[derive(Clone, Default)]
struct Hotplug(Arc<Mutex<Vec<Receiver<Vec<u8>>>>>, Arc<Mutex<usize>>);

impl Hotplug {
    fn plug(&self) -> Sender<Vec<u8>> {
        let (tx, rx) = mpsc::channel();
        self.0.lock().expect("lock").push(rx);
        tx
    }
    fn attempts(&self) -> usize {
        *self.1.lock().expect("lock")
    }
}

impl KeySourceOpener for Hotplug {
    fn open(&mut self) -> Result<Opened, String> {
        *self.1.lock().expect("lock") += 1;
        let rx = self
            .0
            .lock()
            .expect("lock")
            .pop()
            .ok_or_else(|| "no input device matches 0c2e:0b61".to_owned())?;
        Ok(Opened {
            source: Box::new(RecordedSource(rx)),
            device: "/dev/input/event9 (recorded)".into(),
            grabbed: true,
            warning: None,
        })
    }
}

#[test]
fn key_reader_picks_up_late_device_and_survives_removal() {
    let hot = Hotplug::default();
    let (tx, rx) = mpsc::channel();
    let stop = StopSignal::new();
    let handle = spawn_key_reader(
        KeyInput {
            name: "kiosk-wedge".into(),
            layout: Layout::Fr,
            framing: framing(),
            formats: FormatSet::barcode_default(),
            double_scan_window: Duration::ZERO,
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        },
        hot.clone(),
        Arc::new(CredentialParser::new(CredentialRules::defaults())),
        tx,
        stop.clone(),
    )
    .expect("spawn");
    let t = Duration::from_secs(5);
    let is_state = |want: &str| {
        let want = want.to_owned();
        move |e: &InputEvent| match e {
            InputEvent::State { state, .. } => match state {
                DeviceState::Connected { grabbed, .. } => want == "connected" && *grabbed,
                DeviceState::Disconnected { .. } => want == "disconnected",
                DeviceState::Stopped => want == "stopped",
            },
            _ => false,
        }
    };
    wait_for(&rx, t, is_state("disconnected"));
    std::thread::sleep(Duration::from_millis(500));
    let attempts = hot.attempts();
    assert!(
        (2..=12).contains(&attempts),
        "backoff should retry a few times, not spin: {attempts}"
    );

    // The scanner is plugged in later and is picked up.
    let dev = hot.plug();
    wait_for(&rx, t, is_state("connected"));
    dev.send(azerty_ha112().bytes).expect("send");
    let mut r = Recording::new();
    r.tap(KEY_1);
    r.tap(KEY_2); // "&é" typed, then…
    dev.send(r.bytes).expect("send");
    match wait_for(&rx, t, |e| matches!(e, InputEvent::Scan(_))) {
        InputEvent::Scan(s) => {
            assert_eq!(s.credential.raw, b"HA112");
            assert_eq!(s.credential.reader, "kiosk-wedge");
        }
        _ => unreachable!(),
    }
    // …the device disappears mid-code: reported, partial code dropped.
    drop(dev);
    wait_for(&rx, t, |e| matches!(e, InputEvent::Dropped { .. }));
    wait_for(&rx, t, is_state("disconnected"));

    // Back again.
    let dev = hot.plug();
    wait_for(&rx, t, is_state("connected"));
    let mut r = Recording::new();
    for k in [KEY_1, KEY_2, KEY_3, 5, 6, 7, 8, 9] {
        r.chord(SHIFT, k);
    }
    r.tap(KEY_KPENTER);
    dev.send(r.bytes).expect("send");
    match wait_for(&rx, t, |e| matches!(e, InputEvent::Scan(_))) {
        InputEvent::Scan(s) => assert_eq!(
            s.credential.kind,
            CredentialKind::Membership {
                membership_id: "12345678".into()
            }
        ),
        _ => unreachable!(),
    }
    stop.stop();
    handle.join().expect("join");
    wait_for(&rx, t, is_state("stopped"));
}

/// Opens a device that fails on the first read, every time.
#[derive(Clone, Default)]
struct Flapping(Arc<Mutex<usize>>);

struct Broken;

impl KeySource for Broken {
    fn read_events(&mut self, _: Duration, _: &mut Vec<RawInputEvent>) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(5))
    }
}

impl KeySourceOpener for Flapping {
    fn open(&mut self) -> Result<Opened, String> {
        *self.0.lock().expect("lock") += 1;
        Ok(Opened {
            source: Box::new(Broken),
            device: "flapping".into(),
            grabbed: true,
            warning: None,
        })
    }
}

#[test]
fn a_device_failing_right_after_open_keeps_backing_off() {
    let flap = Flapping::default();
    let (tx, rx) = mpsc::channel();
    let stop = StopSignal::new();
    let handle = spawn_key_reader(
        KeyInput {
            name: "flappy".into(),
            layout: Layout::Us,
            framing: framing(),
            formats: FormatSet::barcode_default(),
            double_scan_window: Duration::ZERO,
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        },
        flap.clone(),
        Arc::new(CredentialParser::new(CredentialRules::defaults())),
        tx,
        stop.clone(),
    )
    .expect("spawn");
    std::thread::sleep(Duration::from_millis(700));
    stop.stop();
    handle.join().expect("join");
    let opens = *flap.0.lock().expect("lock");
    // 20 + 40 + 80 + 160 + 200 + 200 ms: about 6 attempts, not one every 20 ms.
    assert!((3..=9).contains(&opens), "opens: {opens}");
    let errors: Vec<String> = rx
        .try_iter()
        .filter_map(|e| match e {
            InputEvent::State {
                state: DeviceState::Disconnected { error },
                ..
            } => Some(error),
            _ => None,
        })
        .collect();
    assert!(
        errors.iter().all(|e| e.contains("read failed")),
        "{errors:?}"
    );
    assert!(!errors.is_empty());
}

#[test]
fn real_opener_reports_why_a_device_cannot_be_opened() {
    use portico::input::evdev::EvdevOpener;
    let cases = [
        (
            DeviceSelector::Path("/dev/input/by-id/usb-No_Such_Scanner-event-kbd".into()),
            "cannot open /dev/input/by-id/usb-No_Such_Scanner-event-kbd",
        ),
        // Not an event device: the evdev ioctls fail.
        (
            DeviceSelector::Path("/dev/null".into()),
            "cannot open /dev/null",
        ),
        (
            DeviceSelector::VendorProduct {
                vendor: 0xffff,
                product: 0xfffe,
            },
            "no input device matches ffff:fffe",
        ),
    ];
    for (selector, want) in cases {
        let mut opener = EvdevOpener {
            selector,
            grab: true,
        };
        match opener.open() {
            Err(e) => assert!(e.starts_with(want), "{e}"),
            Ok(o) => panic!("opened {}", o.device),
        }
    }
}
