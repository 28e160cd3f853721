//! `portico bench kiosk`: what a kiosk's visitor waits on outside the screens.
//!
//! - **Catalog load**: the zoo's catalog with 500 products more and 90 days of 30-minute slots,
//!   delivered by the hub's feeds into a replica, read back as the kiosk's model
//!   (`load_catalog`), timed. Target ≤ 50 ms.
//! - **Order commit**: an order of three timed tickets paid by card — the intent's settlement,
//!   the order, its lines, its payment, three signed tickets and its upload row in one
//!   transaction (`synchronous=FULL`) — timed beside this disk's own fsync (a 4 KiB overwrite
//!   and `fdatasync` in a file next to the database), taken between commits so both see the
//!   same moments of the machine. Target: commit p99 ≤ 2× fsync p99.
//!
//! - **Screens** (`kiosk_screens`): tap to next frame on each screen at 1080×1920, and process
//!   start to the welcome screen drawn.

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;
use ed25519_dalek::SigningKey;
use serde_json::json;

use super::scan::{FsyncProbe, p99_ratio, summary};
use crate::hub::HubStore;
use crate::intake::IntakeConfig;
use crate::kiosk::checkout::Session;
use crate::kiosk::order::{Approval, draft};
use crate::kiosk::orders::{self, CommitCtx};
use crate::kiosk::pricing::{CartLine, quote};
use crate::normalize::Normalizer;
use crate::protocol::{CategoryDto, Change, ProductDto, Resource, SlotDto, TaxRuleDto};
use crate::replica::{self, Applier, Store};

pub struct KioskBenchOptions {
    pub dir: Option<std::path::PathBuf>,
    /// Products beyond the zoo's own.
    pub products: usize,
    /// Days of slots.
    pub days: u32,
    /// Orders committed.
    pub orders: usize,
}

pub fn run(opts: KioskBenchOptions) -> Result<serde_json::Value> {
    let (dir, _tmp) = super::work_dir(opts.dir.as_deref(), "kiosk")?;
    let today = Utc::now().date_naive();
    let first = today + chrono::Duration::days(1);

    // The hub publishes; the device applies the feeds' documents as a pull would.
    let hub_path = dir.join("hub.db");
    for f in replica::database_files(&hub_path) {
        let _ = std::fs::remove_file(f);
    }
    let hub = HubStore::open(&hub_path)?;
    let published = hub
        .write(|tx, seq| crate::hub::catalog::publish(tx, seq, first, opts.days, opts.products))?;
    // The kiosk's data directory (as its config names it, for the start-up figure).
    let data_dir = dir.join("kiosk");
    std::fs::create_dir_all(&data_dir)?;
    let db = data_dir.join("portico.db");
    for f in replica::database_files(&db) {
        let _ = std::fs::remove_file(f);
    }
    let store = std::sync::Arc::new(Store::open(&db)?);
    // Every document of the feeds as upserts, as a first pull brings them.
    let categories: Vec<Change<CategoryDto>> = hub
        .all::<CategoryDto>(Resource::Categories)?
        .into_iter()
        .map(|d| Change::upsert(d.category_id.clone(), d))
        .collect();
    let tax_rules: Vec<Change<TaxRuleDto>> = hub
        .all::<TaxRuleDto>(Resource::TaxRules)?
        .into_iter()
        .map(|d| Change::upsert(d.tax_rule_id.clone(), d))
        .collect();
    let products: Vec<Change<ProductDto>> = hub
        .all::<ProductDto>(Resource::Catalog)?
        .into_iter()
        .map(|d| Change::upsert(d.product_id.clone(), d))
        .collect();
    let slots: Vec<Change<SlotDto>> = hub
        .all::<SlotDto>(Resource::Slots)?
        .into_iter()
        .map(|d| Change::upsert(d.slot_id.clone(), d))
        .collect();
    store.write(move |tx| {
        let a = Applier::new(Normalizer::default());
        a.categories(tx, &categories)?;
        a.tax_rules(tx, &tax_rules)?;
        a.catalog(tx, &products)?;
        a.slots(tx, &slots)?;
        Ok(())
    })?;

    // Catalog load, as the kiosk does at start and after each pull.
    let reader = store.reader()?;
    let last = first + chrono::Duration::days(i64::from(opts.days) - 1);
    let mut loads = Vec::new();
    let mut loaded = None;
    for _ in 0..30 {
        let t = Instant::now();
        let c = replica::catalog::load_catalog(&reader, first, last)?;
        loads.push(t.elapsed());
        loaded = Some(c);
    }
    let catalog = loaded.context("no catalog loaded")?.catalog;
    let load = summary(loads);

    // Order commits.
    let slot = catalog
        .open_slots("zoo", first, first.and_hms_opt(0, 0, 0).unwrap_or_default())
        .first()
        .map(|s| s.id.clone())
        .context("no slot to sell")?;
    let line = |category: &str, quantity| CartLine {
        product: "TIMED".into(),
        category: Some(category.into()),
        slot: Some(slot.clone()),
        quantity,
    };
    let q = quote(
        &[line("adult", 2), line("child", 1)],
        &catalog,
        None,
        Utc::now(),
        today.and_hms_opt(0, 0, 0).unwrap_or_default(),
    )?;
    let session = Session {
        quote: Some(q),
        ..Session::default()
    };
    let order_draft = draft(&session, &catalog, first)?;
    let key = SigningKey::from_bytes(&[7; 32]);
    let normalizer = Normalizer::default();
    let intake = IntakeConfig::default();
    let mut probe = FsyncProbe::create(&dir)?;
    let (mut commits, mut fsyncs) = (Vec::new(), Vec::new());
    for i in 0..opts.orders + 20 {
        let reference = format!("PAY-bench-{i}");
        let (r, d) = (reference.clone(), order_draft.clone());
        store.write(move |tx| {
            orders::start_intent(tx, &r, &d, 0).map_err(|e| replica::ReplicaError::Corrupt {
                table: "payment_intents",
                detail: e.to_string(),
            })
        })?;
        let approval = Approval {
            auth_code: "BENCH".into(),
            card_brand: None,
            last4: None,
            terminal_txn: None,
            approved_at: Utc::now(),
        };
        let sign = |f: &crate::input::credential::signed_ticket::TicketFields| {
            crate::input::credential::signed_ticket::issue(f, 32768, &key).map(|c| (32768, c))
        };
        let ctx = CommitCtx {
            device_id: "bench-kiosk",
            order_prefix: "B",
            normalizer: &normalizer,
            intake: &intake,
            sign: &sign,
            now: Utc::now(),
            now_local: Utc::now().naive_utc(),
            offline: false,
        };
        let t = Instant::now();
        let mut failed = None;
        let done = store.write_urgent(|tx| {
            orders::commit_order(tx, &reference, &approval, &ctx).map_err(|e| {
                failed = Some(e.to_string());
                replica::ReplicaError::WriteAbandoned
            })
        });
        let took = t.elapsed();
        if let Some(why) = failed {
            anyhow::bail!("order {i} not committed: {why}");
        }
        done?;
        let fsync = probe.probe()?;
        // The first 20 warm the caches and are not counted.
        if i >= 20 {
            commits.push(took);
            fsyncs.push(fsync);
        }
    }
    let commit = summary(commits);
    let fsync = summary(fsyncs);

    // The screens.
    #[cfg(feature = "ui")]
    let (taps, start) = (
        super::kiosk_screens::tap_to_frame(store.clone(), first)?,
        super::kiosk_screens::start_to_welcome(&dir, &data_dir, 11)?,
    );
    #[cfg(not(feature = "ui"))]
    let (taps, start) = (
        json!({ "not_measured": "this build has no screens" }),
        json!({ "not_measured": "this build has no screens" }),
    );
    let tap_p99_ms = taps["worst_p99_ms"].as_f64().unwrap_or(f64::MAX);
    let start_ms = start["max_ms"].as_f64().unwrap_or(f64::MAX);
    let ratio = p99_ratio(&commit, &fsync);
    let load_p99_ms = load["p99_us"].as_f64().unwrap_or(0.0) / 1000.0;
    Ok(json!({
        "benchmark": "kiosk",
        "catalog": {
            "products": catalog.products.len(),
            "slots": catalog.slots.len(),
            "days": opts.days,
            "published": { "products": published.products, "slots": published.slots },
        },
        "catalog_load_latency": load,
        "catalog_load_p99_ms": load_p99_ms,
        "order_commit_latency": commit,
        "disk_fsync_latency": fsync,
        "order_commit_p99_to_fsync_p99": ratio,
        "order": { "tickets": order_draft.tickets.len(), "lines": order_draft.quote.lines.len() },
        "tap_to_next_frame": taps,
        "tap_to_next_frame_p99_ms": tap_p99_ms,
        "start_to_welcome_screen": start,
        "start_to_welcome_screen_ms": start_ms,
        "targets": {
            "catalog_load_p99_ms_max": 50.0,
            "order_commit_to_fsync_p99_ratio_max": 2.0,
            "tap_to_next_frame_p99_ms_max": 16.0,
            "start_to_welcome_screen_ms_max": 1000.0,
        },
        "met": {
            "catalog_load": load_p99_ms <= 50.0,
            "order_commit": ratio <= 2.0,
            "tap_to_next_frame": tap_p99_ms <= 16.0,
            "start_to_welcome_screen": start_ms <= 1000.0,
        },
        "bench_dir": dir.display().to_string(),
        "measured_at": Utc::now().to_rfc3339(),
        "first_day": first.to_string(),
    }))
}
