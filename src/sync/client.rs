//! The device's HTTPS client for protocol v1.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::config::UpstreamConfig;
use crate::protocol::{ErrorBody, FeedPage, Hello, Resource, UploadBatch, UploadResponse};

/// Largest response body accepted from the hub; anything longer is a hostile or broken reply.
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    /// The hub could not be reached or the connection broke: retry later.
    #[error("network: {0}")]
    Network(String),
    /// The hub's certificate was refused (wrong CA, wrong name, pin mismatch, expired).
    #[error("hub certificate refused: {0}")]
    Certificate(String),
    /// The hub refused the device token: nothing will work until it is replaced.
    #[error("hub refused the device token (HTTP 401): {0}")]
    Unauthorized(String),
    /// 5xx, 408 or 429: the hub is in trouble; retry later.
    #[error("hub unavailable (HTTP {status}): {message}")]
    Unavailable { status: u16, message: String },
    /// Any other 4xx: this request will never succeed as sent.
    #[error("hub rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// The reply was not what protocol v1 promises.
    #[error("malformed hub reply: {0}")]
    Protocol(String),
    /// The device token file could not be read.
    #[error("device token: {0}")]
    Token(String),
    /// Local storage failed.
    #[error("local database: {0}")]
    Local(String),
}

impl SyncError {
    /// Worth retrying with backoff.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SyncError::Network(_) | SyncError::Unavailable { .. } | SyncError::Protocol(_)
        )
    }
}

fn classify(e: reqwest::Error) -> SyncError {
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let text = chain.join(": ");
    let lowered = text.to_lowercase();
    if lowered.contains("certificate") || lowered.contains("does not match the configured pin") {
        SyncError::Certificate(text)
    } else {
        SyncError::Network(text)
    }
}

/// A client bound to one hub, trusting only the configured CA (and pin).
#[derive(Clone)]
pub struct HubClient {
    http: reqwest::Client,
    base: reqwest::Url,
    token_file: PathBuf,
}

impl HubClient {
    pub fn new(cfg: &UpstreamConfig) -> Result<Self, SyncError> {
        let tls = crate::tls::client_config(&cfg.ca_cert, cfg.spki_pin)
            .map_err(|e| SyncError::Certificate(e.to_string()))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("portico/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .map_err(|e| SyncError::Network(format!("HTTP client setup: {e}")))?;
        Ok(Self {
            http,
            base: cfg.url.clone(),
            token_file: cfg.token_file.clone(),
        })
    }

    /// Read at every request, so a replaced token takes effect without a restart.
    fn token(&self) -> Result<String, SyncError> {
        let t = std::fs::read_to_string(&self.token_file)
            .map_err(|e| SyncError::Token(format!("{}: {e}", self.token_file.display())))?;
        let t = t.trim();
        if t.is_empty() {
            return Err(SyncError::Token(format!(
                "{} is empty",
                self.token_file.display()
            )));
        }
        Ok(t.to_owned())
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, SyncError> {
        self.base
            .join(path)
            .map_err(|e| SyncError::Protocol(format!("bad URL {path}: {e}")))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, SyncError> {
        let mut resp = req
            .bearer_auth(self.token()?)
            .send()
            .await
            .map_err(classify)?;
        let status = resp.status();
        if let Some(len) = resp.content_length()
            && len as usize > MAX_BODY_BYTES
        {
            return Err(SyncError::Protocol(format!(
                "reply of {len} bytes is too large"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(SyncError::Protocol("reply too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(body);
        }
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|b| format!("{}: {}", b.error, b.message))
            .unwrap_or_else(|_| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
        let code = status.as_u16();
        Err(match status {
            StatusCode::UNAUTHORIZED => SyncError::Unauthorized(message),
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => SyncError::Unavailable {
                status: code,
                message,
            },
            s if s.is_server_error() => SyncError::Unavailable {
                status: code,
                message,
            },
            _ => SyncError::Rejected {
                status: code,
                message,
            },
        })
    }

    fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, SyncError> {
        serde_json::from_slice(body).map_err(|e| SyncError::Protocol(e.to_string()))
    }

    pub async fn hello(&self) -> Result<Hello, SyncError> {
        let body = self.send(self.http.get(self.url("v1/hello")?)).await?;
        let hello: Hello = Self::decode(&body)?;
        if hello.protocol != crate::protocol::PROTOCOL_VERSION {
            return Err(SyncError::Protocol(format!(
                "hub speaks protocol {}, this device {}",
                hello.protocol,
                crate::protocol::PROTOCOL_VERSION
            )));
        }
        Ok(hello)
    }

    /// Fetches one feed page as raw bytes (decoded by the caller, off the async threads).
    ///
    /// `since`: the cursor the replica stood at when this pull began, so the hub names the
    /// parts of each record changed after it.
    pub async fn feed_bytes(
        &self,
        resource: Resource,
        cursor: Option<&str>,
        since: Option<&str>,
        limit: u32,
    ) -> Result<Vec<u8>, SyncError> {
        let mut url = self.url(&format!("v1/feed/{resource}"))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(c) = cursor {
                q.append_pair("cursor", c);
            }
            if let Some(s) = since {
                q.append_pair("since", s);
            }
            q.append_pair("limit", &limit.to_string());
        }
        self.send(self.http.get(url)).await
    }

    pub async fn feed<T: DeserializeOwned>(
        &self,
        resource: Resource,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<FeedPage<T>, SyncError> {
        let body = self.feed_bytes(resource, cursor, None, limit).await?;
        decode_page(resource, &body)
    }

    pub async fn upload(&self, batch: &UploadBatch) -> Result<UploadResponse, SyncError> {
        let body = serde_json::to_vec(batch).map_err(|e| SyncError::Local(e.to_string()))?;
        let reply = self
            .send(
                self.http
                    .post(self.url("v1/outbox")?)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body),
            )
            .await?;
        let resp: UploadResponse = Self::decode(&reply)?;
        Ok(resp)
    }

    async fn post_json<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, SyncError> {
        let body = serde_json::to_vec(body).map_err(|e| SyncError::Local(e.to_string()))?;
        let reply = self
            .send(
                self.http
                    .post(self.url(path)?)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body),
            )
            .await?;
        Self::decode(&reply)
    }

    /// Find My Membership, step 1: the hub looks up `membership_id` and answers with a request
    /// id and the masked targets a code can be sent to, or `not_found`. A malformed id is
    /// [`SyncError::Rejected`] (HTTP 400, `invalid_id`).
    pub async fn find_membership_locate(
        &self,
        membership_id: &str,
    ) -> Result<crate::protocol::FindMembershipLocateReply, SyncError> {
        let req = crate::protocol::FindMembershipLocateRequest {
            membership_id: membership_id.to_owned(),
        };
        self.post_json("v1/find-membership/locate", &req).await
    }

    /// Find My Membership, step 2: a code is sent to target `target` of the request. A request
    /// the hub does not know (for this device) is [`SyncError::Rejected`] with HTTP 404
    /// (`unknown_request`); an index it did not offer, HTTP 400 (`bad_target`).
    pub async fn find_membership_send(
        &self,
        request_id: &str,
        target: u32,
    ) -> Result<crate::protocol::FindMembershipSendReply, SyncError> {
        let req = crate::protocol::FindMembershipSendRequest {
            request_id: request_id.to_owned(),
            target,
        };
        self.post_json("v1/find-membership/send", &req).await
    }

    /// Find My Membership, step 3: checks the code the visitor entered. A code that is not 6
    /// digits is [`SyncError::Rejected`] with HTTP 400 (`invalid_code`) and does not count as
    /// an attempt.
    pub async fn find_membership_verify(
        &self,
        request_id: &str,
        code: &str,
    ) -> Result<crate::protocol::FindMembershipVerifyReply, SyncError> {
        let req = crate::protocol::FindMembershipVerifyRequest {
            request_id: request_id.to_owned(),
            code: code.to_owned(),
        };
        self.post_json("v1/find-membership/verify", &req).await
    }
}

/// Decodes and sanity-checks a feed page.
pub fn decode_page<T: DeserializeOwned>(
    resource: Resource,
    body: &[u8],
) -> Result<FeedPage<T>, SyncError> {
    let page: FeedPage<T> = serde_json::from_slice(body)
        .map_err(|e| SyncError::Protocol(format!("{resource} page: {e}")))?;
    if page.resource != resource {
        return Err(SyncError::Protocol(format!(
            "asked for {resource}, got a {} page",
            page.resource
        )));
    }
    if page.next_cursor.len() > 256 {
        return Err(SyncError::Protocol("cursor longer than 256 bytes".into()));
    }
    Ok(page)
}
