//! Verification codes: 6 digits from a CSPRNG, stored only as a salted SHA-256 digest and
//! compared in constant time. A [`Code`] never prints its digits (`Debug` is redacted), so it
//! cannot end up in a log by accident.

use rand::Rng;
use sha2::{Digest, Sha256};

/// Digits in a code.
pub const CODE_DIGITS: usize = 6;

/// Longest text accepted as a code attempt before it is even looked at.
pub const MAX_CODE_INPUT_BYTES: usize = 32;

/// Why an entered code was refused before it was checked (it does not count as an attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("no code was entered")]
    Empty,
    #[error("the code is too long")]
    TooLong,
    #[error("the code has only digits")]
    NotDigits,
    #[error("the code has {CODE_DIGITS} digits, not {0}")]
    WrongLength(usize),
}

/// A well-formed code: exactly [`CODE_DIGITS`] ASCII digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code(******)")
    }
}

impl Code {
    /// Parses what a visitor typed: surrounding whitespace and inner spaces or dashes
    /// (`123 456`, `123-456`) are allowed; anything else must be a digit.
    pub fn parse(raw: &str) -> Result<Self, CodeError> {
        if raw.len() > MAX_CODE_INPUT_BYTES {
            return Err(CodeError::TooLong);
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(CodeError::Empty);
        }
        let mut digits = String::with_capacity(CODE_DIGITS);
        for c in trimmed.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(CodeError::NotDigits),
            }
        }
        if digits.len() != CODE_DIGITS {
            return Err(CodeError::WrongLength(digits.len()));
        }
        Ok(Code(digits))
    }

    /// A fresh code from a cryptographically secure generator.
    pub fn generate<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let n: u32 = rng.random_range(0..10u32.pow(CODE_DIGITS as u32));
        Code(format!("{n:0width$}", width = CODE_DIGITS))
    }

    /// The digits, for the message that carries the code to the visitor (and nowhere else).
    pub fn digits(&self) -> &str {
        &self.0
    }
}

/// A code as the hub stores it: a random salt and SHA-256(salt ‖ code).
#[derive(Clone, PartialEq, Eq)]
pub struct CodeHash {
    pub salt: [u8; 16],
    pub digest: [u8; 32],
}

impl std::fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeHash(…)")
    }
}

fn digest(salt: &[u8; 16], code: &Code) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(code.0.as_bytes());
    h.finalize().into()
}

/// Equal without an early exit: the time taken does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

impl CodeHash {
    /// Hashes `code` under `salt` (16 random bytes from the caller's CSPRNG).
    pub fn new(code: &Code, salt: [u8; 16]) -> Self {
        Self {
            digest: digest(&salt, code),
            salt,
        }
    }

    /// Hashes `code` under a fresh salt from `rng`.
    pub fn generate<R: rand::CryptoRng + ?Sized>(code: &Code, rng: &mut R) -> Self {
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        Self::new(code, salt)
    }

    /// Whether `code` is the one hashed, compared in constant time.
    pub fn matches(&self, code: &Code) -> bool {
        constant_time_eq(&digest(&self.salt, code), &self.digest)
    }

    /// `salt:digest`, both lowercase hex, for storage.
    pub fn to_stored(&self) -> String {
        format!("{}:{}", hex(&self.salt), hex(&self.digest))
    }

    /// Reads [`CodeHash::to_stored`]'s form back; `None` when it is not that form.
    pub fn from_stored(s: &str) -> Option<Self> {
        let (salt, digest) = s.split_once(':')?;
        Some(Self {
            salt: unhex(salt)?,
            digest: unhex(digest)?,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile and mistyped input gives a clear error, never a panic, and is not an attempt.
    #[test]
    fn entered_codes_parse_or_say_what_is_wrong() {
        let cases: &[(&str, Result<&str, CodeError>)] = &[
            ("123456", Ok("123456")),
            (" 123 456 ", Ok("123456")),
            ("123-456", Ok("123456")),
            ("000000", Ok("000000")),
            ("", Err(CodeError::Empty)),
            ("   ", Err(CodeError::Empty)),
            ("12345", Err(CodeError::WrongLength(5))),
            ("1234567", Err(CodeError::WrongLength(7))),
            ("12345a", Err(CodeError::NotDigits)),
            ("１２３４５６", Err(CodeError::NotDigits)),
            ("123456\0", Err(CodeError::NotDigits)),
            ("' OR 1=1 --", Err(CodeError::NotDigits)),
            (
                "123456123456123456123456123456123456",
                Err(CodeError::TooLong),
            ),
        ];
        for (raw, want) in cases {
            let got = Code::parse(raw);
            assert_eq!(
                got.as_ref().map(Code::digits).map_err(|e| *e),
                *want,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn generated_codes_are_six_digits_and_vary() {
        let mut rng = rand::rng();
        let codes: std::collections::HashSet<String> = (0..200)
            .map(|_| Code::generate(&mut rng).digits().to_owned())
            .collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(
            codes.len() > 190,
            "only {} distinct codes of 200",
            codes.len()
        );
    }

    #[test]
    fn codes_are_stored_hashed_and_matched_exactly() {
        let code = Code::parse("042517").unwrap();
        let h = CodeHash::generate(&code, &mut rand::rng());
        let stored = h.to_stored();
        assert!(!stored.contains("042517"));
        let back = CodeHash::from_stored(&stored).unwrap();
        assert_eq!(back, h);
        assert!(back.matches(&code));
        assert!(!back.matches(&Code::parse("042518").unwrap()));
        // Same code, other salt: another digest.
        assert_ne!(
            CodeHash::new(&code, [1; 16]).digest,
            CodeHash::new(&code, [2; 16]).digest
        );
        for bad in ["", "zz", "00:00", &stored[1..], &format!("{stored}0")] {
            assert_eq!(CodeHash::from_stored(bad), None, "{bad:?}");
        }
        assert_eq!(format!("{code:?}"), "Code(******)", "never printed");
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
