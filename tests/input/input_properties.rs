//! Property tests: no input makes a framer, decoder or parser panic, and the encoders and
//! decoders agree.

use std::time::Duration;

use portico::domain::TicketValidity;
use portico::input::credential::signed_ticket::{self, TicketFields};
use portico::input::credential::{CredentialKind, FormatSet, RfidFormat, gs1, magstripe, wiegand};
use portico::input::dedupe::Deduper;
use portico::input::framer::{FramerOutput, FramingConfig, SerialFramer, Terminator};
use portico::input::fuzz_entry;
use portico::input::keydecoder::{KeyDecoder, RawInputEvent, synthesize};
use portico::input::keymap::Layout;
use proptest::prelude::*;

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::Us),
        Just(Layout::Uk),
        Just(Layout::De),
        Just(Layout::Fr)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn framer_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzz_entry::framer(&data);
    }

    #[test]
    fn key_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        fuzz_entry::key_decoder(&data);
    }

    #[test]
    fn key_decoder_never_panics_on_plausible_key_events(
        sel in any::<u8>(),
        evs in proptest::collection::vec((0u16..4, 0u16..130, -1i32..4, 0u64..200), 0..300),
    ) {
        // Mostly EV_KEY with real key codes, so modifiers, dead keys and alt codes are hit.
        let mut bytes = vec![sel];
        let mut t = Duration::ZERO;
        for (kind, code, value, dt) in evs {
            t += Duration::from_millis(dt);
            let kind = if kind == 0 { 0 } else { 1 };
            bytes.extend_from_slice(&RawInputEvent::new(t, kind, code, value).to_bytes());
        }
        fuzz_entry::key_decoder(&bytes);
    }

    #[test]
    fn credential_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        fuzz_entry::credential_parser(&data);
    }

    #[test]
    fn credential_parser_never_panics_on_format_shaped_text(
        sel in any::<u8>(),
        text in "(%B|;|PT:|\\]C1|\\(01\\)|W:|\\x1d)?[0-9A-Z=^?/ \\x1d()-]{0,80}",
    ) {
        let mut data = vec![sel];
        data.extend_from_slice(text.as_bytes());
        fuzz_entry::credential_parser(&data);
    }

    #[test]
    fn framer_splits_do_not_change_frames(
        frames in proptest::collection::vec("[0-9A-Z]{1,20}", 1..10),
        cuts in proptest::collection::vec(0usize..200, 0..10),
    ) {
        let mut stream = Vec::new();
        for f in &frames {
            stream.extend_from_slice(f.as_bytes());
            stream.push(b'\r');
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
        cuts.sort_unstable();
        let mut framer = SerialFramer::new(FramingConfig::default());
        let mut out = Vec::new();
        let mut prev = 0;
        for (i, c) in cuts.into_iter().chain([stream.len()]).enumerate() {
            framer.push(Duration::from_millis(i as u64), &stream[prev..c], &mut out);
            prev = c;
        }
        let got: Vec<String> = out.into_iter().filter_map(|o| match o {
            FramerOutput::Frame(f) => String::from_utf8(f.bytes).ok(),
            FramerOutput::Dropped(_) => None,
        }).collect();
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn typed_text_decodes_to_itself(layout in layout(), text in "[ -~]{1,40}") {
        // Characters a layout can only type with a dead key are skipped by the synthesiser,
        // so compare with what it actually typed.
        let evs = synthesize(layout, &format!("{text}\r"), Duration::ZERO, Duration::from_millis(1));
        let mut d = KeyDecoder::new(layout, FramingConfig { terminator: Terminator::Any, ..FramingConfig::default() });
        let mut out = Vec::new();
        for e in &evs {
            d.push(*e, &mut out);
        }
        let typable: String = text.chars().filter(|c| {
            !synthesize(layout, &c.to_string(), Duration::ZERO, Duration::ZERO).is_empty()
        }).collect();
        let got: Vec<String> = out.into_iter().filter_map(|o| match o {
            FramerOutput::Frame(f) => String::from_utf8(f.bytes).ok(),
            FramerOutput::Dropped(_) => None,
        }).collect();
        let want: Vec<String> = if typable.is_empty() { vec![] } else { vec![typable] };
        prop_assert_eq!(got, want);
    }

    #[test]
    fn wiegand_round_trips(fc in any::<u8>(), card in any::<u16>()) {
        let v = wiegand::encode(fc, card);
        let w = wiegand::parse_bits(&wiegand::to_bits(v)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!((w.facility_code, w.card_number), (fc, card));
        // Any single bit flip is caught by one of the parities.
        for bit in 0..26 {
            prop_assert!(wiegand::decode(v ^ (1 << bit)).is_err());
        }
    }

    #[test]
    fn signed_tickets_round_trip(
        id in any::<u64>(),
        product in "[A-Z0-9-]{1,32}",
        days in 0u16..20000,
        uses in 1u16..,
        seed in any::<u8>(),
    ) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let date = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
            + chrono::TimeDelta::days(i64::from(days));
        let fields = TicketFields { ticket_id: id, product_id: product, validity: TicketValidity::Date { date }, uses };
        let text = signed_ticket::issue(&fields, 5, &key).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let t = signed_ticket::verify(&text, &[(5, key.verifying_key())]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(t.fields, fields);
    }

    #[test]
    fn gs1_check_digits_are_verified(body in "[0-9]{13}") {
        let good = format!("]C101{body}{}", gs1::check_digit(&body));
        let parser = fuzz_entry::fuzz_parser(RfidFormat::Hex);
        let is_gs1 = matches!(parser.classify(good.as_bytes(), FormatSet::all()), CredentialKind::Gs1 { .. });
        prop_assert!(is_gs1);
        let last = good.as_bytes()[good.len() - 1];
        let bad = format!("{}{}", &good[..good.len() - 1], char::from(b'0' + (last - b'0' + 1) % 10));
        let bad_rejected = matches!(parser.classify(bad.as_bytes(), FormatSet::all()), CredentialKind::Unrecognized { .. });
        prop_assert!(bad_rejected);
    }

    #[test]
    fn magstripe_lrc_round_trips(pan in "[0-9]{1,19}", yy in 0u8..100, mm in 1u8..13) {
        let t = magstripe::with_lrc(&format!(";{pan}={yy:02}{mm:02}101?"));
        let card = magstripe::parse(&t).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(card.pan(), Some(pan.as_str()));
    }

    #[test]
    fn dedupe_counts_once_per_window(
        scans in proptest::collection::vec((0u8..3, 0u8..3, 0u64..3000), 1..60),
    ) {
        // Model: a scan counts iff the same (reader, code) was not seen within 1500 ms before.
        let mut d = Deduper::new(Duration::from_millis(1500));
        let mut t = 0u64;
        let mut last_seen: std::collections::HashMap<(u8, u8), u64> = Default::default();
        for (reader, code, dt) in scans {
            t += dt;
            let counted = d.admit(&format!("r{reader}"), &[code], Duration::from_millis(t));
            let want = last_seen.get(&(reader, code)).is_none_or(|prev| t - prev >= 1500);
            last_seen.insert((reader, code), t);
            prop_assert_eq!(counted, want);
        }
    }
}
