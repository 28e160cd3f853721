//! `portico scan-test --config FILE`: the technician's live view, run as the real binary
//! against a scanner on a pseudo-terminal.

use crate::input_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn scan_test_shows_each_frame_and_its_credential_until_interrupted() {
    let mut pty = input_common::PtyScanner::new();
    let dir = tempfile::tempdir().unwrap();
    let pki = portico::tls::generate_pki("CA", &["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.ca_cert_pem).unwrap();
    portico::hub::write_private(&dir.path().join("device.token"), b"secret").unwrap();
    let config = dir.path().join("gate.toml");
    std::fs::write(
        &config,
        format!(
            r#"[device]
id = "gate-1"
roles = ["gate"]
data_dir = "data"

[upstream]
url = "https://hub.example:8443"
ca_cert = "ca.pem"
token_file = "device.token"

[gate]
name = "North"

[[inputs]]
name = "north-scanner"
kind = "serial"
path = "{}"
terminator = "cr"

[credentials]
membership_prefix = "M"
"#,
            pty.path().display()
        ),
    )
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["scan-test", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let mut wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Err(_) => panic!("no {needle:?} in:\n{seen}"),
            }
        }
    };
    wait_for("north-scanner: connected");
    pty.write(b"M12345678\r");
    wait_for("membership 12345678");
    pty.write(b"\x01\x02garbage\r");
    wait_for("not recognised");

    // SAFETY: signalling our own child process.
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "scan-test ended with {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "scan-test did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
