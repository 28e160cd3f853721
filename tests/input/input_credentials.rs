//! Credential formats: tables of valid and invalid frames.

use crate::input_common::test_signing_key;
use chrono::NaiveDate;
use portico::domain::TicketValidity;
use portico::input::credential::gs1::Gs1Error;
use portico::input::credential::magstripe::{self, Expiry, MagstripeError};
use portico::input::credential::parser::IdPattern;
use portico::input::credential::signed_ticket::{self, TicketError, TicketFields};
use portico::input::credential::{
    ByteOrder, CredentialFormat, CredentialKind, FormatSet, RfidError, RfidFormat, Unrecognized,
    WiegandError,
};
use portico::input::{CredentialParser, CredentialRules};

const GS: char = '\u{1d}';

fn parse_with(rules: CredentialRules, frame: &[u8], formats: FormatSet) -> CredentialKind {
    let c = CredentialParser::new(rules).parse("r1", frame, formats);
    assert_eq!(c.raw, frame, "raw frame is carried");
    assert_eq!(c.reader, "r1", "reader name is carried");
    c.kind
}

fn parse(frame: &str) -> CredentialKind {
    parse_with(
        CredentialRules::defaults(),
        frame.as_bytes(),
        FormatSet::barcode_default(),
    )
}

fn unrec(reason: Unrecognized) -> CredentialKind {
    CredentialKind::Unrecognized { reason }
}

#[test]
fn membership_lookup_and_ticket_secret_with_default_patterns() {
    let cases: &[(&str, CredentialKind)] = &[
        (
            "12345678",
            CredentialKind::Membership {
                membership_id: "12345678".into(),
            },
        ),
        (
            "8-10001234",
            CredentialKind::LookupId {
                lookup_id: "8-10001234".into(),
            },
        ),
        (
            "A1B2C3D4E5F6G7H8J9K0",
            CredentialKind::TicketSecret {
                secret: "A1B2C3D4E5F6G7H8J9K0".into(),
            },
        ),
        ("12345", unrec(Unrecognized::NoMatch)),
        ("hello world", unrec(Unrecognized::NoMatch)),
        ("8-10001234-", unrec(Unrecognized::NoMatch)),
        ("", unrec(Unrecognized::Empty)),
    ];
    for (frame, want) in cases {
        assert_eq!(&parse(frame), want, "frame {frame:?}");
    }
}

#[test]
fn membership_prefix_and_id_groups() {
    let mut rules = CredentialRules::defaults();
    rules.membership_prefix = "M".into();
    rules.membership = Some(IdPattern::new(
        regex::Regex::new("^(?P<id>[0-9]{8})$").expect("regex"),
    ));
    rules.lookup_id = Some(IdPattern::new(
        regex::Regex::new("^LK(?P<id>[0-9]-[0-9]{8})$").expect("regex"),
    ));
    let cases: &[(&str, CredentialKind)] = &[
        (
            "M00012345",
            CredentialKind::Membership {
                membership_id: "00012345".into(),
            },
        ),
        ("00012345", unrec(Unrecognized::NoMatch)),
        ("M0001234", unrec(Unrecognized::NoMatch)),
        (
            "LK8-10001234",
            CredentialKind::LookupId {
                lookup_id: "8-10001234".into(),
            },
        ),
        ("8-10001234", unrec(Unrecognized::NoMatch)),
    ];
    for (frame, want) in cases {
        let got = parse_with(
            rules.clone(),
            frame.as_bytes(),
            FormatSet::barcode_default(),
        );
        assert_eq!(&got, want, "frame {frame:?}");
    }
}

#[test]
fn magstripe_tracks() {
    let t1 = "%B4111111111111111^DOE/JOHN^2812101000000?";
    let t2 = ";4111111111111111=2812101123?";
    let valid = [
        (t1.to_owned(), true, false, false),
        (t2.to_owned(), false, true, false),
        (format!("{t1}{t2}"), true, true, false),
        (magstripe::with_lrc(t2), false, true, true),
        (
            format!("{}{}", magstripe::with_lrc(t1), magstripe::with_lrc(t2)),
            true,
            true,
            true,
        ),
        (format!("%E?{t2}"), false, true, false),
    ];
    for (frame, has1, has2, lrc) in &valid {
        match parse(frame) {
            CredentialKind::Magstripe(card) => {
                assert_eq!(card.track1.is_some(), *has1, "{frame}");
                assert_eq!(card.track2.is_some(), *has2, "{frame}");
                assert_eq!(card.pan(), Some("4111111111111111"));
                if let Some(t) = &card.track1 {
                    assert_eq!(t.name, "DOE/JOHN");
                    assert_eq!(
                        t.expiry,
                        Expiry {
                            year: 2028,
                            month: 12
                        }
                    );
                    assert_eq!(t.service_code, "101");
                    assert_eq!(t.lrc_checked, *lrc);
                }
                if let Some(t) = &card.track2 {
                    assert_eq!(t.discretionary, "123");
                    assert_eq!(t.lrc_checked, *lrc);
                }
            }
            other => panic!("{frame}: {other:?}"),
        }
    }

    let mut bad_lrc = magstripe::with_lrc(t2);
    let last = bad_lrc.pop().expect("lrc");
    bad_lrc.push(if last == '0' { '1' } else { '0' });
    let invalid: &[(String, MagstripeError)] = &[
        (bad_lrc, MagstripeError::BadLrc(2)),
        (
            ";4111111111111111=2812101".into(),
            MagstripeError::NoEndSentinel(2),
        ),
        (";4111=2813101?".into(), MagstripeError::BadExpiry(2)),
        (";4111=28121?".into(), MagstripeError::BadServiceCode(2)),
        (";41A1=2812101?".into(), MagstripeError::BadCharacter(2)),
        (";4111?".into(), MagstripeError::MissingSeparator(2)),
        (";=2812101?".into(), MagstripeError::BadPan(2)),
        ("%A4111^DOE/J^2812101?".into(), MagstripeError::FormatCode),
        ("%B4111^D^2812101?".into(), MagstripeError::BadName),
        (
            format!("{t1};4000000000000002=2812101?"),
            MagstripeError::PanMismatch,
        ),
        ("%E?;E?".into(), MagstripeError::ReadError),
        (format!("{t2}junk"), MagstripeError::BadLrc(2)),
        (
            format!(";{}=2812101?", "1".repeat(40)),
            MagstripeError::TooLong(2),
        ),
    ];
    for (frame, err) in invalid {
        assert_eq!(
            parse(frame),
            unrec(Unrecognized::Magstripe(err.clone())),
            "{frame}"
        );
    }
}

#[test]
fn wiegand_26() {
    // Facility 123, card 12345, worked by hand: data 0x7B3039, first 12 bits have 8 ones
    // (even parity 0), last 12 bits have 4 ones (odd parity 1).
    let good = "00111101100110000001110011";
    let mut rules = CredentialRules::defaults();
    rules.wiegand_hex_prefix = "W:".into();
    let flip = |s: &str, i: usize| {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'0' { b'1' } else { b'0' };
        String::from_utf8(b).expect("ascii")
    };
    let value = u32::from_str_radix(good, 2).expect("bits");
    let cases: Vec<(String, CredentialKind)> = vec![
        (
            good.into(),
            CredentialKind::Wiegand26(portico::input::credential::Wiegand26 {
                facility_code: 123,
                card_number: 12345,
            }),
        ),
        (
            format!("W:{value:07X}"),
            CredentialKind::Wiegand26(portico::input::credential::Wiegand26 {
                facility_code: 123,
                card_number: 12345,
            }),
        ),
        (
            flip(good, 0),
            unrec(Unrecognized::Wiegand(WiegandError::EvenParity)),
        ),
        (
            flip(good, 25),
            unrec(Unrecognized::Wiegand(WiegandError::OddParity)),
        ),
        // A data bit flipped in the first half breaks the even parity.
        (
            flip(good, 5),
            unrec(Unrecognized::Wiegand(WiegandError::EvenParity)),
        ),
        (
            flip(good, 20),
            unrec(Unrecognized::Wiegand(WiegandError::OddParity)),
        ),
        (
            "W:4000000".into(),
            unrec(Unrecognized::Wiegand(WiegandError::TooLarge)),
        ),
        (
            "W:XYZ".into(),
            unrec(Unrecognized::Wiegand(WiegandError::NotHex)),
        ),
    ];
    for (frame, want) in cases {
        let got = parse_with(
            rules.clone(),
            frame.as_bytes(),
            FormatSet::barcode_default(),
        );
        assert_eq!(got, want, "{frame}");
    }
    // The encoder used by tools agrees with the hand-worked bits.
    assert_eq!(
        portico::input::credential::wiegand::encode(123, 12345),
        value
    );
}

#[test]
fn rfid_uids() {
    let rfid_only: FormatSet = [CredentialFormat::RfidUid].into_iter().collect();
    struct Case {
        format: RfidFormat,
        order: ByteOrder,
        frame: &'static str,
        want: Result<&'static [u8], RfidError>,
    }
    let cases = [
        Case {
            format: RfidFormat::Hex,
            order: ByteOrder::MsbFirst,
            frame: "04A1B2C3D4E5F6",
            want: Ok(&[0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6]),
        },
        Case {
            format: RfidFormat::Hex,
            order: ByteOrder::MsbFirst,
            frame: "de:ad:be:ef",
            want: Ok(&[0xDE, 0xAD, 0xBE, 0xEF]),
        },
        Case {
            format: RfidFormat::Hex,
            order: ByteOrder::LsbFirst,
            frame: "EFBEADDE",
            want: Ok(&[0xDE, 0xAD, 0xBE, 0xEF]),
        },
        Case {
            format: RfidFormat::Decimal,
            order: ByteOrder::MsbFirst,
            frame: "3735928559",
            want: Ok(&[0xDE, 0xAD, 0xBE, 0xEF]),
        },
        Case {
            format: RfidFormat::Decimal,
            order: ByteOrder::LsbFirst,
            frame: "4022250974",
            want: Ok(&[0xDE, 0xAD, 0xBE, 0xEF]),
        },
        Case {
            format: RfidFormat::Decimal,
            order: ByteOrder::MsbFirst,
            frame: "0000000001",
            want: Ok(&[0, 0, 0, 1]),
        },
        Case {
            format: RfidFormat::Hex,
            order: ByteOrder::MsbFirst,
            frame: "ABC",
            want: Err(RfidError::NotANumber("hex")),
        },
        Case {
            format: RfidFormat::Hex,
            order: ByteOrder::MsbFirst,
            frame: "0102030405",
            want: Err(RfidError::Length(5)),
        },
        Case {
            format: RfidFormat::Decimal,
            order: ByteOrder::MsbFirst,
            frame: "12AB",
            want: Err(RfidError::NotANumber("decimal")),
        },
    ];
    for c in cases {
        let mut rules = CredentialRules::defaults();
        rules.rfid.format = c.format;
        rules.rfid.byte_order = c.order;
        let got = parse_with(rules, c.frame.as_bytes(), rfid_only);
        match (got, c.want) {
            (CredentialKind::RfidUid { uid, uid_hex }, Ok(want)) => {
                assert_eq!(uid, want, "{}", c.frame);
                assert_eq!(uid_hex, data_encoding::HEXUPPER.encode(want));
            }
            (CredentialKind::Unrecognized { reason }, Err(e)) => {
                assert_eq!(reason, Unrecognized::Rfid(e), "{}", c.frame)
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", c.frame),
        }
    }
    // Readers not configured for RFID read the same digits as a membership number.
    assert_eq!(
        parse("3735928559"),
        CredentialKind::Membership {
            membership_id: "3735928559".into()
        }
    );
}

#[test]
fn gs1_element_strings() {
    let gsrn_body = "801806141411234567890";
    let gsrn = format!(
        "{gsrn_body}{}",
        portico::input::credential::gs1::check_digit(&gsrn_body[4..])
    );
    let valid: Vec<(String, Vec<(&str, String)>)> = vec![
        (
            "]C1010950110153000317251231".into(),
            vec![("01", "09501101530003".into()), ("17", "251231".into())],
        ),
        (
            format!("]d210ABC-1{GS}0109501101530003"),
            vec![("10", "ABC-1".into()), ("01", "09501101530003".into())],
        ),
        (
            format!("]Q3{GS}0109501101530003{GS}21SERIAL1{GS}10LOT9"),
            vec![
                ("01", "09501101530003".into()),
                ("21", "SERIAL1".into()),
                ("10", "LOT9".into()),
            ],
        ),
        (
            format!("{GS}0109501101530003{GS}21SERIAL1"),
            vec![("01", "09501101530003".into()), ("21", "SERIAL1".into())],
        ),
        (
            "(01)09501101530003(17)251231(10)AB12".into(),
            vec![
                ("01", "09501101530003".into()),
                ("17", "251231".into()),
                ("10", "AB12".into()),
            ],
        ),
        (format!("]Q3{gsrn}"), vec![("8018", gsrn[4..].to_owned())]),
        (
            "]C1310300150017251200".into(),
            vec![("3103", "001500".into()), ("17", "251200".into())],
        ),
    ];
    for (frame, want) in &valid {
        match parse(frame) {
            CredentialKind::Gs1 { elements } => {
                let got: Vec<(&str, String)> = elements
                    .iter()
                    .map(|e| (e.ai.as_str(), e.value.clone()))
                    .collect();
                assert_eq!(&got, want, "{frame}");
            }
            other => panic!("{frame}: {other:?}"),
        }
    }
    let invalid: Vec<(String, Gs1Error)> = vec![
        (
            "]C10109501101530004".into(),
            Gs1Error::CheckDigit("01".into()),
        ),
        ("]C1010950110153".into(), Gs1Error::Truncated("01".into())),
        (
            "]C1010950110153000317251331".into(),
            Gs1Error::BadDate("17".into()),
        ),
        ("]C12301".into(), Gs1Error::UnknownAi(3)),
        // A four-digit AI cut short (found by fuzzing).
        ("]Q336".into(), Gs1Error::UnknownAi(3)),
        ("]C13103".into(), Gs1Error::Truncated("3103".into())),
        (
            format!("]C110{}", "A".repeat(21)),
            Gs1Error::TooLong("10".into()),
        ),
        (
            "]C101095011015300A3".into(),
            Gs1Error::BadCharacter("01".into()),
        ),
        (format!("]C1{GS}"), Gs1Error::Empty),
        ("(01)0950110153000".into(), Gs1Error::Truncated("01".into())),
        ("(01)09501101530003)".into(), Gs1Error::TooLong("01".into())),
        (
            format!("]d210ABC-1{GS}21SER 1"),
            Gs1Error::BadCharacter("21".into()),
        ),
        (format!("]C110{GS}01"), Gs1Error::Truncated("10".into())),
    ];
    for (frame, err) in invalid {
        assert_eq!(
            parse(&frame),
            unrec(Unrecognized::Gs1(err.clone())),
            "{frame}"
        );
    }
}

fn ticket_fields(validity: TicketValidity) -> TicketFields {
    TicketFields {
        ticket_id: 0x0102_0304_0506_0708,
        product_id: "GA-ADULT".into(),
        validity,
        uses: 2,
    }
}

#[test]
fn signed_tickets() {
    let key = test_signing_key(7);
    let other = test_signing_key(8);
    let date = NaiveDate::from_ymd_opt(2026, 12, 24).expect("date");
    let slot_start = date.and_hms_opt(10, 30, 0).expect("time");
    let slot_end = date.and_hms_opt(11, 0, 0).expect("time");
    let validities = [
        TicketValidity::Open,
        TicketValidity::Date { date },
        TicketValidity::Slot {
            start: slot_start,
            end: slot_end,
        },
    ];
    let mut rules = CredentialRules::defaults();
    rules.signing_keys = vec![(1, key.verifying_key()), (2, other.verifying_key())];
    for v in validities {
        let fields = ticket_fields(v);
        let text = signed_ticket::issue(&fields, 1, &key).expect("issue");
        assert!(text.starts_with("PT:"));
        assert!(text.len() < 160, "fits a small QR code: {}", text.len());
        match parse_with(rules.clone(), text.as_bytes(), FormatSet::barcode_default()) {
            CredentialKind::SignedTicket(t) => {
                assert_eq!(t.key_id, 1);
                assert_eq!(t.fields, fields);
            }
            other => panic!("{other:?}"),
        }
    }

    let good = signed_ticket::issue(&ticket_fields(TicketValidity::Open), 1, &key).expect("issue");
    let wrong_key =
        signed_ticket::issue(&ticket_fields(TicketValidity::Open), 1, &other).expect("issue");
    let unknown_id =
        signed_ticket::issue(&ticket_fields(TicketValidity::Open), 9, &key).expect("issue");
    // Tamper with a signature character (and with a data character).
    let tamper = |text: &str, from_end: usize| {
        let mut b = text.as_bytes().to_vec();
        let i = b.len() - from_end;
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).expect("ascii")
    };
    let mut bytes = data_encoding::BASE32_NOPAD
        .decode(&good.as_bytes()[3..])
        .expect("base32");
    bytes[0] = 2;
    let v2 = format!("PT:{}", data_encoding::BASE32_NOPAD.encode(&bytes));
    let mut long = data_encoding::BASE32_NOPAD
        .decode(&good.as_bytes()[3..])
        .expect("base32");
    let short = format!(
        "PT:{}",
        data_encoding::BASE32_NOPAD.encode(&long[..long.len() - 10])
    );
    long.push(0);
    let trailing = format!("PT:{}", data_encoding::BASE32_NOPAD.encode(&long));
    let cases: Vec<(String, TicketError)> = vec![
        (tamper(&good, 20), TicketError::BadSignature),
        (tamper(&good, good.len() - 10), TicketError::BadSignature),
        (wrong_key, TicketError::BadSignature),
        (unknown_id, TicketError::UnknownKey(9)),
        (short, TicketError::Truncated),
        ("PT:AE".into(), TicketError::Truncated),
        ("PT:".into(), TicketError::Truncated),
        (v2, TicketError::Version(2)),
        (trailing, TicketError::TrailingBytes),
        ("PT:not base32!".into(), TicketError::Encoding),
        (
            good.to_lowercase().replacen("pt:", "PT:", 1),
            TicketError::Encoding,
        ),
    ];
    for (text, err) in cases {
        assert_eq!(
            parse_with(rules.clone(), text.as_bytes(), FormatSet::barcode_default()),
            unrec(Unrecognized::SignedTicket(err.clone())),
            "{text}"
        );
    }
    // Issuing refuses what the format cannot carry.
    let mut f = ticket_fields(TicketValidity::Open);
    f.product_id = "X".repeat(33);
    assert_eq!(
        signed_ticket::issue(&f, 1, &key),
        Err(TicketError::BadField("product_id"))
    );
    let mut f = ticket_fields(TicketValidity::Open);
    f.uses = 0;
    assert_eq!(
        signed_ticket::issue(&f, 1, &key),
        Err(TicketError::BadField("uses"))
    );
    let f = ticket_fields(TicketValidity::Slot {
        start: slot_end,
        end: slot_start,
    });
    assert_eq!(
        signed_ticket::issue(&f, 1, &key),
        Err(TicketError::BadField("slot"))
    );
}

#[test]
fn format_restrictions_and_invalid_utf8() {
    let only_membership: FormatSet = [CredentialFormat::Membership].into_iter().collect();
    assert_eq!(
        parse_with(CredentialRules::defaults(), b"8-10001234", only_membership),
        unrec(Unrecognized::NoMatch)
    );
    assert_eq!(
        parse_with(
            CredentialRules::defaults(),
            b";4111=2812101?",
            only_membership
        ),
        unrec(Unrecognized::NoMatch)
    );
    assert_eq!(
        parse_with(
            CredentialRules::defaults(),
            b"12\xff34",
            FormatSet::barcode_default()
        ),
        unrec(Unrecognized::NotUtf8 { valid_up_to: 2 })
    );
}
