//! The reference hub: the upstream every device syncs from and uploads to. It implements
//! protocol v1 (`docs/protocol.md`) over HTTPS on a SQLite store, generates synthetic venue
//! data, and can inject network faults for tests.

pub mod find_membership;
pub mod ingest;
pub mod intake;
pub mod seed;
pub mod server;
pub mod store;

use std::path::{Path, PathBuf};

pub use server::{Faults, HubServer};
pub use store::{HubStore, StoreError};

/// The files of a hub's directory.
#[derive(Debug, Clone)]
pub struct HubDir {
    pub root: PathBuf,
}

impl HubDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("hub.db")
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.pem")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.root.join("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.root.join("server.key")
    }

    /// Creates the directory, a private CA and a server certificate for `hosts`, unless they
    /// exist already.
    pub fn init(&self, hosts: &[String]) -> Result<(), crate::tls::TlsError> {
        let io = |path: &Path, e: std::io::Error| crate::tls::TlsError::Read {
            path: path.display().to_string(),
            source: e,
        };
        std::fs::create_dir_all(&self.root).map_err(|e| io(&self.root, e))?;
        if self.server_cert().exists() && self.server_key().exists() && self.ca_cert().exists() {
            return Ok(());
        }
        let pki = crate::tls::generate_pki("Portico hub CA", hosts)?;
        std::fs::write(self.ca_cert(), &pki.ca_cert_pem).map_err(|e| io(&self.ca_cert(), e))?;
        std::fs::write(self.server_cert(), &pki.server_cert_pem)
            .map_err(|e| io(&self.server_cert(), e))?;
        write_private(&self.server_key(), pki.server_key_pem.as_bytes())
            .map_err(|e| io(&self.server_key(), e))?;
        Ok(())
    }
}

/// Writes a secret readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
