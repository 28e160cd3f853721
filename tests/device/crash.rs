//! The crash campaign, shortened: `portico bench crash` with a dozen kills instead of a hundred.
//! A real hub and a real device process on loopback TLS, ticket codes through a pty scanner,
//! the device killed with SIGKILL at random moments while it scans, pulls and uploads.

use std::process::Command;

#[test]
fn a_device_killed_at_random_moments_loses_no_scan_and_records_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["bench", "crash", "--json", "--kills", "12", "--seed", "7"])
        .args(["--constituents", "500", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run portico bench crash");
    assert!(
        out.status.success(),
        "bench crash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let n = |k: &str| {
        r[k].as_u64()
            .unwrap_or_else(|| panic!("{k} missing in {r:#}"))
    };

    assert_eq!(n("kills"), 12);
    // Scans were acknowledged between the kills, not only after the last start.
    assert!(n("acknowledged_before_drain") > 0, "{r:#}");
    assert!(n("acknowledged") >= n("acknowledged_before_drain"));
    assert!(n("scans_recorded") >= n("acknowledged"), "{r:#}");
    assert!(n("hub_changes_during_campaign") > 0, "{r:#}");

    assert_eq!(n("lost"), 0, "acknowledged scans missing at the hub: {r:#}");
    assert_eq!(n("duplicated"), 0, "a ticket recorded twice: {r:#}");
    assert_eq!(n("recorded_not_at_hub"), 0, "{r:#}");
    assert_eq!(n("outbox_undelivered"), 0, "{r:#}");
    assert_eq!(n("kept_aside"), 0, "{r:#}");
    assert_eq!(r["integrity_check_device"], "ok");
    assert_eq!(r["integrity_check_hub"], "ok");
    assert_eq!(r["replica_equals_hub"], true, "{r:#}");
    assert_eq!(n("at_hub"), n("scans_recorded"), "{r:#}");
    // What a kill can cost: the one code in flight, read but not yet committed.
    assert!(n("fed_not_recorded") <= n("kills"), "{r:#}");
}
