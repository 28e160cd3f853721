//! `portico run` under systemd's notify protocol, as the unit runs it (`Type=notify`,
//! `WatchdogSec=`): READY=1 once the replica is open and every part beats, watchdog pings
//! while they keep beating, STOPPING=1 on SIGTERM. The notify socket is a real datagram socket
//! in place of systemd's.

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

#[test]
fn the_daemon_says_ready_pings_the_watchdog_and_says_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let pki = portico::tls::generate_pki("CA", &["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.ca_cert_pem).unwrap();
    portico::hub::write_private(&dir.path().join("device.token"), b"secret").unwrap();
    let config = dir.path().join("device.toml");
    std::fs::write(&config, CONFIG).unwrap();
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
