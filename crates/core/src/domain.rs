//! Domain types: what the venue's CRM knows about people, memberships, tickets and products.
//!
//! These are the types the decision core, matching and update rules work on. They are plain
//! data: no I/O, no clock. Wire DTOs (`protocol`) and storage rows (`replica`) convert to and
//! from them at the edges.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// The CRM's human-facing constituent identifier ("Lookup ID", e.g. `8-10001234`).
pub type LookupId = String;

/// Money in integer minor units (cents, pence). Never floats.
pub type MinorUnits = i64;

/// Lifecycle of a constituent record in the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstituentStatus {
    Active,
    Inactive,
    Deceased,
    /// Removed by a merge in the CRM ("expired"); its merge record names the survivor.
    Merged,
}

impl ConstituentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Deceased => "deceased",
            Self::Merged => "merged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "inactive" => Self::Inactive,
            "deceased" => Self::Deceased,
            "merged" => Self::Merged,
            _ => return None,
        })
    }
}

/// A person's name as the CRM holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersonName {
    pub title: Option<String>,
    pub first: String,
    pub middle: Option<String>,
    pub last: String,
    pub suffix: Option<String>,
}

/// A name the constituent used to have, kept when an update replaces the name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoricalName {
    pub name: PersonName,
    /// The day the name stopped being current, when known.
    pub until: Option<NaiveDate>,
}

/// Validity bookkeeping shared by emails, phones and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactMeta {
    /// The CRM's type for this entry ("Home", "Work", "Mobile", "Email", …). Free text: each
    /// venue configures its own list.
    pub kind: String,
    pub primary: bool,
    pub active: bool,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub address: String,
    #[serde(flatten)]
    pub meta: ContactMeta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    pub number: String,
    #[serde(flatten)]
    pub meta: ContactMeta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    #[serde(flatten)]
    pub meta: ContactMeta,
}

/// A constituent (CRM person record), with its contact information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constituent {
    pub lookup_id: LookupId,
    pub name: PersonName,
    pub birth_date: Option<NaiveDate>,
    pub status: ConstituentStatus,
    pub historical_names: Vec<HistoricalName>,
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
    pub addresses: Vec<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    Active,
    Pending,
    Lapsed,
    Cancelled,
}

impl MembershipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Lapsed => "lapsed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "pending" => Self::Pending,
            "lapsed" => Self::Lapsed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// A membership: who it covers, its level and its validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub membership_id: String,
    pub level: String,
    pub status: MembershipStatus,
    pub start: NaiveDate,
    pub expiry: NaiveDate,
    /// Lookup IDs of the constituents the membership covers; the first is the primary member.
    pub members: Vec<LookupId>,
    /// Guests admitted with a member per visit.
    pub guest_allowance: u32,
}

/// When a ticket may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TicketValidity {
    /// Valid on any day.
    Open,
    /// Valid on one day.
    Date { date: NaiveDate },
    /// Valid for a timed-entry slot (local venue time).
    Slot {
        start: NaiveDateTime,
        end: NaiveDateTime,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Valid,
    Revoked,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "valid" => Self::Valid,
            "revoked" => Self::Revoked,
            _ => return None,
        })
    }
}

/// An admission ticket, identified by the secret printed in its barcode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub secret: String,
    pub product_id: String,
    pub validity: TicketValidity,
    pub uses_allowed: u32,
    pub status: TicketStatus,
    /// The buyer, when known.
    pub holder: Option<LookupId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductKind {
    Ticket,
    Membership,
    Addon,
}

impl ProductKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ticket => "ticket",
            Self::Membership => "membership",
            Self::Addon => "addon",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ticket" => Self::Ticket,
            "membership" => Self::Membership,
            "addon" => Self::Addon,
            _ => return None,
        })
    }
}

/// Something a kiosk sells, with member and non-member prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub product_id: String,
    pub name: String,
    pub kind: ProductKind,
    /// ISO 4217.
    pub currency: String,
    pub member_price: MinorUnits,
    pub non_member_price: MinorUnits,
    pub active: bool,
}

/// A merge performed in the CRM: `merged_id` was removed and `survivor_id` kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    pub merged_id: LookupId,
    pub survivor_id: LookupId,
    pub merged_at: DateTime<Utc>,
}

/// A device id: 1-64 of `A-Z a-z 0-9 - _ .`, at least one a letter or digit (it names files
/// and appears in URLs and logs).
pub fn valid_device_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && id.chars().any(|c| c.is_ascii_alphanumeric())
}

/// Records for the core's tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Constituent, ConstituentStatus, ContactMeta, Email, PersonName, Phone};

    /// An active person with at most one email and one phone (each active, primary, "Home").
    pub(crate) fn person(
        id: &str,
        first: &str,
        last: &str,
        email: &str,
        phone: &str,
    ) -> Constituent {
        let meta = ContactMeta {
            kind: "Home".into(),
            primary: true,
            active: true,
            start: None,
            end: None,
        };
        Constituent {
            lookup_id: id.into(),
            name: PersonName {
                title: None,
                first: first.into(),
                middle: None,
                last: last.into(),
                suffix: None,
            },
            birth_date: None,
            status: ConstituentStatus::Active,
            historical_names: vec![],
            emails: (!email.is_empty())
                .then(|| Email {
                    address: email.into(),
                    meta: meta.clone(),
                })
                .into_iter()
                .collect(),
            phones: (!phone.is_empty())
                .then(|| Phone {
                    number: phone.into(),
                    meta: meta.clone(),
                })
                .into_iter()
                .collect(),
            addresses: vec![],
        }
    }
}
