//! The scan-test live view, driven through a real pseudo-terminal.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::input_common::PtyScanner;
use portico::input::config::from_toml_str;
use portico::input::{StopSignal, run_scan_test};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn scan_test_shows_states_frames_and_credentials() {
    let mut pty = PtyScanner::new();
    let config = from_toml_str(&format!(
        r#"
        [[inputs]]
        name = "gate-1"
        kind = "serial"
        path = "{}"
        max_frame_len = 32

        [[inputs]]
        name = "wedge"
        kind = "evdev"
        device_name = "No Such Scanner"
        layout = "de"
        "#,
        pty.path().display()
    ))
    .expect("config");
    let out = Shared::default();
    let stop = StopSignal::new();
    let runner = {
        let out = out.clone();
        let stop = stop.clone();
        std::thread::spawn(move || run_scan_test(&config, out, &stop))
    };
    out.wait_for("gate-1: connected");
    out.wait_for(
        "wedge: disconnected; last error: no input device matches name~\"No Such Scanner\"",
    );

    pty.write(b"12345678\r");
    out.wait_for("-> membership 12345678");
    pty.write(b"]C10109501101530003\x1d10AB12\r");
    out.wait_for("-> GS1 (01)09501101530003 (10)AB12");
    pty.write(b"hello\xff\r");
    out.wait_for("-> not recognised: frame is not valid UTF-8 (byte 5)");
    pty.write(b"12345678\r");
    out.wait_for("repeat within the double-scan window");
    pty.write(&[b'7'; 40]);
    pty.write(b"\r");
    out.wait_for("gate-1: dropped 40 bytes: frame longer than the maximum of 32 bytes");
    pty.unplug();
    out.wait_for("gate-1: disconnected; last error:");

    stop.stop();
    runner.join().expect("thread").expect("scan-test ran");
    let text = out.text();
    assert!(
        text.starts_with("scan-test: 2 input(s); double-scan window 1500 ms\n"),
        "{text}"
    );
    assert!(text.contains("  gate-1: serial "));
    assert!(text.contains("  wedge: evdev name~\"No Such Scanner\" layout de grab"));
    assert!(text.contains("gate-1: frame \"12345678\" (8 bytes in "));
    assert!(text.contains("    hex 31 32 33 34 35 36 37 38\n"));
    assert!(text.contains("frame \"]C10109501101530003<GS>10AB12\""));
    assert!(text.contains("    hex 68 65 6C 6C 6F FF\n"));
    assert!(text.contains("gate-1: stopped"));
    assert!(text.ends_with("scan-test stopped\n"));
    // Every line is stamped with the time since start.
    for line in text.lines().filter(|l| l.contains(": frame \"")) {
        assert!(line.starts_with('['), "{line}");
    }
}
