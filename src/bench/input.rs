//! Input benchmark: decoding throughput on one core and end-to-end latency through a real
//! pseudo-terminal. Exposed as `portico bench input --json`.

use std::io::Write;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::json;
use serialport::SerialPort;

use crate::input::config::{FlowControl, Parity, SerialSettings};
use crate::input::credential::{
    CredentialParser, CredentialRules, FormatSet, signed_ticket, wiegand,
};
use crate::input::event::{Backoff, DeviceState, InputEvent, StopSignal};
use crate::input::framer::{FramerOutput, FramingConfig, SerialFramer, Terminator};
use crate::input::keydecoder::{KeyDecoder, synthesize};
use crate::input::keymap::Layout;
use crate::input::serial::{SerialInput, spawn_serial};

pub const TARGET_FRAMES_PER_SEC: f64 = 1_000_000.0;
pub const TARGET_PTY_P99_US: f64 = 500.0;

/// A mix of frames as scanners and card readers send them.
pub fn sample_frames() -> Vec<String> {
    vec![
        "12345678".to_owned(),
        "8-10001234".to_owned(),
        "A1B2C3D4E5F6G7H8J9K0".to_owned(),
        "]C101095011015300031725123110AB12".to_owned(),
        ";4111111111111111=2812101?".to_owned(),
        "%B4111111111111111^DOE/JOHN^2812101000000?".to_owned(),
        wiegand::to_bits(wiegand::encode(12, 34567)),
        "NOT A CODE!".to_owned(),
    ]
}

/// Runs the benchmark over `frames` frames per path and returns the figures.
pub fn run(frames: usize) -> serde_json::Value {
    let frames = frames.max(1);
    let parser = CredentialParser::new(CredentialRules::defaults());
    let formats = FormatSet::barcode_default();
    let samples = sample_frames();

    let (serial_secs, serial_ok) = serial_throughput(&parser, formats, &samples, frames);
    let (key_secs, key_ok) = keyboard_throughput(&parser, formats, &samples, frames);
    let serial_fps = frames as f64 / serial_secs;
    let key_fps = frames as f64 / key_secs;
    let combined_fps = (2 * frames) as f64 / (serial_secs + key_secs);
    let verify_fps = signed_ticket_rate((frames / 200).clamp(100, 5000));

    let latency_samples = (frames / 1000).clamp(200, 5000);
    let latency = pty_latency(latency_samples);
    let (p50, p99, max, lat_err) = match &latency {
        Ok(l) => (
            Some(percentile(l, 0.50)),
            Some(percentile(l, 0.99)),
            l.last().map(|m| (m * 10.0).round() / 10.0),
            None,
        ),
        Err(e) => (None, None, None, Some(e.clone())),
    };
    json!({
        "frames": frames,
        "frames_per_sec": combined_fps.round(),
        "serial_frames_per_sec": serial_fps.round(),
        "keyboard_frames_per_sec": key_fps.round(),
        "frames_recognized_serial": serial_ok,
        "frames_recognized_keyboard": key_ok,
        "signed_ticket_verifications_per_sec": verify_fps.round(),
        "pty_latency_samples": latency.as_ref().map(Vec::len).unwrap_or(0),
        "pty_latency_p50_us": p50,
        "pty_latency_p99_us": p99,
        "pty_latency_max_us": max,
        "pty_latency_error": lat_err,
        "target_frames_per_sec": TARGET_FRAMES_PER_SEC,
        "target_pty_latency_p99_us": TARGET_PTY_P99_US,
        "meets_frames_target": combined_fps >= TARGET_FRAMES_PER_SEC,
        "meets_latency_target": p99.is_some_and(|p| p <= TARGET_PTY_P99_US),
    })
}

/// Serial bytes → framer → parser. Returns (seconds, recognised frames).
fn serial_throughput(
    parser: &CredentialParser,
    formats: FormatSet,
    samples: &[String],
    frames: usize,
) -> (f64, usize) {
    let mut stream = Vec::new();
    for i in 0..frames {
        stream.extend_from_slice(samples[i % samples.len()].as_bytes());
        stream.push(b'\r');
    }
    let mut framer = SerialFramer::new(FramingConfig::default());
    let mut outs = Vec::with_capacity(512);
    let mut recognized = 0usize;
    let start = Instant::now();
    for (n, chunk) in stream.chunks(4096).enumerate() {
        framer.push(Duration::from_micros(n as u64 * 100), chunk, &mut outs);
        for o in outs.drain(..) {
            if let FramerOutput::Frame(f) = o {
                let c = parser.parse_owned("bench", f.bytes, formats);
                recognized += usize::from(c.is_recognized());
            }
        }
    }
    (start.elapsed().as_secs_f64().max(1e-9), recognized)
}

/// Key events → key decoder → parser.
fn keyboard_throughput(
    parser: &CredentialParser,
    formats: FormatSet,
    samples: &[String],
    frames: usize,
) -> (f64, usize) {
    let recorded: Vec<_> = samples
        .iter()
        .map(|s| {
            synthesize(
                Layout::Us,
                &format!("{s}\r"),
                Duration::ZERO,
                Duration::from_millis(1),
            )
        })
        .collect();
    let mut decoder = KeyDecoder::new(
        Layout::Us,
        FramingConfig {
            terminator: Terminator::Any,
            ..FramingConfig::default()
        },
    );
    let mut outs = Vec::with_capacity(4);
    let mut recognized = 0usize;
    let start = Instant::now();
    for i in 0..frames {
        let base = Duration::from_millis(i as u64 * 100);
        for ev in &recorded[i % recorded.len()] {
            let mut ev = *ev;
            ev.time += base;
            decoder.push(ev, &mut outs);
        }
        for o in outs.drain(..) {
            if let FramerOutput::Frame(f) = o {
                let c = parser.parse_owned("bench", f.bytes, formats);
                recognized += usize::from(c.is_recognized());
            }
        }
    }
    (start.elapsed().as_secs_f64().max(1e-9), recognized)
}

/// Signed-ticket verifications per second (Ed25519, the costly format).
fn signed_ticket_rate(n: usize) -> f64 {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let fields = signed_ticket::TicketFields {
        ticket_id: 1,
        product_id: "GA-ADULT".to_owned(),
        validity: crate::domain::TicketValidity::Open,
        uses: 1,
    };
    let Ok(text) = signed_ticket::issue(&fields, 1, &key) else {
        return 0.0;
    };
    let keys = [(1u16, key.verifying_key())];
    let start = Instant::now();
    let mut ok = 0usize;
    for _ in 0..n {
        ok += usize::from(signed_ticket::verify(&text, &keys).is_ok());
    }
    ok as f64 / start.elapsed().as_secs_f64().max(1e-9)
}

/// Microseconds from writing a frame's last byte into a pty master to receiving the scan
/// event from the serial reader on the slave, sorted ascending.
fn pty_latency(samples: usize) -> Result<Vec<f64>, String> {
    let (mut master, slave) = serialport::TTYPort::pair().map_err(|e| e.to_string())?;
    let path = slave.name().ok_or_else(|| "pty has no name".to_owned())?;
    drop(slave);
    let (tx, rx) = mpsc::channel();
    let stop = StopSignal::new();
    let handle = spawn_serial(
        SerialInput {
            name: "bench".to_owned(),
            settings: SerialSettings {
                path: path.into(),
                baud: 115200,
                data_bits: 8,
                parity: Parity::None,
                stop_bits: 1,
                flow_control: FlowControl::None,
            },
            framing: FramingConfig::default(),
            formats: FormatSet::barcode_default(),
            double_scan_window: Duration::ZERO,
            backoff: Backoff::default(),
        },
        Arc::new(CredentialParser::new(CredentialRules::defaults())),
        tx,
        stop.clone(),
    )
    .map_err(|e| e.to_string())?;
    let result = (|| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(InputEvent::State {
                    state: DeviceState::Connected { .. },
                    ..
                }) => break,
                Ok(_) => {}
                Err(_) => return Err("serial reader did not connect".to_owned()),
            }
        }
        let mut lat = Vec::with_capacity(samples);
        for i in 0..samples {
            let frame = format!("{:08}\r", 10_000_000 + i);
            let t0 = Instant::now();
            master
                .write_all(frame.as_bytes())
                .map_err(|e| e.to_string())?;
            loop {
                match rx.recv_timeout(Duration::from_secs(2)) {
                    Ok(InputEvent::Scan(_)) => break,
                    Ok(_) => {}
                    Err(_) => return Err(format!("no scan event for sample {i}")),
                }
            }
            lat.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        Ok(lat)
    })();
    stop.stop();
    let _ = handle.join();
    let mut lat = result?;
    lat.sort_by(f64::total_cmp);
    Ok(lat)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    (sorted[idx.min(sorted.len() - 1)] * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn reports_named_fields() {
        let v = super::run(2000);
        for field in [
            "frames_per_sec",
            "serial_frames_per_sec",
            "keyboard_frames_per_sec",
            "signed_ticket_verifications_per_sec",
            "pty_latency_p50_us",
            "pty_latency_p99_us",
        ] {
            assert!(
                v[field].as_f64().is_some_and(|x| x > 0.0),
                "{field}: {}",
                v[field]
            );
        }
        // 7 of the 8 sample frames are credentials.
        assert_eq!(v["frames_recognized_serial"], 1750);
        assert_eq!(v["frames_recognized_keyboard"], 1750);
        assert_eq!(v["pty_latency_samples"], 200);
        assert_eq!(v["target_pty_latency_p99_us"], 500.0);
    }
}
