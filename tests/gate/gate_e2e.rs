//! A gate end to end: a seeded hub, a synced device, codes written into a real pseudo-terminal
//! scanner, decisions, relay pulses and outbox rows; use counts across a restart; and two
//! offline gates admitting the same single-use ticket, flagged by the hub.

use crate::gate_common;

use std::sync::mpsc;
use std::time::Duration;

use crate::common::{TestDevice, TestHub, manual_clock};
use gate_common::{TAIL, at, credential, membership_with_guests, pick, station, wait_pulses};
use portico::gate::Outcome;
use portico::input::credential::CredentialKind;
use portico::input::{InputEvent, StopSignal};
use portico::protocol::Resource;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_from_a_pty_scanner_become_decisions_pulses_and_outbox_rows() {
    let hub = TestHub::start(400).await;
    let (ticket, active, lapsed) = pick(&hub);
    let merged = hub
        .store
        .all_docs(Resource::Merges)
        .unwrap()
        .first()
        .map(|(k, _)| k.clone())
        .expect("a merge");

    let mut pty = portico_pty::Pty::new();
    let tail = format!(
        "{TAIL}\n[[inputs]]\nname = \"north-scanner\"\nkind = \"serial\"\npath = \"{}\"\nterminator = \"cr\"\n",
        pty.path().display()
    );
    let dev = TestDevice::with_tail(&hub, "gate-1", &hub.ca, "", "", &tail);
    let clock = manual_clock();
    let device = dev.open(clock.clone());
    device.engine.pull_all(None).await.unwrap();
    let cfg = dev.config();

    let (mut station, relay) = station(&device, clock.clone());
    let (tx, rx) = mpsc::channel();
    let stop = StopSignal::new();
    let readers = portico::input::spawn_inputs(&cfg.inputs, tx, &stop).unwrap();

    let codes = [
        active.clone(),
        lapsed.clone(),
        ticket.clone(),
        "NOT-A-CODE!".to_owned(),
        merged.clone(),
    ];
    let mut decisions = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        pty.write(format!("{code}\r").as_bytes());
        let scan = loop {
            match rx
                .recv_timeout(Duration::from_secs(5))
                .expect("a scan event")
            {
                InputEvent::Scan(scan) => break scan,
                _ => continue,
            }
        };
        assert_eq!(String::from_utf8_lossy(&scan.credential.raw), *code);
        decisions.push(
            station
                .scan(&scan.credential, None, 1, at(10, i as u32))
                .unwrap(),
        );
    }
    stop.stop();
    for r in readers {
        r.join().unwrap();
    }

    let outcomes: Vec<(Outcome, &str)> = decisions
        .iter()
        .map(|d| (d.outcome, d.reason.code()))
        .collect();
    assert_eq!(
        outcomes[0].0,
        Outcome::Admit,
        "active membership: {:?}",
        decisions[0].reason
    );
    assert_eq!(outcomes[1].0, Outcome::Deny);
    let why = decisions[1].reason.plain_words().to_lowercase();
    assert!(why.contains("lapsed") || why.contains("expired"), "{why}");
    assert_eq!(
        outcomes[2].0,
        Outcome::Admit,
        "ticket: {:?}",
        decisions[2].reason
    );
    assert_eq!(outcomes[3].0, Outcome::Deny);
    // The merged-away Lookup ID is not a membership number: it reads as a Lookup ID, resolves
    // to its survivor and is admitted only if the survivor holds a valid membership; either
    // way the screen says it was merged.
    let merged_decision = &decisions[4];
    if merged_decision.outcome == Outcome::Admit {
        assert!(
            !merged_decision.notes.is_empty(),
            "admitted via merge carries a note"
        );
    }

    let admits = decisions
        .iter()
        .filter(|d| d.outcome == Outcome::Admit)
        .count();
    wait_pulses(&relay, admits);
    assert_eq!(
        relay.pulses().len(),
        admits,
        "one pulse per admission, none for denials"
    );

    // Every scan is recorded with its outbox row.
    assert_eq!(station.scan_count().unwrap(), 5);
    let db = device.engine.database();
    let stats = portico::outbox::stats(&db.lock().unwrap()).unwrap();
    assert_eq!(stats.pending, 5);

    // The ticket was used: scanning it again later is refused, also after a restart.
    let t = credential(CredentialKind::TicketSecret {
        secret: ticket.clone(),
    });
    let second = station.scan(&t, None, 1, at(11, 0)).unwrap();
    assert_eq!(
        (second.outcome, second.reason.code()),
        (Outcome::Deny, "already_used")
    );
    drop(station);
    let (mut station, _) = gate_common::station(&device, clock.clone());
    let again = station.scan(&t, None, 1, at(12, 0)).unwrap();
    assert_eq!(
        (again.outcome, again.reason.code()),
        (Outcome::Deny, "already_used"),
        "use count kept across the restart"
    );

    // Uploads drain to the hub.
    clock.advance(chrono::Duration::hours(4));
    let pushed = device.engine.push_once().await.unwrap();
    assert_eq!(pushed.delivered, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_offline_gates_admit_one_single_use_ticket_and_the_hub_flags_it() {
    let hub = TestHub::start(200).await;
    let (ticket, _, _) = pick(&hub);
    let clock = manual_clock();
    let mut devices = Vec::new();
    for id in ["gate-east", "gate-west"] {
        let dev = TestDevice::with_tail(&hub, id, &hub.ca, "", "", TAIL);
        let device = dev.open(clock.clone());
        device.engine.pull_all(None).await.unwrap();
        devices.push((dev, device));
    }
    // The network is down: each gate decides from its own replica and admits the ticket.
    let t = credential(CredentialKind::TicketSecret {
        secret: ticket.clone(),
    });
    for (i, (_, device)) in devices.iter().enumerate() {
        let (mut station, _) = station(device, clock.clone());
        let d = station.scan(&t, None, 1, at(10, 5 * i as u32)).unwrap();
        assert_eq!(d.outcome, Outcome::Admit);
    }
    assert!(hub.store.duplicate_admissions().unwrap().is_empty());
    // Back online: both upload, and the hub sees the ticket used twice.
    clock.advance(chrono::Duration::hours(4));
    for (_, device) in &devices {
        assert_eq!(device.engine.push_once().await.unwrap().delivered, 1);
    }
    let dups = hub.store.duplicate_admissions().unwrap();
    assert_eq!(dups.len(), 1, "{dups:?}");
    assert_eq!(dups[0].credential, format!("ticket:{ticket}"));
    assert_eq!(dups[0].devices, ["gate-east", "gate-west"]);
    assert_eq!((dups[0].uses, dups[0].uses_allowed), (2, Some(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_party_staff_choose_on_the_gate_screen_reaches_the_running_gate() {
    // Issue: "the gate screen shows the allowance and staff choose the party size".
    let hub = TestHub::start(200).await;
    let m = membership_with_guests(&hub);
    let mut pty = portico_pty::Pty::new();
    let tail = format!(
        "{TAIL}\n[[inputs]]\nname = \"north-scanner\"\nkind = \"serial\"\npath = \"{}\"\nterminator = \"cr\"\n",
        pty.path().display()
    );
    let dev = TestDevice::with_tail(&hub, "gate-1", &hub.ca, "", "", &tail);
    let device = dev.open(manual_clock());
    device.engine.pull_all(None).await.unwrap();
    // What the screen would be told: each decision with its scan log row.
    let (shown_tx, shown) = mpsc::channel();
    let shown_tx = std::sync::Mutex::new(shown_tx);
    device.attach_gate_display(std::sync::Arc::new(move |event| {
        if let portico::device::GateDisplayEvent::Decided { screen, scan } = event {
            let _ = shown_tx.lock().unwrap().send((screen, scan));
        }
    }));
    let runner = device.start_gate().unwrap().expect("a gate device");

    pty.write(format!("{}\r", m.membership_id).as_bytes());
    let (screen, scan) = shown
        .recv_timeout(Duration::from_secs(10))
        .expect("a decision");
    assert_eq!(screen.colour, portico::gate::Colour::Green);
    assert_eq!(screen.guest_allowance, Some(m.guest_allowance));
    let scan = scan.expect("recorded");
    // Staff press "+" twice and confirm.
    device
        .gate_commands()
        .send(portico::device::GateCommand::ConfirmParty { scan, party: 3 })
        .unwrap();

    let db = dev.config().database_path();
    let mut party = None;
    for _ in 0..200 {
        let conn = portico::replica::open(&db).unwrap();
        party = conn
            .query_row(
                "SELECT json_extract(payload, '$.party_admitted') FROM outbox
                 WHERE kind = 'scan_party'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .ok();
        if party.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(party, Some(3));
    let conn = portico::replica::open(&db).unwrap();
    let recorded: i64 = conn
        .query_row(
            "SELECT party_admitted FROM scans WHERE id = ?1",
            [scan],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded, 3);
    drop(pty);
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_recorded_before_a_crash_are_in_the_scan_log_once_after_the_restart() {
    // "Nothing is ever lost or applied twice", with the process killed (SIGKILL) once its
    // scans were recorded: each is committed with its outbox row before the next is read.
    let hub = TestHub::start(200).await;
    let (ticket, active, lapsed) = pick(&hub);
    let mut pty = portico_pty::Pty::new();
    let tail = format!(
        "{TAIL}\n[[inputs]]\nname = \"north-scanner\"\nkind = \"serial\"\npath = \"{}\"\nterminator = \"cr\"\n",
        pty.path().display()
    );
    let dev = TestDevice::with_tail(&hub, "gate-1", &hub.ca, "", "", &tail);
    dev.open(manual_clock())
        .engine
        .pull_all(None)
        .await
        .unwrap();
    let db = dev.config().database_path();
    let count = |sql: &str| -> i64 {
        portico::replica::open(&db)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    };

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["run", "--headless", "--config"])
        .arg(&dev.config_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("portico run");
    // The gate is up once it answers on its status socket.
    let socket = dev.config().status_socket;
    let ready = (0..400).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        socket.exists()
    });
    assert!(ready, "the gate did not start");
    std::thread::sleep(Duration::from_millis(200));
    for code in [&active, &lapsed, &ticket] {
        pty.write(format!("{code}\r").as_bytes());
    }
    let recorded = (0..400).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        count("SELECT count(*) FROM scans") == 3
    });
    assert!(recorded, "three scans recorded");
    child.kill().unwrap();
    child.wait().unwrap();

    // The gate opens again: every scan once, each with its outbox row.
    for _ in 0..2 {
        let cfg = dev.config();
        let store = std::sync::Arc::new(portico::replica::Store::open(&db).unwrap());
        let (station, _relay) = gate_common::station_on(store, &cfg, manual_clock());
        assert_eq!(station.scan_count().unwrap(), 3);
        drop(station);
        assert_eq!(count("SELECT count(*) FROM outbox WHERE kind = 'scan'"), 3);
    }
    let keys = count("SELECT count(DISTINCT use_key) FROM scans");
    assert_eq!(keys, 3, "one row for each code scanned");
    let ok: String = portico::replica::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

/// A pseudo-terminal pair standing in for a serial scanner.
pub(crate) mod portico_pty {
    use std::io::Write;
    use std::path::PathBuf;

    use serialport::{SerialPort, TTYPort};

    pub struct Pty {
        master: TTYPort,
        _slave: TTYPort,
        path: PathBuf,
    }

    impl Pty {
        pub fn new() -> Self {
            let (master, slave) = TTYPort::pair().expect("pty pair");
            let path = PathBuf::from(slave.name().expect("slave path"));
            Self {
                master,
                _slave: slave,
                path,
            }
        }
        pub fn path(&self) -> &std::path::Path {
            &self.path
        }
        pub fn write(&mut self, bytes: &[u8]) {
            self.master.write_all(bytes).unwrap();
            self.master.flush().unwrap();
        }
    }
}
