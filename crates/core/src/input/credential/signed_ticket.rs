//! Offline-signed tickets: compact Ed25519-signed ticket data that a gate verifies with the
//! venue's public keys, with no lookup. Kiosks issue them while offline. The format is
//! documented in `docs/signed-ticket.md`.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Serialize;

use crate::domain::{Ticket, TicketStatus, TicketValidity};

/// Text prefix of a signed ticket.
pub const PREFIX: &str = "PT:";
/// Format version this code reads and writes.
pub const VERSION: u8 = 1;
/// Prepended to the signed bytes so a signature can never be valid for another purpose.
pub const SIGNING_CONTEXT: &[u8] = b"portico signed ticket\0";
/// Longest product id.
pub const MAX_PRODUCT_LEN: usize = 32;

const SIG_LEN: usize = 64;

/// The ticket data a signed ticket carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketFields {
    pub ticket_id: u64,
    pub product_id: String,
    pub validity: TicketValidity,
    pub uses: u16,
}

/// A signed ticket whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedTicket {
    pub key_id: u16,
    #[serde(flatten)]
    pub fields: TicketFields,
}

impl SignedTicket {
    /// The domain ticket; its secret is `PT-<key id>-<ticket id>`, unique per issuing key.
    pub fn to_ticket(&self) -> Ticket {
        Ticket {
            secret: format!("PT-{}-{}", self.key_id, self.fields.ticket_id),
            product_id: self.fields.product_id.clone(),
            validity: self.fields.validity.clone(),
            uses_allowed: u32::from(self.fields.uses),
            status: TicketStatus::Valid,
            holder: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum TicketError {
    #[error("not base32 text")]
    Encoding,
    #[error("truncated")]
    Truncated,
    #[error("unsupported version {0}")]
    Version(u8),
    #[error("unknown signing key {0}")]
    UnknownKey(u16),
    #[error("signature does not verify")]
    BadSignature,
    #[error("invalid field: {0}")]
    BadField(&'static str),
    #[error("unexpected bytes after the signature")]
    TrailingBytes,
}

fn epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

fn epoch() -> NaiveDateTime {
    epoch_date().and_hms_opt(0, 0, 0).unwrap_or_default()
}

/// Whether the text has the signed-ticket prefix.
pub fn looks_like(text: &str) -> bool {
    text.starts_with(PREFIX)
}

fn encode_fields(fields: &TicketFields, key_id: u16) -> Result<Vec<u8>, TicketError> {
    let product = fields.product_id.as_bytes();
    if product.is_empty() || product.len() > MAX_PRODUCT_LEN {
        return Err(TicketError::BadField("product_id"));
    }
    if fields.uses == 0 {
        return Err(TicketError::BadField("uses"));
    }
    let mut b = Vec::with_capacity(24 + product.len() + SIG_LEN);
    b.push(VERSION);
    b.extend_from_slice(&key_id.to_be_bytes());
    b.extend_from_slice(&fields.ticket_id.to_be_bytes());
    b.push(product.len() as u8);
    b.extend_from_slice(product);
    match &fields.validity {
        TicketValidity::Open => b.push(0),
        TicketValidity::Date { date } => {
            let days = date.signed_duration_since(epoch_date()).num_days();
            let days = u16::try_from(days).map_err(|_| TicketError::BadField("date"))?;
            b.push(1);
            b.extend_from_slice(&days.to_be_bytes());
        }
        TicketValidity::Slot { start, end } => {
            let start_min = start.signed_duration_since(epoch()).num_minutes();
            let start_min = u32::try_from(start_min).map_err(|_| TicketError::BadField("slot"))?;
            let dur = end.signed_duration_since(*start).num_minutes();
            let dur = u16::try_from(dur)
                .ok()
                .filter(|d| *d > 0)
                .ok_or(TicketError::BadField("slot"))?;
            if epoch() + TimeDelta::minutes(i64::from(start_min)) != *start
                || *start + TimeDelta::minutes(i64::from(dur)) != *end
            {
                return Err(TicketError::BadField("slot (whole minutes only)"));
            }
            b.push(2);
            b.extend_from_slice(&start_min.to_be_bytes());
            b.extend_from_slice(&dur.to_be_bytes());
        }
    }
    b.extend_from_slice(&fields.uses.to_be_bytes());
    Ok(b)
}

fn signed_message(payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_CONTEXT.len() + payload.len());
    m.extend_from_slice(SIGNING_CONTEXT);
    m.extend_from_slice(payload);
    m
}

/// Issues (signs) a ticket: returns the text to print in a QR code.
pub fn issue(fields: &TicketFields, key_id: u16, key: &SigningKey) -> Result<String, TicketError> {
    let mut b = encode_fields(fields, key_id)?;
    let sig = key.sign(&signed_message(&b));
    b.extend_from_slice(&sig.to_bytes());
    Ok(format!(
        "{PREFIX}{}",
        data_encoding::BASE32_NOPAD.encode(&b)
    ))
}

/// A little cursor over the decoded bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TicketError> {
        if self.0.len() < n {
            return Err(TicketError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, TicketError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, TicketError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, TicketError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, TicketError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
}

/// A signed ticket decoded but whose signature is not yet checked: what it claims, and the key
/// id that must vouch for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub claimed: SignedTicket,
    payload: Vec<u8>,
    signature: [u8; SIG_LEN],
}

impl Unverified {
    /// Checks the signature with `key` (the key of `claimed.key_id`).
    pub fn verify_with(self, key: &VerifyingKey) -> Result<SignedTicket, TicketError> {
        let sig = Signature::from_bytes(&self.signature);
        key.verify_strict(&signed_message(&self.payload), &sig)
            .map_err(|_| TicketError::BadSignature)?;
        Ok(self.claimed)
    }
}

/// Decodes a signed ticket without checking its signature.
pub fn decode(text: &str) -> Result<Unverified, TicketError> {
    let body = text.strip_prefix(PREFIX).ok_or(TicketError::Encoding)?;
    let bytes = data_encoding::BASE32_NOPAD
        .decode(body.as_bytes())
        .map_err(|_| TicketError::Encoding)?;
    let mut r = Reader(&bytes);
    let version = r.u8()?;
    if version != VERSION {
        return Err(TicketError::Version(version));
    }
    let key_id = r.u16()?;
    let ticket_id = r.u64()?;
    let plen = usize::from(r.u8()?);
    if plen == 0 || plen > MAX_PRODUCT_LEN {
        return Err(TicketError::BadField("product_id"));
    }
    let product_id = std::str::from_utf8(r.take(plen)?)
        .map_err(|_| TicketError::BadField("product_id"))?
        .to_owned();
    let validity = match r.u8()? {
        0 => TicketValidity::Open,
        1 => {
            let days = r.u16()?;
            let date = epoch_date()
                .checked_add_signed(TimeDelta::days(i64::from(days)))
                .ok_or(TicketError::BadField("date"))?;
            TicketValidity::Date { date }
        }
        2 => {
            let start_min = r.u32()?;
            let dur = r.u16()?;
            if dur == 0 {
                return Err(TicketError::BadField("slot"));
            }
            let start = epoch()
                .checked_add_signed(TimeDelta::minutes(i64::from(start_min)))
                .ok_or(TicketError::BadField("slot"))?;
            let end = start
                .checked_add_signed(TimeDelta::minutes(i64::from(dur)))
                .ok_or(TicketError::BadField("slot"))?;
            TicketValidity::Slot { start, end }
        }
        _ => return Err(TicketError::BadField("validity")),
    };
    let uses = r.u16()?;
    if uses == 0 {
        return Err(TicketError::BadField("uses"));
    }
    let payload_len = bytes.len() - r.0.len();
    let sig = r.take(SIG_LEN)?;
    if !r.0.is_empty() {
        return Err(TicketError::TrailingBytes);
    }
    let mut signature = [0u8; SIG_LEN];
    signature.copy_from_slice(sig);
    Ok(Unverified {
        claimed: SignedTicket {
            key_id,
            fields: TicketFields {
                ticket_id,
                product_id,
                validity,
                uses,
            },
        },
        payload: bytes[..payload_len].to_vec(),
        signature,
    })
}

/// Decodes and verifies a signed ticket with the venue keys `(key id, key)`.
pub fn verify(text: &str, keys: &[(u16, VerifyingKey)]) -> Result<SignedTicket, TicketError> {
    let t = decode(text)?;
    let key_id = t.claimed.key_id;
    let key = keys
        .iter()
        .find(|(id, _)| *id == key_id)
        .map(|(_, k)| k)
        .ok_or(TicketError::UnknownKey(key_id))?;
    t.verify_with(key)
}

/// An Ed25519 public key from its base64 text (as the `signing_keys` feed and the configs
/// give it; padded or not, standard or URL alphabet).
pub fn public_key(base64: &str) -> Option<VerifyingKey> {
    use data_encoding::{BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD};
    let bytes = [BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD]
        .iter()
        .find_map(|e| e.decode(base64.trim().as_bytes()).ok())?;
    let bytes: [u8; 32] = bytes.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Key ids from here up are kiosks' keys, allocated by the hub and delivered to gates by its
/// `signing_keys` feed; below are the venue's keys in the devices' configs.
pub const FIRST_KIOSK_KEY: u16 = 32768;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_then_verify() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let fields = TicketFields {
            ticket_id: 42,
            product_id: "GA-ADULT".into(),
            validity: TicketValidity::Date {
                date: NaiveDate::from_ymd_opt(2026, 12, 24).unwrap_or_default(),
            },
            uses: 1,
        };
        let text = issue(&fields, 3, &sk).expect("issue");
        let t = verify(&text, &[(3, sk.verifying_key())]).expect("verify");
        assert_eq!(t.fields, fields);
        assert_eq!(t.to_ticket().secret, "PT-3-42");
    }

    #[test]
    fn documented_example_layout() {
        // docs/signed-ticket.md, "Example".
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let fields = TicketFields {
            ticket_id: 42,
            product_id: "GA-ADULT".into(),
            validity: TicketValidity::Date {
                date: NaiveDate::from_ymd_opt(2026, 12, 24).unwrap_or_default(),
            },
            uses: 1,
        };
        let text = issue(&fields, 1, &sk).expect("issue");
        assert_eq!(text.len(), 146);
        let bytes = data_encoding::BASE32_NOPAD
            .decode(&text.as_bytes()[PREFIX.len()..])
            .expect("base32");
        assert_eq!(bytes.len(), 89);
        assert_eq!(
            data_encoding::HEXUPPER.encode(&bytes[..25]),
            "010001000000000000002A0847412D4144554C5401267E0001"
        );
    }
}
