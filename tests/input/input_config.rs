//! Input configuration: deserialisation and validation with exact key paths.

use std::time::Duration;

use data_encoding::BASE64;
use portico::input::config::{
    DeviceSelector, FlowControl, InputSource, Parity, Problem, RawInputsConfig, from_toml_str,
    validate,
};
use portico::input::credential::{ByteOrder, CredentialFormat, RfidFormat};
use portico::input::framer::Terminator;
use portico::input::keymap::Layout;

fn public_key_b64(seed: u8) -> String {
    BASE64.encode(
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .as_bytes(),
    )
}

fn problems(toml_text: &str) -> Vec<Problem> {
    let raw: RawInputsConfig = toml::from_str(toml_text).expect("deserialises");
    match validate(&raw) {
        Ok(_) => Vec::new(),
        Err(p) => p,
    }
}

#[test]
fn minimal_inputs_get_defaults() {
    let cfg = from_toml_str(
        r#"
        [device]
        id = "gate-1"   # other sections of the document are not ours

        [[inputs]]
        name = "gate-scanner"
        kind = "serial"
        path = "/dev/serial/by-id/usb-Honeywell-if00"

        [[inputs]]
        name = "wedge"
        kind = "evdev"
        vendor_product = "0C2E:0b61"
        "#,
    )
    .expect("valid");
    assert_eq!(cfg.inputs.len(), 2);
    let s = &cfg.inputs[0];
    match &s.source {
        InputSource::Serial(ser) => {
            assert_eq!(ser.baud, 9600);
            assert_eq!(ser.data_bits, 8);
            assert_eq!(ser.parity, Parity::None);
            assert_eq!(ser.stop_bits, 1);
            assert_eq!(ser.flow_control, FlowControl::None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.framing.terminator, Terminator::Cr);
    assert_eq!(s.framing.max_frame_len, 512);
    assert!(s.enabled);
    assert!(!s.formats.contains(CredentialFormat::RfidUid));
    assert!(s.formats.contains(CredentialFormat::Membership));
    let e = &cfg.inputs[1];
    match &e.source {
        InputSource::Evdev(ev) => {
            assert_eq!(
                ev.selector,
                DeviceSelector::VendorProduct {
                    vendor: 0x0c2e,
                    product: 0x0b61
                }
            );
            assert_eq!(ev.layout, Layout::Us);
            assert!(ev.grab);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.framing.terminator, Terminator::Any);
    assert_eq!(cfg.double_scan_window, Duration::from_millis(1500));
    assert!(cfg.credentials.signing_keys.is_empty());
}

#[test]
fn full_example_is_valid() {
    let text = format!(
        r##"
        [[inputs]]
        name = "turnstile-rfid"
        kind = "serial"
        path = "/dev/serial/by-id/usb-RFIDeas-if00"
        baud = 115200
        data_bits = 7
        parity = "even"
        stop_bits = 2
        flow_control = "hardware"
        terminator = "none"
        idle_gap_ms = 40
        stx_etx = true
        strip_prefix = "]Q1"
        strip_suffix = "#"
        max_frame_len = 4096
        formats = ["rfid_uid", "wiegand26"]

        [[inputs]]
        name = "kiosk-wedge"
        kind = "evdev"
        device = "/dev/input/by-id/usb-Zebra-event-kbd"
        layout = "fr"
        grab = false
        enabled = false

        [credentials]
        membership_prefix = "M"
        membership_regex = "^(?P<id>[0-9]{{8}})$"
        lookup_id_regex = ""
        rfid_format = "decimal"
        rfid_byte_order = "lsb_first"
        rfid_uid_lengths = [4, 7]
        wiegand_hex_prefix = "W26:"
        double_scan_window_ms = 0

        [[credentials.signing_keys]]
        id = 1
        public_key = "{}"

        [[credentials.signing_keys]]
        id = 2
        public_key = "{}"
        "##,
        public_key_b64(1),
        public_key_b64(2).trim_end_matches('=')
    );
    let cfg = from_toml_str(&text).expect("valid");
    let r = &cfg.inputs[0];
    assert_eq!(r.framing.idle_gap, Some(Duration::from_millis(40)));
    assert!(r.framing.stx_etx);
    assert_eq!(r.framing.strip_prefix, b"]Q1");
    assert!(r.formats.contains(CredentialFormat::RfidUid));
    assert!(!r.formats.contains(CredentialFormat::Membership));
    assert!(!cfg.inputs[1].enabled);
    assert_eq!(cfg.credentials.signing_keys.len(), 2);
    assert!(cfg.credentials.lookup_id.is_none());
    assert_eq!(cfg.credentials.rfid.format, RfidFormat::Decimal);
    assert_eq!(cfg.credentials.rfid.byte_order, ByteOrder::LsbFirst);
    assert_eq!(cfg.credentials.rfid.uid_lengths, vec![4, 7]);
    assert_eq!(cfg.double_scan_window, Duration::ZERO);
}

#[test]
fn problems_carry_exact_key_paths() {
    let good_key = public_key_b64(3);
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            r#"
            [[inputs]]
            name = "a"
            kind = "serial"
            path = "/dev/ttyUSB0"
            [[inputs]]
            name = "b"
            kind = "serial"
            path = "/dev/ttyUSB1"
            baud = 12345
            "#
            .into(),
            vec!["inputs[1].baud"],
        ),
        (
            r#"
            [[inputs]]
            name = "a"
            kind = "serial"
            path = "/dev/ttyUSB0"
            max_frame_len = 0
            data_bits = 9
            stop_bits = 3
            [[inputs]]
            name = "a"
            kind = "serial"
            path = "ttyUSB1"
            max_frame_len = 4097
            "#
            .into(),
            vec![
                "inputs[0].data_bits",
                "inputs[0].stop_bits",
                "inputs[0].max_frame_len",
                "inputs[1].name",
                "inputs[1].path",
                "inputs[1].max_frame_len",
            ],
        ),
        (
            r#"
            [[inputs]]
            name = "w"
            kind = "evdev"
            "#
            .into(),
            vec!["inputs[0]"],
        ),
        (
            r#"
            [[inputs]]
            name = "w"
            kind = "evdev"
            vendor_product = "0c2e-0b61"
            baud = 9600
            "#
            .into(),
            vec!["inputs[0].baud", "inputs[0].vendor_product"],
        ),
        (
            r#"
            [[inputs]]
            name = "w"
            kind = "evdev"
            device = "/dev/input/event3"
            device_name = "Zebra"
            "#
            .into(),
            vec!["inputs[0].device_name"],
        ),
        (
            r#"
            [[inputs]]
            name = "s"
            kind = "serial"
            layout = "de"
            "#
            .into(),
            vec!["inputs[0].layout", "inputs[0].path"],
        ),
        (
            r#"
            [[inputs]]
            name = "s"
            kind = "serial"
            path = "/dev/ttyACM0"
            terminator = "none"
            "#
            .into(),
            vec!["inputs[0].idle_gap_ms"],
        ),
        (
            r#"
            [[inputs]]
            name = "s"
            kind = "serial"
            path = "/dev/ttyACM0"
            idle_gap_ms = -5
            formats = ["membership", "gs1", "membership"]
            "#
            .into(),
            vec!["inputs[0].idle_gap_ms", "inputs[0].formats[2]"],
        ),
        (
            r#"
            [[inputs]]
            name = " "
            kind = "serial"
            path = "/dev/ttyACM0"
            formats = []
            "#
            .into(),
            vec!["inputs[0].name", "inputs[0].formats"],
        ),
        (
            format!(
                r#"
                [credentials]
                membership_regex = "^([0-9]+$"
                double_scan_window_ms = 60001
                rfid_uid_lengths = [4, 0, 17]

                [[credentials.signing_keys]]
                id = 1
                public_key = "{good_key}"

                [[credentials.signing_keys]]
                id = 1
                public_key = "not base64!"

                [[credentials.signing_keys]]
                id = 70000
                public_key = "{short}"
                "#,
                short = BASE64.encode(&[1u8; 31])
            ),
            vec![
                "credentials.membership_regex",
                "credentials.signing_keys[1].id",
                "credentials.signing_keys[1].public_key",
                "credentials.signing_keys[2].id",
                "credentials.signing_keys[2].public_key",
                "credentials.rfid_uid_lengths[1]",
                "credentials.rfid_uid_lengths[2]",
                "credentials.double_scan_window_ms",
            ],
        ),
        (
            r#"
            [credentials]
            membership_prefix = "M"
            membership_regex = ""
            double_scan_window_ms = -1
            "#
            .into(),
            vec![
                "credentials.membership_regex",
                "credentials.double_scan_window_ms",
            ],
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let got = problems(text);
        let mut keys: Vec<&str> = got.iter().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        let mut want = want.clone();
        want.sort_unstable();
        assert_eq!(keys, want, "case {i}: {got:#?}");
        assert!(got.iter().all(|p| !p.message.is_empty()));
    }
}

#[test]
fn problem_messages_say_what_is_wrong() {
    let got = problems(
        r#"
        [[inputs]]
        name = "a"
        kind = "serial"
        path = "/dev/ttyUSB0"
        [[inputs]]
        name = "a"
        kind = "serial"
        path = "/dev/ttyUSB1"
        "#,
    );
    assert_eq!(
        got,
        vec![Problem {
            key: "inputs[1].name".into(),
            message: "duplicate input name \"a\"".into()
        }]
    );
    assert_eq!(
        got[0].to_string(),
        "inputs[1].name: duplicate input name \"a\""
    );
}

#[test]
fn unknown_keys_and_bad_enums_are_rejected_by_deserialisation() {
    for text in [
        "[[inputs]]\nname = \"a\"\nkind = \"serial\"\npath = \"/dev/x\"\nbaudrate = 9600\n",
        "[[inputs]]\nname = \"a\"\nkind = \"usb\"\n",
        "[[inputs]]\nname = \"a\"\nkind = \"evdev\"\ndevice_name = \"x\"\nlayout = \"dvorak\"\n",
        "[credentials]\nmembership = \"x\"\n",
        "[[credentials.signing_keys]]\nid = 1\npublic_key = \"x\"\ncomment = \"y\"\n",
    ] {
        assert!(
            toml::from_str::<RawInputsConfig>(text).is_err(),
            "accepted: {text}"
        );
        let err = from_toml_str(text).expect_err("rejected");
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].key, "");
    }
}

#[test]
fn documented_example_is_valid() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/input-config.md"))
        .expect("docs/input-config.md");
    let start = doc.find("```toml\n").expect("toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("end of block");
    let cfg = from_toml_str(&doc[start..end]).expect("documented example validates");
    assert_eq!(cfg.inputs.len(), 3);
    assert_eq!(cfg.credentials.signing_keys.len(), 1);
    assert!(cfg.inputs[2].formats.contains(CredentialFormat::RfidUid));
}
