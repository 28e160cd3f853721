//! The kiosk's ticket-signing key: made once on the kiosk (a file of 32 random bytes, readable
//! by its owner only), registered with the hub for a key id, and used to sign every ticket the
//! kiosk sells so any gate admits it offline (`docs/signed-ticket.md`).
//!
//! The key never leaves the kiosk; only its public half goes to the hub, which hands it to
//! gates on the `signing_keys` feed. Losing the file means a new key and a new id; tickets
//! already sold stay valid (their key is still published).

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};

use crate::input::credential::signed_ticket::{self, TicketError, TicketFields};
use crate::replica::Store;
use crate::sync::{HubClient, SyncError};

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("cannot read the kiosk's signing key {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the kiosk's signing key {path} is not 32 bytes (it is {len}); move it aside to make a new one"
    )]
    Malformed { path: String, len: usize },
    #[error("cannot write the kiosk's signing key {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the hub did not register the kiosk's signing key")]
    Register(#[source] SyncError),
    #[error("the kiosk's database")]
    Database(#[source] crate::replica::ReplicaError),
}

/// The key and the id the hub gave it.
pub struct Signer {
    key_id: u16,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("public_key", &public_key(&self.key))
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(key_id: u16, key: SigningKey) -> Self {
        Self { key_id, key }
    }

    pub fn key_id(&self) -> u16 {
        self.key_id
    }

    /// Signs a ticket: the text its QR code carries (`PT:…`).
    pub fn issue(&self, fields: &TicketFields) -> Result<String, TicketError> {
        signed_ticket::issue(fields, self.key_id, &self.key)
    }
}

/// Base64 of the key's public half, as the hub registers it.
pub fn public_key(key: &SigningKey) -> String {
    data_encoding::BASE64.encode(key.verifying_key().as_bytes())
}

/// Reads the key at `path`, or makes one there (mode 0600, written whole before it appears).
pub fn load_or_create(path: &Path) -> Result<SigningKey, SignerError> {
    let shown = || path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => {
            let seed: [u8; 32] =
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| SignerError::Malformed {
                        path: shown(),
                        len: bytes.len(),
                    })?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
            let write = |source| SignerError::Write {
                path: shown(),
                source,
            };
            let folder: PathBuf = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                _ => PathBuf::from("."),
            };
            std::fs::create_dir_all(&folder).map_err(write)?;
            // tempfile makes it with mode 0600.
            let mut staged = tempfile::Builder::new()
                .prefix(".kiosk-signing-")
                .tempfile_in(&folder)
                .map_err(write)?;
            staged
                .write_all(&seed)
                .and_then(|()| staged.as_file().sync_all())
                .map_err(write)?;
            staged.persist_noclobber(path).map_err(|e| write(e.error))?;
            std::fs::File::open(&folder)
                .and_then(|d| d.sync_all())
                .map_err(write)?;
            tracing::info!(path = %shown(), "made the kiosk's ticket-signing key");
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(source) => Err(SignerError::Read {
            path: shown(),
            source,
        }),
    }
}

/// The id the hub gave this key, if it has been registered from this database.
pub fn registered(conn: &Connection, key: &SigningKey) -> Result<Option<u16>, SignerError> {
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT (SELECT value FROM kiosk_state WHERE key = 'signing_key_id'),
                    (SELECT value FROM kiosk_state WHERE key = 'signing_public_key')",
            [],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                ))
            },
        )
        .optional()
        .map_err(|e| SignerError::Database(e.into()))?
        .and_then(|(id, pk)| Some((id?, pk?)));
    Ok(row
        .filter(|(_, pk)| *pk == public_key(key))
        .and_then(|(id, _)| id.parse().ok()))
}

/// Registers the key with the hub (again: the hub answers the same id) and keeps the id.
pub async fn register(
    client: &HubClient,
    store: &Store,
    key: &SigningKey,
) -> Result<Signer, SignerError> {
    let public = public_key(key);
    let reply = client
        .register_signing_key(&public)
        .await
        .map_err(SignerError::Register)?;
    let id = reply.key_id;
    store
        .write_async(move |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO kiosk_state (key, value) VALUES
                 ('signing_key_id', ?1), ('signing_public_key', ?2)",
                params![id.to_string(), public],
            )?;
            Ok(())
        })
        .await
        .map_err(SignerError::Database)?;
    tracing::info!(
        key_id = id,
        "the hub registered the kiosk's ticket-signing key"
    );
    Ok(Signer::new(id, key.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_read_back_the_same() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/kiosk-signing.key");
        let made = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&path).unwrap().len(), 32);
        let again = load_or_create(&path).unwrap();
        assert_eq!(made.to_bytes(), again.to_bytes());
        let signer = Signer::new(32768, again);
        let shown = format!("{signer:?}");
        assert!(shown.contains("32768") && shown.contains(&public_key(&made)));
        assert!(!shown.contains(&format!("{:?}", made.to_bytes())));

        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(SignerError::Malformed { len: 5, .. })
        ));
    }
}
