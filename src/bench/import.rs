//! `portico bench import`: a venue's constituents export (made by `portico hub export` from a
//! seeded hub) imported into an empty hub, against the `sqlite3` CLI importing the same CSV
//! rows into the same hub's records table in the same run: `.import` into a staging table,
//! then one JSON document per row (`json_object` of every column) inserted into `records`,
//! with the hub's indexes, WAL and `synchronous=FULL`. Portico's import does more per row (it
//! checks every cell, builds the constituent's document with its contact lists, compares it
//! with the hub's copy and records each part's change), so the target allows it twice the time.
//! For scale the JSON also gives the CLI's time for the CSV into a plain table of text columns
//! (no documents, no indexes): the floor of any import.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::hub::{HubDir, HubStore, seed};

pub struct ImportBenchOptions {
    pub constituents: usize,
    pub dir: Option<PathBuf>,
}

pub fn run(opts: ImportBenchOptions) -> Result<serde_json::Value> {
    let (dir, _guard) = super::work_dir(opts.dir.as_deref(), "import")?;
    let source = dir.join("source");
    let _ = std::fs::remove_dir_all(&source);
    std::fs::create_dir_all(&source)?;
    let store = Arc::new(HubStore::open(&HubDir::new(&source).database())?);
    eprintln!("seeding {} constituents…", opts.constituents);
    let mut spec = seed::SeedSpec::new(opts.constituents, 42, chrono::Utc::now().date_naive());
    spec.tickets = Some(0);
    spec.merges_per_mille = 0;
    seed::seed(&store, &spec)?;
    let mapping = crate::hub::import::mapping(None)?;
    let csv = dir.join("constituents.csv");
    let rows = crate::hub::export::constituents(
        &store,
        &mapping,
        std::io::BufWriter::new(std::fs::File::create(&csv)?),
    )?;
    drop(store);
    let csv_bytes = std::fs::metadata(&csv)?.len();

    // Portico: an empty hub, the whole import as `portico hub import` runs it.
    let target = dir.join("portico");
    let _ = std::fs::remove_dir_all(&target);
    std::fs::create_dir_all(&target)?;
    let hub = HubStore::open(&HubDir::new(&target).database())?;
    let opts_import = crate::hub::import::ImportOptions {
        constituents: Some(csv.clone()),
        ..Default::default()
    };
    eprintln!("importing {rows} rows…");
    let t = Instant::now();
    let report = crate::hub::import::import(&hub, &mapping, &opts_import)?;
    let portico_s = t.elapsed().as_secs_f64();
    if !report.rejected.is_empty() || report.constituents.new != rows {
        bail!(
            "the import did not take every row: {} rejected, {} new of {rows}",
            report.rejected.len(),
            report.constituents.new
        );
    }
    drop(hub);

    // The reference: sqlite3 into an empty hub's records table.
    let reference = dir.join("sqlite3");
    let _ = std::fs::remove_dir_all(&reference);
    std::fs::create_dir_all(&reference)?;
    let ref_db = HubDir::new(&reference).database();
    drop(HubStore::open(&ref_db)?);
    let header = crate::hub::import::headers(&csv)?;
    let quoted = |h: &str| format!("\"{}\"", h.replace('"', "\"\""));
    // SQLite takes at most 127 arguments a function: the columns in groups of 50.
    let doc = header
        .chunks(50)
        .enumerate()
        .map(|(i, chunk)| {
            let pairs = chunk
                .iter()
                .map(|h| format!("'{}', {}", h.replace('\'', "''"), quoted(h)))
                .collect::<Vec<_>>()
                .join(", ");
            format!("'part{i}', json_object({pairs})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let script = format!(
        "PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\nBEGIN;\n\
         .import --csv {csv} staging\n\
         INSERT INTO records (resource, key, seq, deleted, doc) \
         SELECT 'constituents', {key}, rowid, 0, json_object({doc}) FROM staging;\n\
         DROP TABLE staging;\nCOMMIT;\n",
        csv = csv.display(),
        key = quoted(&mapping.constituents.lookup_id),
    );
    let script_path = reference.join("import.sql");
    std::fs::write(&script_path, script)?;
    let t = Instant::now();
    let out = Command::new("sqlite3")
        .arg(&ref_db)
        .arg(format!(".read {}", script_path.display()))
        .output()
        .context("running sqlite3 (Debian package sqlite3)")?;
    let sqlite3_s = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("sqlite3 failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let check = rusqlite::Connection::open(&ref_db)?;
    let imported: i64 = check.query_row(
        "SELECT count(*) FROM records WHERE resource = 'constituents'",
        [],
        |r| r.get(0),
    )?;
    if imported as u64 != rows {
        bail!("sqlite3 imported {imported} rows of {rows}");
    }
    // For scale: the same CSV into a plain table of text columns, no documents, no indexes.
    let raw_db = reference.join("raw.db");
    let t = Instant::now();
    let out = Command::new("sqlite3")
        .arg(&raw_db)
        .arg("PRAGMA journal_mode=WAL;")
        .arg(format!(".import --csv {} staging", csv.display()))
        .output()
        .context("running sqlite3")?;
    let raw_s = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("sqlite3 failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let ratio = portico_s / sqlite3_s;
    Ok(json!({
        "benchmark": "import",
        "rows": rows,
        "csv_mib": csv_bytes as f64 / (1024.0 * 1024.0),
        "portico_import_seconds": portico_s,
        "portico_rows_per_second": rows as f64 / portico_s,
        "sqlite3_import_seconds": sqlite3_s,
        "sqlite3_plain_table_seconds": raw_s,
        "ratio_to_sqlite3": ratio,
        "targets": { "ratio_to_sqlite3_max": 2.0 },
        "met": ratio <= 2.0,
    }))
}
