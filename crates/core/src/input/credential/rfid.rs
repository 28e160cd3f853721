//! RFID/NFC card UIDs as readers print them: hex (optionally separated by `:`, `-` or spaces)
//! or decimal, in the card's byte order or reversed.

use serde::{Deserialize, Serialize};

/// How the reader prints the UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RfidFormat {
    Hex,
    Decimal,
}

/// The order of the UID bytes in what the reader prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ByteOrder {
    /// The first UID byte the card sends comes first (most significant when decimal).
    MsbFirst,
    /// Reversed: the first UID byte is least significant (common for decimal readers).
    LsbFirst,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum RfidError {
    #[error("not a {0} number")]
    NotANumber(&'static str),
    #[error("UID of {0} bytes is not an accepted length")]
    Length(usize),
}

/// Parses a UID. `lengths` lists the accepted UID lengths in bytes, ascending.
pub fn parse(
    text: &str,
    format: RfidFormat,
    order: ByteOrder,
    lengths: &[usize],
) -> Result<Vec<u8>, RfidError> {
    let mut uid = match format {
        RfidFormat::Hex => parse_hex(text)?,
        RfidFormat::Decimal => parse_decimal(text, lengths)?,
    };
    if !lengths.contains(&uid.len()) {
        return Err(RfidError::Length(uid.len()));
    }
    if order == ByteOrder::LsbFirst {
        uid.reverse();
    }
    Ok(uid)
}

fn parse_hex(text: &str) -> Result<Vec<u8>, RfidError> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !matches!(c, b':' | b'-' | b' '))
        .collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) || digits.len() > 64 {
        return Err(RfidError::NotANumber("hex"));
    }
    digits
        .chunks_exact(2)
        .map(|p| Some((hex_val(p[0])? << 4) | hex_val(p[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or(RfidError::NotANumber("hex"))
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn parse_decimal(text: &str, lengths: &[usize]) -> Result<Vec<u8>, RfidError> {
    if text.is_empty() || text.len() > 38 || !text.bytes().all(|c| c.is_ascii_digit()) {
        return Err(RfidError::NotANumber("decimal"));
    }
    let v: u128 = text.parse().map_err(|_| RfidError::NotANumber("decimal"))?;
    let needed = (16 - v.leading_zeros() as usize / 8).max(1);
    let len = lengths
        .iter()
        .copied()
        .filter(|&l| l >= needed && l <= 16)
        .min()
        .ok_or(RfidError::Length(needed))?;
    Ok(v.to_be_bytes()[16 - len..].to_vec())
}

/// Upper-case hex of a UID.
pub fn to_hex(uid: &[u8]) -> String {
    data_encoding::HEXUPPER.encode(uid)
}
