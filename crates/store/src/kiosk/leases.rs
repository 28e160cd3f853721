//! A kiosk's seat leases in its database: what the hub leased it per slot, the lease calls
//! under way, and the seats sold (its order lines) and held (payments under way).
//!
//! A call is written before it is sent and keeps its request id, so one whose reply was lost is
//! sent again at the next check and the hub answers it once. A return lowers the kiosk's seats
//! **before** it is sent: those seats stop being sellable before the hub can sell them again.
//! A request raises them only when the hub's reply arrives. Either way the kiosk never counts
//! a seat the hub does not count as its.

use chrono::NaiveDateTime;
use rusqlite::{Connection, OptionalExtension, params};

use crate::kiosk::capacity::KioskLease;
use crate::protocol::{LeaseDto, LeaseReply, LeaseRequest, LeasesDto};
use crate::replica::Result;
use crate::replica::catalog::local;

/// One slot's lease as the kiosk counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotLease {
    pub slot_id: String,
    /// Seats the hub leased this kiosk (less returns sent).
    pub seats: u32,
    /// Seats sold here: the slot's order lines, and the seats of its orders deleted since
    /// (`kiosk.keep_records`, counted in `leases.pruned_seats`).
    pub sold: u32,
    /// Seats held by payments under way.
    pub intent_held: u32,
    /// Seats the hub asks back.
    pub recall: u32,
    pub sales_close: NaiveDateTime,
}

impl SlotLease {
    /// The lease as the core's rules see it, with `session` seats held on screen.
    pub fn book(&self, session: u32) -> KioskLease {
        KioskLease {
            leased: self.seats,
            sold: self.sold,
            held: self.intent_held + session,
        }
    }
}

/// A lease call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Request,
    Return,
}

impl OpKind {
    fn as_str(self) -> &'static str {
        match self {
            OpKind::Request => "request",
            OpKind::Return => "return",
        }
    }
}

/// A lease call written down, to send (or send again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseOp {
    pub kind: OpKind,
    pub request: LeaseRequest,
}

fn parse_local(s: &str) -> Result<NaiveDateTime> {
    crate::replica::catalog::parse_local("leases", s)
}

const SELECT: &str = "SELECT l.slot_id, l.seats, l.recall, l.sales_close,
        l.pruned_seats
          + (SELECT coalesce(sum(seats), 0) FROM order_lines o WHERE o.slot_id = l.slot_id),
        (SELECT coalesce(sum(h.seats), 0) FROM intent_holds h
           JOIN payment_intents p ON p.reference = h.reference AND p.state = 'started'
          WHERE h.slot_id = l.slot_id)
     FROM leases l";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, u32, u32, String, u32, u32)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn lease_of(
    (slot_id, seats, recall, close, sold, intent_held): (String, u32, u32, String, u32, u32),
) -> Result<SlotLease> {
    Ok(SlotLease {
        slot_id,
        seats,
        sold,
        intent_held,
        recall,
        sales_close: parse_local(&close)?,
    })
}

/// Every slot the kiosk holds or held a lease of.
pub fn leases(conn: &Connection) -> Result<Vec<SlotLease>> {
    let rows: Vec<_> = conn
        .prepare_cached(&format!("{SELECT} ORDER BY l.slot_id"))?
        .query_map([], row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(lease_of).collect()
}

/// The leases a lease check looks at: those still holding seats, and those of slots still on
/// sale at `now`. (A lease of a slot long closed, its seats given back, is history.)
pub fn leases_in_play(conn: &Connection, now: NaiveDateTime) -> Result<Vec<SlotLease>> {
    let rows: Vec<_> = conn
        .prepare_cached(&format!(
            "{SELECT} WHERE l.seats > 0 OR l.sales_close > ?1 ORDER BY l.slot_id"
        ))?
        .query_map([local(now)], row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(lease_of).collect()
}

/// The kiosk's lease of one slot.
pub fn lease(conn: &Connection, slot_id: &str) -> Result<Option<SlotLease>> {
    conn.prepare_cached(&format!("{SELECT} WHERE l.slot_id = ?1"))?
        .query_row([slot_id], row)
        .optional()?
        .map(lease_of)
        .transpose()
}

/// Slots of `groups` starting from `from` until `until` whose sales are still open at
/// `from`, with their sales close: the slots a kiosk leases ahead.
pub fn upcoming_slots(
    conn: &Connection,
    from: NaiveDateTime,
    until: NaiveDateTime,
    groups: &[String],
) -> Result<Vec<(String, NaiveDateTime)>> {
    let rows: Vec<(String, String, String)> = conn
        .prepare_cached(
            "SELECT slot_id, slot_group, sales_close FROM slots
             WHERE start >= ?1 AND start < ?2 AND sales_close > ?1 ORDER BY start, slot_id",
        )?
        .query_map(params![local(from), local(until)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .filter(|(_, group, _)| groups.contains(group))
        .map(|(id, _, close)| Ok((id, parse_local(&close)?)))
        .collect()
}

/// Writes down a request for `seats` more seats of a slot (closing at `sales_close`).
pub fn begin_request(
    tx: &Connection,
    request_id: &str,
    slot_id: &str,
    seats: u32,
    sales_close: NaiveDateTime,
    now_ms: i64,
) -> Result<LeaseOp> {
    tx.prepare_cached(
        "INSERT INTO leases (slot_id, seats, sales_close, updated_at_ms) VALUES (?1, 0, ?2, ?3)
         ON CONFLICT (slot_id) DO NOTHING",
    )?
    .execute(params![slot_id, local(sales_close), now_ms])?;
    insert_op(tx, OpKind::Request, request_id, slot_id, seats, now_ms)
}

/// Writes down a return of `seats` seats of a slot, and stops selling them at once.
pub fn begin_return(
    tx: &Connection,
    request_id: &str,
    slot_id: &str,
    seats: u32,
    now_ms: i64,
) -> Result<LeaseOp> {
    tx.prepare_cached(
        "UPDATE leases SET seats = max(seats - ?2, 0), updated_at_ms = ?3 WHERE slot_id = ?1",
    )?
    .execute(params![slot_id, seats, now_ms])?;
    insert_op(tx, OpKind::Return, request_id, slot_id, seats, now_ms)
}

fn insert_op(
    tx: &Connection,
    kind: OpKind,
    request_id: &str,
    slot_id: &str,
    seats: u32,
    now_ms: i64,
) -> Result<LeaseOp> {
    tx.prepare_cached(
        "INSERT INTO lease_ops (request_id, slot_id, kind, seats, state, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, 'sent', ?5)",
    )?
    .execute(params![request_id, slot_id, kind.as_str(), seats, now_ms])?;
    Ok(LeaseOp {
        kind,
        request: LeaseRequest {
            request_id: request_id.to_owned(),
            slot_id: slot_id.to_owned(),
            seats,
        },
    })
}

/// Calls written down and not answered yet, oldest first.
pub fn unanswered(conn: &Connection) -> Result<Vec<LeaseOp>> {
    let rows: Vec<(String, String, String, u32)> = conn
        .prepare_cached(
            "SELECT request_id, slot_id, kind, seats FROM lease_ops WHERE state = 'sent'
             ORDER BY created_at_ms, rowid",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows
        .into_iter()
        .map(|(request_id, slot_id, kind, seats)| LeaseOp {
            kind: if kind == "return" {
                OpKind::Return
            } else {
                OpKind::Request
            },
            request: LeaseRequest {
                request_id,
                slot_id,
                seats,
            },
        })
        .collect())
}

/// Seats of returns of `slot_id` written down and not yet answered, but `except`.
fn returns_unanswered(tx: &Connection, slot_id: &str, except: &str) -> Result<u32> {
    Ok(tx
        .prepare_cached(
            "SELECT coalesce(sum(seats), 0) FROM lease_ops
             WHERE slot_id = ?1 AND kind = 'return' AND state = 'sent' AND request_id != ?2",
        )?
        .query_row(params![slot_id, except], |r| r.get(0))?)
}

/// Writes a lease as the hub counts it, with `seats` as the kiosk's own count.
fn store_lease(tx: &Connection, l: &LeaseDto, seats: u32, now_ms: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO leases (slot_id, seats, hub_used, recall, sales_close, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (slot_id) DO UPDATE SET seats = ?2, hub_used = ?3, recall = ?4,
             sales_close = ?5, updated_at_ms = ?6",
    )?
    .execute(params![
        l.slot_id,
        seats,
        l.used,
        l.recall,
        local(l.sales_close),
        now_ms
    ])?;
    Ok(())
}

/// Records the hub's reply to a call: the kiosk's seats become the hub's count, less any
/// return still on its way.
pub fn answered(tx: &Connection, reply: &LeaseReply, now_ms: i64) -> Result<()> {
    let l = &reply.lease;
    let pending = returns_unanswered(tx, &l.slot_id, &reply.request_id)?;
    store_lease(tx, l, l.seats.saturating_sub(pending), now_ms)?;
    tx.prepare_cached("UPDATE lease_ops SET state = 'done' WHERE request_id = ?1")?
        .execute([&reply.request_id])?;
    Ok(())
}

/// The hub refused a call (an unknown slot): it is not sent again. A refused return gives its
/// seats back to the kiosk only if the hub still counts them (the next reconcile says).
pub fn refused(tx: &Connection, request_id: &str) -> Result<()> {
    tx.prepare_cached("UPDATE lease_ops SET state = 'refused' WHERE request_id = ?1")?
        .execute([request_id])?;
    Ok(())
}

/// Takes the hub's view of every lease (`GET /v1/leases`) for each slot with no call under
/// way: seats, seats its orders used, seats recalled. A lease the hub no longer lists is gone.
pub fn reconcile(tx: &Connection, hub: &LeasesDto, now_ms: i64) -> Result<()> {
    let busy: Vec<String> = tx
        .prepare_cached("SELECT DISTINCT slot_id FROM lease_ops WHERE state = 'sent'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for l in hub.leases.iter().filter(|l| !busy.contains(&l.slot_id)) {
        store_lease(tx, l, l.seats, now_ms)?;
    }
    let listed: Vec<&str> = hub.leases.iter().map(|l| l.slot_id.as_str()).collect();
    let mine: Vec<String> = tx
        .prepare_cached("SELECT slot_id FROM leases WHERE seats > 0")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for slot in mine {
        if !listed.contains(&slot.as_str()) && !busy.contains(&slot) {
            tx.prepare_cached(
                "UPDATE leases SET seats = 0, updated_at_ms = ?2 WHERE slot_id = ?1",
            )?
            .execute(params![slot, now_ms])?;
        }
    }
    Ok(())
}
