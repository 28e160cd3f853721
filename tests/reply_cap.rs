//! A hub reply far over the size cap, streamed in chunks with no length announced, is refused
//! while it arrives: the device's memory grows by no more than the cap and a few MiB. This is
//! the only test in its binary, so the process's own high-water mark (`VmHWM`) measures it
//! alone.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use portico::clock::ManualClock;
use portico::sync::SyncError;
use portico::sync::client::{MAX_FEED_BYTES, PROTOCOL_HEADER};

/// This process's peak resident memory, in bytes.
fn high_water_mark() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

const REPLY_BYTES: usize = 300 * 1000 * 1000;
const CHUNK: usize = 64 * 1024;

/// 300 MB of one JSON string, made a chunk at a time (the server holds one chunk).
fn huge_reply() -> Response {
    let chunk = Bytes::from(vec![b'a'; CHUNK]);
    let head = Bytes::from_static(b"{\"resource\":\"catalog\",\"changes\":[],\"next_cursor\":\"");
    let chunks = std::iter::once(head)
        .chain(std::iter::repeat_n(chunk, REPLY_BYTES / CHUNK))
        .map(Ok::<_, std::io::Error>);
    let stream = futures_util_stream(chunks);
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert(PROTOCOL_HEADER, HeaderValue::from_static("1"));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An iterator as a stream (each item ready at once).
fn futures_util_stream<I: Iterator + Send + Unpin>(
    items: I,
) -> impl futures_core::Stream<Item = I::Item> + Send {
    struct Iter<I>(I);
    impl<I: Iterator + Unpin> futures_core::Stream for Iter<I> {
        type Item = I::Item;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<I::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_reply_over_the_cap_is_refused_with_memory_bounded_by_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, cert, key) = common::write_pki(dir.path(), "Hostile CA");
    let app = Router::new()
        .route(
            "/v1/hello",
            get(|| async {
                let mut r = Response::new(Body::from(
                    r#"{"protocol":1,"server_time":"2026-11-01T09:00:00Z","hub_id":"h","device_id":"g"}"#,
                ));
                r.headers_mut()
                    .insert(PROTOCOL_HEADER, HeaderValue::from_static("1"));
                r
            }),
        )
        .route("/v1/feed/{r}", get(|| async { huge_reply() }));
    let tls = portico::tls::server_config(&cert, &key).unwrap();
    let server = portico::hub::server::serve_tls(SocketAddr::from(([127, 0, 0, 1], 0)), tls, app)
        .await
        .unwrap();
    portico::hub::write_private(&dir.path().join("device.token"), b"t0ken").unwrap();
    let text = format!(
        "[device]\nid = \"g\"\nroles = [\"gate\"]\ndata_dir = \"data\"\n[upstream]\nurl = \"https://localhost:{}\"\nca_cert = \"ca.pem\"\ntoken_file = \"device.token\"\n[gate]\n",
        server.addr.port()
    );
    std::fs::write(dir.path().join("d.toml"), text).unwrap();
    let cfg = portico::config::load(&dir.path().join("d.toml")).unwrap();
    let device =
        portico::device::Device::open(cfg, Arc::new(ManualClock::new(common::start_time())))
            .unwrap();

    let before = high_water_mark();
    let err = device.engine.pull_all(None).await.unwrap_err();
    let grew = high_water_mark().saturating_sub(before);
    assert!(
        matches!(&err, SyncError::Protocol(m) if m.contains("limit")),
        "{err:?}"
    );
    let allowed = MAX_FEED_BYTES as u64 + 8 * 1024 * 1024;
    assert!(
        grew <= allowed,
        "peak memory grew by {} MiB reading a {} MB reply; the cap is {} MiB",
        grew / (1024 * 1024),
        REPLY_BYTES / 1_000_000,
        MAX_FEED_BYTES / (1024 * 1024)
    );
    assert!(
        grew >= (MAX_FEED_BYTES as u64) / 2,
        "the reply was read up to the cap ({} MiB grown): the measurement sees it",
        grew / (1024 * 1024)
    );
    let _ = server.shutdown.send(true);
}
