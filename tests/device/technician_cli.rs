//! The technician's commands as a technician runs them: `portico outbox list/requeue` (through
//! a running device, or on the database when none runs), `portico search --after`, `portico hub
//! add-device`, and what errors and logs look like.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{TestDevice, TestHub, manual_clock};
use portico::outbox;

fn portico(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("NO_COLOR", "")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Three rows queued, two of them dead-lettered by the hub's own refusal.
fn queue_with_dead_letters(device: &portico::device::Device) -> Vec<i64> {
    device
        .store
        .write(|tx| {
            for i in 0..3 {
                outbox::enqueue_raw(
                    tx,
                    outbox::kinds::SCAN,
                    &serde_json::json!({"credential": format!("M{i}"), "decision": "admit"}),
                    0,
                )?;
            }
            let rows = outbox::list(tx, outbox::Listing::All, 10)?;
            for r in &rows[..2] {
                outbox::mark_dead(tx, r.id, "HTTP 422: unknown event")?;
            }
            Ok(rows.iter().map(|r| r.id).collect())
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_list_and_requeue_work_on_the_database_when_no_device_runs() {
    let hub = TestHub::start(5).await;
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let ids = {
        let device = dev.open(manual_clock());
        queue_with_dead_letters(&device)
    };
    let config = &dev.config_path;

    let out = portico(&["outbox", "list"], config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    for id in &ids {
        assert!(listed.contains(&format!("#{id} ")), "{listed}");
    }
    assert!(listed.contains("dead: HTTP 422: unknown event"), "{listed}");
    assert!(
        text(&out.stderr).contains("on the database"),
        "{}",
        text(&out.stderr)
    );

    let out = portico(&["outbox", "list", "--state", "dead", "--json"], config);
    let rows: Vec<outbox::ListedRow> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        ids[..2].to_vec()
    );
    assert!(
        !text(&out.stdout).contains("credential"),
        "payloads (visitors' details) are never listed"
    );

    // One by id: put back, logged; an id that is not a dead letter is said so (exit 1).
    let out = portico(
        &[
            "outbox",
            "requeue",
            &ids[0].to_string(),
            &ids[2].to_string(),
        ],
        config,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("re-queued #{} scan", ids[0])));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("#{} is not a dead letter", ids[2])),
        "{err}"
    );
    assert!(
        err.contains("dead letter re-queued by a technician"),
        "logged: {err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes off a terminal: {err:?}"
    );

    // Then every dead letter.
    let out = portico(&["outbox", "requeue", "--all-dead"], config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 row(s) re-queued"),
        "{}",
        text(&out.stdout)
    );

    let device = dev.open(manual_clock());
    let db = device.engine.database();
    let conn = db.lock().unwrap();
    let rows = outbox::list(&conn, outbox::Listing::All, 10).unwrap();
    assert!(
        rows.iter().all(|r| r.state == "pending" && r.attempts == 0),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_requeue_goes_through_a_running_device() {
    let hub = TestHub::start(5).await;
    let dev = TestDevice::new(&hub, "gate-2", &hub.ca, "", "upload_interval = \"1h\"");
    let device = dev.open(manual_clock());
    let ids = queue_with_dead_letters(&device);
    let socket = device.config.status_socket.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(async move { device.run(stopped).await });
    for _ in 0..200 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let config = dev.config_path.clone();
    let out =
        tokio::task::spawn_blocking(move || portico(&["outbox", "requeue", "--all-dead"], &config))
            .await
            .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("through the running device"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("2 row(s) re-queued"));
    // The device uploads them at once (its upload interval is an hour): the hub has them.
    let mut delivered = 0;
    for _ in 0..200 {
        delivered = hub.store.inbox_total().unwrap();
        if delivered == ids.len() as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(delivered, 3, "the re-queued rows went up at once");
    stop.send(true).unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pages_through_the_replica_with_after() {
    let hub = TestHub::start(300).await;
    let dev = TestDevice::new(&hub, "gate-3", &hub.ca, "", "");
    {
        let device = dev.open(manual_clock());
        device.engine.pull_all(None).await.unwrap();
    }
    let config = dev.config_path.clone();
    let all = tokio::task::spawn_blocking(move || {
        let everyone = portico(
            &["search", "--first", "a", "--page-size", "200", "--json"],
            &config,
        );
        assert!(everyone.status.success(), "{}", text(&everyone.stderr));
        let everyone: serde_json::Value = serde_json::from_slice(&everyone.stdout).unwrap();
        let want: Vec<String> = everyone["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["lookup_id"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            want.len() > 6,
            "enough people to page through: {}",
            want.len()
        );

        // Page by page in text, as a technician reads it: each page names the next.
        let mut got = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let mut args = vec!["search", "--first", "a", "--page-size", "3"];
            if let Some(a) = &after {
                args.extend(["--after", a.as_str()]);
            }
            let out = portico(&args, &config);
            assert!(out.status.success(), "{}", text(&out.stderr));
            let page = text(&out.stdout);
            for line in page.lines().filter(|l| !l.starts_with('…')) {
                got.push(line.split_whitespace().next().unwrap().to_owned());
            }
            after = page
                .lines()
                .find_map(|l| l.strip_prefix("… more: add --after "))
                .map(|l| l.split_whitespace().next().unwrap().to_owned());
            if after.is_none() {
                break;
            }
        }
        assert_eq!(
            got, want,
            "the pages together are the whole result, once each"
        );

        // Usage errors: no criteria, an empty one, a page size of 0, a made-up cursor.
        for args in [
            vec!["search"],
            vec!["search", "--last", " "],
            vec!["search", "--last", "a", "--page-size", "0"],
            vec!["search", "--last", "a", "--after", "not-a-cursor"],
        ] {
            let out = portico(&args, &config);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?}: {}",
                text(&out.stderr)
            );
        }
        want.len()
    })
    .await
    .unwrap();
    assert!(all > 6);
}

#[test]
fn hub_add_device_checks_the_id_and_writes_the_token_before_registering() {
    let dir = tempfile::tempdir().unwrap();
    let hub = dir.path().join("hub");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let h = hub.to_str().unwrap();
    assert!(run(&["hub", "init", "--dir", h]).status.success());

    let out = run(&[
        "hub",
        "add-device",
        "--dir",
        h,
        "gate 1!",
        "--token-out",
        "t",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("letters, digits"),
        "{}",
        text(&out.stderr)
    );

    // A folder that is not there: the error names the file, says why once, and no device is
    // left registered without a token anyone has.
    let missing = dir.path().join("no-such-folder/gate-1.token");
    let out = run(&[
        "hub",
        "add-device",
        "--dir",
        h,
        "gate-1",
        "--token-out",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    let store = portico::hub::HubStore::open(&hub.join("hub.db")).unwrap();
    assert!(store.devices().unwrap().is_empty(), "nothing registered");
    // An id with no letter or digit is no id.
    let out = run(&["hub", "add-device", "--dir", h, ".", "--token-out", "t"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let token = dir.path().join("gate-1.token");
    let out = run(&[
        "hub",
        "add-device",
        "--dir",
        h,
        "gate-1",
        "--token-out",
        token.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let secret = std::fs::read_to_string(&token).unwrap();
    assert_eq!(
        store.authenticate(secret.trim()).unwrap().as_deref(),
        Some("gate-1")
    );
    assert!(
        !text(&out.stdout).contains(secret.trim()),
        "the token is never printed"
    );

    // The same id again (a slip of the finger): refused, and the working token stays.
    let again = dir.path().join("again.token");
    let out = run(&[
        "hub",
        "add-device",
        "--dir",
        h,
        "gate-1",
        "--token-out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--replace"),
        "{}",
        text(&out.stderr)
    );
    assert!(!again.exists());
    assert_eq!(
        store.authenticate(secret.trim()).unwrap().as_deref(),
        Some("gate-1")
    );
    // Asked for: a new token, and the old one stops working.
    let out = run(&[
        "hub",
        "add-device",
        "--dir",
        h,
        "gate-1",
        "--replace",
        "--token-out",
        again.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(store.authenticate(secret.trim()).unwrap(), None);
    let new = std::fs::read_to_string(&again).unwrap();
    assert_eq!(
        store.authenticate(new.trim()).unwrap().as_deref(),
        Some("gate-1")
    );
}

/// The technician's tools work on the very problems they exist to find: a token others may
/// read is a warning for `outbox`, not a refusal (`portico run` still refuses it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_still_work_when_the_machine_disagrees_with_the_config() {
    let hub = TestHub::start(5).await;
    let dev = TestDevice::new(&hub, "gate-4", &hub.ca, "", "");
    drop(dev.open(manual_clock()));
    use std::os::unix::fs::PermissionsExt;
    let token = dev.dir.path().join("device.token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o640)).unwrap();
    let config = dev.config_path.clone();
    let out = tokio::task::spawn_blocking(move || portico(&["outbox", "list"], &config))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("upstream.token_file: warning:") && err.contains("chmod 600"),
        "{err}"
    );
    let check = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["config", "check"])
        .arg(&dev.config_path)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
}

/// `portico pin set` with the PIN typed twice on standard input.
fn pin_set(file: &Path, input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["pin", "set", "--file"])
        .arg(file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn pin_set_writes_an_argon2id_hash_only_when_the_pin_is_typed_the_same_twice() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("technician.pin");
    let out = pin_set(&file, "480913\n480931\n");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("the two PINs differ"),
        "{}",
        text(&out.stderr)
    );
    assert!(!file.exists());
    let out = pin_set(&file, "123456\n123456\n");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("too easy to guess"),
        "{}",
        text(&out.stderr)
    );
    let out = pin_set(&file, "480913\n480913\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("480913"));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.starts_with("$argon2id$") && !written.contains("480913"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(portico::technician::verify(&file, "480913").unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_pins_lock_the_technician_out_even_across_a_restart() {
    use portico::clock::Clock;
    use portico::technician::{Entry, enter, set};
    let hub = TestHub::start(10).await;
    let dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    let clock = manual_clock();
    let pin = dev.dir.path().join("technician.pin");
    set(&pin, "480913").unwrap();
    let now = clock.now();
    {
        let device = dev.open(clock.clone());
        let reader = device.store.reader().unwrap();
        let try_pin = |p: &str| enter(&device.store, &reader, &pin, p, now).unwrap();
        for _ in 0..4 {
            assert_eq!(try_pin("000111"), Entry::Wrong);
        }
        assert_eq!(
            try_pin("000111"),
            Entry::Locked(std::time::Duration::from_secs(30))
        );
        // Locked: even the right PIN is not tried.
        assert!(matches!(try_pin("480913"), Entry::Locked(_)));
    }
    // The device restarts: still locked.
    let device = dev.open(clock.clone());
    let reader = device.store.reader().unwrap();
    assert!(matches!(
        enter(
            &device.store,
            &reader,
            &pin,
            "480913",
            now + chrono::Duration::seconds(10)
        )
        .unwrap(),
        Entry::Locked(_)
    ));
    let later = now + chrono::Duration::seconds(31);
    assert_eq!(
        enter(&device.store, &reader, &pin, "480913", later).unwrap(),
        Entry::Granted
    );
    // The count started again.
    assert_eq!(
        enter(&device.store, &reader, &pin, "000111", later).unwrap(),
        Entry::Wrong
    );
}

/// `portico match` against a synced replica: a seeded member by name and email is matched;
/// the same name with an unknown email makes a new record; by phone alone in scored mode the
/// report weighs each field. JSON for tools names the decision; nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portico_match_explains_what_the_kiosk_would_decide_against_the_replica() {
    use portico::protocol::{ConstituentDto, Resource};
    let hub = TestHub::start(50).await;
    let c = hub
        .store
        .all::<ConstituentDto>(Resource::Constituents)
        .unwrap()
        .into_iter()
        .find(|c| {
            c.status == portico::domain::ConstituentStatus::Active
                && c.emails.iter().any(|e| e.meta.active)
                && c.phones.iter().any(|p| p.meta.active)
        })
        .expect("a seeded constituent with an email and a phone");
    let dev = TestDevice::new(&hub, "kiosk-1", &hub.ca, "", "");
    {
        let device = dev.open(manual_clock());
        device.engine.pull_all(None).await.unwrap();
    }
    let config = &dev.config_path;
    let email = c
        .emails
        .iter()
        .find(|e| e.meta.active)
        .unwrap()
        .address
        .clone();
    let phone = c
        .phones
        .iter()
        .find(|p| p.meta.active)
        .unwrap()
        .number
        .clone();
    let outbox_rows = || {
        let conn = portico::replica::open(&dev.config().database_path()).unwrap();
        conn.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    let before = outbox_rows();

    let by_email = [
        "match",
        "--first",
        &c.name.first,
        "--last",
        &c.name.last,
        "--email",
        &email,
    ];
    let out = portico(&by_email, config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.starts_with("Strict matching:"), "{shown}");
    assert!(
        shown.contains(&format!("Matched: the visitor is {}", c.lookup_id)),
        "{shown}"
    );
    assert!(shown.contains("name and email match"), "{shown}");

    let unknown = [
        "match",
        "--first",
        &c.name.first,
        "--last",
        &c.name.last,
        "--email",
        "nobody.known@riverside-mail.com",
        "--json",
    ];
    let out = portico(&unknown, config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["decision"], "new", "{json}");
    assert_eq!(json["mode"], "strict");

    let scored = [
        "match",
        "--first",
        &c.name.first,
        "--last",
        &c.name.last,
        "--phone",
        &phone,
        "--mode",
        "scored",
        "--json",
    ];
    let out = portico(&scored, config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["mode"], "scored");
    let best = &json["candidates"][0];
    assert_eq!(best["lookup_id"], c.lookup_id.as_str(), "{json}");
    let phone_line = best["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "phone")
        .unwrap();
    assert_eq!(phone_line["points"], phone_line["max"], "{json}");
    assert!(
        ["matched", "review"].contains(&json["decision"].as_str().unwrap()),
        "{json}"
    );

    // A details file is read the same way; a bad one is a clear error.
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("visitor.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "name": {"first": c.name.first, "last": c.name.last},
            "email": email,
        })
        .to_string(),
    )
    .unwrap();
    let out = portico(&["match", "--file", file.to_str().unwrap()], config);
    assert!(
        text(&out.stdout).contains(&format!("Matched: the visitor is {}", c.lookup_id)),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    std::fs::write(&file, "{\"name\": 7}").unwrap();
    let out = portico(&["match", "--file", file.to_str().unwrap()], config);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a visitor's details"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(outbox_rows(), before, "nothing written");
}
