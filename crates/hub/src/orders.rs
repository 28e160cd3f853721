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
use portico_core::input::credential::signed_ticket;
use portico_core::kiosk::catalog::Admission;
use portico_core::kiosk::pricing::{CartLine, PriceError, Quote, quote};
use portico_core::protocol::{Resource, TicketDto, UploadRow, ValidityDto};
use portico_core::upstream::OrderV2;

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS orders (
    order_id    TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    device_id   TEXT,
    -- Unique per kiosk (its prefix and sequence), not across kiosks.
    order_no    TEXT NOT NULL,
    constituent TEXT,
    gross       INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    offline     INTEGER NOT NULL DEFAULT 0,
    doc         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_number ON orders(order_no);
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

// ----- kiosk orders -----

/// Checks a kiosk's order before it is applied: lines that add up, a payment of the total,
/// and tickets signed by the uploading kiosk's registered key (not revoked) that say what
/// their lines sold. Only a malformed row is refused: the visitor paid, so a CRM detail never
/// holds an order back.
pub fn check(
    tx: &Connection,
    device_id: &str,
    o: &OrderV2,
) -> Result<std::result::Result<(), String>> {
    let refuse = |why: String| Ok(Err(format!("order {}: {why}", o.order_no)));
    if o.lines.is_empty() {
        return refuse("no lines".into());
    }
    if o.order_id.is_empty() || o.order_no.is_empty() || o.currency.is_empty() {
        return refuse("order_id, order_no and currency are required".into());
    }
    let mut sums = (0i64, 0i64, 0i64);
    for l in &o.lines {
        if l.net.checked_add(l.tax) != Some(l.gross) || l.quantity == 0 {
            return refuse(format!("line {} does not add up", l.line_no));
        }
        sums = (sums.0 + l.net, sums.1 + l.tax, sums.2 + l.gross);
    }
    if sums != (o.net, o.tax, o.gross) || o.net + o.tax != o.gross {
        return refuse("totals are not the sum of the lines".into());
    }
    if o.payment.amount != o.gross {
        return refuse(format!(
            "payment of {} for a total of {}",
            o.payment.amount, o.gross
        ));
    }
    for t in &o.tickets {
        let decoded = match signed_ticket::decode(&t.code) {
            Ok(d) => d,
            Err(e) => return refuse(format!("ticket {}: {e}", t.secret)),
        };
        let key_id = decoded.claimed.key_id;
        let Some(key) = super::keys::device_key(tx, device_id, key_id)? else {
            return refuse(format!(
                "ticket {} is signed with key {key_id}, not a key of {device_id}",
                t.secret
            ));
        };
        let Some(vk) = signed_ticket::public_key(&key) else {
            return refuse(format!("key {key_id} is unreadable"));
        };
        let signed = match decoded.verify_with(&vk) {
            Ok(s) => s,
            Err(e) => return refuse(format!("ticket {}: {e}", t.secret)),
        };
        let line = o.lines.iter().find(|l| l.line_no == t.line_no);
        if signed.to_ticket().secret != t.secret
            || signed.fields.product_id != t.product_id
            || line.is_none_or(|l| l.product_id != t.product_id)
        {
            return refuse(format!("ticket {} does not match its line", t.secret));
        }
    }
    Ok(Ok(()))
}

/// Applies a kiosk's order: recorded once (the caller skips a replayed row), its seats
/// counted sold and used from the kiosk's lease, its tickets published (so a refund can revoke
/// them and the venue's records hold them), its buyer resolved like a visitor's update.
pub fn apply(
    tx: &Connection,
    seq: &mut Seq,
    device_id: &str,
    row: &UploadRow,
    now: DateTime<Utc>,
) -> Result<std::result::Result<Option<String>, String>> {
    let o: OrderV2 = match serde_json::from_value(row.payload.clone()) {
        Ok(o) => o,
        Err(e) => return Ok(Err(format!("order payload: {e}"))),
    };
    let constituent = match &o.constituent {
        Some(id) => super::intake::resolve(tx, device_id, id)?
            .and_then(|chain| chain.last().cloned())
            .or_else(|| Some(id.clone())),
        None => None,
    };
    let inserted = tx.execute(
        "INSERT INTO orders (order_id, source, device_id, order_no, constituent, gross, currency,
         created_at, offline, doc) VALUES (?1, 'kiosk', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (order_id) DO NOTHING",
        params![
            o.order_id,
            device_id,
            o.order_no,
            constituent,
            o.gross,
            o.currency,
            o.created_at.to_rfc3339(),
            o.offline,
            row.payload.to_string()
        ],
    )?;
    if inserted == 0 {
        // The order is here already (under another upload): its seats are counted and its
        // tickets published, and a refund made since must stand.
        tracing::info!(device = %device_id, order = %o.order_no, "kiosk order already received");
        return Ok(Ok(None));
    }
    let mut slots: std::collections::BTreeMap<&str, u32> = Default::default();
    for l in &o.lines {
        if let (Some(slot), true) = (l.slot_id.as_deref(), l.seats > 0) {
            *slots.entry(slot).or_default() += l.seats;
        }
    }
    for (slot, seats) in slots {
        leases::record_sale(tx, slot, seats, Some(device_id))?;
        tx.execute(
            "INSERT INTO order_slots (order_id, slot_id, seats) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![o.order_id, slot, seats],
        )?;
    }
    for t in &o.tickets {
        let ticket = TicketDto {
            secret: t.secret.clone(),
            product_id: t.product_id.clone(),
            validity: ValidityDto::from(t.validity.clone()),
            uses_allowed: t.uses,
            status: TicketStatus::Valid,
            holder: constituent.clone(),
        };
        put(
            tx,
            seq,
            Resource::Tickets,
            &t.secret,
            Some(&serde_json::to_string(&ticket)?),
        )?;
    }
    let membership = membership_lines(tx, seq, &o, constituent.as_deref())?;
    if let Some(email) = &o.receipt_email {
        tx.execute(
            "INSERT INTO notification_spool (request_id, channel, recipient, body, created_at)
             VALUES (?1, 'email', ?2, ?3, ?4)",
            params![
                o.order_id,
                email,
                format!(
                    "Your receipt for order {}: {}",
                    o.order_no,
                    portico_core::kiosk::money::format(o.gross, &o.currency)
                ),
                now.timestamp()
            ],
        )?;
    }
    tracing::info!(
        device = %device_id,
        order = %o.order_no,
        gross = o.gross,
        tickets = o.tickets.len(),
        membership = membership.as_deref().unwrap_or("-"),
        "kiosk order received"
    );
    Ok(Ok(None))
}

/// The membership level the first of `products` that sells one offers, if any.
pub(crate) fn membership_offer<'a>(
    tx: &Connection,
    products: impl IntoIterator<Item = &'a str>,
) -> Result<Option<portico_core::kiosk::catalog::MembershipOffer>> {
    let catalog = published(tx, super::catalog::ANY_CHANNEL, &[])?;
    Ok(products
        .into_iter()
        .find_map(|p| catalog.products.get(p)?.membership.clone()))
}

/// A membership bought at a kiosk: a renewal extends the member's membership by the level's
/// months from its expiry (or from today when it has lapsed) and makes it active; a new one
/// starts today with the buyer as its member. Returns the membership's id.
fn membership_lines(
    tx: &Connection,
    seq: &mut Seq,
    o: &OrderV2,
    buyer: Option<&str>,
) -> Result<Option<String>> {
    use chrono::Months;
    use portico_core::domain::MembershipStatus;
    use portico_core::protocol::MembershipDto;

    let Some(offer) = membership_offer(tx, o.lines.iter().map(|l| l.product_id.as_str()))? else {
        return Ok(None);
    };
    let today = o.local.date();
    let existing: Option<MembershipDto> = match &o.membership_id {
        Some(id) => super::store::get_membership(tx, id)?,
        None => None,
    };
    let m = match existing {
        Some(mut m) => {
            let from = m.expiry.max(today);
            m.expiry = from
                .checked_add_months(Months::new(offer.months))
                .unwrap_or(from);
            m.level = offer.level.clone();
            m.guest_allowance = offer.guest_allowance;
            m.status = MembershipStatus::Active;
            if let Some(b) = buyer
                && !m.members.iter().any(|x| x == b)
            {
                m.members.push(b.to_owned());
            }
            m
        }
        None => {
            let next: i64 = tx.query_row(
                "SELECT count(*) FROM records WHERE resource = 'memberships'",
                [],
                |r| r.get(0),
            )?;
            MembershipDto {
                membership_id: format!("M{:07}", 5_000_000 + next),
                level: offer.level.clone(),
                status: MembershipStatus::Active,
                start: today,
                expiry: today
                    .checked_add_months(Months::new(offer.months))
                    .unwrap_or(today),
                members: buyer.map(str::to_owned).into_iter().collect(),
                guest_allowance: offer.guest_allowance,
            }
        }
    };
    super::store::put_membership(tx, seq, &m)?;
    Ok(Some(m.membership_id))
}

/// One order as `portico hub orders` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRow {
    pub order_no: String,
    pub source: String,
    pub device_id: Option<String>,
    pub constituent: Option<String>,
    pub gross: i64,
    pub currency: String,
    pub created_at: String,
    pub offline: bool,
    pub tickets: usize,
    /// When the order was refunded (`portico hub refund`), if it was.
    pub refunded_at: Option<String>,
}

/// Every order, oldest first; only `device`'s when given.
pub fn list(conn: &Connection, device: Option<&str>) -> Result<Vec<OrderRow>> {
    let rows: Vec<(OrderRow, String)> = conn
        .prepare_cached(
            "SELECT o.order_no, o.source, o.device_id, o.constituent, o.gross, o.currency,
                    o.created_at, o.offline, o.doc, r.refunded_at
             FROM orders o LEFT JOIN order_refunds r ON r.order_id = o.order_id
             WHERE ?1 IS NULL OR o.device_id = ?1 ORDER BY o.created_at, o.order_no",
        )?
        .query_map([device], |r| {
            Ok((
                OrderRow {
                    order_no: r.get(0)?,
                    source: r.get(1)?,
                    device_id: r.get(2)?,
                    constituent: r.get(3)?,
                    gross: r.get(4)?,
                    currency: r.get(5)?,
                    created_at: r.get(6)?,
                    offline: r.get(7)?,
                    tickets: 0,
                    refunded_at: r.get(9)?,
                },
                r.get(8)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows
        .into_iter()
        .map(|(mut row, doc)| {
            row.tickets = serde_json::from_str::<serde_json::Value>(&doc)
                .ok()
                .and_then(|d| d.get("tickets").and_then(|t| t.as_array()).map(Vec::len))
                .unwrap_or(0);
            row
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, TimeZone};
    use ed25519_dalek::SigningKey;
    use portico_core::domain::TicketValidity;
    use portico_core::input::credential::signed_ticket::{TicketFields, issue};
    use portico_core::kiosk::pricing::PriceKind;
    use portico_core::protocol::RegisterKeyRequest;
    use portico_core::upstream::{IssuedTicketV2, OrderLineV2, PaymentV2};

    use super::*;
    use crate::HubStore;

    fn ticket(key: &SigningKey, key_id: u16, id: u64, product: &str) -> IssuedTicketV2 {
        let validity = TicketValidity::Date {
            date: chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
        };
        let fields = TicketFields {
            ticket_id: id,
            product_id: product.into(),
            validity: validity.clone(),
            uses: 1,
        };
        IssuedTicketV2 {
            secret: format!("PT-{key_id}-{id}"),
            code: issue(&fields, key_id, key).unwrap(),
            line_no: 1,
            product_id: product.into(),
            validity,
            uses: 1,
        }
    }

    /// `o` as a kiosk uploads it, under `idempotency_key`.
    fn upload_row(idempotency_key: &str, o: &OrderV2) -> UploadRow {
        UploadRow {
            idempotency_key: idempotency_key.into(),
            kind: "order".into(),
            version: 2,
            payload: serde_json::to_value(o).unwrap(),
            created_at: o.created_at,
        }
    }

    fn order(key: &SigningKey) -> OrderV2 {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 15, 0, 0).unwrap();
        OrderV2 {
            order_id: "o-1".into(),
            order_no: "K1-00001".into(),
            created_at: at,
            local: at.naive_utc(),
            offline: false,
            currency: "USD".into(),
            constituent: None,
            membership_id: None,
            language: "en".into(),
            lines: vec![OrderLineV2 {
                line_no: 1,
                product_id: "DAY".into(),
                category_id: Some("adult".into()),
                slot_id: None,
                quantity: 1,
                seats: 0,
                price_kind: PriceKind::NonMember,
                unit_price: 2900,
                tax_rule: "sales".into(),
                rate_bp: 825,
                inclusive: false,
                net: 2900,
                tax: 239,
                gross: 3139,
            }],
            net: 2900,
            tax: 239,
            gross: 3139,
            payment: PaymentV2 {
                reference: "PAY-1".into(),
                method: "card".into(),
                amount: 3139,
                auth_code: "A1".into(),
                card_brand: None,
                last4: None,
                terminal_txn: None,
                approved_at: at,
            },
            tickets: vec![ticket(key, 32768, 1, "DAY")],
            receipt_email: None,
        }
    }

    #[test]
    fn a_kiosk_order_is_refused_only_when_malformed_or_its_tickets_are_not_the_kiosks() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        let key = SigningKey::from_bytes(&[3; 32]);
        let stranger = SigningKey::from_bytes(&[4; 32]);
        for (device, k) in [("kiosk-1", &key), ("kiosk-2", &stranger)] {
            let public_key = data_encoding::BASE64.encode(k.verifying_key().as_bytes());
            store
                .write(|tx, seq| {
                    crate::keys::register(tx, seq, device, &RegisterKeyRequest { public_key })
                })
                .unwrap()
                .unwrap();
        }
        type Spoil = fn(&mut OrderV2, &SigningKey, &SigningKey);
        let cases: [(&str, Spoil, Option<&str>); 7] = [
            ("as sold", |_, _, _| {}, None),
            ("no lines", |o, _, _| o.lines.clear(), Some("no lines")),
            (
                "a line that does not add up",
                |o, _, _| o.lines[0].tax = 240,
                Some("does not add up"),
            ),
            ("totals off", |o, _, _| o.gross = 3000, Some("totals")),
            (
                "payment short",
                |o, _, _| o.payment.amount = 100,
                Some("payment of 100"),
            ),
            (
                "another kiosk's key",
                |o, _, other| o.tickets = vec![ticket(other, 32769, 1, "DAY")],
                Some("not a key of kiosk-1"),
            ),
            (
                "a ticket for another product",
                |o, key, _| o.tickets = vec![ticket(key, 32768, 1, "TIMED")],
                Some("does not match its line"),
            ),
        ];
        for (what, spoil, want) in cases {
            let mut o = order(&key);
            spoil(&mut o, &key, &stranger);
            let got = store.read(|c| check(c, "kiosk-1", &o)).unwrap();
            match (got, want) {
                (Ok(()), None) => {}
                (Err(why), Some(words)) if why.contains(words) => {}
                (got, want) => panic!("{what}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn an_order_uploaded_twice_is_taken_once_and_a_refund_made_between_stands() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        store
            .write(|tx, seq| crate::catalog::publish(tx, seq, day, 1, 0))
            .unwrap();
        let key = SigningKey::from_bytes(&[3; 32]);
        let o = order(&key);
        let upload = |idempotency_key: &str| {
            let row = upload_row(idempotency_key, &o);
            store
                .write(|tx, seq| apply(tx, seq, "kiosk-1", &row, Utc::now()))
                .unwrap()
                .unwrap();
        };
        let status = || {
            let doc = store
                .get_doc(Resource::Tickets, &o.tickets[0].secret)
                .unwrap()
                .unwrap();
            serde_json::from_str::<TicketDto>(&doc).unwrap().status
        };
        upload("first");
        assert_eq!(status(), TicketStatus::Valid);
        store
            .write(|tx, seq| {
                crate::refunds::refund(tx, seq, &o.order_no, None, "wrong day", Utc::now())
            })
            .unwrap()
            .unwrap();
        assert_eq!(status(), TicketStatus::Revoked);
        upload("second");
        assert_eq!(status(), TicketStatus::Revoked, "the refund stands");
        assert_eq!(store.read(|c| list(c, None)).unwrap().len(), 1);
    }

    #[test]
    fn a_membership_bought_at_a_kiosk_is_made_or_renewed_at_the_hub() {
        use portico_core::domain::MembershipStatus;
        use portico_core::protocol::MembershipDto;
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        store
            .write(|tx, seq| crate::catalog::publish(tx, seq, day, 1, 0))
            .unwrap();
        let key = SigningKey::from_bytes(&[3; 32]);
        let family = |order_id: &str, membership_id: Option<&str>| {
            let mut o = order(&key);
            o.order_id = order_id.into();
            o.tickets.clear();
            o.membership_id = membership_id.map(str::to_owned);
            o.constituent = Some("8-10000007".into());
            o.lines[0].product_id = "MEM-FAM".into();
            o.lines[0].category_id = None;
            upload_row(order_id, &o)
        };
        let apply_row = |row: &UploadRow| {
            store
                .write(|tx, seq| apply(tx, seq, "kiosk-1", row, Utc::now()))
                .unwrap()
                .unwrap();
        };
        // A new member.
        apply_row(&family("o-new", None));
        let made: Vec<MembershipDto> = store.all(Resource::Memberships).unwrap();
        assert_eq!(made.len(), 1);
        let m = &made[0];
        assert_eq!(
            (
                m.level.as_str(),
                m.status,
                m.guest_allowance,
                m.members.clone()
            ),
            (
                "Family",
                MembershipStatus::Active,
                2,
                vec!["8-10000007".to_owned()]
            )
        );
        assert_eq!((m.start, m.expiry), (day, day.with_year(2027).unwrap()));

        // Renewals: early (from the expiry) and lapsed (from today).
        let cases = [
            (
                "early",
                day + chrono::Duration::days(40),
                MembershipStatus::Active,
            ),
            (
                "lapsed",
                day - chrono::Duration::days(40),
                MembershipStatus::Lapsed,
            ),
        ];
        for (i, (what, expiry, status)) in cases.into_iter().enumerate() {
            let mut old = m.clone();
            old.membership_id = format!("M900000{i}");
            old.expiry = expiry;
            old.status = status;
            store
                .write(|tx, seq| crate::store::put_membership(tx, seq, &old))
                .unwrap();
            apply_row(&family(&format!("o-renew-{i}"), Some(&old.membership_id)));
            let renewed = store
                .read(|c| crate::store::get_membership(c, &old.membership_id))
                .unwrap()
                .unwrap();
            let from = expiry.max(day);
            assert_eq!(
                renewed.expiry,
                from.with_year(from.year() + 1).unwrap(),
                "{what}"
            );
            assert_eq!(renewed.status, MembershipStatus::Active, "{what}");
        }
    }
}
