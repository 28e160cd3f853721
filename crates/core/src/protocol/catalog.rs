//! The kiosk's catalog on the wire: what a product costs per visitor category, its tax rule,
//! when and where it is on sale (the `sale` document of a catalog feed entry), and the
//! feeds of visitor categories, tax rules, timed-entry slots and kiosks' signing keys.
//!
//! A product's `sale` document is versioned on its own (`schema`): a device reads the versions
//! it knows and keeps any other as delivered, unsold, rather than guess at its prices. Builds
//! that predate the kiosk ignore the document and read the product's v1 fields as before.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ProductDto;
use crate::domain::MinorUnits;
use crate::kiosk::catalog::{
    Admission, CatalogProduct, Category, CategoryPrice, MembershipOffer, Slot, TaxRule, Text,
};

/// The `sale` document version this build writes and reads.
pub const SALE_SCHEMA: u32 = 2;

/// The channel name of the visitor kiosk in a product's `channels`.
pub const KIOSK_CHANNEL: &str = "kiosk";

/// A product's one price, for a product not priced per visitor category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlatPriceDto {
    pub non_member: MinorUnits,
    pub member: MinorUnits,
}

/// How a product is sold: the `sale` document of a catalog entry, schema 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleDto {
    pub schema: u32,
    pub names: Text,
    pub admission: Admission,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prices: Vec<CategoryPrice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat: Option<FlatPriceDto>,
    pub tax_rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_until: Option<DateTime<Utc>>,
    /// Where it is sold: `kiosk`, `web`. A name this build does not know is ignored.
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub member_benefit: bool,
    /// Uses of each ticket issued per unit sold; 0: no ticket (a membership).
    #[serde(default)]
    pub ticket_uses: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<MembershipOffer>,
    #[serde(default)]
    pub sort: i32,
}

/// Why a `sale` document cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaleDocError {
    #[error("sale document of schema {0}; this build reads schema {SALE_SCHEMA}")]
    Version(u32),
    #[error("malformed sale document: {0}")]
    Malformed(String),
}

impl SaleDto {
    /// Reads a `sale` document, refusing any schema but the one this build reads.
    pub fn read(doc: &str) -> Result<Self, SaleDocError> {
        #[derive(Deserialize)]
        struct Head {
            schema: u32,
        }
        let head: Head =
            serde_json::from_str(doc).map_err(|e| SaleDocError::Malformed(e.to_string()))?;
        if head.schema != SALE_SCHEMA {
            return Err(SaleDocError::Version(head.schema));
        }
        serde_json::from_str(doc).map_err(|e| SaleDocError::Malformed(e.to_string()))
    }

    pub fn sold_at(&self, channel: &str) -> bool {
        self.channels.iter().any(|c| c == channel)
    }

    /// The kiosk's model of the product `p` this document belongs to.
    pub fn into_product(self, p: &ProductDto) -> CatalogProduct {
        CatalogProduct {
            id: p.product_id.clone(),
            kind: p.kind,
            names: self.names,
            admission: self.admission,
            prices: self.prices,
            flat: self.flat.map(|f| (f.non_member, f.member)),
            tax_rule: self.tax_rule,
            currency: p.currency.clone(),
            sale_from: self.sale_from,
            sale_until: self.sale_until,
            member_benefit: self.member_benefit,
            ticket_uses: self.ticket_uses,
            membership: self.membership,
            sort: self.sort,
        }
    }
}

/// The `categories` feed: a kind of visitor priced differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryDto {
    pub category_id: String,
    pub names: Text,
    #[serde(default)]
    pub sort: i32,
}

/// The `tax_rules` feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRuleDto {
    pub tax_rule_id: String,
    pub names: Text,
    /// Hundredths of a percent.
    pub rate_bp: u32,
    pub inclusive: bool,
}

/// The `slots` feed: one timed-entry slot, in the venue's local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotDto {
    pub slot_id: String,
    pub group: String,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub capacity: u32,
    pub sales_close: NaiveDateTime,
}

/// The `signing_keys` feed: a kiosk's ticket-signing key as the hub registered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyDto {
    pub key_id: u16,
    pub device_id: String,
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    #[serde(default)]
    pub revoked: bool,
}

impl From<CategoryDto> for Category {
    fn from(c: CategoryDto) -> Self {
        Self {
            id: c.category_id,
            names: c.names,
            sort: c.sort,
        }
    }
}

impl From<TaxRuleDto> for TaxRule {
    fn from(t: TaxRuleDto) -> Self {
        Self {
            id: t.tax_rule_id,
            names: t.names,
            rate_bp: t.rate_bp,
            inclusive: t.inclusive,
        }
    }
}

impl From<SlotDto> for Slot {
    fn from(s: SlotDto) -> Self {
        Self {
            id: s.slot_id,
            group: s.group,
            start: s.start,
            end: s.end,
            capacity: s.capacity,
            sales_close: s.sales_close,
        }
    }
}

impl From<&Slot> for SlotDto {
    fn from(s: &Slot) -> Self {
        Self {
            slot_id: s.id.clone(),
            group: s.group.clone(),
            start: s.start,
            end: s.end,
            capacity: s.capacity,
            sales_close: s.sales_close,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProductKind;

    fn v1_product(sale: Option<serde_json::Value>) -> ProductDto {
        ProductDto {
            product_id: "TIMED".into(),
            name: "Timed entry".into(),
            kind: ProductKind::Ticket,
            currency: "USD".into(),
            member_price: 0,
            non_member_price: 2400,
            active: true,
            sale,
        }
    }

    fn sale() -> SaleDto {
        SaleDto {
            schema: SALE_SCHEMA,
            names: Text::new("Timed entry", "Entrada con horario"),
            admission: Admission::Timed {
                slot_group: "zoo".into(),
            },
            prices: vec![CategoryPrice {
                category: "adult".into(),
                non_member: 2400,
                member: 0,
                guest: Some(1200),
            }],
            flat: None,
            tax_rule: "sales".into(),
            sale_from: None,
            sale_until: None,
            channels: vec!["kiosk".into(), "web".into()],
            member_benefit: true,
            ticket_uses: 1,
            membership: None,
            sort: 1,
        }
    }

    #[test]
    fn a_product_document_reads_the_same_in_builds_before_and_after_the_kiosk() {
        // The v1 shape (no `sale`) reads as before, with no sale document.
        let v1 = r#"{"product_id":"p-adult","name":"Adult admission","kind":"ticket",
            "currency":"USD","member_price":0,"non_member_price":2400,"active":true}"#;
        let p: ProductDto = serde_json::from_str(v1).unwrap();
        assert_eq!(p.sale, None);
        assert!(!serde_json::to_string(&p).unwrap().contains("sale"));

        // A product with a sale document still carries every v1 field, so a build that
        // knows nothing of `sale` reads it (serde ignores the unknown field).
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct OldProduct {
            product_id: String,
            name: String,
            kind: ProductKind,
            currency: String,
            member_price: i64,
            non_member_price: i64,
            active: bool,
        }
        let doc = serde_json::to_value(sale()).unwrap();
        let wire = serde_json::to_string(&v1_product(Some(doc))).unwrap();
        let old: OldProduct = serde_json::from_str(&wire).unwrap();
        assert_eq!(old.non_member_price, 2400);
        let new: ProductDto = serde_json::from_str(&wire).unwrap();
        let read = SaleDto::read(&new.sale.as_ref().unwrap().to_string()).unwrap();
        assert_eq!(read, sale());
        let product = read.into_product(&new);
        assert_eq!((product.id.as_str(), product.ticket_uses), ("TIMED", 1));
    }

    #[test]
    fn a_sale_document_of_another_schema_is_refused_not_guessed_at() {
        let cases: &[(&str, Result<(), SaleDocError>)] = &[
            (
                r#"{"schema":3,"names":{"en":"X"},"pricing":"dynamic"}"#,
                Err(SaleDocError::Version(3)),
            ),
            (r#"{"schema":1}"#, Err(SaleDocError::Version(1))),
            (
                r#"{"names":{"en":"X"}}"#,
                Err(SaleDocError::Malformed(String::new())),
            ),
            (
                r#"{"schema":2,"names":{"en":"X"}}"#,
                Err(SaleDocError::Malformed(String::new())),
            ),
            (
                r#"{"schema":2,"names":{"en":"X"},"admission":{"type":"none"},"tax_rule":"t"}"#,
                Ok(()),
            ),
        ];
        for (doc, want) in cases {
            let got = SaleDto::read(doc).map(drop);
            match (got, want) {
                (Err(SaleDocError::Malformed(_)), Err(SaleDocError::Malformed(_))) => {}
                (got, want) => assert_eq!(&got, want, "{doc}"),
            }
        }
    }

    #[test]
    fn channels_name_where_a_product_is_sold() {
        let mut s = sale();
        assert!(s.sold_at(KIOSK_CHANNEL));
        s.channels = vec!["web".into(), "telepathy".into()];
        assert!(!s.sold_at(KIOSK_CHANNEL));
    }
}
