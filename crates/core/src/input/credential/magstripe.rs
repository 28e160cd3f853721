//! Magnetic stripe tracks in the ISO/IEC 7813 layout.
//!
//! Track 1: `%B` PAN `^` NAME `^` YYMM service-code discretionary `?` \[LRC\]
//! Track 2: `;` PAN `=` YYMM service-code discretionary `?` \[LRC\]
//!
//! A reader may send either track or both (track 1 first). Sentinels are required. When a
//! character follows an end sentinel and is not the next track's start sentinel, it is the
//! longitudinal redundancy check and must match: track 1 characters are 6-bit (ASCII − 0x20),
//! track 2 characters 4-bit (ASCII − 0x30); the LRC is the XOR of every character from the
//! start sentinel to the end sentinel inclusive, in the same encoding. A track the reader could
//! not read (`%E?`, `;E?`) is reported as missing; a frame with no readable track is an error.

use serde::Serialize;

/// Year and month of a card's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Expiry {
    pub year: u16,
    pub month: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Track1 {
    pub pan: String,
    /// The cardholder name as encoded (`SURNAME/GIVEN`), trimmed.
    pub name: String,
    pub expiry: Expiry,
    pub service_code: String,
    pub discretionary: String,
    /// Whether an LRC character was present (and matched).
    pub lrc_checked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Track2 {
    pub pan: String,
    pub expiry: Expiry,
    pub service_code: String,
    pub discretionary: String,
    pub lrc_checked: bool,
}

/// A magnetic stripe read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MagstripeCard {
    pub track1: Option<Track1>,
    pub track2: Option<Track2>,
}

impl MagstripeCard {
    /// The primary account number, from track 2 if present, else track 1.
    pub fn pan(&self) -> Option<&str> {
        self.track2
            .as_ref()
            .map(|t| t.pan.as_str())
            .or(self.track1.as_ref().map(|t| t.pan.as_str()))
    }

    /// Whether the PAN passes the Luhn check (informational: venue cards need not).
    pub fn pan_luhn_valid(&self) -> bool {
        self.pan().is_some_and(luhn_valid)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum MagstripeError {
    #[error("track {0}: no end sentinel")]
    NoEndSentinel(u8),
    #[error("track {0}: bad LRC")]
    BadLrc(u8),
    #[error("track {0}: character not allowed on this track")]
    BadCharacter(u8),
    #[error("track 1: format code is not B")]
    FormatCode,
    #[error("track {0}: field separator missing")]
    MissingSeparator(u8),
    #[error("track {0}: PAN must be 1 to 19 digits")]
    BadPan(u8),
    #[error("track 1: name must be 2 to 26 characters")]
    BadName,
    #[error("track {0}: expiry must be YYMM with month 01-12")]
    BadExpiry(u8),
    #[error("track {0}: service code must be 3 digits")]
    BadServiceCode(u8),
    #[error("track {0}: too long")]
    TooLong(u8),
    #[error("unexpected data outside the tracks")]
    TrailingData,
    #[error("the reader could not read any track")]
    ReadError,
    #[error("track 2 PAN differs from track 1 PAN")]
    PanMismatch,
}

/// Whether the frame starts like a magstripe read.
pub fn looks_like(text: &str) -> bool {
    text.starts_with('%') || text.starts_with(';')
}

/// Parses one or two tracks.
pub fn parse(text: &str) -> Result<MagstripeCard, MagstripeError> {
    let b = text.as_bytes();
    let mut card = MagstripeCard {
        track1: None,
        track2: None,
    };
    let mut any_track = false;
    let mut i = 0;
    while i < b.len() {
        let (track, end_max) = match b[i] {
            b'%' if !any_track => (1u8, 79usize),
            b';' => (2u8, 40usize),
            _ => return Err(MagstripeError::TrailingData),
        };
        let end = b[i + 1..]
            .iter()
            .position(|&c| c == b'?')
            .map(|p| i + 1 + p)
            .ok_or(MagstripeError::NoEndSentinel(track))?;
        let body = &b[i + 1..end];
        if body.len() > end_max {
            return Err(MagstripeError::TooLong(track));
        }
        let offset = if track == 1 { 0x20 } else { 0x30 };
        let limit = if track == 1 { 0x5F } else { 0x3F };
        let read_error = body == b"E";
        if !read_error && body.iter().any(|&c| c < offset || c > limit) {
            return Err(MagstripeError::BadCharacter(track));
        }
        let lrc = b[i..=end]
            .iter()
            .fold(0u8, |acc, &c| acc ^ (c.wrapping_sub(offset) & 0x3F));
        let mut next = end + 1;
        let mut lrc_checked = false;
        if let Some(&c) = b.get(next).filter(|_| !read_error) {
            let next_is_track = c == b';' && track == 1;
            if c == lrc + offset {
                lrc_checked = true;
                next += 1;
            } else if !next_is_track {
                return Err(MagstripeError::BadLrc(track));
            }
        }
        any_track = true;
        // Track 2 body is ASCII digits and separators; track 1 is ASCII too, so `from_utf8`
        // cannot fail, but stay total.
        let body = std::str::from_utf8(body).map_err(|_| MagstripeError::BadCharacter(track))?;
        if !read_error {
            if track == 1 {
                card.track1 = Some(parse_track1(body, lrc_checked)?);
            } else {
                card.track2 = Some(parse_track2(body, lrc_checked)?);
            }
        }
        i = next;
        if track == 2 {
            break;
        }
    }
    if i < b.len() {
        return Err(MagstripeError::TrailingData);
    }
    if card.track1.is_none() && card.track2.is_none() {
        return Err(MagstripeError::ReadError);
    }
    if let (Some(t1), Some(t2)) = (&card.track1, &card.track2)
        && t1.pan != t2.pan
    {
        return Err(MagstripeError::PanMismatch);
    }
    Ok(card)
}

fn parse_track1(body: &str, lrc_checked: bool) -> Result<Track1, MagstripeError> {
    let rest = body.strip_prefix('B').ok_or(MagstripeError::FormatCode)?;
    let mut parts = rest.splitn(3, '^');
    let pan = parts.next().unwrap_or_default();
    let name = parts.next().ok_or(MagstripeError::MissingSeparator(1))?;
    let tail = parts.next().ok_or(MagstripeError::MissingSeparator(1))?;
    check_pan(pan, 1)?;
    let name = name.trim();
    if !(2..=26).contains(&name.len()) {
        return Err(MagstripeError::BadName);
    }
    let (expiry, service_code, discretionary) = expiry_service(tail, 1)?;
    Ok(Track1 {
        pan: pan.to_owned(),
        name: name.to_owned(),
        expiry,
        service_code,
        discretionary,
        lrc_checked,
    })
}

fn parse_track2(body: &str, lrc_checked: bool) -> Result<Track2, MagstripeError> {
    let (pan, tail) = body
        .split_once('=')
        .ok_or(MagstripeError::MissingSeparator(2))?;
    check_pan(pan, 2)?;
    let (expiry, service_code, discretionary) = expiry_service(tail, 2)?;
    Ok(Track2 {
        pan: pan.to_owned(),
        expiry,
        service_code,
        discretionary,
        lrc_checked,
    })
}

fn check_pan(pan: &str, track: u8) -> Result<(), MagstripeError> {
    if (1..=19).contains(&pan.len()) && pan.bytes().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(MagstripeError::BadPan(track))
    }
}

fn expiry_service(tail: &str, track: u8) -> Result<(Expiry, String, String), MagstripeError> {
    let t = tail.as_bytes();
    if t.len() < 4 || !t[..4].iter().all(u8::is_ascii_digit) {
        return Err(MagstripeError::BadExpiry(track));
    }
    let yy = u16::from(t[0] - b'0') * 10 + u16::from(t[1] - b'0');
    let mm = (t[2] - b'0') * 10 + (t[3] - b'0');
    if !(1..=12).contains(&mm) {
        return Err(MagstripeError::BadExpiry(track));
    }
    if t.len() < 7 || !t[4..7].iter().all(u8::is_ascii_digit) {
        return Err(MagstripeError::BadServiceCode(track));
    }
    Ok((
        Expiry {
            year: 2000 + yy,
            month: mm,
        },
        tail[4..7].to_owned(),
        tail[7..].to_owned(),
    ))
}

/// Luhn (mod 10) check over a digit string.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Appends the LRC character for a complete track (sentinels included). For tests and tools.
pub fn with_lrc(track: &str) -> String {
    let offset = if track.starts_with('%') { 0x20 } else { 0x30 };
    let lrc = track
        .bytes()
        .fold(0u8, |acc, c| acc ^ c.wrapping_sub(offset) & 0x3F);
    let mut s = track.to_owned();
    s.push(char::from(lrc + offset));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_lrc_output_passes_the_parser() {
        let t = with_lrc(";4111111111111111=2812101?");
        let card = parse(&t).expect("valid");
        assert!(card.track2.as_ref().is_some_and(|t| t.lrc_checked));
        assert!(card.pan_luhn_valid());
    }
}
