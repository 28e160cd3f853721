//! A hub that answers with garbage: every reply gives a clear error and leaves the replica as
//! it was, never a panic.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use portico::clock::ManualClock;
use portico::sync::SyncError;

async fn hostile(
    route_body: &'static str,
    status: u16,
) -> (tempfile::TempDir, portico::hub::server::TlsServer) {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, cert, key) = common::write_pki(dir.path(), "Hostile CA");
    let app = Router::new()
        .route(
            "/v1/hello",
            get(move || async move {
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    route_body,
                )
            }),
        )
        .route(
            "/v1/feed/{r}",
            get(move || async move {
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    route_body,
                )
            }),
        );
    let tls = portico::tls::server_config(&cert, &key).unwrap();
    let server = portico::hub::server::serve_tls(SocketAddr::from(([127, 0, 0, 1], 0)), tls, app)
        .await
        .unwrap();
    (dir, server)
}

fn device_for(dir: &std::path::Path, port: u16) -> portico::device::Device {
    std::fs::write(dir.join("device.token"), "t0ken").unwrap();
    let text = format!(
        "[device]\nid = \"g\"\nroles = [\"gate\"]\ndata_dir = \"data\"\n[upstream]\nurl = \"https://localhost:{port}\"\nca_cert = \"ca.pem\"\ntoken_file = \"device.token\"\n[gate]\n"
    );
    std::fs::write(dir.join("d.toml"), text).unwrap();
    let cfg = portico::config::load(&dir.join("d.toml")).unwrap();
    portico::device::Device::open(cfg, Arc::new(ManualClock::new(common::start_time()))).unwrap()
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
        let (dir, server) = hostile(body, *status).await;
        let device = device_for(dir.path(), server.addr.port());
        let err = device.engine.pull_all(None).await.unwrap_err();
        assert!(check(&err), "body {body:?} status {status}: {err:?}");
        let db = device.engine.database();
        assert_eq!(
            portico::replica::counts(&db.lock().unwrap())
                .unwrap()
                .products,
            0
        );
        let _ = server.shutdown.send(true);
    }
}
