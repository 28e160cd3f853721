//! Find My Membership on the hub (seed 001): locate a membership by its ID, send a
//! verification code to the primary email or phone on record, and check the code.
//!
//! Endpoints (bearer device token, like every other route):
//! * `POST /v1/find-membership/locate` — Membership ID (or a member's Lookup ID, merged-away
//!   ones included) → request id and masked targets: the primary active email and the primary
//!   active phone of each member constituent, after merges.
//! * `POST /v1/find-membership/send` — request id and target index → a fresh code, delivered
//!   by the [`Notifier`]; the previous code of the request stops working.
//! * `POST /v1/find-membership/verify` — request id and code → verified (membership and the
//!   member's Lookup ID), wrong code with attempts left, expired, or locked.
//!
//! The rules (`portico_core::find_membership::verification`): codes expire after 10 minutes, 5 wrong
//! attempts lock the request. The time comes from the hub's [`Clock`], which tests replace.
//! Codes are stored salted and hashed and never logged; the only place their digits exist is
//! the message handed to the notifier. Requests belong to the device that made them.

use std::sync::{Arc, RwLock};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::server::AppState;
use super::store::{HubStore, StoreError};
use portico_core::clock::{Clock, SystemClock};
use portico_core::domain::{ConstituentStatus, MembershipStatus};
use portico_core::find_membership::mask::{Channel, mask_email, mask_phone};
use portico_core::find_membership::verification::{IssueRefused, Status, Verification};
use portico_core::find_membership::{CheckOutcome, Code, CodeError, CodeHash, IdError, parse_id};
use portico_core::protocol::{
    ConstituentDto, ErrorBody, FindMembershipLocateReply, FindMembershipLocateRequest,
    FindMembershipSendReply, FindMembershipSendRequest, FindMembershipVerifyReply,
    FindMembershipVerifyRequest, MaskedTargetDto, MembershipDto, MergeDto, Resource,
    TargetChannelDto,
};

/// Tables of this module, created with the hub's store.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS find_membership_requests (
    request_id         TEXT PRIMARY KEY,
    device_id          TEXT NOT NULL,
    membership_id      TEXT NOT NULL,
    targets            TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    target_index       INTEGER,
    code_hash          TEXT,
    code_issued_at     INTEGER,
    attempts           INTEGER NOT NULL DEFAULT 0,
    status             TEXT NOT NULL DEFAULT 'awaiting_code',
    verified_lookup_id TEXT,
    verified_at        INTEGER
);
CREATE TABLE IF NOT EXISTS notification_spool (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
"#;

/// Longest merge chain followed (a longer one means corrupt data).
const MAX_MERGE_HOPS: usize = 32;

/// Longest request id accepted.
const MAX_REQUEST_ID_CHARS: usize = 64;

/// Longest text field of a `reassociation` row.
const MAX_REASSOCIATION_FIELD_CHARS: usize = 128;

// ----- notifier -----

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notification spool: {0}")]
    Spool(#[from] StoreError),
    #[error("notification not delivered: {0}")]
    Delivery(String),
}

/// One message to a visitor. `Debug` leaves out the body, which holds the code.
#[derive(Clone, PartialEq, Eq)]
pub struct Notification {
    pub request_id: String,
    pub channel: Channel,
    /// The full address or number (the masked form is what the visitor saw).
    pub recipient: String,
    pub body: String,
}

impl std::fmt::Debug for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notification")
            .field("request_id", &self.request_id)
            .field("channel", &self.channel)
            .field("body", &"…")
            .finish_non_exhaustive()
    }
}

/// Delivers verification messages (email or text). Called off the async threads, after the
/// code is committed.
pub trait Notifier: Send + Sync {
    fn deliver(&self, message: &Notification) -> Result<(), NotifyError>;
}

/// The default notifier: every message is written to the `notification_spool` table of the
/// hub's database, where a venue's mail/SMS relay (or a test) picks it up.
pub struct SpoolNotifier {
    store: Arc<HubStore>,
}

impl SpoolNotifier {
    pub fn new(store: Arc<HubStore>) -> Self {
        Self { store }
    }
}

impl Notifier for SpoolNotifier {
    fn deliver(&self, m: &Notification) -> Result<(), NotifyError> {
        let now = Utc::now().timestamp_millis();
        self.store.write(|tx, _| {
            tx.prepare_cached(
                "INSERT INTO notification_spool (request_id, channel, recipient, body, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                m.request_id,
                m.channel.as_str(),
                m.recipient,
                m.body,
                now
            ])?;
            Ok(())
        })?;
        Ok(())
    }
}

/// A message waiting in the spool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpooledMessage {
    pub id: i64,
    pub request_id: String,
    pub channel: String,
    pub recipient: String,
    pub body: String,
    pub created_at_ms: i64,
}

/// The spooled messages, oldest first (at most `limit`, the newest ones).
pub fn spool(store: &HubStore, limit: usize) -> Result<Vec<SpooledMessage>, StoreError> {
    store.read(|c| {
        let mut st = c.prepare(
            "SELECT id, request_id, channel, recipient, body, created_at FROM (
                 SELECT * FROM notification_spool ORDER BY id DESC LIMIT ?1
             ) ORDER BY id",
        )?;
        let rows = st
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(SpooledMessage {
                    id: r.get(0)?,
                    request_id: r.get(1)?,
                    channel: r.get(2)?,
                    recipient: r.get(3)?,
                    body: r.get(4)?,
                    created_at_ms: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    })
}

// ----- the service held in the hub's state -----

/// Find My Membership's share of the hub's state: the clock its rules read and the notifier
/// that carries codes. Both can be replaced while the hub runs (tests do).
pub struct FindMembership {
    clock: RwLock<Arc<dyn Clock>>,
    notifier: RwLock<Arc<dyn Notifier>>,
}

impl FindMembership {
    /// The system clock and a [`SpoolNotifier`] on `store`.
    pub fn new(store: Arc<HubStore>) -> Self {
        Self {
            clock: RwLock::new(Arc::new(SystemClock)),
            notifier: RwLock::new(Arc::new(SpoolNotifier::new(store))),
        }
    }

    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        *self.clock.write().unwrap_or_else(|p| p.into_inner()) = clock;
    }

    pub fn set_notifier(&self, notifier: Arc<dyn Notifier>) {
        *self.notifier.write().unwrap_or_else(|p| p.into_inner()) = notifier;
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.read().unwrap_or_else(|p| p.into_inner()).now()
    }

    fn notifier(&self) -> Arc<dyn Notifier> {
        self.notifier
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

// ----- errors -----

/// Why a Find My Membership call was refused (business outcomes are replies, not errors).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("bad request body: {0}")]
    BadBody(String),
    #[error("membership id refused: {0}")]
    InvalidId(#[from] IdError),
    #[error("code refused: {0}")]
    InvalidCode(#[from] CodeError),
    #[error("request id must be 1-{MAX_REQUEST_ID_CHARS} letters or digits")]
    InvalidRequestId,
    #[error("no request {0} from this device")]
    UnknownRequest(String),
    #[error("target {target} is not one of the {count} offered")]
    BadTarget { target: u32, count: usize },
    #[error("the request was verified already")]
    AlreadyVerified,
    #[error("no code was sent for this request yet")]
    NoCodeSent,
    #[error("membership {0} is no longer on record")]
    MembershipGone(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

impl RequestError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::BadBody(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::InvalidId(_) => (StatusCode::BAD_REQUEST, "invalid_id"),
            Self::InvalidCode(_) => (StatusCode::BAD_REQUEST, "invalid_code"),
            Self::InvalidRequestId => (StatusCode::BAD_REQUEST, "invalid_request_id"),
            Self::UnknownRequest(_) => (StatusCode::NOT_FOUND, "unknown_request"),
            Self::BadTarget { .. } => (StatusCode::BAD_REQUEST, "bad_target"),
            Self::AlreadyVerified => (StatusCode::CONFLICT, "already_verified"),
            Self::NoCodeSent => (StatusCode::CONFLICT, "no_code_sent"),
            Self::MembershipGone(_) => (StatusCode::CONFLICT, "membership_gone"),
            Self::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Self::Notify(_) => (StatusCode::SERVICE_UNAVAILABLE, "notification_failed"),
        }
    }
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let (status, error) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "find-membership failure");
        }
        let body = ErrorBody {
            error: error.to_owned(),
            message: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
}

type Outcome<T> = Result<T, RequestError>;

// ----- routes -----

/// The Find My Membership routes, merged into the hub's router.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/find-membership/locate", post(locate_route))
        .route("/v1/find-membership/send", post(send_route))
        .route("/v1/find-membership/verify", post(verify_route))
}

/// The device a bearer token belongs to, with the same answers as the hub's other routes.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Outcome<String> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(RequestError::Unauthorized("missing bearer token"))?
        .to_owned();
    let store = state.store.clone();
    blocking(move || Ok(store.authenticate(&token)?))
        .await?
        .ok_or(RequestError::Unauthorized(
            "unknown or disabled device token",
        ))
}

fn body<T: DeserializeOwned>(bytes: &[u8]) -> Outcome<T> {
    serde_json::from_slice(bytes).map_err(|e| RequestError::BadBody(e.to_string()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Outcome<T> + Send + 'static,
) -> Outcome<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RequestError::Store(StoreError::Invalid(format!("worker failed: {e}"))))?
}

fn reply<T: Serialize>(r: Outcome<T>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Authenticates the device, decodes the body and runs `op` on a blocking thread with the
/// device id, the request and the hub's time; every route answers the same way.
async fn route<Req, Resp>(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    bytes: &[u8],
    op: impl FnOnce(
        &AppState,
        String,
        Req,
        DateTime<Utc>,
    ) -> Outcome<Box<dyn FnOnce() -> Outcome<Resp> + Send>>,
) -> Response
where
    Req: DeserializeOwned,
    Resp: Serialize + Send + 'static,
{
    let run = async {
        let device = authenticate(state, headers).await?;
        let req: Req = body(bytes)?;
        let job = op(state, device, req, state.find_membership.now())?;
        blocking(job).await
    };
    reply(run.await)
}

async fn locate_route(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    route(
        &state,
        &headers,
        &bytes,
        |state, device, req: FindMembershipLocateRequest, now| {
            let store = state.store.clone();
            Ok(Box::new(move || {
                locate(&store, &device, &req.membership_id, now)
            }))
        },
    )
    .await
}

async fn send_route(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    route(
        &state,
        &headers,
        &bytes,
        |state, device, req: FindMembershipSendRequest, now| {
            let (store, notifier) = (state.store.clone(), state.find_membership.notifier());
            Ok(Box::new(move || {
                send(
                    &store,
                    &*notifier,
                    &device,
                    &req.request_id,
                    req.target,
                    now,
                )
            }))
        },
    )
    .await
}

async fn verify_route(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    route(
        &state,
        &headers,
        &bytes,
        |state, device, req: FindMembershipVerifyRequest, now| {
            let code = Code::parse(&req.code)?;
            let store = state.store.clone();
            Ok(Box::new(move || {
                verify(&store, &device, &req.request_id, &code, now)
            }))
        },
    )
    .await
}

// ----- the operations -----

/// A target as the hub keeps it: full address, masked form, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredTarget {
    channel: Channel,
    address: String,
    masked: String,
    lookup_id: String,
}

impl StoredTarget {
    fn dto(&self, index: usize) -> MaskedTargetDto {
        MaskedTargetDto {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            channel: match self.channel {
                Channel::Email => TargetChannelDto::Email,
                Channel::Sms => TargetChannelDto::Sms,
            },
            masked: self.masked.clone(),
        }
    }
}

fn doc<T: DeserializeOwned>(
    c: &Connection,
    resource: Resource,
    key: &str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = c
        .prepare_cached("SELECT doc FROM records WHERE resource = ?1 AND key = ?2 AND deleted = 0")?
        .query_row(params![resource.as_str(), key], |r| r.get(0))
        .optional()?;
    Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
}

/// Follows the CRM's merges from `lookup_id` to the surviving record.
fn survivor(c: &Connection, lookup_id: &str) -> Result<String, StoreError> {
    let mut current = lookup_id.to_owned();
    for _ in 0..MAX_MERGE_HOPS {
        match doc::<MergeDto>(c, Resource::Merges, &current)? {
            Some(m) if m.survivor_id != current => current = m.survivor_id,
            _ => return Ok(current),
        }
    }
    Err(StoreError::Invalid(format!(
        "merge chain from {lookup_id} is longer than {MAX_MERGE_HOPS}"
    )))
}

/// The membership an entered id names: a Membership ID, or else a member's Lookup ID (a
/// merged-away one leads to its survivor's membership; the current one is preferred).
fn membership_for(c: &Connection, id: &str) -> Result<Option<MembershipDto>, StoreError> {
    if let Some(m) = doc::<MembershipDto>(c, Resource::Memberships, id)? {
        return Ok(Some(m));
    }
    let member = survivor(c, id)?;
    let ids: Vec<String> = c
        .prepare_cached(
            "SELECT membership_id FROM membership_members WHERE lookup_id = ?1
             ORDER BY membership_id",
        )?
        .query_map([&member], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut best: Option<MembershipDto> = None;
    for mid in ids {
        let Some(m) = doc::<MembershipDto>(c, Resource::Memberships, &mid)? else {
            continue;
        };
        let rank = |m: &MembershipDto| (m.status == MembershipStatus::Active, m.expiry);
        if best.as_ref().is_none_or(|b| rank(&m) > rank(b)) {
            best = Some(m);
        }
    }
    Ok(best)
}

/// Seed 001: "the primary phone or email from the constituent's Altru record". For each
/// member (after merges, active records only): the primary active email, then the primary
/// active phone, when they can receive a code.
fn targets_of(c: &Connection, membership: &MembershipDto) -> Result<Vec<StoredTarget>, StoreError> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for member in &membership.members {
        let id = survivor(c, member)?;
        if seen.contains(&id) {
            continue;
        }
        seen.push(id.clone());
        let Some(person) = doc::<ConstituentDto>(c, Resource::Constituents, &id)? else {
            continue;
        };
        if person.status != ConstituentStatus::Active {
            continue;
        }
        if let Some(e) = person
            .emails
            .iter()
            .find(|e| e.meta.primary && e.meta.active)
            && let Some(masked) = mask_email(&e.address)
        {
            out.push(StoredTarget {
                channel: Channel::Email,
                address: e.address.trim().to_owned(),
                masked,
                lookup_id: id.clone(),
            });
        }
        if let Some(p) = person
            .phones
            .iter()
            .find(|p| p.meta.primary && p.meta.active)
            && let Some(masked) = mask_phone(&p.number)
        {
            out.push(StoredTarget {
                channel: Channel::Sms,
                address: p.number.trim().to_owned(),
                masked,
                lookup_id: id.clone(),
            });
        }
    }
    Ok(out)
}

fn new_request_id() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_request_id(id: &str) -> Outcome<&str> {
    let id = id.trim();
    if id.is_empty()
        || id.len() > MAX_REQUEST_ID_CHARS
        || !id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(RequestError::InvalidRequestId);
    }
    Ok(id)
}

/// Locates the membership an entered id names and opens a request for it. Unknown ids and
/// memberships without a target answer the same `not_found`.
pub fn locate(
    store: &HubStore,
    device: &str,
    raw_id: &str,
    now: DateTime<Utc>,
) -> Outcome<FindMembershipLocateReply> {
    let id = parse_id(raw_id)?.to_owned();
    let found = store.read(|c| {
        let Some(m) = membership_for(c, &id)? else {
            return Ok(None);
        };
        let targets = targets_of(c, &m)?;
        Ok(Some((m, targets)))
    })?;
    let (membership, targets) = match found {
        Some((m, t)) if !t.is_empty() => (m, t),
        Some((m, _)) => {
            tracing::info!(device, membership_id = %m.membership_id, "find-membership: no primary email or phone on record");
            return Ok(FindMembershipLocateReply::NotFound);
        }
        None => {
            tracing::info!(device, "find-membership: id not found");
            return Ok(FindMembershipLocateReply::NotFound);
        }
    };
    let request_id = new_request_id();
    let stored = serde_json::to_string(&targets).map_err(StoreError::from)?;
    store.write(|tx, _| {
        tx.execute(
            "INSERT INTO find_membership_requests (request_id, device_id, membership_id, targets,
             created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                request_id,
                device,
                membership.membership_id,
                stored,
                now.timestamp_millis()
            ],
        )?;
        Ok(())
    })?;
    tracing::info!(
        device,
        request_id = %request_id,
        membership_id = %membership.membership_id,
        targets = targets.len(),
        "find-membership: located"
    );
    Ok(FindMembershipLocateReply::Found {
        targets: targets.iter().enumerate().map(|(i, t)| t.dto(i)).collect(),
        request_id,
    })
}

/// A request as stored.
struct Row {
    membership_id: String,
    targets: Vec<StoredTarget>,
    target_index: Option<usize>,
    verification: Option<Verification>,
    status: Status,
}

fn ms(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(v)
        .ok_or_else(|| StoreError::Invalid(format!("time {v} out of range")))
}

fn load(c: &Connection, device: &str, request_id: &str) -> Outcome<Row> {
    let row = c
        .prepare_cached(
            "SELECT membership_id, targets, target_index, code_hash, code_issued_at, attempts,
             status FROM find_membership_requests WHERE request_id = ?1 AND device_id = ?2",
        )
        .map_err(StoreError::from)?
        .query_row(params![request_id, device], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
            ))
        })
        .optional()
        .map_err(StoreError::from)?;
    let Some((membership_id, targets, index, hash, issued, attempts, status)) = row else {
        return Err(RequestError::UnknownRequest(request_id.to_owned()));
    };
    let corrupt = |what: &str| StoreError::Invalid(format!("request {request_id}: corrupt {what}"));
    let targets: Vec<StoredTarget> = serde_json::from_str(&targets).map_err(StoreError::from)?;
    let status = Status::parse(&status).ok_or_else(|| corrupt("status"))?;
    let attempts = u32::try_from(attempts).map_err(|_| corrupt("attempts"))?;
    let verification = match (hash, issued) {
        (Some(h), Some(at)) => Some(Verification {
            hash: CodeHash::from_stored(&h).ok_or_else(|| corrupt("code hash"))?,
            issued_at: ms(at)?,
            attempts,
            status,
        }),
        _ => None,
    };
    Ok(Row {
        membership_id,
        targets,
        target_index: index.and_then(|i| usize::try_from(i).ok()),
        verification,
        status,
    })
}

fn save(tx: &Connection, request_id: &str, v: &Verification) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE find_membership_requests SET code_hash = ?2, code_issued_at = ?3, attempts = ?4,
         status = ?5 WHERE request_id = ?1",
    )?
    .execute(params![
        request_id,
        v.hash.to_stored(),
        v.issued_at.timestamp_millis(),
        v.attempts,
        v.status.as_str()
    ])?;
    Ok(())
}

/// Issues a new code for `target` and hands it to `notifier` once stored.
pub fn send(
    store: &HubStore,
    notifier: &dyn Notifier,
    device: &str,
    request_id: &str,
    target: u32,
    now: DateTime<Utc>,
) -> Outcome<FindMembershipSendReply> {
    let request_id = check_request_id(request_id)?;
    let code = Code::generate(&mut rand::rng());
    let hash = CodeHash::generate(&code, &mut rand::rng());
    let issued = store.write(|tx, _| {
        let row = match load(tx, device, request_id) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let Some(t) = usize::try_from(target)
            .ok()
            .and_then(|i| row.targets.get(i))
            .cloned()
        else {
            return Ok(Err(RequestError::BadTarget {
                target,
                count: row.targets.len(),
            }));
        };
        let next = match &row.verification {
            None if row.status == Status::AwaitingCode => Ok(Verification::issue(hash, now)),
            None => Err(if row.status == Status::Locked {
                IssueRefused::Locked
            } else {
                IssueRefused::Verified
            }),
            Some(v) => v.reissue(hash, now),
        };
        let v = match next {
            Ok(v) => v,
            Err(IssueRefused::Locked) => return Ok(Ok(None)),
            Err(IssueRefused::Verified) => return Ok(Err(RequestError::AlreadyVerified)),
        };
        save(tx, request_id, &v)?;
        tx.prepare_cached(
            "UPDATE find_membership_requests SET target_index = ?2 WHERE request_id = ?1",
        )?
        .execute(params![request_id, target])?;
        Ok(Ok(Some((t, v))))
    })??;
    let Some((t, v)) = issued else {
        tracing::info!(
            device,
            request_id,
            "find-membership: send refused, request locked"
        );
        return Ok(FindMembershipSendReply::Locked);
    };
    let expires_minutes = (v.expires_at() - v.issued_at).num_minutes();
    let message = Notification {
        request_id: request_id.to_owned(),
        channel: t.channel,
        recipient: t.address.clone(),
        body: format!(
            "Your membership verification code is {}. It expires in {expires_minutes} minutes. \
             If you did not ask for it, ignore this message.",
            code.digits()
        ),
    };
    notifier.deliver(&message)?;
    tracing::info!(
        device,
        request_id,
        channel = t.channel.as_str(),
        to = %t.masked,
        attempts_left = v.attempts_left(),
        "find-membership: code sent"
    );
    Ok(FindMembershipSendReply::Sent {
        target: t.dto(target as usize),
        expires_at: v.expires_at(),
        attempts_left: v.attempts_left(),
    })
}

/// Checks a code at `now`; on success returns the membership and the member's Lookup ID.
pub fn verify(
    store: &HubStore,
    device: &str,
    request_id: &str,
    code: &Code,
    now: DateTime<Utc>,
) -> Outcome<FindMembershipVerifyReply> {
    let request_id = check_request_id(request_id)?;
    let answer = store.write(|tx, _| {
        let row = match load(tx, device, request_id) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let Some(mut v) = row.verification else {
            if row.status == Status::Locked {
                return Ok(Ok(FindMembershipVerifyReply::Locked));
            }
            return Ok(Err(RequestError::NoCodeSent));
        };
        let before = (v.attempts, v.status);
        let outcome = v.check(code, now);
        if (v.attempts, v.status) != before {
            save(tx, request_id, &v)?;
        }
        Ok(Ok(match outcome {
            CheckOutcome::Verified => {
                let Some(t) = row.target_index.and_then(|i| row.targets.get(i)) else {
                    return Ok(Err(RequestError::NoCodeSent));
                };
                let lookup_id = survivor(tx, &t.lookup_id)?;
                let Some(membership) =
                    doc::<MembershipDto>(tx, Resource::Memberships, &row.membership_id)?
                else {
                    return Ok(Err(RequestError::MembershipGone(row.membership_id)));
                };
                tx.prepare_cached(
                    "UPDATE find_membership_requests SET verified_lookup_id = ?2,
                     verified_at = coalesce(verified_at, ?3) WHERE request_id = ?1",
                )?
                .execute(params![
                    request_id,
                    lookup_id,
                    now.timestamp_millis()
                ])?;
                FindMembershipVerifyReply::Verified {
                    lookup_id,
                    membership,
                }
            }
            CheckOutcome::WrongCode { attempts_left } => {
                FindMembershipVerifyReply::WrongCode { attempts_left }
            }
            CheckOutcome::Expired => FindMembershipVerifyReply::Expired,
            CheckOutcome::Locked => FindMembershipVerifyReply::Locked,
            CheckOutcome::AlreadyUsed => FindMembershipVerifyReply::AlreadyUsed,
        }))
    })??;
    let outcome = match &answer {
        FindMembershipVerifyReply::Verified { .. } => "verified",
        FindMembershipVerifyReply::WrongCode { .. } => "wrong_code",
        FindMembershipVerifyReply::Expired => "expired",
        FindMembershipVerifyReply::Locked => "locked",
        FindMembershipVerifyReply::AlreadyUsed => "already_used",
    };
    tracing::info!(device, request_id, outcome, "find-membership: code checked");
    Ok(answer)
}

/// Hub check of an uploaded `reassociation` row (version 1): the fields are there, and the
/// request it names was verified on this hub for that membership and that constituent.
pub fn check_reassociation(
    tx: &Connection,
    r: &portico_core::upstream::ReassociationV1,
) -> Result<Result<(), String>, StoreError> {
    fn field(value: &str) -> Option<&str> {
        Some(value.trim())
            .filter(|s| !s.is_empty() && s.chars().count() <= MAX_REASSOCIATION_FIELD_CHARS)
    }
    let (Some(_visitor), Some(lookup_id), Some(membership_id), Some(request_id)) = (
        field(&r.visitor),
        field(&r.lookup_id),
        field(&r.membership_id),
        field(&r.request_id),
    ) else {
        return Ok(Err(format!(
            "reassociation needs visitor, lookup_id, membership_id and request_id \
             (each 1-{MAX_REASSOCIATION_FIELD_CHARS} characters)"
        )));
    };
    let row: Option<(String, String, Option<String>)> = tx
        .prepare_cached(
            "SELECT status, membership_id, verified_lookup_id FROM find_membership_requests
             WHERE request_id = ?1",
        )?
        .query_row([request_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(match row {
        None => Err(format!(
            "find-membership request {request_id} is unknown to this hub"
        )),
        Some((status, _, _)) if status != Status::Verified.as_str() => Err(format!(
            "find-membership request {request_id} was not verified"
        )),
        Some((_, m, l)) if m != membership_id || l.as_deref() != Some(lookup_id) => Err(format!(
            "find-membership request {request_id} verified membership {m} for {}, not {membership_id} for {lookup_id}",
            l.as_deref().unwrap_or("nobody")
        )),
        Some(_) => Ok(()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_never_prints_its_code_and_the_spool_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(HubStore::open(&dir.path().join("hub.db")).unwrap());
        let spooler = SpoolNotifier::new(store.clone());
        for i in 0..3 {
            let n = Notification {
                request_id: format!("r{i}"),
                channel: Channel::Sms,
                recipient: "(555) 123-1234".into(),
                body: format!("Your code is 00000{i}."),
            };
            assert!(!format!("{n:?}").contains("00000"), "{n:?}");
            spooler.deliver(&n).unwrap();
        }
        let listed = spool(&store, 2).unwrap();
        let ids: Vec<&str> = listed.iter().map(|m| m.request_id.as_str()).collect();
        assert_eq!(ids, ["r1", "r2"]);
        assert_eq!(listed[1].body, "Your code is 000002.");
        assert_eq!(listed[1].channel, "sms");
    }

    #[test]
    fn request_ids_are_letters_and_digits_only() {
        assert_eq!(check_request_id(" abc123 ").unwrap(), "abc123");
        for bad in ["", "   ", "a-b", "../x", "é", &"a".repeat(65)] {
            assert!(
                matches!(check_request_id(bad), Err(RequestError::InvalidRequestId)),
                "{bad:?}"
            );
        }
        assert_eq!(new_request_id().len(), 32);
        assert_ne!(new_request_id(), new_request_id());
    }
}
