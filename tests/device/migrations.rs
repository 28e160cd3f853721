//! Every earlier schema version migrates to the current one with its data intact.
//!
//! `tests/fixtures/replica-vN.db` is the device database that the last release with schema
//! version N left after `portico demo` (made by `tests/fixtures/make-replicas.sh` from that
//! release's code: its sync, its gate's scans, its outbox). Each is opened with this build,
//! which migrates it; every row of every table is still there afterwards, on every column the
//! table still has, and this build's queries read it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use portico::replica;
use rusqlite::Connection;
use rusqlite::types::Value;

/// One table as found: its columns, and its rows (each in column order), sorted.
#[derive(Debug)]
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

fn fixture(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("replica-v{version}.db"))
}

fn latest() -> u32 {
    replica::schema::MIGRATIONS.last().unwrap().0
}

fn user_version(conn: &Connection) -> u32 {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

fn sort_key(row: &[Value]) -> String {
    format!("{row:?}")
}

/// Every table's rows, read with plain SQL.
fn snapshot(conn: &Connection) -> BTreeMap<String, Table> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names
        .into_iter()
        .map(|name| {
            let columns: Vec<String> = conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{name}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let rows = select(conn, &name, &columns);
            (name, Table { columns, rows })
        })
        .collect()
}

fn select(conn: &Connection, table: &str, columns: &[String]) -> Vec<Vec<Value>> {
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut rows: Vec<Vec<Value>> = conn
        .prepare(&format!("SELECT {list} FROM \"{table}\""))
        .unwrap()
        .query_map([], |r| {
            (0..columns.len())
                .map(|i| r.get::<_, Value>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort_by_key(|r| sort_key(r));
    rows
}

/// Copies a fixture to a scratch directory (the test never changes the committed file).
fn scratch_copy(version: u32) -> (tempfile::TempDir, PathBuf) {
    let source = fixture(version);
    assert!(
        source.exists(),
        "{} is missing: run tests/fixtures/make-replicas.sh {version}",
        source.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portico.db");
    std::fs::copy(&source, &path).unwrap();
    (dir, path)
}

#[test]
fn there_is_a_fixture_for_every_earlier_schema_version() {
    for version in 1..latest() {
        assert!(
            fixture(version).exists(),
            "no replica of schema version {version}: run tests/fixtures/make-replicas.sh {version}"
        );
    }
}

#[test]
fn every_earlier_replica_migrates_to_the_current_schema_with_every_row_kept() {
    for version in 1..latest() {
        let (_dir, path) = scratch_copy(version);
        let before = {
            let conn = Connection::open(&path).unwrap();
            assert_eq!(
                user_version(&conn),
                version,
                "fixture v{version}'s own version"
            );
            snapshot(&conn)
        };
        let constituents = before["constituents"].rows.len();
        assert!(
            constituents > 0,
            "v{version}: the fixture holds a synced replica"
        );

        let conn = replica::open(&path).unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(
            user_version(&conn),
            latest(),
            "v{version} migrated to the latest"
        );
        assert_eq!(
            replica::pragma_text(&conn, "integrity_check").unwrap(),
            "ok",
            "v{version}"
        );
        let after = snapshot(&conn);
        for (name, old) in &before {
            let new = after
                .get(name)
                .unwrap_or_else(|| panic!("v{version}: table {name} is gone"));
            let common: Vec<String> = old
                .columns
                .iter()
                .filter(|c| new.columns.contains(c))
                .cloned()
                .collect();
            assert_eq!(
                common.len(),
                old.columns.len(),
                "v{version}: {name} lost columns (had {:?}, has {:?})",
                old.columns,
                new.columns
            );
            assert_eq!(
                old.rows,
                select(&conn, name, &common),
                "v{version}: the rows of {name}"
            );
        }
        // Every table of a fresh replica is there.
        let fresh = {
            let dir = tempfile::tempdir().unwrap();
            snapshot(&replica::open(&dir.path().join("fresh.db")).unwrap())
        };
        for (name, table) in &fresh {
            let migrated = after
                .get(name)
                .unwrap_or_else(|| panic!("v{version}: no {name} after migrating"));
            assert_eq!(
                migrated.columns, table.columns,
                "v{version}: columns of {name}"
            );
        }
    }
}

#[test]
fn a_migrated_replica_reads_as_this_build_reads_it() {
    for version in 1..latest() {
        let (_dir, path) = scratch_copy(version);
        let old_outbox: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        let conn = replica::open(&path).unwrap();
        let ids = replica::lookup_ids(&conn).unwrap();
        let counts = replica::counts(&conn).unwrap();
        assert_eq!(ids.len() as u64, counts.constituents, "v{version}");
        for id in &ids {
            let c = replica::constituent(&conn, id)
                .unwrap()
                .unwrap_or_else(|| panic!("v{version}: {id} unreadable"));
            assert_eq!(&c.lookup_id, id);
        }
        for (m,) in conn
            .prepare("SELECT membership_id FROM memberships")
            .unwrap()
            .query_map([], |r| Ok((r.get::<_, String>(0)?,)))
            .unwrap()
            .map(Result::unwrap)
        {
            assert!(
                replica::membership(&conn, &m).unwrap().is_some(),
                "v{version}: {m}"
            );
        }
        // The outbox: every row is listed, and none was kept aside as unreadable.
        let listed = portico::outbox::list(&conn, portico::outbox::Listing::All, 100_000).unwrap();
        assert_eq!(listed.len() as i64, old_outbox, "v{version}: outbox rows");
        assert!(
            replica::kept_aside_records(&conn).unwrap().is_empty(),
            "v{version}: nothing kept aside"
        );
        drop(conn);
        // Opening again changes nothing.
        let again = replica::open(&path).unwrap();
        assert_eq!(user_version(&again), latest());
        assert_eq!(replica::counts(&again).unwrap(), counts, "v{version}");
    }
}
