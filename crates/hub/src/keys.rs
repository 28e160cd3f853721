//! Kiosks' ticket-signing keys: registered by each kiosk, given an id from 32768 up, and
//! published on the `signing_keys` feed so every gate verifies a kiosk's tickets offline.
//! A stolen kiosk's key is revoked (`portico hub keys revoke`): gates refuse its tickets from
//! their next pull.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Json;
use axum::routing::post;
use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::server::{ApiError, AppState, authenticate, blocking};
use super::store::{Result, Seq, StoreError, put};
use portico_core::input::credential::signed_ticket::{FIRST_KIOSK_KEY, public_key};
use portico_core::protocol::{RegisterKeyReply, RegisterKeyRequest, Resource, SigningKeyDto};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS device_keys (
    key_id        INTEGER PRIMARY KEY,
    device_id     TEXT NOT NULL,
    public_key    TEXT NOT NULL UNIQUE,
    registered_at TEXT NOT NULL,
    revoked_at    TEXT
);
"#;

/// Why a key is not registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefused {
    #[error("not an Ed25519 public key in base64")]
    Malformed,
    #[error("this key is registered to another device")]
    OtherDevice,
    #[error("this key was revoked; make the kiosk a new one")]
    Revoked,
    #[error("every kiosk key id is in use")]
    Exhausted,
}

/// A registered key, as `portico hub keys` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredKey {
    pub key_id: u16,
    pub device_id: String,
    pub public_key: String,
    pub registered_at: String,
    pub revoked_at: Option<String>,
}

fn publish(tx: &Connection, seq: &mut Seq, k: &SigningKeyDto) -> Result<()> {
    put(
        tx,
        seq,
        Resource::SigningKeys,
        &k.key_id.to_string(),
        Some(&serde_json::to_string(k)?),
    )
}

/// Registers `device`'s key (the same id again for a key it registered before) and publishes
/// it.
pub fn register(
    tx: &Connection,
    seq: &mut Seq,
    device: &str,
    req: &RegisterKeyRequest,
) -> Result<std::result::Result<RegisterKeyReply, KeyRefused>> {
    let Some(vk) = public_key(&req.public_key) else {
        return Ok(Err(KeyRefused::Malformed));
    };
    // One spelling per key, whatever base64 the device sent.
    let text = data_encoding::BASE64.encode(vk.as_bytes());
    let known: Option<(u16, String, Option<String>)> = tx
        .prepare_cached(
            "SELECT key_id, device_id, revoked_at FROM device_keys WHERE public_key = ?1",
        )?
        .query_row([&text], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match known {
        Some((_, owner, _)) if owner != device => return Ok(Err(KeyRefused::OtherDevice)),
        Some((_, _, Some(_))) => return Ok(Err(KeyRefused::Revoked)),
        Some((key_id, _, None)) => return Ok(Ok(RegisterKeyReply { key_id })),
        None => {}
    }
    let last: Option<u16> =
        tx.query_row("SELECT max(key_id) FROM device_keys", [], |r| r.get(0))?;
    let Some(key_id) = last.map_or(Some(FIRST_KIOSK_KEY), |k| k.checked_add(1)) else {
        return Ok(Err(KeyRefused::Exhausted));
    };
    tx.execute(
        "INSERT INTO device_keys (key_id, device_id, public_key, registered_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![key_id, device, text, Utc::now().to_rfc3339()],
    )?;
    publish(
        tx,
        seq,
        &SigningKeyDto {
            key_id,
            device_id: device.to_owned(),
            public_key: text,
            revoked: false,
        },
    )?;
    Ok(Ok(RegisterKeyReply { key_id }))
}

/// Revokes a key: gates refuse its tickets once they have pulled.
pub fn revoke(tx: &Connection, seq: &mut Seq, key_id: u16) -> Result<RegisteredKey> {
    let mut k = list(tx)?
        .into_iter()
        .find(|k| k.key_id == key_id)
        .ok_or_else(|| StoreError::NotFound(format!("no kiosk key {key_id}")))?;
    if k.revoked_at.is_none() {
        let now = Utc::now().to_rfc3339();
        tx.execute(
            "UPDATE device_keys SET revoked_at = ?2 WHERE key_id = ?1",
            params![key_id, now],
        )?;
        k.revoked_at = Some(now);
    }
    publish(
        tx,
        seq,
        &SigningKeyDto {
            key_id,
            device_id: k.device_id.clone(),
            public_key: k.public_key.clone(),
            revoked: true,
        },
    )?;
    Ok(k)
}

/// Every registered key, by id.
pub fn list(conn: &Connection) -> Result<Vec<RegisteredKey>> {
    Ok(conn
        .prepare_cached(
            "SELECT key_id, device_id, public_key, registered_at, revoked_at FROM device_keys
             ORDER BY key_id",
        )?
        .query_map([], |r| {
            Ok(RegisteredKey {
                key_id: r.get(0)?,
                device_id: r.get(1)?,
                public_key: r.get(2)?,
                registered_at: r.get(3)?,
                revoked_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}

/// The public key `device` registered under `key_id`, unless revoked (to check the tickets
/// in its orders).
pub fn device_key(conn: &Connection, device: &str, key_id: u16) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT public_key FROM device_keys
             WHERE key_id = ?1 AND device_id = ?2 AND revoked_at IS NULL",
        )?
        .query_row(params![key_id, device], |r| r.get(0))
        .optional()?)
}

// ----- route -----

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/signing-keys", post(register_route))
}

async fn register_route(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> std::result::Result<Json<RegisterKeyReply>, ApiError> {
    let device = authenticate(&state, &headers).await?;
    let req: RegisterKeyRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("not a key registration: {e}"),
        )
    })?;
    let store = state.store.clone();
    let d = device.clone();
    let answer = blocking(move || store.write(|tx, seq| register(tx, seq, &d, &req))).await?;
    match answer {
        Ok(reply) => {
            tracing::info!(device = %device, key_id = reply.key_id, "kiosk signing key registered");
            Ok(Json(reply))
        }
        Err(e) => {
            let code = match e {
                KeyRefused::Malformed => (StatusCode::BAD_REQUEST, "bad_key"),
                KeyRefused::OtherDevice | KeyRefused::Revoked => {
                    (StatusCode::CONFLICT, "key_refused")
                }
                KeyRefused::Exhausted => (StatusCode::INSUFFICIENT_STORAGE, "no_key_ids"),
            };
            Err(ApiError(code.0, code.1, e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HubStore;
    use ed25519_dalek::SigningKey;

    fn b64(seed: u8) -> String {
        data_encoding::BASE64.encode(
            SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .as_bytes(),
        )
    }

    #[test]
    fn a_kiosk_key_gets_one_id_from_32768_and_a_revoked_key_stays_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = HubStore::open(&dir.path().join("hub.db")).unwrap();
        let reg = |device: &str, key: String| {
            store
                .write(|tx, seq| register(tx, seq, device, &RegisterKeyRequest { public_key: key }))
                .unwrap()
                .map(|r| r.key_id)
        };
        let cases = [
            ("first key", "kiosk-1", b64(1), Ok(32768)),
            ("the same key again", "kiosk-1", b64(1), Ok(32768)),
            (
                "the same key without padding",
                "kiosk-1",
                b64(1).trim_end_matches('=').to_owned(),
                Ok(32768),
            ),
            ("another kiosk", "kiosk-2", b64(2), Ok(32769)),
            (
                "someone else's key",
                "kiosk-2",
                b64(1),
                Err(KeyRefused::OtherDevice),
            ),
            (
                "not a key",
                "kiosk-2",
                "aGVsbG8=".to_owned(),
                Err(KeyRefused::Malformed),
            ),
        ];
        for (what, device, key, want) in cases {
            assert_eq!(reg(device, key), want, "{what}");
        }
        assert_eq!(store.count(Resource::SigningKeys).unwrap(), 2);
        store.write(|tx, seq| revoke(tx, seq, 32768)).unwrap();
        assert_eq!(reg("kiosk-1", b64(1)), Err(KeyRefused::Revoked));
        let published: SigningKeyDto = store
            .all::<SigningKeyDto>(Resource::SigningKeys)
            .unwrap()
            .into_iter()
            .find(|k| k.key_id == 32768)
            .unwrap();
        assert!(published.revoked);
        assert_eq!(
            store.read(|c| device_key(c, "kiosk-1", 32768)).unwrap(),
            None
        );
        assert_eq!(
            store.read(|c| device_key(c, "kiosk-2", 32769)).unwrap(),
            Some(b64(2))
        );
        assert_eq!(
            store.read(|c| device_key(c, "kiosk-1", 32769)).unwrap(),
            None
        );
    }
}
