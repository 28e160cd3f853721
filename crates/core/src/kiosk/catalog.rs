//! What a kiosk sells: products with a price per visitor category for members and for
//! everyone else, their tax rules, when they are on sale, and the timed-entry slots that
//! bound how many visitors come at once.
//!
//! Plain data, delivered by the hub's feeds and read by [`super::pricing`]. Slot times are the
//! venue's local time, like a ticket's slot validity and the gate's decision, so a ticket, the
//! catalog and a gate agree with no time-zone step.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{MinorUnits, ProductKind};

pub use crate::lang::Lang;

/// A name or description in each language; Spanish falls back to English when the venue has
/// not translated it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Text {
    pub en: String,
    #[serde(default)]
    pub es: String,
}

impl Text {
    pub fn new(en: &str, es: &str) -> Self {
        Self {
            en: en.to_owned(),
            es: es.to_owned(),
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Es if !self.es.trim().is_empty() => &self.es,
            _ => &self.en,
        }
    }
}

/// A kind of visitor priced differently: adult, child, senior, under 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub id: String,
    pub names: Text,
    /// Order on screen (and among equal prices, for member benefits).
    pub sort: i32,
}

/// A tax rate, and whether prices include it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRule {
    pub id: String,
    pub names: Text,
    /// In hundredths of a percent: 825 is 8.25 %.
    pub rate_bp: u32,
    /// Prices include the tax (gross prices) rather than have it added (net prices).
    pub inclusive: bool,
}

/// How a ticket product admits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Admission {
    /// Not an admission (parking, a membership).
    None,
    /// Any time on the visit day.
    Dated,
    /// In a timed-entry slot of this group, drawing on the slot's capacity.
    Timed { slot_group: String },
}

/// One visitor category's prices for a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryPrice {
    pub category: String,
    pub non_member: MinorUnits,
    pub member: MinorUnits,
    /// What a member's guest pays, within the membership level's guest allowance; the member
    /// price when the venue sets none.
    #[serde(default)]
    pub guest: Option<MinorUnits>,
}

/// A membership level sold as a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipOffer {
    pub level: String,
    pub guest_allowance: u32,
    pub months: u32,
}

/// Something the kiosk sells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogProduct {
    pub id: String,
    pub kind: ProductKind,
    pub names: Text,
    pub admission: Admission,
    /// Prices per visitor category (admissions). Empty for a product with one price.
    #[serde(default)]
    pub prices: Vec<CategoryPrice>,
    /// The one price (non-member, member) of a product not priced by category.
    #[serde(default)]
    pub flat: Option<(MinorUnits, MinorUnits)>,
    pub tax_rule: String,
    /// ISO 4217.
    pub currency: String,
    #[serde(default)]
    pub sale_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sale_until: Option<DateTime<Utc>>,
    /// The membership's members and guests are priced unit by unit (see
    /// [`super::pricing::quote`]); other products simply take the member price.
    #[serde(default)]
    pub member_benefit: bool,
    /// Uses of the ticket issued for each unit sold; 0 for a product that issues none.
    #[serde(default)]
    pub ticket_uses: u32,
    #[serde(default)]
    pub membership: Option<MembershipOffer>,
    pub sort: i32,
}

impl CatalogProduct {
    /// On sale at `now` (the window's start included, its end excluded).
    pub fn on_sale(&self, now: DateTime<Utc>) -> bool {
        self.sale_from.is_none_or(|from| from <= now)
            && self.sale_until.is_none_or(|until| now < until)
    }
}

/// A timed-entry slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub id: String,
    pub group: String,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub capacity: u32,
    /// Sales stop (and a kiosk's unused seats go back to the hub) at this local time.
    pub sales_close: NaiveDateTime,
}

impl Slot {
    pub fn day(&self) -> NaiveDate {
        self.start.date()
    }

    pub fn open(&self, now_local: NaiveDateTime) -> bool {
        now_local < self.sales_close
    }
}

/// Everything a kiosk can sell, as the replica holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub products: BTreeMap<String, CatalogProduct>,
    pub categories: BTreeMap<String, Category>,
    pub tax_rules: BTreeMap<String, TaxRule>,
    pub slots: BTreeMap<String, Slot>,
}

impl Catalog {
    /// Products on sale at `now`, in screen order.
    pub fn for_sale(&self, kind: ProductKind, now: DateTime<Utc>) -> Vec<&CatalogProduct> {
        let mut v: Vec<_> = self
            .products
            .values()
            .filter(|p| p.kind == kind && p.on_sale(now))
            .collect();
        v.sort_by(|a, b| a.sort.cmp(&b.sort).then_with(|| a.id.cmp(&b.id)));
        v
    }

    /// A group's slots on `day` still on sale at `now_local`, earliest first.
    pub fn open_slots(&self, group: &str, day: NaiveDate, now_local: NaiveDateTime) -> Vec<&Slot> {
        let mut v: Vec<_> = self
            .slots
            .values()
            .filter(|s| s.group == group && s.day() == day && s.open(now_local))
            .collect();
        v.sort_by_key(|s| (s.start, s.id.clone()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn spanish_falls_back_to_english_when_untranslated() {
        let cases = [
            (Text::new("Adult", "Adulto"), Lang::Es, "Adulto"),
            (Text::new("Adult", "Adulto"), Lang::En, "Adult"),
            (Text::new("Parking", ""), Lang::Es, "Parking"),
            (Text::new("Parking", "  "), Lang::Es, "Parking"),
        ];
        for (text, lang, want) in cases {
            assert_eq!(text.get(lang), want, "{text:?} {lang:?}");
        }
    }

    #[test]
    fn a_slot_is_on_sale_until_its_sales_close() {
        let slot = Slot {
            id: "zoo@10:00".into(),
            group: "zoo".into(),
            start: t("2026-12-06 10:00"),
            end: t("2026-12-06 10:30"),
            capacity: 150,
            sales_close: t("2026-12-06 10:00"),
        };
        let cases = [
            ("2026-12-06 09:59", true),
            ("2026-12-06 10:00", false),
            ("2026-12-05 23:00", true),
        ];
        for (now, want) in cases {
            assert_eq!(slot.open(t(now)), want, "{now}");
        }
        let catalog = Catalog {
            slots: [(slot.id.clone(), slot.clone())].into(),
            ..Catalog::default()
        };
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        assert_eq!(
            catalog.open_slots("zoo", day, t("2026-12-06 09:00")).len(),
            1
        );
        assert!(
            catalog
                .open_slots("zoo", day, t("2026-12-06 10:00"))
                .is_empty()
        );
        assert!(
            catalog
                .open_slots("giraffe", day, t("2026-12-06 09:00"))
                .is_empty()
        );
    }
}
