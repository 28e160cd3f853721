//! Builders shared by the integration tests.
#![allow(dead_code)]

use chrono::NaiveDate;
use portico::domain::{
    Address, Constituent, ConstituentStatus, ContactMeta, Email, PersonName, Phone,
};
use portico::matching::{PostalAddress, VisitorDetails};

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn name(first: &str, last: &str) -> PersonName {
    PersonName {
        first: first.to_owned(),
        last: last.to_owned(),
        ..PersonName::default()
    }
}

pub fn meta(kind: &str, primary: bool, active: bool) -> ContactMeta {
    ContactMeta {
        kind: kind.to_owned(),
        primary,
        active,
        start: None,
        end: None,
    }
}

pub fn email(address: &str, kind: &str, primary: bool, active: bool) -> Email {
    Email {
        address: address.to_owned(),
        meta: meta(kind, primary, active),
    }
}

pub fn phone(number: &str, kind: &str, primary: bool, active: bool) -> Phone {
    Phone {
        number: number.to_owned(),
        meta: meta(kind, primary, active),
    }
}

pub fn postal(line1: &str, postcode: &str) -> PostalAddress {
    PostalAddress {
        line1: line1.to_owned(),
        line2: None,
        city: "Springfield".to_owned(),
        region: None,
        postcode: Some(postcode.to_owned()),
        country: "US".to_owned(),
    }
}

pub fn address(line1: &str, postcode: &str, kind: &str, primary: bool, active: bool) -> Address {
    let p = postal(line1, postcode);
    Address {
        line1: p.line1,
        line2: p.line2,
        city: p.city,
        region: p.region,
        postcode: p.postcode,
        country: p.country,
        meta: meta(kind, primary, active),
    }
}

/// An active constituent with no contact entries.
pub fn person(id: &str, first: &str, last: &str) -> Constituent {
    Constituent {
        lookup_id: id.to_owned(),
        name: name(first, last),
        birth_date: None,
        status: ConstituentStatus::Active,
        historical_names: Vec::new(),
        emails: Vec::new(),
        phones: Vec::new(),
        addresses: Vec::new(),
    }
}

/// Jane Doe, 8-1001: primary email jane@example.net, primary Home phone (555) 123-4567,
/// an inactive old email, an active Mobile phone.
pub fn jane() -> Constituent {
    let mut c = person("8-1001", "Jane", "Doe");
    c.emails = vec![
        email("Jane.Doe@example.net", "Email", true, true),
        email("jane.old@example.net", "Email", false, false),
    ];
    c.phones = vec![
        phone("(555) 123-4567", "Home", true, true),
        phone("555-987-6543", "Mobile", false, true),
    ];
    c.addresses = vec![address("12 High Street", "02134", "Home", true, true)];
    c.birth_date = Some(date(1980, 5, 17));
    c
}

pub fn visitor(
    first: &str,
    last: &str,
    email: Option<&str>,
    phone: Option<&str>,
) -> VisitorDetails {
    VisitorDetails {
        name: name(first, last),
        email: email.map(str::to_owned),
        phone: phone.map(str::to_owned),
        address: None,
        birth_date: None,
    }
}
