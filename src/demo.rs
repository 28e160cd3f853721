//! `portico demo`: a seeded hub and a device on embedded defaults, on loopback, with no
//! hardware and no display. It walks through what a venue sees: the first sync, a merge in the
//! CRM reaching the device, uploads (one the CRM refuses), and the device status.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::Utc;
use tokio::sync::watch;

use crate::config;
use crate::device::{Device, progress_observer};
use crate::hub::{HubDir, HubServer, HubStore, seed};
use crate::outbox;

pub const DEMO_CONFIG: &str = include_str!("../firmware-config/demo.toml");
const DEMO_URL: &str = "https://localhost:8443";

pub struct DemoOptions {
    pub dir: PathBuf,
    pub constituents: usize,
    pub seed: u64,
    /// Keep hub and device running until Ctrl-C after the walkthrough.
    pub serve: bool,
}

/// Writes the demo's device config for a hub at `url` into `dir` and loads it.
pub fn write_device_config(dir: &Path, url: &str) -> Result<config::DeviceConfig> {
    let text = DEMO_CONFIG.replace(DEMO_URL, url);
    let path = dir.join("demo.toml");
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    Ok(config::load(&path)?)
}

pub async fn run(opts: DemoOptions) -> Result<()> {
    let dir = &opts.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let hub_dir = HubDir::new(dir.join("hub"));
    println!("== Portico demo in {}", dir.display());

    // 1. The hub: a private CA, a seeded CRM replica, and a token for the device.
    hub_dir.init(&["localhost".into(), "127.0.0.1".into()])?;
    let store = Arc::new(HubStore::open(&hub_dir.database())?);
    if store.count(crate::protocol::Resource::Constituents)? == 0 {
        let spec = seed::SeedSpec::new(opts.constituents, opts.seed, Utc::now().date_naive());
        let s = store.clone();
        let report = tokio::task::spawn_blocking(move || seed::seed(&s, &spec)).await??;
        println!(
            "hub seeded: {} constituents, {} memberships, {} tickets, {} products, {} merges",
            report.constituents, report.memberships, report.tickets, report.products, report.merges
        );
    }
    let token = store.add_device("demo-gate-1")?;
    crate::hub::write_private(&dir.join("device.token"), token.as_bytes())?;
    let tls = crate::tls::server_config(&hub_dir.server_cert(), &hub_dir.server_key())?;
    let hub = HubServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), store.clone(), tls).await?;
    let url = format!("https://localhost:{}", hub.addr.port());
    println!(
        "hub listening on {url} (TLS, private CA {})",
        hub_dir.ca_cert().display()
    );

    // 2. The device, on the embedded demo config.
    let cfg = write_device_config(dir, &url)?;
    println!("device config: {}", cfg.source.display());
    let device = Device::open_system(cfg)?;
    let engine = device.engine.clone();
    let hello = engine.hello().await?;
    println!(
        "hub {} says hello to device {} (protocol v{})",
        hello.hub_id, hello.device_id, hello.protocol
    );

    let t = std::time::Instant::now();
    let pulled = engine.pull_all(progress_observer()).await?;
    engine.maybe_purge().await?;
    println!(
        "first sync: {} changes in {} pages, {:.2}s",
        pulled.upserts + pulled.deletes,
        pulled.pages,
        t.elapsed().as_secs_f64()
    );

    // 3. A merge in the CRM reaches the device at the next sync.
    let (merged, survivor) = (seed::lookup_id(3), seed::lookup_id(4));
    store.merge(&merged, &survivor, Utc::now())?;
    engine.pull_all(None).await?;
    let resolved = {
        let db = engine.database();
        let conn = db.lock().unwrap_or_else(|p| p.into_inner());
        crate::replica::resolve(&conn, &merged)?
    };
    println!(
        "CRM merged {merged} into {survivor}; the device now resolves {} -> {}",
        resolved.requested, resolved.survivor
    );

    // 4. Uploads: a scan, an order, and volunteer hours the CRM must refuse (event name over
    //    30 characters).
    {
        let db = engine.database();
        let mut conn = db.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        let now = Utc::now().timestamp_millis();
        outbox::enqueue(
            &tx,
            outbox::kinds::SCAN,
            &serde_json::json!({
                "credential": "M1000004", "decision": "admit", "gate": "Demo gate", "offline": false
            }),
            now,
        )?;
        outbox::enqueue(
            &tx,
            outbox::kinds::ORDER,
            &serde_json::json!({
                "lines": [{"product_id": "p-adult", "quantity": 2, "unit_price": 2400}], "currency": "USD"
            }),
            now,
        )?;
        outbox::enqueue(
            &tx,
            outbox::kinds::TIMESHEET,
            &serde_json::json!({
                "constituent": survivor, "event_name": "Summer Family Festival Weekend Volunteers",
                "job": "Event Support", "date": Utc::now().date_naive().to_string(), "hours": 4.5
            }),
            now,
        )?;
        tx.commit()?;
    }
    let pushed = engine.push_once().await?;
    println!(
        "uploaded: {} accepted, {} dead-lettered (kept, with the reason)",
        pushed.delivered, pushed.dead
    );

    // 5. What a technician sees.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let runner = {
        let rx = shutdown_rx.clone();
        tokio::spawn(async move { device.run(rx).await })
    };
    let socket = engine.config().status_socket.clone();
    let mut reply = None;
    for _ in 0..50 {
        if let Ok(r) = crate::status::ask(&socket, "status").await {
            reply = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let report: crate::status::StatusReport =
        serde_json::from_str(&reply.context("device status socket did not answer")?)?;
    println!(
        "\n$ portico status --config {}\n{}",
        engine.config().source.display(),
        crate::status::render(&report)
    );

    if opts.serve {
        println!("hub and device keep running; Ctrl-C stops them.");
        tokio::signal::ctrl_c().await?;
    }
    let _ = shutdown_tx.send(true);
    runner.await??;
    hub.shutdown().await;
    println!("demo finished.");
    Ok(())
}
