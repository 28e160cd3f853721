//! Orders at the hub: its own sales (`portico hub sell`, standing in for the venue's web shop),
//! priced by the kiosk's rules and drawing on the same timed-entry capacity as the kiosks'
//! leases, with their tickets published on the `tickets` feed.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rand::Rng;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::catalog::published;
use super::leases;
use super::store::{Result, Seq, put};
use portico_core::domain::TicketStatus;
use portico_core::kiosk::catalog::Admission;
use portico_core::kiosk::pricing::{CartLine, PriceError, Quote, quote};
use portico_core::protocol::{Resource, TicketDto, ValidityDto};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS orders (
    order_id    TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    device_id   TEXT,
    order_no    TEXT NOT NULL UNIQUE,
    constituent TEXT,
    gross       INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    offline     INTEGER NOT NULL DEFAULT 0,
    doc         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_slots (
    order_id TEXT NOT NULL,
    slot_id  TEXT NOT NULL,
    seats    INTEGER NOT NULL,
    PRIMARY KEY (order_id, slot_id)
) WITHOUT ROWID;
"#;

/// The channel whose products the hub's own sales offer.
pub const WEB_CHANNEL: &str = "web";

/// A sale at the hub: one product, its quantities per visitor category (`None` for a product
/// priced once), a slot for a timed admission, the visit day for a dated one.
#[derive(Debug, Clone)]
pub struct SaleRequest {
    pub product: String,
    pub slot: Option<String>,
    pub day: NaiveDate,
    pub quantities: Vec<(Option<String>, u32)>,
    pub constituent: Option<String>,
}

/// A sale made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HubSale {
    pub order_id: String,
    pub order_no: String,
    pub gross: i64,
    pub currency: String,
    pub seats: u32,
    /// The tickets' secrets, one per admission sold.
    pub tickets: Vec<String>,
}

/// Why a sale was refused (nothing is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SellRefused {
    #[error(transparent)]
    Price(#[from] PriceError),
    #[error("slot {slot} has {available} seats left, not {asked}")]
    SoldOut {
        slot: String,
        available: u32,
        asked: u32,
    },
}

/// What the hub keeps of an order it made.
#[derive(Debug, Serialize)]
struct OrderDoc<'a> {
    quote: &'a Quote,
    slot: Option<&'a str>,
    tickets: &'a [String],
}

/// Sells `req` in the caller's write transaction: prices it, checks the slot's seats left
/// (capacity less sold less every kiosk's unsold leases), counts them sold, records the order
/// and publishes a ticket per admission.
pub fn sell(
    tx: &Connection,
    seq: &mut Seq,
    req: &SaleRequest,
    now: DateTime<Utc>,
    now_local: NaiveDateTime,
    rng: &mut impl Rng,
) -> Result<std::result::Result<HubSale, SellRefused>> {
    let slots: Vec<&str> = req.slot.as_deref().into_iter().collect();
    let catalog = published(tx, WEB_CHANNEL, &slots)?;
    let cart: Vec<CartLine> = req
        .quantities
        .iter()
        .map(|(category, quantity)| CartLine {
            product: req.product.clone(),
            category: category.clone(),
            slot: req.slot.clone(),
            quantity: *quantity,
        })
        .collect();
    let q = match quote(&cart, &catalog, None, now, now_local) {
        Ok(q) => q,
        Err(e) => return Ok(Err(e.into())),
    };
    let Some(product) = catalog.products.get(&req.product) else {
        return Ok(Err(PriceError::UnknownProduct(req.product.clone()).into()));
    };
    let units: u32 = q.lines.iter().map(|l| l.quantity).sum();
    let timed = matches!(product.admission, Admission::Timed { .. });
    let (seats, validity) = match (
        &product.admission,
        req.slot.as_ref().and_then(|s| catalog.slots.get(s)),
    ) {
        (Admission::Timed { .. }, Some(slot)) => (
            units,
            ValidityDto::Slot {
                start: slot.start,
                end: slot.end,
            },
        ),
        _ => (0, ValidityDto::Date { date: req.day }),
    };
    if timed && let Some(slot_id) = &req.slot {
        let Some(slot) = leases::slot(tx, slot_id)? else {
            return Ok(Err(PriceError::UnknownProduct(slot_id.clone()).into()));
        };
        let available = leases::count(tx, &slot)?.available();
        if seats > available {
            return Ok(Err(SellRefused::SoldOut {
                slot: slot_id.clone(),
                available,
                asked: seats,
            }));
        }
        leases::record_sale(tx, slot_id, seats, None)?;
    }

    let number: i64 = tx.query_row(
        "SELECT count(*) + 1 FROM orders WHERE source = 'hub'",
        [],
        |r| r.get(0),
    )?;
    let order_no = format!("H-{number:05}");
    let order_id = uuid::Uuid::now_v7().to_string();
    let mut tickets = Vec::new();
    if product.ticket_uses > 0 && !matches!(product.admission, Admission::None) {
        for _ in 0..units {
            let t = TicketDto {
                secret: super::seed::ticket_secret(rng),
                product_id: product.id.clone(),
                validity: validity.clone(),
                uses_allowed: product.ticket_uses,
                status: TicketStatus::Valid,
                holder: req.constituent.clone(),
            };
            put(
                tx,
                seq,
                Resource::Tickets,
                &t.secret,
                Some(&serde_json::to_string(&t)?),
            )?;
            tickets.push(t.secret);
        }
    }
    let doc = OrderDoc {
        quote: &q,
        slot: req.slot.as_deref(),
        tickets: &tickets,
    };
    tx.execute(
        "INSERT INTO orders (order_id, source, device_id, order_no, constituent, gross, currency,
         created_at, doc) VALUES (?1, 'hub', NULL, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            order_id,
            order_no,
            req.constituent,
            q.gross,
            q.currency,
            now.to_rfc3339(),
            serde_json::to_string(&doc)?
        ],
    )?;
    if let (true, Some(slot)) = (seats > 0, &req.slot) {
        tx.execute(
            "INSERT INTO order_slots (order_id, slot_id, seats) VALUES (?1, ?2, ?3)",
            params![order_id, slot, seats],
        )?;
    }
    Ok(Ok(HubSale {
        order_id,
        order_no,
        gross: q.gross,
        currency: q.currency,
        seats,
        tickets,
    }))
}
