//! The hub's HTTPS API (protocol v1): axum routes behind a rustls acceptor.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::store::{HubStore, StoreError};
use portico_core::protocol::{
    ErrorBody, FeedQuery, Hello, MAX_PAGE_LIMIT, MAX_UPLOAD_ROWS, PROTOCOL_VERSION, Resource,
    UploadBatch, UploadResponse,
};

/// Failures the hub can be told to inject, to exercise devices against a misbehaving network.
#[derive(Debug, Default)]
pub struct Faults {
    /// `n > 0`: the n-th feed response from now is cut off halfway through its body.
    pub cut_feed_response: AtomicUsize,
    /// `n > 0`: the n-th upload response from now is cut off after its rows were applied (the
    /// device never learns they were).
    pub cut_upload_response: AtomicUsize,
}

impl Faults {
    /// Counts one response down; true when this is the one to cut.
    fn take(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|previous| previous == 1)
    }
}

pub struct AppState {
    pub store: Arc<HubStore>,
    pub faults: Faults,
    pub hub_id: String,
    /// Find My Membership: the clock its rules read and the notifier that carries codes.
    pub find_membership: super::find_membership::FindMembership,
}

pub(crate) struct ApiError(pub StatusCode, pub &'static str, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.1.to_owned(),
            message: self.2,
        };
        (self.0, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "hub store failure");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(tokio::task::spawn_blocking(f).await??)
}

pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing bearer token".into(),
        ))?
        .to_owned();
    let store = state.store.clone();
    blocking(move || store.authenticate(&token))
        .await?
        .ok_or(ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown or disabled device token".into(),
        ))
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route("/v1/hello", get(hello))
        .route("/v1/feed/{resource}", get(feed))
        .route("/v1/outbox", post(upload))
        .route(
            "/v1/reports/duplicate-admissions",
            get(duplicate_admissions),
        )
        .route("/v1/review-queue", get(review_queue))
        .merge(super::find_membership::routes())
        .merge(super::leases::routes())
        .merge(super::keys::routes())
        .merge(super::fleet::routes())
        .with_state(state)
        .layer(axum::middleware::map_response(mark_as_hub))
}

/// Marks every reply as the hub's own ([`portico_core::protocol::PROTOCOL_HEADER`]), so a device
/// can tell the hub's protocol errors from a proxy's error pages.
async fn mark_as_hub(mut response: Response) -> Response {
    response.headers_mut().insert(
        portico_core::protocol::PROTOCOL_HEADER,
        axum::http::HeaderValue::from(PROTOCOL_VERSION),
    );
    response
}

async fn hello(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Hello>, ApiError> {
    let device_id = authenticate(&state, &headers).await?;
    Ok(Json(Hello {
        protocol: PROTOCOL_VERSION,
        server_time: Utc::now(),
        hub_id: state.hub_id.clone(),
        device_id,
        resources: Some(
            Resource::ALL
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
        ),
    }))
}

async fn duplicate_admissions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<portico_core::protocol::DuplicateAdmission>>, ApiError> {
    authenticate(&state, &headers).await?;
    let store = state.store.clone();
    Ok(Json(blocking(move || store.duplicate_admissions()).await?))
}

/// Query of `GET /v1/review-queue`.
#[derive(Debug, Default, serde::Deserialize)]
struct ReviewQuery {
    /// `open` (the default) or `all`.
    #[serde(default)]
    status: Option<String>,
}

/// The review queue for staff: visitor details that matched a constituent only in the middle
/// range of confidence, held instead of applied.
async fn review_queue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ReviewQuery>,
) -> Result<Json<Vec<portico_core::protocol::ReviewItemDto>>, ApiError> {
    authenticate(&state, &headers).await?;
    let open_only = match q.status.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "bad_status",
                format!("status {other:?}: use open or all"),
            ));
        }
    };
    let store = state.store.clone();
    Ok(Json(blocking(move || store.review_queue(open_only)).await?))
}

async fn feed(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(resource): Path<String>,
    Query(q): Query<FeedQuery>,
) -> Result<Response, ApiError> {
    let device = authenticate(&state, &headers).await?;
    let resource = Resource::parse(&resource).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "unknown_resource",
            format!("no feed named {resource:?}"),
        )
    })?;
    let after: i64 = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "bad_cursor",
                format!("cursor {c:?} was not issued by this hub"),
            )
        })?,
    };
    // Parts are named relative to where the device's copy stood when its pull began; never
    // later than this page's own cursor (a later one would leave out parts it lacks).
    let since: Option<i64> = match q.since.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "bad_cursor",
                format!("since {c:?} was not issued by this hub"),
            )
        })?),
    }
    .map(|s| s.min(after));
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_PAGE_LIMIT);
    let store = state.store.clone();
    let page = blocking(move || store.feed_page(resource, after, limit)).await?;
    tracing::debug!(device = %device, resource = %resource, after, n = page.entries.len(), "feed page");

    // Documents are spliced in as stored: the hub never re-encodes them.
    let mut body = String::with_capacity(
        page.entries
            .iter()
            .map(|e| e.doc.as_ref().map_or(0, String::len) + 48)
            .sum::<usize>()
            + 128,
    );
    body.push_str("{\"resource\":\"");
    body.push_str(resource.as_str());
    body.push_str("\",\"changes\":[");
    for (i, e) in page.entries.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let key = serde_json::to_string(&e.key).unwrap_or_else(|_| "\"\"".into());
        match &e.doc {
            Some(doc) => {
                body.push_str("{\"op\":\"upsert\",\"key\":");
                body.push_str(&key);
                body.push_str(",\"data\":");
                body.push_str(doc);
                if let Some(changed) =
                    since.and_then(|since| super::store::changed_since(e.parts.as_deref(), since))
                {
                    body.push_str(",\"changed\":");
                    body.push_str(&serde_json::to_string(&changed).unwrap_or_else(|_| "[]".into()));
                }
                body.push('}');
            }
            None => {
                body.push_str("{\"op\":\"delete\",\"key\":");
                body.push_str(&key);
                body.push('}');
            }
        }
    }
    let next = page.last_seq.unwrap_or(after).to_string();
    body.push_str(&format!(
        "],\"next_cursor\":\"{next}\",\"has_more\":{}",
        page.has_more
    ));
    if let Some(r) = page.remaining {
        body.push_str(&format!(",\"remaining\":{r}"));
    }
    body.push('}');

    let truncate = Faults::take(&state.faults.cut_feed_response);
    Ok(json_response(body.into_bytes(), truncate))
}

/// A JSON response; `cut` sends half the body and then fails the stream, as a dropped
/// connection would.
fn json_response(bytes: Vec<u8>, cut: bool) -> Response {
    let body = if cut {
        let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
        let stream = cut_stream(half);
        Body::from_stream(stream)
    } else {
        Body::from(bytes)
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn cut_stream(
    first: Bytes,
) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    struct Cut(Option<Bytes>, bool);
    impl futures_core::Stream for Cut {
        type Item = Result<Bytes, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            if let Some(b) = self.0.take() {
                return std::task::Poll::Ready(Some(Ok(b)));
            }
            if !self.1 {
                self.1 = true;
                return std::task::Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "injected fault: response cut off",
                ))));
            }
            std::task::Poll::Ready(None)
        }
    }
    Cut(Some(first), false)
}

async fn upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let device = authenticate(&state, &headers).await?;
    let batch: UploadBatch = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_batch",
            format!("upload body is not a batch: {e}"),
        )
    })?;
    if batch.rows.len() > MAX_UPLOAD_ROWS {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} rows; at most {MAX_UPLOAD_ROWS} per batch",
                batch.rows.len()
            ),
        ));
    }
    let store = state.store.clone();
    let dev = device.clone();
    let results = blocking(move || store.ingest(&dev, &batch.rows, Utc::now())).await?;
    tracing::info!(device = %device, rows = results.len(), "upload applied");
    let bytes = serde_json::to_vec(&UploadResponse { results })
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let cut = Faults::take(&state.faults.cut_upload_response);
    Ok(json_response(bytes, cut))
}

/// A running hub server.
pub struct HubServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl HubServer {
    /// Binds `addr` and serves until [`HubServer::shutdown`].
    pub async fn start(
        addr: SocketAddr,
        store: Arc<HubStore>,
        tls: rustls::ServerConfig,
    ) -> std::io::Result<Self> {
        let hub_id = {
            let s = store.clone();
            tokio::task::spawn_blocking(move || s.hub_id())
                .await
                .map_err(std::io::Error::other)?
                .map_err(std::io::Error::other)?
        };
        let state = Arc::new(AppState {
            find_membership: super::find_membership::FindMembership::new(store.clone()),
            store,
            faults: Faults::default(),
            hub_id,
        });
        let server = serve_tls(addr, tls, router(state.clone())).await?;
        Ok(Self {
            addr: server.addr,
            state,
            shutdown: server.shutdown,
            task: server.task,
        })
    }

    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Any router served over TLS on `addr`, until the returned handle's shutdown.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub shutdown: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<()>,
}

pub async fn serve_tls(
    addr: SocketAddr,
    tls: rustls::ServerConfig,
    app: Router,
) -> std::io::Result<TlsServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let (tx, mut rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = rx.changed() => break,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let app = app.clone();
            let mut stop = rx.clone();
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::info!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                };
                let service = TowerToHyperService::new(app);
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(tls), service);
                tokio::select! {
                    r = conn => if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended with error");
                    },
                    _ = stop.changed() => {}
                }
            });
        }
    });
    Ok(TlsServer {
        addr,
        shutdown: tx,
        task,
    })
}
