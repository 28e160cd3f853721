//! Fuzz target bodies. The cargo-fuzz targets in `fuzz/` call these, and unit and property
//! tests call them too, so they are exercised on the stable toolchain as well. Each asserts the
//! invariants that must hold for any input.

use std::sync::OnceLock;
use std::time::Duration;

use super::credential::{
    CredentialFormat, CredentialParser, CredentialRules, FormatSet, RfidFormat,
};
use super::framer::{FramerOutput, FramingConfig, SerialFramer, Terminator};
use super::keydecoder::{INPUT_EVENT_SIZE, KeyDecoder};
use super::keymap::Layout;

fn framing_from(sel: u8) -> FramingConfig {
    let terminator = match sel % 8 {
        0 => Terminator::Cr,
        1 => Terminator::Lf,
        2 => Terminator::Crlf,
        3 => Terminator::Tab,
        4 => Terminator::Eot,
        5 => Terminator::Any,
        _ => Terminator::None,
    };
    FramingConfig {
        terminator,
        idle_gap: (sel & 0x10 != 0 || terminator == Terminator::None)
            .then(|| Duration::from_millis(u64::from(sel >> 5) * 10 + 1)),
        stx_etx: sel & 0x08 != 0,
        strip_prefix: if sel & 0x20 != 0 {
            b"]Q".to_vec()
        } else {
            Vec::new()
        },
        strip_suffix: if sel & 0x40 != 0 {
            b"#".to_vec()
        } else {
            Vec::new()
        },
        max_frame_len: usize::from(sel % 64) + 1,
    }
}

fn check_outputs(cfg: &FramingConfig, outs: &[FramerOutput]) {
    for o in outs {
        if let FramerOutput::Frame(f) = o {
            assert!(!f.bytes.is_empty(), "empty frame emitted");
            assert!(f.bytes.len() <= cfg.max_frame_len, "frame over the maximum");
            assert!(f.first_at <= f.last_at, "frame time runs backwards");
        }
    }
}

/// Framer: byte 0 picks the framing, then chunks of `[len, time step, bytes…]`.
pub fn framer(data: &[u8]) {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let cfg = framing_from(sel);
    let mut f = SerialFramer::new(cfg.clone());
    let mut outs = Vec::new();
    let mut now = Duration::ZERO;
    while let [len, step, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        now += Duration::from_millis(u64::from(*step));
        f.push(now, &tail[..n], &mut outs);
        rest = &tail[n..];
    }
    f.poll(now + Duration::from_secs(10), &mut outs);
    check_outputs(&cfg, &outs);
    assert!(
        f.is_idle(),
        "framer keeps a partial frame after a long silence"
    );
}

/// Key decoder: byte 0 picks layout and framing, the rest is `input_event` records.
pub fn key_decoder(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let layout = Layout::ALL[usize::from(sel & 3)];
    let cfg = framing_from(sel >> 2);
    let mut d = KeyDecoder::new(layout, cfg.clone());
    let mut outs = Vec::new();
    d.push_records(rest, &mut outs);
    let end = rest
        .chunks_exact(INPUT_EVENT_SIZE)
        .map(|c| {
            let mut r = [0u8; INPUT_EVENT_SIZE];
            r.copy_from_slice(c);
            super::keydecoder::RawInputEvent::from_bytes(&r).time
        })
        .max()
        .unwrap_or_default();
    d.poll(end + Duration::from_secs(10), &mut outs);
    check_outputs(&cfg, &outs);
    for o in &outs {
        if let FramerOutput::Frame(f) = o {
            assert!(
                std::str::from_utf8(&f.bytes).is_ok(),
                "key decoder produced invalid UTF-8"
            );
        }
    }
}

/// A parser with every format on, including a signing key and a Wiegand hex prefix.
pub fn fuzz_parser(rfid: RfidFormat) -> CredentialParser {
    let mut rules = CredentialRules::defaults();
    let key = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
    rules.signing_keys = vec![(1, key.verifying_key())];
    rules.wiegand_hex_prefix = "W:".to_owned();
    rules.rfid.format = rfid;
    CredentialParser::new(rules)
}

/// Credential parser: byte 0 picks the format set; the rest is the frame.
pub fn credential_parser(data: &[u8]) {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    static PARSERS: OnceLock<[CredentialParser; 2]> = OnceLock::new();
    let parsers = PARSERS.get_or_init(|| {
        [
            fuzz_parser(RfidFormat::Hex),
            fuzz_parser(RfidFormat::Decimal),
        ]
    });
    let parser = &parsers[usize::from(sel & 1)];
    let formats: FormatSet = CredentialFormat::ALL
        .into_iter()
        .enumerate()
        .filter(|(i, _)| sel == 0xFF || (sel >> 1) & (1 << (i % 7)) != 0 || *i == 7)
        .map(|(_, f)| f)
        .collect();
    let c = parser.parse("fuzz", frame, formats);
    assert_eq!(c.raw, frame);
    let all = parser.parse("fuzz", frame, FormatSet::all());
    assert_eq!(all.raw, frame);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_accept_sample_inputs() {
        let samples: &[&[u8]] = &[
            b"",
            b"\x00",
            b"\x05\x01\x00ABC\r\n\x02\x00\xff\xfe",
            b"\x0e\x10\x05\x02AB\x03\x02C",
            &[0x46; 200],
            b"\x01%B4111^A^2?",
            b"\x01;1=2812?x",
            b"\xffPT:AAAA",
            b"\xff]C10100000000000000",
            b"\x03W:3FFFFFF",
            // Found by fuzzing: event times stepping back inside a code.
            b"\xdd\x01\x00\x00\x45\x00\x00\x00\x7d\xff\xff\xff\x2a\x2a\x2a\x2a\xd5\x01\x00\x11\x00\x01\x00\x00\x00\x00\x00\x57\x00\x00\x7b\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xd5\xd5\xd5\x01\x00\x11\x00\x01\x00\x00\x00\x00\x00\x57\x00\x00\x7b\x00\xff\xff\xff\xd5\x31\x00\x00",
        ];
        for s in samples {
            framer(s);
            key_decoder(s);
            credential_parser(s);
        }
    }
}
