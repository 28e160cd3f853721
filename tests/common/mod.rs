//! Shared helpers for integration tests: a real hub on loopback TLS with certificates made in
//! the test, and devices configured against it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use portico::clock::ManualClock;
use portico::config::DeviceConfig;
use portico::device::Device;
use portico::hub::{HubServer, HubStore, seed};
use portico::tls::GeneratedPki;

pub const ANCHOR: (i32, u32, u32) = (2026, 11, 1);

pub fn anchor() -> NaiveDate {
    NaiveDate::from_ymd_opt(ANCHOR.0, ANCHOR.1, ANCHOR.2).unwrap()
}

pub fn start_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(ANCHOR.0, ANCHOR.1, ANCHOR.2, 9, 0, 0).unwrap()
}

pub fn write_pki(dir: &Path, name: &str) -> (GeneratedPki, PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let pki = portico::tls::generate_pki(name, &["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (ca, cert, key) = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&ca, &pki.ca_cert_pem).unwrap();
    std::fs::write(&cert, &pki.server_cert_pem).unwrap();
    std::fs::write(&key, &pki.server_key_pem).unwrap();
    (pki, ca, cert, key)
}

pub struct TestHub {
    pub dir: tempfile::TempDir,
    pub store: Arc<HubStore>,
    pub server: HubServer,
    pub ca: PathBuf,
    pub cert: PathBuf,
}

impl TestHub {
    /// A hub seeded with `constituents` synthetic records (seed 7), serving on loopback TLS.
    pub async fn start(constituents: usize) -> TestHub {
        let dir = tempfile::tempdir().unwrap();
        let (_, ca, cert, key) = write_pki(&dir.path().join("pki"), "Test hub CA");
        let store = Arc::new(HubStore::open(&dir.path().join("hub.db")).unwrap());
        let mut spec = seed::SeedSpec::new(constituents, 7, anchor());
        spec.merges_per_mille = 10;
        let s = store.clone();
        tokio::task::spawn_blocking(move || seed::seed(&s, &spec).unwrap()).await.unwrap();
        let tls = portico::tls::server_config(&cert, &key).unwrap();
        let server = HubServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), store.clone(), tls)
            .await
            .unwrap();
        TestHub { dir, store, server, ca, cert }
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.server.addr.port())
    }
}

/// A device directory with a config for `hub`; `extra` is appended to the [sync] section.
pub struct TestDevice {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

impl TestDevice {
    pub fn new(hub: &TestHub, device_id: &str, ca: &Path, extra_upstream: &str, extra_sync: &str) -> TestDevice {
        let dir = tempfile::tempdir().unwrap();
        let token = hub.store.add_device(device_id).unwrap();
        std::fs::write(dir.path().join("device.token"), token).unwrap();
        let text = format!(
            r#"
[device]
id = "{device_id}"
roles = ["gate"]
data_dir = "data"

[upstream]
url = "{url}"
ca_cert = "{ca}"
token_file = "device.token"
timeout = "20s"
{extra_upstream}

[sync]
page_size = 500
retry_base = "1s"
retry_cap = "1m"
{extra_sync}

[gate]
name = "Test gate"
"#,
            url = hub.url(),
            ca = ca.display(),
        );
        let config_path = dir.path().join("device.toml");
        std::fs::write(&config_path, text).unwrap();
        TestDevice { dir, config_path }
    }

    pub fn config(&self) -> DeviceConfig {
        portico::config::load(&self.config_path).unwrap()
    }

    /// Opens the device (database, engine) with a manual clock.
    pub fn open(&self, clock: Arc<ManualClock>) -> Device {
        Device::open(self.config(), clock).unwrap()
    }
}

pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(start_time()))
}
