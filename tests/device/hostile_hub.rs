//! A hub (or something in front of it) that answers with garbage, redirects, error pages of its
//! own or another protocol: every reply gives a clear error, leaves the replica as it was,
//! marks nothing delivered and dead-letters nothing; never a panic.

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portico::clock::ManualClock;
use portico::outbox;
use portico::sync::SyncError;
use portico::sync::client::PROTOCOL_HEADER;

/// A hostile server on loopback TLS with a certificate its own CA signed (the device trusts
/// that CA, as it would a real hub's).
async fn serve(app: Router) -> (tempfile::TempDir, portico::hub::server::TlsServer) {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, cert, key) = common::write_pki(dir.path(), "Hostile CA");
    let tls = portico::tls::server_config(&cert, &key).unwrap();
    let server = portico::hub::server::serve_tls(SocketAddr::from(([127, 0, 0, 1], 0)), tls, app)
        .await
        .unwrap();
    (dir, server)
}

/// What a hub says: its protocol header on every reply.
fn from_hub(status: u16, body: impl Into<String>) -> Response {
    let mut r = (StatusCode::from_u16(status).unwrap(), body.into()).into_response();
    r.headers_mut()
        .insert(PROTOCOL_HEADER, HeaderValue::from_static("1"));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

const DEVICE: &str = "g";

fn hello_of(protocol: u32, device: &str) -> String {
    format!(
        r#"{{"protocol":{protocol},"server_time":"2026-11-01T09:00:00Z","hub_id":"hostile-hub","device_id":"{device}"}}"#
    )
}

/// A router whose hello is a proper protocol-1 hub's, counting hellos in `hellos`.
fn greeting(hellos: Arc<AtomicUsize>) -> Router {
    Router::new().route(
        "/v1/hello",
        get(move || {
            let hellos = hellos.clone();
            async move {
                hellos.fetch_add(1, Ordering::SeqCst);
                from_hub(200, hello_of(1, DEVICE))
            }
        }),
    )
}

fn device_for(dir: &std::path::Path, port: u16) -> portico::device::Device {
    device_with_clock(dir, port, Arc::new(ManualClock::new(common::start_time())))
}

fn device_with_clock(
    dir: &std::path::Path,
    port: u16,
    clock: Arc<ManualClock>,
) -> portico::device::Device {
    portico::hub::write_private(&dir.join("device.token"), b"t0ken").unwrap();
    let text = format!(
        "[device]\nid = \"{DEVICE}\"\nroles = [\"gate\"]\ndata_dir = \"data\"\n[upstream]\nurl = \"https://localhost:{port}\"\nca_cert = \"ca.pem\"\ntoken_file = \"device.token\"\n[gate]\n"
    );
    std::fs::write(dir.join("d.toml"), text).unwrap();
    let cfg = portico::config::load(&dir.join("d.toml")).unwrap();
    portico::device::Device::open(cfg, clock).unwrap()
}

fn products(device: &portico::device::Device) -> u64 {
    let db = device.engine.database();
    let conn = db.lock().unwrap();
    portico::replica::counts(&conn).unwrap().products
}

/// A valid catalog page with one product: what an attacker on the redirect's far side serves.
const INJECTED_PAGE: &str = r#"{"resource":"catalog","changes":[{"op":"upsert","key":"EVIL","data":{"product_id":"EVIL","name":"Free entry","kind":"ticket","currency":"USD","member_price":0,"non_member_price":0,"active":true}}],"next_cursor":"999","has_more":false}"#;

/// A plain-HTTP server that would serve the injected page and accept any upload; counts the
/// connections it gets (the device must make none).
async fn plain_http_trap() -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{PROTOCOL_HEADER}: 1\r\ncontent-length: {}\r\n\r\n{INJECTED_PAGE}",
                INJECTED_PAGE.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    (addr, hits)
}

fn enqueue_rows(device: &portico::device::Device, n: usize) {
    device
        .store
        .write(move |tx| {
            for i in 0..n {
                outbox::enqueue_raw(
                    tx,
                    outbox::kinds::SCAN,
                    &serde_json::json!({"credential": format!("M{i}")}),
                    0,
                )?;
            }
            Ok(())
        })
        .unwrap();
}

fn outbox_rows(device: &portico::device::Device) -> Vec<outbox::ListedRow> {
    let db = device.engine.database();
    let conn = db.lock().unwrap();
    outbox::list(&conn, outbox::Listing::All, 100).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_replies_are_clear_errors() {
    type Case = (&'static str, u16, fn(&SyncError) -> bool);
    let cases: &[Case] = &[
        ("not json at all", 200, |e| {
            matches!(e, SyncError::Protocol(_))
        }),
        (
            "{\"resource\":\"tickets\",\"changes\":[],\"next_cursor\":\"1\",\"has_more\":false}",
            200,
            |e| matches!(e, SyncError::Protocol(_)),
        ),
        (
            "{\"resource\":\"catalog\",\"changes\":[],\"next_cursor\":\"1\",\"has_more\":true}",
            200,
            |e| matches!(e, SyncError::Protocol(_)),
        ),
        (
            "{\"resource\":\"catalog\",\"changes\":[{\"op\":\"upsert\",\"key\":\"x\",\"data\":{\"price\":\"free\"}}],\"next_cursor\":\"1\",\"has_more\":false}",
            200,
            |e| matches!(e, SyncError::Protocol(_)),
        ),
        ("\u{0}\u{1}\u{2}", 200, |e| {
            matches!(e, SyncError::Protocol(_))
        }),
        ("oops", 500, |e| {
            matches!(e, SyncError::Unavailable { status: 500, .. })
        }),
        ("slow down", 429, |e| {
            matches!(e, SyncError::Unavailable { status: 429, .. })
        }),
        ("{\"error\":\"bad_cursor\",\"message\":\"no\"}", 400, |e| {
            matches!(e, SyncError::Rejected { status: 400, .. })
        }),
    ];
    for (body, status, check) in cases {
        let (body, status) = (*body, *status);
        let app = greeting(Arc::default()).route(
            "/v1/feed/{r}",
            get(move || async move { from_hub(status, body) }),
        );
        let (dir, server) = serve(app).await;
        let device = device_for(dir.path(), server.addr.port());
        let err = device.engine.pull_all(None).await.unwrap_err();
        assert!(check(&err), "body {body:?} status {status}: {err:?}");
        assert_eq!(products(&device), 0);
        let _ = server.shutdown.send(true);
    }
}

/// A 3xx from the hub (or a proxy in front of it) is a link error naming the status and the
/// `Location`: followed never, whether to plain HTTP or to another https origin; nothing
/// applied, nothing marked delivered, and the status says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_refused_and_nothing_is_applied_or_delivered() {
    let (trap, trap_hits) = plain_http_trap().await;
    // Another https origin that the device's CA would even accept: a real-looking hub.
    let other_hits = Arc::new(AtomicUsize::new(0));
    let other = {
        let hits = other_hits.clone();
        let hits2 = other_hits.clone();
        let app = Router::new()
            .route(
                "/{*path}",
                get(move || {
                    let hits = hits.clone();
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        from_hub(200, INJECTED_PAGE)
                    }
                }),
            )
            .route(
                "/v1/outbox",
                post(move || {
                    let hits = hits2.clone();
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        from_hub(200, "{\"results\":[]}")
                    }
                }),
            );
        serve(app).await
    };
    let other_port = other.1.addr.port();
    // 301 and 308 too: a redirect the issue did not name is refused the same way.
    for status in [302u16, 307, 301, 308] {
        for target in [
            format!("http://{trap}/v1/feed/catalog"),
            format!("https://localhost:{other_port}/v1/feed/catalog"),
            format!("https://user:pa55word@localhost:{other_port}/v1/outbox"),
            // Forms a URL parser takes that do not start with `scheme://`.
            format!("//user:pa55word@localhost:{other_port}/v1/outbox"),
            format!("https:user:pa55word@localhost:{other_port}/v1/outbox"),
        ] {
            let location = target.clone();
            let redirect = move || {
                let location = location.clone();
                async move {
                    let mut r = from_hub(status, "");
                    r.headers_mut()
                        .insert(header::LOCATION, HeaderValue::from_str(&location).unwrap());
                    r
                }
            };
            let app = greeting(Arc::default())
                .route("/v1/feed/{r}", get(redirect.clone()))
                .route("/v1/outbox", post(redirect));
            let (dir, server) = serve(app).await;
            // The other hub's CA is not this device's: give it the same trust anyway, so only
            // the no-redirect rule stands between the device and it.
            std::fs::copy(
                other.0.path().join("ca.pem"),
                dir.path().join("other-ca.pem"),
            )
            .unwrap();
            let both = format!(
                "{}{}",
                std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(),
                std::fs::read_to_string(dir.path().join("other-ca.pem")).unwrap()
            );
            std::fs::write(dir.path().join("ca.pem"), both).unwrap();
            let device = device_for(dir.path(), server.addr.port());
            let case = format!("{status} to {target}");

            let err = device.engine.pull_all(None).await.unwrap_err();
            match &err {
                SyncError::Redirect {
                    status: s,
                    location,
                } => {
                    assert_eq!(*s, status, "{case}");
                    let shown = target.replace("user:pa55word@", "***@");
                    assert!(location.contains(&shown), "{case}: {location}");
                    assert!(!location.contains("pa55word"), "{case}: {location}");
                }
                other => panic!("{case}: {other:?}"),
            }
            assert!(err.is_transient(), "{case}: a link fault, retried");
            assert_eq!(products(&device), 0, "{case}: nothing applied");

            enqueue_rows(&device, 3);
            let err = device.engine.push_once().await.unwrap_err();
            assert!(matches!(err, SyncError::Redirect { .. }), "{case}: {err:?}");
            for row in outbox_rows(&device) {
                assert_eq!(row.state, "pending", "{case}: {row:?}");
                assert_eq!(row.attempts, 1, "{case}: retried with backoff");
                assert!(row.next_attempt_at_ms > 0, "{case}: {row:?}");
            }

            let link = device.engine.link_status();
            assert!(!link.online, "{case}");
            let reason = link.last_error.clone().unwrap_or_default();
            assert!(
                reason.contains(&format!("HTTP {status}")) && reason.contains("redirect to"),
                "{case}: {reason}"
            );
            let report = {
                let db = device.engine.database();
                let conn = db.lock().unwrap();
                portico::status::report(
                    &conn,
                    DEVICE,
                    vec!["gate".into()],
                    link,
                    common::start_time(),
                )
                .unwrap()
            };
            let text = portico::status::render(&report);
            assert!(text.contains("hub link    FAILING"), "{case}: {text}");
            assert!(
                text.contains(&format!("HTTP {status} redirect")),
                "{case}: {text}"
            );
            let _ = server.shutdown.send(true);
        }
    }
    assert_eq!(trap_hits.load(Ordering::SeqCst), 0, "no plain-HTTP request");
    assert_eq!(
        other_hits.load(Ordering::SeqCst),
        0,
        "no request to another origin"
    );
}

/// Only the hub can dead-letter a row: an error page from a proxy (no protocol header, or no
/// protocol error body) is a link fault, and the rows stay pending and are retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_pages_that_are_not_the_hubs_keep_rows_pending_and_retried() {
    type Reply = fn() -> Response;
    let cases: &[(&str, Reply, u16)] = &[
        (
            "a proxy's HTML 404",
            || {
                (
                    StatusCode::NOT_FOUND,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><body><h1>404 Not Found</h1>\n<hr>nginx</body></html>",
                )
                    .into_response()
            },
            404,
        ),
        (
            "a gateway's JSON 400 without the hub's header",
            || {
                (
                    StatusCode::BAD_REQUEST,
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"error\":\"bad_request\",\"message\":\"blocked by policy\"}",
                )
                    .into_response()
            },
            400,
        ),
        (
            "a hub-marked 403 that is not a protocol error",
            || {
                let mut r = from_hub(403, "<html>Forbidden</html>");
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                r
            },
            403,
        ),
        ("an empty 410", || StatusCode::GONE.into_response(), 410),
    ];
    for (what, reply, status) in cases {
        let reply = *reply;
        let app =
            greeting(Arc::default()).route("/v1/outbox", post(move || async move { reply() }));
        let (dir, server) = serve(app).await;
        let clock = Arc::new(ManualClock::new(common::start_time()));
        let device = device_with_clock(dir.path(), server.addr.port(), clock.clone());
        enqueue_rows(&device, 4);
        for attempt in 1..=3u32 {
            let err = device.engine.push_once().await.unwrap_err();
            assert!(
                matches!(&err, SyncError::Link { status: s, .. } if s == status),
                "{what}: {err:?}"
            );
            for row in outbox_rows(&device) {
                assert_eq!(row.state, "pending", "{what}: never dead-lettered");
                assert_eq!(row.attempts, attempt, "{what}");
            }
            let link = device.engine.link_status();
            assert!(!link.online, "{what}: the link shows as failing");
            assert!(
                link.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains(&format!("HTTP {status}"))),
                "{what}: {link:?}"
            );
            // Past the backoff, the rows are due again.
            clock.advance(chrono::Duration::minutes(10));
        }
        let _ = server.shutdown.send(true);
    }
}

/// A hub of another protocol version is refused: nothing pulled, nothing sent, and the status
/// says what to do. So is a token the hub knows as another device's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_of_another_protocol_is_refused_and_the_status_says_so() {
    let cases = [
        (hello_of(2, DEVICE), "protocol 2", "update the device"),
        (hello_of(1, "gate-9"), "\"gate-9\"", "install the token"),
    ];
    for (hello, words, advice) in cases {
        let feeds = Arc::new(AtomicUsize::new(0));
        let uploads = Arc::new(AtomicUsize::new(0));
        let (f, u) = (feeds.clone(), uploads.clone());
        let app = Router::new()
            .route(
                "/v1/hello",
                get(move || {
                    let hello = hello.clone();
                    async move { from_hub(200, hello) }
                }),
            )
            .route(
                "/v1/feed/{r}",
                get(move || {
                    f.fetch_add(1, Ordering::SeqCst);
                    async { from_hub(200, INJECTED_PAGE) }
                }),
            )
            .route(
                "/v1/outbox",
                post(move || {
                    u.fetch_add(1, Ordering::SeqCst);
                    async { from_hub(200, "{\"results\":[]}") }
                }),
            );
        let (dir, server) = serve(app).await;
        let device = device_for(dir.path(), server.addr.port());
        let err = device.engine.pull_all(None).await.unwrap_err();
        assert!(matches!(err, SyncError::Incompatible(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(words) && text.contains(advice), "{text}");
        enqueue_rows(&device, 2);
        let err = device.engine.push_once().await.unwrap_err();
        assert!(matches!(err, SyncError::Incompatible(_)), "{err:?}");
        assert_eq!(feeds.load(Ordering::SeqCst), 0, "no feed asked for");
        assert_eq!(uploads.load(Ordering::SeqCst), 0, "nothing sent");
        assert!(
            outbox_rows(&device)
                .iter()
                .all(|r| r.attempts == 0 && r.state == "pending")
        );
        let link = device.engine.link_status();
        assert!(link.incompatible, "{link:?}");
        let report = {
            let db = device.engine.database();
            let conn = db.lock().unwrap();
            portico::status::report(
                &conn,
                DEVICE,
                vec!["gate".into()],
                link,
                common::start_time(),
            )
            .unwrap()
        };
        let shown = portico::status::render(&report);
        assert!(shown.contains("hub link    INCOMPATIBLE"), "{shown}");
        assert!(shown.contains(words), "{shown}");
        let _ = server.shutdown.send(true);
    }
}

/// The device greets the hub when it starts and again after every link fault, before anything
/// else; not before every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_says_hello_at_start_and_after_the_link_comes_back() {
    let hellos = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fail = failing.clone();
    let app = greeting(hellos.clone()).route(
        "/v1/feed/{r}",
        get(move |axum::extract::Path(r): axum::extract::Path<String>| {
            let fail = fail.load(Ordering::SeqCst);
            async move {
                if fail {
                    return from_hub(503, "{\"error\":\"down\",\"message\":\"maintenance\"}");
                }
                from_hub(
                    200,
                    format!(
                        "{{\"resource\":\"{r}\",\"changes\":[],\"next_cursor\":\"0\",\"has_more\":false}}"
                    ),
                )
            }
        }),
    );
    let (dir, server) = serve(app).await;
    let device = device_for(dir.path(), server.addr.port());
    device.engine.pull_all(None).await.unwrap();
    assert_eq!(
        hellos.load(Ordering::SeqCst),
        1,
        "hello when the device starts"
    );
    device.engine.pull_all(None).await.unwrap();
    assert_eq!(
        hellos.load(Ordering::SeqCst),
        1,
        "not again while the link holds"
    );
    failing.store(true, Ordering::SeqCst);
    assert!(device.engine.pull_all(None).await.is_err());
    failing.store(false, Ordering::SeqCst);
    device.engine.pull_all(None).await.unwrap();
    assert_eq!(
        hellos.load(Ordering::SeqCst),
        2,
        "hello again once the link is back"
    );
    assert_eq!(
        device.engine.link_status().hub_id.as_deref(),
        Some("hostile-hub")
    );
    let _ = server.shutdown.send(true);
}

/// More hostile replies of the same kinds: a feed that never ends, a count that overflows,
/// text that would forge lines on a technician's terminal, a success reply that is not the
/// hub's, a hello the hub refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_hostile_replies_are_refused_the_same_way() {
    // A feed whose cursor never moves, announcing more each time: refused, not looped on.
    let feeds = Arc::new(AtomicUsize::new(0));
    let counter = feeds.clone();
    let app = greeting(Arc::default()).route(
        "/v1/feed/{r}",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                from_hub(
                    200,
                    INJECTED_PAGE.replace(
                        "\"has_more\":false",
                        "\"has_more\":true,\"remaining\":18446744073709551615",
                    ),
                )
            }
        }),
    );
    let (dir, server) = serve(app).await;
    let device = device_for(dir.path(), server.addr.port());
    let err = device.engine.pull_all(None).await.unwrap_err();
    assert!(
        matches!(&err, SyncError::Protocol(m) if m.contains("again")),
        "{err:?}"
    );
    assert!(feeds.load(Ordering::SeqCst) <= 3, "stopped at once");
    let _ = server.shutdown.send(true);

    // Control characters and forged lines from the hub never reach the status or the logs.
    let forged = "evil\u{1b}[2J\u{1b}[31m\nhub link    online\u{7}";
    let as_json = serde_json::to_string(forged).unwrap();
    let hello = hello_of(1, DEVICE).replace("hostile-hub", as_json.trim_matches('"'));
    let app = Router::new()
        .route(
            "/v1/hello",
            get(move || {
                let hello = hello.clone();
                async move { from_hub(200, hello) }
            }),
        )
        .route(
            "/v1/outbox",
            post(|body: String| async move {
                let batch: serde_json::Value = serde_json::from_str(&body).unwrap();
                let results: Vec<_> = batch["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "idempotency_key": r["idempotency_key"],
                            "status": "rejected",
                            "reason": "bad\u{1b}[31m\nFAKE LINE\r\u{1b}[2K"
                        })
                    })
                    .collect();
                from_hub(200, serde_json::json!({ "results": results }).to_string())
            }),
        );
    let (dir, server) = serve(app).await;
    let device = device_for(dir.path(), server.addr.port());
    enqueue_rows(&device, 1);
    let report = device.engine.push_once().await.unwrap();
    assert_eq!(report.dead, 1, "the hub's own per-row refusal dead-letters");
    let hub_id = device.engine.link_status().hub_id.unwrap();
    assert!(!hub_id.chars().any(char::is_control), "{hub_id:?}");
    let reason = outbox_rows(&device)[0].dead_reason.clone().unwrap();
    assert!(!reason.chars().any(char::is_control), "{reason:?}");
    let _ = server.shutdown.send(true);

    // A success reply without the hub's header: not the hub's word, so nothing is taken
    // from it (here: rows it calls rejected stay pending).
    let app = greeting(Arc::default()).route(
        "/v1/outbox",
        post(|| async {
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"results\":[]}",
            )
                .into_response()
        }),
    );
    let (dir, server) = serve(app).await;
    let device = device_for(dir.path(), server.addr.port());
    enqueue_rows(&device, 2);
    let err = device.engine.push_once().await.unwrap_err();
    assert!(
        matches!(err, SyncError::Link { status: 200, .. }),
        "{err:?}"
    );
    assert!(outbox_rows(&device).iter().all(|r| r.state == "pending"));
    let _ = server.shutdown.send(true);

    // The hub refuses the hello itself: the link is not "online" while nothing syncs.
    let app = Router::new().route(
        "/v1/hello",
        get(|| async { from_hub(404, "{\"error\":\"not_found\",\"message\":\"no\"}") }),
    );
    let (dir, server) = serve(app).await;
    let device = device_for(dir.path(), server.addr.port());
    assert!(device.engine.pull_all(None).await.is_err());
    assert!(!device.engine.link_status().online);
    let _ = server.shutdown.send(true);
}

/// A token replaced while the device runs is checked with the hub before it is used: the
/// device greets the hub again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_is_checked_with_a_hello_before_it_is_used() {
    let hellos = Arc::new(AtomicUsize::new(0));
    let app = greeting(hellos.clone()).route(
        "/v1/feed/{r}",
        get(|axum::extract::Path(r): axum::extract::Path<String>| async move {
            from_hub(
                200,
                format!("{{\"resource\":\"{r}\",\"changes\":[],\"next_cursor\":\"0\",\"has_more\":false}}"),
            )
        }),
    );
    let (dir, server) = serve(app).await;
    let device = device_for(dir.path(), server.addr.port());
    device.engine.pull_all(None).await.unwrap();
    device.engine.pull_all(None).await.unwrap();
    assert_eq!(hellos.load(Ordering::SeqCst), 1);
    portico::hub::write_private(&dir.path().join("device.token"), b"an0ther-t0ken").unwrap();
    device.engine.pull_all(None).await.unwrap();
    assert_eq!(
        hellos.load(Ordering::SeqCst),
        2,
        "greeted again with the new token"
    );
    let _ = server.shutdown.send(true);
}
