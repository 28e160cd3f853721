//! `portico config check`: every malformed config names its file, line, column and key.

use std::path::Path;
use std::process::Command;

const VALID: &str = r#"[device]
id = "gate-1"
roles = ["gate"]
data_dir = "data"

[upstream]
url = "https://hub.example:8443"
ca_cert = "ca.pem"
token_file = "device.token"

[sync]
pull_interval = "15m"

[gate]
name = "North"
"#;

/// A folder with the files the config refers to.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pki = portico::tls::generate_pki("CA", &["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.ca_cert_pem).unwrap();
    portico::hub::write_private(&dir.path().join("device.token"), b"secret").unwrap();
    dir
}

fn check(
    dir: &Path,
    text: &str,
) -> Result<portico::config::DeviceConfig, Vec<portico::config::Diagnostic>> {
    let path = dir.join("device.toml");
    std::fs::write(&path, text).unwrap();
    portico::config::load(&path).map_err(|e| e.diagnostics().to_vec())
}

#[test]
fn the_valid_config_loads_with_defaults() {
    let dir = folder();
    let cfg = check(dir.path(), VALID).unwrap();
    assert_eq!(cfg.device_id, "gate-1");
    assert_eq!(cfg.sync.pull_interval.as_secs(), 900);
    assert_eq!(
        cfg.sync.purge_interval.as_secs(),
        8 * 3600,
        "default purge every 8 hours"
    );
    assert_eq!(
        cfg.data_dir,
        dir.path().join("data"),
        "relative to the file"
    );
    assert_eq!(cfg.status_socket, dir.path().join("data/portico.sock"));
    assert!(cfg.gate.is_some() && cfg.kiosk.is_none());
    assert_eq!(
        cfg.matching.mode,
        portico::matching::MatchMode::Strict,
        "the integration's strict rule unless configured"
    );
}

/// Issue rule: scored mode is a config option, with the CRM's 95/70 thresholds by default.
#[test]
fn scored_matching_is_a_config_option_with_the_crms_thresholds() {
    use portico::matching::{MatchMode, ScoreThresholds};
    let dir = folder();
    let scored = VALID.replacen("[gate]", "[matching]\nmode = \"scored\"\n[gate]", 1);
    let cfg = check(dir.path(), &scored).unwrap();
    assert_eq!(
        cfg.matching.mode,
        MatchMode::Scored(ScoreThresholds {
            automatic_above: 95,
            review_from: 70
        })
    );
    let tuned = VALID.replacen(
        "[gate]",
        "[matching]\nmode = \"scored\"\nautomatic_above = 90\nreview_from = 60\n[gate]",
        1,
    );
    let cfg = check(dir.path(), &tuned).unwrap();
    assert_eq!(
        cfg.matching.mode,
        MatchMode::Scored(ScoreThresholds {
            automatic_above: 90,
            review_from: 60
        })
    );
    assert_eq!(
        cfg.matching.on_ambiguous,
        portico::matching::OnAmbiguous::Ask
    );
    let create = VALID.replacen("[gate]", "[matching]\non_ambiguous = \"create\"\n[gate]", 1);
    let cfg = check(dir.path(), &create).unwrap();
    assert_eq!(
        cfg.matching.on_ambiguous,
        portico::matching::OnAmbiguous::Create
    );
}

#[test]
fn each_malformed_config_gives_its_file_line_column_and_key() {
    // (what is wrong, edit of VALID, expected line, expected key, words in the message)
    let cases: &[(&str, &str, &str, usize, &str, &str)] = &[
        (
            "unknown key",
            "name = \"North\"",
            "name = \"North\"\nturbo = true",
            16,
            "gate.turbo",
            "unknown field",
        ),
        (
            "unknown section",
            "[gate]",
            "[gates]",
            14,
            "gates",
            "unknown section",
        ),
        (
            "wrong type",
            "pull_interval = \"15m\"",
            "pull_interval = 15",
            12,
            "sync.pull_interval",
            "invalid type",
        ),
        (
            "duration out of range",
            "pull_interval = \"15m\"",
            "pull_interval = \"2s\"",
            12,
            "sync.pull_interval",
            "out of range",
        ),
        (
            "not a duration",
            "pull_interval = \"15m\"",
            "pull_interval = \"soon\"",
            12,
            "sync.pull_interval",
            "not a duration",
        ),
        (
            "page size out of range",
            "pull_interval = \"15m\"",
            "pull_interval = \"15m\"\npage_size = 0",
            13,
            "sync.page_size",
            "out of range",
        ),
        (
            "missing CA file",
            "ca_cert = \"ca.pem\"",
            "ca_cert = \"missing.pem\"",
            8,
            "upstream.ca_cert",
            "missing.pem",
        ),
        (
            "missing token file",
            "token_file = \"device.token\"",
            "token_file = \"nope.token\"",
            9,
            "upstream.token_file",
            "nope.token",
        ),
        (
            "plain http",
            "https://hub.example:8443",
            "http://hub.example:8443",
            7,
            "upstream.url",
            "https",
        ),
        (
            "bad pin",
            "token_file = \"device.token\"",
            "token_file = \"device.token\"\nspki_pin = \"md5/xyz\"",
            10,
            "upstream.spki_pin",
            "not an SPKI pin",
        ),
        (
            "unknown role",
            "roles = [\"gate\"]",
            "roles = [\"gate\", \"toaster\"]",
            3,
            "device.roles[1]",
            "unknown role",
        ),
        (
            "volunteer clock without its screen section",
            "roles = [\"gate\"]",
            "roles = [\"gate\", \"volunteer\"]",
            3,
            "device.roles",
            "role \"volunteer\" needs a [kiosk] section",
        ),
        (
            "bad device id",
            "id = \"gate-1\"",
            "id = \"gate 1!\"",
            2,
            "device.id",
            "characters",
        ),
        (
            "role without section",
            "[gate]\nname = \"North\"",
            "",
            3,
            "device.roles",
            "needs a [gate] section",
        ),
        (
            "missing required key",
            "url = \"https://hub.example:8443\"\n",
            "",
            6,
            "upstream.url",
            "missing required key",
        ),
        ("TOML syntax", "[sync]", "[sync", 11, "", "expected `]`"),
        (
            "unsupported country",
            "[gate]",
            "[matching]\ndefault_country = \"XX\"\n[gate]",
            15,
            "matching.default_country",
            "not a supported",
        ),
        (
            "unknown matching mode",
            "[gate]",
            "[matching]\nmode = \"fuzzy\"\n[gate]",
            15,
            "matching.mode",
            "not a matching mode",
        ),
        (
            "thresholds without scored mode",
            "[gate]",
            "[matching]\nmode = \"strict\"\nreview_from = 60\n[gate]",
            16,
            "matching.review_from",
            "only with mode = \"scored\"",
        ),
        (
            "threshold out of range",
            "[gate]",
            "[matching]\nmode = \"scored\"\nautomatic_above = 101\n[gate]",
            16,
            "matching.automatic_above",
            "out of range",
        ),
        (
            "unknown choice for several candidates",
            "[gate]",
            "[matching]\non_ambiguous = \"pick_first\"\n[gate]",
            15,
            "matching.on_ambiguous",
            "expected \"ask\" or \"create\"",
        ),
        (
            "empty review band",
            "[gate]",
            "[matching]\nmode = \"scored\"\nautomatic_above = 80\nreview_from = 90\n[gate]",
            17,
            "matching.review_from",
            "review band would be empty",
        ),
    ];
    let dir = folder();
    for (what, from, to, line, key, words) in cases {
        assert!(VALID.contains(from), "{what}: edit does not apply");
        let text = VALID.replacen(from, to, 1);
        let diags = check(dir.path(), &text).expect_err(what);
        let d = diags
            .iter()
            .find(|d| d.key == *key || key.is_empty())
            .unwrap_or_else(|| panic!("{what}: no diagnostic for {key:?} in {diags:#?}"));
        assert_eq!(d.line, *line, "{what}: {d}");
        assert!(d.column >= 1, "{what}: {d}");
        assert!(
            d.message.to_lowercase().contains(&words.to_lowercase()),
            "{what}: {d}"
        );
        let shown = d.to_string();
        assert!(
            shown.starts_with(&format!(
                "{}:{line}:",
                dir.path().join("device.toml").display()
            )),
            "{shown}"
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let dir = folder();
    let text = VALID
        .replace(
            "pull_interval = \"15m\"",
            "pull_interval = \"1s\"\nupload_batch = 9999",
        )
        .replace("ca_cert = \"ca.pem\"", "ca_cert = \"gone.pem\"")
        .replace(
            "name = \"North\"",
            "name = \"North\"\ndirection = \"sideways\"",
        );
    let diags = check(dir.path(), &text).unwrap_err();
    let keys: Vec<&str> = diags.iter().map(|d| d.key.as_str()).collect();
    for want in [
        "sync.pull_interval",
        "sync.upload_batch",
        "upstream.ca_cert",
        "gate.direction",
    ] {
        assert!(keys.contains(&want), "{want} not in {keys:?}");
    }
}

#[test]
fn under_systemd_the_token_comes_from_its_credentials() {
    let dir = folder();
    let creds = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.toml");
    let check = |credentials: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portico"));
        cmd.args(["config", "check"]).arg(&path);
        cmd.env_remove("CREDENTIALS_DIRECTORY");
        if let Some(d) = credentials {
            cmd.env("CREDENTIALS_DIRECTORY", d);
        }
        cmd.output().unwrap()
    };
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // No key and no credential: the error says both ways.
    std::fs::write(&path, VALID.replace("token_file = \"device.token\"\n", "")).unwrap();
    let out = check(None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("upstream.token_file: missing required key")
            && err.contains("LoadCredential=device.token:"),
        "{err}"
    );
    // A credentials folder without the token is no help.
    assert_eq!(check(Some(creds.path())).status.code(), Some(2));
    // systemd's copy of the token, private to the service.
    portico::hub::write_private(&creds.path().join("device.token"), b"secret").unwrap();
    ok(check(Some(creds.path())));
    // The credential is read instead of the file the key names, which the service user may
    // not be able to read (it stays root's): here, a file others may read, refused on its own.
    std::fs::write(&path, VALID).unwrap();
    chmod(&dir.path().join("device.token"), 0o644);
    assert_eq!(check(None).status.code(), Some(2));
    ok(check(Some(creds.path())));
}

#[test]
fn the_cli_prints_diagnostics_and_exits_non_zero() {
    let dir = folder();
    let path = dir.path().join("device.toml");
    std::fs::write(&path, VALID.replace("name = \"North\"", "nmae = \"North\"")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:15:1: gate.nmae: unknown field",
            path.display()
        )),
        "{err}"
    );

    std::fs::write(&path, VALID).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ok") && text.contains("gate-1") && text.contains("pull every 15m"),
        "{text}"
    );
}

#[test]
fn the_shipped_example_configs_are_valid_apart_from_the_target_machine_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config");
    for name in ["gate.toml", "kiosk.toml", "volunteer.toml"] {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        let diags = portico::config::parse(&root.join(name), &text)
            .map(|_| ())
            .unwrap_err();
        let d = diags.diagnostics();
        // Only files that exist on an installed device are missing here.
        for d in d {
            assert!(
                [
                    "upstream.ca_cert",
                    "upstream.token_file",
                    "device.data_dir",
                    "kiosk.technician_pin_file",
                    "gate.revocation_file",
                    "gate.technician_pin_file",
                    "gate.relay.chip",
                    "gate.passage.chip",
                ]
                .contains(&d.key.as_str()),
                "{name}: {d}"
            );
        }
    }
    // The demo config is complete once its hub files exist.
    let dir = folder();
    std::fs::create_dir_all(dir.path().join("hub")).unwrap();
    std::fs::copy(dir.path().join("ca.pem"), dir.path().join("hub/ca.pem")).unwrap();
    let text = std::fs::read_to_string(root.join("demo.toml")).unwrap();
    check(dir.path(), &text).unwrap();
}

/// A folder prepared for one case: the config text and the files it needs.
struct Case {
    what: &'static str,
    /// Edits of VALID: (from, to).
    edits: &'static [(&'static str, &'static str)],
    /// Changes the folder before the check.
    setup: fn(&Path),
    /// Expected exit code of `portico config check` (0: ok, perhaps with a warning).
    code: i32,
    line: usize,
    key: &'static str,
    words: &'static str,
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn none(_: &Path) {}

/// Everything `portico run` would refuse, `portico config check` refuses too (the systemd unit
/// runs it as ExecStartPre), with the line and key; warnings leave the exit code at 0.
#[test]
fn config_check_refuses_everything_run_would_refuse() {
    let cases: &[Case] = &[
        Case {
            what: "a CA file of garbage",
            edits: &[],
            setup: |d| std::fs::write(d.join("ca.pem"), "hello, I am not a certificate").unwrap(),
            code: 2,
            line: 8,
            key: "upstream.ca_cert",
            words: "no certificate",
        },
        Case {
            what: "a private key given as the CA",
            edits: &[],
            setup: |d| {
                let pki = portico::tls::generate_pki("CA", &["localhost".into()]).unwrap();
                std::fs::write(d.join("ca.pem"), pki.server_key_pem).unwrap();
            },
            code: 2,
            line: 8,
            key: "upstream.ca_cert",
            words: "no certificate",
        },
        Case {
            what: "an empty token",
            edits: &[],
            setup: |d| portico::hub::write_private(&d.join("device.token"), b"").unwrap(),
            code: 2,
            line: 9,
            key: "upstream.token_file",
            words: "is empty",
        },
        Case {
            what: "a token of white space",
            edits: &[],
            setup: |d| portico::hub::write_private(&d.join("device.token"), b" \n\t\n").unwrap(),
            code: 2,
            line: 9,
            key: "upstream.token_file",
            words: "is empty",
        },
        Case {
            what: "a token the group may read",
            edits: &[],
            setup: |d| chmod(&d.join("device.token"), 0o640),
            code: 2,
            line: 9,
            key: "upstream.token_file",
            words: "chmod 600",
        },
        Case {
            what: "a token anyone may read",
            edits: &[],
            setup: |d| chmod(&d.join("device.token"), 0o604),
            code: 2,
            line: 9,
            key: "upstream.token_file",
            words: "mode 0604",
        },
        Case {
            what: "a technician PIN file others may read",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\ntechnician_pin_file = \"technician.pin\"\n[gate]",
                ),
            ],
            setup: |d| std::fs::write(d.join("technician.pin"), "$argon2id$v=19$…").unwrap(),
            code: 2,
            line: 15,
            key: "kiosk.technician_pin_file",
            words: "chmod 600",
        },
        Case {
            what: "a printer address without a port",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\n[kiosk.printer]\naddress = \"printer.local\"\n[gate]",
                ),
            ],
            setup: |_| {},
            code: 2,
            line: 16,
            key: "kiosk.printer.address",
            words: "is not host:port",
        },
        Case {
            what: "a printer of an unknown kind",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\n[kiosk.printer]\nkind = \"bluetooth\"\naddress = \"10.0.0.9:9100\"\n[gate]",
                ),
            ],
            setup: |_| {},
            code: 2,
            line: 16,
            key: "kiosk.printer.kind",
            words: "expected \"tcp\", \"usb\" or \"serial\"",
        },
        Case {
            what: "paper of an unknown width",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\n[kiosk.printer]\naddress = \"10.0.0.9:9100\"\npaper = \"A4\"\n[gate]",
                ),
            ],
            setup: |_| {},
            code: 2,
            line: 17,
            key: "kiosk.printer.paper",
            words: "expected \"80mm\" or \"58mm\"",
        },
        Case {
            what: "a usb printer without its device",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                ("[gate]", "[kiosk]\n[kiosk.printer]\nkind = \"usb\"\n[gate]"),
            ],
            setup: |_| {},
            code: 2,
            line: 15,
            key: "kiosk.printer.device",
            words: "missing required key",
        },
        Case {
            what: "a terminal of an unknown kind",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\n[kiosk.terminal]\nkind = \"chip-and-pin\"\n[gate]",
                ),
            ],
            setup: |_| {},
            code: 2,
            line: 16,
            key: "kiosk.terminal.kind",
            words: "expected \"simulated\" or \"nexo\"",
        },
        Case {
            what: "a nexo terminal without its endpoint",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\n[kiosk.terminal]\nkind = \"nexo\"\npoi_id = \"V400m-1\"\nca_cert = \"ca.pem\"\n[gate]",
                ),
            ],
            setup: |_| {},
            code: 2,
            line: 15,
            key: "kiosk.terminal.url",
            words: "missing required key",
        },
        Case {
            what: "a nexo terminal over plain http",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\n[kiosk.terminal]\nkind = \"nexo\"\nurl = \"http://10.0.0.7:8443/nexo\"\npoi_id = \"V400m-1\"\nca_cert = \"ca.pem\"\n[gate]",
                ),
            ],
            setup: |_| {},
            code: 2,
            line: 17,
            key: "kiosk.terminal.url",
            words: "https://",
        },
        Case {
            what: "a nexo key on the simulator",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\n[kiosk.terminal]\nurl = \"https://10.0.0.7:8443/nexo\"\n[gate]",
                ),
            ],
            setup: |_| {},
            code: 2,
            line: 16,
            key: "kiosk.terminal.url",
            words: "only a \"nexo\" terminal takes this key",
        },
        Case {
            what: "a terminal API key others can read",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\n[kiosk.terminal]\nkind = \"nexo\"\nurl = \"https://10.0.0.7:8443/nexo\"\npoi_id = \"V400m-1\"\nca_cert = \"ca.pem\"\napi_key_file = \"terminal.key\"\n[gate]",
                ),
            ],
            setup: |d| {
                use std::os::unix::fs::PermissionsExt;
                let f = d.join("terminal.key");
                std::fs::write(&f, "AQE1hmfxK…").unwrap();
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            },
            code: 2,
            line: 20,
            key: "kiosk.terminal.api_key_file",
            words: "group or others may read it",
        },
        Case {
            what: "an order prefix in lower case",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                ("[gate]", "[kiosk]\norder_prefix = \"kiosk-1\"\n[gate]"),
            ],
            setup: |_| {},
            code: 2,
            line: 15,
            key: "kiosk.order_prefix",
            words: "capital letters or digits",
        },
        Case {
            what: "a lease batch of none",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                ("[gate]", "[kiosk]\n[kiosk.leases]\nbatch = 0\n[gate]"),
            ],
            setup: |_| {},
            code: 2,
            line: 16,
            key: "kiosk.leases.batch",
            words: "out of range",
        },
        Case {
            what: "an out-of-order limit of a minute (the hub is often silent that long)",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                ("[gate]", "[kiosk]\noffline_limit = \"1m\"\n[gate]"),
            ],
            setup: |_| {},
            code: 2,
            line: 15,
            key: "kiosk.offline_limit",
            words: "out of range",
        },
        Case {
            what: "kiosk records kept a day (too short to print a visitor's tickets again)",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                ("[gate]", "[kiosk]\nkeep_records = \"1day\"\n[gate]"),
            ],
            setup: |_| {},
            code: 2,
            line: 15,
            key: "kiosk.keep_records",
            words: "out of range (7days to 10years)",
        },
        Case {
            what: "a last admission written as a 12-hour time",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                ("[gate]", "[kiosk]\nlast_admission = \"4:30 PM\"\n[gate]"),
            ],
            setup: |_| {},
            code: 2,
            line: 15,
            key: "kiosk.last_admission",
            words: "not a time of day like \"16:30\"",
        },
        Case {
            what: "a technician card too short to be safe",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                ("[gate]", "[kiosk]\ntechnician_cards = [\"1234\"]\n[gate]"),
            ],
            setup: |_| {},
            code: 2,
            line: 15,
            key: "kiosk.technician_cards",
            words: "at least 8 characters",
        },
        Case {
            what: "a volunteer clock rounding to the hour's wrong side",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\n[kiosk.volunteer_clock]\nrounding = \"sideways\"\n[gate]",
                ),
            ],
            setup: |_| {},
            code: 2,
            line: 16,
            key: "kiosk.volunteer_clock.rounding",
            words: "\"nearest\", \"down\" or \"up\"",
        },
        Case {
            what: "a misspelt printer key",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"gate\", \"kiosk\"]"),
                (
                    "[gate]",
                    "[kiosk]\n[kiosk.printer]\nadress = \"10.0.0.9:9100\"\n[gate]",
                ),
            ],
            setup: |_| {},
            code: 2,
            line: 16,
            key: "kiosk.printer.adress",
            words: "unknown",
        },
        Case {
            what: "a data_dir that is a file",
            edits: &[],
            setup: |d| std::fs::write(d.join("data"), "").unwrap(),
            code: 2,
            line: 4,
            key: "device.data_dir",
            words: "is a file",
        },
        Case {
            what: "a data_dir nobody may write",
            edits: &[("data_dir = \"data\"", "data_dir = \"/proc/self\"")],
            setup: none,
            code: 2,
            line: 4,
            key: "device.data_dir",
            words: "not writable",
        },
        Case {
            what: "a status socket path over the kernel's limit",
            edits: &[(
                "data_dir = \"data\"",
                "data_dir = \"data\"\nstatus_socket = \"run/a-socket-name-far-longer-than-any-kernel-accepts-for-a-unix-domain-socket-path-here.sock\"",
            )],
            setup: |d| std::fs::create_dir(d.join("run")).unwrap(),
            code: 2,
            line: 5,
            key: "device.status_socket",
            words: "limit of 107",
        },
        Case {
            what: "an unknown time zone",
            edits: &[(
                "data_dir = \"data\"",
                "data_dir = \"data\"\ntimezone = \"Europe/Londn\"",
            )],
            setup: none,
            code: 2,
            line: 5,
            key: "device.timezone",
            words: "did you mean \"Europe/London\"",
        },
        Case {
            what: "a URL with a user and password",
            edits: &[(
                "https://hub.example:8443",
                "https://gate:hunter2@hub.example:8443",
            )],
            setup: none,
            code: 2,
            line: 7,
            key: "upstream.url",
            words: "user name or password",
        },
        Case {
            what: "a URL with a query",
            edits: &[(
                "https://hub.example:8443",
                "https://hub.example:8443/?debug=1",
            )],
            setup: none,
            code: 2,
            line: 7,
            key: "upstream.url",
            words: "query",
        },
        Case {
            what: "a URL with a fragment",
            edits: &[("https://hub.example:8443", "https://hub.example:8443/#top")],
            setup: none,
            code: 2,
            line: 7,
            key: "upstream.url",
            words: "fragment",
        },
        Case {
            what: "a URL with port 0",
            edits: &[("https://hub.example:8443", "https://hub.example:0")],
            setup: none,
            code: 2,
            line: 7,
            key: "upstream.url",
            words: "port 0",
        },
        Case {
            what: "one GPIO line as relay and passage sensor",
            edits: &[(
                "name = \"North\"",
                "name = \"North\"\n[gate.relay]\nkind = \"gpio\"\nchip = \"{dir}/chip0\"\nline = 4\n[gate.passage]\nsensor = \"gpio\"\nchip = \"{dir}/chip0-link\"\nline = 4",
            )],
            setup: |d| {
                std::fs::write(d.join("chip0"), "").unwrap();
                std::os::unix::fs::symlink(d.join("chip0"), d.join("chip0-link")).unwrap();
            },
            code: 2,
            line: 23,
            key: "gate.passage.line",
            words: "already used by gate.relay.line",
        },
        Case {
            what: "one serial port as relay board and scanner",
            edits: &[(
                "name = \"North\"",
                "name = \"North\"\n[gate.relay]\nkind = \"serial\"\nport = \"{dir}/tty-relay\"\nopen_hex = \"01\"\nclose_hex = \"00\"\n[[inputs]]\nname = \"scanner\"\nkind = \"serial\"\npath = \"{dir}/tty-relay\"",
            )],
            setup: |d| std::fs::write(d.join("tty-relay"), "").unwrap(),
            code: 2,
            line: 24,
            key: "inputs[0].path",
            words: "already used by gate.relay.port",
        },
        Case {
            what: "a relay chip that is not there",
            edits: &[(
                "name = \"North\"",
                "name = \"North\"\n[gate.relay]\nkind = \"gpio\"\nchip = \"/dev/no-such-gpiochip\"\nline = 4",
            )],
            setup: none,
            code: 2,
            line: 18,
            key: "gate.relay.chip",
            words: "does not exist",
        },
        Case {
            what: "a block list with a line the gate cannot read",
            edits: &[(
                "name = \"North\"",
                "name = \"North\"\nrevocation_file = \"blocked.txt\"",
            )],
            setup: |d| {
                std::fs::write(d.join("blocked.txt"), "ticket:ABC\n# staff\nnot a key\n").unwrap()
            },
            code: 2,
            line: 16,
            key: "gate.revocation_file",
            words: "blocked.txt:3:",
        },
        Case {
            what: "a gate section on a kiosk-only device (a warning)",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"kiosk\"]"),
                ("[gate]", "[kiosk]\n[gate]"),
            ],
            setup: none,
            code: 0,
            line: 15,
            key: "gate",
            words: "warning: this device has no \"gate\" role",
        },
        Case {
            what: "another device's gate section, its files and hardware absent here (a warning)",
            edits: &[
                ("roles = [\"gate\"]", "roles = [\"kiosk\"]"),
                ("[gate]", "[kiosk]\n[gate]"),
                (
                    "name = \"North\"",
                    "name = \"North\"\nrevocation_file = \"nope.txt\"\n[gate.relay]\nkind = \"gpio\"\nchip = \"/dev/no-such-gpiochip\"\nline = 4",
                ),
            ],
            setup: none,
            code: 0,
            line: 15,
            key: "gate",
            words: "is not used",
        },
        Case {
            what: "a status socket path taken by another file",
            edits: &[(
                "data_dir = \"data\"",
                "data_dir = \"data\"\nstatus_socket = \"victim.txt\"",
            )],
            setup: |d| std::fs::write(d.join("victim.txt"), "not a socket").unwrap(),
            code: 2,
            line: 5,
            key: "device.status_socket",
            words: "not a socket",
        },
        Case {
            what: "a token no request can carry",
            edits: &[],
            setup: |d| {
                portico::hub::write_private(&d.join("device.token"), b"abc def\nghi").unwrap()
            },
            code: 2,
            line: 9,
            key: "upstream.token_file",
            words: "characters a token cannot have",
        },
        Case {
            what: "a URL with a password that does not parse",
            edits: &[(
                "https://hub.example:8443",
                "https:gate:hunter2@hub.example:99999",
            )],
            setup: none,
            code: 2,
            line: 7,
            key: "upstream.url",
            words: "is not a URL",
        },
        Case {
            what: "a duplicate key",
            edits: &[("name = \"North\"", "name = \"North\"\nname = \"South\"")],
            setup: none,
            code: 2,
            line: 16,
            key: "gate.name",
            words: "duplicate key",
        },
    ];
    for case in cases {
        let dir = folder();
        let mut text = VALID.to_owned();
        for (from, to) in case.edits {
            assert!(text.contains(from), "{}: edit does not apply", case.what);
            text = text.replacen(from, to, 1);
        }
        let text = text.replace("{dir}", &dir.path().display().to_string());
        (case.setup)(dir.path());
        let path = dir.path().join("device.toml");
        std::fs::write(&path, &text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(["config", "check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(case.code), "{}: {err}", case.what);
        let want = format!("{}:{}:", path.display(), case.line);
        let line = err
            .lines()
            .find(|l| l.starts_with(&want) && l.contains(&format!(": {}: ", case.key)))
            .unwrap_or_else(|| panic!("{}: no {want}…{} in {err}", case.what, case.key));
        assert!(line.contains(case.words), "{}: {line}", case.what);
        assert!(
            !err.contains("hunter2"),
            "{}: a password was printed: {err}",
            case.what
        );
        assert!(
            !err.contains("secret"),
            "{}: the token was printed: {err}",
            case.what
        );
    }
}

#[test]
fn a_bare_file_name_resolves_like_dot_slash() {
    let dir = folder();
    std::fs::write(dir.path().join("device.toml"), VALID).unwrap();
    for given in ["device.toml", "./device.toml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(["config", "check", given])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{given}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&dir.path().join("data").display().to_string()),
            "{given}: data_dir not resolved beside the file: {text}"
        );
    }
}

#[test]
fn a_file_that_is_not_utf8_names_the_first_bad_byte() {
    let dir = folder();
    let path = dir.path().join("device.toml");
    let mut bytes = VALID.as_bytes().to_vec();
    let at = VALID.find("North").unwrap() + 2;
    bytes.insert(at, 0xE9); // Latin-1 "é"
    std::fs::write(&path, bytes).unwrap();
    let diags = portico::config::load(&path).unwrap_err();
    let d = &diags.diagnostics()[0];
    assert_eq!((d.line, d.column), (15, 11), "{d}");
    assert!(
        d.message.contains("not UTF-8") && d.message.contains("0xE9"),
        "{d}"
    );
}
