//! Relay outputs: the serial relay over a real pseudo-terminal pair, the simulated output,
//! and what can be checked of the GPIO output without a chip.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use portico::clock::ManualClock;
use portico::gate::relay::gpio::{
    GpioInput, GpioLine, GpioOutput, GpioSensor, input_config, output_config,
};
use portico::gate::relay::serial::{SerialRelay, SerialRelaySettings, parse_hex};
use portico::gate::relay::{
    GateOutput, OutputState, PassageSensor, RelayError, SimulatedOutput, SimulatedSensor,
};
use serialport::{SerialPort, TTYPort};

fn read_exactly(port: &mut TTYPort, n: usize) -> Vec<u8> {
    port.set_timeout(Duration::from_secs(2)).unwrap();
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match port.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) => panic!("read after {got} bytes: {e}"),
        }
    }
    buf
}

#[test]
fn serial_relay_writes_open_and_close_bytes() {
    let (mut master, slave) = TTYPort::pair().expect("pty pair");
    let path = slave.name().expect("slave path");
    let settings = SerialRelaySettings {
        port: path.clone(),
        baud: 9600,
        open_bytes: parse_hex("A0 01 01 A2").unwrap(),
        close_bytes: parse_hex("a00100a1").unwrap(),
    };
    let mut relay = SerialRelay::open(settings).expect("open slave by path");
    assert!(relay.describe().contains(&path));
    relay.open().unwrap();
    assert_eq!(relay.state(), OutputState::Open);
    assert_eq!(read_exactly(&mut master, 4), vec![0xA0, 0x01, 0x01, 0xA2]);
    relay.close().unwrap();
    assert_eq!(relay.state(), OutputState::Closed);
    assert_eq!(read_exactly(&mut master, 4), vec![0xA0, 0x01, 0x00, 0xA1]);
    relay.pulse(Duration::from_millis(20)).unwrap();
    assert_eq!(
        read_exactly(&mut master, 8),
        vec![0xA0, 0x01, 0x01, 0xA2, 0xA0, 0x01, 0x00, 0xA1]
    );
    drop(slave);
}

#[test]
fn serial_relay_open_error_names_the_port() {
    let err = SerialRelay::open(SerialRelaySettings {
        port: "/dev/does-not-exist-relay".into(),
        baud: 9600,
        open_bytes: vec![1],
        close_bytes: vec![0],
    })
    .err()
    .expect("no such port");
    assert!(
        err.to_string().contains("/dev/does-not-exist-relay"),
        "{err}"
    );
}

#[test]
fn hex_strings() {
    assert_eq!(parse_hex("ff:00-7f").unwrap(), vec![0xff, 0x00, 0x7f]);
    assert!(parse_hex("abc").is_err());
    assert!(parse_hex("zz").is_err());
    assert!(parse_hex("  ").is_err());
}

#[test]
fn simulated_output_records_pulses_with_timestamps() {
    let start = Utc.with_ymd_and_hms(2026, 10, 10, 9, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let out = SimulatedOutput::new(clock.clone());
    let mut shell_side: Box<dyn GateOutput> = Box::new(out.clone());
    shell_side.pulse(Duration::from_millis(800)).unwrap();
    clock.advance(TimeDelta::seconds(5));
    shell_side.pulse(Duration::from_millis(500)).unwrap();
    let pulses = out.pulses();
    assert_eq!(pulses.len(), 2);
    assert_eq!(pulses[0].at, start);
    assert_eq!(pulses[0].duration, Duration::from_millis(800));
    assert_eq!(pulses[1].at, start + TimeDelta::seconds(5));
    assert_eq!(pulses[1].duration, Duration::from_millis(500));

    out.fail_next("coil open circuit");
    let err = shell_side.pulse(Duration::from_millis(800)).unwrap_err();
    assert!(matches!(err, RelayError::Simulated(ref m) if m == "coil open circuit"));
    assert_eq!(
        shell_side.state(),
        OutputState::Fault("coil open circuit".into())
    );
    assert_eq!(out.pulses().len(), 2);
}

#[test]
fn simulated_sensor_reports_queued_passages() {
    let sensor = SimulatedSensor::new();
    let mut s: Box<dyn PassageSensor> = Box::new(sensor.clone());
    assert!(!s.wait_passage(Duration::from_millis(1)).unwrap());
    sensor.pass();
    assert!(s.wait_passage(Duration::from_millis(1)).unwrap());
    assert!(!s.wait_passage(Duration::from_millis(1)).unwrap());
}

#[test]
fn gpio_output_request_settings() {
    let line = GpioLine {
        chip: PathBuf::from("/dev/gpiochip3"),
        line: 17,
        active_low: true,
    };
    let cfg = output_config(&line);
    assert_eq!(cfg.chip(), PathBuf::from("/dev/gpiochip3").as_path());
    assert_eq!(cfg.lines(), &vec![17]);
    let lc = cfg.line_config(17).expect("line 17 configured");
    assert_eq!(lc.direction, Some(gpiocdev::line::Direction::Output));
    assert!(lc.active_low);
    assert_eq!(lc.value, Some(gpiocdev::line::Value::Inactive));

    let high = output_config(&GpioLine {
        active_low: false,
        ..line
    });
    assert!(!high.line_config(17).unwrap().active_low);
}

#[test]
fn gpio_sensor_request_settings() {
    let input = GpioInput {
        line: GpioLine {
            chip: PathBuf::from("/dev/gpiochip0"),
            line: 22,
            active_low: true,
        },
        debounce: Duration::from_millis(20),
        bias: Some(gpiocdev::line::Bias::PullUp),
    };
    let cfg = input_config(&input);
    let lc = cfg.line_config(22).unwrap();
    assert_eq!(lc.direction, Some(gpiocdev::line::Direction::Input));
    assert_eq!(
        lc.edge_detection,
        Some(gpiocdev::line::EdgeDetection::RisingEdge)
    );
    assert_eq!(lc.debounce_period, Some(Duration::from_millis(20)));
    assert_eq!(lc.bias, Some(gpiocdev::line::Bias::PullUp));
    assert!(lc.active_low);
}

#[test]
fn gpio_missing_chip_error_names_the_path() {
    let err = GpioOutput::open(GpioLine {
        chip: PathBuf::from("/dev/gpiochip-portico-missing"),
        line: 4,
        active_low: false,
    })
    .err()
    .expect("no chip here");
    let text = err.to_string();
    assert!(text.contains("/dev/gpiochip-portico-missing"), "{text}");
    assert!(text.contains("no such GPIO chip"), "{text}");

    let err = GpioSensor::open(GpioInput {
        line: GpioLine {
            chip: PathBuf::from("/dev/gpiochip-portico-missing"),
            line: 5,
            active_low: false,
        },
        debounce: Duration::ZERO,
        bias: None,
    })
    .err()
    .expect("no chip here");
    assert!(
        err.to_string().contains("/dev/gpiochip-portico-missing"),
        "{err}"
    );
}

#[test]
fn gpio_error_for_a_file_that_is_not_a_chip() {
    let f = tempfile::NamedTempFile::new().unwrap();
    let err = GpioOutput::open(GpioLine {
        chip: f.path().to_owned(),
        line: 0,
        active_low: false,
    })
    .err()
    .expect("a regular file is not a chip");
    assert!(
        err.to_string().contains(&f.path().display().to_string()),
        "{err}"
    );
}
