//! What the venue's kiosks sell, as the hub publishes it: visitor categories, tax rules,
//! products with their sale documents, and timed-entry slots with their capacity.
//!
//! The seeder's venue is a zoo ("Riverside Zoo"): timed and day admissions priced for adults,
//! children, seniors and under-3s, three add-ons, and three membership levels; entry slots
//! every 30 minutes from 09:00 to 16:30 and giraffe feedings every 30 minutes from 10:00 to
//! 15:00. Nothing here draws on the seeder's random numbers, so every other seeded record is
//! the same with or without it.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rusqlite::Connection;

use super::store::{Result, Seq, StoreError, put};
use portico_core::domain::ProductKind;
use portico_core::kiosk::catalog::{Admission, Catalog, CategoryPrice, MembershipOffer, Text};
use portico_core::protocol::{
    CategoryDto, FlatPriceDto, KIOSK_CHANNEL, ProductDto, Resource, SALE_SCHEMA, SaleDto, SlotDto,
    TaxRuleDto,
};

/// One timed-entry group's daily pattern.
#[derive(Debug, Clone, Copy)]
pub struct SlotPattern {
    pub group: &'static str,
    /// First and last slot start of the day.
    pub first: NaiveTime,
    pub last: NaiveTime,
    pub every: Duration,
    pub capacity: u32,
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

/// The zoo's entry slots and giraffe feedings.
pub fn slot_patterns() -> [SlotPattern; 2] {
    [
        SlotPattern {
            group: "zoo",
            first: hm(9, 0),
            last: hm(16, 30),
            every: Duration::minutes(30),
            capacity: 150,
        },
        SlotPattern {
            group: "giraffe",
            first: hm(10, 0),
            last: hm(15, 0),
            every: Duration::minutes(30),
            capacity: 12,
        },
    ]
}

/// A slot's id: its group and local start, `zoo@2026-12-06T10:00`.
pub fn slot_id(group: &str, start: NaiveDateTime) -> String {
    portico_core::import::catalog::slot_id(group, start)
}

/// The slots of `days` days from `first`. Sales of a slot close when it starts.
pub fn slots(first: NaiveDate, days: u32) -> Vec<SlotDto> {
    let mut out = Vec::new();
    for d in 0..days {
        let day = first + Duration::days(i64::from(d));
        for p in slot_patterns() {
            let mut t = p.first;
            loop {
                let start = day.and_time(t);
                out.push(SlotDto {
                    slot_id: slot_id(p.group, start),
                    group: p.group.to_owned(),
                    start,
                    end: start + p.every,
                    capacity: p.capacity,
                    sales_close: start,
                });
                if t >= p.last {
                    break;
                }
                t += p.every;
            }
        }
    }
    out
}

pub fn categories() -> Vec<CategoryDto> {
    [
        ("adult", "Adult", "Adulto"),
        ("child", "Child (3–17)", "Niño (3–17)"),
        ("senior", "Senior (65+)", "Mayor (65+)"),
        ("under3", "Under 3", "Menor de 3"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (id, en, es))| CategoryDto {
        category_id: id.to_owned(),
        names: Text::new(en, es),
        sort: i as i32,
    })
    .collect()
}

pub fn tax_rules() -> Vec<TaxRuleDto> {
    vec![
        TaxRuleDto {
            tax_rule_id: "sales".into(),
            names: Text::new("Sales tax", "Impuesto sobre las ventas"),
            rate_bp: 825,
            inclusive: false,
        },
        TaxRuleDto {
            tax_rule_id: "exempt".into(),
            names: Text::new("Tax exempt", "Exento de impuestos"),
            rate_bp: 0,
            inclusive: true,
        },
    ]
}

/// (category, non-member, member, member's guest)
type Prices = [(&'static str, i64, i64, i64); 4];

const TIMED_PRICES: Prices = [
    ("adult", 2400, 0, 1200),
    ("child", 1400, 0, 700),
    ("senior", 1900, 0, 950),
    ("under3", 0, 0, 0),
];

const DAY_PRICES: Prices = [
    ("adult", 2900, 0, 1500),
    ("child", 1900, 0, 1000),
    ("senior", 2400, 0, 1200),
    ("under3", 0, 0, 0),
];

fn sale(names: Text, admission: Admission, tax_rule: &str, sort: i32) -> SaleDto {
    SaleDto {
        schema: SALE_SCHEMA,
        names,
        admission,
        prices: Vec::new(),
        flat: None,
        tax_rule: tax_rule.to_owned(),
        sale_from: None,
        sale_until: None,
        channels: vec![KIOSK_CHANNEL.to_owned(), "web".to_owned()],
        member_benefit: false,
        ticket_uses: 0,
        membership: None,
        sort,
    }
}

fn admission(names: Text, admission: Admission, prices: &Prices, sort: i32) -> SaleDto {
    SaleDto {
        prices: prices
            .iter()
            .map(|&(category, non_member, member, guest)| CategoryPrice {
                category: category.to_owned(),
                non_member,
                member,
                guest: Some(guest),
            })
            .collect(),
        member_benefit: true,
        ticket_uses: 1,
        ..sale(names, admission, "sales", sort)
    }
}

fn addon(names: Text, admission: Admission, non_member: i64, member: i64, sort: i32) -> SaleDto {
    SaleDto {
        flat: Some(FlatPriceDto { non_member, member }),
        ticket_uses: 1,
        ..sale(names, admission, "sales", sort)
    }
}

fn membership(
    names: Text,
    level: &str,
    guests: u32,
    price: i64,
    renewal: i64,
    sort: i32,
) -> SaleDto {
    SaleDto {
        flat: Some(FlatPriceDto {
            non_member: price,
            member: renewal,
        }),
        membership: Some(MembershipOffer {
            level: level.to_owned(),
            guest_allowance: guests,
            months: 12,
        }),
        ..sale(names, Admission::None, "exempt", sort)
    }
}

/// The kiosk's products: each a v1 catalog entry (so every build reads it) with its sale
/// document.
pub fn products() -> Vec<ProductDto> {
    let timed = || Admission::Timed {
        slot_group: "zoo".into(),
    };
    let items: Vec<(&str, ProductKind, SaleDto)> = vec![
        (
            "TIMED",
            ProductKind::Ticket,
            admission(
                Text::new("Timed entry", "Entrada con horario"),
                timed(),
                &TIMED_PRICES,
                10,
            ),
        ),
        (
            "DAY",
            ProductKind::Ticket,
            admission(
                Text::new("Day pass", "Pase de día"),
                Admission::Dated,
                &DAY_PRICES,
                20,
            ),
        ),
        (
            "GIRAFFE",
            ProductKind::Addon,
            addon(
                Text::new("Giraffe feeding", "Alimentar a las jirafas"),
                Admission::Timed {
                    slot_group: "giraffe".into(),
                },
                800,
                600,
                30,
            ),
        ),
        (
            "CAROUSEL",
            ProductKind::Addon,
            addon(
                Text::new("Carousel ride", "Vuelta en el carrusel"),
                Admission::Dated,
                300,
                300,
                40,
            ),
        ),
        (
            "PARKING",
            ProductKind::Addon,
            addon(
                Text::new("Parking", "Estacionamiento"),
                Admission::Dated,
                1000,
                0,
                50,
            ),
        ),
        (
            "MEM-IND",
            ProductKind::Membership,
            membership(
                Text::new("Individual membership", "Membresía individual"),
                "Individual",
                0,
                6500,
                6000,
                60,
            ),
        ),
        (
            "MEM-FAM",
            ProductKind::Membership,
            membership(
                Text::new("Family membership", "Membresía familiar"),
                "Family",
                2,
                12500,
                11500,
                70,
            ),
        ),
        (
            "MEM-PAT",
            ProductKind::Membership,
            membership(
                Text::new("Patron membership", "Membresía de patrocinador"),
                "Patron",
                4,
                50000,
                47500,
                80,
            ),
        ),
    ];
    items
        .into_iter()
        .map(|(id, kind, sale)| v1_entry(id, kind, sale))
        .collect()
}

/// A catalog entry for `sale`: the v1 fields carry the adult (or only) price.
pub fn v1_entry(id: &str, kind: ProductKind, sale: SaleDto) -> ProductDto {
    let (non_member, member) = match (&sale.flat, sale.prices.first()) {
        (Some(f), _) => (f.non_member, f.member),
        (None, Some(p)) => (p.non_member, p.member),
        (None, None) => (0, 0),
    };
    ProductDto {
        product_id: id.to_owned(),
        name: sale.names.en.clone(),
        kind,
        currency: "USD".to_owned(),
        member_price: member,
        non_member_price: non_member,
        active: true,
        sale: Some(serde_json::to_value(&sale).unwrap_or_default()),
    }
}

/// Extra timed admissions, for measuring a large catalog: `EXTRA-0001`, … priced like timed
/// entry.
pub fn extra_products(n: usize) -> Vec<ProductDto> {
    (1..=n)
        .map(|i| {
            let id = format!("EXTRA-{i:04}");
            let sale = admission(
                Text::new(
                    &format!("Special exhibit {i}"),
                    &format!("Exposición especial {i}"),
                ),
                Admission::Timed {
                    slot_group: "zoo".into(),
                },
                &TIMED_PRICES,
                100 + i as i32,
            );
            v1_entry(&id, ProductKind::Ticket, sale)
        })
        .collect()
}

/// What was published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    pub products: usize,
    pub slots: usize,
}

/// Checks a kiosk catalog before it is published: every product's tax rule and visitor
/// categories exist, its id fits a signed ticket (1–32 bytes), and its sale document reads.
pub fn check(
    products: &[ProductDto],
    categories: &[CategoryDto],
    tax_rules: &[TaxRuleDto],
) -> std::result::Result<(), String> {
    for p in products {
        if p.product_id.is_empty() || p.product_id.len() > 32 {
            return Err(format!(
                "product id {:?} is not 1 to 32 bytes",
                p.product_id
            ));
        }
        let Some(doc) = &p.sale else { continue };
        let sale = SaleDto::read(&doc.to_string()).map_err(|e| format!("{}: {e}", p.product_id))?;
        if !tax_rules.iter().any(|t| t.tax_rule_id == sale.tax_rule) {
            return Err(format!("{}: no tax rule {:?}", p.product_id, sale.tax_rule));
        }
        for price in &sale.prices {
            if !categories.iter().any(|c| c.category_id == price.category) {
                return Err(format!(
                    "{}: no visitor category {:?}",
                    p.product_id, price.category
                ));
            }
        }
        if sale.prices.is_empty() && sale.flat.is_none() {
            return Err(format!("{}: no price", p.product_id));
        }
    }
    Ok(())
}

/// Publishes the zoo's kiosk catalog with `days` days of slots from `first`, and `extra`
/// extra products, in the caller's transaction.
pub fn publish(
    tx: &Connection,
    seq: &mut Seq,
    first: NaiveDate,
    days: u32,
    extra: usize,
) -> Result<Published> {
    let categories = categories();
    let tax_rules = tax_rules();
    let mut products = products();
    products.extend(extra_products(extra));
    check(&products, &categories, &tax_rules).map_err(StoreError::Invalid)?;
    for c in &categories {
        put(
            tx,
            seq,
            Resource::Categories,
            &c.category_id,
            Some(&serde_json::to_string(c)?),
        )?;
    }
    for t in &tax_rules {
        put(
            tx,
            seq,
            Resource::TaxRules,
            &t.tax_rule_id,
            Some(&serde_json::to_string(t)?),
        )?;
    }
    for p in &products {
        put(
            tx,
            seq,
            Resource::Catalog,
            &p.product_id,
            Some(&serde_json::to_string(p)?),
        )?;
    }
    let slots = slots(first, days);
    for s in &slots {
        put(
            tx,
            seq,
            Resource::Slots,
            &s.slot_id,
            Some(&serde_json::to_string(s)?),
        )?;
        super::leases::slot_written(tx, s)?;
    }
    Ok(Published {
        products: products.len(),
        slots: slots.len(),
    })
}

/// The seeded catalog as a kiosk would load it, straight from the seeder's documents: every
/// product, the categories and tax rules, and `days` days of slots from `first` (for screens
/// and tests that need the zoo's catalog without a hub).
pub fn seeded(first: NaiveDate, days: u32) -> Catalog {
    let mut catalog = Catalog::default();
    for c in categories() {
        catalog.categories.insert(c.category_id.clone(), c.into());
    }
    for t in tax_rules() {
        catalog.tax_rules.insert(t.tax_rule_id.clone(), t.into());
    }
    for p in products() {
        if let Some(sale) = p
            .sale
            .as_ref()
            .and_then(|s| SaleDto::read(&s.to_string()).ok())
        {
            let product = sale.into_product(&p);
            catalog.products.insert(product.id.clone(), product);
        }
    }
    for s in slots(first, days) {
        catalog.slots.insert(s.slot_id.clone(), s.into());
    }
    catalog
}

/// `published`'s channel for every product, wherever it is sold.
pub const ANY_CHANNEL: &str = "*";

/// The catalog as the hub publishes it, priced by the same rules as a kiosk's: every product
/// sold at `channel` ([`ANY_CHANNEL`]: all), the categories and tax rules, and the slots named
/// in `slots`.
pub fn published(conn: &Connection, channel: &str, slots: &[&str]) -> Result<Catalog> {
    let docs = |resource: Resource| -> Result<Vec<String>> {
        Ok(conn
            .prepare_cached("SELECT doc FROM records WHERE resource = ?1 AND deleted = 0")?
            .query_map([resource.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    };
    let mut catalog = Catalog::default();
    for doc in docs(Resource::Categories)? {
        let c: CategoryDto = serde_json::from_str(&doc)?;
        catalog.categories.insert(c.category_id.clone(), c.into());
    }
    for doc in docs(Resource::TaxRules)? {
        let t: TaxRuleDto = serde_json::from_str(&doc)?;
        catalog.tax_rules.insert(t.tax_rule_id.clone(), t.into());
    }
    for doc in docs(Resource::Catalog)? {
        let p: ProductDto = serde_json::from_str(&doc)?;
        let Some(sale) = p
            .sale
            .as_ref()
            .and_then(|s| SaleDto::read(&s.to_string()).ok())
        else {
            continue;
        };
        if p.active && (channel == ANY_CHANNEL || sale.sold_at(channel)) {
            let product = sale.into_product(&p);
            catalog.products.insert(product.id.clone(), product);
        }
    }
    for id in slots {
        if let Some(s) = super::leases::slot(conn, id)? {
            catalog.slots.insert(s.slot_id.clone(), s.into());
        }
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zoo_has_sixteen_entry_slots_and_eleven_feedings_a_day() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let s = slots(day, 2);
        let count = |g: &str, d: NaiveDate| {
            s.iter()
                .filter(|x| x.group == g && x.start.date() == d)
                .count()
        };
        assert_eq!(count("zoo", day), 16);
        assert_eq!(count("giraffe", day), 11);
        assert_eq!(count("zoo", day.succ_opt().unwrap()), 16);
        let first = &s[0];
        assert_eq!(first.slot_id, "zoo@2026-12-06T09:00");
        assert_eq!(first.end - first.start, Duration::minutes(30));
        assert_eq!(first.sales_close, first.start);
        let ids: std::collections::BTreeSet<_> = s.iter().map(|x| &x.slot_id).collect();
        assert_eq!(ids.len(), s.len(), "slot ids are unique");
    }

    #[test]
    fn the_seeded_catalog_passes_its_own_checks() {
        let mut products = products();
        products.extend(extra_products(3));
        assert_eq!(check(&products, &categories(), &tax_rules()), Ok(()));
        assert_eq!(products.len(), 11);

        type Spoil = fn(&mut ProductDto);
        let cases: [(&str, Spoil, &str); 3] = [
            (
                "long id",
                ((|p| p.product_id = "X".repeat(33)) as Spoil),
                "1 to 32 bytes",
            ),
            (
                "no tax rule",
                (|p| {
                    let mut s = SaleDto::read(&p.sale.as_ref().unwrap().to_string()).unwrap();
                    s.tax_rule = "vat".into();
                    p.sale = Some(serde_json::to_value(s).unwrap());
                }),
                "no tax rule",
            ),
            (
                "unknown category",
                (|p| {
                    let mut s = SaleDto::read(&p.sale.as_ref().unwrap().to_string()).unwrap();
                    s.prices[0].category = "toddler".into();
                    p.sale = Some(serde_json::to_value(s).unwrap());
                }),
                "no visitor category",
            ),
        ];
        for (name, spoil, want) in cases {
            let mut ps = products.clone();
            spoil(&mut ps[0]);
            let err = check(&ps, &categories(), &tax_rules()).unwrap_err();
            assert!(err.contains(want), "{name}: {err}");
        }
    }
}
