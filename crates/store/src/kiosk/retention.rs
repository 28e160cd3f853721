//! How long a kiosk keeps what it sold, checked in and clocked: its records older than
//! `kiosk.keep_records` (90 days unless configured) are deleted once the hub has them (guest
//! passes, which never go upstream, once their day is that long past).
//!
//! A kiosk's orders, payments, tickets, guest passes, timesheets and seat-lease calls are its
//! own working copy: the hub holds the record (`portico hub orders`, the CRM's timesheets).
//! Kept for ever they would fill a small device's card and slow every page that reads them.
//! The hourly housekeeping deletes, in one writer job of at most [`BATCH`] orders:
//! - an **order** made before the cutoff, with its lines, payment, tickets and payment intent,
//!   when its upload row is delivered (or already pruned as delivered) and every entry time
//!   it sold closed its sales before the cutoff (while a slot is on sale, its lease counts the
//!   order's seats as sold);
//! - a **payment intent** that came to nothing (failed or voided) before the cutoff, unless it
//!   waits for staff to refund it by hand;
//! - a **guest pass** for a day before the cutoff's day (it admits on its day only);
//! - a **timesheet** of a day before the cutoff's day whose upload row is delivered;
//! - a **seat-lease call** answered (or refused) before the cutoff;
//! - a **lease** of an entry time whose sales closed before the cutoff, once no order, held
//!   seat or unanswered lease call of this kiosk names it.
//!
//! A deleted order's seats stay counted as sold on its slot's lease (`leases.pruned_seats`):
//! the hub still counts them used, and a kiosk that counted fewer would think it held seats to
//! give back. Two days after a slot's sales close the hub stops listing the lease, the kiosk
//! counts it as holding no seats, and its lease checks no longer look at it; the row itself
//! goes with the kiosk's other records of that time.
//!
//! Never deleted: anything whose upload row is pending or dead-lettered (a kiosk offline for a
//! season keeps every order until the hub has it), a payment still being settled (`started`),
//! and an intent kept aside for a person to look at.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use rusqlite::{Connection, params};

use crate::replica::Result;

/// How long a kiosk keeps its records by default.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(90 * 24 * 3600);
/// The shortest keep accepted: a week, so a visitor's tickets can be printed again at the
/// desk for days after the visit.
pub const MIN_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest: ten years, of 365.25 days as `humantime` counts them.
pub const MAX_KEEP: Duration = Duration::from_secs(10 * 31_557_600);

/// Orders deleted per writer job: a visitor's payment waits at most for one batch.
pub const BATCH: usize = 200;

/// What one pass deleted, and what it kept because the hub does not have it yet.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub orders: usize,
    pub intents: usize,
    pub guest_passes: usize,
    pub timesheets: usize,
    pub lease_calls: usize,
    pub leases: usize,
    /// Orders and timesheets older than the cutoff whose upload is pending or dead-lettered.
    pub kept_unsent: usize,
}

impl Pruned {
    pub fn deleted(&self) -> usize {
        self.orders
            + self.intents
            + self.guest_passes
            + self.timesheets
            + self.lease_calls
            + self.leases
    }
}

/// The moment before which records may go: `keep` before `now`, as milliseconds since the
/// epoch and as the venue's local time (days and sales closes are local).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoff {
    pub at_ms: i64,
    pub local: NaiveDateTime,
}

impl Cutoff {
    pub fn before(now_ms: i64, now_local: NaiveDateTime, keep: Duration) -> Self {
        let keep = TimeDelta::from_std(keep).unwrap_or(TimeDelta::MAX);
        Self {
            at_ms: now_ms.saturating_sub(keep.num_milliseconds()),
            local: now_local
                .checked_sub_signed(keep)
                .unwrap_or(NaiveDateTime::MIN),
        }
    }

    fn day_text(&self) -> String {
        self.local.date().to_string()
    }
}

/// An upload row the hub may not have yet: pending or dead-lettered.
const UNSENT: &str = "EXISTS (SELECT 1 FROM outbox u WHERE u.idempotency_key = {key}
                              AND u.state IN ('pending', 'dead'))";

fn unsent(key: &str) -> String {
    UNSENT.replace("{key}", key)
}

/// Deletes a payment intent and the seats it held.
fn delete_intent(tx: &Connection, reference: &str) -> Result<()> {
    for sql in [
        "DELETE FROM intent_holds WHERE reference = ?1",
        "DELETE FROM payment_intents WHERE reference = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([reference])?;
    }
    Ok(())
}

/// One pass over the kiosk's records (see the module's notes): at most [`BATCH`] of each
/// kind deleted. Returns what it deleted, and whether a kind filled its batch (call again).
pub fn prune(tx: &Connection, cutoff: Cutoff) -> Result<(Pruned, bool)> {
    let mut done = Pruned::default();
    let local = crate::replica::catalog::local(cutoff.local);
    let day = cutoff.day_text();
    let limit = BATCH as i64;

    let old_orders: Vec<(String, String)> = tx
        .prepare_cached(&format!(
            "SELECT o.order_id, o.payment_ref FROM orders o
             WHERE o.created_at_ms < ?1 AND NOT {unsent}
               AND NOT EXISTS (SELECT 1 FROM order_lines ol JOIN leases l ON l.slot_id = ol.slot_id
                               WHERE ol.order_id = o.order_id AND l.sales_close >= ?2)
             ORDER BY o.created_at_ms LIMIT ?3",
            unsent = unsent("o.outbox_key"),
        ))?
        .query_map(params![cutoff.at_ms, local, limit], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (order_id, reference) in &old_orders {
        tx.prepare_cached(
            "UPDATE leases SET pruned_seats = pruned_seats + (SELECT coalesce(sum(o.seats), 0)
                 FROM order_lines o WHERE o.order_id = ?1 AND o.slot_id = leases.slot_id)
             WHERE slot_id IN (SELECT slot_id FROM order_lines WHERE order_id = ?1)",
        )?
        .execute([order_id])?;
        for sql in [
            "DELETE FROM order_lines WHERE order_id = ?1",
            "DELETE FROM payments WHERE order_id = ?1",
            "DELETE FROM issued_tickets WHERE order_id = ?1",
            "DELETE FROM orders WHERE order_id = ?1",
        ] {
            tx.prepare_cached(sql)?.execute([order_id])?;
        }
        delete_intent(tx, reference)?;
    }
    done.orders = old_orders.len();
    done.kept_unsent = tx
        .prepare_cached(&format!(
            "SELECT count(*) FROM orders o WHERE o.created_at_ms < ?1 AND {}",
            unsent("o.outbox_key")
        ))?
        .query_row([cutoff.at_ms], |r| r.get::<_, i64>(0))? as usize;

    let failed: Vec<String> = tx
        .prepare_cached(
            "SELECT reference FROM payment_intents
             WHERE created_at_ms < ?1 AND state IN ('failed', 'voided')
               AND coalesce(outcome, '') != ?3 LIMIT ?2",
        )?
        .query_map(
            params![cutoff.at_ms, limit, crate::kiosk::orders::REFUND_BY_HAND],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    for reference in &failed {
        delete_intent(tx, reference)?;
    }
    done.intents = failed.len();

    done.guest_passes = tx
        .prepare_cached(
            "DELETE FROM guest_passes WHERE secret IN
                 (SELECT secret FROM guest_passes WHERE valid_on < ?1 LIMIT ?2)",
        )?
        .execute(params![day, limit])?;

    let timesheet_unsent = unsent("t.outbox_key");
    done.timesheets = tx
        .prepare_cached(&format!(
            "DELETE FROM timesheets WHERE clock_id IN (SELECT t.clock_id FROM timesheets t
                 WHERE t.day < ?1 AND NOT {timesheet_unsent} LIMIT ?2)"
        ))?
        .execute(params![day, limit])?;
    done.kept_unsent += tx
        .prepare_cached(&format!(
            "SELECT count(*) FROM timesheets t WHERE t.day < ?1 AND {timesheet_unsent}"
        ))?
        .query_row([&day], |r| r.get::<_, i64>(0))? as usize;

    done.lease_calls = tx
        .prepare_cached(
            "DELETE FROM lease_ops WHERE request_id IN (SELECT request_id FROM lease_ops
                 WHERE created_at_ms < ?1 AND state != 'sent' LIMIT ?2)",
        )?
        .execute(params![cutoff.at_ms, limit])?;

    done.leases = tx
        .prepare_cached(
            "DELETE FROM leases WHERE slot_id IN (SELECT l.slot_id FROM leases l
                 WHERE l.sales_close < ?1
                   AND NOT EXISTS (SELECT 1 FROM order_lines o WHERE o.slot_id = l.slot_id)
                   AND NOT EXISTS (SELECT 1 FROM intent_holds h WHERE h.slot_id = l.slot_id)
                   AND NOT EXISTS (SELECT 1 FROM lease_ops c
                                   WHERE c.state = 'sent' AND c.slot_id = l.slot_id)
                 LIMIT ?2)",
        )?
        .execute(params![local, limit])?;
    let more = [
        done.orders,
        done.intents,
        done.guest_passes,
        done.timesheets,
        done.lease_calls,
        done.leases,
    ]
    .contains(&BATCH);
    Ok((done, more))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    const DAY_MS: i64 = 86_400_000;
    /// "Now": 2026-06-01 12:00, at 1_780_315_200_000 ms; the cutoff is 90 days before.
    const NOW_MS: i64 = 1_780_315_200_000;

    fn now_local() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 6, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    fn cutoff() -> Cutoff {
        Cutoff::before(NOW_MS, now_local(), DEFAULT_KEEP)
    }

    /// `days` before now, in milliseconds.
    fn ago(days: i64) -> i64 {
        NOW_MS - days * DAY_MS
    }

    /// The local day `days` before now.
    fn day_ago(days: i64) -> String {
        (now_local() - TimeDelta::days(days)).date().to_string()
    }

    fn upload(conn: &Connection, key: &str, state: Option<&str>) {
        if let Some(state) = state {
            conn.execute(
                "INSERT INTO outbox (kind, version, payload, idempotency_key, created_at,
                     next_attempt_at, state)
                 VALUES ('order', 2, '{}', ?1, 0, 0, ?2)",
                params![key, state],
            )
            .unwrap();
        }
    }

    /// An order made `days` ago for `slot`, with a line, a payment, a ticket and its intent;
    /// its upload row in `state` (`None`: already pruned as delivered).
    fn order(conn: &Connection, id: &str, days: i64, state: Option<&str>, slot: &str) {
        let key = format!("up-{id}");
        upload(conn, &key, state);
        conn.execute(
            "INSERT INTO payment_intents (reference, state, amount, currency, draft, created_at_ms)
             VALUES (?1, 'completed', 100, 'USD', '{}', ?2)",
            params![format!("pay-{id}"), ago(days)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO orders (order_id, order_no, payment_ref, currency, net, tax, gross,
                 created_at_ms, local_time, language, offline, outbox_key)
             VALUES (?1, ?1, ?2, 'USD', 100, 0, 100, ?3, '', 'en', 0, ?4)",
            params![id, format!("pay-{id}"), ago(days), key],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO order_lines (order_id, line_no, product_id, slot_id, quantity, seats,
                 price_kind, unit_price, tax_rule, rate_bp, inclusive, net, tax, gross)
             VALUES (?1, 1, 'TIMED', ?2, 1, 1, 'standard', 100, 'none', 0, 1, 100, 0, 100)",
            params![id, slot],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO payments (order_id, reference, method, amount, currency, auth_code,
                 approved_at_ms)
             VALUES (?1, ?2, 'card', 100, 'USD', 'A1', ?3)",
            params![id, format!("pay-{id}"), ago(days)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO issued_tickets (secret, order_id, line_no, key_id, ticket_id, code)
             VALUES (?1, ?2, 1, 1, 1, 'PT-x')",
            params![format!("ticket-{id}"), id],
        )
        .unwrap();
    }

    fn lease(conn: &Connection, slot: &str, close: &str, seats: u32) {
        conn.execute(
            "INSERT INTO leases (slot_id, seats, sales_close, updated_at_ms) VALUES (?1, ?2, ?3, 0)",
            params![slot, seats, close],
        )
        .unwrap();
    }

    fn lease_call(conn: &Connection, id: &str, slot: &str, state: &str, days: i64) {
        conn.execute(
            "INSERT INTO lease_ops (request_id, slot_id, kind, seats, state, created_at_ms)
             VALUES (?1, ?2, 'request', 2, ?3, ?4)",
            params![id, slot, state, ago(days)],
        )
        .unwrap();
    }

    fn intent(conn: &Connection, reference: &str, state: &str, days: i64) {
        conn.execute(
            "INSERT INTO payment_intents (reference, state, amount, currency, draft, created_at_ms)
             VALUES (?1, ?2, 100, 'USD', '{}', ?3)",
            params![reference, state, ago(days)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO intent_holds (reference, slot_id, seats) VALUES (?1, 'closed', 1)",
            [reference],
        )
        .unwrap();
    }

    fn pass(conn: &Connection, secret: &str, days: i64) {
        conn.execute(
            "INSERT INTO guest_passes (secret, scan_id, membership_id, key_id, ticket_id, code,
                 valid_on)
             VALUES (?1, 1, 'M1', 1, 1, 'PT-x', ?2)",
            params![secret, day_ago(days)],
        )
        .unwrap();
    }

    fn timesheet(conn: &Connection, id: &str, days: i64, state: &str) {
        let key = format!("up-{id}");
        upload(conn, &key, Some(state));
        conn.execute(
            "INSERT INTO timesheets (clock_id, volunteer, event_id, checked_in, checked_out, day,
                 hours, outbox_key)
             VALUES (?1, 'V1', 'E1', '', '', ?2, 2.0, ?3)",
            params![id, day_ago(days), key],
        )
        .unwrap();
    }

    fn keys(conn: &Connection, sql: &str) -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn records_the_hub_has_go_after_the_keep_and_nothing_unsent_or_still_on_sale_does() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::replica::open(&dir.path().join("kiosk.db")).unwrap();
        // Sales of "closed" closed 100 days ago (it sold the five orders below made for it);
        // "selling" closes tomorrow; "recent" closed 10 days ago, "within-keep" 30.
        lease(&conn, "closed", &format!("{}T10:00:00", day_ago(100)), 5);
        lease(&conn, "selling", &format!("{}T10:00:00", day_ago(-1)), 5);
        lease(&conn, "recent", &format!("{}T10:00:00", day_ago(10)), 1);
        lease(
            &conn,
            "within-keep",
            &format!("{}T10:00:00", day_ago(30)),
            1,
        );
        // Closed 200 days ago with nothing of this kiosk naming it, and with a lease call
        // still unanswered.
        lease(&conn, "long-gone", &format!("{}T10:00:00", day_ago(200)), 3);
        lease(
            &conn,
            "long-gone-asked",
            &format!("{}T10:00:00", day_ago(200)),
            3,
        );
        let sold = |slot: &str| {
            crate::kiosk::leases::lease(&conn, slot)
                .unwrap()
                .unwrap()
                .sold
        };
        assert_eq!(sold("closed"), 0);
        let cases: &[(&str, i64, Option<&str>, &str, bool)] = &[
            // (order, made days ago, its upload, its slot, deleted)
            ("delivered", 120, Some("delivered"), "closed", true),
            ("upload-pruned", 120, None, "closed", true),
            ("pending", 120, Some("pending"), "closed", false),
            ("dead-lettered", 120, Some("dead"), "closed", false),
            ("slot-on-sale", 120, Some("delivered"), "selling", false),
            ("young", 30, Some("delivered"), "recent", false),
            ("just-inside", 89, Some("delivered"), "closed", false),
            (
                "sales-closed-within-keep",
                120,
                Some("delivered"),
                "within-keep",
                false,
            ),
        ];
        for (id, days, state, slot, _) in cases {
            order(&conn, id, *days, *state, slot);
        }
        for (reference, state, days) in [
            ("failed-old", "failed", 100),
            ("voided-old", "voided", 100),
            ("started-old", "started", 100),
            ("kept-aside-old", "kept_aside", 100),
            ("failed-young", "failed", 10),
        ] {
            intent(&conn, reference, state, days);
        }
        intent(&conn, "refund-by-hand-old", "voided", 100);
        conn.execute(
            "UPDATE payment_intents SET outcome = ?1 WHERE reference = 'refund-by-hand-old'",
            [crate::kiosk::orders::REFUND_BY_HAND],
        )
        .unwrap();
        for (secret, days) in [("pass-old", 91), ("pass-cutoff-day", 90), ("pass-today", 0)] {
            pass(&conn, secret, days);
        }
        for (id, days, state) in [
            ("sheet-old", 100, "delivered"),
            ("sheet-old-pending", 100, "pending"),
            ("sheet-young", 10, "delivered"),
        ] {
            timesheet(&conn, id, days, state);
        }
        for (id, slot, state, days) in [
            ("call-old", "closed", "done", 100),
            ("call-refused", "closed", "refused", 100),
            ("call-sent", "closed", "sent", 100),
            ("call-young", "recent", "done", 10),
            ("call-long-gone", "long-gone-asked", "sent", 150),
        ] {
            lease_call(&conn, id, slot, state, days);
        }

        assert_eq!(sold("closed"), 5);
        let tx = conn.unchecked_transaction().unwrap();
        let (done, more) = prune(&tx, cutoff()).unwrap();
        tx.commit().unwrap();
        assert!(!more);
        assert_eq!(
            done,
            Pruned {
                orders: 2,
                intents: 2,
                guest_passes: 1,
                timesheets: 1,
                lease_calls: 2,
                leases: 1,
                kept_unsent: 3,
            }
        );
        let kept: Vec<&str> = cases
            .iter()
            .filter(|c| !c.4)
            .map(|c| c.0)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            keys(&conn, "SELECT order_id FROM orders ORDER BY order_id"),
            kept
        );
        for table in ["order_lines", "payments", "issued_tickets"] {
            assert_eq!(
                keys(
                    &conn,
                    &format!("SELECT DISTINCT order_id FROM {table} ORDER BY order_id")
                ),
                kept,
                "{table} keeps exactly the kept orders' rows"
            );
        }
        let mut intents_kept: Vec<String> = kept.iter().map(|id| format!("pay-{id}")).collect();
        intents_kept.extend(
            [
                "failed-young",
                "kept-aside-old",
                "refund-by-hand-old",
                "started-old",
            ]
            .map(String::from),
        );
        intents_kept.sort();
        assert_eq!(
            keys(
                &conn,
                "SELECT reference FROM payment_intents ORDER BY reference"
            ),
            intents_kept
        );
        assert_eq!(
            keys(
                &conn,
                "SELECT reference FROM intent_holds ORDER BY reference"
            ),
            [
                "failed-young",
                "kept-aside-old",
                "refund-by-hand-old",
                "started-old"
            ]
        );
        assert_eq!(
            keys(&conn, "SELECT secret FROM guest_passes ORDER BY secret"),
            ["pass-cutoff-day", "pass-today"]
        );
        assert_eq!(
            keys(&conn, "SELECT clock_id FROM timesheets ORDER BY clock_id"),
            ["sheet-old-pending", "sheet-young"]
        );
        assert_eq!(
            keys(
                &conn,
                "SELECT request_id FROM lease_ops ORDER BY request_id"
            ),
            ["call-long-gone", "call-sent", "call-young"]
        );
        assert_eq!(
            sold("closed"),
            5,
            "the deleted orders' seats still count as sold on their lease"
        );
        assert_eq!(
            keys(&conn, "SELECT slot_id FROM leases ORDER BY slot_id"),
            [
                "closed",
                "long-gone-asked",
                "recent",
                "selling",
                "within-keep"
            ],
            "a lease stays while its sales closed within the keep, or something names it"
        );

        // Nothing more to do: a second pass deletes nothing and still counts the unsent.
        let (again, _) = prune(&conn, cutoff()).unwrap();
        assert_eq!(
            again,
            Pruned {
                kept_unsent: 3,
                ..Pruned::default()
            }
        );
    }

    #[test]
    fn a_long_backlog_goes_a_batch_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::replica::open(&dir.path().join("kiosk.db")).unwrap();
        lease(&conn, "closed", &format!("{}T10:00:00", day_ago(400)), 0);
        for i in 0..BATCH + 5 {
            order(&conn, &format!("o{i:04}"), 365, Some("delivered"), "closed");
        }
        let (first, more) = prune(&conn, cutoff()).unwrap();
        assert_eq!((first.orders, more), (BATCH, true));
        let (second, more) = prune(&conn, cutoff()).unwrap();
        assert_eq!((second.orders, more), (5, false));
        assert_eq!(
            keys(&conn, "SELECT order_id FROM orders"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_cutoff_is_the_keep_before_now_in_both_clocks() {
        let c = cutoff();
        assert_eq!(c.at_ms, NOW_MS - 90 * DAY_MS);
        assert_eq!(c.day_text(), "2026-03-03");
        assert_eq!(
            crate::replica::catalog::local(c.local),
            "2026-03-03T12:00:00"
        );
        let never = Cutoff::before(NOW_MS, now_local(), MAX_KEEP * 1000);
        assert!(never.at_ms < 0 && never.local < now_local());
    }
}
