//! The device's HTTPS client for protocol v1.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::config::UpstreamConfig;
use crate::protocol::{ErrorBody, FeedPage, Hello, Resource, UploadBatch, UploadResponse};

/// Largest feed page accepted from the hub. A page of the largest size a device may ask for
/// (`MAX_PAGE_LIMIT` changes) of realistic constituents is a few MiB; anything near this is
/// a hostile or broken reply, and reading stops as soon as the reply passes it.
pub const MAX_FEED_BYTES: usize = 64 * 1024 * 1024;

/// Largest reply accepted for every other request (hello, upload results, Find My
/// Membership): a full upload batch's results are well under 100 KiB.
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// The response header with which the hub marks every reply as its own (`docs/protocol.md`).
/// A reply without it came from something in between (a proxy, a captive portal, a load
/// balancer) and is a link fault.
pub use crate::protocol::PROTOCOL_HEADER;

#[derive(Debug, Clone, thiserror::Error)]
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
    /// Any other 4xx with the hub's own protocol error: this request will never succeed as
    /// sent.
    #[error("hub rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// A redirect. The device follows none: every request goes to the configured origin only.
    #[error("HTTP {status} redirect to {location} refused: the device follows no redirects")]
    Redirect { status: u16, location: String },
    /// A non-success reply that is not the hub's (no protocol header or no protocol error
    /// body): something between the device and the hub answered. Retried.
    #[error("HTTP {status} from something other than the hub: {detail}")]
    Link { status: u16, detail: String },
    /// The hub speaks another protocol version, or the token belongs to another device.
    #[error("incompatible hub: {0}")]
    Incompatible(String),
    /// The reply was not what protocol v1 promises.
    #[error("malformed hub reply: {0}")]
    Protocol(String),
    /// The device token file could not be read.
    #[error("device token: {0}")]
    Token(String),
    /// The device's own database failed (a full disk, another process holding it, …: the
    /// source says which).
    #[error("local database: {0}")]
    Database(#[source] std::sync::Arc<crate::replica::ReplicaError>),
    /// Something else on the device failed (a worker task, encoding a request).
    #[error("on the device: {0}")]
    Local(String),
}

impl From<crate::replica::ReplicaError> for SyncError {
    fn from(e: crate::replica::ReplicaError) -> Self {
        SyncError::Database(std::sync::Arc::new(e))
    }
}

impl SyncError {
    /// Worth retrying with backoff.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SyncError::Network(_)
                | SyncError::Unavailable { .. }
                | SyncError::Protocol(_)
                | SyncError::Redirect { .. }
                | SyncError::Link { .. }
        )
    }

    /// The link to the hub is down or broken (as opposed to the hub's own answer, or a local
    /// failure): after it the device greets the hub again before anything else.
    pub fn is_link_fault(&self) -> bool {
        self.is_transient() || matches!(self, SyncError::Certificate(_))
    }
}

/// A device token as a request can carry it: not empty, visible ASCII only (it goes in an
/// HTTP header). The error says what is wrong, never the token.
pub fn check_token(t: &str) -> Result<&str, &'static str> {
    if t.is_empty() {
        return Err("is empty; it must hold the device token from `portico hub add-device`");
    }
    if !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "holds spaces or characters a token cannot have (a token is one word of \
             visible ASCII); copy it again from `portico hub add-device`",
        );
    }
    Ok(t)
}

/// Text from a reply made safe to log and show: control characters and runs of white space
/// folded to one space, at most `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if out.chars().count() >= max {
            out.push('…');
            return out;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// A URL as it may be shown: any password replaced by `***`.
pub fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// URL-like text as it may be shown, whether or not it parses: everything between the start
/// of its authority (after an optional scheme and any slashes or backslashes, which URL
/// parsers accept) and the last `@` before any query or fragment is replaced by `***`. A path
/// with an `@` in it is hidden too; a password never shows.
pub fn redact_url_text(s: &str) -> String {
    let mut start = 0;
    if let Some(colon) = s.find(':') {
        let scheme = &s[..colon];
        let is_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
        if is_scheme {
            start = colon + 1;
        }
    }
    let rest = &s[start..];
    let authority = start + (rest.len() - rest.trim_start_matches(['/', '\\']).len());
    let before_query = s[authority..]
        .find(['?', '#'])
        .map_or(s.len(), |i| authority + i);
    match s[authority..before_query].rfind('@') {
        Some(at) => format!("{}***{}", &s[..authority], &s[authority + at..]),
        None => s.to_owned(),
    }
}

/// An error and its sources in one line, each said once.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !chain.iter().any(|c: &String| c.contains(&text)) {
            chain.push(text);
        }
        source = s.source();
    }
    chain.join(": ")
}

fn classify(e: reqwest::Error) -> SyncError {
    let text = error_chain(&e);
    let lowered = text.to_lowercase();
    if lowered.contains("certificate") || lowered.contains("does not match the configured pin") {
        SyncError::Certificate(format!(
            "{text} (the hub's certificate must be signed by the CA in upstream.ca_cert, and \
             match upstream.spki_pin when set)"
        ))
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
            // Every request goes to the configured origin: a 3xx is a link error
            // ([`SyncError::Redirect`]), never followed, whatever its `Location`.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .build()
            .map_err(|e| SyncError::Network(format!("HTTP client setup: {e}")))?;
        Ok(Self {
            http,
            base: cfg.url.clone(),
            token_file: cfg.token_file.clone(),
        })
    }

    /// Read at every request, so a replaced token takes effect without a restart.
    pub fn token(&self) -> Result<String, SyncError> {
        let t = std::fs::read_to_string(&self.token_file)
            .map_err(|e| SyncError::Token(format!("{}: {e}", self.token_file.display())))?;
        check_token(t.trim())
            .map(str::to_owned)
            .map_err(|why| SyncError::Token(format!("{} {why}", self.token_file.display())))
    }

    /// `path` under the configured URL; never another origin (scheme, host or port).
    fn url(&self, path: &str) -> Result<reqwest::Url, SyncError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| SyncError::Protocol(format!("bad URL {path}: {e}")))?;
        if url.origin() != self.base.origin() || url.scheme() != "https" {
            return Err(SyncError::Protocol(format!(
                "{path} would leave the configured hub {}",
                redacted(&self.base)
            )));
        }
        Ok(url)
    }

    /// Sends a request and reads its reply, at most `cap` bytes of body (reading stops as soon
    /// as a reply passes it, so a hostile reply costs no more memory than the cap).
    async fn send(&self, req: reqwest::RequestBuilder, cap: usize) -> Result<Vec<u8>, SyncError> {
        let mut resp = req
            .bearer_auth(self.token()?)
            .send()
            .await
            .map_err(classify)?;
        let status = resp.status();
        let code = status.as_u16();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| {
                    let raw = String::from_utf8_lossy(v.as_bytes());
                    printable(&redact_url_text(&raw), 200)
                })
                .unwrap_or_else(|| "(no Location)".to_owned());
            return Err(SyncError::Redirect {
                status: code,
                location,
            });
        }
        let from_hub = resp.headers().contains_key(PROTOCOL_HEADER);
        if status.is_success() && !from_hub {
            return Err(SyncError::Link {
                status: code,
                detail: format!(
                    "a success reply without the hub's {PROTOCOL_HEADER} header (a proxy or \
                     another server answered); nothing in it was used"
                ),
            });
        }
        if let Some(len) = resp.content_length()
            && len > cap as u64
        {
            return Err(SyncError::Protocol(format!(
                "reply of {len} bytes is over the {} limit",
                size(cap)
            )));
        }
        let mut body = Vec::with_capacity(
            resp.content_length()
                .map_or(64 * 1024, |n| n as usize)
                .min(cap),
        );
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > cap {
                return Err(SyncError::Protocol(format!(
                    "reply over the {} limit; refused while it was still arriving",
                    size(cap)
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(body);
        }
        let hub_error = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .filter(|_| from_hub);
        let Some(error) = hub_error else {
            let detail = match printable(&String::from_utf8_lossy(&body), 120) {
                t if t.is_empty() => "an empty reply".to_owned(),
                t => format!("\"{t}\""),
            };
            return Err(match status {
                StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                    SyncError::Unavailable {
                        status: code,
                        message: detail,
                    }
                }
                s if s.is_server_error() => SyncError::Unavailable {
                    status: code,
                    message: detail,
                },
                _ => SyncError::Link {
                    status: code,
                    detail,
                },
            });
        };
        let message = printable(&format!("{}: {}", error.error, error.message), 300);
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

    /// Decodes the reply to `what` (`hello`, `upload`, …).
    fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, SyncError> {
        serde_json::from_slice(body).map_err(|e| {
            let looks = if body.trim_ascii_start().starts_with(b"<") {
                " (an HTML page, not the hub's JSON)"
            } else {
                ""
            };
            SyncError::Protocol(format!("{what} reply{looks}: {e}"))
        })
    }

    /// `GET /v1/hello`: the hub's protocol version, checked before the rest of the reply is
    /// read (a hub of another version may shape it differently).
    pub async fn hello(&self) -> Result<Hello, SyncError> {
        #[derive(serde::Deserialize)]
        struct Version {
            protocol: u64,
        }
        let body = self
            .send(self.http.get(self.url("v1/hello")?), MAX_REPLY_BYTES)
            .await?;
        let version: Version = Self::decode("hello", &body)?;
        if version.protocol != u64::from(crate::protocol::PROTOCOL_VERSION) {
            return Err(SyncError::Incompatible(format!(
                "the hub speaks protocol {}, this device protocol {}; update the {} to match",
                version.protocol,
                crate::protocol::PROTOCOL_VERSION,
                if version.protocol > u64::from(crate::protocol::PROTOCOL_VERSION) {
                    "device"
                } else {
                    "hub"
                }
            )));
        }
        let mut hello: Hello = Self::decode("hello", &body)?;
        hello.hub_id = printable(&hello.hub_id, 64);
        hello.device_id = printable(&hello.device_id, 64);
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
        self.send(self.http.get(url), MAX_FEED_BYTES).await
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
                MAX_REPLY_BYTES,
            )
            .await?;
        let mut resp: UploadResponse = Self::decode("upload", &reply)?;
        for r in &mut resp.results {
            r.reason = r.reason.as_deref().map(|why| printable(why, 300));
        }
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
                MAX_REPLY_BYTES,
            )
            .await?;
        Self::decode(path, &reply)
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

    /// Asks the hub for `req.seats` more seats of a slot. The hub grants what it can (maybe
    /// none) and answers with the device's whole lease of the slot; the same request id sent
    /// again gets the same answer. An unknown slot is [`SyncError::Rejected`] with HTTP 404.
    pub async fn lease_request(
        &self,
        req: &crate::protocol::LeaseRequest,
    ) -> Result<crate::protocol::LeaseReply, SyncError> {
        self.post_json("v1/leases/request", req).await
    }

    /// Gives back `req.seats` unsold seats of a slot.
    pub async fn lease_return(
        &self,
        req: &crate::protocol::LeaseRequest,
    ) -> Result<crate::protocol::LeaseReply, SyncError> {
        self.post_json("v1/leases/return", req).await
    }

    /// Registers the kiosk's ticket-signing public key (base64); the hub answers its key id,
    /// the same for the same key every time.
    pub async fn register_signing_key(
        &self,
        public_key: &str,
    ) -> Result<crate::protocol::RegisterKeyReply, SyncError> {
        let req = crate::protocol::RegisterKeyRequest {
            public_key: public_key.to_owned(),
        };
        self.post_json("v1/signing-keys", &req).await
    }

    /// Tells the hub how this device is (`portico hub devices`).
    pub async fn device_report(
        &self,
        report: &crate::protocol::DeviceReport,
    ) -> Result<crate::protocol::DeviceReportReply, SyncError> {
        self.post_json("v1/device-report", report).await
    }

    /// Every lease the hub counts for this device.
    pub async fn leases(&self) -> Result<crate::protocol::LeasesDto, SyncError> {
        let body = self
            .send(self.http.get(self.url("v1/leases")?), MAX_REPLY_BYTES)
            .await?;
        Self::decode("leases", &body)
    }
}

/// A byte count as a technician reads it (`64 MiB`).
fn size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{} KiB", bytes / 1024)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows_in_url_text_whatever_its_form() {
        let cases = [
            (
                "https://admin:hunter2@hub.example/x",
                "https://***@hub.example/x",
            ),
            ("//admin:hunter2@evil.example/x", "//***@evil.example/x"),
            (
                "https:admin:hunter2@evil.example:99999/",
                "https:***@evil.example:99999/",
            ),
            (
                "https:\\\\admin:s3cret@hub:99999",
                "https:\\\\***@hub:99999",
            ),
            ("https://admin:s3/cret@hub:99999/", "https://***@hub:99999/"),
            (
                "https://hub.example:8443/v1?x=a@b",
                "https://hub.example:8443/v1?x=a@b",
            ),
            ("https://hub.example:8443/", "https://hub.example:8443/"),
            ("admin:hunter2@hub", "admin:***@hub"),
        ];
        for (text, shown) in cases {
            assert_eq!(redact_url_text(text), shown, "{text}");
            assert!(!redact_url_text(text).contains("hunter2"));
        }
    }

    #[test]
    fn reply_text_is_folded_to_one_short_line() {
        assert_eq!(
            printable("a\u{1b}[2J\nhub link    online\u{7}", 100),
            "a [2J hub link online"
        );
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
