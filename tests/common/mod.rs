//! Shared helpers for integration tests: a real hub on loopback TLS with certificates made in
//! the test, devices configured against it, and builders for domain records.

#![allow(dead_code)]

pub mod kiosk;

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
    Utc.with_ymd_and_hms(ANCHOR.0, ANCHOR.1, ANCHOR.2, 9, 0, 0)
        .unwrap()
}

pub fn write_pki(dir: &Path, name: &str) -> (GeneratedPki, PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let pki = portico::tls::generate_pki(name, &["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
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
        tokio::task::spawn_blocking(move || seed::seed(&s, &spec).unwrap())
            .await
            .unwrap();
        let tls = portico::tls::server_config(&cert, &key).unwrap();
        let server = HubServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), store.clone(), tls)
            .await
            .unwrap();
        TestHub {
            dir,
            store,
            server,
            ca,
            cert,
        }
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
    pub fn new(
        hub: &TestHub,
        device_id: &str,
        ca: &Path,
        extra_upstream: &str,
        extra_sync: &str,
    ) -> TestDevice {
        Self::with_tail(hub, device_id, ca, extra_upstream, extra_sync, "")
    }

    /// Like [`TestDevice::new`], with `tail` appended to the document (more sections).
    pub fn with_tail(
        hub: &TestHub,
        device_id: &str,
        ca: &Path,
        extra_upstream: &str,
        extra_sync: &str,
        tail: &str,
    ) -> TestDevice {
        let dir = tempfile::tempdir().unwrap();
        Self::in_dir(dir, hub, device_id, ca, extra_upstream, extra_sync, tail)
    }

    /// A gate device whose files are on the build's own disk (`CARGO_TARGET_TMPDIR`), for tests
    /// that need a file system with a page cache (`/tmp` may be memory).
    pub fn on_disk(hub: &TestHub, device_id: &str) -> TestDevice {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        Self::in_dir(dir, hub, device_id, &hub.ca, "", "", "")
    }

    fn in_dir(
        dir: tempfile::TempDir,
        hub: &TestHub,
        device_id: &str,
        ca: &Path,
        extra_upstream: &str,
        extra_sync: &str,
        tail: &str,
    ) -> TestDevice {
        let token = hub.store.add_device(device_id).unwrap();
        portico::hub::write_private(&dir.path().join("device.token"), token.as_bytes()).unwrap();
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
{tail}
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

// ----- domain record builders -----

use portico::domain::{
    Address, Constituent, ConstituentStatus, ContactMeta, Email, PersonName, Phone,
};
use portico::matching::{PostalAddress, VisitorDetails};

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn name(first: &str, last: &str) -> PersonName {
    PersonName {
        first: first.to_owned(),
        last: last.to_owned(),
        ..PersonName::default()
    }
}

pub fn meta(kind: &str, primary: bool, active: bool) -> ContactMeta {
    ContactMeta {
        kind: kind.to_owned(),
        primary,
        active,
        start: None,
        end: None,
    }
}

pub fn email(address: &str, kind: &str, primary: bool, active: bool) -> Email {
    Email {
        address: address.to_owned(),
        meta: meta(kind, primary, active),
    }
}

pub fn phone(number: &str, kind: &str, primary: bool, active: bool) -> Phone {
    Phone {
        number: number.to_owned(),
        meta: meta(kind, primary, active),
    }
}

pub fn postal(line1: &str, postcode: &str) -> PostalAddress {
    PostalAddress {
        line1: line1.to_owned(),
        line2: None,
        city: "Springfield".to_owned(),
        region: None,
        postcode: Some(postcode.to_owned()),
        country: "US".to_owned(),
    }
}

pub fn address(line1: &str, postcode: &str, kind: &str, primary: bool, active: bool) -> Address {
    let p = postal(line1, postcode);
    Address {
        line1: p.line1,
        line2: p.line2,
        city: p.city,
        region: p.region,
        postcode: p.postcode,
        country: p.country,
        meta: meta(kind, primary, active),
    }
}

/// An active constituent with no contact entries.
pub fn person(id: &str, first: &str, last: &str) -> Constituent {
    Constituent {
        lookup_id: id.to_owned(),
        name: name(first, last),
        birth_date: None,
        status: ConstituentStatus::Active,
        historical_names: Vec::new(),
        emails: Vec::new(),
        phones: Vec::new(),
        addresses: Vec::new(),
    }
}

/// Jane Doe, 8-1001: primary email jane@example.net, primary Home phone (555) 123-4567,
/// an inactive old email, an active Mobile phone.
pub fn jane() -> Constituent {
    let mut c = person("8-1001", "Jane", "Doe");
    c.emails = vec![
        email("Jane.Doe@example.net", "Email", true, true),
        email("jane.old@example.net", "Email", false, false),
    ];
    c.phones = vec![
        phone("(555) 123-4567", "Home", true, true),
        phone("555-987-6543", "Mobile", false, true),
    ];
    c.addresses = vec![address("12 High Street", "02134", "Home", true, true)];
    c.birth_date = Some(date(1980, 5, 17));
    c
}

pub fn visitor(
    first: &str,
    last: &str,
    email: Option<&str>,
    phone: Option<&str>,
) -> VisitorDetails {
    VisitorDetails {
        name: name(first, last),
        email: email.map(str::to_owned),
        phone: phone.map(str::to_owned),
        address: None,
        birth_date: None,
    }
}
