//! A kiosk's orders in its database, exactly once.
//!
//! 1. [`start_intent`]: before the terminal is asked, the payment's intent (reference, amount,
//!    the order's draft) and the seats it holds are written — durable before any charge.
//! 2. The terminal approves: [`commit_order`] in **one** transaction marks the intent
//!    completed, runs intake for the buyer, numbers the order, signs its tickets, and writes the
//!    order, its lines, its payment, its tickets and its upload row. Committing an intent
//!    already completed returns that order (recovery may try twice; never two orders).
//! 3. The terminal declines (or the visitor cancels, or it times out): [`fail_intent`] wipes
//!    the draft and lets the seats go. No order, no tickets, no held seats.
//!
//! `payments.reference` and `orders.payment_ref` are UNIQUE: two orders for one payment is a
//! constraint violation, not merely a path the code avoids.

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::TicketStatus;
use crate::input::credential::signed_ticket::{TicketError, TicketFields};
use crate::intake::{IntakeConfig, shell::intake_in};
use crate::kiosk::order::{Approval, DRAFT_VERSION, OrderDraft, OrderIdent, lines, payload};
use crate::normalize::Normalizer;
use crate::outbox;
use crate::replica::ReplicaError;
use crate::upstream::{IssuedTicketV2, Payload};

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("no payment {0} was started here")]
    UnknownPayment(String),
    #[error("payment {reference} is {state}, not waiting for its order")]
    NotStarted { reference: String, state: String },
    #[error("payment {0}'s order draft cannot be read by this build")]
    UnreadableDraft(String),
    #[error("a ticket could not be signed")]
    Sign(#[source] TicketError),
    #[error("the order could not be written")]
    Database(#[from] ReplicaError),
}

impl From<rusqlite::Error> for OrderError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e.into())
    }
}

/// An intent's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub reference: String,
    pub state: String,
    pub amount: i64,
    pub currency: String,
    /// `None` when the draft cannot be read (wiped after a failure, or from another build).
    pub draft: Option<OrderDraft>,
}

/// Writes a payment's intent and the seats it holds, before the terminal is asked.
pub fn start_intent(
    tx: &Connection,
    reference: &str,
    draft: &OrderDraft,
    now_ms: i64,
) -> Result<(), OrderError> {
    tx.prepare_cached(
        "INSERT INTO payment_intents (reference, state, amount, currency, draft, created_at_ms)
         VALUES (?1, 'started', ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        reference,
        draft.quote.gross,
        draft.quote.currency,
        serde_json::to_string(draft).map_err(ReplicaError::from)?,
        now_ms
    ])?;
    for (slot, seats) in &draft.seats {
        tx.prepare_cached(
            "INSERT INTO intent_holds (reference, slot_id, seats) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![reference, slot, seats])?;
    }
    Ok(())
}

/// The payment did not go through (`outcome` says how): the draft, the only personal data
/// written before payment, is wiped and the seats go back. An intent already settled is left
/// as it is.
pub fn fail_intent(
    tx: &Connection,
    reference: &str,
    outcome: &str,
    now_ms: i64,
) -> Result<(), OrderError> {
    tx.prepare_cached(
        "UPDATE payment_intents SET state = 'failed', draft = '{}', outcome = ?2,
             resolved_at_ms = ?3
         WHERE reference = ?1 AND state = 'started'",
    )?
    .execute(params![reference, outcome, now_ms])?;
    tx.prepare_cached("DELETE FROM intent_holds WHERE reference = ?1")?
        .execute([reference])?;
    Ok(())
}

/// What the outcome of a voided intent says when the terminal would not give the payment back
/// and no order could be made of it: staff refund the card by hand.
pub const REFUND_BY_HAND: &str = "refund by hand";

/// The approved payment was voided at the terminal (recovery, when its order cannot be
/// made), or, with `refund_by_hand`, the terminal would not give it back and staff must: the
/// draft is kept aside as found, unless it was wiped.
pub fn void_intent(
    tx: &Connection,
    reference: &str,
    refund_by_hand: bool,
    now_ms: i64,
) -> Result<(), OrderError> {
    let intent =
        intent(tx, reference)?.ok_or_else(|| OrderError::UnknownPayment(reference.into()))?;
    if intent.draft.is_none() {
        let raw: String = tx.query_row(
            "SELECT draft FROM payment_intents WHERE reference = ?1",
            [reference],
            |r| r.get(0),
        )?;
        if raw != "{}" {
            crate::replica::keep_aside(
                tx,
                &format!("payment {reference}'s order draft"),
                "voided: this build cannot read it",
                Some(&raw),
                now_ms,
            )?;
        }
    }
    tx.prepare_cached(
        "UPDATE payment_intents SET state = 'voided', draft = '{}', resolved_at_ms = ?2,
             outcome = ?3
         WHERE reference = ?1 AND state = 'started'",
    )?
    .execute(params![
        reference,
        now_ms,
        refund_by_hand.then_some(REFUND_BY_HAND)
    ])?;
    tx.prepare_cached("DELETE FROM intent_holds WHERE reference = ?1")?
        .execute([reference])?;
    Ok(())
}

/// A payment the terminal would not give back, with no order: what staff refund by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToRefund {
    pub reference: String,
    pub amount: i64,
    pub currency: String,
    pub resolved_at_ms: i64,
}

/// Payments to refund by hand, oldest first.
pub fn to_refund_by_hand(conn: &Connection) -> crate::replica::Result<Vec<ToRefund>> {
    Ok(conn
        .prepare_cached(
            "SELECT reference, amount, currency, coalesce(resolved_at_ms, created_at_ms)
             FROM payment_intents WHERE state = 'voided' AND outcome = ?1
             ORDER BY created_at_ms",
        )?
        .query_map([REFUND_BY_HAND], |r| {
            Ok(ToRefund {
                reference: r.get(0)?,
                amount: r.get(1)?,
                currency: r.get(2)?,
                resolved_at_ms: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}

/// How many payments wait for staff to refund them by hand.
pub fn refunds_waiting(conn: &Connection) -> crate::replica::Result<u64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM payment_intents WHERE state = 'voided' AND outcome = ?1",
        )?
        .query_row([REFUND_BY_HAND], |r| r.get::<_, i64>(0))? as u64)
}

/// Staff refunded `reference` by hand: it leaves [`to_refund_by_hand`]. False when it was not
/// waiting for that.
pub fn refunded_by_hand(tx: &Connection, reference: &str) -> crate::replica::Result<bool> {
    Ok(tx
        .prepare_cached(
            "UPDATE payment_intents SET outcome = 'refunded by hand'
             WHERE reference = ?1 AND state = 'voided' AND outcome = ?2",
        )?
        .execute(params![reference, REFUND_BY_HAND])?
        == 1)
}

/// One intent.
pub fn intent(conn: &Connection, reference: &str) -> Result<Option<Intent>, OrderError> {
    let row: Option<(String, i64, String, String)> = conn
        .prepare_cached(
            "SELECT state, amount, currency, draft FROM payment_intents WHERE reference = ?1",
        )?
        .query_row([reference], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    Ok(row.map(|(state, amount, currency, draft)| Intent {
        reference: reference.to_owned(),
        state,
        amount,
        currency,
        draft: serde_json::from_str::<OrderDraft>(&draft)
            .ok()
            .filter(|d| d.version == DRAFT_VERSION),
    }))
}

/// Payments begun and not settled, oldest first: what start-up recovery settles.
pub fn unsettled(conn: &Connection) -> Result<Vec<Intent>, OrderError> {
    let refs: Vec<String> = conn
        .prepare_cached(
            "SELECT reference FROM payment_intents WHERE state = 'started' ORDER BY created_at_ms",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        out.extend(intent(conn, &r)?);
    }
    Ok(out)
}

/// Signs one ticket: its key id and signed text.
pub type SignTicket<'a> = &'a dyn Fn(&TicketFields) -> Result<(u16, String), TicketError>;

/// What the kiosk needs to make an order, besides the draft.
pub struct CommitCtx<'a> {
    pub device_id: &'a str,
    /// `K1` makes order numbers `K1-00042`.
    pub order_prefix: &'a str,
    pub normalizer: &'a Normalizer,
    pub intake: &'a IntakeConfig,
    pub sign: SignTicket<'a>,
    pub now: DateTime<Utc>,
    pub now_local: NaiveDateTime,
    /// The hub could not be reached when the order was made.
    pub offline: bool,
}

/// An order as committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOrder {
    pub order_id: String,
    pub order_no: String,
    /// Tickets' signed texts, in line order.
    pub tickets: Vec<String>,
    /// The buyer's record on this device (a Lookup ID or a local id), if any.
    pub constituent: Option<String>,
    /// The order existed already (a second commit of the same payment).
    pub already: bool,
}

fn state_value(tx: &Connection, key: &str) -> Result<Option<String>, OrderError> {
    Ok(tx
        .prepare_cached("SELECT value FROM kiosk_state WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

fn set_state_value(tx: &Connection, key: &str, value: &str) -> Result<(), OrderError> {
    tx.prepare_cached("INSERT OR REPLACE INTO kiosk_state (key, value) VALUES (?1, ?2)")?
        .execute(params![key, value])?;
    Ok(())
}

/// Takes `count` ticket ids for the kiosk's key, in the caller's transaction: the first is
/// returned, the others follow it. Ids never repeat under one key, even if this database were
/// lost and the key kept: each is at least the time in microseconds.
pub fn take_ticket_ids(tx: &Connection, count: usize, now_ms: i64) -> Result<u64, OrderError> {
    let last: u64 = state_value(tx, "ticket_id")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let first = (last + 1).max(u64::try_from(now_ms).unwrap_or(0).saturating_mul(1000));
    if count > 0 {
        set_state_value(tx, "ticket_id", &(first + count as u64 - 1).to_string())?;
    }
    Ok(first)
}

/// The order paid by `reference`, in the caller's transaction (see the module's steps).
pub fn commit_order(
    tx: &Connection,
    reference: &str,
    approval: &Approval,
    ctx: &CommitCtx<'_>,
) -> Result<CommittedOrder, OrderError> {
    if let Some(done) = order_of_payment(tx, reference)? {
        return Ok(CommittedOrder {
            already: true,
            ..done
        });
    }
    let intent =
        intent(tx, reference)?.ok_or_else(|| OrderError::UnknownPayment(reference.into()))?;
    if intent.state != "started" {
        return Err(OrderError::NotStarted {
            reference: reference.into(),
            state: intent.state,
        });
    }
    let draft = intent
        .draft
        .ok_or_else(|| OrderError::UnreadableDraft(reference.into()))?;
    let now_ms = ctx.now.timestamp_millis();
    tx.prepare_cached(
        "UPDATE payment_intents SET state = 'completed', draft = '{}', resolved_at_ms = ?2
         WHERE reference = ?1 AND state = 'started'",
    )?
    .execute(params![reference, now_ms])?;

    // The buyer, by the intake rules; its rows go upstream before the order's.
    let constituent = match &draft.visitor {
        Some(v) => intake_in(tx, ctx.normalizer, ctx.intake, v, ctx.now)?
            .0
            .constituent()
            .map(str::to_owned),
        None => None,
    };

    let seq: u64 = state_value(tx, "order_seq")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        + 1;
    set_state_value(tx, "order_seq", &seq.to_string())?;
    let ident = OrderIdent {
        order_id: uuid::Uuid::now_v7().to_string(),
        order_no: format!("{}-{seq:05}", ctx.order_prefix),
        created_at: ctx.now,
        local: ctx.now_local,
        offline: ctx.offline,
    };
    let first_id = take_ticket_ids(tx, draft.tickets.len(), now_ms)?;
    let mut issued = Vec::with_capacity(draft.tickets.len());
    for (next_id, plan) in (first_id..).zip(&draft.tickets) {
        let fields = TicketFields {
            ticket_id: next_id,
            product_id: plan.product_id.clone(),
            validity: plan.validity.clone(),
            uses: plan.uses,
        };
        let (key_id, code) = (ctx.sign)(&fields).map_err(OrderError::Sign)?;
        issued.push(IssuedTicketV2 {
            secret: format!("PT-{key_id}-{next_id}"),
            code,
            line_no: plan.line_no,
            product_id: plan.product_id.clone(),
            validity: plan.validity.clone(),
            uses: u32::from(plan.uses),
        });
    }

    let q = &draft.quote;
    let order = payload(
        &draft,
        &ident,
        reference,
        approval,
        constituent.clone(),
        issued.clone(),
    );
    let outbox_key = outbox::enqueue(tx, &order.clone().into_upstream(), now_ms)?;
    tx.prepare_cached(
        "INSERT INTO orders (order_id, order_no, payment_ref, constituent, membership_id, currency,
             net, tax, gross, created_at_ms, local_time, language, receipt_email, offline,
             outbox_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        ident.order_id,
        ident.order_no,
        reference,
        constituent,
        draft.membership_id,
        q.currency,
        q.net,
        q.tax,
        q.gross,
        now_ms,
        ctx.now_local.format("%Y-%m-%dT%H:%M:%S").to_string(),
        order.language,
        draft.receipt_email,
        ctx.offline,
        outbox_key
    ])?;
    for l in lines(&draft) {
        tx.prepare_cached(
            "INSERT INTO order_lines (order_id, line_no, product_id, category_id, slot_id,
                 quantity, seats, price_kind, unit_price, tax_rule, rate_bp, inclusive, net, tax,
                 gross)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?
        .execute(params![
            ident.order_id,
            l.line_no,
            l.product_id,
            l.category_id,
            l.slot_id,
            l.quantity,
            l.seats,
            serde_json::to_value(l.price_kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            l.unit_price,
            l.tax_rule,
            l.rate_bp,
            l.inclusive,
            l.net,
            l.tax,
            l.gross
        ])?;
    }
    tx.prepare_cached(
        "INSERT INTO payments (order_id, reference, method, amount, currency, auth_code,
             card_brand, last4, terminal_txn, approved_at_ms)
         VALUES (?1, ?2, 'card', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        ident.order_id,
        reference,
        q.gross,
        q.currency,
        approval.auth_code,
        approval.card_brand,
        approval.last4,
        approval.terminal_txn,
        approval.approved_at.timestamp_millis()
    ])?;
    for t in &issued {
        let (key_id, ticket_id) = t
            .secret
            .strip_prefix("PT-")
            .and_then(|s| s.split_once('-'))
            .and_then(|(k, i)| Some((k.parse::<u16>().ok()?, i.parse::<u64>().ok()?)))
            .unwrap_or_default();
        tx.prepare_cached(
            "INSERT INTO issued_tickets (secret, order_id, line_no, key_id, ticket_id, code)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            t.secret,
            ident.order_id,
            t.line_no,
            key_id,
            i64::try_from(ticket_id).unwrap_or(i64::MAX),
            t.code
        ])?;
    }
    tx.prepare_cached("DELETE FROM intent_holds WHERE reference = ?1")?
        .execute([reference])?;
    Ok(CommittedOrder {
        order_id: ident.order_id,
        order_no: ident.order_no,
        tickets: issued.into_iter().map(|t| t.code).collect(),
        constituent,
        already: false,
    })
}

/// The order a payment made, if it made one.
pub fn order_of_payment(
    conn: &Connection,
    reference: &str,
) -> Result<Option<CommittedOrder>, OrderError> {
    let row: Option<(String, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT order_id, order_no, constituent FROM orders WHERE payment_ref = ?1",
        )?
        .query_row([reference], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((order_id, order_no, constituent)) = row else {
        return Ok(None);
    };
    let tickets = conn
        .prepare_cached(
            "SELECT code FROM issued_tickets WHERE order_id = ?1 ORDER BY line_no, ticket_id",
        )?
        .query_map([&order_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(CommittedOrder {
        order_id,
        order_no,
        tickets,
        constituent,
        already: false,
    }))
}

/// How many orders and tickets the database holds, and how many payments each way (for tests
/// and `portico status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderCounts {
    pub orders: u64,
    pub payments: u64,
    pub tickets: u64,
    pub intents_started: u64,
    pub intents_completed: u64,
    pub intents_failed: u64,
    pub intents_voided: u64,
    /// Voided intents the terminal would not give back: staff refund them by hand.
    pub to_refund_by_hand: u64,
    pub held_seats: u64,
}

pub fn counts(conn: &Connection) -> Result<OrderCounts, OrderError> {
    let c = |sql: &str| -> Result<u64, OrderError> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
    };
    let intents = |state: &str| {
        c(&format!(
            "SELECT count(*) FROM payment_intents WHERE state = '{state}'"
        ))
    };
    Ok(OrderCounts {
        orders: c("SELECT count(*) FROM orders")?,
        payments: c("SELECT count(*) FROM payments")?,
        tickets: c("SELECT count(*) FROM issued_tickets")?,
        intents_started: intents("started")?,
        intents_completed: intents("completed")?,
        intents_failed: intents("failed")?,
        intents_voided: intents("voided")?,
        to_refund_by_hand: refunds_waiting(conn)?,
        held_seats: c("SELECT coalesce(sum(seats), 0) FROM intent_holds")?,
    })
}

/// A ticket of an order, for printing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRow {
    pub secret: String,
    pub code: String,
    pub product_id: String,
    pub category_id: Option<String>,
    pub printed: bool,
}

/// A line of an order, for its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRow {
    pub product_id: String,
    pub category_id: Option<String>,
    pub quantity: u32,
    pub price_kind: String,
    pub tax_rule: String,
    pub rate_bp: u32,
    pub inclusive: bool,
    pub tax: i64,
    pub gross: i64,
}

/// Everything printed for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printout {
    pub order_id: String,
    pub order_no: String,
    pub local_time: String,
    pub language: String,
    pub currency: String,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
    pub receipt_email: Option<String>,
    pub card_brand: Option<String>,
    pub last4: Option<String>,
    pub auth_code: String,
    pub lines: Vec<LineRow>,
    pub tickets: Vec<TicketRow>,
}

/// Whether the hub refunded order `order_id` (`portico hub refund`): the tickets feed has
/// revoked one of its tickets. Its tickets are then not printed again; no gate would admit them.
pub fn refunded(conn: &Connection, order_id: &str) -> Result<bool, OrderError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM issued_tickets t JOIN tickets k ON k.secret = t.secret
             WHERE t.order_id = ?1 AND k.status = ?2)",
        )?
        .query_row(params![order_id, TicketStatus::Revoked.as_str()], |r| {
            r.get(0)
        })?)
}

/// An order's printout, by its number.
pub fn printout(conn: &Connection, order_no: &str) -> Result<Option<Printout>, OrderError> {
    let head = conn
        .prepare_cached(
            "SELECT o.order_id, o.local_time, o.language, o.currency, o.net, o.tax, o.gross,
                    o.receipt_email, p.card_brand, p.last4, p.auth_code
             FROM orders o JOIN payments p ON p.order_id = o.order_id WHERE o.order_no = ?1",
        )?
        .query_row([order_no], |r| {
            Ok(Printout {
                order_id: r.get(0)?,
                order_no: order_no.to_owned(),
                local_time: r.get(1)?,
                language: r.get(2)?,
                currency: r.get(3)?,
                net: r.get(4)?,
                tax: r.get(5)?,
                gross: r.get(6)?,
                receipt_email: r.get(7)?,
                card_brand: r.get(8)?,
                last4: r.get(9)?,
                auth_code: r.get(10)?,
                lines: Vec::new(),
                tickets: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut p) = head else { return Ok(None) };
    p.lines = conn
        .prepare_cached(
            "SELECT product_id, category_id, quantity, price_kind, tax_rule, rate_bp, inclusive,
                    tax, gross
             FROM order_lines WHERE order_id = ?1 ORDER BY line_no",
        )?
        .query_map([&p.order_id], |r| {
            Ok(LineRow {
                product_id: r.get(0)?,
                category_id: r.get(1)?,
                quantity: r.get(2)?,
                price_kind: r.get(3)?,
                tax_rule: r.get(4)?,
                rate_bp: r.get(5)?,
                inclusive: r.get(6)?,
                tax: r.get(7)?,
                gross: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    p.tickets = conn
        .prepare_cached(
            "SELECT t.secret, t.code, l.product_id, l.category_id, t.printed_at_ms IS NOT NULL
             FROM issued_tickets t
             JOIN order_lines l ON l.order_id = t.order_id AND l.line_no = t.line_no
             WHERE t.order_id = ?1 ORDER BY t.line_no, t.ticket_id",
        )?
        .query_map([&p.order_id], |r| {
            Ok(TicketRow {
                secret: r.get(0)?,
                code: r.get(1)?,
                product_id: r.get(2)?,
                category_id: r.get(3)?,
                printed: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(p))
}

/// Records what came out of the printer: these tickets, and the receipt when `receipt`. The
/// order is `printed` once every ticket and the receipt are out, `partial` before.
pub fn mark_printed(
    tx: &Connection,
    order_id: &str,
    secrets: &[String],
    receipt: bool,
    now_ms: i64,
) -> Result<(), OrderError> {
    for s in secrets {
        tx.prepare_cached(
            "UPDATE issued_tickets SET printed_at_ms = ?2 WHERE secret = ?1 AND printed_at_ms IS NULL",
        )?
        .execute(params![s, now_ms])?;
    }
    let left: i64 = tx.query_row(
        "SELECT count(*) FROM issued_tickets WHERE order_id = ?1 AND printed_at_ms IS NULL",
        [order_id],
        |r| r.get(0),
    )?;
    let state = if left == 0 && receipt {
        "printed"
    } else {
        "partial"
    };
    tx.prepare_cached("UPDATE orders SET print_state = ?2 WHERE order_id = ?1")?
        .execute(params![order_id, state])?;
    Ok(())
}
