//! What goes upstream: the payload of every outbox kind, typed and versioned, in one place.
//! The device encodes these and the hub decodes them ([`Upstream::decode`]), so the two can
//! never disagree on a field. A payload's version changes with any change to its shape; the
//! hub answers a version it does not read with a per-row refusal that names it.
//!
//! Fields the hub needs to act on are required; the rest default when absent, so a row made
//! by an older build (or a test) with fewer fields still reads.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::gate::passage::AnnulReason;
use crate::gate::policy::ScanDirection;
pub use crate::intake::{NewConstituentV1, VisitorUpdateV1};

/// A payload type of one outbox kind at one version.
pub trait Payload: Serialize + DeserializeOwned {
    const KIND: &'static str;
    const VERSION: u32;
    /// Wraps the payload as the upstream row it is.
    fn into_upstream(self) -> Upstream;
}

/// A gate's scan (`scan`, version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanV1 {
    /// The key the credential's uses are recorded under, or the kind for unknown ones.
    pub credential: String,
    /// `admit` or `deny`.
    pub decision: String,
    #[serde(default)]
    pub reason_code: String,
    /// The decision's reason in plain words.
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub gate: String,
    #[serde(default = "entry")]
    pub direction: ScanDirection,
    #[serde(default)]
    pub party_requested: u32,
    #[serde(default)]
    pub party_admitted: u32,
    #[serde(default)]
    pub uses_burned: u32,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// The venue's local time of the scan.
    #[serde(default)]
    pub local: Option<NaiveDateTime>,
    /// Decided while the hub was unreachable.
    #[serde(default)]
    pub offline: bool,
    /// Unique per scan, for the hub's duplicate-admission report.
    #[serde(default)]
    pub nonce: String,
}

fn entry() -> ScanDirection {
    ScanDirection::Entry
}

/// An admission's use given back (`scan_annulment`, version 1): the gate opened and nobody
/// went through, or it never opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanAnnulmentV1 {
    /// The idempotency key of the admitted scan's own outbox row.
    pub scan_key: String,
    pub reason: AnnulReason,
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub gate: String,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// Why an admission's party size changed after the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyChange {
    /// Staff chose the party size on the gate screen.
    ConfirmedByStaff,
    /// The gate opened for a guest and nobody went through.
    GuestDidNotPass,
}

/// A settled party size (`scan_party`, version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanPartyV1 {
    /// The idempotency key of the admitted scan's own outbox row.
    pub scan_key: String,
    /// People the admission let in, the member included (the new total, not a difference).
    pub party_admitted: u32,
    /// Increases with each change to the same scan; the hub keeps the highest.
    pub revision: u32,
    pub reason: PartyChange,
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub gate: String,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// A visitor's record linked to a membership's constituent after Find My Membership
/// (`reassociation`, version 1): the visitor's record on the device (`visitor`) is to be
/// linked to constituent `lookup_id`, holder of `membership_id`, as the hub's request
/// `request_id` verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReassociationV1 {
    pub visitor: String,
    pub lookup_id: String,
    pub membership_id: String,
    pub request_id: String,
    pub verified_at: DateTime<Utc>,
}

/// Volunteer hours for the CRM (`timesheet`, version 1): the volunteer integration's rules
/// apply on the hub (event name at most 30 characters, a CRM job that exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimesheetV1 {
    /// The volunteer's constituent.
    pub constituent: String,
    pub event_name: String,
    /// The CRM job the hours go to.
    pub job: String,
    pub date: NaiveDate,
    pub hours: f64,
}

/// A volunteer's hours from the time clock (`timesheet`, version 2): version 1's fields, and
/// the clock's record of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimesheetV2 {
    /// The volunteer's constituent.
    pub constituent: String,
    pub event_name: String,
    /// The CRM job the hours go to.
    pub job: String,
    /// The day the hours count on (the check-in's).
    pub date: NaiveDate,
    pub hours: f64,
    /// The clock's id for this check-in (one timesheet each).
    pub clock_id: String,
    /// The scheduled shift; `None` for a walk-in.
    #[serde(default)]
    pub shift_id: Option<String>,
    /// Venue-local times.
    pub checked_in: NaiveDateTime,
    pub checked_out: NaiveDateTime,
    /// Why staff must approve these hours (a check-out that never came), if they must.
    #[serde(default)]
    pub needs_approval: Option<crate::volunteer::ApprovalReason>,
    #[serde(default)]
    pub device_id: String,
}

impl TimesheetV2 {
    /// The fields the CRM's rules judge, shared with version 1.
    pub fn as_v1(&self) -> TimesheetV1 {
        TimesheetV1 {
            constituent: self.constituent.clone(),
            event_name: self.event_name.clone(),
            job: self.job.clone(),
            date: self.date,
            hours: self.hours,
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineV1 {
    pub product_id: String,
    #[serde(default = "one")]
    pub quantity: u32,
    /// Price of one, in the currency's minor units.
    #[serde(default)]
    pub unit_price: Option<i64>,
}

fn one() -> u32 {
    1
}

/// An order (`order`, version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderV1 {
    pub lines: Vec<OrderLineV1>,
    #[serde(default)]
    pub currency: Option<String>,
    /// The buyer's constituent, when known.
    #[serde(default)]
    pub constituent: Option<String>,
}

/// A line of a kiosk order, priced and taxed as sold (the hub never prices it again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineV2 {
    pub line_no: u32,
    pub product_id: String,
    #[serde(default)]
    pub category_id: Option<String>,
    #[serde(default)]
    pub slot_id: Option<String>,
    pub quantity: u32,
    /// Seats of the slot's capacity this line takes.
    pub seats: u32,
    pub price_kind: crate::kiosk::pricing::PriceKind,
    pub unit_price: i64,
    pub tax_rule: String,
    pub rate_bp: u32,
    pub inclusive: bool,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
}

/// The card payment of a kiosk order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentV2 {
    /// The kiosk's reference for the payment, sent to the terminal.
    pub reference: String,
    pub method: String,
    pub amount: i64,
    pub auth_code: String,
    #[serde(default)]
    pub card_brand: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
    #[serde(default)]
    pub terminal_txn: Option<String>,
    pub approved_at: DateTime<Utc>,
}

/// A ticket the kiosk issued and signed for a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedTicketV2 {
    /// `PT-<key id>-<ticket id>`.
    pub secret: String,
    /// The signed text its QR code carries (`PT:…`).
    pub code: String,
    pub line_no: u32,
    pub product_id: String,
    pub validity: crate::domain::TicketValidity,
    pub uses: u32,
}

/// A kiosk's order (`order`, version 2): what was sold at what price and tax, the payment, and
/// the tickets issued, so the hub records it as sold with no lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderV2 {
    pub order_id: String,
    pub order_no: String,
    pub created_at: DateTime<Utc>,
    /// The venue's local time of the sale.
    pub local: NaiveDateTime,
    /// Sold while the kiosk could not reach the hub.
    pub offline: bool,
    pub currency: String,
    /// The buyer: a Lookup ID, or the local id of a record the kiosk created.
    #[serde(default)]
    pub constituent: Option<String>,
    /// The membership whose prices applied (or that was renewed).
    #[serde(default)]
    pub membership_id: Option<String>,
    pub language: String,
    pub lines: Vec<OrderLineV2>,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
    pub payment: PaymentV2,
    pub tickets: Vec<IssuedTicketV2>,
    /// Where to email the receipt, when the visitor asked for that.
    #[serde(default)]
    pub receipt_email: Option<String>,
}

/// Every upstream row, by kind (serialised as `{"kind": …, "payload": …}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Upstream {
    Order(OrderV2),
    /// An order as builds before the kiosk wrote it; still read.
    #[serde(rename = "order")]
    OrderV1(OrderV1),
    NewConstituent(NewConstituentV1),
    Scan(ScanV1),
    Timesheet(TimesheetV2),
    /// Hours as builds before the time clock wrote them; still read.
    #[serde(rename = "timesheet")]
    TimesheetV1(TimesheetV1),
    ScanAnnulment(ScanAnnulmentV1),
    Reassociation(ReassociationV1),
    VisitorUpdate(VisitorUpdateV1),
    ScanParty(ScanPartyV1),
}

macro_rules! payloads {
    (
        $($variant:ident($ty:ty) = $kind:literal v $version:literal),* $(,)?;
        reads { $($rvariant:ident($rty:ty) = $rkind:literal v $rversion:literal),* $(,)? }
    ) => {
        $(
            impl Payload for $ty {
                const KIND: &'static str = $kind;
                const VERSION: u32 = $version;
                fn into_upstream(self) -> Upstream {
                    Upstream::$variant(self)
                }
            }
        )*
        $(
            impl Payload for $rty {
                const KIND: &'static str = $rkind;
                const VERSION: u32 = $rversion;
                fn into_upstream(self) -> Upstream {
                    Upstream::$rvariant(self)
                }
            }
        )*

        /// Every kind and the payload version this build writes (and the hub reads).
        pub const KINDS: &[(&str, u32)] = &[$(($kind, $version)),*];

        /// Earlier versions of a kind this build still reads (the hub takes rows that devices
        /// of an earlier build queued), but no longer writes.
        pub const READ_ONLY: &[(&str, u32)] = &[$(($rkind, $rversion)),*];

        impl Upstream {
            /// The row's kind and payload version.
            pub fn kind(&self) -> (&'static str, u32) {
                match self {
                    $(Upstream::$variant(_) => ($kind, $version),)*
                    $(Upstream::$rvariant(_) => ($rkind, $rversion),)*
                }
            }

            /// The payload as JSON.
            pub fn to_json(&self) -> Result<String, serde_json::Error> {
                match self {
                    $(Upstream::$variant(p) => serde_json::to_string(p),)*
                    $(Upstream::$rvariant(p) => serde_json::to_string(p),)*
                }
            }

            /// Reads a row as uploaded: a kind this build does not know, a version of it this
            /// build does not read, or a payload that is not of its type is an error saying
            /// which.
            pub fn decode(
                kind: &str,
                version: u32,
                payload: &serde_json::Value,
            ) -> Result<Self, PayloadError> {
                match kind {
                    $($kind if version == $version => serde_json::from_value::<$ty>(payload.clone())
                        .map(Upstream::$variant)
                        .map_err(|e| PayloadError::Malformed {
                            kind: $kind,
                            message: e.to_string(),
                        }),)*
                    $($rkind if version == $rversion => serde_json::from_value::<$rty>(payload.clone())
                        .map(Upstream::$rvariant)
                        .map_err(|e| PayloadError::Malformed {
                            kind: $rkind,
                            message: e.to_string(),
                        }),)*
                    $($kind => Err(PayloadError::Version {
                        kind: $kind,
                        version,
                        reads: $version,
                    }),)*
                    other => Err(PayloadError::UnknownKind(other.to_owned())),
                }
            }
        }
    };
}

payloads! {
    Order(OrderV2) = "order" v 2,
    NewConstituent(NewConstituentV1) = "new_constituent" v 1,
    Scan(ScanV1) = "scan" v 1,
    Timesheet(TimesheetV2) = "timesheet" v 2,
    ScanAnnulment(ScanAnnulmentV1) = "scan_annulment" v 1,
    Reassociation(ReassociationV1) = "reassociation" v 1,
    VisitorUpdate(VisitorUpdateV1) = "visitor_update" v 1,
    ScanParty(ScanPartyV1) = "scan_party" v 1;
    reads {
        OrderV1(OrderV1) = "order" v 1,
        TimesheetV1(TimesheetV1) = "timesheet" v 1,
    }
}

/// An uploaded row that does not read as a payload of this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("unknown kind {0:?}")]
    UnknownKind(String),
    #[error("{kind} payload version {version} is not supported (this build reads version {reads})")]
    Version {
        kind: &'static str,
        version: u32,
        reads: u32,
    },
    #[error("{kind} payload: {message}")]
    Malformed { kind: &'static str, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_reads_back_what_it_wrote_and_names_what_it_cannot_read() {
        let scan = Upstream::Scan(ScanV1 {
            credential: "ticket:T1".into(),
            decision: "admit".into(),
            reason_code: "admitted".into(),
            reason: "Welcome! Ticket valid".into(),
            device_id: "gate-1".into(),
            gate: "North".into(),
            direction: ScanDirection::Entry,
            party_requested: 1,
            party_admitted: 1,
            uses_burned: 1,
            at: None,
            local: None,
            offline: false,
            nonce: "n".into(),
        });
        let (kind, version) = scan.kind();
        let json: serde_json::Value = serde_json::from_str(&scan.to_json().unwrap()).unwrap();
        assert_eq!(Upstream::decode(kind, version, &json).unwrap(), scan);

        let cases: [(&str, u32, serde_json::Value, &str); 4] = [
            ("scan", 2, json!({}), "version 2 is not supported"),
            ("teleport", 1, json!({}), "unknown kind \"teleport\""),
            (
                "scan",
                1,
                json!({"credential": "x"}),
                "missing field `decision`",
            ),
            (
                "timesheet",
                1,
                json!({"constituent": "8-1", "event_name": "Gala", "job": "Usher",
                       "date": "yesterday", "hours": 2}),
                "timesheet payload",
            ),
        ];
        for (kind, version, payload, words) in cases {
            let err = Upstream::decode(kind, version, &payload).unwrap_err();
            assert!(err.to_string().contains(words), "{kind}: {err}");
        }
    }

    #[test]
    fn an_order_of_the_previous_version_still_reads_and_a_newer_one_is_named() {
        let v1 = json!({"lines": [{"product_id": "p-adult", "quantity": 2}], "currency": "USD"});
        let read = Upstream::decode("order", 1, &v1).unwrap();
        assert_eq!(read.kind(), ("order", 1));
        let Upstream::OrderV1(o) = read else {
            panic!("{read:?}");
        };
        assert_eq!(o.lines[0].quantity, 2);
        let err = Upstream::decode("order", 3, &json!({})).unwrap_err();
        assert!(
            err.to_string()
                .contains("version 3 is not supported (this build reads version 2)"),
            "{err}"
        );
        let err = Upstream::decode("order", 2, &v1).unwrap_err();
        assert!(err.to_string().contains("order payload"), "{err}");
        assert!(READ_ONLY.contains(&("order", 1)) && KINDS.contains(&("order", 2)));
    }

    #[test]
    fn every_kind_is_listed_once() {
        let mut names: Vec<_> = KINDS.iter().map(|k| k.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
    }
}
