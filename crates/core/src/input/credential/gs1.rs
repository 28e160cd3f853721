//! GS1 element strings (GS1 General Specifications, section 3).
//!
//! Accepted forms: a symbology identifier (`]C1`, `]e0`, `]d2`, `]Q3`, `]J1`) or a leading
//! GS followed by element strings, variable-length elements ended by GS (ASCII 29, FNC1);
//! and the human-readable bracketed form `(01)09501101530003(17)251231(10)AB12`.
//!
//! Elements with a predefined length (AIs starting 00–04, 11–20, 31–36, 41) need no
//! separator. Check digits (GTIN, SSCC, GLN, GSRN …) and dates (YYMMDD) are verified.

use serde::Serialize;

const GS: u8 = 0x1D;

/// One element: application identifier and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gs1Element {
    pub ai: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Gs1Error {
    #[error("no element strings")]
    Empty,
    #[error("unknown application identifier at offset {0}")]
    UnknownAi(usize),
    #[error("AI ({0}) value is too short")]
    Truncated(String),
    #[error("AI ({0}) value is too long")]
    TooLong(String),
    #[error("AI ({0}) has a character not allowed there")]
    BadCharacter(String),
    #[error("AI ({0}) check digit does not match")]
    CheckDigit(String),
    #[error("AI ({0}) is not a valid date")]
    BadDate(String),
    #[error("bracketed form is malformed")]
    Brackets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chars {
    Numeric,
    Any,
}

#[derive(Debug, Clone, Copy)]
struct AiSpec {
    ai_len: usize,
    /// Data length: exact when `fixed`, else the maximum.
    len: usize,
    fixed: bool,
    chars: Chars,
    check: bool,
    date: bool,
}

const fn fx(ai_len: usize, len: usize) -> AiSpec {
    AiSpec {
        ai_len,
        len,
        fixed: true,
        chars: Chars::Numeric,
        check: false,
        date: false,
    }
}

const fn var(ai_len: usize, len: usize, chars: Chars) -> AiSpec {
    AiSpec {
        ai_len,
        len,
        fixed: false,
        chars,
        check: false,
        date: false,
    }
}

const fn chk(s: AiSpec) -> AiSpec {
    AiSpec { check: true, ..s }
}

const fn date(s: AiSpec) -> AiSpec {
    AiSpec { date: true, ..s }
}

/// Looks up the AI at the start of `d` (digits only).
fn spec(d: &[u8]) -> Option<AiSpec> {
    let n = |k: usize| -> Option<u32> {
        let s = d.get(..k)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(s.iter().fold(0u32, |a, c| a * 10 + u32::from(c - b'0')))
    };
    use Chars::*;
    let two = n(2)?;
    Some(match two {
        0 => chk(fx(2, 18)),
        1 | 2 => chk(fx(2, 14)),
        10 | 21 | 22 => var(2, 20, Any),
        11..=13 | 15..=17 => date(fx(2, 6)),
        20 => fx(2, 2),
        30 | 37 => var(2, 8, Numeric),
        31..=36 => fx(4, 6),
        90 => var(2, 30, Any),
        91..=99 => var(2, 90, Any),
        23 | 24 | 25 | 40 | 41 | 42 => match n(3)? {
            235 => var(3, 28, Any),
            240 | 241 | 250 | 251 => var(3, 30, Any),
            242 => var(3, 6, Numeric),
            253 => var(3, 30, Any),
            254 => var(3, 20, Any),
            255 => var(3, 25, Numeric),
            400 | 401 | 403 => var(3, 30, Any),
            402 => chk(fx(3, 17)),
            410..=417 => chk(fx(3, 13)),
            420 => var(3, 20, Any),
            421 => var(3, 12, Any),
            422 | 424 | 426 => fx(3, 3),
            423 | 425 => var(3, 15, Numeric),
            427 => var(3, 3, Any),
            _ => return None,
        },
        39 => match n(4)? {
            3900..=3909 | 3920..=3929 => var(4, 15, Numeric),
            3910..=3919 | 3930..=3939 => var(4, 18, Numeric),
            _ => return None,
        },
        70 => match n(4)? {
            7003 => fx(4, 10),
            7006 => date(fx(4, 6)),
            _ => return None,
        },
        80 => match n(4)? {
            8003 => var(4, 30, Any),
            8004 => var(4, 30, Any),
            8005 => fx(4, 6),
            8006 => fx(4, 18),
            8007 => var(4, 34, Any),
            8008 => var(4, 12, Numeric),
            8017 | 8018 => chk(fx(4, 18)),
            8020 => var(4, 25, Any),
            _ => return None,
        },
        82 => match n(4)? {
            8200 => var(4, 70, Any),
            _ => return None,
        },
        _ => return None,
    })
}

/// Whether the frame is in a form this module reads.
pub fn looks_like(b: &[u8]) -> bool {
    symbology_stripped(b).is_some() || b.first() == Some(&GS) || looks_bracketed(b)
}

fn looks_bracketed(b: &[u8]) -> bool {
    b.len() > 4 && b[0] == b'(' && b[1].is_ascii_digit() && b[2].is_ascii_digit()
}

fn symbology_stripped(b: &[u8]) -> Option<&[u8]> {
    ["]C1", "]e0", "]d2", "]Q3", "]J1"]
        .iter()
        .find_map(|p| b.strip_prefix(p.as_bytes()))
}

/// Parses element strings.
pub fn parse(b: &[u8]) -> Result<Vec<Gs1Element>, Gs1Error> {
    if looks_bracketed(b) {
        return parse_bracketed(b);
    }
    let mut d = symbology_stripped(b).unwrap_or(b);
    while d.first() == Some(&GS) {
        d = &d[1..];
    }
    let total = b.len();
    let mut out = Vec::new();
    while !d.is_empty() {
        let offset = total - d.len();
        let s = spec(d)
            .filter(|s| {
                d.get(..s.ai_len)
                    .is_some_and(|ai| ai.iter().all(u8::is_ascii_digit))
            })
            .ok_or(Gs1Error::UnknownAi(offset))?;
        let ai = &d[..s.ai_len];
        let ai_text = ascii(ai);
        let rest = &d[s.ai_len..];
        let (value, after) = if s.fixed {
            if rest.len() < s.len {
                return Err(Gs1Error::Truncated(ai_text));
            }
            rest.split_at(s.len)
        } else {
            let end = rest.iter().position(|&c| c == GS).unwrap_or(rest.len());
            rest.split_at(end)
        };
        check_value(&s, &ai_text, value)?;
        out.push(Gs1Element {
            ai: ai_text,
            value: ascii(value),
        });
        // A separator after a predefined-length element is tolerated; after a fixed-length
        // element without a predefined length it is required but accepted when missing.
        d = after.strip_prefix(&[GS]).unwrap_or(after);
    }
    if out.is_empty() {
        return Err(Gs1Error::Empty);
    }
    Ok(out)
}

fn parse_bracketed(b: &[u8]) -> Result<Vec<Gs1Element>, Gs1Error> {
    let mut out = Vec::new();
    let mut d = b;
    while !d.is_empty() {
        if d[0] != b'(' {
            return Err(Gs1Error::Brackets);
        }
        let close = d
            .iter()
            .position(|&c| c == b')')
            .ok_or(Gs1Error::Brackets)?;
        let ai = &d[1..close];
        let s = spec(ai).ok_or(Gs1Error::UnknownAi(b.len() - d.len() + 1))?;
        if s.ai_len != ai.len() {
            return Err(Gs1Error::UnknownAi(b.len() - d.len() + 1));
        }
        let rest = &d[close + 1..];
        let end = rest.iter().position(|&c| c == b'(').unwrap_or(rest.len());
        let (value, after) = rest.split_at(end);
        let ai_text = ascii(ai);
        if s.fixed && value.len() < s.len {
            return Err(Gs1Error::Truncated(ai_text));
        }
        check_value(&s, &ai_text, value)?;
        out.push(Gs1Element {
            ai: ai_text,
            value: ascii(value),
        });
        d = after;
    }
    if out.is_empty() {
        return Err(Gs1Error::Empty);
    }
    Ok(out)
}

fn check_value(s: &AiSpec, ai: &str, v: &[u8]) -> Result<(), Gs1Error> {
    if v.len() > s.len {
        return Err(Gs1Error::TooLong(ai.to_owned()));
    }
    if v.is_empty() || (s.fixed && v.len() != s.len) {
        return Err(Gs1Error::Truncated(ai.to_owned()));
    }
    let ok = match s.chars {
        Chars::Numeric => v.iter().all(u8::is_ascii_digit),
        Chars::Any => v.iter().all(|c| (0x21..=0x7E).contains(c)),
    };
    if !ok {
        return Err(Gs1Error::BadCharacter(ai.to_owned()));
    }
    if s.check && !check_digit_ok(v) {
        return Err(Gs1Error::CheckDigit(ai.to_owned()));
    }
    if s.date && !date_ok(v) {
        return Err(Gs1Error::BadDate(ai.to_owned()));
    }
    Ok(())
}

/// GS1 mod-10 check digit: weights 3 and 1 alternating from the right, check digit excluded.
pub fn check_digit_ok(v: &[u8]) -> bool {
    let Some((&last, body)) = v.split_last() else {
        return false;
    };
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(last - b'0')
}

/// Computes the check digit for a body (for tests and tools).
pub fn check_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, c)| u32::from(c.wrapping_sub(b'0') % 10) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn date_ok(v: &[u8]) -> bool {
    let n = |i: usize| (v[i] - b'0') * 10 + (v[i + 1] - b'0');
    let (mm, dd) = (n(2), n(4));
    (1..=12).contains(&mm) && dd <= 31
}

fn ascii(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
