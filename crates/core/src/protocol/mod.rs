//! Upstream protocol v1: the wire DTOs exchanged between a device and the hub.
//!
//! These types are the contract documented in `docs/protocol.md`. They are deliberately separate
//! from the domain types: the wire format is versioned and changes only with the protocol
//! version, while the domain types move with the code. Conversions live here, at the edge.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain;

pub mod catalog;
pub mod fleet;
pub mod leases;
pub use catalog::{
    CategoryDto, FlatPriceDto, KIOSK_CHANNEL, SALE_SCHEMA, SaleDto, SigningKeyDto, SlotDto,
    TaxRuleDto,
};
pub use fleet::{DEVICE_REPORT_VERSION, DeviceReport, DeviceReportReply};
pub use leases::{
    LeaseDto, LeaseReply, LeaseRequest, LeasesDto, MAX_LEASE_SEATS, RegisterKeyReply,
    RegisterKeyRequest,
};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The response header with which the hub marks every reply as its own: only a reply carrying
/// it is the hub's word on a request (`docs/protocol.md`).
pub const PROTOCOL_HEADER: &str = "portico-protocol";

/// Kinds of upstream (outbox) rows and the payload version this build writes for each, from
/// their types in [`crate::upstream`].
pub mod kinds {
    use crate::upstream::*;

    const fn of<P: Payload>() -> (&'static str, u32) {
        (P::KIND, P::VERSION)
    }

    pub const ORDER: (&str, u32) = of::<OrderV2>();
    /// Orders as builds before the kiosk wrote them (still read by the hub).
    pub const ORDER_V1: (&str, u32) = of::<OrderV1>();
    pub const NEW_CONSTITUENT: (&str, u32) = of::<NewConstituentV1>();
    pub const SCAN: (&str, u32) = of::<ScanV1>();
    pub const TIMESHEET: (&str, u32) = of::<TimesheetV1>();
    /// An admission's use given back (the gate opened, nobody went through).
    pub const SCAN_ANNULMENT: (&str, u32) = of::<ScanAnnulmentV1>();
    /// A visitor's record linked to a membership's constituent after Find My Membership.
    pub const REASSOCIATION: (&str, u32) = of::<ReassociationV1>();
    /// A visitor who matched a constituent, with their details, for the hub to apply the
    /// update rules or queue a review.
    pub const VISITOR_UPDATE: (&str, u32) = of::<VisitorUpdateV1>();
    /// The number of people an admission let in, as finally settled: staff confirmed a
    /// party size on the gate screen, or a guest did not go through.
    pub const SCAN_PARTY: (&str, u32) = of::<ScanPartyV1>();

    /// Every kind this build writes.
    pub const ALL: &[(&str, u32)] = KINDS;

    /// The kind named `name` at payload `version`, when this build writes it.
    pub fn known(name: &str, version: u32) -> Option<(&'static str, u32)> {
        ALL.iter()
            .copied()
            .find(|&(n, v)| n == name && v == version)
    }
}

/// Largest page a device may ask for.
pub const MAX_PAGE_LIMIT: u32 = 10_000;

/// Largest upload batch the hub accepts.
pub const MAX_UPLOAD_ROWS: usize = 500;

/// `GET /v1/hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub server_time: DateTime<Utc>,
    pub hub_id: String,
    /// The device the bearer token belongs to.
    pub device_id: String,
    /// The feeds this hub serves. Absent from hubs that predate the kiosk: they serve the
    /// five first feeds ([`Resource::FIRST`]), and a device asks for no other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
}

impl Hello {
    /// The feeds to pull from this hub: those this build knows and the hub serves.
    pub fn feeds(&self) -> Vec<Resource> {
        match &self.resources {
            None => Resource::FIRST.to_vec(),
            Some(names) => Resource::ALL
                .into_iter()
                .filter(|r| names.iter().any(|n| n == r.as_str()))
                .collect(),
        }
    }
}

/// The resources of the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Constituents,
    Memberships,
    Tickets,
    Catalog,
    Merges,
    Categories,
    TaxRules,
    Slots,
    SigningKeys,
    /// The CRM's volunteer jobs.
    Jobs,
    VolunteerEvents,
    VolunteerShifts,
}

impl Resource {
    /// Every feed, in the order a device pulls them: what a product refers to (categories,
    /// tax rules) before the products, and the keys that sign tickets before the tickets.
    pub const ALL: [Resource; 12] = [
        Resource::Categories,
        Resource::TaxRules,
        Resource::Catalog,
        Resource::Slots,
        Resource::Constituents,
        Resource::Memberships,
        Resource::SigningKeys,
        Resource::Tickets,
        Resource::Merges,
        Resource::Jobs,
        Resource::VolunteerEvents,
        Resource::VolunteerShifts,
    ];

    /// The feeds of protocol v1 as first published: every hub serves them.
    pub const FIRST: [Resource; 5] = [
        Resource::Catalog,
        Resource::Constituents,
        Resource::Memberships,
        Resource::Tickets,
        Resource::Merges,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Constituents => "constituents",
            Self::Memberships => "memberships",
            Self::Tickets => "tickets",
            Self::Catalog => "catalog",
            Self::Merges => "merges",
            Self::Categories => "categories",
            Self::TaxRules => "tax_rules",
            Self::Slots => "slots",
            Self::SigningKeys => "signing_keys",
            Self::Jobs => "jobs",
            Self::VolunteerEvents => "volunteer_events",
            Self::VolunteerShifts => "volunteer_shifts",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Query of `GET /v1/feed/{resource}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeedQuery {
    /// Opaque cursor from the previous page; absent for the beginning of the feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The cursor the device's copy of the feed stood at when its pull began (the first
    /// page's cursor). The hub then names, with each constituent, the parts changed after it:
    /// the device holds each record of the page as it was at that cursor or later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// One page of a resource's change feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedPage<T> {
    pub resource: Resource,
    pub changes: Vec<Change<T>>,
    /// Cursor to send for the next page. Equal to the request's cursor when the page is empty.
    pub next_cursor: String,
    /// More changes were already committed when this page was read.
    pub has_more: bool,
    /// On the first page of a feed (no cursor): how many changes follow it, for progress
    /// displays. Absent on later pages; devices count down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
}

/// One change: the current state of a record (`upsert`), or its removal (`delete`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change<T> {
    Upsert {
        key: String,
        data: T,
        /// Which parts of the record changed after the request's `since` cursor (the
        /// constituents feed). Absent: not known, so every part is compared.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        changed: Option<Parts>,
    },
    Delete {
        key: String,
    },
}

impl<T> Change<T> {
    /// An upsert with no part annotation.
    pub fn upsert(key: impl Into<String>, data: T) -> Self {
        Change::Upsert {
            key: key.into(),
            data,
            changed: None,
        }
    }
}

/// The parts of a constituent that change independently: the record itself (name parts, birth
/// date, status) and its four lists. On the wire, a list of their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parts(u8);

impl Parts {
    pub const RECORD: Parts = Parts(1);
    pub const HISTORICAL_NAMES: Parts = Parts(1 << 1);
    pub const EMAILS: Parts = Parts(1 << 2);
    pub const PHONES: Parts = Parts(1 << 3);
    pub const ADDRESSES: Parts = Parts(1 << 4);
    pub const ALL: Parts = Parts(0b1_1111);
    /// Wire names, in bit order.
    pub const NAMES: [&'static str; 5] = [
        "record",
        "historical_names",
        "emails",
        "phones",
        "addresses",
    ];

    /// The part named on the wire.
    pub fn named(name: &str) -> Option<Parts> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Parts(1 << i))
    }

    pub fn contains(self, other: Parts) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The part names set, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| n)
    }
}

impl std::ops::BitOr for Parts {
    type Output = Parts;
    fn bitor(self, rhs: Parts) -> Parts {
        Parts(self.0 | rhs.0)
    }
}

impl Serialize for Parts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

impl<'de> Deserialize<'de> for Parts {
    /// A part this build does not know makes the annotation cover every part: the device then
    /// compares the whole record rather than trust a list it cannot read fully.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(names.iter().fold(Parts::default(), |acc, n| {
            Parts::named(n).map_or(Parts::ALL, |p| acc | p)
        }))
    }
}

impl<T> Change<T> {
    pub fn key(&self) -> &str {
        match self {
            Change::Upsert { key, .. } | Change::Delete { key } => key,
        }
    }
}

// ----- resource payloads -----

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NameDto {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub first: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle: Option<String>,
    pub last: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoricalNameDto {
    #[serde(flatten)]
    pub name: NameDto,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactMetaDto {
    #[serde(rename = "type")]
    pub kind: String,
    pub primary: bool,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailDto {
    pub address: String,
    #[serde(flatten)]
    pub meta: ContactMetaDto,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneDto {
    pub number: String,
    #[serde(flatten)]
    pub meta: ContactMetaDto,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressDto {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    pub country: String,
    #[serde(flatten)]
    pub meta: ContactMetaDto,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstituentDto {
    pub lookup_id: String,
    pub name: NameDto,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    pub status: domain::ConstituentStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub historical_names: Vec<HistoricalNameDto>,
    #[serde(default)]
    pub emails: Vec<EmailDto>,
    #[serde(default)]
    pub phones: Vec<PhoneDto>,
    #[serde(default)]
    pub addresses: Vec<AddressDto>,
}

impl ConstituentDto {
    /// An active record with a first and last name and nothing else: no birth date, former
    /// names or contact details (add them with struct update syntax).
    pub fn named(
        lookup_id: impl Into<String>,
        first: impl Into<String>,
        last: impl Into<String>,
    ) -> Self {
        Self {
            lookup_id: lookup_id.into(),
            name: NameDto {
                first: first.into(),
                last: last.into(),
                ..NameDto::default()
            },
            birth_date: None,
            status: domain::ConstituentStatus::Active,
            historical_names: Vec::new(),
            emails: Vec::new(),
            phones: Vec::new(),
            addresses: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipDto {
    pub membership_id: String,
    pub level: String,
    pub status: domain::MembershipStatus,
    pub start: NaiveDate,
    pub expiry: NaiveDate,
    pub members: Vec<String>,
    pub guest_allowance: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ValidityDto {
    Open,
    Date {
        date: NaiveDate,
    },
    Slot {
        start: NaiveDateTime,
        end: NaiveDateTime,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDto {
    pub secret: String,
    pub product_id: String,
    pub validity: ValidityDto,
    pub uses_allowed: u32,
    pub status: domain::TicketStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDto {
    pub product_id: String,
    pub name: String,
    pub kind: domain::ProductKind,
    pub currency: String,
    pub member_price: i64,
    pub non_member_price: i64,
    pub active: bool,
    /// How the kiosk sells it ([`SaleDto`], versioned on its own); absent for a product
    /// sold only at the desk, and from hubs that predate the kiosk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeDto {
    pub merged_id: String,
    pub survivor_id: String,
    pub merged_at: DateTime<Utc>,
}

// ----- outbox upload -----

/// `POST /v1/outbox`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadBatch {
    pub rows: Vec<UploadRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadRow {
    /// Made by the device when the row was enqueued; the hub applies each key once.
    pub idempotency_key: String,
    pub kind: String,
    /// Version of the payload's schema for this kind.
    pub version: u32,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    pub results: Vec<RowResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowResult {
    pub idempotency_key: String,
    pub status: RowStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For an accepted (or duplicate) `new_constituent` row: the Lookup ID of the record the
    /// hub created or matched. The device remaps its local id to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Applied now.
    Accepted,
    /// Applied before; nothing done.
    Duplicate,
    /// Will never be applied as sent; `reason` says why.
    Rejected,
}

/// `GET /v1/reports/duplicate-admissions`: a ticket admitted at several devices (each offline,
/// or unaware of the other) more often than it allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateAdmission {
    /// `ticket:<secret>`.
    pub credential: String,
    pub devices: Vec<String>,
    /// Uses burned across all devices.
    pub uses: u32,
    /// What the ticket allows; absent when the hub does not know the ticket.
    pub uses_allowed: Option<u32>,
}

/// `GET /v1/review-queue`: a visitor's details that matched a constituent only in the middle
/// range of confidence (or no longer matched on the hub, or matched several records), held for
/// staff instead of being applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewItemDto {
    pub id: i64,
    /// `open`, `approved` or `rejected`.
    pub status: String,
    /// `middle_range`, `below_review_threshold`, `no_longer_matches` or `ambiguous`.
    pub reason: String,
    /// The candidate constituent (after merges and local ids were resolved).
    pub lookup_id: String,
    /// The hub's confidence, 0–100.
    pub score: u8,
    /// The visitor's details as the device sent them.
    pub visitor: serde_json::Value,
    /// One line per field: points and why.
    pub explanation: Vec<String>,
    pub device_id: String,
    /// Idempotency key of the uploaded row.
    pub idempotency_key: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

// ----- conversions between wire and domain -----

impl From<NameDto> for domain::PersonName {
    fn from(n: NameDto) -> Self {
        Self {
            title: n.title,
            first: n.first,
            middle: n.middle,
            last: n.last,
            suffix: n.suffix,
        }
    }
}

impl From<domain::PersonName> for NameDto {
    fn from(n: domain::PersonName) -> Self {
        Self {
            title: n.title,
            first: n.first,
            middle: n.middle,
            last: n.last,
            suffix: n.suffix,
        }
    }
}

impl From<ContactMetaDto> for domain::ContactMeta {
    fn from(m: ContactMetaDto) -> Self {
        Self {
            kind: m.kind,
            primary: m.primary,
            active: m.active,
            start: m.start,
            end: m.end,
        }
    }
}

impl From<domain::ContactMeta> for ContactMetaDto {
    fn from(m: domain::ContactMeta) -> Self {
        Self {
            kind: m.kind,
            primary: m.primary,
            active: m.active,
            start: m.start,
            end: m.end,
        }
    }
}

impl From<ConstituentDto> for domain::Constituent {
    fn from(c: ConstituentDto) -> Self {
        Self {
            lookup_id: c.lookup_id,
            name: c.name.into(),
            birth_date: c.birth_date,
            status: c.status,
            historical_names: c
                .historical_names
                .into_iter()
                .map(|h| domain::HistoricalName {
                    name: h.name.into(),
                    until: h.until,
                })
                .collect(),
            emails: c
                .emails
                .into_iter()
                .map(|e| domain::Email {
                    address: e.address,
                    meta: e.meta.into(),
                })
                .collect(),
            phones: c
                .phones
                .into_iter()
                .map(|p| domain::Phone {
                    number: p.number,
                    meta: p.meta.into(),
                })
                .collect(),
            addresses: c
                .addresses
                .into_iter()
                .map(|a| domain::Address {
                    line1: a.line1,
                    line2: a.line2,
                    city: a.city,
                    region: a.region,
                    postcode: a.postcode,
                    country: a.country,
                    meta: a.meta.into(),
                })
                .collect(),
        }
    }
}

impl From<domain::Constituent> for ConstituentDto {
    fn from(c: domain::Constituent) -> Self {
        Self {
            lookup_id: c.lookup_id,
            name: c.name.into(),
            birth_date: c.birth_date,
            status: c.status,
            historical_names: c
                .historical_names
                .into_iter()
                .map(|h| HistoricalNameDto {
                    name: h.name.into(),
                    until: h.until,
                })
                .collect(),
            emails: c
                .emails
                .into_iter()
                .map(|e| EmailDto {
                    address: e.address,
                    meta: e.meta.into(),
                })
                .collect(),
            phones: c
                .phones
                .into_iter()
                .map(|p| PhoneDto {
                    number: p.number,
                    meta: p.meta.into(),
                })
                .collect(),
            addresses: c
                .addresses
                .into_iter()
                .map(|a| AddressDto {
                    line1: a.line1,
                    line2: a.line2,
                    city: a.city,
                    region: a.region,
                    postcode: a.postcode,
                    country: a.country,
                    meta: a.meta.into(),
                })
                .collect(),
        }
    }
}

impl From<MembershipDto> for domain::Membership {
    fn from(m: MembershipDto) -> Self {
        Self {
            membership_id: m.membership_id,
            level: m.level,
            status: m.status,
            start: m.start,
            expiry: m.expiry,
            members: m.members,
            guest_allowance: m.guest_allowance,
        }
    }
}

impl From<domain::Membership> for MembershipDto {
    fn from(m: domain::Membership) -> Self {
        Self {
            membership_id: m.membership_id,
            level: m.level,
            status: m.status,
            start: m.start,
            expiry: m.expiry,
            members: m.members,
            guest_allowance: m.guest_allowance,
        }
    }
}

impl From<ValidityDto> for domain::TicketValidity {
    fn from(v: ValidityDto) -> Self {
        match v {
            ValidityDto::Open => Self::Open,
            ValidityDto::Date { date } => Self::Date { date },
            ValidityDto::Slot { start, end } => Self::Slot { start, end },
        }
    }
}

impl From<domain::TicketValidity> for ValidityDto {
    fn from(v: domain::TicketValidity) -> Self {
        match v {
            domain::TicketValidity::Open => Self::Open,
            domain::TicketValidity::Date { date } => Self::Date { date },
            domain::TicketValidity::Slot { start, end } => Self::Slot { start, end },
        }
    }
}

impl From<TicketDto> for domain::Ticket {
    fn from(t: TicketDto) -> Self {
        Self {
            secret: t.secret,
            product_id: t.product_id,
            validity: t.validity.into(),
            uses_allowed: t.uses_allowed,
            status: t.status,
            holder: t.holder,
        }
    }
}

impl From<domain::Ticket> for TicketDto {
    fn from(t: domain::Ticket) -> Self {
        Self {
            secret: t.secret,
            product_id: t.product_id,
            validity: t.validity.into(),
            uses_allowed: t.uses_allowed,
            status: t.status,
            holder: t.holder,
        }
    }
}

impl From<ProductDto> for domain::Product {
    fn from(p: ProductDto) -> Self {
        Self {
            product_id: p.product_id,
            name: p.name,
            kind: p.kind,
            currency: p.currency,
            member_price: p.member_price,
            non_member_price: p.non_member_price,
            active: p.active,
        }
    }
}

impl From<domain::Product> for ProductDto {
    fn from(p: domain::Product) -> Self {
        Self {
            product_id: p.product_id,
            name: p.name,
            kind: p.kind,
            currency: p.currency,
            member_price: p.member_price,
            non_member_price: p.non_member_price,
            active: p.active,
            sale: None,
        }
    }
}

impl From<MergeDto> for domain::Merge {
    fn from(m: MergeDto) -> Self {
        Self {
            merged_id: m.merged_id,
            survivor_id: m.survivor_id,
            merged_at: m.merged_at,
        }
    }
}

impl From<domain::Merge> for MergeDto {
    fn from(m: domain::Merge) -> Self {
        Self {
            merged_id: m.merged_id,
            survivor_id: m.survivor_id,
            merged_at: m.merged_at,
        }
    }
}

// ----- find my membership -----

/// `POST /v1/find-membership/locate`: the Membership ID a visitor entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindMembershipLocateRequest {
    pub membership_id: String,
}

/// How a verification code travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetChannelDto {
    Email,
    Sms,
}

/// A place a code can be sent, masked (`j***@e***.org`, `***-***-1234`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedTargetDto {
    /// What `FindMembershipSendRequest::target` names.
    pub index: u32,
    pub channel: TargetChannelDto,
    pub masked: String,
}

/// Answer to a locate. An unknown id, and a membership with no primary email or phone to
/// send a code to, are both `not_found`, with nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FindMembershipLocateReply {
    Found {
        request_id: String,
        targets: Vec<MaskedTargetDto>,
    },
    NotFound,
}

/// `POST /v1/find-membership/send`: send a code to one of the request's targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindMembershipSendRequest {
    pub request_id: String,
    pub target: u32,
}

/// Answer to a send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FindMembershipSendReply {
    Sent {
        target: MaskedTargetDto,
        /// The code stops working at this instant (10 minutes after it was sent).
        expires_at: DateTime<Utc>,
        attempts_left: u32,
    },
    /// Five wrong codes were entered for this request: no more codes.
    Locked,
}

/// `POST /v1/find-membership/verify`: the code the visitor entered.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindMembershipVerifyRequest {
    pub request_id: String,
    pub code: String,
}

impl std::fmt::Debug for FindMembershipVerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FindMembershipVerifyRequest")
            .field("request_id", &self.request_id)
            .field("code", &"******")
            .finish()
    }
}

/// Answer to a verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FindMembershipVerifyReply {
    /// The code is right: `lookup_id` is the member constituent whose contact received it
    /// (after merges), `membership` the membership as the hub holds it now.
    Verified {
        lookup_id: String,
        membership: MembershipDto,
    },
    WrongCode {
        attempts_left: u32,
    },
    Expired,
    Locked,
    /// The request was verified before, with another code.
    AlreadyUsed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_is_tagged_by_op() {
        let c: Change<MergeDto> = serde_json::from_str(r#"{"op":"delete","key":"8-1"}"#).unwrap();
        assert_eq!(c, Change::Delete { key: "8-1".into() });
        let bad = serde_json::from_str::<Change<MergeDto>>(r#"{"op":"explode","key":"8-1"}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn an_upsert_names_the_parts_that_changed_and_an_unknown_part_covers_them_all() {
        let cases: &[(&str, Option<Parts>)] = &[
            (
                r#"{"op":"upsert","key":"8-1","data":{"merged_id":"8-1","survivor_id":"8-2","merged_at":"2026-01-01T00:00:00Z"}}"#,
                None,
            ),
            (
                r#"{"op":"upsert","key":"8-1","data":{"merged_id":"8-1","survivor_id":"8-2","merged_at":"2026-01-01T00:00:00Z"},"changed":[]}"#,
                Some(Parts::default()),
            ),
            (
                r#"{"op":"upsert","key":"8-1","data":{"merged_id":"8-1","survivor_id":"8-2","merged_at":"2026-01-01T00:00:00Z"},"changed":["emails","record"]}"#,
                Some(Parts::EMAILS | Parts::RECORD),
            ),
            (
                r#"{"op":"upsert","key":"8-1","data":{"merged_id":"8-1","survivor_id":"8-2","merged_at":"2026-01-01T00:00:00Z"},"changed":["phones","pets"]}"#,
                Some(Parts::ALL),
            ),
        ];
        for (wire, want) in cases {
            let c: Change<MergeDto> = serde_json::from_str(wire).unwrap();
            let Change::Upsert { changed, .. } = &c else {
                panic!("{wire}: not an upsert");
            };
            assert_eq!(changed, want, "{wire}");
        }
        let out = serde_json::to_value(Change::Upsert {
            key: "8-1".to_owned(),
            data: 1,
            changed: Some(Parts::PHONES | Parts::HISTORICAL_NAMES),
        })
        .unwrap();
        assert_eq!(
            out["changed"],
            serde_json::json!(["historical_names", "phones"])
        );
        let plain = serde_json::to_value(Change::upsert("8-1", 1)).unwrap();
        assert!(plain.get("changed").is_none());
    }

    #[test]
    fn contact_type_is_named_type_on_the_wire() {
        let e = EmailDto {
            address: "a@b.org".into(),
            meta: ContactMetaDto {
                kind: "Home".into(),
                primary: true,
                active: true,
                start: None,
                end: None,
            },
        };
        let j = serde_json::to_value(&e).unwrap();
        assert_eq!(j["type"], "Home");
        assert_eq!(serde_json::from_value::<EmailDto>(j).unwrap(), e);
    }

    #[test]
    fn resources_round_trip_their_names() {
        for r in Resource::ALL {
            assert_eq!(Resource::parse(r.as_str()), Some(r));
        }
        assert_eq!(Resource::parse("orders"), None);
    }

    #[test]
    fn a_device_pulls_only_the_feeds_its_hub_serves() {
        let hello = |resources: Option<&[&str]>| Hello {
            protocol: PROTOCOL_VERSION,
            server_time: Utc::now(),
            hub_id: "h".into(),
            device_id: "d".into(),
            resources: resources.map(|r| r.iter().map(|s| s.to_string()).collect()),
        };
        assert_eq!(hello(None).feeds(), Resource::FIRST.to_vec());
        assert_eq!(
            hello(Some(&["tickets", "slots", "orders", "catalog"])).feeds(),
            vec![Resource::Catalog, Resource::Slots, Resource::Tickets]
        );
        assert_eq!(hello(Some(&[])).feeds(), Vec::<Resource>::new());
        // A hub before the kiosk sent no list; its hello still reads.
        let old: Hello = serde_json::from_str(
            r#"{"protocol":1,"server_time":"2026-12-06T10:00:00Z","hub_id":"h","device_id":"d"}"#,
        )
        .unwrap();
        assert_eq!(old.feeds().len(), 5);
    }
}

/// The `jobs` feed: a volunteer job the CRM has (timesheets must name one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDto {
    pub name: String,
}

/// The `volunteer_events` feed.
pub type VolunteerEventDto = crate::volunteer::VolunteerEvent;
/// The `volunteer_shifts` feed.
pub type ShiftDto = crate::volunteer::Shift;
