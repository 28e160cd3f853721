//! The technician screen on a running gate's screen, with its real parts: a pty scanner, the
//! station thread, the PIN file and the device database. A technician's card opens the PIN pad;
//! the PIN opens the pages; the relay page pulses the relay without recording an admission;
//! the scan test shows a card's bytes and takes it from the visitors; closed, the gate admits
//! again.

use std::sync::mpsc;
use std::time::Duration;

use crate::common::{TestDevice, TestHub, manual_clock};
use crate::gate_common::{TAIL, membership_with_guests, pick};
use crate::gate_e2e::portico_pty::Pty;
use portico::device::GateDisplayEvent;
use portico::gate::technician::TechInput;
use portico::screens::technician_view::{TechAction, TechPanel};
use portico::technician::{Page, TechEvent};

const CARD: &str = "TECH-CARD-0001";

/// Waits for the panel that `ok` accepts, skipping the others.
fn panel_until(
    shown: &mpsc::Receiver<Option<TechPanel>>,
    what: &str,
    ok: impl Fn(&Option<TechPanel>) -> bool,
) -> Option<TechPanel> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match shown.recv_timeout(left) {
            Ok(p) if ok(&p) => return p,
            Ok(p) => last = Some(p),
            Err(_) => break,
        }
    }
    panic!("{what}: last panel {last:?}");
}

fn rows(p: &Option<TechPanel>) -> Vec<(String, String)> {
    match p {
        Some(TechPanel::Page { rows, .. }) => rows
            .iter()
            .map(|r| (r.label.clone(), r.value.clone()))
            .collect(),
        _ => vec![],
    }
}

fn scans(dev: &TestDevice) -> i64 {
    let conn = portico::replica::open(&dev.config().database_path()).unwrap();
    conn.query_row("SELECT count(*) FROM scans", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_opens_the_gates_pages_pulses_its_relay_and_tests_a_scanner() {
    let hub = TestHub::start(200).await;
    let m = membership_with_guests(&hub);
    let mut pty = Pty::new();
    let folder = tempfile::tempdir().unwrap();
    let pin = folder.path().join("technician.pin");
    portico::technician::set(&pin, "480913").unwrap();
    let tail = format!(
        "technician_pin_file = \"{}\"\ntechnician_cards = [\"{CARD}\"]\n{TAIL}\n[[inputs]]\n\
         name = \"north-scanner\"\nkind = \"serial\"\npath = \"{}\"\nterminator = \"cr\"\n",
        pin.display(),
        pty.path().display()
    );
    let dev = TestDevice::with_tail(&hub, "gate-1", &hub.ca, "", "", &tail);
    let device = dev.open(manual_clock());
    device.engine.pull_all(None).await.unwrap();
    let (panels_tx, panels) = mpsc::channel();
    let (decided_tx, decided) = mpsc::channel();
    let sinks = std::sync::Mutex::new((panels_tx, decided_tx));
    device.attach_gate_display(std::sync::Arc::new(move |event| {
        let sinks = sinks.lock().unwrap();
        match event {
            GateDisplayEvent::Technician(p) => {
                let _ = sinks.0.send(p);
            }
            GateDisplayEvent::Decided { .. } => {
                let _ = sinks.1.send(());
            }
            GateDisplayEvent::Connectivity { .. } => {}
        }
    }));
    let runner = device.start_gate().unwrap().expect("a gate device");
    let tech = device.gate_technician();
    let send = |i: TechInput| tech.send(i).unwrap();

    // The technician's card opens the PIN pad, and admits nobody.
    pty.write(format!("{CARD}\r").as_bytes());
    panel_until(&panels, "the PIN pad", |p| {
        matches!(p, Some(TechPanel::Pin { typed: 0, .. }))
    });
    for d in [4, 8, 0, 9, 1, 3] {
        send(TechInput::Event(TechEvent::Digit(d)));
    }
    send(TechInput::Event(TechEvent::Submit));
    let status = panel_until(&panels, "the status page", |p| {
        matches!(
            p,
            Some(TechPanel::Page {
                page: Page::Status,
                ..
            })
        )
    });
    assert!(
        rows(&status)
            .iter()
            .any(|(l, v)| l == "Device" && v.starts_with("gate-1")),
        "{status:?}"
    );

    // The relay page: a test pulse, and no admission recorded for it.
    send(TechInput::Event(TechEvent::Page(Page::Relay)));
    send(TechInput::Action(TechAction::PulseRelay));
    let relay = panel_until(&panels, "the test pulse's result", |p| {
        rows(p)
            .iter()
            .any(|(l, v)| l == "Last test pulse" && v.starts_with("opened"))
    });
    assert!(
        matches!(&relay, Some(TechPanel::Page { actions, .. }) if actions == &[TechAction::PulseRelay])
    );

    // The scan test: a member's card shows its bytes and what they parse to, and while the
    // panel shows it admits nobody.
    send(TechInput::Event(TechEvent::Page(Page::Inputs)));
    pty.write(format!("{}\r", m.membership_id).as_bytes());
    let test = panel_until(&panels, "the scan test", |p| {
        rows(p).iter().any(|(l, v)| {
            l == "north-scanner" && v.contains(&format!("membership {}", m.membership_id))
        })
    });
    let hex: String = m
        .membership_id
        .bytes()
        .map(|b| format!("{b:02x} "))
        .collect();
    assert!(
        rows(&test)
            .iter()
            .any(|(_, v)| v.starts_with(hex.trim_end())),
        "{test:?}"
    );
    assert!(decided.try_recv().is_err(), "nobody was admitted");
    assert_eq!(scans(&dev), 0, "no scan recorded");

    // Closed: the gate decides again (another card: the same one again at once would be taken
    // for the scanner reading it twice).
    send(TechInput::Event(TechEvent::Close));
    panel_until(&panels, "the panel hidden", Option::is_none);
    let (ticket, _, _) = pick(&hub);
    pty.write(format!("{ticket}\r").as_bytes());
    decided
        .recv_timeout(Duration::from_secs(10))
        .expect("the ticket is decided");
    assert_eq!(scans(&dev), 1);
    drop(pty);
    runner.stop();
}
