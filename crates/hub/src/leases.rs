//! Timed-entry capacity at the hub: seat leases granted to kiosks, the hub's own sales, and
//! the counts that keep them all within each slot's capacity.
//!
//! Per slot the hub counts the seats sold (its own sales and every kiosk order it has
//! received) and, per kiosk, the seats leased and how many of them its orders used. A grant
//! never exceeds capacity − sold − leased-but-unsold ([`portico_core::kiosk::capacity::grant`]),
//! and every grant, return and sale runs in one write transaction, so the sum never passes
//! capacity whatever the order of requests. The hub never takes a lease back by itself: a
//! kiosk may have sold its seats offline; staff ask for seats back (`portico hub recall`) and
//! the kiosk returns what it has not sold.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use chrono::{NaiveDateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::server::{ApiError, AppState, authenticate, blocking};
use super::store::{Result, StoreError};
use portico_core::kiosk::capacity::{SlotCount, grant};
use portico_core::protocol::{
    LeaseDto, LeaseReply, LeaseRequest, LeasesDto, MAX_LEASE_SEATS, Resource, SlotDto,
};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS slot_sales (
    slot_id TEXT PRIMARY KEY,
    sold    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    device_id   TEXT NOT NULL,
    slot_id     TEXT NOT NULL,
    seats       INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0,
    recall      INTEGER NOT NULL DEFAULT 0,
    -- The slot's sales close (`2026-12-06T10:00:00`), kept with its document: a kiosk's list
    -- reads only the leases of slots still listed, not one row per slot it ever leased.
    sales_close TEXT,
    PRIMARY KEY (device_id, slot_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lease_ops (
    device_id  TEXT NOT NULL,
    request_id TEXT NOT NULL,
    reply      TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (device_id, request_id)
) WITHOUT ROWID;
"#;

/// Hubs made before leases kept their slot's sales close gain the column, filled from the
/// slots' documents, and its index (run at every open, after [`SCHEMA`]).
pub fn upgrade(conn: &Connection) -> Result<()> {
    let has_close: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('leases') WHERE name = 'sales_close'",
        [],
        |r| r.get(0),
    )?;
    if !has_close {
        conn.execute_batch(
            "ALTER TABLE leases ADD COLUMN sales_close TEXT;
             UPDATE leases SET sales_close = (
                 SELECT json_extract(doc, '$.sales_close') FROM records
                 WHERE resource = 'slots' AND key = leases.slot_id AND deleted = 0);",
        )?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS leases_listed ON leases(device_id, sales_close);",
    )?;
    Ok(())
}

/// A sales close as the `leases` table keeps it (as a slot's document writes it).
fn close_text(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A slot's document was written: its leases keep its sales close.
pub fn slot_written(tx: &Connection, slot: &SlotDto) -> Result<()> {
    tx.prepare_cached("UPDATE leases SET sales_close = ?2 WHERE slot_id = ?1")?
        .execute(params![slot.slot_id, close_text(slot.sales_close)])?;
    Ok(())
}

/// Most unsold seats of one slot one kiosk may hold.
pub const MAX_PER_KIOSK: u32 = 40;

/// Why a lease request is refused (nothing is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no slot {0:?}")]
    UnknownSlot(String),
    #[error("seats must be 1 to {MAX_LEASE_SEATS}, not {0}")]
    BadSeats(u32),
}

/// A lease call's answer: the reply, or why it was refused.
pub type Answer = std::result::Result<LeaseReply, Refused>;

/// A slot as published on the `slots` feed.
pub fn slot(conn: &Connection, slot_id: &str) -> Result<Option<SlotDto>> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM records WHERE resource = ?1 AND key = ?2 AND deleted = 0")?
        .query_row(params![Resource::Slots.as_str(), slot_id], |r| r.get(0))
        .optional()?;
    Ok(match doc {
        Some(d) => Some(serde_json::from_str(&d)?),
        None => None,
    })
}

/// The hub's count of a slot: capacity, seats sold, seats leased and not yet sold.
pub fn count(conn: &Connection, slot: &SlotDto) -> Result<SlotCount> {
    let sold: u32 = conn
        .prepare_cached("SELECT sold FROM slot_sales WHERE slot_id = ?1")?
        .query_row([&slot.slot_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let leased_unsold: u32 = conn
        .prepare_cached(
            "SELECT coalesce(sum(max(seats - used, 0)), 0) FROM leases WHERE slot_id = ?1",
        )?
        .query_row([&slot.slot_id], |r| r.get(0))?;
    Ok(SlotCount {
        capacity: slot.capacity,
        sold,
        leased_unsold,
    })
}

fn lease(conn: &Connection, device: &str, slot: &SlotDto) -> Result<LeaseDto> {
    let row: Option<(u32, u32, u32)> = conn
        .prepare_cached(
            "SELECT seats, used, recall FROM leases WHERE device_id = ?1 AND slot_id = ?2",
        )?
        .query_row(params![device, slot.slot_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (seats, used, recall) = row.unwrap_or_default();
    Ok(LeaseDto {
        slot_id: slot.slot_id.clone(),
        seats,
        used,
        recall,
        sales_close: slot.sales_close,
    })
}

fn store_lease(conn: &Connection, device: &str, l: &LeaseDto) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO leases (device_id, slot_id, seats, used, recall, sales_close)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (device_id, slot_id)
         DO UPDATE SET seats = ?3, used = ?4, recall = ?5, sales_close = ?6",
    )?
    .execute(params![
        device,
        l.slot_id,
        l.seats,
        l.used,
        l.recall,
        close_text(l.sales_close)
    ])?;
    Ok(())
}

/// The reply already given to this request id, if any.
fn replayed(conn: &Connection, device: &str, request_id: &str) -> Result<Option<LeaseReply>> {
    let reply: Option<String> = conn
        .prepare_cached("SELECT reply FROM lease_ops WHERE device_id = ?1 AND request_id = ?2")?
        .query_row(params![device, request_id], |r| r.get(0))
        .optional()?;
    Ok(match reply {
        Some(r) => Some(serde_json::from_str(&r)?),
        None => None,
    })
}

fn remember(conn: &Connection, device: &str, reply: &LeaseReply) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO lease_ops (device_id, request_id, reply, at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        device,
        reply.request_id,
        serde_json::to_string(reply)?,
        Utc::now().to_rfc3339()
    ])?;
    Ok(())
}

fn checked(conn: &Connection, req: &LeaseRequest) -> Result<std::result::Result<SlotDto, Refused>> {
    if req.seats == 0 || req.seats > MAX_LEASE_SEATS {
        return Ok(Err(Refused::BadSeats(req.seats)));
    }
    Ok(slot(conn, &req.slot_id)?.ok_or_else(|| Refused::UnknownSlot(req.slot_id.clone())))
}

/// Grants `device` up to `req.seats` more seats of a slot, within what is left of its
/// capacity and [`MAX_PER_KIOSK`] unsold a kiosk; none once the slot's sales have closed at
/// the venue's `now_local`. A request id seen before gets its first reply again.
pub fn request(
    tx: &Connection,
    device: &str,
    req: &LeaseRequest,
    now_local: NaiveDateTime,
) -> Result<Answer> {
    if let Some(reply) = replayed(tx, device, &req.request_id)? {
        return Ok(Ok(reply));
    }
    let slot = match checked(tx, req)? {
        Ok(s) => s,
        Err(r) => return Ok(Err(r)),
    };
    let count = count(tx, &slot)?;
    let mut l = lease(tx, device, &slot)?;
    let unsold = l.seats.saturating_sub(l.used);
    let granted = grant(
        &count,
        now_local < slot.sales_close,
        unsold,
        req.seats,
        MAX_PER_KIOSK,
    );
    l.seats += granted;
    store_lease(tx, device, &l)?;
    let reply = LeaseReply {
        request_id: req.request_id.clone(),
        granted,
        returned: 0,
        lease: l,
    };
    remember(tx, device, &reply)?;
    Ok(Ok(reply))
}

/// Takes back up to `req.seats` seats `device` leased and has not sold (as far as the hub
/// knows); what was taken back also settles as much of a recall.
pub fn give_back(tx: &Connection, device: &str, req: &LeaseRequest) -> Result<Answer> {
    if let Some(reply) = replayed(tx, device, &req.request_id)? {
        return Ok(Ok(reply));
    }
    let slot = match checked(tx, req)? {
        Ok(s) => s,
        Err(r) => return Ok(Err(r)),
    };
    let mut l = lease(tx, device, &slot)?;
    let returned = req.seats.min(l.seats.saturating_sub(l.used));
    l.seats -= returned;
    l.recall = l.recall.saturating_sub(returned);
    store_lease(tx, device, &l)?;
    let reply = LeaseReply {
        request_id: req.request_id.clone(),
        granted: 0,
        returned,
        lease: l,
    };
    remember(tx, device, &reply)?;
    Ok(Ok(reply))
}

/// How long after a slot's sales close the hub still lists a kiosk's lease of it: time for the
/// kiosk to give back what it did not sell. After that the kiosk no longer hears of it and
/// counts it gone, so the list a kiosk reads every minute stays the size of what is on sale.
pub const LISTED_AFTER_CLOSE: chrono::TimeDelta = chrono::TimeDelta::days(2);

/// Every lease `device` holds; with `closed_before`, not those whose sales closed before it.
pub fn leases_of(
    conn: &Connection,
    device: &str,
    closed_before: Option<NaiveDateTime>,
) -> Result<LeasesDto> {
    // Only the rows of slots that may still be listed (the index's range; a row whose close
    // is not known yet, too); each slot's own document decides.
    // (Two ranges of the index, sorted here: an OR or an ORDER BY would read every row.)
    let mut slots: Vec<String> = conn
        .prepare_cached(
            "SELECT slot_id FROM leases WHERE device_id = ?1 AND sales_close >= ?2
             UNION ALL
             SELECT slot_id FROM leases WHERE device_id = ?1 AND sales_close IS NULL",
        )?
        .query_map(
            params![device, closed_before.map_or_else(String::new, close_text)],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    slots.sort();
    let mut leases = Vec::with_capacity(slots.len());
    for id in slots {
        if let Some(s) = slot(conn, &id)?
            && closed_before.is_none_or(|before| s.sales_close >= before)
        {
            leases.push(lease(conn, device, &s)?);
        }
    }
    Ok(LeasesDto { leases })
}

/// Asks `device` to give back `seats` unsold seats of a slot (staff, for a group booking).
pub fn recall(tx: &Connection, device: &str, slot_id: &str, seats: u32) -> Result<LeaseDto> {
    let slot =
        slot(tx, slot_id)?.ok_or_else(|| StoreError::NotFound(format!("no slot {slot_id:?}")))?;
    let mut l = lease(tx, device, &slot)?;
    if l.seats == 0 {
        return Err(StoreError::NotFound(format!(
            "device {device:?} holds no lease of {slot_id:?}"
        )));
    }
    l.recall = seats;
    store_lease(tx, device, &l)?;
    Ok(l)
}

/// Counts `seats` of a slot as sold: by the hub itself (`device` = None) or by a kiosk's
/// order the hub received (which also uses that many of its lease).
pub fn record_sale(tx: &Connection, slot_id: &str, seats: u32, device: Option<&str>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO slot_sales (slot_id, sold) VALUES (?1, ?2)
         ON CONFLICT (slot_id) DO UPDATE SET sold = sold + ?2",
    )?
    .execute(params![slot_id, seats])?;
    if let Some(device) = device {
        tx.prepare_cached(
            "INSERT INTO leases (device_id, slot_id, seats, used, sales_close)
             VALUES (?1, ?2, 0, ?3, (SELECT json_extract(doc, '$.sales_close') FROM records
                                     WHERE resource = 'slots' AND key = ?2 AND deleted = 0))
             ON CONFLICT (device_id, slot_id) DO UPDATE SET used = used + ?3",
        )?
        .execute(params![device, slot_id, seats])?;
    }
    Ok(())
}

/// One slot's capacity as `portico hub leases` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotReport {
    pub slot_id: String,
    pub capacity: u32,
    pub sold: u32,
    pub leased_unsold: u32,
    pub available: u32,
    /// Per kiosk: (device, seats leased, used, recall).
    pub leases: Vec<(String, u32, u32, u32)>,
    /// A kiosk's orders used more seats than it was leased (they were paid; staff look).
    pub oversold: bool,
}

/// Capacity of every slot with sales or leases (or of `only`).
pub fn report(conn: &Connection, only: Option<&str>) -> Result<Vec<SlotReport>> {
    let ids: Vec<String> = match only {
        Some(id) => vec![id.to_owned()],
        None => conn
            .prepare("SELECT slot_id FROM slot_sales UNION SELECT slot_id FROM leases ORDER BY 1")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?,
    };
    let mut out = Vec::new();
    for id in ids {
        let Some(s) = slot(conn, &id)? else {
            if only.is_some() {
                return Err(StoreError::NotFound(format!("no slot {id:?}")));
            }
            continue;
        };
        let c = count(conn, &s)?;
        let leases: Vec<(String, u32, u32, u32)> = conn
            .prepare_cached(
                "SELECT device_id, seats, used, recall FROM leases WHERE slot_id = ?1 ORDER BY device_id",
            )?
            .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        out.push(SlotReport {
            slot_id: id,
            capacity: c.capacity,
            sold: c.sold,
            leased_unsold: c.leased_unsold,
            available: c.available(),
            oversold: leases.iter().any(|(_, seats, used, _)| used > seats),
            leases,
        });
    }
    Ok(out)
}

// ----- routes -----

/// The lease routes, merged into the hub's router.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/leases", get(list_route))
        .route("/v1/leases/request", post(request_route))
        .route("/v1/leases/return", post(return_route))
}

impl From<Refused> for ApiError {
    fn from(e: Refused) -> Self {
        match e {
            Refused::UnknownSlot(_) => {
                ApiError(StatusCode::NOT_FOUND, "unknown_slot", e.to_string())
            }
            Refused::BadSeats(_) => ApiError(StatusCode::BAD_REQUEST, "bad_seats", e.to_string()),
        }
    }
}

/// The venue's local time at the hub (the system's time zone).
fn venue_now() -> NaiveDateTime {
    chrono::Local::now().naive_local()
}

async fn lease_route(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Bytes,
    returning: bool,
) -> std::result::Result<Response, ApiError> {
    let device = authenticate(&state, &headers).await?;
    let req: LeaseRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("not a lease request: {e}"),
        )
    })?;
    let store = state.store.clone();
    let now_local = venue_now();
    let answer = blocking(move || {
        store.write(|tx, _| {
            if returning {
                give_back(tx, &device, &req)
            } else {
                request(tx, &device, &req, now_local)
            }
        })
    })
    .await?;
    Ok(Json(answer?).into_response())
}

async fn request_route(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> std::result::Result<Response, ApiError> {
    lease_route(state, headers, body, false).await
}

async fn return_route(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> std::result::Result<Response, ApiError> {
    lease_route(state, headers, body, true).await
}

async fn list_route(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> std::result::Result<Json<LeasesDto>, ApiError> {
    let device = authenticate(&state, &headers).await?;
    let store = state.store.clone();
    Ok(Json(
        blocking(move || {
            let closed_before = chrono::Local::now().naive_local() - LISTED_AFTER_CLOSE;
            store.read(|c| leases_of(c, &device, Some(closed_before)))
        })
        .await?,
    ))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;
    use crate::HubStore;
    use crate::orders::{SaleRequest, SellRefused, sell};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()
    }

    /// Before the day's first slot opens.
    fn morning() -> NaiveDateTime {
        day().and_hms_opt(8, 0, 0).unwrap()
    }

    const TEN: &str = "zoo@2026-12-06T10:00";
    const FEEDING: &str = "giraffe@2026-12-06T10:00";

    fn store() -> (tempfile::TempDir, HubStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        store
            .write(|tx, seq| crate::catalog::publish(tx, seq, day(), 1, 0))
            .unwrap();
        (dir, store)
    }

    fn req(id: &str, slot: &str, seats: u32) -> LeaseRequest {
        LeaseRequest {
            request_id: id.into(),
            slot_id: slot.into(),
            seats,
        }
    }

    fn ask(store: &HubStore, device: &str, r: &LeaseRequest, at: NaiveDateTime) -> Answer {
        store.write(|tx, _| request(tx, device, r, at)).unwrap()
    }

    fn back(store: &HubStore, device: &str, r: &LeaseRequest) -> Answer {
        store.write(|tx, _| give_back(tx, device, r)).unwrap()
    }

    fn available(store: &HubStore, slot_id: &str) -> u32 {
        store
            .read(|c| Ok(count(c, &slot(c, slot_id)?.unwrap())?.available()))
            .unwrap()
    }

    fn hub_sale(
        store: &HubStore,
        slot_id: &str,
        adults: u32,
    ) -> std::result::Result<u32, SellRefused> {
        let r = SaleRequest {
            product: if slot_id.starts_with("giraffe") {
                "GIRAFFE"
            } else {
                "TIMED"
            }
            .into(),
            slot: Some(slot_id.into()),
            day: day(),
            quantities: vec![(
                (!slot_id.starts_with("giraffe")).then(|| "adult".to_owned()),
                adults,
            )],
            constituent: None,
        };
        let now = chrono::TimeZone::from_utc_datetime(&Utc, &morning());
        store
            .write(|tx, seq| sell(tx, seq, &r, now, morning(), &mut rand::rng()))
            .unwrap()
            .map(|s| s.seats)
    }

    #[test]
    fn the_hub_grants_only_what_is_neither_sold_nor_leased_and_replays_a_request_unchanged() {
        let (_dir, store) = store();
        let granted = |a: Answer| a.unwrap().granted;
        assert_eq!(
            granted(ask(&store, "k1", &req("a", FEEDING, 10), morning())),
            10
        );
        assert_eq!(available(&store, FEEDING), 2);
        // The same request again: its first reply, nothing more granted.
        let again = ask(&store, "k1", &req("a", FEEDING, 10), morning()).unwrap();
        assert_eq!((again.granted, again.lease.seats), (10, 10));
        assert_eq!(available(&store, FEEDING), 2);
        // Another kiosk gets what is left, and then nothing.
        assert_eq!(
            granted(ask(&store, "k2", &req("b", FEEDING, 5), morning())),
            2
        );
        assert_eq!(
            granted(ask(&store, "k2", &req("c", FEEDING, 5), morning())),
            0
        );
        assert_eq!(available(&store, FEEDING), 0);
        // The hub's own sale finds the slot full.
        assert_eq!(
            hub_sale(&store, FEEDING, 1),
            Err(SellRefused::SoldOut {
                slot: FEEDING.into(),
                available: 0,
                asked: 1
            })
        );
        // k1 sells 3 (its order reaches the hub), gives back 5 of the 7 left; the hub sells 5.
        store
            .write(|tx, _| record_sale(tx, FEEDING, 3, Some("k1")))
            .unwrap();
        let r = back(&store, "k1", &req("d", FEEDING, 5)).unwrap();
        assert_eq!((r.returned, r.lease.seats, r.lease.used), (5, 5, 3));
        assert_eq!(available(&store, FEEDING), 5);
        assert_eq!(hub_sale(&store, FEEDING, 5), Ok(5));
        assert_eq!(available(&store, FEEDING), 0);
        // A return of more than is unsold takes back only the unsold.
        let r = back(&store, "k1", &req("e", FEEDING, 10)).unwrap();
        assert_eq!((r.returned, r.lease.seats), (2, 3));
        let report = store.read(|c| report(c, Some(FEEDING))).unwrap();
        assert_eq!(
            (report[0].sold, report[0].leased_unsold, report[0].available),
            (8, 2, 2)
        );
    }

    #[test]
    fn a_kiosks_list_reads_the_leases_of_slots_still_listed_as_their_documents_say() {
        let (dir, store) = store();
        ask(&store, "k1", &req("1", TEN, 5), morning()).unwrap();
        store
            .write(|tx, _| record_sale(tx, FEEDING, 2, Some("k1")))
            .unwrap();
        // Each lease row keeps its slot's close, from the lease or from the slot's document.
        let closes = |store: &HubStore| -> Vec<(String, Option<String>)> {
            store
                .read(|c| {
                    Ok(
                        c.prepare("SELECT slot_id, sales_close FROM leases ORDER BY slot_id")?
                            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect::<rusqlite::Result<_>>()?,
                    )
                })
                .unwrap()
        };
        let want = vec![
            (FEEDING.to_owned(), Some("2026-12-06T10:00:00".to_owned())),
            (TEN.to_owned(), Some("2026-12-06T10:00:00".to_owned())),
        ];
        assert_eq!(closes(&store), want);
        let listed = |store: &HubStore, before: NaiveDateTime| -> Vec<String> {
            store
                .read(|c| leases_of(c, "k1", Some(before)))
                .unwrap()
                .leases
                .into_iter()
                .map(|l| l.slot_id)
                .collect()
        };
        let noon = day().and_hms_opt(12, 0, 0).unwrap();
        assert!(listed(&store, noon).is_empty(), "both closed at 10:00");
        // The venue moves the 10:00 slot's sales close to 13:00: listed again.
        let mut moved = store.read(|c| slot(c, TEN)).unwrap().unwrap();
        moved.sales_close = day().and_hms_opt(13, 0, 0).unwrap();
        store
            .write(|tx, seq| {
                crate::store::put(
                    tx,
                    seq,
                    Resource::Slots,
                    TEN,
                    Some(&serde_json::to_string(&moved)?),
                )?;
                slot_written(tx, &moved)
            })
            .unwrap();
        assert_eq!(listed(&store, noon), [TEN]);
        // A hub made before the column gains it at its next open, filled from the documents.
        let path = dir.path().join("hub.db");
        drop(store);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("DROP INDEX leases_listed; ALTER TABLE leases DROP COLUMN sales_close;")
            .unwrap();
        drop(conn);
        let store = HubStore::open(&path).unwrap();
        assert_eq!(
            closes(&store),
            [
                want[0].clone(),
                (TEN.to_owned(), Some("2026-12-06T13:00:00".to_owned()))
            ]
        );
        assert_eq!(listed(&store, noon), [TEN]);
    }

    #[test]
    fn a_kiosk_holds_at_most_forty_unsold_seats_and_none_once_sales_close() {
        let (_dir, store) = store();
        let at = morning();
        let rows = [
            ("first batch", req("1", TEN, 30), at, Ok(30)),
            ("up to the per-kiosk cap", req("2", TEN, 30), at, Ok(10)),
            ("cap reached", req("3", TEN, 5), at, Ok(0)),
            (
                "at the slot's start",
                req("4", "zoo@2026-12-06T11:00", 5),
                day().and_hms_opt(11, 0, 0).unwrap(),
                Ok(0),
            ),
            (
                "a minute before",
                req("5", "zoo@2026-12-06T11:00", 5),
                day().and_hms_opt(10, 59, 0).unwrap(),
                Ok(5),
            ),
            (
                "no such slot",
                req("6", "zoo@2030-01-01T10:00", 5),
                at,
                Err(Refused::UnknownSlot("zoo@2030-01-01T10:00".into())),
            ),
            ("no seats", req("7", TEN, 0), at, Err(Refused::BadSeats(0))),
            (
                "too many",
                req("8", TEN, MAX_LEASE_SEATS + 1),
                at,
                Err(Refused::BadSeats(MAX_LEASE_SEATS + 1)),
            ),
        ];
        for (what, r, at, want) in rows {
            let got = ask(&store, "k1", &r, at).map(|a| a.granted);
            assert_eq!(got, want, "{what}");
        }
        let r = store.read(|c| leases_of(c, "k1", None)).unwrap();
        assert_eq!(
            r.leases
                .iter()
                .map(|l| (l.slot_id.as_str(), l.seats))
                .collect::<Vec<_>>(),
            [(TEN, 40), ("zoo@2026-12-06T11:00", 5)]
        );
        assert_eq!(
            r.leases[0].sales_close,
            day().and_hms_opt(10, 0, 0).unwrap()
        );
        // Leases of slots whose sales closed long ago are no longer listed.
        let half_past = day().and_hms_opt(10, 30, 0).unwrap();
        let listed = store.read(|c| leases_of(c, "k1", Some(half_past))).unwrap();
        assert_eq!(
            listed
                .leases
                .iter()
                .map(|l| l.slot_id.as_str())
                .collect::<Vec<_>>(),
            ["zoo@2026-12-06T11:00"]
        );
        // A recall travels with the lease; a return settles it.
        store.write(|tx, _| recall(tx, "k1", TEN, 15)).unwrap();
        assert_eq!(
            store.read(|c| leases_of(c, "k1", None)).unwrap().leases[0].recall,
            15
        );
        let r = back(&store, "k1", &req("9", TEN, 10)).unwrap();
        assert_eq!((r.lease.seats, r.lease.recall), (30, 5));
        assert!(
            store.write(|tx, _| recall(tx, "k9", TEN, 1)).is_err(),
            "no lease to recall"
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Ask {
            kiosk: usize,
            seats: u32,
        },
        Return {
            kiosk: usize,
            seats: u32,
        },
        /// The kiosk's order reaches the hub: it sells within its unsold lease.
        KioskSold {
            kiosk: usize,
            seats: u32,
        },
        HubSells {
            seats: u32,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, 1..20u32).prop_map(|(kiosk, seats)| Op::Ask { kiosk, seats }),
            (0..3usize, 1..20u32).prop_map(|(kiosk, seats)| Op::Return { kiosk, seats }),
            (0..3usize, 1..10u32).prop_map(|(kiosk, seats)| Op::KioskSold { kiosk, seats }),
            (1..8u32).prop_map(|seats| Op::HubSells { seats }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the order of three kiosks' requests, returns and sales and the hub's own
        /// sales, a slot's seats sold and leased-but-unsold never pass its capacity, and
        /// every seat a kiosk sold came from its lease.
        #[test]
        fn sold_and_leased_never_pass_capacity(ops in proptest::collection::vec(op(), 1..40)) {
            let (_dir, store) = store();
            for (i, op) in ops.iter().enumerate() {
                let id = format!("r{i}");
                let kiosk = |k: usize| format!("k{k}");
                match op {
                    Op::Ask { kiosk: k, seats } => {
                        ask(&store, &kiosk(*k), &req(&id, FEEDING, *seats), morning()).unwrap();
                    }
                    Op::Return { kiosk: k, seats } => {
                        back(&store, &kiosk(*k), &req(&id, FEEDING, *seats)).unwrap();
                    }
                    Op::KioskSold { kiosk: k, seats } => {
                        let l = store.read(|c| lease(c, &kiosk(*k), &slot(c, FEEDING)?.unwrap())).unwrap();
                        let sellable = (*seats).min(l.seats.saturating_sub(l.used));
                        if sellable > 0 {
                            store.write(|tx, _| record_sale(tx, FEEDING, sellable, Some(&kiosk(*k)))).unwrap();
                        }
                    }
                    Op::HubSells { seats } => {
                        let _ = hub_sale(&store, FEEDING, *seats);
                    }
                }
                let c = store.read(|c| count(c, &slot(c, FEEDING)?.unwrap())).unwrap();
                prop_assert!(c.sold + c.leased_unsold <= c.capacity, "after {op:?}: {c:?}");
                let r = store.read(|c| report(c, Some(FEEDING))).unwrap();
                prop_assert!(!r[0].oversold, "{r:?}");
            }
        }
    }
}
