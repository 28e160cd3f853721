//! The kiosk's catalog in the replica: the feeds of visitor categories, tax rules, timed-entry
//! slots and signing keys applied, and the whole catalog read back for the kiosk in one read
//! transaction.

use chrono::{NaiveDate, NaiveDateTime};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Applier, ApplyStats, ReplicaError, Result};
use crate::domain::ProductKind;
use crate::kiosk::catalog::{Catalog, Category, Slot, TaxRule};
use crate::protocol::{
    CategoryDto, Change, KIOSK_CHANNEL, ProductDto, SaleDto, SigningKeyDto, SlotDto, TaxRuleDto,
};

impl Applier {
    pub fn categories(
        &self,
        tx: &Connection,
        changes: &[Change<CategoryDto>],
    ) -> Result<ApplyStats> {
        docs(tx, changes, "categories", "category_id")
    }

    pub fn tax_rules(&self, tx: &Connection, changes: &[Change<TaxRuleDto>]) -> Result<ApplyStats> {
        docs(tx, changes, "tax_rules", "tax_rule_id")
    }

    pub fn slots(&self, tx: &Connection, changes: &[Change<SlotDto>]) -> Result<ApplyStats> {
        let mut stats = ApplyStats::default();
        for change in changes {
            match change {
                Change::Upsert { data: s, .. } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO slots
                         (slot_id, slot_group, start, end, capacity, sales_close)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![
                        s.slot_id,
                        s.group,
                        local(s.start),
                        local(s.end),
                        s.capacity,
                        local(s.sales_close)
                    ])?;
                }
                Change::Delete { key } => {
                    tx.prepare_cached("DELETE FROM slots WHERE slot_id = ?1")?
                        .execute([key])?;
                }
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }

    pub fn signing_keys(
        &self,
        tx: &Connection,
        changes: &[Change<SigningKeyDto>],
    ) -> Result<ApplyStats> {
        let mut stats = ApplyStats::default();
        for change in changes {
            match change {
                Change::Upsert { data: k, .. } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO signing_keys (key_id, device_id, public_key, revoked)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![k.key_id, k.device_id, k.public_key, k.revoked])?;
                }
                Change::Delete { key } => {
                    tx.prepare_cached("DELETE FROM signing_keys WHERE key_id = ?1")?
                        .execute([key])?;
                }
            }
            stats.add(matches!(change, Change::Upsert { .. }));
        }
        Ok(stats)
    }
}

/// A kiosk's ticket-signing key as the `signing_keys` feed delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedKey {
    pub device_id: String,
    /// Base64 of the Ed25519 public key.
    pub public_key: String,
    pub revoked: bool,
}

/// The signing key with id `key_id`, if the hub has delivered it.
pub fn signing_key(conn: &Connection, key_id: u16) -> Result<Option<FeedKey>> {
    Ok(conn
        .prepare_cached(
            "SELECT device_id, public_key, revoked FROM signing_keys WHERE key_id = ?1",
        )?
        .query_row([key_id], |r| {
            Ok(FeedKey {
                device_id: r.get(0)?,
                public_key: r.get(1)?,
                revoked: r.get(2)?,
            })
        })
        .optional()?)
}

/// Feeds kept as documents, keyed by their id column.
fn docs<T: serde::Serialize + Keyed>(
    tx: &Connection,
    changes: &[Change<T>],
    table: &str,
    key: &str,
) -> Result<ApplyStats> {
    let mut stats = ApplyStats::default();
    for change in changes {
        match change {
            Change::Upsert { data, .. } => {
                tx.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO {table} ({key}, doc) VALUES (?1, ?2)"
                ))?
                .execute(params![data.id(), serde_json::to_string(data)?])?;
            }
            Change::Delete { key: k } => {
                tx.prepare_cached(&format!("DELETE FROM {table} WHERE {key} = ?1"))?
                    .execute([k])?;
            }
        }
        stats.add(matches!(change, Change::Upsert { .. }));
    }
    Ok(stats)
}

trait Keyed {
    fn id(&self) -> &str;
}

impl Keyed for CategoryDto {
    fn id(&self) -> &str {
        &self.category_id
    }
}

impl Keyed for TaxRuleDto {
    fn id(&self) -> &str {
        &self.tax_rule_id
    }
}

/// Local times are stored as `YYYY-MM-DDTHH:MM:SS`, which sorts in time order.
pub(crate) fn local(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

pub(crate) fn parse_local(table: &'static str, s: &str) -> Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").map_err(|e| ReplicaError::Corrupt {
        table,
        detail: format!("time {s:?}: {e}"),
    })
}

/// The kiosk's catalog, and the products it does not sell because it cannot read how.
#[derive(Debug, Clone, Default)]
pub struct LoadedCatalog {
    pub catalog: Catalog,
    /// `(product id, why)`: a sale document of a schema this build does not read, say. The row
    /// stays in the replica as delivered; a later build reads it.
    pub unreadable: Vec<(String, String)>,
}

/// Reads everything the kiosk sells, with the slots of the days `from..=to`, in one read
/// transaction (so products, prices and slots are of one moment of the feeds).
pub fn load_catalog(conn: &Connection, from: NaiveDate, to: NaiveDate) -> Result<LoadedCatalog> {
    let tx = conn.unchecked_transaction()?;
    let out = read_catalog(&tx, from, to)?;
    tx.finish()?;
    Ok(out)
}

fn read_catalog(tx: &Connection, from: NaiveDate, to: NaiveDate) -> Result<LoadedCatalog> {
    let mut out = LoadedCatalog::default();
    let doc_err = |table: &'static str| {
        move |e: serde_json::Error| ReplicaError::Corrupt {
            table,
            detail: e.to_string(),
        }
    };

    let mut st = tx.prepare_cached("SELECT doc FROM categories")?;
    for doc in st.query_map([], |r| r.get::<_, String>(0))? {
        let c: CategoryDto = serde_json::from_str(&doc?).map_err(doc_err("categories"))?;
        out.catalog
            .categories
            .insert(c.category_id.clone(), Category::from(c));
    }
    let mut st = tx.prepare_cached("SELECT doc FROM tax_rules")?;
    for doc in st.query_map([], |r| r.get::<_, String>(0))? {
        let t: TaxRuleDto = serde_json::from_str(&doc?).map_err(doc_err("tax_rules"))?;
        out.catalog
            .tax_rules
            .insert(t.tax_rule_id.clone(), TaxRule::from(t));
    }

    let mut st = tx.prepare_cached(
        "SELECT product_id, name, kind, currency, member_price, non_member_price, sale
         FROM products WHERE active AND sale IS NOT NULL",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    for row in rows {
        let (id, name, kind, currency, member_price, non_member_price, sale) = row?;
        let Some(kind) = ProductKind::parse(&kind) else {
            out.unreadable
                .push((id, format!("unknown product kind {kind:?}")));
            continue;
        };
        let sale = match SaleDto::read(&sale) {
            Ok(s) => s,
            Err(e) => {
                out.unreadable.push((id, e.to_string()));
                continue;
            }
        };
        if !sale.sold_at(KIOSK_CHANNEL) {
            continue;
        }
        let v1 = ProductDto {
            product_id: id,
            name,
            kind,
            currency,
            member_price,
            non_member_price,
            active: true,
            sale: None,
        };
        let product = sale.into_product(&v1);
        out.catalog.products.insert(product.id.clone(), product);
    }

    let first = local(from.and_time(chrono::NaiveTime::MIN));
    let after = local(to.succ_opt().unwrap_or(to).and_time(chrono::NaiveTime::MIN));
    let mut st = tx.prepare_cached(
        "SELECT slot_id, slot_group, start, end, capacity, sales_close FROM slots
         WHERE start >= ?1 AND start < ?2",
    )?;
    let rows = st.query_map([first, after], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, u32>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    for row in rows {
        let (id, group, start, end, capacity, sales_close) = row?;
        let slot = Slot {
            id,
            group,
            start: parse_local("slots", &start)?,
            end: parse_local("slots", &end)?,
            capacity,
            sales_close: parse_local("slots", &sales_close)?,
        };
        out.catalog.slots.insert(slot.id.clone(), slot);
    }
    Ok(out)
}
