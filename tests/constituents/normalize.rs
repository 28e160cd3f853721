//! Normalisation of match keys: one table per kind of key.

use portico::normalize::{DialingPlan, Normalizer};
use proptest::prelude::*;

fn us() -> Normalizer {
    Normalizer::for_country("US").unwrap()
}

fn country(c: &str) -> Normalizer {
    Normalizer::for_country(c).unwrap()
}

#[test]
fn emails_table() {
    let n = us();
    let cases: &[(&str, Option<&str>)] = &[
        ("jane@example.net", Some("jane@example.net")),
        ("  Jane.Doe@Example.NET ", Some("jane.doe@example.net")),
        ("JANE+museum@Mail.Test", Some("jane+museum@mail.test")),
        ("\tjohn@zoo.test\n", Some("john@zoo.test")),
        ("ÉLISE@exemple.fr", Some("élise@exemple.fr")),
        ("", None),
        ("   ", None),
        ("jane", None),
        ("jane@", None),
        ("@example.net", None),
        ("jane@@example.net", None),
        ("jane@doe@example.net", None),
        ("jane doe@example.net", None),
        ("jane@localhost", None),
        ("jane@.net", None),
        ("jane@example.", None),
    ];
    for (raw, want) in cases {
        assert_eq!(n.email(raw).as_deref(), *want, "email {raw:?}");
    }
}

#[test]
fn placeholder_emails_table() {
    let n = us();
    let cases: &[(&str, bool)] = &[
        ("noemail@venue.org", true),
        ("NoEmail@Venue.org", true),
        ("none@gmail.com", true),
        ("no-email@x.com", true),
        ("no.email@x.com", true),
        ("declined@x.com", true),
        ("n/a@x.com", true),
        ("someone@example.com", true),
        ("someone@noemail.com", true),
        ("nonesuch@x.com", false),
        ("noemails@x.com", false),
        ("mary.none@x.com", false),
        ("someone@example.co.uk", false),
    ];
    for (raw, placeholder) in cases {
        assert_eq!(n.email(raw).is_none(), *placeholder, "placeholder {raw:?}");
    }
}

#[test]
fn placeholder_list_is_configurable() {
    let mut n = us();
    n.placeholder_emails = vec![
        "unknown".into(),
        "frontdesk@venue.org".into(),
        "@kiosk.invalid".into(),
    ];
    assert_eq!(n.email("Unknown@x.com"), None);
    assert_eq!(n.email("frontdesk@venue.org"), None);
    assert_eq!(n.email("anyone@kiosk.invalid"), None);
    assert_eq!(n.email("noemail@x.com").as_deref(), Some("noemail@x.com"));
    assert_eq!(
        n.email("boxoffice@venue.org").as_deref(),
        Some("boxoffice@venue.org")
    );
}

#[test]
fn phones_us_table() {
    let n = us();
    let want = Some("+15551234567");
    for raw in [
        "(555) 123-4567",
        "555.123.4567",
        "555-123-4567",
        "5551234567",
        "+1 555 123 4567",
        "+1 (555) 123-4567",
        "1-555-123-4567",
        "1 555 123 4567",
        "001 555 123 4567",
        "011 1 555 123 4567",
        "+15551234567",
        "tel:+1-555-123-4567",
        "555 123 4567 x123",
        "555-123-4567 ext. 123",
        "555-123-4567 ext 99",
        "555-123-4567 Ext.12",
        "555-123-4567 #123",
        "(555) 123-4567,,9",
        "５５５－１２３－４５６７",
    ] {
        assert_eq!(n.phone(raw).as_deref(), want, "US phone {raw:?}");
    }
}

#[test]
fn phones_per_country_table() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        // Canada shares the North American plan.
        ("CA", "(416) 555-0199", Some("+14165550199")),
        ("CA", "+1 416 555 0199", Some("+14165550199")),
        // United Kingdom.
        ("GB", "020 7946 0018", Some("+442079460018")),
        ("GB", "+44 20 7946 0018", Some("+442079460018")),
        ("GB", "0044 20 7946 0018", Some("+442079460018")),
        ("GB", "+44 (0)20 7946 0018", Some("+442079460018")),
        ("GB", "07700 900123", Some("+447700900123")),
        ("GB", "020 7946 0018 ext 4", Some("+442079460018")),
        ("GB", "+1 555 123 4567", Some("+15551234567")),
        ("GB", "001 555 123 4567", Some("+15551234567")),
        // Ireland.
        ("IE", "01 234 5678", Some("+35312345678")),
        ("IE", "+353 1 234 5678", Some("+35312345678")),
        ("IE", "00353 1 234 5678", Some("+35312345678")),
        ("IE", "087 123 4567", Some("+353871234567")),
        // Germany.
        ("DE", "030 1234567", Some("+49301234567")),
        ("DE", "+49 30 1234567", Some("+49301234567")),
        ("DE", "0049 (0)30 1234567", Some("+49301234567")),
        // France.
        ("FR", "01 23 45 67 89", Some("+33123456789")),
        ("FR", "+33 1 23 45 67 89", Some("+33123456789")),
        ("FR", "0033 1 23 45 67 89", Some("+33123456789")),
        // Australia: international prefix 0011.
        ("AU", "(02) 9876 5432", Some("+61298765432")),
        ("AU", "+61 2 9876 5432", Some("+61298765432")),
        ("AU", "0011 61 2 9876 5432", Some("+61298765432")),
        ("AU", "0011 44 20 7946 0018", Some("+442079460018")),
        ("AU", "0412 345 678", Some("+61412345678")),
        // New Zealand.
        ("NZ", "09 123 4567", Some("+6491234567")),
        ("NZ", "+64 9 123 4567", Some("+6491234567")),
        ("NZ", "021 123 4567", Some("+64211234567")),
        // Unknown calling code: kept as given, length-checked.
        ("GB", "+81 3 1234 5678", Some("+81312345678")),
        // Not plausible numbers.
        ("US", "555-1234", None),
        ("US", "123", None),
        ("US", "", None),
        ("US", "no phone", None),
        ("US", "1-800-FLOWERS", None),
        ("US", "x123", None),
        ("GB", "020 7946", None),
        ("FR", "01 23 45 67", None),
        ("US", "+1234567890123456", None),
    ];
    for (c, raw, want) in cases {
        assert_eq!(country(c).phone(raw).as_deref(), *want, "{c} phone {raw:?}");
    }
}

#[test]
fn national_and_international_forms_agree_for_every_country() {
    let numbers = [
        ("US", "555 123 4567"),
        ("CA", "416 555 0199"),
        ("GB", "20 7946 0018"),
        ("IE", "1 234 5678"),
        ("DE", "30 1234567"),
        ("FR", "1 23 45 67 89"),
        ("AU", "2 9876 5432"),
        ("NZ", "9 123 4567"),
    ];
    for (c, nsn) in numbers {
        let plan = DialingPlan::for_country(c).unwrap();
        let n = Normalizer::with_plan(plan.clone());
        let national = n.phone(&format!("{}{nsn}", plan.trunk_prefix));
        let plus = n.phone(&format!("+{} {nsn}", plan.calling_code));
        let prefixed = n.phone(&format!(
            "{} {} {nsn}",
            plan.international_prefix, plan.calling_code
        ));
        assert!(national.is_some(), "{c}");
        assert_eq!(national, plus, "{c}");
        assert_eq!(national, prefixed, "{c}");
    }
}

#[test]
fn names_table() {
    let n = us();
    let cases: &[(&str, &str)] = &[
        // Case and spaces.
        ("Jane", "jane"),
        ("  JANE   Doe ", "jane doe"),
        ("jane\tdoe", "jane doe"),
        // Accents.
        ("José", "jose"),
        ("Renée", "renee"),
        ("Zoë", "zoe"),
        ("Siobhán", "siobhan"),
        ("Łukasiewicz", "lukasiewicz"),
        ("Müller", "muller"),
        ("Nørgaard", "norgaard"),
        ("Straße", "strasse"),
        ("STRASSE", "strasse"),
        ("Ærøskøbing", "aeroskobing"),
        ("Œuvre", "oeuvre"),
        ("Þór", "thor"),
        ("Đorđević", "dordevic"),
        // Combining marks written separately (NFD input).
        ("Jose\u{301}", "jose"),
        // Apostrophes are deleted; other punctuation separates words.
        ("O'Brien", "obrien"),
        ("O’Brien", "obrien"),
        ("D'Angelo", "dangelo"),
        ("Smith-Jones", "smith jones"),
        ("Jean-Luc", "jean luc"),
        ("St. John", "st john"),
        ("Jr.", "jr"),
        ("Mary, Ann", "mary ann"),
        // NFKC: full-width letters and ligatures.
        ("ＪＯＨＮ", "john"),
        ("Ｏ’Ｂｒｉｅｎ", "obrien"),
        ("ﬁnn", "finn"),
        ("Ǆuro", "dzuro"),
        ("ĳsselmeer", "ijsselmeer"),
        // Other scripts are kept.
        ("Дмитрий", "дмитрий"),
        ("山田", "山田"),
        ("ΟΔΥΣΣΕΥΣ", "οδυσσευσ"),
        // Nothing left.
        ("", ""),
        ("-- . --", ""),
    ];
    for (raw, want) in cases {
        assert_eq!(n.name(raw), *want, "name {raw:?}");
    }
}

/// The rule chosen: apostrophes are deleted and word breaks do not count in the key, so
/// "O'Brien" = "OBrien" = "o brien".
#[test]
fn name_keys_table() {
    let n = us();
    let equal_groups: &[&[&str]] = &[
        &["O'Brien", "OBrien", "o brien", "O’BRIEN", "obrien"],
        &["Smith-Jones", "Smith Jones", "smithjones", "SMITH–JONES"],
        &["Mary Ann", "Mary-Ann", "MaryAnn", "mary-ann"],
        &["José", "Jose", "JOSE", "Jose\u{301}"],
        &["Müller", "Muller", "MÜLLER"],
        &["van der Berg", "Van Der Berg", "vanderberg"],
    ];
    for group in equal_groups {
        let keys: Vec<String> = group.iter().map(|s| n.name_key(s)).collect();
        assert!(keys.iter().all(|k| *k == keys[0]), "{group:?} -> {keys:?}");
        assert!(!keys[0].is_empty());
    }
    assert_ne!(n.name_key("Jon"), n.name_key("John"));
    assert_ne!(n.name_key("Mueller"), n.name_key("Müller"));
}

#[test]
fn postcodes_table() {
    let n = us();
    let cases: &[(&str, Option<&str>)] = &[
        ("sw1a 1aa", Some("SW1A1AA")),
        ("SW1A1AA", Some("SW1A1AA")),
        ("12345-6789", Some("123456789")),
        (" 02134 ", Some("02134")),
        ("D02 X285", Some("D02X285")),
        ("", None),
        (" - ", None),
    ];
    for (raw, want) in cases {
        assert_eq!(n.postcode(raw).as_deref(), *want, "postcode {raw:?}");
    }
}

#[test]
fn address_lines_table() {
    let n = us();
    for (a, b) in [
        ("12 High Street", "12 high st."),
        ("1 North Main Avenue", "1 N. Main Ave"),
        ("Flat 3, 5 Church Road", "flat 3 5 church rd"),
    ] {
        assert_eq!(n.address_line(a), n.address_line(b), "{a} / {b}");
    }
    assert_ne!(n.address_line("12 High St"), n.address_line("21 High St"));
}

proptest! {
    #[test]
    fn normaliser_never_panics_on_arbitrary_unicode(s in "\\PC*", t in any::<String>()) {
        for c in DialingPlan::known_countries() {
            let n = Normalizer::for_country(c).unwrap();
            let _ = n.email(&s);
            let _ = n.phone(&s);
            let _ = n.phone(&t);
            let _ = n.name(&t);
            let _ = n.postcode(&t);
            let _ = n.address_line(&s);
        }
    }

    #[test]
    fn normalisation_is_idempotent(s in any::<String>()) {
        let n = us();
        let once = n.name(&s);
        prop_assert_eq!(n.name(&once), once.clone());
        let key = n.name_key(&s);
        prop_assert_eq!(n.name_key(&key), key);
        if let Some(e) = n.email(&s) {
            prop_assert_eq!(n.email(&e), Some(e.clone()));
        }
        if let Some(p) = n.phone(&s) {
            prop_assert_eq!(n.phone(&p), Some(p.clone()));
        }
    }

    #[test]
    fn phone_output_is_e164(s in "[0-9 ()+.#x-]{0,30}") {
        if let Some(p) = us().phone(&s) {
            prop_assert!(p.starts_with('+'));
            prop_assert!(p[1..].chars().all(|c| c.is_ascii_digit()));
            prop_assert!((9..=16).contains(&p.len()), "{}", p);
        }
    }
}
