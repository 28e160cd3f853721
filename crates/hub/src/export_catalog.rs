//! The catalog part of `portico hub export`: visitor categories, tax rules, products, their
//! prices and the timed-entry slots, in the columns of the mapping's `[catalog.*]` sections, as
//! `portico hub import` reads them back. Products sold only at the desk (no sale document) are
//! left out: the catalog files describe what the kiosks sell.

use std::io::Write;

use portico_core::domain::{MinorUnits, ProductKind};
use portico_core::import::Mapping;
use portico_core::kiosk::catalog::Admission;
use portico_core::protocol::{CategoryDto, ProductDto, Resource, SaleDto, SlotDto, TaxRuleDto};

use crate::export::{ExportError, yes};
use crate::store::HubStore;

/// Writes rows whose cells are paired with their column names; a column the mapping leaves
/// unnamed is left out of the file.
fn write_table(
    to: impl Write,
    columns: &[Option<&String>],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<u64, ExportError> {
    let mut w = csv::Writer::from_writer(to);
    w.write_record(columns.iter().flatten())?;
    let mut n = 0;
    for row in rows {
        w.write_record(
            row.iter()
                .zip(columns)
                .filter(|(_, c)| c.is_some())
                .map(|(v, _)| v),
        )?;
        n += 1;
    }
    w.flush().map_err(csv::Error::from)?;
    Ok(n)
}

/// Minor units as the CRM writes an amount: `24.95`.
fn amount(m: MinorUnits) -> String {
    let sign = if m < 0 { "-" } else { "" };
    let abs = m.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

pub fn categories(store: &HubStore, mapping: &Mapping, to: impl Write) -> Result<u64, ExportError> {
    let m = &mapping.catalog.categories;
    let mut all = store.all::<CategoryDto>(Resource::Categories)?;
    all.sort_by(|a, b| (a.sort, &a.category_id).cmp(&(b.sort, &b.category_id)));
    write_table(
        to,
        &[
            Some(&m.id),
            Some(&m.name),
            m.name_es.as_ref(),
            m.sort.as_ref(),
        ],
        all.into_iter()
            .map(|c| vec![c.category_id, c.names.en, c.names.es, c.sort.to_string()]),
    )
}

pub fn tax_rules(store: &HubStore, mapping: &Mapping, to: impl Write) -> Result<u64, ExportError> {
    let m = &mapping.catalog.tax_rules;
    write_table(
        to,
        &[
            Some(&m.id),
            Some(&m.name),
            m.name_es.as_ref(),
            Some(&m.rate),
            m.inclusive.as_ref(),
        ],
        store
            .all::<TaxRuleDto>(Resource::TaxRules)?
            .into_iter()
            .map(|t| {
                vec![
                    t.tax_rule_id,
                    t.names.en,
                    t.names.es,
                    amount(i64::from(t.rate_bp)),
                    yes(t.inclusive).to_owned(),
                ]
            }),
    )
}

/// The products the kiosks can read, with their sale documents.
fn sold(store: &HubStore) -> Result<Vec<(ProductDto, SaleDto)>, ExportError> {
    let mut out: Vec<(ProductDto, SaleDto)> = store
        .all::<ProductDto>(Resource::Catalog)?
        .into_iter()
        .filter_map(|p| {
            let sale = SaleDto::read(&p.sale.as_ref()?.to_string()).ok()?;
            Some((p, sale))
        })
        .collect();
    out.sort_by(|a, b| (a.1.sort, &a.0.product_id).cmp(&(b.1.sort, &b.0.product_id)));
    Ok(out)
}

pub fn products(store: &HubStore, mapping: &Mapping, to: impl Write) -> Result<u64, ExportError> {
    let m = &mapping.catalog.products;
    let columns = [
        Some(&m.id),
        Some(&m.name),
        m.name_es.as_ref(),
        Some(&m.kind),
        m.admission.as_ref(),
        m.slot_group.as_ref(),
        Some(&m.tax_rule),
        m.currency.as_ref(),
        m.sale_from.as_ref(),
        m.sale_until.as_ref(),
        m.channels.as_ref(),
        m.member_benefit.as_ref(),
        m.uses.as_ref(),
        m.membership_level.as_ref(),
        m.guest_allowance.as_ref(),
        m.term_months.as_ref(),
        m.sort.as_ref(),
        m.active.as_ref(),
    ];
    let rows = sold(store)?.into_iter().map(|(p, s)| {
        let (admission, group) = match &s.admission {
            Admission::None => ("None", String::new()),
            Admission::Dated => ("Dated", String::new()),
            Admission::Timed { slot_group } => ("Timed", slot_group.clone()),
        };
        let offer = s.membership.as_ref();
        vec![
            p.product_id,
            s.names.en,
            s.names.es,
            match p.kind {
                ProductKind::Ticket => "Ticket",
                ProductKind::Addon => "Add-on",
                ProductKind::Membership => "Membership",
            }
            .to_owned(),
            admission.to_owned(),
            group,
            s.tax_rule,
            p.currency,
            s.sale_from.map(|t| t.to_rfc3339()).unwrap_or_default(),
            s.sale_until.map(|t| t.to_rfc3339()).unwrap_or_default(),
            s.channels.join(";"),
            yes(s.member_benefit).to_owned(),
            s.ticket_uses.to_string(),
            offer.map(|o| o.level.clone()).unwrap_or_default(),
            offer
                .map(|o| o.guest_allowance.to_string())
                .unwrap_or_default(),
            offer.map(|o| o.months.to_string()).unwrap_or_default(),
            s.sort.to_string(),
            yes(p.active).to_owned(),
        ]
    });
    write_table(to, &columns, rows)
}

pub fn prices(store: &HubStore, mapping: &Mapping, to: impl Write) -> Result<u64, ExportError> {
    let m = &mapping.catalog.prices;
    let columns = [
        Some(&m.product),
        m.category.as_ref(),
        Some(&m.price),
        m.member_price.as_ref(),
        m.guest_price.as_ref(),
    ];
    let mut rows = Vec::new();
    for (p, s) in sold(store)? {
        if let Some(f) = s.flat {
            rows.push(vec![
                p.product_id.clone(),
                String::new(),
                amount(f.non_member),
                amount(f.member),
                String::new(),
            ]);
        }
        for c in s.prices {
            rows.push(vec![
                p.product_id.clone(),
                c.category,
                amount(c.non_member),
                amount(c.member),
                c.guest.map(amount).unwrap_or_default(),
            ]);
        }
    }
    write_table(to, &columns, rows.into_iter())
}

pub fn slots(store: &HubStore, mapping: &Mapping, to: impl Write) -> Result<u64, ExportError> {
    let m = &mapping.catalog.slots;
    let mut all = store.all::<SlotDto>(Resource::Slots)?;
    all.sort_by(|a, b| (a.start, &a.group).cmp(&(b.start, &b.group)));
    write_table(
        to,
        &[
            Some(&m.group),
            Some(&m.date),
            Some(&m.start),
            Some(&m.end),
            Some(&m.capacity),
            m.sales_close.as_ref(),
        ],
        all.into_iter().map(|s| {
            vec![
                s.group,
                s.start.format("%Y-%m-%d").to_string(),
                s.start.format("%H:%M").to_string(),
                s.end.format("%H:%M").to_string(),
                s.capacity.to_string(),
                s.sales_close.format("%H:%M").to_string(),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_are_written_with_two_decimals_and_their_sign() {
        let cases = [
            (2450, "24.50"),
            (5, "0.05"),
            (0, "0.00"),
            (-50, "-0.50"),
            (-1205, "-12.05"),
            (i64::MIN, "-92233720368547758.08"),
        ];
        for (minor, want) in cases {
            assert_eq!(super::amount(minor), want, "{minor}");
        }
    }
}
