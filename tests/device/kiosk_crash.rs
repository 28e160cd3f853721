//! The kiosk process killed (SIGKILL) at each step of a payment, then started again: never
//! paid without an order, never charged twice, never an order without a payment. The kiosk is
//! the real `portico` binary (`portico kiosk test-sale`, then `portico kiosk settle` as its
//! start-up does); the card terminal is the simulator, whose bank outlives the kiosk as a real
//! terminal's host does; tickets print on the loopback printer.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestDevice, TestHub, manual_clock};
use portico::kiosk::orders;
use portico::kiosk::payment::{TerminalOutcome, TerminalStatus};
use portico::loopback_printer::LoopbackPrinter;

fn portico(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Starts a test sale and kills the process as soon as it logs `marker`.
fn sell_and_kill_at(config: &str, marker: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args([
            "kiosk",
            "test-sale",
            "--config",
            config,
            "DAY",
            "--qty",
            "adult=2",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let hit = line.contains(marker);
        seen.push(line);
        if hit {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(
        seen.iter().any(|l| l.contains(marker)),
        "never reached {marker:?}: {status}\n{}",
        seen.join("\n")
    );
}

/// Payments the simulated terminal's bank holds as charged.
fn charged(bank: &std::path::Path) -> usize {
    let ledger: std::collections::BTreeMap<String, TerminalStatus> =
        serde_json::from_slice(&std::fs::read(bank).unwrap_or_else(|_| b"{}".to_vec())).unwrap();
    ledger
        .values()
        .filter(|s| matches!(s, TerminalStatus::Completed(TerminalOutcome::Approved(_))))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_killed_at_any_step_of_a_payment_neither_loses_nor_doubles_it() {
    let hub = TestHub::start(50).await;
    let today = chrono::Local::now().date_naive();
    hub.store
        .write(|tx, seq| portico::hub::catalog::publish(tx, seq, today, 1, 0))
        .unwrap();
    let printer = LoopbackPrinter::start().unwrap();
    let dev = TestDevice::new(&hub, "kiosk-crash", &hub.ca, "", "");
    let text = std::fs::read_to_string(&dev.config_path)
        .unwrap()
        .replace("roles = [\"gate\"]", "roles = [\"kiosk\"]")
        .replace(
            "[gate]\nname = \"Test gate\"",
            &format!(
                "[kiosk]\norder_prefix = \"KC\"\n[kiosk.printer]\naddress = \"{}\"",
                printer.addr
            ),
        );
    std::fs::write(&dev.config_path, text).unwrap();
    let config = dev.config_path.to_str().unwrap().to_owned();
    // Pulled and registered, as `portico run` leaves a kiosk.
    {
        let device = dev.open(manual_clock());
        device.engine.pull_all(None).await.unwrap();
        let key = portico::kiosk::signer::load_or_create(
            &device.config.data_dir.join("kiosk-signing.key"),
        )
        .unwrap();
        let client = portico::sync::HubClient::new(&device.config.upstream).unwrap();
        portico::kiosk::signer::register(&client, &device.store, &key)
            .await
            .unwrap();
    }
    let data = dev.dir.path().join("data");
    let bank = data.join("terminal-bank.json");
    let script = data.join("terminal-bank.json-script");

    // (the terminal's script, where the kiosk is killed, orders in all after the restart)
    let cases = [
        ("decide-slowly", "terminal: waiting for the card", 0),
        ("approve-slowly", "terminal: approved; answering slowly", 1),
        ("approve", "order committed", 2),
    ];
    for (step, marker, orders_after) in cases {
        std::fs::write(&script, step).unwrap();
        let started = Instant::now();
        tokio::task::block_in_place(|| sell_and_kill_at(&config, marker));
        assert!(started.elapsed() < Duration::from_secs(60));
        // The kiosk starts again: it settles what the kill left.
        let out =
            tokio::task::block_in_place(|| portico(&["kiosk", "settle", "--config", &config]));
        assert!(
            out.status.success(),
            "{marker}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let c = {
            let conn = rusqlite::Connection::open(data.join("portico.db")).unwrap();
            orders::counts(&conn).unwrap()
        };
        assert_eq!(c.orders, orders_after, "{step} killed at {marker:?}");
        assert_eq!(c.payments, c.orders, "{marker}: a payment per order");
        assert_eq!(c.intents_started, 0, "{marker}: nothing left unsettled");
        assert_eq!(c.held_seats, 0, "{marker}");
        assert_eq!(
            charged(&bank) as u64,
            c.orders,
            "{marker}: every charge has its order, and no more"
        );
    }
    // An order whose printing the kill cut short prints at the desk.
    let out = tokio::task::block_in_place(|| {
        portico(&["kiosk", "reprint", "--config", &config, "KC-00002"])
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = tokio::task::block_in_place(|| portico(&["kiosk", "orders", "--config", &config]));
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("KC-00001") && text.contains("KC-00002"),
        "{text}"
    );
    // No member checked in here: no guest passes to list or print, said in words.
    let passes = tokio::task::block_in_place(|| portico(&["kiosk", "passes", "--config", &config]));
    let text = String::from_utf8_lossy(&passes.stdout);
    assert!(
        passes.status.success() && text.contains("no guest passes today"),
        "{text}"
    );
    let unknown = tokio::task::block_in_place(|| {
        portico(&["kiosk", "reprint-passes", "--config", &config, "M7999999"])
    });
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        !unknown.status.success() && err.contains("no guest passes for M7999999"),
        "{err}"
    );
}
