//! Wiegand 26-bit (HID H10301).
//!
//! Bits, first transmitted first: P(even) F7..F0 C15..C0 P(odd). The even parity bit covers
//! the first 12 data bits (bits 1–12), the odd parity bit the last 12 (bits 13–24). Readers
//! behind a Wiegand-to-serial converter send the 26 bits as a string of `0`/`1`, or as the
//! 26-bit value in hex after a configured prefix.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Wiegand26 {
    pub facility_code: u8,
    pub card_number: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum WiegandError {
    #[error("expected 26 bits, got {0}")]
    Length(usize),
    #[error("value does not fit in 26 bits")]
    TooLarge,
    #[error("not a hex number")]
    NotHex,
    #[error("even parity (first bit) does not match")]
    EvenParity,
    #[error("odd parity (last bit) does not match")]
    OddParity,
}

/// Whether the text is a 26-character bit string.
pub fn looks_like_bits(text: &str) -> bool {
    text.len() == 26 && text.bytes().all(|c| c == b'0' || c == b'1')
}

/// Decodes a bit string, first bit first.
pub fn parse_bits(text: &str) -> Result<Wiegand26, WiegandError> {
    if text.len() != 26 {
        return Err(WiegandError::Length(text.len()));
    }
    let mut v = 0u32;
    for c in text.bytes() {
        v = (v << 1)
            | match c {
                b'0' => 0,
                b'1' => 1,
                _ => return Err(WiegandError::Length(text.len())),
            };
    }
    decode(v)
}

/// Decodes the 26-bit value written in hex.
pub fn parse_hex(text: &str) -> Result<Wiegand26, WiegandError> {
    if text.is_empty() || text.len() > 8 {
        return Err(WiegandError::NotHex);
    }
    let v = u32::from_str_radix(text, 16).map_err(|_| WiegandError::NotHex)?;
    if v >> 26 != 0 {
        return Err(WiegandError::TooLarge);
    }
    decode(v)
}

/// Decodes a 26-bit frame held in the low bits of `v` (bit 25 = first transmitted bit).
pub fn decode(v: u32) -> Result<Wiegand26, WiegandError> {
    if v >> 26 != 0 {
        return Err(WiegandError::TooLarge);
    }
    let even = (v >> 25) & 1;
    let odd = v & 1;
    let first12 = (v >> 13) & 0xFFF;
    let last12 = (v >> 1) & 0xFFF;
    if !(first12.count_ones() + even).is_multiple_of(2) {
        return Err(WiegandError::EvenParity);
    }
    if (last12.count_ones() + odd) % 2 != 1 {
        return Err(WiegandError::OddParity);
    }
    Ok(Wiegand26 {
        facility_code: ((v >> 17) & 0xFF) as u8,
        card_number: ((v >> 1) & 0xFFFF) as u16,
    })
}

/// Encodes facility code and card number with correct parity (for tests and tools).
pub fn encode(facility_code: u8, card_number: u16) -> u32 {
    let data = (u32::from(facility_code) << 16) | u32::from(card_number);
    let first12 = data >> 12;
    let last12 = data & 0xFFF;
    let even = first12.count_ones() % 2;
    let odd = 1 - last12.count_ones() % 2;
    (even << 25) | (data << 1) | odd
}

/// The bit-string form of a 26-bit value.
pub fn to_bits(v: u32) -> String {
    (0..26)
        .rev()
        .map(|i| if (v >> i) & 1 == 1 { '1' } else { '0' })
        .collect()
}
