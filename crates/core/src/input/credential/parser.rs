//! The credential parser: tries the enabled formats on a frame, most specific first.
//!
//! Order: magstripe (`%`/`;` sentinels), signed ticket (`PT:`), GS1 (symbology identifier,
//! leading GS or bracketed AIs), Wiegand 26 (26 bits, or the configured hex prefix),
//! membership (prefix + regex), Lookup ID (regex), ticket secret (regex), RFID UID. A frame
//! with a format's unmistakable start that fails that format's checks is `Unrecognized` with
//! that format's reason; it is not tried as anything else.

use ed25519_dalek::VerifyingKey;
use regex::Regex;

use super::{ByteOrder, RfidFormat};
use super::{
    Credential, CredentialFormat, CredentialKind, FormatSet, Unrecognized, gs1, magstripe, rfid,
    signed_ticket, wiegand,
};

/// How RFID readers print UIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfidRules {
    pub format: RfidFormat,
    pub byte_order: ByteOrder,
    /// Accepted UID lengths in bytes.
    pub uid_lengths: Vec<usize>,
}

impl Default for RfidRules {
    fn default() -> Self {
        Self {
            format: RfidFormat::Hex,
            byte_order: ByteOrder::MsbFirst,
            uid_lengths: vec![4, 7, 10],
        }
    }
}

/// A pattern with an optional `id` capture group.
#[derive(Debug, Clone)]
pub struct IdPattern {
    regex: Regex,
    has_id_group: bool,
}

impl IdPattern {
    pub fn new(regex: Regex) -> Self {
        let has_id_group = regex.capture_names().any(|n| n == Some("id"));
        Self {
            regex,
            has_id_group,
        }
    }

    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    /// The identifier: the `id` group when the pattern has one, else the whole text.
    fn extract<'t>(&self, text: &'t str) -> Option<&'t str> {
        if self.has_id_group {
            self.regex
                .captures(text)
                .and_then(|c| c.name("id"))
                .map(|m| m.as_str())
        } else {
            self.regex.is_match(text).then_some(text)
        }
    }
}

/// The venue's rules for reading credentials (validated configuration).
#[derive(Debug, Clone)]
pub struct CredentialRules {
    /// Text a membership card starts with, removed before `membership`; empty for none.
    pub membership_prefix: String,
    pub membership: Option<IdPattern>,
    pub lookup_id: Option<IdPattern>,
    pub ticket_secret: Option<IdPattern>,
    /// Venue public keys for signed tickets: (key id, key).
    pub signing_keys: Vec<(u16, VerifyingKey)>,
    pub rfid: RfidRules,
    /// Prefix before a hex Wiegand 26 value; empty disables the hex form.
    pub wiegand_hex_prefix: String,
}

impl CredentialRules {
    /// Rules with the default patterns (see the configuration documentation).
    pub fn defaults() -> Self {
        let pat = |s: &str| Regex::new(s).ok().map(IdPattern::new);
        Self {
            membership_prefix: String::new(),
            membership: pat(DEFAULT_MEMBERSHIP_REGEX),
            lookup_id: pat(DEFAULT_LOOKUP_ID_REGEX),
            ticket_secret: pat(DEFAULT_TICKET_SECRET_REGEX),
            signing_keys: Vec::new(),
            rfid: RfidRules::default(),
            wiegand_hex_prefix: String::new(),
        }
    }
}

impl Default for CredentialRules {
    fn default() -> Self {
        Self::defaults()
    }
}

pub const DEFAULT_MEMBERSHIP_REGEX: &str = "^[0-9]{6,12}$";
pub const DEFAULT_LOOKUP_ID_REGEX: &str = "^[0-9]{1,3}-[0-9]{4,12}$";
pub const DEFAULT_TICKET_SECRET_REGEX: &str = "^[A-Za-z0-9]{16,64}$";

/// Parses frames into credentials. Cheap to share between reader threads (`Arc`).
#[derive(Debug, Clone)]
pub struct CredentialParser {
    rules: CredentialRules,
}

impl CredentialParser {
    pub fn new(rules: CredentialRules) -> Self {
        Self { rules }
    }

    pub fn rules(&self) -> &CredentialRules {
        &self.rules
    }

    /// Parses a frame from `reader`, trying only `formats`.
    pub fn parse(&self, reader: &str, frame: &[u8], formats: FormatSet) -> Credential {
        Credential {
            reader: reader.to_owned(),
            raw: frame.to_vec(),
            kind: self.classify(frame, formats),
        }
    }

    /// Same as [`parse`](Self::parse), taking ownership of the frame bytes.
    pub fn parse_owned(&self, reader: &str, frame: Vec<u8>, formats: FormatSet) -> Credential {
        let kind = self.classify(&frame, formats);
        Credential {
            reader: reader.to_owned(),
            raw: frame,
            kind,
        }
    }

    /// The meaning of a frame.
    pub fn classify(&self, frame: &[u8], formats: FormatSet) -> CredentialKind {
        match self.try_classify(frame, formats) {
            Ok(kind) => kind,
            Err(reason) => CredentialKind::Unrecognized { reason },
        }
    }

    fn try_classify(&self, frame: &[u8], f: FormatSet) -> Result<CredentialKind, Unrecognized> {
        use CredentialFormat as F;
        if frame.is_empty() {
            return Err(Unrecognized::Empty);
        }
        if f.contains(F::Gs1) && gs1::looks_like(frame) {
            return gs1::parse(frame)
                .map(|elements| CredentialKind::Gs1 { elements })
                .map_err(Unrecognized::Gs1);
        }
        let text = std::str::from_utf8(frame).map_err(|e| Unrecognized::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        if f.contains(F::Magstripe) && magstripe::looks_like(text) {
            return magstripe::parse(text)
                .map(CredentialKind::Magstripe)
                .map_err(Unrecognized::Magstripe);
        }
        if f.contains(F::SignedTicket) && signed_ticket::looks_like(text) {
            return match signed_ticket::verify(text, &self.rules.signing_keys) {
                Ok(t) => Ok(CredentialKind::SignedTicket(t)),
                // A kiosk's key: the gate checks it against the keys the hub delivers.
                Err(signed_ticket::TicketError::UnknownKey(k))
                    if k >= signed_ticket::FIRST_KIOSK_KEY =>
                {
                    signed_ticket::decode(text)
                        .map(|u| CredentialKind::KioskTicket {
                            text: text.to_owned(),
                            claimed: u.claimed,
                        })
                        .map_err(Unrecognized::SignedTicket)
                }
                Err(e) => Err(Unrecognized::SignedTicket(e)),
            };
        }
        if f.contains(F::Wiegand26) {
            if wiegand::looks_like_bits(text) {
                return wiegand::parse_bits(text)
                    .map(CredentialKind::Wiegand26)
                    .map_err(Unrecognized::Wiegand);
            }
            let p = &self.rules.wiegand_hex_prefix;
            if let Some(hex) = text.strip_prefix(p.as_str()).filter(|_| !p.is_empty()) {
                return wiegand::parse_hex(hex)
                    .map(CredentialKind::Wiegand26)
                    .map_err(Unrecognized::Wiegand);
            }
        }
        if f.contains(F::Membership)
            && let Some(pat) = &self.rules.membership
            && let Some(rest) = text.strip_prefix(self.rules.membership_prefix.as_str())
            && let Some(id) = pat.extract(rest)
        {
            return Ok(CredentialKind::Membership {
                membership_id: id.to_owned(),
            });
        }
        if f.contains(F::LookupId)
            && let Some(id) = self.rules.lookup_id.as_ref().and_then(|p| p.extract(text))
        {
            return Ok(CredentialKind::LookupId {
                lookup_id: id.to_owned(),
            });
        }
        if f.contains(F::TicketSecret)
            && let Some(s) = self
                .rules
                .ticket_secret
                .as_ref()
                .and_then(|p| p.extract(text))
        {
            return Ok(CredentialKind::TicketSecret {
                secret: s.to_owned(),
            });
        }
        if f.contains(F::RfidUid) {
            let r = &self.rules.rfid;
            return rfid::parse(text, r.format, r.byte_order, &r.uid_lengths)
                .map(|uid| CredentialKind::RfidUid {
                    uid_hex: rfid::to_hex(&uid),
                    uid,
                })
                .map_err(Unrecognized::Rfid);
        }
        Err(Unrecognized::NoMatch)
    }
}
