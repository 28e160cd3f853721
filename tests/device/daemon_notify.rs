//! `portico run` under systemd's notify protocol, as the unit runs it (`Type=notify`,
//! `WatchdogSec=`): READY=1 once the replica is open and every part beats, watchdog pings
//! while they keep beating, STOPPING=1 on SIGTERM. The notify socket is a real datagram socket
//! in place of systemd's. Meanwhile Prometheus' view: `GET /metrics` on `device.metrics`.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"[device]
id = "gate-1"
roles = ["gate"]
data_dir = "data"

[upstream]
url = "https://127.0.0.1:9"
ca_cert = "ca.pem"
token_file = "device.token"

[gate]
name = "North"
"#;

/// One HTTP/1.1 request to `addr`; the whole reply.
fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(conn, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn the_daemon_says_ready_pings_the_watchdog_and_says_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let pki = portico::tls::generate_pki("CA", &["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.ca_cert_pem).unwrap();
    portico::hub::write_private(&dir.path().join("device.token"), b"secret").unwrap();
    let config = dir.path().join("device.toml");
    let metrics = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap()
    };
    std::fs::write(
        &config,
        CONFIG.replace(
            "data_dir = \"data\"",
            &format!("data_dir = \"data\"\nmetrics = \"{metrics}\""),
        ),
    )
    .unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // systemd names the watched process in WATCHDOG_PID: the shell's own pid, which `exec`
    // hands to the daemon.
    let child = Command::new("sh")
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" run --headless --config \"$1\"")
        .arg(env!("CARGO_BIN_EXE_portico"))
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "2000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut heard = Vec::new();
    let mut buf = [0u8; 512];
    let until = Instant::now() + Duration::from_secs(30);
    // READY=1 first, then pings (at least two, a second apart at most for a 2 s watchdog).
    while Instant::now() < until && heard.iter().filter(|m| *m == "WATCHDOG=1").count() < 2 {
        let n = socket.recv(&mut buf).expect("the daemon speaks");
        heard.push(String::from_utf8_lossy(&buf[..n]).trim().to_owned());
    }
    assert_eq!(
        heard.first().map(String::as_str),
        Some("READY=1"),
        "{heard:?}"
    );
    assert_eq!(
        heard.iter().filter(|m| *m == "READY=1").count(),
        1,
        "{heard:?}"
    );
    assert!(heard.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2);
    // Ready means serving: the metrics answer, in Prometheus' text format.
    let reply = http_get(metrics, "/metrics");
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.contains("Content-Type: text/plain; version=0.0.4"));
    for line in [
        "portico_build_info{device=\"gate-1\",version=\"0.1.0\"} 1",
        "portico_hub_online 0",
        "portico_outbox_depth 0",
        "portico_dead_letters 0",
    ] {
        assert!(reply.lines().any(|l| l == line), "{line:?} in {reply}");
    }
    assert!(http_get(metrics, "/").starts_with("HTTP/1.1 404"));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut stopping = false;
    while let Ok(n) = socket.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).trim() == "STOPPING=1" {
            stopping = true;
            break;
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(stopping, "STOPPING=1 on SIGTERM");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
