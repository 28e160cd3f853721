//! Credentials: what a frame from a reader means.
//!
//! [`CredentialParser::parse`] turns a frame into a typed [`Credential`] using the venue's
//! [`CredentialRules`]. Parsing is pure and never panics: anything it cannot read is
//! [`CredentialKind::Unrecognized`] with the reason.

pub mod gs1;
pub mod magstripe;
pub mod parser;
pub mod rfid;
pub mod signed_ticket;
pub mod wiegand;

use serde::{Deserialize, Serialize};

pub use gs1::{Gs1Element, Gs1Error};
pub use magstripe::{MagstripeCard, MagstripeError, Track1, Track2};
pub use parser::{CredentialParser, CredentialRules, RfidRules};
pub use rfid::{ByteOrder, RfidError, RfidFormat};
pub use signed_ticket::{SignedTicket, TicketError, TicketFields};
pub use wiegand::{Wiegand26, WiegandError};

/// A frame read from a reader, with what it was recognised as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// The configured name of the reader that produced the frame.
    pub reader: String,
    /// The frame as received (after framing and prefix/suffix stripping).
    pub raw: Vec<u8>,
    pub kind: CredentialKind,
}

impl Credential {
    /// The frame as text, with invalid UTF-8 replaced.
    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    pub fn is_recognized(&self) -> bool {
        !matches!(self.kind, CredentialKind::Unrecognized { .. })
    }
}

/// The typed meaning of a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CredentialKind {
    /// A membership card carrying the membership ID.
    Membership { membership_id: String },
    /// A card or code carrying a constituent's Lookup ID.
    LookupId { lookup_id: String },
    /// A ticket identified by the random secret in its barcode (looked up in the replica).
    TicketSecret { secret: String },
    /// An offline-signed ticket whose signature verified with a venue key.
    SignedTicket(SignedTicket),
    /// An offline-signed ticket of a kiosk's key (id 32768 and up): decoded, its signature
    /// not yet checked. The gate checks it with the key the hub delivered for that id.
    KioskTicket { text: String, claimed: SignedTicket },
    /// A magnetic stripe read (ISO 7813 track 1 and/or track 2).
    Magstripe(MagstripeCard),
    /// An RFID/NFC card UID, in card byte order.
    RfidUid { uid: Vec<u8>, uid_hex: String },
    /// A Wiegand 26-bit (H10301) card.
    Wiegand26(Wiegand26),
    /// GS1 element strings, in order.
    Gs1 { elements: Vec<Gs1Element> },
    /// Not a credential this venue accepts, and why.
    Unrecognized { reason: Unrecognized },
}

impl CredentialKind {
    /// A short name of the kind, for logs and displays.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Membership { .. } => "membership",
            Self::LookupId { .. } => "lookup_id",
            Self::TicketSecret { .. } => "ticket_secret",
            Self::SignedTicket(_) => "signed_ticket",
            Self::KioskTicket { .. } => "kiosk_ticket",
            Self::Magstripe(_) => "magstripe",
            Self::RfidUid { .. } => "rfid_uid",
            Self::Wiegand26(_) => "wiegand26",
            Self::Gs1 { .. } => "gs1",
            Self::Unrecognized { .. } => "unrecognized",
        }
    }
}

/// Why a frame is not a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum Unrecognized {
    #[error("empty frame")]
    Empty,
    #[error("frame is not valid UTF-8 (byte {valid_up_to})")]
    NotUtf8 { valid_up_to: usize },
    #[error("matches no configured pattern")]
    NoMatch,
    #[error("magstripe: {0}")]
    Magstripe(MagstripeError),
    #[error("signed ticket: {0}")]
    SignedTicket(TicketError),
    #[error("GS1: {0}")]
    Gs1(Gs1Error),
    #[error("Wiegand: {0}")]
    Wiegand(WiegandError),
    #[error("RFID UID: {0}")]
    Rfid(RfidError),
}

/// The credential formats a reader may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialFormat {
    Membership,
    LookupId,
    TicketSecret,
    SignedTicket,
    Magstripe,
    RfidUid,
    Wiegand26,
    Gs1,
}

impl CredentialFormat {
    pub const ALL: [CredentialFormat; 8] = [
        Self::Membership,
        Self::LookupId,
        Self::TicketSecret,
        Self::SignedTicket,
        Self::Magstripe,
        Self::RfidUid,
        Self::Wiegand26,
        Self::Gs1,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`CredentialFormat`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FormatSet(u16);

impl FormatSet {
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Every format except RFID UIDs, which look like plain numbers and are only tried on
    /// readers configured for them.
    pub fn barcode_default() -> Self {
        let mut s = Self::all();
        s.remove(CredentialFormat::RfidUid);
        s
    }

    pub fn all() -> Self {
        CredentialFormat::ALL.into_iter().collect()
    }

    pub fn insert(&mut self, f: CredentialFormat) {
        self.0 |= f.bit();
    }

    pub fn remove(&mut self, f: CredentialFormat) {
        self.0 &= !f.bit();
    }

    pub fn contains(self, f: CredentialFormat) -> bool {
        self.0 & f.bit() != 0
    }
}

impl Default for FormatSet {
    fn default() -> Self {
        Self::barcode_default()
    }
}

impl FromIterator<CredentialFormat> for FormatSet {
    fn from_iter<I: IntoIterator<Item = CredentialFormat>>(iter: I) -> Self {
        let mut s = Self::empty();
        for f in iter {
            s.insert(f);
        }
        s
    }
}
