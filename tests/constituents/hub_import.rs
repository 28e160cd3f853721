//! `portico hub import` of a venue's CSV exports: a table of malformed rows, each reported with
//! its file, row and column and nothing applied; a re-import that changes 10 records makes
//! exactly 10 feed changes; the imported records reach a device's replica as they were in the
//! files; records missing from a full export are reported, and deleted only when asked.

use std::path::Path;
use std::process::Command;

use crate::common::{TestDevice, TestHub, manual_clock};
use portico::protocol::{ConstituentDto, MembershipDto, Resource};

const HEADER: &str = "Lookup ID,Title,First name,Last name,Birth date,Constituent status,\
Email address 1,Email type 1,Email primary 1,Phone number 1,Address line 1 1,City 1,ZIP 1";

fn row(i: usize, first: &str) -> String {
    format!(
        "8-9{i:04},,{first},Import{i},05/{:02}/1975,Active,{}.import{i}@riverside-mail.com,Email,Yes,\
         (617) 253-{:04},{i} River Road,Springfield,011{:02}",
        i % 28 + 1,
        first.to_lowercase(),
        1000 + i,
        i % 100
    )
}

fn constituents_csv(n: usize, changed: &[usize]) -> String {
    let mut out = format!("{HEADER}\n");
    for i in 0..n {
        let first = if changed.contains(&i) { "Bea" } else { "Ana" };
        out.push_str(&row(i, first));
        out.push('\n');
    }
    out
}

fn memberships_csv(n: usize) -> String {
    let mut out = "Membership ID,Membership level,Membership status,Start date,Expiration date,\
Member lookup IDs,Guest allowance\n"
        .to_owned();
    for i in 0..n {
        out.push_str(&format!(
            "M9{i:06},Family,Active,2026-01-01,12/31/2027,8-9{:04};8-9{:04},2\n",
            2 * i,
            2 * i + 1
        ));
    }
    out
}

fn hub_import(hub: &TestHub, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["hub", "import", "--dir"])
        .arg(hub.dir.path())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn feed_changes_since(hub: &TestHub, seq: i64) -> i64 {
    hub.store
        .read(|c| {
            Ok(
                c.query_row("SELECT count(*) FROM records WHERE seq > ?1", [seq], |r| {
                    r.get(0)
                })?,
            )
        })
        .unwrap()
}

fn last_seq(hub: &TestHub) -> i64 {
    hub.store
        .read(|c| {
            Ok(
                c.query_row("SELECT coalesce(max(seq), 0) FROM records", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn each_malformed_row_is_reported_with_its_file_row_and_column_and_nothing_is_applied() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hub = rt.block_on(TestHub::start(5));
    let folder = tempfile::tempdir().unwrap();
    let good = row(1, "Ana");
    // (what, the bad row, column reported, words in the reason)
    let cases = [
        (
            "no Lookup ID",
            good.replacen("8-90001", "", 1),
            "Lookup ID",
            "empty",
        ),
        (
            "bad birth date",
            good.replace("05/02/1975", "1975-31-12"),
            "Birth date",
            "not a date",
        ),
        (
            "bad status",
            good.replace(",Active,", ",Gone,"),
            "Constituent status",
            "not Active",
        ),
        (
            "bad email",
            good.replace("ana.import1@riverside-mail.com", "ana at home"),
            "Email address 1",
            "not an email",
        ),
        (
            "bad flag",
            good.replace(",Yes,", ",Maybe,"),
            "Email primary 1",
            "not yes or no",
        ),
        (
            "short row",
            "8-99999,,Ana".to_owned(),
            "(row)",
            "cells where the header has",
        ),
        ("duplicate", row(0, "Ana"), "(row)", "is on row 2 already"),
    ];
    let before = last_seq(&hub);
    for (what, bad, column, words) in cases {
        let csv = format!("{HEADER}\n{}\n{bad}\n{}\n", row(0, "Ana"), row(2, "Ana"));
        let file = write(folder.path(), "constituents.csv", &csv);
        let (ok, out) = hub_import(&hub, &["--constituents", &file]);
        assert!(!ok, "{what}: {out}");
        let want = format!("rejected {file}:3: {column}: ");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&want) && l.contains(words)),
            "{what}: {out}"
        );
        assert!(out.contains("nothing imported"), "{what}: {out}");
        assert_eq!(
            feed_changes_since(&hub, before),
            0,
            "{what}: nothing applied"
        );
    }
    // A member who is no constituent rejects the membership's row.
    let members = "Membership ID,Membership level,Membership status,Start date,Expiration date,\
Member lookup IDs,Guest allowance\nM9000001,Family,Active,2026-01-01,2027-12-31,8-00000000,2\n";
    let file = write(folder.path(), "memberships.csv", members);
    let (ok, out) = hub_import(&hub, &["--memberships", &file]);
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "rejected {file}:2: Member lookup IDs: membership M9000001: member 8-00000000 is not a constituent"
        )),
        "{out}"
    );
    // With --skip-bad-rows the good rows go in, the bad one is still reported.
    let csv = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        row(0, "Ana"),
        good.replace(",Active,", ",Gone,"),
        row(2, "Ana")
    );
    let file = write(folder.path(), "constituents.csv", &csv);
    let (ok, out) = hub_import(&hub, &["--constituents", &file, "--skip-bad-rows"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("rejected") && out.contains("constituents: 2 read, 2 new"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reimport_applies_only_what_changed_and_devices_receive_the_records() {
    let hub = TestHub::start(0).await;
    let folder = tempfile::tempdir().unwrap();
    let people = write(
        folder.path(),
        "constituents.csv",
        &constituents_csv(40, &[]),
    );
    let members = write(folder.path(), "memberships.csv", &memberships_csv(10));
    let (ok, out) = hub_import(
        &hub,
        &["--constituents", &people, "--memberships", &members],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("constituents: 40 read, 40 new, 0 changed"),
        "{out}"
    );
    assert!(out.contains("memberships: 10 read, 10 new"), "{out}");

    // The newer export: 10 people renamed; the memberships as they were.
    let changed: Vec<usize> = (0..40).step_by(4).collect();
    let before = last_seq(&hub);
    let people = write(
        folder.path(),
        "constituents.csv",
        &constituents_csv(40, &changed),
    );
    let (ok, out) = hub_import(
        &hub,
        &["--constituents", &people, "--memberships", &members],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("constituents: 40 read, 0 new, 10 changed, 30 unchanged"),
        "{out}"
    );
    assert!(
        out.contains("memberships: 10 read, 0 new, 0 changed, 10 unchanged"),
        "{out}"
    );
    assert_eq!(
        feed_changes_since(&hub, before),
        10,
        "exactly 10 feed changes"
    );

    // A device's replica holds the records as the files had them.
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    device.engine.pull_all(None).await.unwrap();
    let conn = portico::replica::open(&dev.config().database_path()).unwrap();
    let renamed = portico::replica::constituent(&conn, "8-90004")
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name.first, "Bea");
    assert_eq!(renamed.emails[0].address, "bea.import4@riverside-mail.com");
    assert!(renamed.emails[0].meta.primary);
    assert_eq!(renamed.addresses[0].postcode.as_deref(), Some("01104"));
    let hub_copy: ConstituentDto = hub.store.constituent("8-90004").unwrap().unwrap();
    assert_eq!(
        hub_copy.birth_date,
        chrono::NaiveDate::from_ymd_opt(1975, 5, 5)
    );
    let m: MembershipDto = hub
        .store
        .all::<MembershipDto>(Resource::Memberships)
        .unwrap()
        .into_iter()
        .find(|m| m.membership_id == "M9000003")
        .unwrap();
    assert_eq!(m.members, ["8-90006", "8-90007"]);
    assert!(
        portico::replica::membership(&conn, "M9000003")
            .unwrap()
            .is_some(),
        "the membership reached the device"
    );

    // A full export without the last 5 people: reported, kept; deleted when asked.
    let people = write(
        folder.path(),
        "constituents.csv",
        &constituents_csv(35, &changed),
    );
    let (ok, out) = hub_import(&hub, &["--constituents", &people]);
    assert!(ok, "{out}");
    assert!(
        out.contains("constituents: 5 held by the hub but not in the export (kept"),
        "{out}"
    );
    assert_eq!(hub.store.count(Resource::Constituents).unwrap(), 40);
    let (ok, out) = hub_import(&hub, &["--constituents", &people, "--delete-missing"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("5 held by the hub but not in the export, deleted"),
        "{out}"
    );
    assert_eq!(hub.store.count(Resource::Constituents).unwrap(), 35);
}

/// A seeded hub exported and imported into an empty one holds the same people and memberships,
/// and a device synced from it has them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imported_into_another_hub_gives_the_same_records_on_its_devices() {
    use portico::domain::ConstituentStatus;
    let from = TestHub::start(300).await;
    let to = TestHub::start(0).await;
    let folder = tempfile::tempdir().unwrap();
    let people = folder.path().join("constituents.csv");
    let members = folder.path().join("memberships.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["hub", "export", "--dir"])
        .arg(from.dir.path())
        .arg("--constituents")
        .arg(&people)
        .arg("--memberships")
        .arg(&members)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, shown) = hub_import(
        &to,
        &[
            "--constituents",
            people.to_str().unwrap(),
            "--memberships",
            members.to_str().unwrap(),
        ],
    );
    assert!(ok, "{shown}");
    let live = |hub: &TestHub| -> Vec<ConstituentDto> {
        hub.store
            .all::<ConstituentDto>(Resource::Constituents)
            .unwrap()
            .into_iter()
            .filter(|c| c.status != ConstituentStatus::Merged)
            .map(|c| ConstituentDto {
                // Former names come from the CRM's merges, not from its export.
                historical_names: vec![],
                ..c
            })
            .collect()
    };
    let (a, b) = (live(&from), live(&to));
    assert!(a.len() > 250, "{}", a.len());
    assert_eq!(a.len(), b.len(), "as many people");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "the same person");
    }
    let memberships = |hub: &TestHub| {
        hub.store
            .all::<MembershipDto>(Resource::Memberships)
            .unwrap()
    };
    assert_eq!(memberships(&from), memberships(&to), "the same memberships");
    // The export imported back into its own hub changes nothing, and the merged-away records
    // (which no export lists) are not reported missing.
    let before = last_seq(&from);
    let (ok, shown) = hub_import(
        &from,
        &[
            "--constituents",
            people.to_str().unwrap(),
            "--memberships",
            members.to_str().unwrap(),
        ],
    );
    assert!(ok, "{shown}");
    let unchanged = format!(
        "constituents: {0} read, 0 new, 0 changed, {0} unchanged",
        a.len()
    );
    assert!(shown.contains(&unchanged), "{shown}");
    assert!(!shown.contains("not in the export"), "{shown}");
    assert_eq!(feed_changes_since(&from, before), 0);

    let dev = TestDevice::new(&to, "gate-1", &to.ca, "", "");
    let device = dev.open(manual_clock());
    device.engine.pull_all(None).await.unwrap();
    let conn = portico::replica::open(&dev.config().database_path()).unwrap();
    for c in a.iter().step_by(25) {
        let on_device = portico::replica::constituent(&conn, &c.lookup_id)
            .unwrap()
            .unwrap_or_else(|| panic!("{} on the device", c.lookup_id));
        assert_eq!(on_device.name.last, c.name.last);
        assert_eq!(on_device.emails.len(), c.emails.len());
        assert_eq!(on_device.addresses.len(), c.addresses.len());
    }
}

/// Emails and phones in files of their own, one entry a row keyed by Lookup ID, join their
/// constituents; an entry for someone not in the constituents file is rejected.
#[test]
fn contact_lists_in_files_of_their_own_join_their_constituents() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hub = rt.block_on(TestHub::start(0));
    let folder = tempfile::tempdir().unwrap();
    let people = write(
        folder.path(),
        "people.csv",
        "Lookup ID,First name,Last name\n8-7001,Ana,López\n8-7002,Ben,Ng\n",
    );
    let emails = write(
        folder.path(),
        "emails.csv",
        "Lookup ID,Email address,Email type,Email primary\n\
         8-7001,ana@riverside-mail.com,Personal,Yes\n\
         8-7001,ana@work-mail.com,Work,No\n\
         8-7002,ben@riverside-mail.com,Personal,Yes\n",
    );
    let phones = write(
        folder.path(),
        "phones.csv",
        "Lookup ID,Phone number,Phone type\n8-7002,(617) 253-1000,Mobile\n",
    );
    let (ok, out) = hub_import(
        &hub,
        &[
            "--constituents",
            &people,
            "--emails",
            &emails,
            "--phones",
            &phones,
        ],
    );
    assert!(ok, "{out}");
    let ana = hub.store.constituent("8-7001").unwrap().unwrap();
    let addresses: Vec<&str> = ana.emails.iter().map(|e| e.address.as_str()).collect();
    assert_eq!(addresses, ["ana@riverside-mail.com", "ana@work-mail.com"]);
    assert!(ana.emails[0].meta.primary && !ana.emails[1].meta.primary);
    let ben = hub.store.constituent("8-7002").unwrap().unwrap();
    assert_eq!(ben.phones[0].number, "(617) 253-1000");
    assert_eq!(ben.phones[0].meta.kind, "Mobile");

    let stray = write(
        folder.path(),
        "emails.csv",
        "Lookup ID,Email address\n8-7001,ana@riverside-mail.com\n8-7999,who@riverside-mail.com\n",
    );
    let (ok, out) = hub_import(&hub, &["--constituents", &people, "--emails", &stray]);
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "rejected {stray}:3: Lookup ID: 8-7999 is not in the constituents file"
        )),
        "{out}"
    );
}
