//! Rewriting the device's references to a constituent id, inside the caller's transaction.
//!
//! Two occasions:
//!
//! * **Remap** ([`remap_local_id`]): the hub accepted a `new_constituent` row and returned the
//!   Lookup ID of the record (new, or one it already had). Every local reference to the local
//!   id becomes the Lookup ID, and the mapping is kept in `local_ids` so a late reference
//!   still resolves ([`resolve_local_id`]).
//! * **Perform same merge** ([`perform_same_merge`]): the merges feed says the CRM merged A
//!   into B. Seed 000: "Click the button to Perform Same Merge in XTruLink." The device does it
//!   itself: references to A that have not reached the hub yet are rewritten to B.
//!
//! References are: the constituent row, `membership_members`, the gate's use keys (`scans.use_key = 'lookup:<id>'`), the payloads of outbox rows not yet delivered, and
//! the targets of `local_ids`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::outbox;
use crate::replica::Result;

/// How many references one rewrite changed, per place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rewritten {
    /// The constituent row renamed (1) or dropped because the Lookup ID was already there.
    pub constituents: usize,
    pub membership_members: usize,
    pub scans: usize,
    pub outbox_rows: usize,
    pub local_ids: usize,
}

impl Rewritten {
    pub fn total(&self) -> usize {
        self.constituents + self.membership_members + self.scans + self.outbox_rows + self.local_ids
    }
}

/// Rewrites every reference to `from` outside the constituent row itself.
fn rewrite_references(tx: &Connection, from: &str, to: &str) -> Result<Rewritten> {
    let mut done = Rewritten {
        membership_members: tx
            .prepare_cached("UPDATE membership_members SET lookup_id = ?2 WHERE lookup_id = ?1")?
            .execute(params![from, to])?,
        local_ids: tx
            .prepare_cached("UPDATE local_ids SET lookup_id = ?2 WHERE lookup_id = ?1")?
            .execute(params![from, to])?,
        ..Rewritten::default()
    };
    done.scans = tx
        .prepare_cached("UPDATE scans SET use_key = ?2 WHERE use_key = ?1")?
        .execute(params![format!("lookup:{from}"), format!("lookup:{to}")])?;
    done.outbox_rows = outbox::rewrite_references(tx, from, to)?;
    Ok(done)
}

/// The hub answered a `new_constituent` row for `local_id` with `lookup_id`: renames the
/// pending record (it stays pending until the feed delivers the hub's version, which then
/// updates this same row and clears `pending`), rewrites every local reference, and records
/// the mapping. When the replica already holds `lookup_id` (the hub matched a record the
/// device knows, or the feed delivered it first) the pending copy is dropped instead.
/// Idempotent: a replayed answer changes nothing.
pub fn remap_local_id(
    tx: &Connection,
    local_id: &str,
    lookup_id: &str,
    now: DateTime<Utc>,
) -> Result<Rewritten> {
    if local_id == lookup_id || lookup_id.trim().is_empty() {
        return Ok(Rewritten::default());
    }
    let local_row: Option<i64> = tx
        .prepare_cached("SELECT id FROM constituents WHERE lookup_id = ?1")?
        .query_row([local_id], |r| r.get(0))
        .optional()?;
    let target_exists = tx
        .prepare_cached("SELECT 1 FROM constituents WHERE lookup_id = ?1")?
        .query_row([lookup_id], |_| Ok(()))
        .optional()?
        .is_some();
    let mut constituents = 0;
    if let Some(id) = local_row {
        if target_exists {
            for kind in &crate::replica::KINDS {
                tx.prepare_cached(&format!(
                    "DELETE FROM {} WHERE constituent_id = ?1",
                    kind.table
                ))?
                .execute([id])?;
            }
            tx.prepare_cached("DELETE FROM constituents WHERE id = ?1")?
                .execute([id])?;
        } else {
            tx.prepare_cached("UPDATE constituents SET lookup_id = ?2 WHERE id = ?1")?
                .execute(params![id, lookup_id])?;
        }
        constituents = 1;
    }
    let mut done = rewrite_references(tx, local_id, lookup_id)?;
    done.constituents = constituents;
    tx.prepare_cached(
        "INSERT INTO local_ids (local_id, lookup_id, mapped_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(local_id) DO UPDATE SET lookup_id = excluded.lookup_id",
    )?
    .execute(params![local_id, lookup_id, now.to_rfc3339()])?;
    tracing::info!(
        local_id,
        lookup_id,
        replaced_existing = target_exists,
        references = done.total(),
        "local constituent remapped to its Lookup ID"
    );
    Ok(done)
}

/// Seed 000, "Perform Same Merge": after the CRM merged `merged_id` into `survivor_id`, the
/// device's references to `merged_id` that have not been delivered yet point to the survivor.
/// The merged record itself is left for the purge.
pub fn perform_same_merge(
    tx: &Connection,
    merged_id: &str,
    survivor_id: &str,
) -> Result<Rewritten> {
    if merged_id == survivor_id {
        return Ok(Rewritten::default());
    }
    let done = rewrite_references(tx, merged_id, survivor_id)?;
    if done.total() > 0 {
        tracing::info!(
            merged_id,
            survivor_id,
            membership_members = done.membership_members,
            scans = done.scans,
            outbox_rows = done.outbox_rows,
            local_ids = done.local_ids,
            "performed the same merge on local references"
        );
    }
    Ok(done)
}

/// The Lookup ID a local id was mapped to, if the hub has answered for it; any other id is
/// returned unchanged.
pub fn resolve_local_id(conn: &Connection, id: &str) -> Result<String> {
    if !super::is_local_id(id) {
        return Ok(id.to_owned());
    }
    Ok(conn
        .prepare_cached("SELECT lookup_id FROM local_ids WHERE local_id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| id.to_owned()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::protocol::{ConstituentDto, ContactMetaDto, EmailDto};
    use crate::replica::Applier;

    fn record(id: &str) -> ConstituentDto {
        ConstituentDto {
            emails: vec![EmailDto {
                address: "ada@byron.net".into(),
                meta: ContactMetaDto {
                    kind: "Email".into(),
                    primary: true,
                    active: true,
                    start: None,
                    end: None,
                },
            }],
            ..ConstituentDto::named(id, "Ada", "Byron")
        }
    }

    fn rows(conn: &Connection) -> Vec<(String, bool, i64)> {
        conn.prepare(
            "SELECT lookup_id, pending, (SELECT count(*) FROM emails e WHERE e.constituent_id = c.id)
             FROM constituents c ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    #[test]
    fn a_pending_record_is_renamed_or_dropped_when_the_lookup_id_is_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::replica::open(&dir.path().join("d.db")).unwrap();
        let a = Applier::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
        a.write_local_constituent(&conn, &record("L-1"), true)
            .unwrap();
        a.write_local_constituent(&conn, &record("L-2"), true)
            .unwrap();
        a.constituents(
            &conn,
            &[crate::protocol::Change::Upsert {
                key: "8-2".into(),
                data: record("8-2"),
                changed: None,
            }],
        )
        .unwrap();

        // Renamed, still pending until the feed confirms it.
        assert_eq!(
            remap_local_id(&conn, "L-1", "8-1", now)
                .unwrap()
                .constituents,
            1
        );
        // The hub matched a record the replica already holds: the pending copy goes.
        remap_local_id(&conn, "L-2", "8-2", now).unwrap();
        assert_eq!(
            rows(&conn),
            vec![("8-1".into(), true, 1), ("8-2".into(), false, 1)]
        );
        let orphans: i64 = conn
            .query_row(
                "SELECT count(*) FROM emails WHERE constituent_id NOT IN (SELECT id FROM constituents)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0);
        // A replayed answer changes nothing; both local ids resolve.
        assert_eq!(remap_local_id(&conn, "L-1", "8-1", now).unwrap().total(), 0);
        assert_eq!(resolve_local_id(&conn, "L-1").unwrap(), "8-1");
        assert_eq!(resolve_local_id(&conn, "L-2").unwrap(), "8-2");
        assert_eq!(resolve_local_id(&conn, "L-9").unwrap(), "L-9");
        // The feed's record clears the flag on the same row.
        a.constituents(
            &conn,
            &[crate::protocol::Change::Upsert {
                key: "8-1".into(),
                data: record("8-1"),
                changed: None,
            }],
        )
        .unwrap();
        assert_eq!(rows(&conn)[0], ("8-1".into(), false, 1));
    }
}
