//! The catalog part of `portico hub import`: visitor categories, tax rules, products with their
//! prices, and timed-entry slots, from the CRM's files. Every row is checked first, and against
//! what the hub already holds (a product's tax rule, categories and slot group; a slot's seats
//! already sold or leased); then only the records that differ are written, in the import's
//! transaction, so the kiosks' next delta carries only those.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use portico_core::import::Mapping;
use portico_core::import::catalog::{CatalogLayout, PriceRow, ProductRow, assemble};
use portico_core::kiosk::catalog::Admission;
use portico_core::protocol::{CategoryDto, ProductDto, Resource, SlotDto, TaxRuleDto};
use rusqlite::Connection;

use crate::import::{ImportError, ImportOptions, Rejected, Tally, read_file};
use crate::store::{HubStore, Result, Seq, get_doc, put};

/// The catalog's rows as read, each with its file and line.
#[derive(Default)]
pub(crate) struct CatalogRead {
    categories: Option<Vec<(u64, CategoryDto)>>,
    tax_rules: Option<Vec<(u64, TaxRuleDto)>>,
    /// Products assembled with their prices.
    products: Option<Vec<(u64, ProductDto)>>,
    slots: Option<Vec<(u64, SlotDto)>>,
}

/// What the catalog import did, per kind of record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogReport {
    pub categories: Tally,
    pub tax_rules: Tally,
    pub products: Tally,
    pub slots: Tally,
}

/// The keys of the records the hub holds (not deleted) of one resource.
fn held_keys(c: &Connection, resource: Resource) -> Result<HashSet<String>> {
    let mut st = c.prepare_cached("SELECT key FROM records WHERE resource = ?1 AND deleted = 0")?;
    let keys = st
        .query_map([resource.as_str()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(keys)
}

/// The slot groups the hub's slots belong to.
fn held_slot_groups(c: &Connection) -> Result<HashSet<String>> {
    let mut st = c.prepare_cached(
        "SELECT DISTINCT json_extract(doc, '$.group') FROM records
         WHERE resource = ?1 AND deleted = 0 AND json_extract(doc, '$.group') IS NOT NULL",
    )?;
    let groups = st
        .query_map([Resource::Slots.as_str()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(groups)
}

fn reject(rejected: &mut Vec<Rejected>, file: &Path, row: u64, column: &str, reason: String) {
    rejected.push(Rejected {
        file: file.display().to_string(),
        row,
        column: column.to_owned(),
        reason,
    });
}

/// Reads and checks the catalog files `opts` names.
pub(crate) fn read(
    store: &HubStore,
    mapping: &Mapping,
    opts: &ImportOptions,
    rejected: &mut Vec<Rejected>,
    bar: &indicatif::ProgressBar,
) -> std::result::Result<CatalogRead, ImportError> {
    let m = &mapping.catalog;
    let df = || mapping.date_format.clone();
    let mut read = CatalogRead::default();
    if let Some(path) = &opts.categories {
        let rows = read_file(
            path,
            |h| CatalogLayout::categories(h, &m.categories, df()),
            |l, r| l.read(r),
            Some(&|c: &CategoryDto| c.category_id.clone()),
            rejected,
            bar,
        )?;
        read.categories = Some(rows.rows);
    }
    if let Some(path) = &opts.tax_rules {
        let rows = read_file(
            path,
            |h| CatalogLayout::tax_rules(h, &m.tax_rules, df()),
            |l, r| l.read(r),
            Some(&|t: &TaxRuleDto| t.tax_rule_id.clone()),
            rejected,
            bar,
        )?;
        read.tax_rules = Some(rows.rows);
    }
    if let Some(path) = &opts.slots {
        let rows = read_file(
            path,
            |h| CatalogLayout::slots(h, &m.slots, df()),
            |l, r| l.read(r),
            Some(&|s: &SlotDto| s.slot_id.clone()),
            rejected,
            bar,
        )?;
        // A slot's capacity cannot drop below the seats already sold or leased.
        let short = store.read(|c| {
            let mut short = Vec::new();
            for (row, s) in &rows.rows {
                let held = crate::leases::count(c, s)?;
                if s.capacity < held.sold + held.leased_unsold {
                    short.push((*row, held.sold + held.leased_unsold, s.capacity));
                }
            }
            Ok(short)
        })?;
        for (row, taken, capacity) in short {
            reject(
                rejected,
                path,
                row,
                &m.slots.capacity,
                format!(
                    "capacity {capacity} is below the {taken} seats already sold or leased to \
                     kiosks"
                ),
            );
        }
        read.slots = Some(rows.rows);
    }
    match (&opts.products, &opts.prices) {
        (None, None) => {}
        (None, Some(path)) | (Some(path), None) => reject(
            rejected,
            path,
            1,
            "(file)",
            "products and their prices are imported together (--products with --prices)".into(),
        ),
        (Some(products_path), Some(prices_path)) => {
            let products = read_file(
                products_path,
                |h| CatalogLayout::products(h, &m.products, df()),
                |l, r| l.read(r),
                Some(&|p: &ProductRow| p.product_id.clone()),
                rejected,
                bar,
            )?;
            let prices = read_file(
                prices_path,
                |h| CatalogLayout::prices(h, &m.prices, df()),
                |l, r| l.read(r),
                None,
                rejected,
                bar,
            )?;
            read.products = Some(check_products(
                store,
                m,
                (products_path, products.rows),
                (prices_path, prices.rows),
                &read,
                rejected,
            )?);
        }
    }
    Ok(read)
}

/// Joins each product with its prices and checks what it refers to: its tax rule, its visitor
/// categories and its slot group, in this import or held by the hub.
fn check_products(
    store: &HubStore,
    m: &portico_core::import::mapping::CatalogColumns,
    (products_path, products): (&Path, Vec<(u64, ProductRow)>),
    (prices_path, prices): (&Path, Vec<(u64, PriceRow)>),
    read: &CatalogRead,
    rejected: &mut Vec<Rejected>,
) -> std::result::Result<Vec<(u64, ProductDto)>, ImportError> {
    let (held_categories, held_tax_rules, held_groups) = store.read(|c| {
        Ok((
            held_keys(c, Resource::Categories)?,
            held_keys(c, Resource::TaxRules)?,
            held_slot_groups(c)?,
        ))
    })?;
    let categories: HashSet<String> = held_categories
        .into_iter()
        .chain(
            read.categories
                .iter()
                .flatten()
                .map(|(_, c)| c.category_id.clone()),
        )
        .collect();
    let tax_rules: HashSet<String> = held_tax_rules
        .into_iter()
        .chain(
            read.tax_rules
                .iter()
                .flatten()
                .map(|(_, t)| t.tax_rule_id.clone()),
        )
        .collect();
    let groups: HashSet<String> = held_groups
        .into_iter()
        .chain(read.slots.iter().flatten().map(|(_, s)| s.group.clone()))
        .collect();
    let known: HashSet<&str> = products
        .iter()
        .map(|(_, p)| p.product_id.as_str())
        .collect();
    let mut by_product: HashMap<&str, Vec<&PriceRow>> = HashMap::new();
    for (row, price) in &prices {
        if !known.contains(price.product_id.as_str()) {
            reject(
                rejected,
                prices_path,
                *row,
                &m.prices.product,
                format!("{} is not in the products file", price.product_id),
            );
            continue;
        }
        if let Some(category) = &price.category
            && !categories.contains(category)
        {
            reject(
                rejected,
                prices_path,
                *row,
                m.prices.category.as_deref().unwrap_or("category"),
                format!("no visitor category {category:?} (in the categories file or the hub)"),
            );
            continue;
        }
        by_product
            .entry(price.product_id.as_str())
            .or_default()
            .push(price);
    }
    let mut out = Vec::new();
    for (row, p) in &products {
        let mut bad = |column: &str, reason: String| {
            reject(rejected, products_path, *row, column, reason);
        };
        if !tax_rules.contains(&p.sale.tax_rule) {
            bad(
                &m.products.tax_rule,
                format!(
                    "no tax rule {:?} (in the tax rules file or the hub)",
                    p.sale.tax_rule
                ),
            );
            continue;
        }
        if let Admission::Timed { slot_group } = &p.sale.admission
            && !groups.contains(slot_group)
        {
            bad(
                m.products.slot_group.as_deref().unwrap_or("slot group"),
                format!("no slot of group {slot_group:?} (in the slots file or the hub)"),
            );
            continue;
        }
        let prices = by_product
            .get(p.product_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        match assemble(p, prices) {
            Ok(dto) => out.push((*row, dto)),
            Err(reason) => bad(&m.products.id, format!("{}: {reason}", p.product_id)),
        }
    }
    Ok(out)
}

/// Writes one kind of record: only what differs from the hub's copy. `missing`: the keys the
/// hub holds that the file lacks (a full file only).
fn apply_kind<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq>(
    tx: &Connection,
    seq: &mut Seq,
    resource: Resource,
    rows: &[(u64, T)],
    key: fn(&T) -> &str,
    partial: bool,
) -> Result<Tally> {
    let mut t = Tally::default();
    for (_, record) in rows {
        t.read += 1;
        let k = key(record);
        match get_doc(tx, resource, k)? {
            Some(doc) if serde_json::from_str::<T>(&doc).ok().as_ref() == Some(record) => {
                t.unchanged += 1;
                continue;
            }
            Some(_) => t.changed += 1,
            None => t.new += 1,
        }
        put(tx, seq, resource, k, Some(&serde_json::to_string(record)?))?;
    }
    if !partial {
        let seen: HashSet<&str> = rows.iter().map(|(_, r)| key(r)).collect();
        t.missing = held_keys(tx, resource)?
            .into_iter()
            .filter(|k| !seen.contains(k.as_str()))
            .collect();
        t.missing.sort();
    }
    Ok(t)
}

/// Applies what [`read`] accepted, in the import's transaction. Missing categories and tax
/// rules are only reported (products may still use them); missing products are withdrawn from
/// sale with `--delete-missing` (kept, inactive, for the tickets already sold); slots are
/// never reported missing (a slots file covers the days it covers: set a slot's capacity to 0
/// to stop its sales).
pub(crate) fn apply(
    tx: &Connection,
    seq: &mut Seq,
    read: &CatalogRead,
    opts: &ImportOptions,
) -> Result<CatalogReport> {
    let mut report = CatalogReport::default();
    if let Some(rows) = &read.categories {
        report.categories = apply_kind(
            tx,
            seq,
            Resource::Categories,
            rows,
            |c: &CategoryDto| &c.category_id,
            opts.partial,
        )?;
    }
    if let Some(rows) = &read.tax_rules {
        report.tax_rules = apply_kind(
            tx,
            seq,
            Resource::TaxRules,
            rows,
            |t: &TaxRuleDto| &t.tax_rule_id,
            opts.partial,
        )?;
    }
    if let Some(rows) = &read.slots {
        report.slots = apply_kind(
            tx,
            seq,
            Resource::Slots,
            rows,
            |s: &SlotDto| &s.slot_id,
            true,
        )?;
        for (_, slot) in rows {
            super::leases::slot_written(tx, slot)?;
        }
    }
    if let Some(rows) = &read.products {
        let mut t = apply_kind(
            tx,
            seq,
            Resource::Catalog,
            rows,
            |p: &ProductDto| &p.product_id,
            opts.partial,
        )?;
        // Products already withdrawn are not missing; the others are withdrawn when asked.
        let mut missing = Vec::with_capacity(t.missing.len());
        for id in std::mem::take(&mut t.missing) {
            let Some(doc) = get_doc(tx, Resource::Catalog, &id)? else {
                continue;
            };
            let mut p: ProductDto = serde_json::from_str(&doc)?;
            if !p.active {
                continue;
            }
            if opts.delete_missing && !opts.partial {
                p.active = false;
                put(
                    tx,
                    seq,
                    Resource::Catalog,
                    &id,
                    Some(&serde_json::to_string(&p)?),
                )?;
                t.deleted += 1;
            }
            missing.push(id);
        }
        t.missing = missing;
        report.products = t;
    }
    Ok(report)
}
