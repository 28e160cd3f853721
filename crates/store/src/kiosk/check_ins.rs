//! A member's check-in at a kiosk, in its database: one transaction writes the admitted scan of
//! the membership (with its upload, like a gate's scan) and one guest pass per guest, each a
//! ticket signed with the kiosk's key, valid today, that any gate admits once.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::checkin::{CHECK_IN_REASON, GUEST_PASS_PRODUCT, guest_pass_validity};
use super::orders::{OrderError, SignTicket, take_ticket_ids};
use crate::gate::policy::ScanDirection;
use crate::gate::scan_log::{self, LOCAL_TIME_FORMAT, ScanRow, Write};
use crate::input::credential::signed_ticket::TicketFields;
use crate::outbox;
use crate::upstream::{Payload, ScanV1};

/// What is checked in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    pub membership_id: String,
    pub guests: u32,
    /// The kiosk's id and the name its scans carry as their gate.
    pub device_id: String,
    pub gate: String,
    pub at: DateTime<Utc>,
    pub local: NaiveDateTime,
    /// Recorded while the hub was unreachable.
    pub offline: bool,
}

/// A guest pass written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPass {
    /// `PT-<key id>-<ticket id>`, the key gates record its use under.
    pub secret: String,
    /// The text its QR code carries.
    pub code: String,
    pub valid_on: NaiveDate,
}

/// A check-in recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub scan_id: i64,
    pub outbox_key: String,
    pub passes: Vec<GuestPass>,
}

/// Writes `c` in the caller's transaction; `sign` signs a pass (the kiosk's key: its id and
/// the code).
pub fn record(tx: &Connection, c: &CheckIn, sign: SignTicket<'_>) -> Result<Recorded, OrderError> {
    let at_ms = c.at.timestamp_millis();
    let party = c.guests.saturating_add(1);
    let use_key = format!("membership:{}", c.membership_id);
    let payload = ScanV1 {
        credential: use_key.clone(),
        decision: "admit".into(),
        reason_code: CHECK_IN_REASON.into(),
        reason: "Member checked in at the kiosk".into(),
        device_id: c.device_id.clone(),
        gate: c.gate.clone(),
        direction: ScanDirection::Entry,
        party_requested: party,
        party_admitted: party,
        uses_burned: 1,
        at: Some(c.at),
        local: Some(c.local),
        offline: c.offline,
        nonce: uuid::Uuid::now_v7().to_string(),
    };
    let queued = outbox::Queued::new(&payload.into_upstream(), at_ms)?;
    let outbox_key = queued.idempotency_key.clone();
    let scan_id = scan_log::next_id(tx)?;
    let row = ScanRow {
        id: scan_id,
        use_key: Some(use_key),
        credential_kind: "membership".into(),
        gate: c.gate.clone(),
        direction: "entry".into(),
        outcome: "admit".into(),
        reason_code: CHECK_IN_REASON.into(),
        party_requested: party,
        party_admitted: party,
        uses_burned: 1,
        at_ms,
        local_time: c.local.format(LOCAL_TIME_FORMAT).to_string(),
    };
    scan_log::apply(
        tx,
        &Write::Scan {
            row,
            outbox: queued,
        },
    )?;
    let today = c.local.date();
    let first = take_ticket_ids(tx, c.guests as usize, at_ms)?;
    let mut passes = Vec::with_capacity(c.guests as usize);
    for ticket_id in (first..).take(c.guests as usize) {
        let fields = TicketFields {
            ticket_id,
            product_id: GUEST_PASS_PRODUCT.into(),
            validity: guest_pass_validity(today),
            uses: 1,
        };
        let (key_id, code) = sign(&fields).map_err(OrderError::Sign)?;
        let secret = format!("PT-{key_id}-{ticket_id}");
        tx.prepare_cached(
            "INSERT INTO guest_passes (secret, scan_id, membership_id, key_id, ticket_id, code,
                 valid_on)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            secret,
            scan_id,
            c.membership_id,
            key_id,
            i64::try_from(ticket_id).unwrap_or(i64::MAX),
            code,
            today.to_string()
        ])?;
        passes.push(GuestPass {
            secret,
            code,
            valid_on: today,
        });
    }
    Ok(Recorded {
        scan_id,
        outbox_key,
        passes,
    })
}

/// Marks passes printed.
pub fn mark_printed(tx: &Connection, secrets: &[String], now_ms: i64) -> Result<(), OrderError> {
    for s in secrets {
        tx.prepare_cached(
            "UPDATE guest_passes SET printed_at_ms = ?2 WHERE secret = ?1 AND printed_at_ms IS NULL",
        )?
        .execute(params![s, now_ms])?;
    }
    Ok(())
}

/// The passes of a check-in's scan, in the order they were made.
pub fn passes(conn: &Connection, scan_id: i64) -> Result<Vec<GuestPass>, OrderError> {
    let mut st = conn.prepare_cached(
        "SELECT secret, code, valid_on FROM guest_passes WHERE scan_id = ?1 ORDER BY ticket_id",
    )?;
    let rows = st.query_map([scan_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (secret, code, valid_on) = row?;
        out.push(GuestPass {
            secret,
            code,
            valid_on: valid_on.parse().unwrap_or_default(),
        });
    }
    Ok(out)
}

/// A check-in's guest passes as the desk sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInPasses {
    pub scan_id: i64,
    pub membership_id: String,
    /// Each pass, and whether it came out of the printer.
    pub passes: Vec<(GuestPass, bool)>,
}

impl CheckInPasses {
    pub fn printed(&self) -> usize {
        self.passes.iter().filter(|(_, printed)| *printed).count()
    }
}

/// The guest passes valid on `day`, by check-in, the latest check-in first.
pub fn passes_on(conn: &Connection, day: NaiveDate) -> Result<Vec<CheckInPasses>, OrderError> {
    let mut st = conn.prepare_cached(
        "SELECT scan_id, membership_id, secret, code, printed_at_ms IS NOT NULL
         FROM guest_passes WHERE valid_on = ?1 ORDER BY scan_id DESC, ticket_id",
    )?;
    let rows = st.query_map([day.to_string()], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, bool>(4)?,
        ))
    })?;
    let mut out: Vec<CheckInPasses> = Vec::new();
    for row in rows {
        let (scan_id, membership_id, secret, code, printed) = row?;
        let pass = GuestPass {
            secret,
            code,
            valid_on: day,
        };
        match out.last_mut() {
            Some(last) if last.scan_id == scan_id => last.passes.push((pass, printed)),
            _ => out.push(CheckInPasses {
                scan_id,
                membership_id,
                passes: vec![(pass, printed)],
            }),
        }
    }
    Ok(out)
}

/// Check-ins recorded at this kiosk on the local day `day`, and the guests they brought.
pub fn count_on(conn: &Connection, day: NaiveDate) -> Result<(u32, u32), OrderError> {
    let prefix = format!("{day}T%");
    Ok(conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(party_admitted - 1), 0) FROM scans
             WHERE reason_code = ?1 AND local_time LIKE ?2",
        )?
        .query_row(params![CHECK_IN_REASON, prefix], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .unwrap_or((0, 0)))
}
