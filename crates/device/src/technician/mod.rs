//! The technician screen's PIN: an Argon2id hash in the PIN file (written mode 0600 by
//! `portico pin set`), and the lock-out of wrong PINs, kept in the device database so that a
//! restart does not reset it. The rules are the core's ([`portico_core::technician`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension};

pub use portico_core::technician::*;

pub mod common;

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("{0}")]
    Unfit(#[from] PinProblem),
    #[error("cannot read the PIN file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the PIN file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the PIN file {0} holds no Argon2id hash written by `portico pin set`")]
    NotAHash(PathBuf),
    #[error("the PIN could not be hashed: {0}")]
    Hash(String),
}

/// The PIN's Argon2id hash (PHC string: algorithm, parameters, salt and hash; never the PIN).
pub fn hash(pin: &str) -> Result<String, PinError> {
    if let Some(p) = pin_problem(pin) {
        return Err(p.into());
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PinError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PinError::Hash(e.to_string()))
}

/// Writes `pin`'s hash to `path`, readable by its owner only, whole before it appears.
pub fn set(path: &Path, pin: &str) -> Result<(), PinError> {
    let hashed = hash(pin)?;
    let write = |e| PinError::Write {
        path: path.to_owned(),
        source: e,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write)?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(write)?;
    }
    writeln!(tmp, "{hashed}").map_err(write)?;
    tmp.as_file().sync_all().map_err(write)?;
    tmp.persist(path).map_err(|e| write(e.error))?;
    Ok(())
}

/// Whether `pin` is the one whose hash `path` holds.
pub fn verify(path: &Path, pin: &str) -> Result<bool, PinError> {
    let text = std::fs::read_to_string(path).map_err(|e| PinError::Read {
        path: path.to_owned(),
        source: e,
    })?;
    let stored = PasswordHash::new(text.trim()).map_err(|_| PinError::NotAHash(path.to_owned()))?;
    if stored.algorithm.as_str() != "argon2id" {
        return Err(PinError::NotAHash(path.to_owned()));
    }
    Ok(Argon2::default()
        .verify_password(pin.as_bytes(), &stored)
        .is_ok())
}

const LOCKOUT_KEY: &str = "technician_lockout";

/// The lock-out as last saved.
pub fn lockout(conn: &Connection) -> crate::replica::Result<Lockout> {
    let v: Option<String> = conn
        .prepare_cached("SELECT value FROM kiosk_state WHERE key = ?1")?
        .query_row([LOCKOUT_KEY], |r| r.get(0))
        .optional()?;
    Ok(v.and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

/// Saves the lock-out (in the writer's transaction).
pub fn save_lockout(tx: &Connection, l: &Lockout) -> crate::replica::Result<()> {
    tx.prepare_cached("INSERT OR REPLACE INTO kiosk_state (key, value) VALUES (?1, ?2)")?
        .execute([LOCKOUT_KEY, &serde_json::to_string(l)?])?;
    Ok(())
}

/// What a PIN entry came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Granted,
    Wrong,
    /// Locked for this long (a wrong PIN's lock, or one still running: the PIN is not tried).
    Locked(std::time::Duration),
}

/// Tries `pin` against the PIN file, minding and updating the lock-out in the database.
pub fn enter(
    store: &crate::replica::Store,
    reader: &Connection,
    pin_file: &Path,
    pin: &str,
    now: DateTime<Utc>,
) -> Result<Entry, PinError> {
    let mut l = lockout(reader).unwrap_or_default();
    if let Err(wait) = l.check(now) {
        return Ok(Entry::Locked(wait));
    }
    let ok = verify(pin_file, pin)?;
    let entry = if ok {
        l.succeeded();
        Entry::Granted
    } else {
        match l.failed(now) {
            Some(wait) => Entry::Locked(wait),
            None => Entry::Wrong,
        }
    };
    if let Err(e) = store.write(move |tx| save_lockout(tx, &l)) {
        tracing::error!(error = %e, "the technician lock-out could not be saved");
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_file_holds_an_argon2id_hash_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("technician.pin");
        set(&path, "480913").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("$argon2id$"), "{text}");
        assert!(!text.contains("480913"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(verify(&path, "480913").unwrap());
        assert!(!verify(&path, "480914").unwrap());
        // A new PIN replaces the old; a PIN too easy is refused and changes nothing.
        set(&path, "730264").unwrap();
        assert!(verify(&path, "730264").unwrap() && !verify(&path, "480913").unwrap());
        assert!(matches!(
            set(&path, "111111"),
            Err(PinError::Unfit(PinProblem::TooEasy))
        ));
        assert!(verify(&path, "730264").unwrap());
        // A file that is no hash says so.
        std::fs::write(&path, "480913\n").unwrap();
        assert!(matches!(
            verify(&path, "480913"),
            Err(PinError::NotAHash(_))
        ));
    }
}
