//! Find My Membership (seed 001): a visitor whose record is not linked to their membership
//! proves they hold it and gets re-linked.
//!
//! > "Enter your Membership ID and click Locate Membership. Verify your membership (using the
//! > primary phone or email from the constituent's Altru record). Once you receive the
//! > verification phone via text or email, enter the code and click Submit Code and Reset
//! > Account."
//!
//! The rule as Portico carries it: the device sends the Membership ID to the hub, which
//! answers with the membership's primary active email and primary active phone, masked
//! (`j***@e***.org`, `***-***-1234`); the visitor picks one and the hub sends a 6-digit code
//! there. Codes expire after 10 minutes and 5 wrong attempts lock the request. On success the
//! device records the link of the visitor's record to the member constituent (an outbox row of
//! kind `reassociation`).
//!
//! The parts:
//! * [`mask`]: masking of contact targets, pure.
//! * [`code`]: verification codes (CSPRNG, salted SHA-256, constant-time comparison).
//! * [`verification`]: the hub's per-request state machine; the time is an input.
//! * [`kiosk`]: the device's screen flow as a state machine with plain-words messages.
//!
//! The device shell that drives [`kiosk::Flow`] with the hub client lives in the device crate
//! (`find_membership::shell`); the hub side in the hub crate (`find_membership`).

pub mod code;
pub mod kiosk;
pub mod mask;
pub mod verification;

pub use code::{Code, CodeError, CodeHash};
pub use kiosk::{Command, Flow, Input, Screen};
pub use mask::{Channel, mask_email, mask_phone};
pub use verification::{CODE_TTL_MINUTES, CheckOutcome, MAX_ATTEMPTS, State, Verification};

/// Longest Membership ID (or Lookup ID) a visitor may enter, in characters.
pub const MAX_ID_CHARS: usize = 64;

/// Why an entered Membership ID was refused before asking the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("no Membership ID was entered")]
    Empty,
    #[error("a Membership ID has at most {MAX_ID_CHARS} characters")]
    TooLong,
    #[error("a Membership ID has only letters, digits and dashes")]
    BadCharacter,
}

/// Checks and trims an entered Membership ID (or Lookup ID): 1 to [`MAX_ID_CHARS`] ASCII
/// letters, digits, `-` or `_`. Used by the kiosk before sending and by the hub on receipt.
pub fn parse_id(raw: &str) -> Result<&str, IdError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(IdError::TooLong);
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(IdError::BadCharacter);
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entered_ids_are_trimmed_and_hostile_ones_refused() {
        let long = "9".repeat(MAX_ID_CHARS + 1);
        let exact = "9".repeat(MAX_ID_CHARS);
        let cases: &[(&str, Result<&str, IdError>)] = &[
            ("M1000001", Ok("M1000001")),
            ("  M1000001\n", Ok("M1000001")),
            ("8-10001234", Ok("8-10001234")),
            ("", Err(IdError::Empty)),
            ("   ", Err(IdError::Empty)),
            (&long, Err(IdError::TooLong)),
            (&exact, Ok(&exact)),
            ("M1'; DROP TABLE", Err(IdError::BadCharacter)),
            ("M１０００", Err(IdError::BadCharacter)),
            ("M100/../1", Err(IdError::BadCharacter)),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_id(raw), *want, "{raw:?}");
        }
    }
}
