//! Serial reader over real pseudo-terminal pairs.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::input_common::{PtyScanner, collect_for, scan_texts, wait_for};
use portico::input::config::{FlowControl, Parity, SerialSettings};
use portico::input::credential::{CredentialKind, FormatSet, Unrecognized};
use portico::input::framer::{DropReason, FramingConfig, Terminator};
use portico::input::serial::{SerialInput, spawn_serial};
use portico::input::{
    Backoff, CredentialParser, CredentialRules, DeviceState, InputEvent, StopSignal,
};

const T: Duration = Duration::from_secs(5);

struct Running {
    rx: Receiver<InputEvent>,
    stop: StopSignal,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn start(pty: &PtyScanner, framing: FramingConfig, window: Duration) -> Running {
    let (tx, rx) = mpsc::channel();
    let stop = StopSignal::new();
    let handle = spawn_serial(
        SerialInput {
            name: "gate-1".to_owned(),
            settings: SerialSettings {
                path: pty.path().to_path_buf(),
                baud: 9600,
                data_bits: 8,
                parity: Parity::None,
                stop_bits: 1,
                flow_control: FlowControl::None,
            },
            framing,
            formats: FormatSet::barcode_default(),
            double_scan_window: window,
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(400)),
        },
        Arc::new(CredentialParser::new(CredentialRules::defaults())),
        tx,
        stop.clone(),
    )
    .expect("spawn");
    let r = Running {
        rx,
        stop,
        handle: Some(handle),
    };
    wait_connected(&r.rx);
    r
}

fn wait_connected(rx: &Receiver<InputEvent>) {
    wait_for(rx, T, |e| {
        matches!(
            e,
            InputEvent::State {
                state: DeviceState::Connected { .. },
                ..
            }
        )
    });
}

fn next_scan(rx: &Receiver<InputEvent>) -> portico::input::Scan {
    match wait_for(rx, T, |e| matches!(e, InputEvent::Scan(_))) {
        InputEvent::Scan(s) => *s,
        _ => unreachable!(),
    }
}

#[test]
fn frames_arrive_parsed_with_reader_name() {
    let mut pty = PtyScanner::new();
    let r = start(&pty, FramingConfig::default(), Duration::ZERO);
    pty.write(b"12345678\r\n8-10001234\r");
    let a = next_scan(&r.rx);
    assert_eq!(a.credential.reader, "gate-1");
    assert_eq!(
        a.credential.kind,
        CredentialKind::Membership {
            membership_id: "12345678".into()
        }
    );
    let b = next_scan(&r.rx);
    assert_eq!(
        b.credential.kind,
        CredentialKind::LookupId {
            lookup_id: "8-10001234".into()
        }
    );
}

#[test]
fn split_writes_join_into_one_frame() {
    let mut pty = PtyScanner::new();
    let r = start(&pty, FramingConfig::default(), Duration::ZERO);
    for part in [&b"12"[..], b"345", b"678", b"\r"] {
        pty.write(part);
        std::thread::sleep(Duration::from_millis(30));
    }
    let s = next_scan(&r.rx);
    assert_eq!(s.credential.raw, b"12345678");
    assert!(s.span >= Duration::from_millis(40), "span {:?}", s.span);
}

#[test]
fn line_noise_is_discarded_and_good_frames_survive() {
    let mut pty = PtyScanner::new();
    let r = start(&pty, FramingConfig::default(), Duration::ZERO);
    // NUL/XON/XOFF inside a frame, empty lines, then a noise burst left hanging.
    pty.write(b"\x00\r\n\r\n1234\x11\x135678\r\xfe\x80\x07");
    let s = next_scan(&r.rx);
    assert_eq!(s.credential.raw, b"12345678");
    // After a second of silence the hanging noise is dropped, not glued to the next scan.
    let dropped = wait_for(&r.rx, T, |e| matches!(e, InputEvent::Dropped { .. }));
    assert!(matches!(
        dropped,
        InputEvent::Dropped {
            reason: DropReason::Incomplete,
            len: 3,
            ..
        }
    ));
    pty.write(b"87654321\r");
    assert_eq!(next_scan(&r.rx).credential.raw, b"87654321");
}

#[test]
fn overlong_frame_is_dropped_with_reason() {
    let mut pty = PtyScanner::new();
    let framing = FramingConfig {
        max_frame_len: 16,
        ..FramingConfig::default()
    };
    let r = start(&pty, framing, Duration::ZERO);
    pty.write(&[b'9'; 40]);
    pty.write(b"\r12345678\r");
    let d = wait_for(&r.rx, T, |e| matches!(e, InputEvent::Dropped { .. }));
    assert!(matches!(
        d,
        InputEvent::Dropped {
            reason: DropReason::Overlong { max: 16 },
            len: 40,
            ..
        }
    ));
    assert_eq!(next_scan(&r.rx).credential.raw, b"12345678");
}

#[test]
fn invalid_utf8_is_unrecognized_not_fatal() {
    let mut pty = PtyScanner::new();
    let r = start(&pty, FramingConfig::default(), Duration::ZERO);
    pty.write(b"AB\xff\xfeCD\r12345678\r");
    let s = next_scan(&r.rx);
    assert_eq!(s.credential.raw, b"AB\xff\xfeCD");
    assert_eq!(
        s.credential.kind,
        CredentialKind::Unrecognized {
            reason: Unrecognized::NotUtf8 { valid_up_to: 2 }
        }
    );
    assert_eq!(next_scan(&r.rx).credential.raw, b"12345678");
}

#[test]
fn no_suffix_scanner_ends_frames_on_idle_gap() {
    let mut pty = PtyScanner::new();
    let framing = FramingConfig {
        terminator: Terminator::None,
        idle_gap: Some(Duration::from_millis(60)),
        ..FramingConfig::default()
    };
    let r = start(&pty, framing, Duration::ZERO);
    pty.write(b"1234");
    std::thread::sleep(Duration::from_millis(20));
    pty.write(b"5678");
    let written = Instant::now();
    let s = next_scan(&r.rx);
    assert_eq!(s.credential.raw, b"12345678");
    assert_eq!(s.ended_by, portico::input::framer::FrameEnd::IdleGap);
    let waited = written.elapsed();
    assert!(
        waited >= Duration::from_millis(50),
        "ended too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(1000),
        "ended too late: {waited:?}"
    );
    pty.write(b"87654321");
    assert_eq!(next_scan(&r.rx).credential.raw, b"87654321");
}

#[test]
fn repeat_within_window_is_reported_as_repeat() {
    let mut pty = PtyScanner::new();
    let r = start(&pty, FramingConfig::default(), Duration::from_millis(1500));
    pty.write(b"12345678\r12345678\r87654321\r");
    let evs = collect_for(&r.rx, Duration::from_millis(300));
    let kinds: Vec<&str> = evs
        .iter()
        .filter_map(|e| match e {
            InputEvent::Scan(_) => Some("scan"),
            InputEvent::Repeat(_) => Some("repeat"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec!["scan", "repeat", "scan"]);
}

#[test]
fn unplug_and_replug_at_the_same_path() {
    let mut pty = PtyScanner::new();
    let r = start(&pty, FramingConfig::default(), Duration::ZERO);
    pty.write(b"11111111\r");
    assert_eq!(next_scan(&r.rx).credential.raw, b"11111111");

    // A partial frame in flight when the device goes away is dropped, never delivered.
    pty.write(b"2222");
    std::thread::sleep(Duration::from_millis(50));
    pty.unplug();
    let ev = wait_for(&r.rx, T, |e| {
        matches!(
            e,
            InputEvent::State {
                state: DeviceState::Disconnected { .. },
                ..
            }
        )
    });
    if let InputEvent::State {
        state: DeviceState::Disconnected { error },
        ..
    } = &ev
    {
        assert!(!error.is_empty());
    }

    // While gone, the reader retries with backoff: it reports the state once and does not spin.
    let while_gone = collect_for(&r.rx, Duration::from_millis(800));
    let state_events = while_gone
        .iter()
        .filter(|e| matches!(e, InputEvent::State { .. }))
        .count();
    assert!(
        state_events <= 1,
        "state spam while unplugged: {while_gone:#?}"
    );
    assert!(scan_texts(&while_gone).is_empty());

    pty.plug();
    wait_connected(&r.rx);
    pty.write(b"33333333\r");
    assert_eq!(next_scan(&r.rx).credential.raw, b"33333333");
}

#[test]
fn stop_ends_the_reader_promptly_even_when_unplugged() {
    let mut pty = PtyScanner::new();
    let mut r = start(&pty, FramingConfig::default(), Duration::ZERO);
    pty.unplug();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    r.stop.stop();
    if let Some(h) = r.handle.take() {
        h.join().expect("reader thread");
    }
    assert!(t.elapsed() < Duration::from_secs(2));
    let evs = collect_for(&r.rx, Duration::from_millis(100));
    assert!(evs.iter().any(|e| matches!(
        e,
        InputEvent::State {
            state: DeviceState::Stopped,
            ..
        }
    )));
}
