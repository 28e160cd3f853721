//! Refunds at the hub (`portico hub refund`): a kiosk's order or one of the hub's own sales
//! taken back, as guest services does when a visitor bought the wrong day.
//!
//! A refund, in one transaction: every ticket of the order is revoked on the `tickets` feed (a
//! gate refuses it from its next pull, the kiosk-signed ones too: a signature proves a ticket
//! was sold, the feed says it still counts), its timed-entry seats go back on sale, and the
//! refund is recorded with its reason. Nothing is deleted; an order is refunded once. The money
//! itself goes back through the card terminal or the payment provider, outside Portico: the
//! refund says how much, and the payment's authorisation to find it by.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::store::{Result, Seq, get_doc, put};
use portico_core::domain::TicketStatus;
use portico_core::protocol::{Resource, TicketDto};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS order_refunds (
    order_id    TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    refunded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_scan_credential
    ON inbox(json_extract(payload, '$.credential')) WHERE kind = 'scan';
"#;

/// A refund made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refund {
    pub order_no: String,
    pub device_id: Option<String>,
    pub gross: i64,
    pub currency: String,
    /// The card payment's authorisation, for a kiosk's order.
    pub authorisation: Option<String>,
    /// The card it was paid with, as the receipt shows it ("VISA ****4242").
    pub card: Option<String>,
    /// The tickets revoked, by secret.
    pub revoked: Vec<String>,
    /// Of those, the ones a gate has already admitted (the visitor went in).
    pub already_admitted: Vec<String>,
    /// Seats given back, per entry time.
    pub seats_returned: Vec<(String, u32)>,
}

/// Why nothing was refunded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefused {
    #[error("no order {0}")]
    NoSuchOrder(String),
    #[error("order {order_no} is at more than one kiosk ({}); name one with --device", devices.join(", "))]
    Ambiguous {
        order_no: String,
        devices: Vec<String>,
    },
    #[error("order {order_no} was refunded already, at {at} ({reason})")]
    AlreadyRefunded {
        order_no: String,
        at: String,
        reason: String,
    },
    #[error("say why the order is refunded (--reason)")]
    NoReason,
    #[error(
        "order {0} includes a membership: refund it in the CRM, where the membership it made or \
         renewed is undone with it"
    )]
    Membership(String),
}

/// Refunds order `order_no` (of kiosk `device`, when several kiosks have that number) in the
/// caller's write transaction.
pub fn refund(
    tx: &Connection,
    seq: &mut Seq,
    order_no: &str,
    device: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<std::result::Result<Refund, RefundRefused>> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Ok(Err(RefundRefused::NoReason));
    }
    let found: Vec<(String, Option<String>, i64, String, String)> = tx
        .prepare_cached(
            "SELECT order_id, device_id, gross, currency, doc FROM orders
             WHERE order_no = ?1
               AND (?2 IS NULL OR device_id = ?2 OR (?2 = 'hub' AND device_id IS NULL))",
        )?
        .query_map(params![order_no, device], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let (order_id, device_id, gross, currency, doc) = match found.len() {
        0 => return Ok(Err(RefundRefused::NoSuchOrder(order_no.to_owned()))),
        1 => found.into_iter().next().expect("one order"),
        _ => {
            let mut devices: Vec<String> = found
                .into_iter()
                .map(|o| o.1.unwrap_or_else(|| "hub".to_owned()))
                .collect();
            devices.sort();
            return Ok(Err(RefundRefused::Ambiguous {
                order_no: order_no.to_owned(),
                devices,
            }));
        }
    };
    if let Some((at, reason)) = refunded(tx, &order_id)? {
        return Ok(Err(RefundRefused::AlreadyRefunded {
            order_no: order_no.to_owned(),
            at,
            reason,
        }));
    }
    let doc: serde_json::Value = serde_json::from_str(&doc)?;
    // What the order sold: a kiosk's order keeps its lines, the hub's own sale its quote's.
    let products: Vec<&str> = ["/lines", "/quote/lines"]
        .iter()
        .filter_map(|path| doc.pointer(path).and_then(|l| l.as_array()))
        .flatten()
        .filter_map(|l| {
            l.get("product_id")
                .or_else(|| l.get("product"))
                .and_then(|p| p.as_str())
        })
        .collect();
    if !products.is_empty() && super::orders::membership_offer(tx, products)?.is_some() {
        return Ok(Err(RefundRefused::Membership(order_no.to_owned())));
    }
    // A kiosk's order keeps its upload (tickets as objects with their secret); the hub's own
    // sale keeps the secrets.
    let secrets: Vec<String> = doc
        .get("tickets")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
        .filter_map(|t| {
            t.as_str()
                .or_else(|| t.get("secret").and_then(|s| s.as_str()))
                .map(str::to_owned)
        })
        .collect();
    let text_at = |path: &str| doc.pointer(path).and_then(|v| v.as_str());
    let authorisation = text_at("/payment/auth_code").map(str::to_owned);
    // As the visitor's receipt shows it.
    let card = text_at("/payment/last4").map(|last4| {
        portico_core::kiosk::receipt::card_label(text_at("/payment/card_brand"), Some(last4))
    });

    let mut revoked = Vec::new();
    let mut already_admitted = Vec::new();
    for secret in secrets {
        let Some(text) = get_doc(tx, Resource::Tickets, &secret)? else {
            continue;
        };
        let mut ticket: TicketDto = serde_json::from_str(&text)?;
        if admitted(tx, &secret)? {
            already_admitted.push(secret.clone());
        }
        if ticket.status != TicketStatus::Revoked {
            ticket.status = TicketStatus::Revoked;
            put(
                tx,
                seq,
                Resource::Tickets,
                &secret,
                Some(&serde_json::to_string(&ticket)?),
            )?;
        }
        revoked.push(secret);
    }

    let seats_returned: Vec<(String, u32)> = tx
        .prepare_cached(
            "SELECT slot_id, seats FROM order_slots WHERE order_id = ?1 ORDER BY slot_id",
        )?
        .query_map([&order_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (slot, seats) in &seats_returned {
        tx.prepare_cached("UPDATE slot_sales SET sold = max(sold - ?2, 0) WHERE slot_id = ?1")?
            .execute(params![slot, seats])?;
    }
    tx.prepare_cached(
        "INSERT INTO order_refunds (order_id, reason, refunded_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![
        order_id,
        reason,
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ])?;
    Ok(Ok(Refund {
        order_no: order_no.to_owned(),
        device_id,
        gross,
        currency,
        authorisation,
        card,
        revoked,
        already_admitted,
        seats_returned,
    }))
}

/// When and why an order was refunded, if it was.
pub fn refunded(conn: &Connection, order_id: &str) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached("SELECT refunded_at, reason FROM order_refunds WHERE order_id = ?1")?
        .query_row([order_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Whether a gate has reported admitting this ticket (an admission not annulled). The scans'
/// credentials are indexed (`inbox_scan_credential`).
fn admitted(conn: &Connection, secret: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM inbox
             WHERE kind = 'scan' AND json_extract(payload, '$.credential') = 'ticket:' || ?1
               AND json_extract(payload, '$.decision') = 'admit'
               AND NOT EXISTS (
                   SELECT 1 FROM inbox a WHERE a.kind = 'scan_annulment'
                     AND json_extract(a.payload, '$.scan_key') = inbox.idempotency_key))",
        )?
        .query_row([secret], |r| r.get(0))?)
}

/// A refund as `portico hub refund` prints it.
pub fn render(r: &Refund) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let _ = writeln!(
        out,
        "order {} refunded: {} revoked; gates refuse {} from their next pull",
        r.order_no,
        plural(r.revoked.len(), "ticket", "tickets"),
        if r.revoked.len() == 1 { "it" } else { "them" }
    );
    for (slot, seats) in &r.seats_returned {
        let _ = writeln!(
            out,
            "  {} of {slot} back on sale",
            plural(*seats as usize, "seat", "seats")
        );
    }
    if !r.already_admitted.is_empty() {
        let _ = writeln!(
            out,
            "  already used at a gate: {}",
            r.already_admitted.join(", ")
        );
    }
    let amount = portico_core::kiosk::money::format(r.gross, &r.currency);
    let _ = match (&r.card, &r.authorisation) {
        (Some(card), Some(auth)) => writeln!(
            out,
            "give {amount} back to {card} on the card terminal or through the payment provider \
             (authorisation {auth})"
        ),
        (None, Some(auth)) => writeln!(
            out,
            "give {amount} back on the card terminal or through the payment provider \
             (authorisation {auth})"
        ),
        _ => writeln!(out, "give {amount} back as it was paid"),
    };
    out
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::HubStore;
    use crate::orders::{SaleRequest, sell};

    #[test]
    fn the_hubs_own_sale_is_refunded_once_with_its_tickets_and_seats() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).unwrap();
        store
            .write(|tx, seq| crate::catalog::publish(tx, seq, day, 1, 0))
            .unwrap();
        let slot = crate::catalog::slot_id("zoo", day.and_hms_opt(10, 0, 0).unwrap());
        let req = SaleRequest {
            product: "TIMED".into(),
            slot: Some(slot.clone()),
            day,
            quantities: vec![(Some("adult".into()), 2)],
            constituent: None,
        };
        let sale = store
            .write(|tx, seq| {
                sell(
                    tx,
                    seq,
                    &req,
                    now,
                    day.and_hms_opt(9, 0, 0).unwrap(),
                    &mut rand::rng(),
                )
            })
            .unwrap()
            .unwrap();
        let sold = || {
            store
                .read(|c| crate::leases::report(c, Some(&slot)))
                .unwrap()[0]
                .sold
        };
        assert_eq!(sold(), 2);
        let status = |secret: &str| {
            store
                .read(|c| get_doc(c, Resource::Tickets, secret))
                .unwrap()
                .map(|d| serde_json::from_str::<TicketDto>(&d).unwrap().status)
        };

        let r = store
            .write(|tx, seq| refund(tx, seq, &sale.order_no, None, "plans changed", now))
            .unwrap()
            .unwrap();
        assert_eq!(r.revoked, sale.tickets);
        assert_eq!(r.seats_returned, [(slot.clone(), 2)]);
        assert_eq!(
            (r.authorisation.as_deref(), r.card.as_deref()),
            (None, None)
        );
        assert!(r.already_admitted.is_empty());
        assert_eq!(sold(), 0);
        for t in &sale.tickets {
            assert_eq!(status(t), Some(TicketStatus::Revoked), "{t}");
        }
        let words = render(&r);
        assert!(words.starts_with("order H-"), "{words}");
        assert!(words.contains("2 tickets revoked"), "{words}");
        assert!(words.contains("back as it was paid"), "{words}");

        // Once only: a second refund changes nothing.
        let again = store
            .write(|tx, seq| refund(tx, seq, &sale.order_no, None, "twice", now))
            .unwrap();
        match again {
            Err(RefundRefused::AlreadyRefunded { reason, .. }) => {
                assert_eq!(reason, "plans changed")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sold(), 0);

        // A membership is refunded in the CRM, where what it made is undone with it.
        store
            .write(|tx, _| {
                tx.execute(
                    "INSERT INTO orders (order_id, source, device_id, order_no, gross, currency,
                         created_at, doc)
                     VALUES ('o-mem', 'kiosk', 'kiosk-1', 'K1-00009', 9500, 'USD', '',
                             '{\"lines\":[{\"product_id\":\"MEM-FAM\"}],\"tickets\":[]}')",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        let membership = store
            .write(|tx, seq| refund(tx, seq, "K1-00009", Some("kiosk-1"), "moved away", now))
            .unwrap();
        assert_eq!(
            membership,
            Err(RefundRefused::Membership("K1-00009".into()))
        );
        // The hub's own sale is found as "hub" when a kiosk shares its number.
        store
            .write(|tx, _| {
                tx.execute(
                    "INSERT INTO orders (order_id, source, device_id, order_no, gross, currency,
                         created_at, doc)
                     VALUES ('o-k', 'kiosk', 'kiosk-1', ?1, 100, 'USD', '', '{}')",
                    [&sale.order_no],
                )?;
                Ok(())
            })
            .unwrap();
        let twice = store
            .write(|tx, seq| refund(tx, seq, &sale.order_no, None, "which?", now))
            .unwrap();
        assert_eq!(
            twice,
            Err(RefundRefused::Ambiguous {
                order_no: sale.order_no.clone(),
                devices: vec!["hub".into(), "kiosk-1".into()]
            })
        );
        let hub_one = store
            .write(|tx, seq| refund(tx, seq, &sale.order_no, Some("hub"), "which?", now))
            .unwrap();
        assert!(
            matches!(hub_one, Err(RefundRefused::AlreadyRefunded { .. })),
            "{hub_one:?}"
        );
    }
}
