//! The reference hub: the upstream every device syncs from and uploads to. It implements
//! protocol v1 (`docs/protocol.md`) over HTTPS on a SQLite store, generates synthetic venue
//! data, and can inject network faults for tests.

pub mod catalog;
pub mod cli;
pub mod export;
pub mod export_catalog;
pub mod find_membership;
pub mod fleet;
pub mod import;
pub mod import_catalog;
pub mod ingest;
pub mod intake;
pub mod keys;
pub mod leases;
pub mod orders;
pub mod refunds;
pub mod seed;
pub mod server;
pub mod store;
pub mod volunteers;

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
    pub fn init(&self, hosts: &[String]) -> Result<(), portico_tls::TlsError> {
        let io = |path: &Path, e: std::io::Error| portico_tls::TlsError::Read {
            path: path.display().to_string(),
            source: e,
        };
        std::fs::create_dir_all(&self.root).map_err(|e| io(&self.root, e))?;
        if self.server_cert().exists() && self.server_key().exists() && self.ca_cert().exists() {
            return Ok(());
        }
        let pki = portico_tls::generate_pki("Portico hub CA", hosts)?;
        std::fs::write(self.ca_cert(), &pki.ca_cert_pem).map_err(|e| io(&self.ca_cert(), e))?;
        std::fs::write(self.server_cert(), &pki.server_cert_pem)
            .map_err(|e| io(&self.server_cert(), e))?;
        write_private(&self.server_key(), pki.server_key_pem.as_bytes())
            .map_err(|e| io(&self.server_key(), e))?;
        Ok(())
    }
}

/// A new device token: 32 random bytes, base64url.
pub fn new_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Why a device could not be given a token; nothing is left half done.
#[derive(Debug, thiserror::Error)]
pub enum AddDeviceError {
    #[error("cannot write the token file {path}")]
    TokenFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "device {device_id} is already registered; give --replace to issue it a new token \
         (its current token then stops working)"
    )]
    Exists { device_id: String },
    #[error("cannot register device {device_id}; the token file was not written")]
    Register {
        device_id: String,
        #[source]
        source: store::StoreError,
    },
    #[error(
        "device {device_id} is registered, but its token could not be moved to {path}; it is \
         in {kept}"
    )]
    Move {
        device_id: String,
        path: String,
        kept: String,
        #[source]
        source: std::io::Error,
    },
}

/// Registers `device_id` with a new token written to `token_out` (mode 0600). The token is
/// written beside `token_out` first, so a missing or read-only folder fails before anything
/// is registered; it replaces `token_out` only once the device is registered, so a failed
/// registration leaves an earlier token file as it was.
pub fn add_device(
    store: &HubStore,
    device_id: &str,
    token_out: &Path,
    replace: bool,
) -> Result<(), AddDeviceError> {
    use std::io::Write;
    let known = store.devices().map_err(|source| AddDeviceError::Register {
        device_id: device_id.to_owned(),
        source,
    })?;
    if !replace && known.iter().any(|d| d == device_id) {
        return Err(AddDeviceError::Exists {
            device_id: device_id.to_owned(),
        });
    }
    let token_file_error = |source| AddDeviceError::TokenFile {
        path: token_out.display().to_string(),
        source,
    };
    let folder = match token_out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if token_out.is_dir() {
        return Err(token_file_error(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    let token = new_token();
    // Made with mode 0600.
    let mut staged = tempfile::Builder::new()
        .prefix(".portico-token-")
        .tempfile_in(folder)
        .map_err(token_file_error)?;
    staged
        .write_all(token.as_bytes())
        .and_then(|()| staged.as_file().sync_all())
        .map_err(token_file_error)?;
    store
        .set_device_token(device_id, &token)
        .map_err(|source| AddDeviceError::Register {
            device_id: device_id.to_owned(),
            source,
        })?;
    staged.persist(token_out).map_err(|e| {
        let kept = e.file.keep().map(|(_, p)| p.display().to_string());
        AddDeviceError::Move {
            device_id: device_id.to_owned(),
            path: token_out.display().to_string(),
            kept: kept.unwrap_or_else(|_| "no file".into()),
            source: e.error,
        }
    })?;
    Ok(())
}

/// Writes a secret readable by its owner only (mode 0600, also when the file existed).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only to a file this call creates; one that existed is made private too.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}
