//! The `[gate]` section: defaults, a full valid section, and every invalid key reported with
//! its key path.

use std::path::PathBuf;
use std::time::Duration;

use portico::gate::config::{
    RawGateSection, RelayConfig, SensorConfig, parse_revocation_list, validate,
};
use portico::gate::{GateDirection, PartyOverflow, Reentry};
use portico::kiosk::catalog::Lang;

fn check(toml_text: &str) -> Result<portico::gate::GatePolicyConfig, Vec<(String, String)>> {
    validate(RawGateSection::from_document(toml_text).expect("parses"))
        .map_err(|p| p.into_iter().map(|p| (p.key, p.message)).collect())
}

fn problems(toml_text: &str) -> Vec<(String, String)> {
    check(toml_text).expect_err("should be invalid")
}

fn keys(toml_text: &str) -> Vec<String> {
    problems(toml_text).into_iter().map(|(k, _)| k).collect()
}

#[test]
fn minimal_section_gets_the_defaults() {
    let c = check("[device]\nid = \"g1\"\n\n[gate]\nname = \"North\"\n").unwrap();
    assert_eq!(c.policy.gate_id, "North");
    assert_eq!(c.policy.direction, GateDirection::Both);
    assert_eq!(c.policy.relay_pulse, Duration::from_millis(800));
    assert_eq!(c.policy.result_display, Duration::from_secs(3));
    assert_eq!(c.policy.grace_days, 0);
    assert_eq!(c.policy.anti_passback, Duration::from_secs(600));
    assert_eq!(c.policy.reentry, Reentry::AfterExit);
    assert_eq!(c.policy.party_overflow, PartyOverflow::Deny);
    assert_eq!(c.policy.daily_limit, None);
    assert_eq!(c.policy.allowed_products, None);
    assert_eq!(c.policy.language, Lang::En);
    assert_eq!(c.relay, RelayConfig::Simulated);
    assert_eq!(c.passage.sensor, SensorConfig::None);
    assert!(!c.passage_config().sensor);
}

#[test]
fn empty_document_is_valid() {
    assert!(check("").is_ok());
}

#[test]
fn full_gpio_section() {
    let c = check(
        r#"
[gate]
name = "South"
language = "es"
direction = "entry"
relay_pulse = "1s"
result_display = "5s"
grace_days = 7
slot_tolerance_before = "10m"
slot_tolerance_after = "1h"
anti_passback = "0s"
reentry = "never"
daily_limit = 2
party_max = 6
party_overflow = "admit_allowed"
allowed_products = ["GA", "VIP"]
revoked = ["ticket:ABC", "rfid:04A1B2"]
revocation_file = "blocked.txt"
scan_log_retention = "90d"

[gate.relay]
kind = "gpio"
chip = "gpiochip1"
line = 17
active_low = true

[gate.passage]
sensor = "gpio"
timeout = "12s"
chip = "/dev/gpiochip1"
line = 22
bias = "pull_up"
debounce = "30ms"
"#,
    )
    .unwrap();
    assert_eq!(c.policy.direction, GateDirection::Entry);
    assert_eq!(c.policy.language, Lang::Es);
    assert_eq!(c.policy.grace_days, 7);
    assert_eq!(c.policy.slot_tolerance_after, Duration::from_secs(3600));
    assert_eq!(c.policy.anti_passback, Duration::ZERO);
    assert_eq!(c.policy.daily_limit, Some(2));
    assert_eq!(c.policy.party_max, 6);
    assert!(c.policy.allowed_products.as_ref().unwrap().contains("VIP"));
    assert!(c.policy.revoked.contains("rfid:04A1B2"));
    assert_eq!(c.revocation_file, Some(PathBuf::from("blocked.txt")));
    assert_eq!(c.scan_log_retention, Duration::from_secs(90 * 24 * 3600));
    match &c.relay {
        RelayConfig::Gpio(l) => {
            assert_eq!(l.chip, PathBuf::from("/dev/gpiochip1"));
            assert_eq!(l.line, 17);
            assert!(l.active_low);
        }
        other => panic!("{other:?}"),
    }
    match &c.passage.sensor {
        SensorConfig::Gpio(i) => {
            assert_eq!(i.line.line, 22);
            assert_eq!(i.debounce, Duration::from_millis(30));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.passage_config().timeout, Duration::from_secs(12));
}

#[test]
fn serial_relay_section() {
    let c = check(
        "[gate.relay]\nkind = \"serial\"\nport = \"/dev/ttyUSB0\"\nopen_hex = \"A0 01 01 A2\"\nclose_hex = \"A0 01 00 A1\"\n",
    )
    .unwrap();
    match c.relay {
        RelayConfig::Serial(s) => {
            assert_eq!(s.baud, 9600);
            assert_eq!(s.open_bytes, vec![0xA0, 1, 1, 0xA2]);
            assert_eq!(s.close_bytes, vec![0xA0, 1, 0, 0xA1]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_invalid_key_has_its_path() {
    let cases: &[(&str, &str)] = &[
        ("[gate]\nname = \" \"", "gate.name"),
        ("[gate]\ndirection = \"sideways\"", "gate.direction"),
        ("[gate]\nlanguage = \"fr\"", "gate.language"),
        ("[gate]\nrelay_pulse = \"soon\"", "gate.relay_pulse"),
        ("[gate]\nrelay_pulse = \"1ms\"", "gate.relay_pulse"),
        ("[gate]\nresult_display = \"2m\"", "gate.result_display"),
        ("[gate]\ngrace_days = -1", "gate.grace_days"),
        ("[gate]\ngrace_days = 400", "gate.grace_days"),
        (
            "[gate]\nslot_tolerance_before = \"2d\"",
            "gate.slot_tolerance_before",
        ),
        (
            "[gate]\nslot_tolerance_after = \"x\"",
            "gate.slot_tolerance_after",
        ),
        ("[gate]\nanti_passback = \"later\"", "gate.anti_passback"),
        ("[gate]\nreentry = \"sometimes\"", "gate.reentry"),
        ("[gate]\ndaily_limit = 0", "gate.daily_limit"),
        ("[gate]\nparty_max = 0", "gate.party_max"),
        (
            "[gate]\nparty_overflow = \"squeeze\"",
            "gate.party_overflow",
        ),
        ("[gate]\nallowed_products = []", "gate.allowed_products"),
        (
            "[gate]\nallowed_products = [\"GA\", \"\"]",
            "gate.allowed_products[1]",
        ),
        (
            "[gate]\nallowed_products = [\"GA\", \"GA\"]",
            "gate.allowed_products[1]",
        ),
        (
            "[gate]\nrevoked = [\"ticket:A\", \"nonsense\"]",
            "gate.revoked[1]",
        ),
        ("[gate]\nrevoked = [\"passport:123\"]", "gate.revoked[0]"),
        ("[gate]\nrevocation_file = \"\"", "gate.revocation_file"),
        // Shorter than the two days of admissions a decision reads plus a slot's tolerance.
        (
            "[gate]\nscan_log_retention = \"2d\"",
            "gate.scan_log_retention",
        ),
        (
            "[gate]\nscan_log_retention = \"forever\"",
            "gate.scan_log_retention",
        ),
        (
            "[gate]\nscan_log_retention = \"11years\"",
            "gate.scan_log_retention",
        ),
        ("[gate.relay]\nchip = \"gpiochip0\"", "gate.relay.kind"),
        ("[gate.relay]\nkind = \"pneumatic\"", "gate.relay.kind"),
        ("[gate.relay]\nkind = \"gpio\"\nline = 3", "gate.relay.chip"),
        (
            "[gate.relay]\nkind = \"gpio\"\nchip = \"\"\nline = 3",
            "gate.relay.chip",
        ),
        (
            "[gate.relay]\nkind = \"gpio\"\nchip = \"gpiochip0\"",
            "gate.relay.line",
        ),
        (
            "[gate.relay]\nkind = \"gpio\"\nchip = \"gpiochip0\"\nline = -2",
            "gate.relay.line",
        ),
        (
            "[gate.relay]\nkind = \"gpio\"\nchip = \"gpiochip0\"\nline = 2\nbaud = 9600",
            "gate.relay.baud",
        ),
        (
            "[gate.relay]\nkind = \"serial\"\nopen_hex = \"01\"\nclose_hex = \"00\"",
            "gate.relay.port",
        ),
        (
            "[gate.relay]\nkind = \"serial\"\nport = \"/dev/ttyS0\"\nbaud = 1234\nopen_hex = \"01\"\nclose_hex = \"00\"",
            "gate.relay.baud",
        ),
        (
            "[gate.relay]\nkind = \"serial\"\nport = \"/dev/ttyS0\"\nopen_hex = \"0G\"\nclose_hex = \"00\"",
            "gate.relay.open_hex",
        ),
        (
            "[gate.relay]\nkind = \"serial\"\nport = \"/dev/ttyS0\"\nopen_hex = \"01\"",
            "gate.relay.close_hex",
        ),
        (
            "[gate.relay]\nkind = \"serial\"\nport = \"/dev/ttyS0\"\nopen_hex = \"01\"\nclose_hex = \"00\"\nline = 4",
            "gate.relay.line",
        ),
        (
            "[gate.relay]\nkind = \"simulated\"\nactive_low = true",
            "gate.relay.active_low",
        ),
        (
            "[gate.relay]\nkind = \"simulated\"\nport = \"/dev/ttyS0\"",
            "gate.relay.port",
        ),
        ("[gate.passage]\nsensor = \"laser\"", "gate.passage.sensor"),
        (
            "[gate.passage]\ntimeout = \"100ms\"",
            "gate.passage.timeout",
        ),
        (
            "[gate.passage]\nsensor = \"gpio\"\nline = 1",
            "gate.passage.chip",
        ),
        (
            "[gate.passage]\nsensor = \"gpio\"\nchip = \"gpiochip0\"",
            "gate.passage.line",
        ),
        (
            "[gate.passage]\nsensor = \"gpio\"\nchip = \"gpiochip0\"\nline = 1\nbias = \"up\"",
            "gate.passage.bias",
        ),
        (
            "[gate.passage]\nsensor = \"gpio\"\nchip = \"gpiochip0\"\nline = 1\ndebounce = \"5s\"",
            "gate.passage.debounce",
        ),
        ("[gate.passage]\nchip = \"gpiochip0\"", "gate.passage.chip"),
        (
            "[gate.passage]\nsensor = \"simulated\"\ndebounce = \"5ms\"",
            "gate.passage.debounce",
        ),
    ];
    for (text, key) in cases {
        let got = keys(text);
        assert_eq!(
            got,
            vec![key.to_string()],
            "for {text:?}: {:?}",
            problems(text)
        );
    }
}

#[test]
fn problems_are_collected_not_stopped_at_the_first() {
    let got = keys("[gate]\ndirection = \"up\"\ngrace_days = -3\n[gate.relay]\nkind = \"gpio\"\n");
    assert_eq!(
        got,
        vec![
            "gate.direction",
            "gate.grace_days",
            "gate.relay.chip",
            "gate.relay.line"
        ]
    );
}

#[test]
fn messages_say_what_is_expected() {
    let p = problems("[gate]\nreentry = \"sometimes\"");
    assert!(p[0].1.contains("\"after_exit\""), "{p:?}");
    let p = problems("[gate]\nrelay_pulse = \"1ms\"");
    assert!(p[0].1.contains("out of range"), "{p:?}");
    let p = problems("[gate]\nscan_log_retention = \"1d\"");
    assert!(p[0].1.contains("out of range (3days to 10years)"), "{p:?}");
}

#[test]
fn unknown_keys_are_rejected() {
    for text in [
        "[gate]\nrelay_pusle = \"1s\"",
        "[gate.relay]\nkind = \"gpio\"\npin = 4",
        "[gate.passage]\nsensr = \"gpio\"",
    ] {
        let err = RawGateSection::from_document(text).expect_err(text);
        assert!(err.contains("unknown field"), "{err}");
    }
}

#[test]
fn revocation_file_lines() {
    let set =
        parse_revocation_list("# venue block list\nticket:AAA\n\nrfid:04A1 # lost card\n").unwrap();
    assert_eq!(set.len(), 2);
    assert!(set.contains("rfid:04A1"));
    let err = parse_revocation_list("ticket:AAA\nbogus\n").unwrap_err();
    assert_eq!(err[0].key, "gate.revocation_file:2");
}
