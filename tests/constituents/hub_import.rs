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

/// Runs `portico` with `args`: whether it succeeded, and what it printed (stdout, then stderr).
fn portico<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
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

fn hub_import(hub: &TestHub, args: &[&str]) -> (bool, String) {
    let dir = hub.dir.path().display().to_string();
    portico(["hub", "import", "--dir", &dir].iter().chain(args))
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

/// The catalog's five files: checked against one another and the hub (a product's tax rule,
/// visitor categories and slot group; a slot's seats already sold), applied only where they
/// differ, and delivered to a device's replica as the kiosk reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_is_imported_checked_and_reaches_the_devices() {
    use portico::kiosk::catalog::Admission;
    let hub = TestHub::start(0).await;
    let folder = tempfile::tempdir().unwrap();
    let day = crate::common::anchor() + chrono::Duration::days(1);
    let categories = write(
        folder.path(),
        "categories.csv",
        "Category ID,Category,Category (Spanish),Sort order\n\
         adult,Adult,Adulto,0\n\
         student,Student,Estudiante,5\n",
    );
    let tax_rules = write(
        folder.path(),
        "tax-rules.csv",
        "Tax rule ID,Tax rule,Rate (%),Included in price\nmuseum,Admissions tax,6.25,No\n",
    );
    let products_csv = "Product ID,Product,Product (Spanish),Type,Admission,Slot group,Tax rule ID,\
Channels,Member benefit,Membership level,Guest allowance\n\
GALLERY,Gallery entry,Entrada a la galería,Ticket,Timed,gallery,museum,kiosk;web,Yes,,\n\
AUDIO,Audio guide,Audioguía,Add-on,Dated,,museum,kiosk,,,\n\
MEM-DUAL,Dual membership,Membresía dual,Membership,,,exempt,kiosk,,Dual,1\n";
    let products = write(folder.path(), "products.csv", products_csv);
    let prices_csv = |student: &str| {
        format!(
            "Product ID,Category ID,Price,Member price,Guest price\n\
             GALLERY,adult,$18.00,0,9.00\n\
             GALLERY,student,{student},0,\n\
             AUDIO,,5,4,\n\
             MEM-DUAL,,95.00,90.00,\n"
        )
    };
    let prices = write(folder.path(), "prices.csv", &prices_csv("12.50"));
    let mut slots_csv = "Slot group,Date,Start time,End time,Capacity\n".to_owned();
    for h in 10..16 {
        slots_csv.push_str(&format!("gallery,{day},{h}:00,{h}:30,40\n"));
    }
    let slots = write(folder.path(), "slots.csv", &slots_csv);
    let all = [
        "--categories",
        &categories,
        "--tax-rules",
        &tax_rules,
        "--products",
        &products,
        "--prices",
        &prices,
        "--slots",
        &slots,
    ];

    // A product whose tax rule nobody has, a price of a category nobody has: each reported
    // with its row and column, and nothing applied.
    let before = last_seq(&hub);
    let bad_products = write(
        folder.path(),
        "bad-products.csv",
        &products_csv.replace(
            "AUDIO,Audio guide,Audioguía,Add-on,Dated,,museum",
            "AUDIO,Audio guide,Audioguía,Add-on,Dated,,vat",
        ),
    );
    let bad_prices = write(
        folder.path(),
        "bad-prices.csv",
        &prices_csv("12.50").replace("GALLERY,student", "GALLERY,retired"),
    );
    let mut bad = all;
    bad[5] = &bad_products;
    bad[7] = &bad_prices;
    let (ok, out) = hub_import(&hub, &bad);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "rejected {bad_products}:3: Tax rule ID: no tax rule \"vat\""
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "rejected {bad_prices}:3: Category ID: no visitor category \"retired\""
        )),
        "{out}"
    );
    assert_eq!(feed_changes_since(&hub, before), 0, "nothing applied");

    let (ok, out) = hub_import(&hub, &all);
    assert!(ok, "{out}");
    // The seeded zoo already has the same adult category: unchanged.
    assert!(
        out.contains("categories: 2 read, 1 new, 0 changed, 1 unchanged"),
        "{out}"
    );
    assert!(out.contains("tax rules: 1 read, 1 new"), "{out}");
    assert!(out.contains("products: 3 read, 3 new"), "{out}");
    assert!(out.contains("slots: 6 read, 6 new"), "{out}");
    // The zoo's products are not in the museum's file: reported, still on sale.
    assert!(
        out.contains("products: ")
            && out.contains("(kept; --delete-missing withdraws them from sale)"),
        "{out}"
    );

    // The same files again change nothing; one price changed is one feed change.
    let before = last_seq(&hub);
    let (ok, out) = hub_import(&hub, &all);
    assert!(ok, "{out}");
    assert!(
        out.contains("products: 3 read, 0 new, 0 changed, 3 unchanged"),
        "{out}"
    );
    assert_eq!(feed_changes_since(&hub, before), 0);
    write(folder.path(), "prices.csv", &prices_csv("11.00"));
    let (ok, out) = hub_import(&hub, &all);
    assert!(ok, "{out}");
    assert!(
        out.contains("products: 3 read, 0 new, 1 changed, 2 unchanged"),
        "{out}"
    );
    assert_eq!(feed_changes_since(&hub, before), 1);

    // The device's replica holds the catalog as the kiosk reads it.
    let dev = TestDevice::new(&hub, "gate-1", &hub.ca, "", "");
    let device = dev.open(manual_clock());
    device.engine.pull_all(None).await.unwrap();
    let conn = portico::replica::open(&dev.config().database_path()).unwrap();
    let loaded = portico::replica::catalog::load_catalog(&conn, day, day).unwrap();
    assert!(loaded.unreadable.is_empty(), "{:?}", loaded.unreadable);
    let catalog = loaded.catalog;
    let gallery = &catalog.products["GALLERY"];
    assert_eq!(gallery.names.es, "Entrada a la galería");
    assert_eq!(
        gallery.admission,
        Admission::Timed {
            slot_group: "gallery".into()
        }
    );
    let student = gallery
        .prices
        .iter()
        .find(|p| p.category == "student")
        .unwrap();
    assert_eq!((student.non_member, student.member), (1100, 0));
    let adult = gallery
        .prices
        .iter()
        .find(|p| p.category == "adult")
        .unwrap();
    assert_eq!((adult.non_member, adult.guest), (1800, Some(900)));
    assert_eq!(catalog.products["AUDIO"].flat, Some((500, 400)));
    let dual = catalog.products["MEM-DUAL"].membership.as_ref().unwrap();
    assert_eq!((dual.level.as_str(), dual.guest_allowance), ("Dual", 1));
    assert_eq!(catalog.tax_rules["museum"].rate_bp, 625);
    assert_eq!(catalog.categories["student"].names.es, "Estudiante");
    let gallery_slots: Vec<_> = catalog
        .slots
        .values()
        .filter(|s| s.group == "gallery")
        .collect();
    assert_eq!(gallery_slots.len(), 6);
    assert!(gallery_slots.iter().all(|s| s.capacity == 40));

    // A slot's capacity cannot drop below the seats already sold.
    let slot_id = format!("gallery@{day}T10:00");
    hub.store
        .write(|tx, _| portico::hub::leases::record_sale(tx, &slot_id, 30, None))
        .unwrap();
    let fewer = write(
        folder.path(),
        "fewer-slots.csv",
        &slots_csv.replacen(
            &format!("gallery,{day},10:00,10:30,40"),
            &format!("gallery,{day},10:00,10:30,20"),
            1,
        ),
    );
    let (ok, out) = hub_import(&hub, &["--slots", &fewer]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "rejected {fewer}:2: Capacity: capacity 20 is below the 30 seats already sold"
        )),
        "{out}"
    );

    // --delete-missing withdraws the zoo's products from sale, keeping their records.
    let (ok, out) = hub_import(&hub, &[&all[..], &["--delete-missing"]].concat());
    assert!(ok, "{out}");
    assert!(
        out.contains("withdrawn from sale (kept for the tickets sold)"),
        "{out}"
    );
    let timed: portico::protocol::ProductDto = serde_json::from_str(
        &hub.store
            .get_doc(Resource::Catalog, "TIMED")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(!timed.active);
}

/// The seeded zoo's catalog exported and imported into an empty hub: the kiosks of both hubs
/// sell the same products at the same prices in the same slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_export_imported_into_another_hub_sells_the_same() {
    use portico::hub::catalog::{ANY_CHANNEL, published};
    let from = TestHub::start(0).await;
    let to = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let file = |name: &str| folder.path().join(name).display().to_string();
    let kinds = ["categories", "tax-rules", "products", "prices", "slots"];
    let mut args: Vec<String> = vec!["hub".into(), "export".into(), "--dir".into()];
    args.push(from.dir.path().display().to_string());
    for k in kinds {
        args.push(format!("--{k}"));
        args.push(file(&format!("{k}.csv")));
    }
    let (ok, printed) = portico(&args);
    assert!(ok, "{printed}");
    assert!(printed.contains("8 products written"), "{printed}");
    args[1] = "import".into();
    args[3] = to.path().display().to_string();
    let (ok, printed) = portico(&args);
    assert!(ok, "{printed}");
    assert!(printed.contains("products: 8 read, 8 new"), "{printed}");

    let to_store = portico::hub::HubStore::open(&to.path().join("hub.db")).unwrap();
    let slot_ids: Vec<String> = from
        .store
        .all::<portico::protocol::SlotDto>(Resource::Slots)
        .unwrap()
        .into_iter()
        .map(|s| s.slot_id)
        .collect();
    let ids: Vec<&str> = slot_ids.iter().map(String::as_str).collect();
    let catalog =
        |store: &portico::hub::HubStore| store.read(|c| published(c, ANY_CHANNEL, &ids)).unwrap();
    let (a, b) = (catalog(&from.store), catalog(&to_store));
    assert_eq!(a.products.len(), 8);
    assert_eq!(a.products, b.products);
    assert_eq!(a.categories, b.categories);
    assert_eq!(a.tax_rules, b.tax_rules);
    assert_eq!(a.slots, b.slots);
    assert!(!a.slots.is_empty());
}
