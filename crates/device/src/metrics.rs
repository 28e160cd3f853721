//! The device's metrics in Prometheus' text format, on `device.metrics` (a local address):
//! scans by decision and reason, the hub link and sync lag, the upload queue and its dead
//! letters, and a kiosk's printer, card terminal and out-of-order state.
//!
//! Scans are counted as they are decided (since the daemon started: Prometheus reads a restart
//! as a counter reset); the rest is read from the device database and the sync engine when
//! Prometheus asks. The server answers `GET /metrics` and nothing else, in plain HTTP/1.1, one
//! request per connection.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::kiosk::out_of_order::OutOfOrder;
use crate::sync::SyncEngine;

/// Scans decided since start, by (decision, reason code).
static SCANS: Mutex<BTreeMap<(&'static str, String), u64>> = Mutex::new(BTreeMap::new());
/// The kiosk's health as its shell last judged it.
static KIOSK: Mutex<Option<KioskHealth>> = Mutex::new(None);

/// A kiosk's printer and terminal, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KioskHealth {
    /// `None` on a volunteer time clock, which sells nothing (no printer, no terminal).
    pub printer_ready: Option<bool>,
    pub terminal_reachable: Option<bool>,
    pub out_of_order: Option<OutOfOrder>,
}

/// Counts a decided scan.
pub fn scan(decision: &'static str, reason: &str) {
    *SCANS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry((decision, reason.to_owned()))
        .or_default() += 1;
}

/// The kiosk's health now.
pub fn kiosk(health: KioskHealth) {
    *KIOSK.lock().unwrap_or_else(|p| p.into_inner()) = Some(health);
}

/// The kiosk's health as last published, if this device runs a kiosk.
pub fn kiosk_health() -> Option<KioskHealth> {
    *KIOSK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Everything the metrics show at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub device_id: String,
    pub version: String,
    pub scans: BTreeMap<(&'static str, String), u64>,
    pub online: bool,
    pub last_pull: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    pub outbox_pending: u64,
    pub dead_letters: u64,
    pub kiosk: Option<KioskHealth>,
    /// Payments the card terminal would not give back, with no order (a kiosk's).
    pub payments_to_refund: u64,
}

/// A label value, escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The snapshot in Prometheus' text format (version 0.0.4).
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, lines: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in lines {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let b = |v: bool| if v { "1" } else { "0" }.to_owned();
    metric(
        "portico_build_info",
        "gauge",
        "The device and the firmware's version.",
        &[(
            format!(
                "{{device=\"{}\",version=\"{}\"}}",
                label(&s.device_id),
                label(&s.version)
            ),
            "1".into(),
        )],
    );
    metric(
        "portico_scans_total",
        "counter",
        "Scans decided since the daemon started, by decision and reason.",
        &s.scans
            .iter()
            .map(|((decision, reason), n)| {
                (
                    format!("{{decision=\"{decision}\",reason=\"{}\"}}", label(reason)),
                    n.to_string(),
                )
            })
            .collect::<Vec<_>>(),
    );
    metric(
        "portico_hub_online",
        "gauge",
        "Whether the hub answered the last attempt.",
        &[(String::new(), b(s.online))],
    );
    // No pull yet: no lag to give (the series is absent rather than a made-up number).
    let lag: Vec<(String, String)> = s
        .last_pull
        .map(|t| {
            (
                String::new(),
                format!(
                    "{:.3}",
                    (s.now - t).num_milliseconds().max(0) as f64 / 1000.
                ),
            )
        })
        .into_iter()
        .collect();
    metric(
        "portico_sync_lag_seconds",
        "gauge",
        "Seconds since the last complete pull from the hub.",
        &lag,
    );
    metric(
        "portico_outbox_depth",
        "gauge",
        "Uploads waiting for the hub.",
        &[(String::new(), s.outbox_pending.to_string())],
    );
    metric(
        "portico_dead_letters",
        "gauge",
        "Uploads the hub refused, kept for a technician.",
        &[(String::new(), s.dead_letters.to_string())],
    );
    if let Some(k) = s.kiosk {
        if let Some(ready) = k.printer_ready {
            metric(
                "portico_printer_ready",
                "gauge",
                "Whether the kiosk's printer can print.",
                &[(String::new(), b(ready))],
            );
        }
        if let Some(reachable) = k.terminal_reachable {
            metric(
                "portico_terminal_reachable",
                "gauge",
                "Whether the kiosk's card terminal answered its last check.",
                &[(String::new(), b(reachable))],
            );
        }
        metric(
            "portico_payments_to_refund",
            "gauge",
            "Payments the card terminal would not give back and no order was made of: refund them by hand (portico kiosk settle lists them).",
            &[(String::new(), s.payments_to_refund.to_string())],
        );
        metric(
            "portico_out_of_order",
            "gauge",
            "1 while the kiosk shows its out-of-order screen, with the code it shows.",
            &[(
                format!(
                    "{{code=\"{}\"}}",
                    k.out_of_order.map_or("", OutOfOrder::code)
                ),
                b(k.out_of_order.is_some()),
            )],
        );
    }
    out
}

/// The snapshot now, from the counters, the sync engine and the database.
pub async fn snapshot(engine: &Arc<SyncEngine>) -> Snapshot {
    let link = engine.link_status();
    let store = engine.store();
    let (stats, payments_to_refund) = tokio::task::spawn_blocking(move || {
        let Ok(c) = store.reader() else {
            return Default::default();
        };
        let to_refund = crate::kiosk::orders::refunds_waiting(&c).unwrap_or(0);
        (crate::outbox::stats(&c).unwrap_or_default(), to_refund)
    })
    .await
    .unwrap_or_default();
    Snapshot {
        device_id: engine.config().device_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        scans: SCANS.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        online: link.online,
        last_pull: link.last_pull_ok,
        now: engine.now(),
        outbox_pending: stats.pending,
        dead_letters: stats.dead,
        kiosk: kiosk_health(),
        payments_to_refund,
    }
}

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, engine: Arc<SyncEngine>) {
    loop {
        let (mut conn, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "metrics connection not accepted");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let reply = match read_request_line(&mut conn).await {
                Some(line) if is_metrics_get(&line) => {
                    let body = render(&snapshot(&engine).await);
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; \
                         charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                }
                Some(_) => {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                }
                None => {
                    tracing::debug!(%peer, "metrics request unreadable");
                    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                }
            };
            let _ = conn.write_all(reply.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

/// Whether a request line asks for the metrics.
fn is_metrics_get(line: &str) -> bool {
    let mut parts = line.split(' ');
    parts.next() == Some("GET")
        && parts
            .next()
            .is_some_and(|p| p == "/metrics" || p.starts_with("/metrics?"))
}

/// The request's first line, once its head has arrived (at most 8 KiB, within 5 s).
async fn read_request_line(conn: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.ok()?;
            if n == 0 || head.len() + n > 8192 {
                return None;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Some(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .ok()??;
    let text = String::from_utf8_lossy(&head);
    text.lines().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_metrics_read_as_prometheus_text() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
        let mut scans = BTreeMap::new();
        scans.insert(("admit", "valid_ticket".to_owned()), 41);
        scans.insert(("deny", "already \"used\"".to_owned()), 2);
        let s = Snapshot {
            device_id: "kiosk-1".into(),
            version: "0.1.0".into(),
            scans,
            online: false,
            last_pull: Some(now - chrono::TimeDelta::milliseconds(90_500)),
            now,
            outbox_pending: 7,
            dead_letters: 1,
            payments_to_refund: 1,
            kiosk: Some(KioskHealth {
                printer_ready: Some(false),
                terminal_reachable: Some(true),
                out_of_order: Some(OutOfOrder::Printer(
                    crate::kiosk::checkout::PrinterProblem::PaperOut,
                )),
            }),
        };
        let text = render(&s);
        for line in [
            "# TYPE portico_scans_total counter",
            "portico_scans_total{decision=\"admit\",reason=\"valid_ticket\"} 41",
            "portico_scans_total{decision=\"deny\",reason=\"already \\\"used\\\"\"} 2",
            "portico_hub_online 0",
            "portico_sync_lag_seconds 90.500",
            "portico_outbox_depth 7",
            "portico_dead_letters 1",
            "portico_printer_ready 0",
            "portico_terminal_reachable 1",
            "portico_out_of_order{code=\"P1\"} 1",
            "portico_payments_to_refund 1",
            "portico_build_info{device=\"kiosk-1\",version=\"0.1.0\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        // A gate (no kiosk) that never pulled: no lag, no kiosk series.
        let gate = Snapshot {
            last_pull: None,
            kiosk: None,
            ..s
        };
        let text = render(&gate);
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("portico_sync_lag_seconds")),
            "{text}"
        );
        assert!(!text.contains("portico_printer_ready"));
        // Every sample line is a name, optional labels and a number.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let value = l.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
        }
    }

    #[test]
    fn only_get_metrics_is_served() {
        let cases = [
            ("GET /metrics HTTP/1.1", true),
            ("GET /metrics?x=1 HTTP/1.1", true),
            ("POST /metrics HTTP/1.1", false),
            ("GET /metricsx HTTP/1.1", false),
            ("GET / HTTP/1.1", false),
        ];
        for (line, want) in cases {
            assert_eq!(is_metrics_get(line), want, "{line}");
        }
    }
}
